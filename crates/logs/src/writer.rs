//! Writing a container's log: records appended to `name.log` until it would pass its size cap,
//! then rotated (`name.log` → `name.log.1` → ... ; the oldest beyond the kept count removed).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::format::{Record, Stream, format_timestamp};
use crate::rotated_path;

/// Longest message in one record: longer lines are split into partial records, as Docker and
/// the CRI runtimes split them.
const MAX_MESSAGE: usize = 16 * 1024;

/// How big a log may grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLimits {
    /// Size at which the live file is rotated.
    pub max_bytes: u64,
    /// Files kept, the live one included (at least 1).
    pub max_files: u32,
}

impl Default for LogLimits {
    /// Docker's json-file defaults when rotation is on: 10 MiB, and five files here.
    fn default() -> Self {
        Self {
            max_bytes: 10 << 20,
            max_files: 5,
        }
    }
}

/// Appends records to one container's log.
pub struct LogWriter {
    path: PathBuf,
    file: File,
    size: u64,
    limits: LogLimits,
}

impl LogWriter {
    /// Opens (or creates) the log at `path` for appending.
    pub fn open(path: &Path, limits: LogLimits) -> std::io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(Self {
            path: path.to_path_buf(),
            file,
            size,
            limits,
        })
    }

    /// Appends one record, rotating first if it would not fit.
    pub fn write(&mut self, record: &Record) -> std::io::Result<()> {
        let line = record.encode();
        if self.size > 0 && self.size + line.len() as u64 > self.limits.max_bytes {
            self.rotate()?;
        }
        self.file.write_all(&line)?;
        self.size += line.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let keep = self.limits.max_files.max(1);
        // The oldest kept generation is keep - 1; anything at or past it is dropped.
        let _ = std::fs::remove_file(rotated_path(&self.path, keep - 1));
        for generation in (1..keep.saturating_sub(1)).rev() {
            let from = rotated_path(&self.path, generation);
            if from.exists() {
                std::fs::rename(&from, rotated_path(&self.path, generation + 1))?;
            }
        }
        if keep > 1 {
            std::fs::rename(&self.path, rotated_path(&self.path, 1))?;
        } else {
            std::fs::remove_file(&self.path)?;
        }
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

/// Copies what `input` yields (a container's stdout or stderr pipe) into `log` as timestamped
/// records, line by line, until end of file. A line still open at the end is written as a
/// partial record. Blocking: run it on a thread of its own.
pub fn pump(mut input: impl Read, stream: Stream, log: &Arc<Mutex<LogWriter>>) {
    let mut pending: Vec<u8> = Vec::new();
    let mut buffer = vec![0u8; 32 * 1024];
    let emit = |message: &[u8], complete: bool| {
        let record = Record {
            timestamp: format_timestamp(SystemTime::now()),
            stream,
            complete,
            message: message.to_vec(),
        };
        if let Ok(mut log) = log.lock() {
            // A full disk loses log lines, never the container.
            let _ = log.write(&record);
        }
    };
    loop {
        let n = match input.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        pending.extend_from_slice(&buffer[..n]);
        let mut start = 0;
        loop {
            let rest = &pending[start..];
            match rest.iter().position(|b| *b == b'\n') {
                Some(end) if end < MAX_MESSAGE => {
                    emit(&rest[..end], true);
                    start += end + 1;
                }
                _ if rest.len() >= MAX_MESSAGE => {
                    emit(&rest[..MAX_MESSAGE], false);
                    start += MAX_MESSAGE;
                }
                _ => break,
            }
        }
        pending.drain(..start);
    }
    if !pending.is_empty() {
        emit(&pending, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                l.split_once(" F ")
                    .map(|(_, m)| m.to_owned())
                    .unwrap_or_default()
            })
            .collect()
    }

    #[test]
    fn rotates_at_the_cap_and_keeps_the_newest_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        let limits = LogLimits {
            max_bytes: 100,
            max_files: 3,
        };
        let mut writer = LogWriter::open(&path, limits).unwrap();
        for i in 0..20 {
            let record = Record {
                timestamp: "2026-11-25T17:00:00.000000000Z".into(),
                stream: Stream::Stdout,
                complete: true,
                message: format!("line {i:02}").into_bytes(),
            };
            writer.write(&record).unwrap();
        }
        // 46-byte records, two per 100-byte file: the newest six lines survive.
        assert_eq!(lines(&path), ["line 18", "line 19"]);
        assert_eq!(lines(&rotated_path(&path, 1)), ["line 16", "line 17"]);
        assert_eq!(lines(&rotated_path(&path, 2)), ["line 14", "line 15"]);
        assert!(!rotated_path(&path, 3).exists());
    }

    #[test]
    fn pumps_lines_and_splits_long_or_unfinished_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        let log = Arc::new(Mutex::new(
            LogWriter::open(&path, LogLimits::default()).unwrap(),
        ));
        let mut input = b"one\ntwo\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', MAX_MESSAGE + 5));
        input.extend_from_slice(b"\ntail");
        pump(&input[..], Stream::Stderr, &log);
        let text = std::fs::read_to_string(&path).unwrap();
        let records: Vec<Record> = text
            .lines()
            .map(|l| Record::decode(l.as_bytes()).unwrap())
            .collect();
        let shape: Vec<(bool, usize)> = records
            .iter()
            .map(|r| (r.complete, r.message.len()))
            .collect();
        assert_eq!(
            shape,
            [
                (true, 3),
                (true, 3),
                (false, MAX_MESSAGE),
                (true, 5),
                (false, 4)
            ]
        );
        assert!(records.iter().all(|r| r.stream == Stream::Stderr));
    }
}

//! Reading a container's log: the rotated files oldest first, then the live one, following it
//! as it grows and as it is rotated away under the reader.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::format::Record;
use crate::rotated_path;

/// Most rotated generations looked for.
const MAX_GENERATIONS: u32 = 1000;

/// Reads one container's log from its oldest kept record on.
pub struct LogReader {
    path: PathBuf,
    /// The generation being read (0: the live file), and the open file with its inode.
    generation: u32,
    file: Option<(File, u64)>,
    /// Inodes already read to their end (a rotation renames files under the reader).
    finished: Vec<u64>,
    /// Bytes of a line not yet terminated.
    partial: Vec<u8>,
}

impl LogReader {
    /// A reader of the log at `path` (which may not exist yet).
    pub fn open(path: &Path) -> Self {
        let mut reader = Self {
            path: path.to_path_buf(),
            generation: 0,
            file: None,
            finished: Vec::new(),
            partial: Vec::new(),
        };
        reader.generation = reader.oldest();
        reader
    }

    fn oldest(&self) -> u32 {
        (1..MAX_GENERATIONS)
            .take_while(|g| rotated_path(&self.path, *g).exists())
            .last()
            .unwrap_or(0)
    }

    /// Every record written since the last call (all of them on the first).
    pub fn read_available(&mut self) -> std::io::Result<Vec<Record>> {
        let mut records = Vec::new();
        loop {
            if self.file.is_none() {
                let path = rotated_path(&self.path, self.generation);
                match File::open(&path) {
                    Ok(file) => {
                        let inode = file.metadata()?.ino();
                        if self.finished.contains(&inode) {
                            // Renamed into this generation's name after it was read.
                            if self.generation == 0 {
                                return Ok(records);
                            }
                            self.generation -= 1;
                            continue;
                        }
                        self.file = Some((file, inode));
                    }
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                        if self.generation == 0 {
                            return Ok(records);
                        }
                        self.generation -= 1;
                        continue;
                    }
                    Err(error) => return Err(error),
                }
            }
            // Whether the live file was rotated away must be known before reading to its end:
            // once rotated, nothing more is appended to it.
            let rotated = self.generation == 0
                && self.file.as_ref().is_some_and(|(_, inode)| {
                    std::fs::metadata(&self.path).map_or(true, |m| m.ino() != *inode)
                });
            let Some((file, inode)) = self.file.as_mut() else {
                continue;
            };
            let inode = *inode;
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes)?;
            self.take_lines(&bytes, &mut records);
            if self.generation > 0 || rotated {
                self.finished.push(inode);
                self.file = None;
                self.generation = if rotated {
                    // Rotated once or more since the last read: the files written since
                    // are among the rotated ones now. Start again from the oldest; those
                    // already read are skipped by inode.
                    self.oldest()
                } else {
                    self.generation - 1
                };
                continue;
            }
            return Ok(records);
        }
    }

    fn take_lines(&mut self, bytes: &[u8], records: &mut Vec<Record>) {
        self.partial.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(end) = self.partial[start..].iter().position(|b| *b == b'\n') {
            if let Some(record) = Record::decode(&self.partial[start..start + end]) {
                records.push(record);
            }
            start += end + 1;
        }
        self.partial.drain(..start);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LogLimits, LogWriter, Stream};

    fn record(i: usize) -> Record {
        Record {
            timestamp: "2026-11-25T17:00:00.000000000Z".into(),
            stream: Stream::Stdout,
            complete: true,
            message: format!("line {i:02}").into_bytes(),
        }
    }

    fn messages(records: &[Record]) -> Vec<String> {
        records
            .iter()
            .map(|r| String::from_utf8(r.message.clone()).unwrap())
            .collect()
    }

    #[test]
    fn reads_across_rotations_in_order_while_following() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        let mut reader = LogReader::open(&path);
        assert!(reader.read_available().unwrap().is_empty());
        let limits = LogLimits {
            max_bytes: 100,
            max_files: 4,
        };
        let mut writer = LogWriter::open(&path, limits).unwrap();
        let mut seen = Vec::new();
        for i in 0..7 {
            writer.write(&record(i)).unwrap();
            if i % 3 == 0 {
                seen.extend(messages(&reader.read_available().unwrap()));
            }
        }
        seen.extend(messages(&reader.read_available().unwrap()));
        let expected: Vec<String> = (0..7).map(|i| format!("line {i:02}")).collect();
        assert_eq!(seen, expected);

        // A reader opened later starts at the oldest kept file.
        let mut late = LogReader::open(&path);
        assert_eq!(messages(&late.read_available().unwrap()), expected);
    }
}

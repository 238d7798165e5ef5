//! What the CLI prints, and how: lines on standard output that end the command quietly when
//! the reader has gone (`berth ps | head -3`), messages on standard error that never panic,
//! aligned tables, JSON for machines, and ages in Docker's words ("5 seconds ago").
//!
//! `println!` panics when standard output is a closed pipe. Every client command writes
//! through [`line`] and [`bytes`] instead: a closed pipe becomes the error [`StdoutClosed`],
//! which `main` turns into a silent exit with status 141 — what a shell reports for
//! `docker ps | head` or `seq 1000000 | head`, whose writers die of SIGPIPE (128 + 13), so that
//! `set -o pipefail` scripts see the same status from berth as from them.

use std::fmt;
use std::io::{ErrorKind, Write};

/// The exit status of a command whose standard output was closed under it.
pub const STDOUT_CLOSED_EXIT: u8 = 141;

/// Standard output was closed (the reader of the pipe has gone): nothing more can be said.
#[derive(Debug)]
pub struct StdoutClosed;

impl fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("standard output was closed")
    }
}

impl std::error::Error for StdoutClosed {}

/// Whether `error` is (or was caused by) standard output's closing.
pub fn is_stdout_closed(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| cause.is::<StdoutClosed>())
}

fn stdout_error(error: std::io::Error) -> anyhow::Error {
    if error.kind() == ErrorKind::BrokenPipe {
        StdoutClosed.into()
    } else {
        anyhow::Error::new(error).context("cannot write to standard output")
    }
}

/// Writes one line to standard output.
pub fn line(args: fmt::Arguments<'_>) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_fmt(args)
        .and_then(|()| out.write_all(b"\n"))
        .map_err(stdout_error)
}

/// Writes `data` to standard output and flushes it (a stream's output is seen as it comes).
pub fn bytes(data: &[u8]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(data)
        .and_then(|()| out.flush())
        .map_err(stdout_error)
}

/// Writes one line to standard error; a closed standard error is ignored, there being
/// nowhere left to say so.
pub fn error_line(args: fmt::Arguments<'_>) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_fmt(args).and_then(|()| err.write_all(b"\n"));
}

/// `println!` without the panic: `outln!(...)?` fails with [`StdoutClosed`] instead.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::line(format_args!($($arg)*))
    };
}

/// `eprintln!` without the panic.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::output::error_line(format_args!($($arg)*))
    };
}

pub(crate) use {errln, outln};

/// How a listing command prints (`--output`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns, for people.
    #[default]
    Table,
    /// One JSON array of the API's own objects, for programs.
    Json,
}

/// Prints `value` as pretty JSON on standard output.
pub fn json(value: &serde_json::Value) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    line(format_args!("{text}"))
}

/// Rows printed in columns as wide as their widest cell, three spaces apart as Docker's are;
/// the last column is not padded, so a long stop reason costs no trailing blanks.
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with this header row.
    pub fn new(header: &[&str]) -> Self {
        Self {
            rows: vec![header.iter().map(|h| (*h).to_owned()).collect()],
        }
    }

    /// Adds a row (as many cells as the header).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table's lines.
    pub fn lines(&self) -> Vec<String> {
        let columns = self.rows[0].len();
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                self.rows
                    .iter()
                    .map(|row| row.get(c).map_or(0, |cell| cell.chars().count()))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        self.rows
            .iter()
            .map(|row| {
                let mut text = String::new();
                for (c, cell) in row.iter().enumerate() {
                    if c + 1 == row.len() {
                        text.push_str(cell);
                    } else {
                        text.push_str(cell);
                        let pad = widths[c] - cell.chars().count() + 3;
                        text.extend(std::iter::repeat_n(' ', pad));
                    }
                }
                text.trim_end().to_owned()
            })
            .collect()
    }

    /// Prints the table on standard output.
    pub fn print(&self) -> anyhow::Result<()> {
        for text in self.lines() {
            line(format_args!("{text}"))?;
        }
        Ok(())
    }
}

/// How long ago `millis` (since the epoch) was, as `docker ps` says it: "5 seconds ago",
/// "About a minute ago", "3 hours ago" (Docker's `units.HumanDuration`).
pub fn ago(millis: i64) -> String {
    let now = berth_model::Timestamp::now().as_millis();
    format!("{} ago", human_duration((now - millis).max(0) / 1000))
}

fn human_duration(seconds: i64) -> String {
    let minutes = seconds / 60;
    // Docker rounds hours to the nearest.
    let hours = (seconds + 1800) / 3600;
    match () {
        () if seconds < 1 => "Less than a second".to_owned(),
        () if seconds == 1 => "1 second".to_owned(),
        () if seconds < 60 => format!("{seconds} seconds"),
        () if minutes == 1 => "About a minute".to_owned(),
        () if minutes < 60 => format!("{minutes} minutes"),
        () if hours == 1 => "About an hour".to_owned(),
        () if hours < 48 => format!("{hours} hours"),
        () if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        () if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        () if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        () => format!("{} years", seconds / 3600 / 24 / 365),
    }
}

/// "1 cluster", "3 clusters": `count` and `noun`, plural when it is not one.
pub fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_whatever_the_widths() {
        let mut table = Table::new(&["ID", "DEFINITION", "REASON"]);
        table.row(vec!["a".into(), "x".repeat(30), "why".into()]);
        table.row(vec!["bbbb".into(), "y".into(), String::new()]);
        let lines = table.lines();
        assert_eq!(
            lines[0],
            format!("ID     DEFINITION{}REASON", " ".repeat(23))
        );
        let at = lines[0].find("REASON").unwrap();
        assert_eq!(lines[1].find("why"), Some(at));
        assert_eq!(lines[2], "bbbb   y");
    }

    #[test]
    fn durations_read_as_dockers() {
        let cases = [
            (0, "Less than a second"),
            (1, "1 second"),
            (5, "5 seconds"),
            (60, "About a minute"),
            (119, "About a minute"),
            (120, "2 minutes"),
            (3599, "59 minutes"),
            (3600, "About an hour"),
            (3 * 3600, "3 hours"),
            (47 * 3600, "47 hours"),
            (3 * 86400, "3 days"),
            (20 * 86400, "2 weeks"),
            (90 * 86400, "3 months"),
            (800 * 86400, "2 years"),
        ];
        for (seconds, text) in cases {
            assert_eq!(human_duration(seconds), text, "{seconds} s");
        }
    }

    #[test]
    fn counts_are_english() {
        assert_eq!(plural(0, "cluster"), "0 clusters");
        assert_eq!(plural(1, "cluster"), "1 cluster");
        assert_eq!(plural(3, "cluster"), "3 clusters");
    }
}

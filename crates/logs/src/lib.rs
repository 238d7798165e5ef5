//! A container's log, as files on the node: one record per line of output, in the CRI log
//! format Kubernetes runtimes write (`2026-11-25T17:00:00.123456789Z stdout F message`), so each
//! line keeps its stream and the time it was written. The file is capped in size and rotated
//! (`name.log`, `name.log.1`, ... oldest last); readers see one ordered stream across the
//! rotated files and can follow it while it grows.
//!
//! [`LogWriter`] is the supervisor's side, [`LogReader`] the log store's. CloudWatch Logs will
//! read through the same reader.

mod changes;
mod format;
mod reader;
mod writer;

pub use changes::DirChanges;
pub use format::{Record, Stream, format_timestamp};
pub use reader::LogReader;
pub use writer::{LogLimits, LogWriter, pump};

use std::path::{Path, PathBuf};

/// The file holding rotation `generation` of the log at `path` (0: the live file).
pub fn rotated_path(path: &Path, generation: u32) -> PathBuf {
    if generation == 0 {
        return path.to_path_buf();
    }
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{generation}"));
    PathBuf::from(name)
}

//! Wiring: the API's `LogService` over the agent's log files. Each stream reads the
//! container's log records (across rotations) on a thread of its own and, when following,
//! waits for the log directory to change until the container's "exited" marker appears.

use std::path::Path;
use std::time::Duration;

use berth_agent::AgentConfig;
use berth_api::LogService;
use berth_api::images::BoxFuture;
use berth_logs::{DirChanges, LogReader};
use hyper::body::Bytes;
use tokio::sync::mpsc;

/// A follower re-checks at least this often, should a change notification be missed.
const RECHECK: Duration = Duration::from_millis(500);

/// The local node's container logs.
pub struct NodeLogs {
    pub config: AgentConfig,
}

impl LogService for NodeLogs {
    fn open(
        &self,
        task_id: String,
        container: String,
        follow: bool,
        timestamps: bool,
    ) -> BoxFuture<Option<mpsc::Receiver<Bytes>>> {
        let (log, exited) = berth_agent::container_log(&self.config, &task_id, &container);
        Box::pin(async move {
            if !follow && !log.exists() {
                return None;
            }
            let (sender, receiver) = mpsc::channel(16);
            std::thread::spawn(move || {
                // Made here if the task has not started yet, so there is something to watch.
                let changes = log.parent().map(|dir| {
                    let _ = std::fs::create_dir_all(dir);
                    DirChanges::watch(dir)
                });
                let stream = Stream {
                    exited: &exited,
                    follow,
                    timestamps,
                    changes: changes.as_ref(),
                };
                stream.send(LogReader::open(&log), sender);
                // Only now, the stream being over: closing an inotify descriptor waits for
                // the kernel's SRCU grace period, milliseconds the reader must not wait.
                drop(changes);
            });
            Some(receiver)
        })
    }
}

/// One stream's reading of a container's log.
struct Stream<'a> {
    exited: &'a Path,
    follow: bool,
    timestamps: bool,
    changes: Option<&'a DirChanges>,
}

impl Stream<'_> {
    /// Sends the log's records until it is done (at once without `follow`, else once the
    /// container has exited), the reader has gone or the log cannot be read; the stream ends
    /// when `sender` is dropped, on return.
    fn send(&self, mut reader: LogReader, sender: mpsc::Sender<Bytes>) {
        loop {
            // Checked before reading, so records written before the marker are read.
            let done = !self.follow || self.exited.exists();
            let Ok(records) = reader.read_available() else {
                return;
            };
            if !records.is_empty() {
                let mut chunk = Vec::new();
                for record in &records {
                    if self.timestamps {
                        chunk.extend_from_slice(record.timestamp.as_bytes());
                        chunk.push(b' ');
                    }
                    chunk.extend_from_slice(&record.output());
                }
                if sender.blocking_send(Bytes::from(chunk)).is_err() {
                    return;
                }
            } else if done || sender.is_closed() {
                return;
            } else if let Some(changes) = self.changes {
                changes.wait(RECHECK);
            } else {
                std::thread::sleep(RECHECK);
            }
        }
    }
}

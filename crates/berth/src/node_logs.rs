//! Wiring: the API's `LogService` over the agent's log files. Each stream reads the
//! container's log records (across rotations) on a thread of its own and, when following,
//! waits for the log directory to change until the container's "exited" marker appears.

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
                let mut reader = LogReader::open(&log);
                loop {
                    // Checked before reading, so records written before the marker are read.
                    let done = !follow || exited.exists();
                    let Ok(records) = reader.read_available() else {
                        return;
                    };
                    if !records.is_empty() {
                        let mut chunk = Vec::new();
                        for record in &records {
                            if timestamps {
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
                    } else if let Some(changes) = &changes {
                        changes.wait(RECHECK);
                    } else {
                        std::thread::sleep(RECHECK);
                    }
                }
            });
            Some(receiver)
        })
    }
}

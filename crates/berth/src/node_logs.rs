//! Wiring: the API's `LogService` over the agent's log files. Each stream reads the
//! container's log records (across rotations) on a thread of its own and, when following,
//! polls for more until the container's "exited" marker appears.

use std::time::Duration;

use berth_agent::AgentConfig;
use berth_api::LogService;
use berth_api::images::BoxFuture;
use berth_logs::LogReader;
use hyper::body::Bytes;
use tokio::sync::mpsc;

const POLL: Duration = Duration::from_millis(50);

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
                    } else {
                        std::thread::sleep(POLL);
                    }
                }
            });
            Some(receiver)
        })
    }
}

//! Wiring: the API's `LogService` over the agent's log files, followed by polling until the
//! container's "exited" marker appears.

use std::time::Duration;

use berth_agent::AgentConfig;
use berth_api::LogService;
use berth_api::images::BoxFuture;
use hyper::body::Bytes;
use tokio::io::AsyncReadExt;
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
    ) -> BoxFuture<Option<mpsc::Receiver<Bytes>>> {
        let (log, exited) = berth_agent::container_log(&self.config, &task_id, &container);
        Box::pin(async move {
            if !follow && !log.exists() {
                return None;
            }
            let (sender, receiver) = mpsc::channel(16);
            tokio::spawn(async move {
                // Following: wait for the container to start writing (or to be done).
                let mut file = loop {
                    match tokio::fs::File::open(&log).await {
                        Ok(file) => break file,
                        Err(_) if follow && !exited.exists() && !sender.is_closed() => {
                            tokio::time::sleep(POLL).await
                        }
                        Err(_) => return,
                    }
                };
                let mut buffer = vec![0u8; 64 * 1024];
                loop {
                    // Check before reading, so bytes written before the marker are still read.
                    let done = !follow || exited.exists();
                    match file.read(&mut buffer).await {
                        Ok(0) if done => return,
                        Ok(0) => tokio::time::sleep(POLL).await,
                        Ok(n) => {
                            if sender
                                .send(Bytes::copy_from_slice(&buffer[..n]))
                                .await
                                .is_err()
                            {
                                return;
                            }
                        }
                        Err(_) => return,
                    }
                }
            });
            Some(receiver)
        })
    }
}

//! One container's life on its own thread: libcontainer's handles are not shared across
//! threads, so the thread that creates a container also waits for it and deletes it. The
//! async side gets its pid (to signal it), its exit code, and a way to say "delete now".

use std::path::PathBuf;

use berth_runtime::executor::{self, ExecutorError, Stdio};
use berth_runtime::spec::OciSpec as Spec;
use tokio::sync::oneshot;

/// A started container.
pub struct ContainerHandle {
    /// Its init process.
    pub pid: i32,
    /// Resolves with its exit code.
    pub exited: oneshot::Receiver<i32>,
    delete: std::sync::mpsc::Sender<()>,
    deleted: oneshot::Receiver<()>,
}

impl ContainerHandle {
    /// Starts container `id` on a thread of its own. Blocking: call from `spawn_blocking`.
    pub fn start(
        id: String,
        state_root: PathBuf,
        bundle: PathBuf,
        spec: Spec,
        stdio: Stdio,
    ) -> Result<Self, ExecutorError> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (exit_tx, exited) = oneshot::channel();
        let (delete, delete_rx) = std::sync::mpsc::channel::<()>();
        let (deleted_tx, deleted) = oneshot::channel();
        std::thread::Builder::new()
            .name(format!("container-{id}"))
            .spawn(
                move || match executor::start_with(&id, &state_root, &bundle, &spec, stdio) {
                    Err(error) => {
                        let _ = ready_tx.send(Err(error));
                    }
                    Ok(started) => {
                        let _ = ready_tx.send(Ok(started.pid));
                        let code = started.wait().unwrap_or(255);
                        let _ = exit_tx.send(code);
                        let _ = delete_rx.recv();
                        if let Err(error) = started.delete() {
                            tracing::warn!(%error, "container delete failed");
                        }
                        let _ = deleted_tx.send(());
                    }
                },
            )
            .map_err(|e| ExecutorError::Wait {
                id: "thread".into(),
                source: e,
            })?;
        let pid = ready_rx.recv().map_err(|_| ExecutorError::Wait {
            id: "thread".into(),
            source: std::io::Error::other("the container thread ended"),
        })??;
        Ok(Self {
            pid,
            exited,
            delete,
            deleted,
        })
    }

    /// Sends `signal` to the container's init process.
    pub fn signal(&self, signal: rustix::process::Signal) {
        if let Some(pid) = rustix::process::Pid::from_raw(self.pid) {
            let _ = rustix::process::kill_process(pid, signal);
        }
    }

    /// Deletes the container (after it exited) and waits until its cgroup and state are gone.
    pub async fn delete(self) {
        let _ = self.delete.send(());
        let _ = self.deleted.await;
    }
}

//! Supervisors started ahead of need: each has made its sandbox namespaces and waits for a task
//! on a socket pair the agent holds. A task takes one instead of starting a process and making
//! namespaces on its start path; the pool is refilled off that path. Idle supervisors end by
//! themselves when the agent goes away (their socket pair closes).

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::ShimProgram;

/// Idle supervisors.
pub struct SupervisorPool {
    binary: ShimProgram,
    /// The bridge idle supervisors wire their veth into ahead of a task, if any.
    bridge: Option<String>,
    /// Where idle supervisors' diagnostics go until they have a task.
    log: PathBuf,
    size: usize,
    idle: Mutex<Vec<Idle>>,
}

/// One idle supervisor.
pub struct Idle {
    handoff: UnixStream,
    child: tokio::process::Child,
}

impl SupervisorPool {
    /// A pool of `size` supervisors (`binary shim --pooled`); 0 turns it off.
    pub fn new(binary: &ShimProgram, tasks_dir: &Path, size: usize) -> Self {
        Self {
            binary: binary.clone(),
            bridge: None,
            log: tasks_dir.join("pool.log"),
            size,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// From now on, idle supervisors make their veth into `bridge` (which exists) before
    /// they get a task, so that a task's start only addresses it.
    pub fn prewire_into(&mut self, bridge: &str) {
        self.bridge = Some(bridge.to_owned());
    }

    /// Starts idle supervisors until there are as many as the pool holds. Call it within the
    /// async runtime (their processes are reaped there).
    pub fn fill(&self) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while idle.len() < self.size {
            match self.spawn() {
                Ok(supervisor) => idle.push(supervisor),
                Err(error) => {
                    tracing::warn!(%error, "cannot start an idle task supervisor");
                    return;
                }
            }
        }
    }

    /// An idle supervisor, if one is ready.
    pub fn take(&self) -> Option<Idle> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop()
    }

    fn spawn(&self) -> std::io::Result<Idle> {
        if let Some(dir) = self.log.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let (ours, theirs) = UnixStream::pair()?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let mut command = self.binary.command();
        command.args(["shim", "--pooled"]);
        if let Some(bridge) = &self.bridge {
            command.args(["--bridge", bridge]);
        }
        let child = command
            .stdin(std::process::Stdio::from(OwnedFd::from(theirs)))
            .stdout(log.try_clone()?)
            .stderr(log)
            // Its own process group: a Ctrl-C meant for `berth up` does not reach tasks.
            .process_group(0)
            .spawn()?;
        Ok(Idle {
            handoff: ours,
            child,
        })
    }
}

impl Idle {
    /// Gives it the task in `task_dir`, with the task's listening socket and supervisor log.
    pub fn hand_over(
        self,
        task_dir: &Path,
        listener: impl AsFd,
        log: impl AsFd,
    ) -> std::io::Result<()> {
        berth_shim::handoff::send(&self.handoff, task_dir, listener, log)?;
        let mut child = self.child;
        // Reaped here while this berth lives; by init once it is gone.
        tokio::spawn(async move {
            let _ = child.wait().await;
        });
        Ok(())
    }
}

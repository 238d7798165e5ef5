//! The task's sandbox: the supervisor itself moves into new UTS and IPC namespaces and sets the
//! task's hostname there, so the namespaces live exactly as long as the task, whichever of its
//! containers come and go.

use std::path::PathBuf;

use crate::ShimError;

/// The sandbox's namespace files, for containers to join.
pub struct Sandbox {
    /// The UTS namespace.
    pub uts: PathBuf,
    /// The IPC namespace.
    pub ipc: PathBuf,
}

/// Moves this process into new UTS and IPC namespaces with `hostname`. Call it before any
/// thread is started: namespaces are per thread, and other threads would stay behind.
pub fn enter(hostname: &str) -> Result<Sandbox, ShimError> {
    use nix::sched::{CloneFlags, unshare};
    unshare(CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWIPC)
        .map_err(|e| ShimError::Sandbox(format!("unshare: {e}")))?;
    nix::unistd::sethostname(hostname)
        .map_err(|e| ShimError::Sandbox(format!("sethostname: {e}")))?;
    let pid = std::process::id();
    Ok(Sandbox {
        uts: format!("/proc/{pid}/ns/uts").into(),
        ipc: format!("/proc/{pid}/ns/ipc").into(),
    })
}

//! The task's sandbox: the supervisor itself moves into new network, UTS and IPC namespaces,
//! brings loopback up and sets the task's hostname there (and into a private mount namespace
//! for the containers' root filesystems), so the namespaces live exactly as
//! long as the task, whichever of its containers come and go, and vanish with it: nothing to
//! clean up, even after a crash.

use std::path::PathBuf;

use crate::ShimError;

/// The sandbox's namespace files, for containers to join.
pub struct Sandbox {
    /// The UTS namespace.
    pub uts: PathBuf,
    /// The IPC namespace.
    pub ipc: PathBuf,
    /// The network namespace.
    pub net: PathBuf,
}

/// Sets the sandbox's hostname (again, for a supervisor that made its sandbox before it knew
/// its task).
pub fn set_hostname(hostname: &str) -> Result<(), ShimError> {
    nix::unistd::sethostname(hostname).map_err(|e| ShimError::Sandbox(format!("sethostname: {e}")))
}

/// Moves this process into new network, UTS, IPC and mount namespaces with `hostname`. Call it before any
/// thread is started: namespaces are per thread, and other threads would stay behind.
pub fn enter(hostname: &str) -> Result<Sandbox, ShimError> {
    use nix::sched::{CloneFlags, unshare};
    unshare(
        CloneFlags::CLONE_NEWNET
            | CloneFlags::CLONE_NEWUTS
            | CloneFlags::CLONE_NEWIPC
            | CloneFlags::CLONE_NEWNS,
    )
    .map_err(|e| ShimError::Sandbox(format!("unshare: {e}")))?;
    // The root filesystems mounted here must not propagate back to the host.
    rustix::mount::mount_change(
        "/",
        rustix::mount::MountPropagationFlags::PRIVATE | rustix::mount::MountPropagationFlags::REC,
    )
    .map_err(|e| ShimError::Sandbox(format!("make / private: {e}")))?;
    berth_net::loopback_up().map_err(|e| ShimError::Sandbox(format!("loopback up: {e}")))?;
    set_hostname(hostname)?;
    let pid = std::process::id();
    Ok(Sandbox {
        uts: format!("/proc/{pid}/ns/uts").into(),
        ipc: format!("/proc/{pid}/ns/ipc").into(),
        net: format!("/proc/{pid}/ns/net").into(),
    })
}

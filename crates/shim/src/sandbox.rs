//! The task's sandbox: the supervisor itself moves into new network, UTS and IPC namespaces,
//! brings loopback up and sets the task's hostname there (and into a private mount namespace
//! for the containers' root filesystems), so the namespaces live exactly as
//! long as the task, whichever of its containers come and go, and vanish with it: nothing to
//! clean up, even after a crash. The containers' namespaced sysctls (`systemControls`) are set
//! here too, by the supervisor, which is in those namespaces.

use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use berth_net::{Netlink, TaskInterface};

use crate::ShimError;
use crate::plan::PlannedNetwork;

/// The sandbox's namespace files, for containers to join.
pub struct Sandbox {
    /// The UTS namespace.
    pub uts: PathBuf,
    /// The IPC namespace.
    pub ipc: PathBuf,
    /// The network namespace.
    pub net: PathBuf,
    /// rtnetlink in the host's network namespace, opened before leaving it: for the host end
    /// of the task's veth.
    host: Netlink,
    /// The veth made ahead of a task (by a warm supervisor): its bridge and host end.
    prewired: Option<(String, u32)>,
}

impl Sandbox {
    /// Makes the sandbox's veth into `bridge` before there is a task: only its address is
    /// left for the task's start. Call it on the thread that entered the sandbox.
    pub fn prewire(&mut self, bridge: &str) -> Result<(), ShimError> {
        let here = namespace()?;
        let host_end = berth_net::make_veth(
            &self.host,
            here.as_fd(),
            &format!("bp{}", std::process::id()),
            bridge,
        )
        .map_err(|e| ShimError::Sandbox(e.to_string()))?;
        self.prewired = Some((bridge.to_owned(), host_end));
        Ok(())
    }

    /// Gives the sandbox its network interface — the veth (unless made ahead), `eth0`'s MAC,
    /// address and default route — and names the host end after `task_id` (its alias). Call
    /// it on the thread that entered the sandbox.
    pub fn wire(&self, network: &PlannedNetwork, task_id: &str) -> Result<(), ShimError> {
        let started = std::time::Instant::now();
        let failed = |e: std::io::Error| ShimError::Sandbox(e.to_string());
        let task = Netlink::open().map_err(failed)?;
        let interface = TaskInterface {
            bridge: &network.bridge,
            host_interface: &network.host_interface,
            address: network.address,
            prefix_len: network.prefix_len,
            gateway: network.gateway,
            mac: network.mac,
        };
        let host_end = match &self.prewired {
            Some((bridge, host_end)) if *bridge == network.bridge => {
                berth_net::address_task_interface(&task, &interface).map_err(failed)?;
                *host_end
            }
            _ => {
                berth_net::wire_task_interface(&self.host, &task, namespace()?.as_fd(), &interface)
                    .map_err(failed)?
            }
        };
        // Which task a veth on the host belongs to, for people and leak checks.
        let _ = berth_net::set_alias(&self.host, host_end, task_id);
        tracing::debug!(
            micros = started.elapsed().as_micros(),
            prewired = self.prewired.is_some(),
            "network interface wired"
        );
        Ok(())
    }
}

/// A sysctl the sandbox would not take.
#[derive(Debug, thiserror::Error)]
#[error("cannot set sysctl {name}={value}: {error}")]
pub struct SysctlError {
    /// Its name (`net.ipv4.ip_unprivileged_port_start`).
    pub name: String,
    /// The value asked for.
    pub value: String,
    /// What the kernel said (no such sysctl: not found).
    pub error: std::io::Error,
}

/// Sets `sysctls` in the calling thread's network and IPC namespaces — the sandbox's, for
/// every thread of a supervisor. Their names were checked to be namespaced ones when the spec
/// was made, so none reaches the host's; a name's dots are its path's slashes under
/// `/proc/sys`, so no name climbs out of it.
pub fn set_sysctls(sysctls: &BTreeMap<String, String>) -> Result<(), SysctlError> {
    for (name, value) in sysctls {
        let path = Path::new("/proc/sys").join(name.replace('.', "/"));
        std::fs::write(&path, value).map_err(|error| SysctlError {
            name: name.clone(),
            value: value.clone(),
            error,
        })?;
    }
    Ok(())
}

/// The calling thread's network namespace.
fn namespace() -> Result<std::fs::File, ShimError> {
    std::fs::File::open("/proc/thread-self/ns/net")
        .map_err(|e| ShimError::Sandbox(format!("open the sandbox's network namespace: {e}")))
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
    let host = Netlink::open()
        .map_err(|e| ShimError::Sandbox(format!("open rtnetlink in the host: {e}")))?;
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
        host,
        prewired: None,
    })
}

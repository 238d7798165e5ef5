//! `systemControls`: which kernel parameters a task definition may set. Fargate accepts only
//! parameters that live in a namespace the task has to itself — the network namespace
//! (`net.*`) and the IPC namespace (`kernel.msgmax`, `kernel.msgmnb`, `kernel.msgmni`,
//! `kernel.sem`, `kernel.shmall`, `kernel.shmmax`, `kernel.shmmni`, `kernel.shm_rmid_forced`
//! and `fs.mqueue.*`), as ECS's `SystemControl` reference lists them. Anything else
//! (`kernel.core_pattern`, `vm.*`) is the host's own and would change it for every task.

/// The IPC namespace's parameters by name (`fs.mqueue.*` besides).
const IPC_PARAMETERS: [&str; 8] = [
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// What a `systemControls` namespace names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SysctlScope {
    /// A parameter of the task's network namespace (`net.*`).
    Network,
    /// A parameter of an IPC namespace.
    Ipc,
    /// Not a namespaced parameter Fargate accepts, or not a parameter name at all.
    Host,
}

/// Fargate's accepted parameters, in words for a message.
pub const FARGATE_SYSCTLS: &str = "net.*, fs.mqueue.*, kernel.msgmax, kernel.msgmnb, kernel.msgmni, kernel.sem, kernel.shmall, kernel.shmmax, kernel.shmmni and kernel.shm_rmid_forced";

/// Which namespace `key` (`net.core.somaxconn`) belongs to.
///
/// A key must be dotted words of letters, digits, `_` and `-`: the node turns it into a path
/// under `/proc/sys`, so `/`, `..` and empty words are refused here, whatever they start with.
pub fn scope(key: &str) -> SysctlScope {
    let well_formed = key.split('.').all(|word| {
        !word.is_empty()
            && word
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    });
    if !well_formed {
        SysctlScope::Host
    } else if key.starts_with("net.") {
        SysctlScope::Network
    } else if key.starts_with("fs.mqueue.") || IPC_PARAMETERS.contains(&key) {
        SysctlScope::Ipc
    } else {
        SysctlScope::Host
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_of_kernel_parameters() {
        use SysctlScope::*;
        let cases = [
            ("net.ipv4.tcp_keepalive_time", Network),
            ("net.core.somaxconn", Network),
            ("net.ipv4.ip_local_port_range", Network),
            ("net.ipv4.conf.all.rp_filter", Network),
            ("net.ipv6.conf.eth0.disable_ipv6", Network),
            ("net.ipv4.conf.my-if.forwarding", Network),
            ("kernel.shmmax", Ipc),
            ("kernel.shm_rmid_forced", Ipc),
            ("kernel.sem", Ipc),
            ("fs.mqueue.msg_max", Ipc),
            ("kernel.core_pattern", Host),
            ("kernel.shmmax2", Host),
            ("kernel.msgmax.x", Host),
            ("kernel.panic", Host),
            ("vm.max_map_count", Host),
            ("fs.file-max", Host),
            ("fs.mqueue", Host),
            ("net", Host),
            ("net.", Host),
            (".net.core", Host),
            ("net..core", Host),
            ("net/core/somaxconn", Host),
            ("net.core/../../kernel/core_pattern", Host),
            ("net.core.somaxconn ", Host),
            ("", Host),
            ("network.core", Host),
        ];
        for (key, expected) in cases {
            assert_eq!(scope(key), expected, "{key:?}");
        }
    }
}

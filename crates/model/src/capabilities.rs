//! Linux kernel capabilities as a task definition names them in
//! `linuxParameters.capabilities.add` and `drop`: the values ECS's API accepts, and the one
//! spelling berth stores its decisions in, so that the registration check and the node agree on
//! what `CAP_SYS_PTRACE` and `sys_ptrace` mean.

/// Every value ECS's `KernelCapabilities` accepts, as its API reference lists them.
pub const KERNEL_CAPABILITIES: [&str; 38] = [
    "ALL",
    "AUDIT_CONTROL",
    "AUDIT_WRITE",
    "BLOCK_SUSPEND",
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "IPC_LOCK",
    "IPC_OWNER",
    "KILL",
    "LEASE",
    "LINUX_IMMUTABLE",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
    "MKNOD",
    "NET_ADMIN",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_RAW",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_CHROOT",
    "SYS_MODULE",
    "SYS_NICE",
    "SYS_PACCT",
    "SYS_PTRACE",
    "SYS_RAWIO",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "SYSLOG",
    "WAKE_ALARM",
];

/// The one capability a Fargate task may add.
pub const FARGATE_ADDABLE: &str = "SYS_PTRACE";

/// `name` in ECS's spelling (`SYS_PTRACE`), or `None` when it names no capability ECS knows.
///
/// The `CAP_` prefix and any case are accepted, as Docker accepts them: Fargate's own guide
/// writes `CAP_SYS_PTRACE`, and a definition copied from it must mean what it says.
pub fn canonical(name: &str) -> Option<&'static str> {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    KERNEL_CAPABILITIES
        .iter()
        .copied()
        .find(|known| *known == bare)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_capabilities() {
        let cases = [
            ("SYS_PTRACE", Some("SYS_PTRACE")),
            ("CAP_SYS_PTRACE", Some("SYS_PTRACE")),
            ("sys_ptrace", Some("SYS_PTRACE")),
            ("cap_net_admin", Some("NET_ADMIN")),
            ("ALL", Some("ALL")),
            ("all", Some("ALL")),
            ("SYSLOG", Some("SYSLOG")),
            ("CAP_ALL", Some("ALL")),
            ("", None),
            ("CAP_", None),
            ("PTRACE", None),
            ("SYS_PTRACE ", None),
            ("CAP_CAP_SYS_PTRACE", None),
            ("BPF", None),
        ];
        for (name, expected) in cases {
            assert_eq!(canonical(name), expected, "{name:?}");
        }
    }
}

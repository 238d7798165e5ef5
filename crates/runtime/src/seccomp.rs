//! The seccomp filter every container gets unless it is privileged: Docker's default profile,
//! written down as berth's own table. It is an allow-list — any system call it does not name
//! fails with `EPERM` — of the calls ordinary programs make, plus the calls only a container
//! holding some capability may make (`mount` and `unshare` with `CAP_SYS_ADMIN`, `kcmp` with
//! `CAP_SYS_PTRACE`, `reboot` with `CAP_SYS_BOOT`, ...), so adding a capability to a
//! definition also opens the calls that need it, as with `docker run --cap-add`.
//!
//! Why Docker's profile and not a tighter one: it is what images are built and tested against
//! (Fargate runs containers under it too), so whatever runs under Docker runs here.
//!
//! The filter covers the native architecture only, where Docker's also lists the ones its
//! processes may execute besides (x86_64: i386 and x32; aarch64: 32-bit arm). A call made
//! through another architecture's entry points (`int 0x80`, x32's) meets libseccomp's
//! bad-architecture action and the process is killed: stricter than Docker, never looser, and
//! Fargate runs 64-bit Linux images only (`runtimePlatform`: X86_64 or ARM64). The reason is
//! the warm start: each extra architecture is a filter libseccomp compiles and the kernel
//! loads for every container, and the three of x86_64 took a container's start from 33 ms to
//! 41 ms; the native one alone costs 0–5 ms (BENCHMARKS.md, "Container hardening").

use std::collections::HashSet;

use oci_spec::runtime::{
    Arch, Capability, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder,
    LinuxSeccompBuilder, LinuxSyscall, LinuxSyscallBuilder,
};

/// oci-spec refused a part of the filter (a bug in the table, not in any definition).
#[derive(Debug, thiserror::Error)]
#[error("invalid seccomp filter: {0}")]
pub struct FilterError(#[from] oci_spec::OciSpecError);

/// What a call the filter does not name returns: `EPERM`, "Operation not permitted".
pub const DEFAULT_ERRNO: u32 = 1;
/// `ENOSYS`: what `clone3` returns to a container that may not create namespaces, so that C
/// libraries fall back to `clone`, whose flags the filter can inspect (`clone3` passes them in
/// memory, out of seccomp's sight).
const ENOSYS: u32 = 38;

/// The architecture berth runs on, as far as the profile tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// x86_64, which also runs i386 and x32 code.
    X86_64,
    /// aarch64, which may also run 32-bit arm code.
    Aarch64,
    /// Any other: only its native calls are filtered.
    Other,
}

impl Platform {
    /// The one this binary was built for.
    pub const NATIVE: Platform = if cfg!(target_arch = "x86_64") {
        Platform::X86_64
    } else if cfg!(target_arch = "aarch64") {
        Platform::Aarch64
    } else {
        Platform::Other
    };

    /// The architectures the filter covers: the native one alone (see the module docs).
    fn architectures(self) -> Vec<Arch> {
        match self {
            Platform::X86_64 => vec![Arch::ScmpArchX86_64],
            Platform::Aarch64 => vec![Arch::ScmpArchAarch64],
            Platform::Other => vec![],
        }
    }
}

// The calls every container may make, whatever its capabilities, by what they are for. A name
// this host's libseccomp does not know (a call newer than it, or another architecture's) is
// skipped when the filter is built, so it stays refused.

/// Files, directories and descriptors.
#[rustfmt::skip]
const FILES: &[&str] = &[
    "access", "cachestat", "chdir", "chmod", "chown", "chown32", "close", "close_range",
    "copy_file_range", "creat", "dup", "dup2", "dup3", "faccessat", "faccessat2", "fadvise64",
    "fadvise64_64", "fallocate", "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32",
    "fchownat", "fcntl", "fcntl64", "fdatasync", "flock", "fstat", "fstat64", "fstatat64",
    "fstatfs", "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futimesat", "getcwd", "getdents",
    "getdents64", "ioctl", "lchown", "lchown32", "link", "linkat", "listmount", "_llseek", "lseek",
    "lstat", "lstat64", "mkdir", "mkdirat", "mknod", "mknodat", "name_to_handle_at", "newfstatat",
    "open", "openat", "openat2", "pipe", "pipe2", "pread64", "preadv", "preadv2", "pwrite64",
    "pwritev", "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv", "rename",
    "renameat", "renameat2", "rmdir", "sendfile", "sendfile64", "splice", "stat", "stat64",
    "statfs", "statfs64", "statmount", "statx", "symlink", "symlinkat", "sync", "sync_file_range",
    "syncfs", "tee", "truncate", "truncate64", "umask", "unlink", "unlinkat", "utime", "utimensat",
    "utimensat_time64", "utimes", "vmsplice", "write", "writev",
];

/// Extended attributes.
#[rustfmt::skip]
const XATTRS: &[&str] = &[
    "fgetxattr", "flistxattr", "fremovexattr", "fsetxattr", "getxattr", "getxattrat", "lgetxattr",
    "listxattr", "listxattrat", "llistxattr", "lremovexattr", "lsetxattr", "removexattr",
    "removexattrat", "setxattr", "setxattrat",
];

/// Waiting for descriptors and events: epoll, poll and select, inotify, eventfd, signalfd,
/// timerfd, and asynchronous I/O.
#[rustfmt::skip]
const EVENTS: &[&str] = &[
    "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait", "epoll_pwait2",
    "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "fanotify_mark", "inotify_add_watch",
    "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel", "io_destroy", "io_getevents",
    "io_pgetevents", "io_pgetevents_time64", "io_setup", "io_submit", "ioprio_get", "ioprio_set",
    "_newselect", "poll", "ppoll", "ppoll_time64", "pselect6", "pselect6_time64", "select",
    "signalfd", "signalfd4", "timerfd_create", "timerfd_gettime", "timerfd_gettime64",
    "timerfd_settime", "timerfd_settime64",
];

/// Memory.
#[rustfmt::skip]
const MEMORY: &[&str] = &[
    "brk", "madvise", "map_shadow_stack", "membarrier", "memfd_create", "memfd_secret", "mincore",
    "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mremap", "mseal", "msync",
    "munlock", "munlockall", "munmap", "pkey_alloc", "pkey_free", "pkey_mprotect",
    "remap_file_pages",
];

/// Processes and threads: running, waiting, scheduling, limits, futexes, and restricting
/// oneself further (seccomp, landlock, capabilities).
#[rustfmt::skip]
const PROCESSES: &[&str] = &[
    "capget", "capset", "execve", "execveat", "exit", "exit_group", "fork", "futex",
    "futex_requeue", "futex_time64", "futex_wait", "futex_waitv", "futex_wake", "getcpu",
    "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom", "getrlimit",
    "get_robust_list", "getrusage", "getsid", "get_thread_area", "gettid", "landlock_add_rule",
    "landlock_create_ruleset", "landlock_restrict_self", "pidfd_open", "pidfd_send_signal",
    "prctl", "prlimit64", "process_mrelease", "restart_syscall", "riscv_hwprobe", "rseq",
    "sched_getaffinity", "sched_getattr", "sched_getparam", "sched_get_priority_max",
    "sched_get_priority_min", "sched_getscheduler", "sched_rr_get_interval",
    "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr", "sched_setparam",
    "sched_setscheduler", "sched_yield", "seccomp", "setpgid", "setpriority", "setrlimit",
    "set_robust_list", "setsid", "set_thread_area", "set_tid_address", "sysinfo", "times",
    "ugetrlimit", "uname", "uretprobe", "vfork", "wait4", "waitid", "waitpid",
];

/// Who a process is: user and group ids (the kernel still checks that a change is allowed).
#[rustfmt::skip]
const IDENTITY: &[&str] = &[
    "getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups",
    "getgroups32", "getresgid", "getresgid32", "getresuid", "getresuid32", "getuid", "getuid32",
    "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups",
    "setgroups32", "setregid", "setregid32", "setresgid", "setresgid32", "setresuid",
    "setresuid32", "setreuid", "setreuid32", "setuid", "setuid32",
];

/// Signals.
#[rustfmt::skip]
const SIGNALS: &[&str] = &[
    "alarm", "kill", "pause", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo",
    "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo", "sigaltstack", "sigprocmask", "sigreturn", "tgkill", "tkill",
];

/// Clocks, sleeping and timers (reading the clocks; setting them needs `CAP_SYS_TIME`, below).
#[rustfmt::skip]
const TIME: &[&str] = &[
    "adjtimex", "clock_adjtime", "clock_adjtime64", "clock_getres", "clock_getres_time64",
    "clock_gettime", "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64", "getitimer",
    "gettimeofday", "nanosleep", "setitimer", "time", "timer_create", "timer_delete",
    "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64",
];

/// Sockets, once made (making one is a rule of its own, below).
#[rustfmt::skip]
const SOCKETS: &[&str] = &[
    "accept", "accept4", "bind", "connect", "getpeername", "getsockname", "getsockopt", "listen",
    "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "send", "sendmmsg", "sendmsg",
    "sendto", "setsockopt", "shutdown", "socketcall", "socketpair",
];

/// System V and POSIX IPC (the task's own IPC namespace).
#[rustfmt::skip]
const IPC: &[&str] = &[
    "ipc", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64",
    "mq_timedsend", "mq_timedsend_time64", "mq_unlink", "msgctl", "msgget", "msgrcv", "msgsnd",
    "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "shmat", "shmctl", "shmdt",
    "shmget",
];

/// Every group of calls allowed to all.
const ALWAYS: &[&[&str]] = &[
    FILES, XATTRS, EVENTS, MEMORY, PROCESSES, IDENTITY, SIGNALS, TIME, SOCKETS, IPC,
];

/// When a rule is part of the filter.
#[derive(Debug, Clone, Copy)]
enum When {
    /// Always.
    Always,
    /// When the container holds this capability (in its bounding set).
    With(Capability),
    /// When it does not.
    Without(Capability),
    /// On these platforms.
    On(&'static [Platform]),
}

impl When {
    fn holds(self, platform: Platform, capabilities: &HashSet<Capability>) -> bool {
        match self {
            When::Always => true,
            When::With(capability) => capabilities.contains(&capability),
            When::Without(capability) => !capabilities.contains(&capability),
            When::On(platforms) => platforms.contains(&platform),
        }
    }
}

/// What a matching call does.
#[derive(Debug, Clone, Copy)]
enum Action {
    Allow,
    Fail(u32),
}

/// A comparison of one argument of the call.
#[derive(Debug, Clone, Copy)]
enum Compare {
    /// Less than.
    Below(u64),
    /// Equal.
    Is(u64),
    /// Greater than.
    Above(u64),
    /// No bit of the mask set.
    NoneOf(u64),
}

/// One rule: `names`, when `when` holds, do `action` if argument `arg` (if any) compares so.
#[derive(Debug, Clone, Copy)]
struct Rule {
    names: &'static [&'static str],
    when: When,
    action: Action,
    arg: Option<(usize, Compare)>,
}

const fn allow(names: &'static [&'static str], when: When) -> Rule {
    Rule {
        names,
        when,
        action: Action::Allow,
        arg: None,
    }
}

const fn allow_if(name: &'static [&'static str], index: usize, compare: Compare) -> Rule {
    Rule {
        names: name,
        when: When::Always,
        action: Action::Allow,
        arg: Some((index, compare)),
    }
}

/// `socket(2)`'s address families the filter refuses: AF_ALG (the kernel's crypto API) and
/// AF_VSOCK (the hypervisor's sockets).
const AF_ALG: u64 = 38;
const AF_VSOCK: u64 = 40;

/// `personality(2)` values a container may set: Linux, 32-bit Linux, each with the 2.6-style
/// uname (`UNAME26`), and the query.
const PER_LINUX: u64 = 0x0;
const PER_LINUX32: u64 = 0x8;
const UNAME26: u64 = 0x0002_0000;
const PERSONALITY_QUERY: u64 = 0xffff_ffff;

/// The `clone(2)` flags that create namespaces: NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER,
/// NEWPID, NEWNET.
const CLONE_NAMESPACES: u64 = 0x7e02_0000;

/// The calls allowed (or failed) only in some circumstances.
const RULES: &[Rule] = &[
    // Tracing cannot get around seccomp since Linux 4.8; who may be traced is the kernel's
    // check (same user, or CAP_SYS_PTRACE).
    allow(
        &["process_vm_readv", "process_vm_writev", "ptrace"],
        When::Always,
    ),
    allow_if(&["socket"], 0, Compare::Below(AF_ALG)),
    allow_if(&["socket"], 0, Compare::Is(AF_ALG + 1)),
    allow_if(&["socket"], 0, Compare::Above(AF_VSOCK)),
    allow_if(&["personality"], 0, Compare::Is(PER_LINUX)),
    allow_if(&["personality"], 0, Compare::Is(PER_LINUX32)),
    allow_if(&["personality"], 0, Compare::Is(UNAME26)),
    allow_if(&["personality"], 0, Compare::Is(UNAME26 | PER_LINUX32)),
    allow_if(&["personality"], 0, Compare::Is(PERSONALITY_QUERY)),
    allow(&["arch_prctl", "modify_ldt"], When::On(&[Platform::X86_64])),
    allow(
        &[
            "arm_fadvise64_64",
            "arm_sync_file_range",
            "breakpoint",
            "cacheflush",
            "set_tls",
            "sync_file_range2",
        ],
        When::On(&[Platform::Aarch64]),
    ),
    allow(
        &["open_by_handle_at"],
        When::With(Capability::DacReadSearch),
    ),
    allow(
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "lsm_get_self_attr",
            "lsm_list_modules",
            "lsm_set_self_attr",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
        When::With(Capability::SysAdmin),
    ),
    // Without CAP_SYS_ADMIN: new processes and threads, but no new namespaces.
    Rule {
        names: &["clone"],
        when: When::Without(Capability::SysAdmin),
        action: Action::Allow,
        arg: Some((0, Compare::NoneOf(CLONE_NAMESPACES))),
    },
    Rule {
        names: &["clone3"],
        when: When::Without(Capability::SysAdmin),
        action: Action::Fail(ENOSYS),
        arg: None,
    },
    allow(&["reboot"], When::With(Capability::SysBoot)),
    allow(&["chroot"], When::With(Capability::SysChroot)),
    allow(
        &["delete_module", "finit_module", "init_module"],
        When::With(Capability::SysModule),
    ),
    allow(&["acct"], When::With(Capability::SysPacct)),
    allow(
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
        When::With(Capability::SysPtrace),
    ),
    allow(&["ioperm", "iopl"], When::With(Capability::SysRawio)),
    allow(
        &["clock_settime", "clock_settime64", "settimeofday", "stime"],
        When::With(Capability::SysTime),
    ),
    allow(&["vhangup"], When::With(Capability::SysTtyConfig)),
    allow(
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
        When::With(Capability::SysNice),
    ),
    allow(&["syslog"], When::With(Capability::Syslog)),
    allow(&["bpf"], When::With(Capability::Bpf)),
    allow(&["perf_event_open"], When::With(Capability::Perfmon)),
];

/// How many calls every container may make, and how many rules depend on capabilities,
/// architecture or arguments (for people reading about the profile).
pub fn size() -> (usize, usize) {
    (ALWAYS.iter().map(|group| group.len()).sum(), RULES.len())
}

/// The filter for a container whose bounding set is `capabilities`, on this machine.
pub fn profile(capabilities: &HashSet<Capability>) -> Result<LinuxSeccomp, FilterError> {
    profile_for(Platform::NATIVE, capabilities)
}

/// The filter for a container whose bounding set is `capabilities`, on `platform`.
pub fn profile_for(
    platform: Platform,
    capabilities: &HashSet<Capability>,
) -> Result<LinuxSeccomp, FilterError> {
    let everyone: Vec<String> = ALWAYS
        .iter()
        .flat_map(|group| group.iter().map(|name| (*name).to_owned()))
        .collect();
    let mut syscalls = vec![
        LinuxSyscallBuilder::default()
            .names(everyone)
            .action(LinuxSeccompAction::ScmpActAllow)
            .build()?,
    ];
    for rule in RULES
        .iter()
        .filter(|rule| rule.when.holds(platform, capabilities))
    {
        syscalls.push(syscall(rule)?);
    }
    LinuxSeccompBuilder::default()
        .default_action(LinuxSeccompAction::ScmpActErrno)
        .default_errno_ret(DEFAULT_ERRNO)
        .architectures(platform.architectures())
        .syscalls(syscalls)
        .build()
        .map_err(FilterError)
}

fn syscall(rule: &Rule) -> Result<LinuxSyscall, oci_spec::OciSpecError> {
    let mut builder = LinuxSyscallBuilder::default().names(
        rule.names
            .iter()
            .map(|n| (*n).to_owned())
            .collect::<Vec<_>>(),
    );
    builder = match rule.action {
        Action::Allow => builder.action(LinuxSeccompAction::ScmpActAllow),
        Action::Fail(errno) => builder
            .action(LinuxSeccompAction::ScmpActErrno)
            .errno_ret(errno),
    };
    if let Some((index, compare)) = rule.arg {
        builder = builder.args(vec![argument(index, compare)?]);
    }
    builder.build()
}

fn argument(index: usize, compare: Compare) -> Result<LinuxSeccompArg, oci_spec::OciSpecError> {
    use oci_spec::runtime::LinuxSeccompOperator as Op;
    let builder = LinuxSeccompArgBuilder::default().index(index);
    match compare {
        Compare::Below(value) => builder.op(Op::ScmpCmpLt).value(value),
        Compare::Is(value) => builder.op(Op::ScmpCmpEq).value(value),
        Compare::Above(value) => builder.op(Op::ScmpCmpGt).value(value),
        // libcontainer 0.7 reads a masked comparison as (argument & valueTwo) == value; runc,
        // and so Docker's profile, put the mask in `value`. Written for libcontainer, which is
        // what runs it: the other order would mask with 0 and let every clone through.
        Compare::NoneOf(mask) => builder.op(Op::ScmpCmpMaskedEq).value(0u64).value_two(mask),
    }
    .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(profile: &LinuxSeccomp, name: &str) -> bool {
        profile.syscalls().iter().flatten().any(|s| {
            s.action() == LinuxSeccompAction::ScmpActAllow && s.names().iter().any(|n| n == name)
        })
    }

    fn docker_defaults() -> HashSet<Capability> {
        crate::capabilities::DEFAULT_CAPABILITIES
            .into_iter()
            .collect()
    }

    #[test]
    fn ordinary_calls_are_allowed_and_everything_else_fails_with_eperm() {
        let profile = profile_for(Platform::X86_64, &docker_defaults()).unwrap();
        assert_eq!(profile.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(profile.default_errno_ret(), Some(1));
        for name in [
            "read", "write", "openat", "execve", "accept4", "futex", "chroot",
        ] {
            assert!(allowed(&profile, name), "{name} is allowed");
        }
        for name in [
            "keyctl",
            "add_key",
            "unshare",
            "mount",
            "setns",
            "reboot",
            "kcmp",
            "init_module",
            "swapon",
            "kexec_load",
            "open_by_handle_at",
        ] {
            assert!(!allowed(&profile, name), "{name} is refused");
        }
    }

    #[test]
    fn a_capability_opens_the_calls_that_need_it() {
        let mut caps = docker_defaults();
        let without = profile_for(Platform::X86_64, &caps).unwrap();
        caps.insert(Capability::SysPtrace);
        caps.insert(Capability::SysBoot);
        let with = profile_for(Platform::X86_64, &caps).unwrap();
        for name in ["kcmp", "pidfd_getfd", "reboot"] {
            assert!(!allowed(&without, name) && allowed(&with, name), "{name}");
        }
        // Dropping one closes them again: chroot needs CAP_SYS_CHROOT.
        caps.remove(&Capability::SysChroot);
        assert!(!allowed(
            &profile_for(Platform::X86_64, &caps).unwrap(),
            "chroot"
        ));
    }

    #[test]
    fn clone_may_not_make_namespaces_without_sys_admin() {
        let profile = profile_for(Platform::X86_64, &docker_defaults()).unwrap();
        let rules: Vec<&LinuxSyscall> = profile
            .syscalls()
            .iter()
            .flatten()
            .filter(|s| s.names().iter().any(|n| n == "clone" || n == "clone3"))
            .collect();
        assert_eq!(rules.len(), 2);
        let clone = rules[0];
        let arg = &clone.args().as_ref().unwrap()[0];
        assert_eq!(arg.index(), 0);
        assert_eq!(
            arg.op(),
            oci_spec::runtime::LinuxSeccompOperator::ScmpCmpMaskedEq
        );
        // (flags & mask) == 0, as libcontainer reads it.
        assert_eq!((arg.value(), arg.value_two()), (0, Some(CLONE_NAMESPACES)));
        let clone3 = rules[1];
        assert_eq!(clone3.action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(clone3.errno_ret(), Some(ENOSYS));

        let mut admin = docker_defaults();
        admin.insert(Capability::SysAdmin);
        let profile = profile_for(Platform::X86_64, &admin).unwrap();
        assert!(allowed(&profile, "unshare") && allowed(&profile, "mount"));
        let clone_rules = profile
            .syscalls()
            .iter()
            .flatten()
            .filter(|s| s.names().iter().any(|n| n == "clone"))
            .count();
        assert_eq!(clone_rules, 1, "clone allowed whatever its flags");
    }

    #[test]
    fn architectures_follow_the_platform() {
        let caps = docker_defaults();
        let x86 = profile_for(Platform::X86_64, &caps).unwrap();
        assert_eq!(
            x86.architectures().as_deref(),
            Some(&[Arch::ScmpArchX86_64][..])
        );
        assert!(allowed(&x86, "arch_prctl") && !allowed(&x86, "set_tls"));
        let arm = profile_for(Platform::Aarch64, &caps).unwrap();
        assert_eq!(
            arm.architectures().as_deref(),
            Some(&[Arch::ScmpArchAarch64][..])
        );
        assert!(allowed(&arm, "set_tls") && !allowed(&arm, "arch_prctl"));
        let other = profile_for(Platform::Other, &caps).unwrap();
        assert_eq!(other.architectures().as_deref(), Some(&[][..]));
    }

    #[test]
    fn socket_families_and_personalities_are_checked_by_argument() {
        let profile = profile_for(Platform::X86_64, &docker_defaults()).unwrap();
        let arguments = |name: &str| -> Vec<(u64, oci_spec::runtime::LinuxSeccompOperator)> {
            profile
                .syscalls()
                .iter()
                .flatten()
                .filter(|s| s.names().iter().any(|n| n == name))
                .flat_map(|s| s.args().clone().unwrap_or_default())
                .map(|a| (a.value(), a.op()))
                .collect()
        };
        use oci_spec::runtime::LinuxSeccompOperator as Op;
        assert_eq!(
            arguments("socket"),
            vec![
                (38, Op::ScmpCmpLt),
                (39, Op::ScmpCmpEq),
                (40, Op::ScmpCmpGt)
            ]
        );
        let personalities: Vec<u64> = arguments("personality").iter().map(|a| a.0).collect();
        assert_eq!(personalities, vec![0, 8, 0x20000, 0x20008, 0xffff_ffff]);
    }

    #[test]
    fn no_call_is_listed_twice_among_those_allowed_to_all() {
        let mut seen = HashSet::new();
        for name in ALWAYS.iter().flat_map(|group| group.iter()) {
            assert!(seen.insert(*name), "{name} twice");
        }
        let (always, rules) = size();
        assert_eq!(always, seen.len());
        assert!(always > 350 && rules > 20);
    }
}

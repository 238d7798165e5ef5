//! The OCI runtime spec of one container, generated from what berth decided about it. Starts
//! from runc's defaults (mounts, masked and read-only /proc and /sys paths) and applies
//! Docker's and ECS's hardening: Docker's default capability set as the definition changes it
//! (`capabilities.rs`), Docker's default seccomp filter (`seccomp.rs`), no-new-privileges, and
//! the container's own cgroup limits; then what the definition asks for: namespaced sysctls,
//! volumes bind-mounted in, a read-only root, and — only when it says `privileged` — Docker's
//! `--privileged` (every capability, no filter, no masked or read-only paths, `/sys`
//! writable).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    LinuxCapabilitiesBuilder, LinuxCpuBuilder, LinuxMemoryBuilder, LinuxNamespace,
    LinuxNamespaceBuilder, LinuxNamespaceType, LinuxPidsBuilder, LinuxResourcesBuilder, Mount,
    MountBuilder, PosixRlimitBuilder, PosixRlimitType, ProcessBuilder, RootBuilder, Spec,
    UserBuilder,
};

use crate::capabilities::{self, CapabilityChanges};
use crate::process::User;
use crate::seccomp;

pub use crate::capabilities::DEFAULT_CAPABILITIES;
/// The OCI runtime spec type, for callers that hand a generated spec on.
pub use oci_spec::runtime::Spec as OciSpec;

/// Namespaces a container joins instead of creating (`None`: it gets a new one). A task's
/// containers share network, UTS and IPC (so they reach each other on localhost), each with its
/// own PID and mount namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SharedNamespaces {
    /// The task's network namespace file (`/run/netns/...`).
    pub network: Option<PathBuf>,
    /// The UTS namespace file.
    pub uts: Option<PathBuf>,
    /// The IPC namespace file.
    pub ipc: Option<PathBuf>,
}

/// A ulimit: `RLIMIT_NOFILE` and friends, as ECS names them (`nofile`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rlimit {
    /// ECS's name (`nofile`, `nproc`, ...).
    pub name: String,
    /// Soft limit.
    pub soft: u64,
    /// Hard limit.
    pub hard: u64,
}

/// A host directory bind-mounted into the container: a task-scoped volume (an empty directory
/// of the task's) or, for definitions only a privileged node accepts, a host path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeMount {
    /// The directory on the host.
    pub source: PathBuf,
    /// Where it appears in the container (absolute).
    pub destination: String,
    /// Mounted read-only.
    pub readonly: bool,
}

/// What berth decided about one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerConfig {
    /// The mounted root filesystem.
    pub rootfs: PathBuf,
    /// The command line.
    pub args: Vec<String>,
    /// `KEY=value` pairs.
    pub env: Vec<String>,
    /// The working directory inside the container.
    pub cwd: String,
    /// Who runs it.
    pub user: User,
    /// The hostname (set only when the container has its own UTS namespace).
    pub hostname: String,
    /// Mount the root filesystem read-only.
    pub readonly_rootfs: bool,
    /// The cgroup path (relative to the cgroup root), e.g. `/berth/TASK/CONTAINER`.
    pub cgroups_path: PathBuf,
    /// CPU shares (relative weight against the task's other containers).
    pub cpu_shares: Option<u64>,
    /// CFS quota and period, microseconds.
    pub cpu_quota: Option<(i64, u64)>,
    /// Hard memory limit, bytes.
    pub memory_limit: Option<i64>,
    /// Soft memory limit, bytes.
    pub memory_reservation: Option<i64>,
    /// Most processes at once.
    pub pids_limit: Option<i64>,
    /// ulimits.
    pub rlimits: Vec<Rlimit>,
    /// Namespaces to join.
    pub shared: SharedNamespaces,
    /// An init process to run the command under (`initProcessEnabled`): the host path of a
    /// static init binary (tini), mounted read-only at [`INIT_PATH`] as Docker mounts its own.
    pub init: Option<PathBuf>,
    /// Capabilities added to and dropped from Docker's defaults.
    pub capabilities: CapabilityChanges,
    /// `privileged`: Docker's `--privileged` (every capability, no seccomp filter, no masked
    /// or read-only paths). Only a node started with `--allow-privileged` registers it.
    pub privileged: bool,
    /// Namespaced sysctls (`systemControls`), applied in the container's namespaces as it
    /// starts (the task's network namespace is shared: the last container started decides,
    /// as in ECS).
    pub sysctls: BTreeMap<String, String>,
    /// Volumes mounted in, in order.
    pub volumes: Vec<VolumeMount>,
}

/// Where a container's init process is mounted, as Docker names it.
pub const INIT_PATH: &str = "/sbin/docker-init";

/// Why a spec could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// A ulimit ECS does not name.
    #[error("unknown ulimit '{0}'")]
    UnknownUlimit(String),
    /// A capability name Linux does not have.
    #[error(transparent)]
    UnknownCapability(#[from] capabilities::UnknownCapability),
    /// The seccomp filter could not be made.
    #[error(transparent)]
    Seccomp(#[from] seccomp::FilterError),
    /// A sysctl that is not namespaced: setting it would change the host.
    #[error(
        "sysctl '{0}' is not namespaced (only net.*, kernel.msg*, kernel.sem, kernel.shm* and fs.mqueue.* are)"
    )]
    Sysctl(String),
    /// A volume's container path is not absolute.
    #[error("mount point '{0}' is not an absolute path")]
    MountPoint(String),
    /// oci-spec refused a value.
    #[error("invalid runtime spec value: {0}")]
    Invalid(String),
}

fn invalid(error: impl std::fmt::Display) -> SpecError {
    SpecError::Invalid(error.to_string())
}

/// The OCI spec for `config`.
pub fn generate(config: &ContainerConfig) -> Result<Spec, SpecError> {
    let mut spec = Spec::default();
    let capabilities = capabilities::resolve(&config.capabilities, config.privileged)?;
    // Docker decides the filter's capability rules from the bounding set, before it is built.
    let filter = if config.privileged {
        None
    } else {
        Some(seccomp::profile(&capabilities)?)
    };
    let caps = LinuxCapabilitiesBuilder::default()
        .bounding(capabilities.clone())
        .effective(capabilities.clone())
        .permitted(capabilities)
        .build()
        .map_err(invalid)?;
    let mut rlimits = Vec::new();
    for limit in &config.rlimits {
        rlimits.push(
            PosixRlimitBuilder::default()
                .typ(rlimit_type(&limit.name)?)
                .soft(limit.soft)
                .hard(limit.hard)
                .build()
                .map_err(invalid)?,
        );
    }
    let args = match &config.init {
        // The init reaps zombies and forwards signals to the command it runs.
        Some(_) => [INIT_PATH.to_owned(), "--".to_owned()]
            .into_iter()
            .chain(config.args.iter().cloned())
            .collect(),
        None => config.args.clone(),
    };
    let process = ProcessBuilder::default()
        .terminal(false)
        .args(args)
        .env(config.env.clone())
        .cwd(PathBuf::from(&config.cwd))
        .user(
            UserBuilder::default()
                .uid(config.user.uid)
                .gid(config.user.gid)
                .additional_gids(config.user.additional_gids.clone())
                .build()
                .map_err(invalid)?,
        )
        .capabilities(caps)
        .rlimits(rlimits)
        .no_new_privileges(true)
        .build()
        .map_err(invalid)?;
    spec.set_process(Some(process));
    spec.set_root(Some(
        RootBuilder::default()
            .path(config.rootfs.clone())
            .readonly(config.readonly_rootfs)
            .build()
            .map_err(invalid)?,
    ));
    if let Some(init) = &config.init {
        let mount = MountBuilder::default()
            .destination(INIT_PATH)
            .typ("bind")
            .source(init.clone())
            .options(vec![
                "bind".into(),
                "ro".into(),
                "nosuid".into(),
                "nodev".into(),
            ])
            .build()
            .map_err(invalid)?;
        spec.mounts_mut().get_or_insert_with(Vec::new).push(mount);
    }
    for volume in &config.volumes {
        let mount = volume_mount(volume)?;
        spec.mounts_mut().get_or_insert_with(Vec::new).push(mount);
    }
    if config.privileged {
        // As Docker's --privileged: /sys writable.
        for mount in spec.mounts_mut().iter_mut().flatten() {
            if mount.typ().as_deref() == Some("sysfs") {
                let options = mount.options().clone().unwrap_or_default();
                mount.set_options(Some(options.into_iter().filter(|o| o != "ro").collect()));
            }
        }
    }
    // A container that joins another's UTS namespace shares its hostname.
    spec.set_hostname(config.shared.uts.is_none().then(|| config.hostname.clone()));

    let mut resources = LinuxResourcesBuilder::default();
    let mut cpu = LinuxCpuBuilder::default();
    if let Some(shares) = config.cpu_shares {
        cpu = cpu.shares(shares);
    }
    if let Some((quota, period)) = config.cpu_quota {
        cpu = cpu.quota(quota).period(period);
    }
    resources = resources.cpu(cpu.build().map_err(invalid)?);
    let mut memory = LinuxMemoryBuilder::default();
    if let Some(limit) = config.memory_limit {
        // No swap beyond the limit, as ECS configures Docker by default.
        memory = memory.limit(limit).swap(limit);
    }
    if let Some(reservation) = config.memory_reservation {
        memory = memory.reservation(reservation);
    }
    resources = resources.memory(memory.build().map_err(invalid)?);
    if let Some(pids) = config.pids_limit {
        resources = resources.pids(
            LinuxPidsBuilder::default()
                .limit(pids)
                .build()
                .map_err(invalid)?,
        );
    }
    let resources = resources.devices(vec![]).build().map_err(invalid)?;

    let linux = spec.linux_mut().get_or_insert_with(Default::default);
    linux.set_resources(Some(resources));
    linux.set_cgroups_path(Some(config.cgroups_path.clone()));
    linux.set_namespaces(Some(namespaces(&config.shared)?));
    linux.set_seccomp(filter);
    if config.privileged {
        linux.set_masked_paths(None);
        linux.set_readonly_paths(None);
    }
    if !config.sysctls.is_empty() {
        for name in config.sysctls.keys() {
            if !namespaced(name) {
                return Err(SpecError::Sysctl(name.clone()));
            }
        }
        linux.set_sysctl(Some(config.sysctls.clone().into_iter().collect()));
    }
    Ok(spec)
}

/// Whether sysctl `name` belongs to a namespace a task has of its own (network or IPC) rather
/// than to the whole host — the kernel's list, as runc and libcontainer keep it.
fn namespaced(name: &str) -> bool {
    const IPC: [&str; 8] = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let name = name.replace('/', ".");
    name.starts_with("net.") || name.starts_with("fs.mqueue.") || IPC.contains(&name.as_str())
}

/// The bind mount of `volume`: recursive, private (nothing mounted on either side appears on
/// the other), read-only when asked.
fn volume_mount(volume: &VolumeMount) -> Result<Mount, SpecError> {
    if !volume.destination.starts_with('/') {
        return Err(SpecError::MountPoint(volume.destination.clone()));
    }
    let mut options = vec!["rbind".to_owned(), "rprivate".to_owned()];
    if volume.readonly {
        options.push("ro".to_owned());
    }
    MountBuilder::default()
        .destination(volume.destination.clone())
        .typ("bind")
        .source(volume.source.clone())
        .options(options)
        .build()
        .map_err(invalid)
}

/// Makes the container of `spec` join the network, UTS and IPC namespaces at `net`, `uts` and
/// `ipc` (the task's sandbox, which holds its hostname) instead of creating its own. Returns
/// the sysctls it asks for, taken out of the spec: they belong to those namespaces, which the
/// caller is in — libcontainer refuses to set a sysctl in its caller's namespace, so the
/// caller sets them itself before creating the container.
pub fn join_sandbox(
    spec: &mut Spec,
    net: &Path,
    uts: &Path,
    ipc: &Path,
) -> BTreeMap<String, String> {
    spec.set_hostname(None);
    let Some(linux) = spec.linux_mut().as_mut() else {
        return BTreeMap::new();
    };
    if let Some(namespaces) = linux.namespaces_mut().as_mut() {
        for namespace in namespaces.iter_mut() {
            match namespace.typ() {
                LinuxNamespaceType::Uts => namespace.set_path(Some(uts.to_path_buf())),
                LinuxNamespaceType::Ipc => namespace.set_path(Some(ipc.to_path_buf())),
                LinuxNamespaceType::Network => namespace.set_path(Some(net.to_path_buf())),
                _ => namespace,
            };
        }
    }
    linux
        .sysctl_mut()
        .take()
        .unwrap_or_default()
        .into_iter()
        .collect()
}

fn namespaces(shared: &SharedNamespaces) -> Result<Vec<LinuxNamespace>, SpecError> {
    let namespace = |typ: LinuxNamespaceType, path: Option<&Path>| {
        let mut builder = LinuxNamespaceBuilder::default().typ(typ);
        if let Some(path) = path {
            builder = builder.path(path.to_path_buf());
        }
        builder.build().map_err(invalid)
    };
    Ok(vec![
        namespace(LinuxNamespaceType::Pid, None)?,
        namespace(LinuxNamespaceType::Mount, None)?,
        namespace(LinuxNamespaceType::Network, shared.network.as_deref())?,
        namespace(LinuxNamespaceType::Uts, shared.uts.as_deref())?,
        namespace(LinuxNamespaceType::Ipc, shared.ipc.as_deref())?,
    ])
}

fn rlimit_type(name: &str) -> Result<PosixRlimitType, SpecError> {
    use PosixRlimitType as T;
    Ok(match name {
        "core" => T::RlimitCore,
        "cpu" => T::RlimitCpu,
        "data" => T::RlimitData,
        "fsize" => T::RlimitFsize,
        "locks" => T::RlimitLocks,
        "memlock" => T::RlimitMemlock,
        "msgqueue" => T::RlimitMsgqueue,
        "nice" => T::RlimitNice,
        "nofile" => T::RlimitNofile,
        "nproc" => T::RlimitNproc,
        "rss" => T::RlimitRss,
        "rtprio" => T::RlimitRtprio,
        "rttime" => T::RlimitRttime,
        "sigpending" => T::RlimitSigpending,
        "stack" => T::RlimitStack,
        other => return Err(SpecError::UnknownUlimit(other.to_owned())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn config(rootfs: &Path) -> ContainerConfig {
        ContainerConfig {
            rootfs: rootfs.to_path_buf(),
            args: vec!["/bin/sh".into(), "-c".into(), "exit 3".into()],
            env: vec!["PATH=/bin".into()],
            cwd: "/".into(),
            user: User {
                uid: 0,
                gid: 0,
                additional_gids: vec![],
                home: "/root".into(),
            },
            hostname: "task-1".into(),
            readonly_rootfs: false,
            cgroups_path: "/berth-test/c1".into(),
            cpu_shares: Some(512),
            cpu_quota: Some((25_000, 100_000)),
            memory_limit: Some(64 << 20),
            memory_reservation: Some(32 << 20),
            pids_limit: Some(64),
            rlimits: vec![Rlimit {
                name: "nofile".into(),
                soft: 1024,
                hard: 4096,
            }],
            shared: SharedNamespaces::default(),
            init: None,
            capabilities: Default::default(),
            privileged: false,
            sysctls: Default::default(),
            volumes: vec![],
        }
    }

    #[test]
    fn an_init_process_wraps_the_command_and_is_mounted_read_only() {
        let mut with_init = config(Path::new("/rootfs"));
        with_init.init = Some("/usr/bin/tini-static".into());
        let json = serde_json::to_value(generate(&with_init).unwrap()).unwrap();
        assert_eq!(
            json["process"]["args"],
            serde_json::json!(["/sbin/docker-init", "--", "/bin/sh", "-c", "exit 3"])
        );
        let mount = json["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["destination"] == INIT_PATH)
            .unwrap();
        assert_eq!(mount["source"], "/usr/bin/tini-static");
        assert!(mount["options"].as_array().unwrap().contains(&"ro".into()));
    }

    #[test]
    fn joining_the_sandbox_sets_uts_and_ipc_paths_and_drops_the_hostname() {
        let mut spec = generate(&config(Path::new("/rootfs"))).unwrap();
        assert!(spec.hostname().is_some());
        join_sandbox(
            &mut spec,
            Path::new("/proc/7/ns/net"),
            Path::new("/proc/7/ns/uts"),
            Path::new("/proc/7/ns/ipc"),
        );
        assert_eq!(spec.hostname(), &None);
        let json = serde_json::to_value(&spec).unwrap();
        let path_of = |kind: &str| {
            json["linux"]["namespaces"]
                .as_array()
                .unwrap()
                .iter()
                .find(|n| n["type"] == kind)
                .map(|n| n["path"].clone())
                .unwrap()
        };
        assert_eq!(path_of("uts"), "/proc/7/ns/uts");
        assert_eq!(path_of("ipc"), "/proc/7/ns/ipc");
        assert_eq!(path_of("network"), "/proc/7/ns/net");
        assert_eq!(path_of("pid"), serde_json::Value::Null);
    }

    #[test]
    fn hardening_and_limits_reach_the_spec() {
        let spec = generate(&config(Path::new("/rootfs"))).unwrap();
        let json = serde_json::to_value(&spec).unwrap();
        let process = &json["process"];
        assert_eq!(process["noNewPrivileges"], true);
        assert_eq!(
            process["capabilities"]["bounding"]
                .as_array()
                .unwrap()
                .len(),
            14
        );
        assert_eq!(process["rlimits"][0]["type"], "RLIMIT_NOFILE");
        let resources = &json["linux"]["resources"];
        assert_eq!(resources["cpu"]["shares"], 512);
        assert_eq!(resources["cpu"]["quota"], 25_000);
        assert_eq!(resources["memory"]["limit"], 64 << 20);
        assert_eq!(resources["memory"]["reservation"], 32 << 20);
        assert_eq!(resources["pids"]["limit"], 64);
        assert!(
            json["linux"]["maskedPaths"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p == "/proc/kcore")
        );
        assert!(
            json["linux"]["readonlyPaths"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p == "/proc/sys")
        );
        assert_eq!(json["hostname"], "task-1");
    }

    #[test]
    fn shared_namespaces_are_joined_by_path() {
        let mut c = config(Path::new("/rootfs"));
        c.shared = SharedNamespaces {
            network: Some("/run/netns/t1".into()),
            uts: Some("/proc/42/ns/uts".into()),
            ipc: Some("/proc/42/ns/ipc".into()),
        };
        let json = serde_json::to_value(generate(&c).unwrap()).unwrap();
        let namespaces = json["linux"]["namespaces"].as_array().unwrap();
        let path_of = |t: &str| {
            namespaces
                .iter()
                .find(|n| n["type"] == t)
                .map(|n| n["path"].clone())
        };
        assert_eq!(path_of("network"), Some(serde_json::json!("/run/netns/t1")));
        assert_eq!(path_of("pid"), Some(serde_json::Value::Null));
        assert!(json.get("hostname").is_none_or(|h| h.is_null()));
        c.rlimits = vec![Rlimit {
            name: "bogus".into(),
            soft: 1,
            hard: 1,
        }];
        assert!(matches!(generate(&c), Err(SpecError::UnknownUlimit(_))));
    }

    fn capabilities_of(json: &serde_json::Value) -> Vec<String> {
        let mut caps: Vec<String> = json["process"]["capabilities"]["bounding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect();
        caps.sort();
        caps
    }

    fn allowed_calls(json: &serde_json::Value) -> Vec<String> {
        json["linux"]["seccomp"]["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["action"] == "SCMP_ACT_ALLOW")
            .flat_map(|s| s["names"].as_array().unwrap().clone())
            .map(|n| n.as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn capabilities_added_and_dropped_reach_the_spec_and_its_filter() {
        let mut c = config(Path::new("/rootfs"));
        let json = serde_json::to_value(generate(&c).unwrap()).unwrap();
        assert!(!capabilities_of(&json).contains(&"CAP_SYS_PTRACE".to_owned()));
        assert!(!allowed_calls(&json).contains(&"kcmp".to_owned()));
        c.capabilities = CapabilityChanges {
            add: vec!["SYS_PTRACE".into()],
            drop: vec!["NET_RAW".into()],
        };
        let json = serde_json::to_value(generate(&c).unwrap()).unwrap();
        let caps = capabilities_of(&json);
        assert!(caps.contains(&"CAP_SYS_PTRACE".to_owned()));
        assert!(!caps.contains(&"CAP_NET_RAW".to_owned()));
        assert_eq!(caps.len(), 14);
        assert_eq!(
            json["process"]["capabilities"]["effective"]
                .as_array()
                .unwrap()
                .len(),
            14
        );
        assert!(allowed_calls(&json).contains(&"kcmp".to_owned()));

        c.capabilities = CapabilityChanges {
            add: vec!["ALL".into()],
            drop: vec![],
        };
        let json = serde_json::to_value(generate(&c).unwrap()).unwrap();
        assert_eq!(
            capabilities_of(&json).len(),
            capabilities::available().len()
        );
        assert!(allowed_calls(&json).contains(&"unshare".to_owned()));
        assert_eq!(json["process"]["noNewPrivileges"], true);

        c.capabilities.add = vec!["NOPE".into()];
        assert!(matches!(generate(&c), Err(SpecError::UnknownCapability(_))));
    }

    #[test]
    fn every_container_gets_the_default_seccomp_filter() {
        let json = serde_json::to_value(generate(&config(Path::new("/rootfs"))).unwrap()).unwrap();
        let seccomp = &json["linux"]["seccomp"];
        assert_eq!(seccomp["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(seccomp["defaultErrnoRet"], 1);
        let allowed = allowed_calls(&json);
        assert!(allowed.contains(&"read".to_owned()));
        assert!(!allowed.contains(&"keyctl".to_owned()));
    }

    #[test]
    fn privileged_is_dockers_privileged() {
        let mut c = config(Path::new("/rootfs"));
        c.privileged = true;
        let json = serde_json::to_value(generate(&c).unwrap()).unwrap();
        assert_eq!(
            capabilities_of(&json).len(),
            capabilities::available().len()
        );
        assert!(json["linux"].get("seccomp").is_none_or(|s| s.is_null()));
        assert!(json["linux"].get("maskedPaths").is_none_or(|s| s.is_null()));
        assert!(
            json["linux"]
                .get("readonlyPaths")
                .is_none_or(|s| s.is_null())
        );
        let sys = json["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["destination"] == "/sys")
            .unwrap();
        assert!(!sys["options"].as_array().unwrap().contains(&"ro".into()));
    }

    #[test]
    fn namespaced_sysctls_reach_the_spec_and_are_handed_to_the_sandbox() {
        let mut c = config(Path::new("/rootfs"));
        c.sysctls = [
            (
                "net.ipv4.ip_unprivileged_port_start".to_owned(),
                "80".to_owned(),
            ),
            ("kernel.shmmax".to_owned(), "65536".to_owned()),
        ]
        .into_iter()
        .collect();
        let mut spec = generate(&c).unwrap();
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(
            json["linux"]["sysctl"]["net.ipv4.ip_unprivileged_port_start"],
            "80"
        );
        let taken = join_sandbox(
            &mut spec,
            Path::new("/proc/7/ns/net"),
            Path::new("/proc/7/ns/uts"),
            Path::new("/proc/7/ns/ipc"),
        );
        assert_eq!(taken, c.sysctls);
        let json = serde_json::to_value(&spec).unwrap();
        assert!(json["linux"].get("sysctl").is_none_or(|s| s.is_null()));

        for host_wide in ["vm.swappiness", "kernel.core_pattern", "fs.file-max"] {
            c.sysctls = [(host_wide.to_owned(), "1".to_owned())]
                .into_iter()
                .collect();
            assert!(
                matches!(generate(&c), Err(SpecError::Sysctl(name)) if name == host_wide),
                "{host_wide} refused"
            );
        }
    }

    #[test]
    fn volumes_are_private_bind_mounts() {
        let mut c = config(Path::new("/rootfs"));
        c.volumes = vec![
            VolumeMount {
                source: "/data/tasks/t1/volumes/shared".into(),
                destination: "/shared".into(),
                readonly: false,
            },
            VolumeMount {
                source: "/data/tasks/t1/volumes/config".into(),
                destination: "/etc/app".into(),
                readonly: true,
            },
        ];
        let json = serde_json::to_value(generate(&c).unwrap()).unwrap();
        let mount = |destination: &str| {
            json["mounts"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["destination"] == destination)
                .cloned()
                .unwrap()
        };
        let shared = mount("/shared");
        assert_eq!(shared["type"], "bind");
        assert_eq!(shared["source"], "/data/tasks/t1/volumes/shared");
        assert_eq!(shared["options"], serde_json::json!(["rbind", "rprivate"]));
        assert_eq!(
            mount("/etc/app")["options"],
            serde_json::json!(["rbind", "rprivate", "ro"])
        );
        c.volumes[0].destination = "relative".into();
        assert!(matches!(generate(&c), Err(SpecError::MountPoint(_))));
    }
}

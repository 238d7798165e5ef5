//! The OCI runtime spec of one container, generated from what berth decided about it. Starts
//! from runc's defaults (mounts, masked and read-only /proc and /sys paths) and applies
//! Docker's and ECS's hardening: Docker's default capability set, no-new-privileges, and the
//! container's own cgroup limits.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    Capability, LinuxCapabilitiesBuilder, LinuxCpuBuilder, LinuxMemoryBuilder, LinuxNamespace,
    LinuxNamespaceBuilder, LinuxNamespaceType, LinuxPidsBuilder, LinuxResourcesBuilder,
    MountBuilder, PosixRlimitBuilder, PosixRlimitType, ProcessBuilder, RootBuilder, Spec,
    UserBuilder,
};

use crate::process::User;

/// The OCI runtime spec type, for callers that hand a generated spec on.
pub use oci_spec::runtime::Spec as OciSpec;

/// Docker's default capabilities: what a container gets unless its definition adds or drops.
pub const DEFAULT_CAPABILITIES: [Capability; 14] = [
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fsetid,
    Capability::Fowner,
    Capability::Mknod,
    Capability::NetRaw,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setfcap,
    Capability::Setpcap,
    Capability::NetBindService,
    Capability::SysChroot,
    Capability::Kill,
    Capability::AuditWrite,
];

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
}

/// Where a container's init process is mounted, as Docker names it.
pub const INIT_PATH: &str = "/sbin/docker-init";

/// Why a spec could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// A ulimit ECS does not name.
    #[error("unknown ulimit '{0}'")]
    UnknownUlimit(String),
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
    let capabilities: HashSet<Capability> = DEFAULT_CAPABILITIES.into_iter().collect();
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
    Ok(spec)
}

/// Makes the container of `spec` join the network, UTS and IPC namespaces at `net`, `uts` and
/// `ipc` (the task's sandbox, which holds its hostname) instead of creating its own.
pub fn join_sandbox(spec: &mut Spec, net: &Path, uts: &Path, ipc: &Path) {
    spec.set_hostname(None);
    if let Some(namespaces) = spec
        .linux_mut()
        .as_mut()
        .and_then(|linux| linux.namespaces_mut().as_mut())
    {
        for namespace in namespaces.iter_mut() {
            match namespace.typ() {
                LinuxNamespaceType::Uts => namespace.set_path(Some(uts.to_path_buf())),
                LinuxNamespaceType::Ipc => namespace.set_path(Some(ipc.to_path_buf())),
                LinuxNamespaceType::Network => namespace.set_path(Some(net.to_path_buf())),
                _ => namespace,
            };
        }
    }
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
}

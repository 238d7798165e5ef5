//! Which capabilities a container holds: Docker's default set, changed as the definition's
//! `linuxParameters.capabilities` says (`add`, `drop`, by ECS's names — `SYS_PTRACE`,
//! `NET_ADMIN`, `ALL`), or every one for a privileged container. Docker's rules, so a
//! definition means here what it means under `docker run --cap-add/--cap-drop`: `add: [ALL]`
//! is every capability but those dropped; `drop: [ALL]` is exactly those added; otherwise the
//! defaults less the drops plus the adds. "Every capability" is every one the node itself
//! holds: berth cannot hand on one it lacks (run in a container of its own, say).

use std::collections::HashSet;
use std::sync::OnceLock;

use oci_spec::runtime::Capability;

/// A capability name Linux does not have.
#[derive(Debug, thiserror::Error)]
#[error("unknown capability '{0}'")]
pub struct UnknownCapability(pub String);

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

/// Every capability Linux has (up to CAP_CHECKPOINT_RESTORE, Linux 5.9): what `ALL` and a
/// privileged container mean.
pub const ALL_CAPABILITIES: [Capability; 41] = [
    Capability::Chown,
    Capability::DacOverride,
    Capability::DacReadSearch,
    Capability::Fowner,
    Capability::Fsetid,
    Capability::Kill,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setpcap,
    Capability::LinuxImmutable,
    Capability::NetBindService,
    Capability::NetBroadcast,
    Capability::NetAdmin,
    Capability::NetRaw,
    Capability::IpcLock,
    Capability::IpcOwner,
    Capability::SysModule,
    Capability::SysRawio,
    Capability::SysChroot,
    Capability::SysPtrace,
    Capability::SysPacct,
    Capability::SysAdmin,
    Capability::SysBoot,
    Capability::SysNice,
    Capability::SysResource,
    Capability::SysTime,
    Capability::SysTtyConfig,
    Capability::Mknod,
    Capability::Lease,
    Capability::AuditWrite,
    Capability::AuditControl,
    Capability::Setfcap,
    Capability::MacOverride,
    Capability::MacAdmin,
    Capability::Syslog,
    Capability::WakeAlarm,
    Capability::BlockSuspend,
    Capability::AuditRead,
    Capability::Perfmon,
    Capability::Bpf,
    Capability::CheckpointRestore,
];

/// What the definition says about a container's capabilities.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapabilityChanges {
    /// `linuxParameters.capabilities.add`: ECS's names (`SYS_PTRACE`), `ALL`.
    pub add: Vec<String>,
    /// `linuxParameters.capabilities.drop`.
    pub drop: Vec<String>,
}

/// One name of a change list: a capability, or `ALL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Name {
    All,
    One(Capability),
}

/// `SYS_PTRACE` (ECS's spelling), `CAP_SYS_PTRACE` or `ALL`, in any case, as Docker takes them.
fn parse(name: &str) -> Result<Name, UnknownCapability> {
    let upper = name.trim().to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    if bare == "ALL" {
        return Ok(Name::All);
    }
    bare.parse::<Capability>()
        .map(Name::One)
        .map_err(|_| UnknownCapability(name.to_owned()))
}

fn parse_all(names: &[String]) -> Result<Vec<Name>, UnknownCapability> {
    names.iter().map(|name| parse(name)).collect()
}

/// Every capability this process holds in its bounding set (read once): what `ALL` and a
/// privileged container get. All of them when the set cannot be read.
pub fn available() -> &'static HashSet<Capability> {
    static AVAILABLE: OnceLock<HashSet<Capability>> = OnceLock::new();
    AVAILABLE.get_or_init(|| {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let bounding = status
            .lines()
            .find_map(|line| line.strip_prefix("CapBnd:"))
            .and_then(|bits| u64::from_str_radix(bits.trim(), 16).ok());
        within_bounding_set(bounding)
    })
}

/// The capabilities whose bits are set in `bounding` (numbered as in Linux, which is
/// [`ALL_CAPABILITIES`]' order); all of them when it is unknown.
fn within_bounding_set(bounding: Option<u64>) -> HashSet<Capability> {
    ALL_CAPABILITIES
        .into_iter()
        .enumerate()
        .filter(|(bit, _)| bounding.is_none_or(|set| set >> bit & 1 == 1))
        .map(|(_, capability)| capability)
        .collect()
}

/// The capabilities a container holds (bounding, effective and permitted alike).
pub fn resolve(
    changes: &CapabilityChanges,
    privileged: bool,
) -> Result<HashSet<Capability>, UnknownCapability> {
    resolve_within(changes, privileged, available())
}

/// [`resolve`], with `all` the capabilities `ALL` means.
fn resolve_within(
    changes: &CapabilityChanges,
    privileged: bool,
    all: &HashSet<Capability>,
) -> Result<HashSet<Capability>, UnknownCapability> {
    let add = parse_all(&changes.add)?;
    let drop = parse_all(&changes.drop)?;
    if privileged {
        return Ok(all.clone());
    }
    let named = |names: &[Name]| -> HashSet<Capability> {
        names
            .iter()
            .filter_map(|name| match name {
                Name::One(capability) => Some(*capability),
                Name::All => None,
            })
            .collect()
    };
    let (added, dropped) = (named(&add), named(&drop));
    Ok(if add.contains(&Name::All) {
        all.iter()
            .copied()
            .filter(|c| !dropped.contains(c))
            .collect()
    } else if drop.contains(&Name::All) {
        added
    } else {
        DEFAULT_CAPABILITIES
            .into_iter()
            .filter(|c| !dropped.contains(c))
            .chain(added)
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(
        changes: &CapabilityChanges,
        privileged: bool,
    ) -> Result<HashSet<Capability>, UnknownCapability> {
        resolve_within(changes, privileged, &ALL_CAPABILITIES.into_iter().collect())
    }

    fn changes(add: &[&str], drop: &[&str]) -> CapabilityChanges {
        CapabilityChanges {
            add: add.iter().map(|s| (*s).to_owned()).collect(),
            drop: drop.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn no_change_is_dockers_defaults() {
        let caps = resolve(&CapabilityChanges::default(), false).unwrap();
        assert_eq!(caps, DEFAULT_CAPABILITIES.into_iter().collect());
    }

    #[test]
    fn adds_and_drops_by_ecs_names() {
        let caps = resolve(
            &changes(&["SYS_PTRACE", "cap_net_admin"], &["NET_RAW"]),
            false,
        )
        .unwrap();
        assert!(caps.contains(&Capability::SysPtrace) && caps.contains(&Capability::NetAdmin));
        assert!(!caps.contains(&Capability::NetRaw));
        assert_eq!(caps.len(), 15);
    }

    #[test]
    fn all_in_either_list() {
        let caps = resolve(&changes(&["ALL"], &["SYS_ADMIN"]), false).unwrap();
        assert_eq!(caps.len(), 40);
        assert!(!caps.contains(&Capability::SysAdmin));
        let caps = resolve(&changes(&["KILL"], &["ALL"]), false).unwrap();
        assert_eq!(caps, [Capability::Kill].into_iter().collect());
        assert!(resolve(&changes(&[], &["ALL"]), false).unwrap().is_empty());
    }

    #[test]
    fn all_means_what_the_node_holds() {
        // Linux numbers capabilities in the table's order: bit 21 is CAP_SYS_ADMIN.
        assert_eq!(ALL_CAPABILITIES[21], Capability::SysAdmin);
        assert_eq!(ALL_CAPABILITIES[40], Capability::CheckpointRestore);
        let without_sys_resource = within_bounding_set(Some(0x1ff_feff_ffff));
        assert_eq!(without_sys_resource.len(), 40);
        assert!(!without_sys_resource.contains(&Capability::SysResource));
        assert_eq!(within_bounding_set(None).len(), 41);
        let caps = resolve_within(&changes(&["ALL"], &[]), false, &without_sys_resource).unwrap();
        assert_eq!(caps, without_sys_resource);
        assert!(available().contains(&Capability::Chown));
    }

    #[test]
    fn privileged_holds_every_capability_and_a_wrong_name_is_an_error() {
        let caps = resolve(&changes(&[], &["ALL"]), true).unwrap();
        assert_eq!(caps.len(), ALL_CAPABILITIES.len());
        assert!(matches!(
            resolve(&changes(&["SYS_NOPE"], &[]), false),
            Err(UnknownCapability(name)) if name == "SYS_NOPE"
        ));
    }
}

//! What one `berth up` holds of the machine beyond its data directory — its bridge (with the
//! firewall table named after it) and its default VPC's range — claimed so that a second
//! server cannot take them too: two servers on one bridge would each swap the other's tasks
//! out of the firewall table and delete the bridge from under the other when they stop, and
//! two overlapping ranges would route one server's task addresses to the other's bridge.
//!
//! Each running server keeps a claim file in [`CLAIMS_DIR`] (its pid, data directory, bridge
//! and range) under an exclusive `flock` held for its whole life. The kernel drops the lock
//! when the process dies, however it dies, so a claim is live exactly while its lock is held:
//! liveness is tried on the lock, never read from the pid (pids are reused). A server starting
//! reads every live claim and refuses to start on the same bridge or an overlapping range,
//! naming the holder and the flags that avoid it; reading and writing claims happen under one
//! directory-wide lock, so two servers starting at once cannot both miss each other.
//!
//! It also answers whether this server may delete its bridge when it stops
//! ([`bridge_is_ours`]): only one it made, never one it found (an operator's, or one another
//! berth left behind).

use std::fmt;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use berth_model::network::Ipv4Network;
use serde::{Deserialize, Serialize};

/// Where claims live: on /run, a tmpfs, so none outlives the machine's boot.
pub const CLAIMS_DIR: &str = "/run/berth/claims";

/// What a server holds, as its claim file says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Claim {
    pub pid: u32,
    pub data_dir: PathBuf,
    pub bridge: String,
    /// Text, not [`Ipv4Network`] (which has no serde form): parsed when compared.
    pub vpc_cidr: String,
}

impl Claim {
    /// This process's claim.
    pub fn ours(data_dir: &Path, bridge: &str, vpc_cidr: Ipv4Network) -> Self {
        Self {
            pid: std::process::id(),
            data_dir: data_dir.to_path_buf(),
            bridge: bridge.to_owned(),
            vpc_cidr: vpc_cidr.to_string(),
        }
    }

    fn range(&self) -> Option<Ipv4Network> {
        Ipv4Network::parse(&self.vpc_cidr).ok()
    }
}

/// A claim this server holds; dropping it (or the process dying) releases it.
#[derive(Debug)]
pub struct HeldClaim {
    path: PathBuf,
    _file: File,
}

impl Drop for HeldClaim {
    fn drop(&mut self) {
        // Removed while still locked: a reader that opened it just before sees it live, one
        // that opens it after finds nothing. A file left by a crash is removed by the next
        // server, which finds it unlocked.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Why a claim was not taken.
#[derive(Debug)]
pub enum ClaimError {
    /// Live servers hold what this one would use (boxed: the common result is `Ok`).
    Refused(Box<Refused>),
    /// The claims directory could not be used.
    Io { what: String, source: io::Error },
}

impl fmt::Display for ClaimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused(refused) => refused.fmt(f),
            Self::Io { what, source } => write!(f, "{what}: {source}"),
        }
    }
}

impl std::error::Error for ClaimError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Refused(_) => None,
            Self::Io { source, .. } => Some(source),
        }
    }
}

/// Who holds what this server would use, and what it could use instead.
#[derive(Debug)]
pub struct Refused {
    ours: Claim,
    conflicts: Vec<Conflict>,
    free_bridge: Option<String>,
    free_range: Option<Ipv4Network>,
}

#[derive(Debug)]
struct Conflict {
    holder: Claim,
    same_bridge: bool,
    overlapping: bool,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, conflict) in self.conflicts.iter().enumerate() {
            let holder = &conflict.holder;
            if n > 0 {
                f.write_str("; ")?;
            }
            write!(
                f,
                "another berth up (pid {}, data in {}) is using ",
                holder.pid,
                holder.data_dir.display()
            )?;
            if conflict.same_bridge {
                write!(f, "the bridge {}", holder.bridge)?;
            }
            if conflict.same_bridge && conflict.overlapping {
                f.write_str(" and ")?;
            }
            if conflict.overlapping {
                write!(
                    f,
                    "the VPC range {}, which --vpc-cidr {} overlaps",
                    holder.vpc_cidr, self.ours.vpc_cidr
                )?;
            }
        }
        let them = if self.conflicts.len() > 1 {
            "them"
        } else {
            "it"
        };
        write!(f, ": stop {them} first, or give this one ")?;
        let bridge = self.conflicts.iter().any(|c| c.same_bridge);
        if bridge {
            f.write_str("another --bridge NAME")?;
            if let Some(free) = &self.free_bridge {
                write!(f, " ({free} is free)")?;
            }
        }
        if self.conflicts.iter().any(|c| c.overlapping) {
            if bridge {
                f.write_str(" and ")?;
            }
            f.write_str("another --vpc-cidr CIDR")?;
            if let Some(free) = &self.free_range {
                write!(f, " ({free} is free)")?;
            }
        }
        Ok(())
    }
}

/// Numbers this process's claim files apart (tests take several in one process).
static SEQUENCE: AtomicU32 = AtomicU32::new(0);

/// Takes `ours` in `dir`, or says which live claims stand in its way.
pub fn take(dir: &Path, ours: Claim) -> Result<HeldClaim, ClaimError> {
    let io_error = |what: String| move |source| ClaimError::Io { what, source };
    std::fs::create_dir_all(dir).map_err(io_error(format!("cannot create {}", dir.display())))?;
    // Held while claims are read and ours is written, so that two servers starting at once
    // see each other; the claims themselves are locked separately, for their servers' lives.
    let guard_path = dir.join(".lock");
    let guard = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&guard_path)
        .map_err(io_error(format!("cannot open {}", guard_path.display())))?;
    guard
        .lock()
        .map_err(io_error(format!("cannot lock {}", guard_path.display())))?;

    let live = live_claims(dir).map_err(io_error(format!("cannot read {}", dir.display())))?;
    let our_range = ours.range();
    let conflicts: Vec<Conflict> = live
        .iter()
        .filter_map(|holder| {
            let same_bridge = holder.bridge == ours.bridge;
            let overlapping = our_range
                .zip(holder.range())
                .is_some_and(|(a, b)| a.overlaps(&b));
            (same_bridge || overlapping).then(|| Conflict {
                holder: holder.clone(),
                same_bridge,
                overlapping,
            })
        })
        .collect();
    if !conflicts.is_empty() {
        return Err(ClaimError::Refused(Box::new(Refused {
            free_bridge: free_bridge(&live),
            free_range: our_range.and_then(|range| free_range(range.prefix_len, &live)),
            ours,
            conflicts,
        })));
    }

    let path = dir.join(format!(
        "{}.{}.json",
        ours.pid,
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    ));
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .map_err(io_error(format!("cannot create {}", path.display())))?;
    // Nobody else can hold it: the name is new and claims are made under the guard.
    file.try_lock().map_err(|e| ClaimError::Io {
        what: format!("cannot lock {}", path.display()),
        source: match e {
            TryLockError::Error(e) => e,
            TryLockError::WouldBlock => io::ErrorKind::WouldBlock.into(),
        },
    })?;
    let text = serde_json::to_vec(&ours).expect("a claim serializes");
    file.write_all(&text)
        .map_err(io_error(format!("cannot write {}", path.display())))?;
    Ok(HeldClaim { path, _file: file })
}

/// The claims whose servers are alive (their files locked); files of dead ones are removed.
fn live_claims(dir: &Path) -> io::Result<Vec<Claim>> {
    let mut live = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let mut file = match File::open(&path) {
            Ok(file) => file,
            // Released meanwhile.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        match file.try_lock() {
            // Nobody holds it: its server died without removing it (kill -9, a crash).
            Ok(()) => {
                let _ = std::fs::remove_file(&path);
            }
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                file.read_to_string(&mut text)?;
                // Claims are written whole under the directory's lock, which this reader
                // holds: one that does not parse is not berth's, and claims nothing.
                if let Ok(claim) = serde_json::from_str::<Claim>(&text) {
                    live.push(claim);
                }
            }
            Err(TryLockError::Error(e)) => return Err(e),
        }
    }
    live.sort_by_key(|claim| claim.pid);
    Ok(live)
}

/// A bridge name no live server holds and no interface on this host has.
fn free_bridge(live: &[Claim]) -> Option<String> {
    (1..100).map(|n| format!("berth{n}")).find(|name| {
        !live.iter().any(|c| &c.bridge == name) && !Path::new("/sys/class/net").join(name).exists()
    })
}

/// A range of `prefix_len` in 172.16.0.0/12 (where AWS's default VPCs are), from the top
/// down, that overlaps no live claim and no route of this host (docker's 172.17.0.0/16, a
/// LAN's): one the user can pass as it is.
fn free_range(prefix_len: u8, live: &[Claim]) -> Option<Ipv4Network> {
    let taken: Vec<Ipv4Network> = live
        .iter()
        .filter_map(Claim::range)
        .chain(host_routes())
        .collect();
    (16..=31u8).rev().find_map(|second| {
        let candidate = Ipv4Network {
            network: Ipv4Addr::new(172, second, 0, 0),
            prefix_len,
        };
        (!taken.iter().any(|t| t.overlaps(&candidate))).then_some(candidate)
    })
}

/// The destinations of this host's IPv4 routes but the default one, from /proc/net/route.
fn host_routes() -> Vec<Ipv4Network> {
    let text = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // Addresses are the kernel's network-order words printed in host order.
            let word = |i: usize| {
                fields
                    .get(i)
                    .and_then(|f| u32::from_str_radix(f, 16).ok())
                    .map(|w| Ipv4Addr::from(w.to_ne_bytes()))
            };
            let (destination, mask) = (word(1)?, word(7)?);
            let prefix_len = u32::from(mask).count_ones() as u8;
            (prefix_len > 0).then_some(Ipv4Network {
                network: destination,
                prefix_len,
            })
        })
        .collect()
}

/// Where a server notes, for the next one on its data directory, that it made its bridge: on
/// the run directory's tmpfs, which lasts as long as the bridge (until reboot), with the boot
/// it was made in should the run directory be on disk.
const BRIDGE_MARKER: &str = "bridge.json";

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BridgeMarker {
    bridge: String,
    boot_id: String,
}

/// Whether this server may delete `bridge` when it stops with no task left: it is missing now
/// (this server makes it), or an earlier server on this data directory made it in this boot
/// (and kept it for the tasks it left running, which this one adopts). A bridge found
/// otherwise — an operator's, or one another berth left behind — is not this server's to
/// delete. Call it after the run directory is mounted and before the agent makes the bridge;
/// the claim on `bridge` keeps other servers from making it meanwhile.
pub fn bridge_is_ours(run_dir: &Path, bridge: &str) -> bool {
    let marker_path = run_dir.join(BRIDGE_MARKER);
    let this_boot = BridgeMarker {
        bridge: bridge.to_owned(),
        boot_id: boot_id(),
    };
    if Path::new("/sys/class/net").join(bridge).exists() {
        return std::fs::read(&marker_path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<BridgeMarker>(&bytes).ok())
            .is_some_and(|marker| marker == this_boot);
    }
    let text = serde_json::to_vec(&this_boot).expect("a marker serializes");
    if let Err(error) = std::fs::write(&marker_path, text) {
        // Only a restart adopting tasks needs it; this server still knows.
        tracing::warn!(%error, path = %marker_path.display(), "cannot note that berth makes its bridge");
    }
    true
}

/// Forgets that this data directory's server made a bridge (it has deleted it).
pub fn forget_bridge(run_dir: &Path) {
    let _ = std::fs::remove_file(run_dir.join(BRIDGE_MARKER));
}

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|id| id.trim().to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(bridge: &str, cidr: &str) -> Claim {
        Claim::ours(
            Path::new("/var/lib/one"),
            bridge,
            Ipv4Network::parse(cidr).unwrap(),
        )
    }

    fn refusal(dir: &Path, ours: Claim) -> String {
        match take(dir, ours) {
            Err(ClaimError::Refused(refused)) => refused.to_string(),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn the_same_bridge_or_an_overlapping_range_is_refused_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let _first = take(dir.path(), claim("br-a", "10.7.0.0/16")).unwrap();
        let pid = std::process::id();

        let same_bridge = refusal(dir.path(), claim("br-a", "10.8.0.0/16"));
        assert!(
            same_bridge.starts_with(&format!(
                "another berth up (pid {pid}, data in /var/lib/one) is using the bridge br-a: stop it first, or give this one another --bridge NAME"
            )),
            "{same_bridge}"
        );
        assert!(!same_bridge.contains("--vpc-cidr"), "{same_bridge}");

        let overlapping = refusal(dir.path(), claim("br-b", "10.7.16.0/20"));
        assert!(
            overlapping.starts_with(&format!(
                "another berth up (pid {pid}, data in /var/lib/one) is using the VPC range 10.7.0.0/16, which --vpc-cidr 10.7.16.0/20 overlaps: stop it first, or give this one another --vpc-cidr CIDR"
            )),
            "{overlapping}"
        );

        let both = refusal(dir.path(), claim("br-a", "10.7.0.0/16"));
        assert!(
            both.contains("the bridge br-a and the VPC range 10.7.0.0/16")
                && both.contains("another --bridge NAME")
                && both.contains(" and another --vpc-cidr CIDR"),
            "{both}"
        );
    }

    #[test]
    fn servers_apart_run_side_by_side_and_a_released_claim_frees_its_bridge() {
        let dir = tempfile::tempdir().unwrap();
        let first = take(dir.path(), claim("br-a", "10.7.0.0/16")).unwrap();
        let second = take(dir.path(), claim("br-b", "10.9.0.0/16")).unwrap();
        assert!(take(dir.path(), claim("br-a", "10.10.0.0/16")).is_err());
        drop(first);
        let _again = take(dir.path(), claim("br-a", "10.10.0.0/16")).unwrap();
        drop(second);
        assert_eq!(live_claims(dir.path()).unwrap().len(), 1);
    }

    #[test]
    fn an_unlocked_claim_file_is_a_dead_servers_and_claims_nothing() {
        let dir = tempfile::tempdir().unwrap();
        // What a server killed with SIGKILL leaves: its file, no lock.
        let stale = dir.path().join("999999.0.json");
        std::fs::write(
            &stale,
            serde_json::to_vec(&claim("br-a", "10.7.0.0/16")).unwrap(),
        )
        .unwrap();
        let _claim = take(dir.path(), claim("br-a", "10.7.0.0/16")).unwrap();
        assert!(!stale.exists());
    }

    #[test]
    fn a_free_range_suggested_overlaps_no_claim() {
        let taken = [
            claim("br-a", "172.31.0.0/16"),
            claim("br-b", "172.30.0.0/16"),
        ];
        let free = free_range(16, &taken).unwrap();
        assert!(taken.iter().all(|c| !c.range().unwrap().overlaps(&free)));
        assert!(host_routes().iter().all(|r| !r.overlaps(&free)));
    }
}

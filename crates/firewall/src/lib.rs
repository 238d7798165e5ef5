//! Security groups and egress enforced in the kernel for the tasks on one bridge.
//!
//! The whole desired state — every task address with its groups and whether it may leave the
//! host, every group's ingress rules — is rendered into one ruleset and swapped in atomically,
//! so applying is also reconciling: rules of tasks that are gone vanish with the next apply.
//! `nftables.rs` renders for `nft` (an `ip` table); `iptables.rs` is the fallback where `nft`
//! is missing. An [`Applier`] applies one state after another: with nftables, a state that
//! differs from the last only in which tasks are where (the common change: a task starts or
//! stops) is applied as changes to the table's address sets over nfnetlink, in one atomic
//! batch, instead of a swap by an `nft` process (a few milliseconds of CPU each). Both see
//! traffic between tasks on the bridge through `br_netfilter`, which hands bridged IPv4 to
//! the IP hooks (Docker turns it on for the same reason); routed traffic reaches them anyway.
//!
//! What holds for both: traffic to a task is dropped unless one of its groups allows it
//! (a block or a group's members as the source; a protocol; a port range) or it belongs to a
//! connection already allowed; the host itself always reaches tasks (its packets are not
//! forwarded, so these rules never see them); traffic from a task leaving the host is
//! masqueraded when the task may leave (`assignPublicIp`) and refused otherwise.

mod iptables;
mod nftables;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use berth_model::security_groups::{GroupIngress, IngressSource};

/// A task address as the firewall guards it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardedTask {
    /// The task's address.
    pub address: Ipv4Addr,
    /// Its security groups (by ARN).
    pub groups: Vec<String>,
    /// Whether it may reach beyond the host (NAT'ed).
    pub egress: bool,
}

/// Everything one bridge's firewall enforces.
#[derive(Debug, Clone, Default)]
pub struct FirewallState {
    /// The tasks on the bridge.
    pub tasks: Vec<GuardedTask>,
    /// Every known group's ingress rules.
    pub groups: Vec<GroupIngress>,
}

impl FirewallState {
    /// The groups the ruleset needs (those tasks are in and those rules name), sorted, so
    /// each gets a stable index; and each one's member addresses.
    fn group_members(&self) -> Vec<(String, Vec<Ipv4Addr>)> {
        let mut names: Vec<String> = self
            .tasks
            .iter()
            .flat_map(|t| t.groups.iter().cloned())
            .chain(self.groups.iter().flat_map(|g| {
                g.rules.iter().filter_map(|r| match &r.source {
                    IngressSource::Group(arn) => Some(arn.clone()),
                    IngressSource::Cidr(..) => None,
                })
            }))
            .collect();
        names.sort();
        names.dedup();
        names
            .into_iter()
            .map(|name| {
                let members = self
                    .tasks
                    .iter()
                    .filter(|t| t.groups.contains(&name))
                    .map(|t| t.address)
                    .collect();
                (name, members)
            })
            .collect()
    }
}

/// Which tool enforces the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `nft`.
    Nftables,
    /// `iptables-restore` with `br_netfilter`.
    Iptables,
}

impl Backend {
    /// `nft` if it is installed and works, else iptables if it is; `None` without either.
    pub fn detect() -> Option<Self> {
        let works = |program: &str, arg: &str| {
            Command::new(program)
                .arg(arg)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if works("nft", "--version") {
            Some(Self::Nftables)
        } else if works("iptables-restore", "--version") {
            Some(Self::Iptables)
        } else {
            None
        }
    }

    /// Parses `nftables` or `iptables`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "nftables" | "nft" => Some(Self::Nftables),
            "iptables" => Some(Self::Iptables),
            _ => None,
        }
    }
}

/// How [`Applier::apply`] applied a state.
#[derive(Debug)]
pub enum Applied {
    /// The whole ruleset was swapped in.
    Swapped,
    /// Only the address sets changed, over nfnetlink.
    SetsChanged,
    /// Changing the sets failed (someone else changed the table, say), so the whole ruleset
    /// was swapped in instead.
    SwappedAfter(std::io::Error),
}

/// Applies one bridge's states one after another, each as cheaply as it can be: see the
/// module's documentation.
pub struct Applier {
    backend: Backend,
    bridge: String,
    /// The last state applied in full or in part, as the nftables table holds it.
    last: Option<InForce>,
    /// Opened on first use, kept open (a closing nfnetlink socket waits out an RCU grace
    /// period).
    sets: Option<berth_net::NfSets>,
}

struct InForce {
    shape: String,
    sets: Vec<(String, BTreeSet<Ipv4Addr>)>,
}

impl Applier {
    /// An applier for `bridge` with `backend`; its first apply swaps the whole ruleset in.
    pub fn new(backend: Backend, bridge: &str) -> Self {
        Self {
            backend,
            bridge: bridge.to_owned(),
            last: None,
            sets: None,
        }
    }

    /// Replaces the bridge's rules with `state`'s, atomically either way.
    pub fn apply(&mut self, state: &FirewallState) -> std::io::Result<Applied> {
        if self.backend != Backend::Nftables {
            apply(self.backend, &self.bridge, state)?;
            return Ok(Applied::Swapped);
        }
        let shape = nftables::shape(&self.bridge, state);
        let sets = nftables::sets(state);
        let mut failure = None;
        if let Some(last) = self.last.take()
            && last.shape == shape
        {
            match self.change_sets(&last.sets, &sets) {
                Ok(()) => {
                    self.last = Some(InForce { shape, sets });
                    return Ok(Applied::SetsChanged);
                }
                Err(error) => failure = Some(error),
            }
        }
        apply(self.backend, &self.bridge, state)?;
        self.last = Some(InForce { shape, sets });
        Ok(failure.map_or(Applied::Swapped, Applied::SwappedAfter))
    }

    fn change_sets(
        &mut self,
        before: &[(String, BTreeSet<Ipv4Addr>)],
        after: &[(String, BTreeSet<Ipv4Addr>)],
    ) -> std::io::Result<()> {
        let none = BTreeSet::new();
        let changes: Vec<berth_net::SetChange> = after
            .iter()
            .map(|(name, now)| {
                let was = before
                    .iter()
                    .find(|(n, _)| n == name)
                    .map_or(&none, |(_, s)| s);
                berth_net::SetChange {
                    set: name.clone(),
                    add: now.difference(was).copied().collect(),
                    remove: was.difference(now).copied().collect(),
                }
            })
            .collect();
        let sets = match &mut self.sets {
            Some(sets) => sets,
            empty => empty.insert(berth_net::NfSets::open()?),
        };
        sets.apply(&nftables::table(&self.bridge), &changes)
    }
}

/// Replaces bridge `bridge`'s rules with `state`'s, in one atomic step per table.
pub fn apply(backend: Backend, bridge: &str, state: &FirewallState) -> std::io::Result<()> {
    // Tasks' traffic to other subnets and beyond is routed by the host.
    std::fs::write("/proc/sys/net/ipv4/ip_forward", "1")?;
    bridged_traffic_to_ip_hooks()?;
    match backend {
        Backend::Nftables => run_nft(&nftables::ruleset(bridge, state)),
        Backend::Iptables => {
            run(
                "iptables-restore",
                &["--noflush", "--wait"],
                &iptables::ruleset(bridge, state),
            )?;
            iptables::hook(bridge)
        }
    }
}

/// The script [`apply`] hands `nft` for `state` on `bridge` (for benchmarks and debugging).
pub fn nft_script(bridge: &str, state: &FirewallState) -> String {
    nftables::ruleset(bridge, state)
}

/// Removes every rule of bridge `bridge` (nothing to do if there are none).
pub fn remove(backend: Backend, bridge: &str) -> std::io::Result<()> {
    match backend {
        Backend::Nftables => run("nft", &["-f", "-"], &nftables::removal(bridge)),
        Backend::Iptables => iptables::remove(bridge),
    }
}

/// Whether bridge `bridge` has rules (for tests and start-up checks).
pub fn present(backend: Backend, bridge: &str) -> bool {
    match backend {
        Backend::Nftables => Command::new("nft")
            .args(["list", "table", "ip", &nftables::table(bridge)])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success()),
        Backend::Iptables => iptables::present(bridge),
    }
}

/// Makes bridged IPv4 pass the IP hooks (`br_netfilter`), so rules see traffic between
/// tasks on one bridge.
fn bridged_traffic_to_ip_hooks() -> std::io::Result<()> {
    let knob = "/proc/sys/net/bridge/bridge-nf-call-iptables";
    if !std::path::Path::new(knob).exists() {
        // Loading the module makes the knob.
        let _ = Command::new("modprobe").arg("br_netfilter").status();
    }
    std::fs::write(knob, "1").map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot hand bridged traffic to the IP hooks ({knob}; is br_netfilter available?): {e}"),
        )
    })
}

/// Runs `nft -f -` with `script` and returns as soon as the kernel has committed it.
///
/// nft closes its netlink socket on the way out, and the kernel makes that close wait until
/// the rules the commit replaced are freed — an RCU grace period, 5–10 ms here, on every
/// task's way to RUNNING if waited for. With `--echo`, nft prints what it applied and then
/// `# new generation N ...` before that close, so the commit is known to be in force there;
/// the process finishes on a thread of its own.
fn run_nft(script: &str) -> std::io::Result<()> {
    let mut child = spawn_fed("nft", &["--echo", "-f", "-"], script, Stdio::piped())?;
    let mut echoed = BufReader::new(child.stdout.take().expect("stdout is piped"));
    let mut line = String::new();
    while echoed.read_line(&mut line)? > 0 {
        if line.starts_with("# new generation") {
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut echoed, &mut std::io::sink());
                let _ = child.wait();
            });
            return Ok(());
        }
        line.clear();
    }
    // No commit echoed: nft failed (its status and message say why), or it is one that does
    // not echo the generation and its exit is the only sign.
    finished("nft", child.wait_with_output()?)
}

/// Runs `program args` with `input` on its standard input; its standard error becomes the
/// error's message.
fn run(program: &str, args: &[&str], input: &str) -> std::io::Result<()> {
    let child = spawn_fed(program, args, input, Stdio::null())?;
    finished(program, child.wait_with_output()?)
}

/// Starts `program args` with `stdout`, its standard error piped, and `input` written to its
/// standard input, which is then closed.
fn spawn_fed(
    program: &str,
    args: &[&str],
    input: &str,
    stdout: Stdio,
) -> std::io::Result<std::process::Child> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot run {program}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes())?;
    }
    Ok(child)
}

/// A finished process's outcome: its standard error is the error's message.
fn finished(program: &str, output: std::process::Output) -> std::io::Result<()> {
    if output.status.success() {
        return Ok(());
    }
    Err(std::io::Error::other(format!(
        "{program} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    )))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use berth_model::security_groups::IngressRule;

    /// Two groups: `web` lets anyone in on tcp 80 and `db` lets `web`'s members in on 5432.
    pub fn sample() -> FirewallState {
        FirewallState {
            tasks: vec![
                GuardedTask {
                    address: Ipv4Addr::new(10, 0, 0, 4),
                    groups: vec!["web".into()],
                    egress: true,
                },
                GuardedTask {
                    address: Ipv4Addr::new(10, 0, 0, 5),
                    groups: vec!["db".into()],
                    egress: false,
                },
            ],
            groups: vec![
                GroupIngress {
                    group_arn: "web".into(),
                    rules: vec![IngressRule {
                        protocol: Some(6),
                        ports: Some((80, 80)),
                        source: IngressSource::Cidr(Ipv4Addr::UNSPECIFIED, 0),
                    }],
                },
                GroupIngress {
                    group_arn: "db".into(),
                    rules: vec![IngressRule {
                        protocol: Some(6),
                        ports: Some((5432, 5432)),
                        source: IngressSource::Group("web".into()),
                    }],
                },
            ],
        }
    }

    #[test]
    fn groups_get_their_members() {
        let members = sample().group_members();
        assert_eq!(
            members,
            vec![
                ("db".to_string(), vec![Ipv4Addr::new(10, 0, 0, 5)]),
                ("web".to_string(), vec![Ipv4Addr::new(10, 0, 0, 4)]),
            ]
        );
    }
}

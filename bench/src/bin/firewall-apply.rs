//! The rules' share of a task start. When a task starts or stops, berth's firewall
//! (`berth_firewall::Applier`) changes the address sets of the bridge's nftables table over
//! nfnetlink: timed until the kernel has committed the change, against the same change made
//! by `nft` as it is usually run (`nft add element` / `nft delete element`, until the process
//! exits). Also timed: swapping the whole ruleset in, what the applier falls back to when
//! groups or rules change (until committed). In turn, in one run, for rulesets of 1, 50 and
//! 250 tasks in 5 security groups. Run as root; everything happens in a network namespace of
//! this program's own, which goes with it.
//!
//! usage: firewall-apply [ITERATIONS]

use std::net::Ipv4Addr;
use std::process::Command;
use std::time::{Duration, Instant};

use berth_firewall::{Applied, Applier, Backend, FirewallState, GuardedTask};
use berth_model::security_groups::{GroupIngress, IngressRule, IngressSource};

const BRIDGE: &str = "bbench0";
const GROUPS: usize = 5;
const SETTLE: Duration = Duration::from_millis(20);

fn main() {
    let iterations: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(100);
    // Tables belong to a network namespace: this one is the program's own.
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare (run as root)");

    println!(
        "| tasks in the ruleset | berth: set change until committed | `nft add/delete element` until it exits | ratio | whole swap until committed |"
    );
    println!("|---|---|---|---|---|");
    for tasks in [1, 50, 250] {
        let (mut berth, mut reference, mut swaps) = (Vec::new(), Vec::new(), Vec::new());
        let mut applier = Applier::new(Backend::Nftables, BRIDGE);
        applier.apply(&state(tasks)).expect("first apply");
        std::thread::sleep(SETTLE);
        for i in 0..iterations {
            // One task more, then one less: what a task's start and stop change.
            let started = Instant::now();
            let applied = applier.apply(&state(tasks + 1 - i % 2)).expect("apply");
            berth.push(started.elapsed());
            assert!(matches!(applied, Applied::SetsChanged), "{applied:?}");
            std::thread::sleep(SETTLE);

            // The same change by nft: the task's address into (or out of) its sets.
            let verb = if i % 2 == 0 { "delete" } else { "add" };
            let started = Instant::now();
            nft_elements(verb, tasks);
            reference.push(started.elapsed());
            std::thread::sleep(SETTLE);

            let started = Instant::now();
            berth_firewall::apply(Backend::Nftables, BRIDGE, &state(tasks + i % 2)).expect("swap");
            swaps.push(started.elapsed());
            // The nft behind a swap finishes after it returns: each measurement starts with
            // nothing of the last one still running.
            std::thread::sleep(SETTLE * 3);
            // Back as the applier last left it.
            berth_firewall::apply(Backend::Nftables, BRIDGE, &state(tasks + 1 - i % 2))
                .expect("swap back");
            std::thread::sleep(SETTLE * 3);
        }
        let (b, r, w) = (
            median(&mut berth),
            median(&mut reference),
            median(&mut swaps),
        );
        println!(
            "| {tasks} | {:.3} ms | {:.3} ms | {:.3} | {:.3} ms |",
            ms(b),
            ms(r),
            b.as_secs_f64() / r.as_secs_f64(),
            ms(w)
        );
    }
}

/// `nft VERB element` of the last task of a `tasks + 1` state: its address in `tasks`, its
/// group's set and (for an even index) `egress`, in one transaction.
fn nft_elements(verb: &str, tasks: usize) {
    let address = address(tasks);
    let table = "ip berth_bbench0";
    let mut script = format!(
        "{verb} element {table} tasks {{ {address} }}\n{verb} element {table} g{} {{ {address} }}\n",
        tasks % GROUPS
    );
    if tasks.is_multiple_of(2) {
        script.push_str(&format!("{verb} element {table} egress {{ {address} }}\n"));
    }
    let status = Command::new("nft")
        .args(["-e", &script.replace('\n', ";")])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("nft");
    assert!(status.success(), "nft failed: {script}");
}

fn address(i: usize) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 250, 1, 0)) + i as u32)
}

/// `tasks` tasks spread over the groups; each group admits its own members and a port range
/// from a block.
fn state(tasks: usize) -> FirewallState {
    let arn = |g: usize| format!("arn:aws:ec2:us-east-1:000000000000:security-group/sg-{g}");
    FirewallState {
        tasks: (0..tasks)
            .map(|i| GuardedTask {
                address: address(i),
                groups: vec![arn(i % GROUPS)],
                egress: i % 2 == 0,
            })
            .collect(),
        groups: (0..GROUPS)
            .map(|g| GroupIngress {
                group_arn: arn(g),
                rules: vec![
                    IngressRule {
                        protocol: None,
                        ports: None,
                        source: IngressSource::Group(arn(g)),
                    },
                    IngressRule {
                        protocol: Some(6),
                        ports: Some((8000, 8100)),
                        source: IngressSource::Cidr(Ipv4Addr::new(192, 168, 0, 0), 16),
                    },
                ],
            })
            .collect(),
    }
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

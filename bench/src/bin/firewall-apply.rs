//! The rules' share of a task start: swapping in a bridge's whole nftables ruleset with one
//! task more (or less) than before, as berth's firewall does for each task that starts or
//! stops — timed until the kernel has committed it (`berth_firewall::apply`) — against the
//! same script run as `nft -f -` is usually run, until the process exits. In turn, in one run,
//! for rulesets of 1, 50 and 250 tasks in 5 security groups. Run as root; everything happens
//! in a network namespace of this program's own, which goes with it.
//!
//! usage: firewall-apply [ITERATIONS]

use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_firewall::{Backend, FirewallState, GuardedTask};
use berth_model::security_groups::{GroupIngress, IngressRule, IngressSource};

const BRIDGE: &str = "bbench0";
const GROUPS: usize = 5;
const SETTLE: Duration = Duration::from_millis(50);

fn main() {
    let iterations: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(100);
    // Tables belong to a network namespace: this one is the program's own.
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare (run as root)");

    println!(
        "| tasks in the ruleset | berth: until committed | `nft -f -` until it exits | ratio |"
    );
    println!("|---|---|---|---|");
    for tasks in [1, 50, 250] {
        let (mut berth, mut reference) = (Vec::new(), Vec::new());
        for i in 0..iterations {
            // Each swap changes the ruleset: every other one has one task more.
            let grown = state(tasks + i % 2);
            let started = Instant::now();
            berth_firewall::apply(Backend::Nftables, BRIDGE, &grown).expect("apply");
            berth.push(started.elapsed());
            // The nft behind berth's apply finishes after it returns: each measurement starts
            // with nothing of the last one still running.
            std::thread::sleep(SETTLE);

            let script = berth_firewall::nft_script(BRIDGE, &state(tasks + (i + 1) % 2));
            let started = Instant::now();
            nft(&script);
            reference.push(started.elapsed());
            std::thread::sleep(SETTLE);
        }
        let (b, r) = (median(&mut berth), median(&mut reference));
        println!(
            "| {tasks} | {:.3} ms | {:.3} ms | {:.3} |",
            ms(b),
            ms(r),
            b.as_secs_f64() / r.as_secs_f64()
        );
    }
}

/// `tasks` tasks spread over the groups; each group admits its own members and a port range
/// from a block.
fn state(tasks: usize) -> FirewallState {
    let arn = |g: usize| format!("arn:aws:ec2:us-east-1:000000000000:security-group/sg-{g}");
    FirewallState {
        tasks: (0..tasks)
            .map(|i| GuardedTask {
                address: Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 250, 1, 0)) + i as u32),
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

fn nft(script: &str) {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("nft");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "nft failed");
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

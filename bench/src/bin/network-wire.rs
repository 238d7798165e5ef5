//! The network's share of a task start: a new network namespace, a veth into a bridge, the
//! address, MAC and default route — berth's way (`unshare` and eight rtnetlink requests, no
//! process) against the same steps with `ip` commands (what a shell or script-based setup
//! costs), in turn, in one run. Run as root; everything happens inside a network namespace
//! this program makes (`berth-bench-host`) and removes.
//!
//! usage: network-wire [ITERATIONS]

use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::process::Command;
use std::time::{Duration, Instant};

use berth_net::{Netlink, TaskInterface};

const HOST: &str = "berth-bench-host";
const BRIDGE: &str = "bbench0";

fn main() {
    let iterations: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    let _ = ip(&["netns", "delete", HOST]);
    ip(&["netns", "add", HOST]).expect("ip netns add");
    let mut host = in_namespace(&format!("/run/netns/{HOST}"), || {
        berth_net::ensure_gateway(BRIDGE, Ipv4Addr::new(10, 250, 0, 1), 16).unwrap();
        berth_net::loopback_up().unwrap();
        Netlink::open().unwrap()
    });

    let (mut berth, mut reference) = (Vec::new(), Vec::new());
    for i in 0..iterations {
        let address = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 250, 1, 0)) + i as u32);
        let [a, b, c, d] = address.octets();
        let veth = format!("bbv{i}");
        let interface = TaskInterface {
            bridge: BRIDGE,
            host_interface: &veth,
            address,
            prefix_len: 16,
            gateway: Ipv4Addr::new(10, 250, 0, 1),
            mac: [0x0a, 0x58, a, b, c, d],
        };
        // berth: a thread unshares its network namespace and wires it (the host's socket
        // goes with it and comes back: one user at a time).
        let (elapsed, back) = std::thread::scope(|scope| {
            scope
                .spawn(move || {
                    let started = Instant::now();
                    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
                    let here = std::fs::File::open("/proc/thread-self/ns/net").unwrap();
                    let task = Netlink::open().unwrap();
                    berth_net::loopback_up_with(&task).unwrap();
                    berth_net::wire_task_interface(&host, &task, here.as_fd(), &interface).unwrap();
                    (started.elapsed(), host)
                })
                .join()
                .unwrap()
        });
        host = back;
        berth.push(elapsed);

        // Reference: the same steps with `ip`.
        let namespace = format!("bbref{i}");
        let peer = format!("bbr{i}");
        let mac = format!("0a:58:{a:02x}:{b:02x}:{c:02x}:{d:02x}");
        let started = Instant::now();
        for args in [
            vec!["netns", "add", &namespace],
            vec![
                "-n", HOST, "link", "add", &peer, "type", "veth", "peer", "name", "eth0", "netns",
                &namespace,
            ],
            vec!["-n", HOST, "link", "set", &peer, "master", BRIDGE, "up"],
            vec!["-n", &namespace, "link", "set", "lo", "up"],
            vec![
                "-n", &namespace, "link", "set", "eth0", "address", &mac, "up",
            ],
            vec![
                "-n",
                &namespace,
                "address",
                "add",
                &format!("{address}/16"),
                "dev",
                "eth0",
            ],
            vec![
                "-n",
                &namespace,
                "route",
                "add",
                "default",
                "via",
                "10.250.0.1",
            ],
        ] {
            ip(&args).expect("ip");
        }
        reference.push(started.elapsed());
        let _ = ip(&["netns", "delete", &namespace]);
    }
    let _ = ip(&["netns", "delete", HOST]);

    let median = |samples: &mut Vec<Duration>| {
        samples.sort_unstable();
        samples[samples.len() / 2].as_secs_f64() * 1000.0
    };
    let (berth, reference) = (median(&mut berth), median(&mut reference));
    println!("network share of a task start, median of {iterations}:");
    println!("  berth (unshare + rtnetlink): {berth:.3} ms");
    println!("  ip commands, same steps:     {reference:.3} ms");
    println!("  ratio berth / ip:            {:.3}", berth / reference);
}

/// Runs `ip ARGS`, quietly.
fn ip(args: &[&str]) -> Result<(), String> {
    let status = Command::new("ip")
        .args(args)
        .stderr(std::process::Stdio::null())
        .status()
        .map_err(|e| e.to_string())?;
    status
        .success()
        .then_some(())
        .ok_or(format!("ip {args:?}: {status}"))
}

/// Runs `job` on a thread that has joined the network namespace at `path`.
fn in_namespace<T: Send>(path: &str, job: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let namespace = std::fs::File::open(path).unwrap();
                nix::sched::setns(namespace, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
                job()
            })
            .join()
            .unwrap()
    })
}

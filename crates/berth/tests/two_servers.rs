//! Two `berth up` on one machine: a second server that would use the bridge or an overlapping
//! VPC range of a running one is refused, naming it and the flag that avoids it; one with its
//! own bridge and range runs beside the first, and stopping it leaves the first's bridge and
//! firewall table alone; a server killed with SIGKILL holds nothing, and a bridge a server
//! found rather than made outlives it.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_testsupport::{Berth, spawn_up_with_args};

fn berth() -> Berth {
    Berth::start(env!("CARGO_BIN_EXE_berth"))
}

/// What a second `berth up` with `args` says when it is refused (a fresh data directory, so
/// that the data directory's own lock is not what refuses it).
fn refused(first: &Berth, args: &[&str]) -> String {
    let data_dir = tempfile::tempdir().unwrap();
    match spawn_up_with_args(first.binary(), data_dir.path(), "127.0.0.1:0", args) {
        Err(stderr) => stderr,
        Ok((mut child, _)) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("a second berth up with {args:?} started beside the first");
        }
    }
}

fn link_exists(name: &str) -> bool {
    quietly("ip", &["link", "show", name])
}

/// Whether the bridge's nftables table is there, by the name `berth-firewall` gives it.
fn table_exists(bridge: &str) -> bool {
    quietly("nft", &["list", "table", "ip", &format!("berth_{bridge}")])
}

fn quietly(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn nft_available() -> bool {
    quietly("nft", &["--version"])
}

/// Waits for a server's first firewall apply, which makes its table.
fn wait_for_table(bridge: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !table_exists(bridge) {
        assert!(Instant::now() < deadline, "no nftables table for {bridge}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn holder(first: &Berth) -> String {
    format!(
        "another berth up (pid {}, data in {})",
        first.pid().unwrap(),
        first.data_dir().display()
    )
}

#[test]
fn a_second_server_on_the_same_bridge_is_refused_naming_the_first() {
    let first = berth();
    let bridge = first.bridge();
    // A range no test slot (10.1–10.250) uses: only the bridge is shared.
    let message = refused(
        &first,
        &["--bridge", &bridge, "--vpc-cidr", "10.251.0.0/16"],
    );
    assert!(
        message.contains(&format!(
            "berth: {} is using the bridge {bridge}: stop it first, or give this one another --bridge NAME",
            holder(&first)
        )),
        "{message}"
    );
    assert!(!message.contains("--vpc-cidr"), "{message}");
    // The first one is unharmed.
    let (status, body) = first.raw_ecs("ListClusters", b"{}");
    assert_eq!(status, 200, "{body}");
    assert!(link_exists(&bridge));
}

#[test]
fn a_second_server_on_an_overlapping_vpc_range_is_refused_naming_the_first() {
    let first = berth();
    let slot = first.network_slot();
    let ours = format!("10.{slot}.16.0/20");
    let message = refused(&first, &["--bridge", "berthtwo-r", "--vpc-cidr", &ours]);
    assert!(
        message.contains(&format!(
            "berth: {} is using the VPC range 10.{slot}.0.0/16, which --vpc-cidr {ours} overlaps: stop it first, or give this one another --vpc-cidr CIDR",
            holder(&first)
        )),
        "{message}"
    );
    assert!(!message.contains("--bridge NAME"), "{message}");
    assert!(!link_exists("berthtwo-r"));
}

#[test]
fn stopping_a_server_beside_another_leaves_the_others_bridge_and_firewall_table() {
    let first = berth();
    let mut second = berth();
    let (kept, released) = (first.bridge(), second.bridge());
    assert!(link_exists(&kept) && link_exists(&released));
    let nft = nft_available();
    if nft {
        wait_for_table(&kept);
        wait_for_table(&released);
    }

    assert_eq!(second.terminate(), Some(0));
    // The second released what it made...
    assert!(!link_exists(&released), "{released} is still there");
    // ...and nothing of the first's.
    assert!(link_exists(&kept), "{kept} was deleted");
    if nft {
        assert!(!table_exists(&released));
        assert!(table_exists(&kept), "the table of {kept} was deleted");
    }
    let (status, body) = first.raw_ecs("ListClusters", b"{}");
    assert_eq!(status, 200, "{body}");
}

#[test]
fn a_server_killed_with_sigkill_holds_nothing() {
    let mut first = berth();
    let (bridge, slot) = (first.bridge(), first.network_slot());
    let pid = first.pid().unwrap();
    first.kill9();
    // Its bridge and range, taken by a server on another data directory.
    let data_dir = tempfile::tempdir().unwrap();
    let range = format!("10.{slot}.0.0/16");
    let (mut next, _) = spawn_up_with_args(
        first.binary(),
        data_dir.path(),
        "127.0.0.1:0",
        &["--bridge", &bridge, "--vpc-cidr", &range],
    )
    .unwrap_or_else(|stderr| panic!("the dead server's claim blocked the next one: {stderr}"));
    // The dead server's claim file went with it.
    let claims = std::fs::read_dir(Path::new("/run/berth/claims")).unwrap();
    for claim in claims.flatten() {
        let text = std::fs::read_to_string(claim.path()).unwrap_or_default();
        assert!(!text.contains(&format!("\"pid\":{pid},")), "{text}");
    }
    // Stopped cleanly (which unmounts its run directory), it leaves the bridge: it found it,
    // left by the dead server, rather than made it.
    let _ = Command::new("sh")
        .args(["-c", &format!("kill -TERM {}", next.id())])
        .status();
    assert_eq!(next.wait().unwrap().code(), Some(0));
    assert!(
        link_exists(&bridge),
        "{bridge} was deleted by a server that did not make it"
    );
}

//! The firewall's rulesets are accepted by the real tools and swapped whole: applying a new
//! state leaves nothing of the old one, and removal leaves nothing at all. Tasks coming and
//! going change only the address sets, in the kernel's own table.

use std::net::Ipv4Addr;
use std::process::Command;

use berth_firewall::{self as firewall, Applied, Applier, Backend, FirewallState, GuardedTask};
use berth_model::security_groups::{GroupIngress, IngressRule, IngressSource};

fn state(addresses: &[[u8; 4]]) -> FirewallState {
    FirewallState {
        tasks: addresses
            .iter()
            .map(|a| GuardedTask {
                address: Ipv4Addr::from(*a),
                groups: vec!["arn:web".into()],
                egress: a[3] % 2 == 0,
            })
            .collect(),
        groups: vec![GroupIngress {
            group_arn: "arn:web".into(),
            rules: vec![
                IngressRule {
                    protocol: Some(6),
                    ports: Some((80, 90)),
                    source: IngressSource::Cidr(Ipv4Addr::new(10, 0, 0, 0), 8),
                },
                IngressRule {
                    protocol: None,
                    ports: None,
                    source: IngressSource::Group("arn:web".into()),
                },
            ],
        }],
    }
}

fn listing(backend: Backend) -> String {
    let output = match backend {
        Backend::Nftables => Command::new("nft").args(["list", "ruleset"]).output(),
        Backend::Iptables => Command::new("iptables-save").output(),
    }
    .unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `net` keeps the two tests' addresses apart (`nft list ruleset` shows iptables' rules too).
fn swaps_whole(backend: Backend, bridge: &str, net: u8) {
    firewall::apply(backend, bridge, &state(&[[10, net, 0, 4], [10, net, 0, 5]])).unwrap();
    assert!(firewall::present(backend, bridge));
    assert!(listing(backend).contains(&format!("10.{net}.0.5")));
    firewall::apply(backend, bridge, &state(&[[10, net, 0, 4]])).unwrap();
    let after = listing(backend);
    assert!(after.contains(&format!("10.{net}.0.4")), "{after}");
    assert!(!after.contains(&format!("10.{net}.0.5")), "{after}");
    firewall::remove(backend, bridge).unwrap();
    assert!(!firewall::present(backend, bridge));
    assert!(!listing(backend).contains(bridge));
    // Removing what is not there is fine.
    firewall::remove(backend, bridge).unwrap();
}

#[test]
fn nftables_rulesets_swap_whole_and_go_away() {
    swaps_whole(Backend::Nftables, "bfwtest-nft", 77);
}

#[test]
fn iptables_rulesets_swap_whole_and_go_away() {
    swaps_whole(Backend::Iptables, "bfwtest-ipt", 78);
}

/// The addresses nft lists in set `set` of bridge `bridge`'s table.
fn set_members(bridge: &str, set: &str) -> Vec<String> {
    let table = format!("berth_{}", bridge.replace('-', "_"));
    let output = Command::new("nft")
        .args(["list", "set", "ip", &table, set])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let mut members: Vec<String> = text
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter(|word| word.matches('.').count() == 3)
        .map(str::to_owned)
        .collect();
    members.sort();
    members
}

#[test]
fn tasks_coming_and_going_change_only_the_sets() {
    let bridge = "bfwtest-sets";
    let mut applier = Applier::new(Backend::Nftables, bridge);
    let applied = applier.apply(&state(&[[10, 79, 0, 4]])).unwrap();
    assert!(matches!(applied, Applied::Swapped), "{applied:?}");

    // One task gone, two new: the sets change in place, all three of them.
    let two = state(&[[10, 79, 0, 5], [10, 79, 0, 6]]);
    let applied = applier.apply(&two).unwrap();
    assert!(matches!(applied, Applied::SetsChanged), "{applied:?}");
    assert_eq!(set_members(bridge, "tasks"), ["10.79.0.5", "10.79.0.6"]);
    assert_eq!(set_members(bridge, "g0"), ["10.79.0.5", "10.79.0.6"]);
    assert_eq!(set_members(bridge, "egress"), ["10.79.0.6"]);
    // The rules stayed as they were.
    assert!(listing(Backend::Nftables).contains("ip saddr 10.0.0.0/8 tcp dport 80-90 accept"));

    // A rule changed: swapped whole.
    let mut fewer_rules = two.clone();
    fewer_rules.groups[0].rules.pop();
    let applied = applier.apply(&fewer_rules).unwrap();
    assert!(matches!(applied, Applied::Swapped), "{applied:?}");

    // The table removed behind its back: changing the sets fails, and a swap puts it back.
    firewall::remove(Backend::Nftables, bridge).unwrap();
    let mut three = state(&[[10, 79, 0, 5], [10, 79, 0, 6], [10, 79, 0, 7]]);
    three.groups[0].rules.pop();
    let applied = applier.apply(&three).unwrap();
    assert!(matches!(applied, Applied::SwappedAfter(_)), "{applied:?}");
    assert_eq!(
        set_members(bridge, "tasks"),
        ["10.79.0.5", "10.79.0.6", "10.79.0.7"]
    );
    firewall::remove(Backend::Nftables, bridge).unwrap();
}

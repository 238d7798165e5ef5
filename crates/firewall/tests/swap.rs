//! The firewall's rulesets are accepted by the real tools and swapped whole: applying a new
//! state leaves nothing of the old one, and removal leaves nothing at all.

use std::net::Ipv4Addr;
use std::process::Command;

use berth_firewall::{self as firewall, Backend, FirewallState, GuardedTask};
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

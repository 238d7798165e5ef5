//! The ruleset for `nft -f -`: one `ip` table per bridge. It sees routed traffic (into tasks
//! from elsewhere, out of the host, NAT) and — through `br_netfilter` — traffic between tasks
//! on the bridge. (The `bridge` family would see the latter without `br_netfilter`, but needs
//! bridge conntrack and meta modules that common kernels lack.) The table is deleted and made
//! again in the same transaction, so the swap is atomic and leaves nothing of an older state.
//!
//! Sets hold addresses: `tasks` (every guarded task), `gN` (the members of the Nth group, by
//! sorted ARN) and `egress` (tasks that may leave the host). Traffic to a task jumps to the
//! chain of each group the task is in; a group's chain accepts what its rules allow.

use std::collections::BTreeSet;
use std::fmt::Write;
use std::net::Ipv4Addr;

use berth_model::security_groups::{IngressRule, IngressSource};

use super::FirewallState;

/// The name of bridge `bridge`'s tables.
pub fn table(bridge: &str) -> String {
    format!("berth_{}", bridge.replace(['-', '.'], "_"))
}

/// A script that deletes bridge `bridge`'s tables (making them first, so it never fails
/// for want of them).
pub fn removal(bridge: &str) -> String {
    let table = table(bridge);
    format!("table ip {table}\ndelete table ip {table}\n")
}

/// The sets `state` fills, each with its addresses: `tasks`, then `g0`, `g1`, ... (the groups
/// by sorted ARN), then `egress`.
pub fn sets(state: &FirewallState) -> Vec<(String, BTreeSet<Ipv4Addr>)> {
    let mut sets = vec![(
        "tasks".to_owned(),
        state.tasks.iter().map(|t| t.address).collect(),
    )];
    for (n, (_, members)) in state.group_members().into_iter().enumerate() {
        sets.push((format!("g{n}"), members.into_iter().collect()));
    }
    sets.push((
        "egress".to_owned(),
        state
            .tasks
            .iter()
            .filter(|t| t.egress)
            .map(|t| t.address)
            .collect(),
    ));
    sets
}

/// The whole ruleset for `state` on `bridge`.
pub fn ruleset(bridge: &str, state: &FirewallState) -> String {
    render(bridge, state, true)
}

/// The ruleset for `state` with every set empty: two states of the same shape differ only in
/// their sets' elements, which can change without a swap.
pub fn shape(bridge: &str, state: &FirewallState) -> String {
    render(bridge, state, false)
}

fn render(bridge: &str, state: &FirewallState, with_elements: bool) -> String {
    let table = table(bridge);
    let groups = state.group_members();
    let index_of = |arn: &str| groups.iter().position(|(name, _)| name == arn);
    let mut out = removal(bridge);

    let _ = writeln!(out, "table ip {table} {{");
    for (name, addresses) in sets(state) {
        let _ = write!(out, "  set {name} {{ type ipv4_addr;");
        // Sorted and once each (a set): nft refuses a set listing an element twice.
        if with_elements && !addresses.is_empty() {
            let elements: Vec<String> = addresses.iter().map(|a| a.to_string()).collect();
            let _ = write!(out, " elements = {{ {} }};", elements.join(", "));
        }
        out.push_str(" }\n");
    }
    for (n, (arn, _)) in groups.iter().enumerate() {
        let _ = writeln!(out, "  chain g{n} {{");
        let rules = state
            .groups
            .iter()
            .find(|g| &g.group_arn == arn)
            .map(|g| g.rules.as_slice())
            .unwrap_or_default();
        for rule in rules {
            if let Some(text) = rule_text(rule, &index_of) {
                let _ = writeln!(out, "    {text} accept");
            }
        }
        out.push_str("  }\n");
    }
    // To a task: connections already allowed, then each of its groups' chains, else drop.
    out.push_str("  chain to_task {\n");
    out.push_str("    ct state established,related accept\n");
    out.push_str("    ip daddr != @tasks drop\n");
    for n in 0..groups.len() {
        let _ = writeln!(out, "    ip daddr @g{n} jump g{n}");
    }
    out.push_str("    drop\n  }\n");
    out.push_str("  chain leaving {\n");
    out.push_str("    ct state established,related accept\n");
    out.push_str("    ip saddr @egress accept\n");
    out.push_str("    reject with icmp type admin-prohibited\n");
    out.push_str("  }\n");
    out.push_str("  chain forward {\n    type filter hook forward priority 0; policy accept;\n");
    let _ = writeln!(out, "    oifname \"{bridge}\" jump to_task");
    let _ = writeln!(out, "    iifname \"{bridge}\" jump leaving");
    out.push_str("  }\n");
    out.push_str(
        "  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n",
    );
    let _ = writeln!(
        out,
        "    oifname != \"{bridge}\" ip saddr @egress masquerade"
    );
    out.push_str("  }\n}\n");
    out
}

/// A rule's match, or `None` if it names a group the ruleset does not have.
fn rule_text(rule: &IngressRule, index_of: &impl Fn(&str) -> Option<usize>) -> Option<String> {
    let mut parts = Vec::new();
    match &rule.source {
        IngressSource::Cidr(_, 0) => {}
        IngressSource::Cidr(address, prefix) => parts.push(format!("ip saddr {address}/{prefix}")),
        IngressSource::Group(arn) => parts.push(format!("ip saddr @g{}", index_of(arn)?)),
    }
    match (rule.protocol, rule.ports) {
        (None, _) => {}
        (Some(protocol), Some((from, to))) if from == to => {
            parts.push(format!("meta l4proto {protocol} th dport {from}"));
        }
        (Some(protocol), Some((from, to))) => {
            parts.push(format!("meta l4proto {protocol} th dport {from}-{to}"));
        }
        (Some(protocol), None) => parts.push(format!("meta l4proto {protocol}")),
    }
    Some(parts.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::sample;

    #[test]
    fn the_ruleset_guards_each_task_by_its_groups() {
        let text = ruleset("berth0", &sample());
        // Swapped atomically: each table deleted and made again in the same script.
        assert!(text.starts_with("table ip berth_berth0\ndelete table ip berth_berth0\n"));
        // Groups by sorted ARN: g0 = db, g1 = web.
        assert!(text.contains("set g0 { type ipv4_addr; elements = { 10.0.0.5 }; }"));
        assert!(text.contains("set g1 { type ipv4_addr; elements = { 10.0.0.4 }; }"));
        assert!(text.contains("set egress { type ipv4_addr; elements = { 10.0.0.4 }; }"));
        // db lets web's members in on 5432; web lets anyone in on 80.
        assert!(
            text.contains("chain g0 {\n    ip saddr @g1 meta l4proto 6 th dport 5432 accept\n  }")
        );
        assert!(text.contains("chain g1 {\n    meta l4proto 6 th dport 80 accept\n  }"));
        assert!(text.contains("ip daddr @g0 jump g0\n    ip daddr @g1 jump g1\n    drop\n"));
        assert!(text.contains("oifname \"berth0\" jump to_task"));
        assert!(text.contains("oifname != \"berth0\" ip saddr @egress masquerade"));
    }

    #[test]
    fn the_shape_is_the_ruleset_without_elements() {
        let mut other = sample();
        other.tasks[0].address = Ipv4Addr::new(10, 0, 0, 9);
        other.tasks[1].egress = true;
        assert_eq!(shape("b", &sample()), shape("b", &other));
        assert_ne!(ruleset("b", &sample()), ruleset("b", &other));
        assert!(shape("b", &sample()).contains("set g0 { type ipv4_addr; }"));
        // A rule changed is a shape changed.
        other.groups[0].rules[0].ports = Some((81, 81));
        assert_ne!(shape("b", &sample()), shape("b", &other));
    }

    #[test]
    fn empty_sets_have_no_elements_clause() {
        let text = ruleset("b", &FirewallState::default());
        assert!(text.contains("set tasks { type ipv4_addr; }"));
        assert!(text.contains("set egress { type ipv4_addr; }"));
    }
}

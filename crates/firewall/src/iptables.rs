//! The fallback where `nft` is missing: `iptables-restore` input for two chains of berth's
//! own per bridge — `BERTH-<bridge>` in `filter` (jumped to from FORWARD) and
//! `BERTH-<bridge>-NAT` in `nat` (from POSTROUTING) — both rewritten whole on every apply.
//! Without sets, each group source is spelled out member by member.

use std::fmt::Write;
use std::process::{Command, Stdio};

use berth_model::security_groups::{IngressRule, IngressSource};

use super::FirewallState;

/// Bridge `bridge`'s filter chain.
fn chain(bridge: &str) -> String {
    format!("BERTH-{bridge}")
}

fn nat_chain(bridge: &str) -> String {
    format!("BERTH-{bridge}-NAT")
}

/// The `iptables-restore --noflush` input for `state` on `bridge`.
pub fn ruleset(bridge: &str, state: &FirewallState) -> String {
    let chain = chain(bridge);
    let nat = nat_chain(bridge);
    let groups = state.group_members();
    let members_of = |arn: &str| {
        groups
            .iter()
            .find(|(name, _)| name == arn)
            .map(|(_, members)| members.clone())
            .unwrap_or_default()
    };
    // Declaring a chain in a restore empties it, so each apply starts from nothing.
    let mut out = format!("*filter\n:{chain} - [0:0]\n");
    let _ = writeln!(
        out,
        "-A {chain} -o {bridge} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT"
    );
    for task in &state.tasks {
        for group in state
            .groups
            .iter()
            .filter(|g| task.groups.contains(&g.group_arn))
        {
            for rule in &group.rules {
                for source in sources(rule, &members_of) {
                    let _ = writeln!(
                        out,
                        "-A {chain} -o {bridge} -d {}/32{source}{} -j ACCEPT",
                        task.address,
                        protocol(rule)
                    );
                }
            }
        }
    }
    let _ = writeln!(out, "-A {chain} -o {bridge} -j DROP");
    let _ = writeln!(
        out,
        "-A {chain} -i {bridge} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT"
    );
    for task in state.tasks.iter().filter(|t| t.egress) {
        let _ = writeln!(
            out,
            "-A {chain} -i {bridge} -s {}/32 -j ACCEPT",
            task.address
        );
    }
    let _ = writeln!(
        out,
        "-A {chain} -i {bridge} -j REJECT --reject-with icmp-admin-prohibited"
    );
    out.push_str("COMMIT\n");
    let _ = writeln!(out, "*nat\n:{nat} - [0:0]");
    for task in state.tasks.iter().filter(|t| t.egress) {
        let _ = writeln!(
            out,
            "-A {nat} -s {}/32 ! -o {bridge} -j MASQUERADE",
            task.address
        );
    }
    out.push_str("COMMIT\n");
    out
}

/// ` -s A/N` per source address (none for 0.0.0.0/0).
fn sources(
    rule: &IngressRule,
    members_of: &impl Fn(&str) -> Vec<std::net::Ipv4Addr>,
) -> Vec<String> {
    match &rule.source {
        IngressSource::Cidr(_, 0) => vec![String::new()],
        IngressSource::Cidr(address, prefix) => vec![format!(" -s {address}/{prefix}")],
        IngressSource::Group(arn) => members_of(arn)
            .iter()
            .map(|a| format!(" -s {a}/32"))
            .collect(),
    }
}

/// ` -p P [--dport A:B]`.
fn protocol(rule: &IngressRule) -> String {
    match (rule.protocol, rule.ports) {
        (None, _) => String::new(),
        (Some(p @ (6 | 17)), Some((from, to))) => {
            let name = if p == 6 { "tcp" } else { "udp" };
            format!(" -p {name} -m {name} --dport {from}:{to}")
        }
        (Some(p), _) => format!(" -p {p}"),
    }
}

/// Makes FORWARD and POSTROUTING jump to the bridge's chains (once).
pub fn hook(bridge: &str) -> std::io::Result<()> {
    for (table, parent, target) in [
        ("filter", "FORWARD", chain(bridge)),
        ("nat", "POSTROUTING", nat_chain(bridge)),
    ] {
        if !iptables(&["-t", table, "-C", parent, "-j", &target]) {
            iptables_checked(&["-t", table, "-I", parent, "1", "-j", &target])?;
        }
    }
    Ok(())
}

/// Unhooks and deletes the bridge's chains.
pub fn remove(bridge: &str) -> std::io::Result<()> {
    for (table, parent, target) in [
        ("filter", "FORWARD", chain(bridge)),
        ("nat", "POSTROUTING", nat_chain(bridge)),
    ] {
        while iptables(&["-t", table, "-D", parent, "-j", &target]) {}
        if iptables(&["-t", table, "-F", &target]) {
            iptables_checked(&["-t", table, "-X", &target])?;
        }
    }
    Ok(())
}

/// Whether the bridge's filter chain exists.
pub fn present(bridge: &str) -> bool {
    iptables(&["-t", "filter", "-S", &chain(bridge)])
}

fn iptables(args: &[&str]) -> bool {
    Command::new("iptables")
        .arg("--wait")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn iptables_checked(args: &[&str]) -> std::io::Result<()> {
    if iptables(args) {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "iptables {} failed",
            args.join(" ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::sample;

    #[test]
    fn rules_spell_out_each_group_member() {
        let text = ruleset("berth0", &sample());
        assert!(text.starts_with("*filter\n:BERTH-berth0 - [0:0]\n"));
        // db (10.0.0.5) lets web's member 10.0.0.4 in on 5432.
        assert!(text.contains(
            "-A BERTH-berth0 -o berth0 -d 10.0.0.5/32 -s 10.0.0.4/32 -p tcp -m tcp --dport 5432:5432 -j ACCEPT"
        ));
        // web (10.0.0.4) lets anyone in on 80.
        assert!(text.contains(
            "-A BERTH-berth0 -o berth0 -d 10.0.0.4/32 -p tcp -m tcp --dport 80:80 -j ACCEPT"
        ));
        assert!(text.contains("-A BERTH-berth0 -i berth0 -s 10.0.0.4/32 -j ACCEPT"));
        assert!(!text.contains("-s 10.0.0.5/32 -j ACCEPT"));
        assert!(text.contains("-A BERTH-berth0-NAT -s 10.0.0.4/32 ! -o berth0 -j MASQUERADE"));
    }
}

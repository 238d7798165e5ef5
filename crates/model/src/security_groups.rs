//! Security groups: EC2's ingress rules as users write them (`IpPermission`s), checked and
//! split into single rules, and the form a node enforces them in (`GroupIngress`).
//!
//! EC2 keeps a group's rules as a set of single rules — one protocol, one port range, one
//! source — and groups them back into `IpPermission`s when it describes the group. berth
//! does the same, so authorizing a rule twice or revoking one that is not there answers as
//! EC2 does.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// One ingress rule: a protocol, a port range (tcp/udp) or type/code (icmp), one source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityGroupRule {
    /// `sgr-...`.
    pub security_group_rule_id: String,
    /// `tcp`, `udp`, `icmp`, or `-1` for every protocol.
    pub ip_protocol: String,
    /// First port (tcp/udp) or ICMP type; absent for `-1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_port: Option<i32>,
    /// Last port (tcp/udp) or ICMP code; absent for `-1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_port: Option<i32>,
    /// Where traffic may come from.
    pub source: RuleSource,
    /// The user's note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The source of an ingress rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RuleSource {
    /// An IPv4 block, `A.B.C.D/N`.
    CidrIpv4(String),
    /// Members of a security group (by id).
    ReferencedGroupId(String),
}

impl SecurityGroupRule {
    /// Whether `other` allows the same traffic (ids and descriptions aside).
    pub fn same_traffic(&self, other: &SecurityGroupRule) -> bool {
        self.ip_protocol == other.ip_protocol
            && self.from_port == other.from_port
            && self.to_port == other.to_port
            && self.source == other.source
    }
}

/// A protocol as a rule names it: a name EC2 knows or a number, normalized the way EC2
/// stores it (`6` is `tcp`, `all` is `-1`).
pub fn normalize_protocol(protocol: &str) -> Result<String, String> {
    let lower = protocol.trim().to_ascii_lowercase();
    let normalized = match lower.as_str() {
        "-1" | "all" => "-1",
        "tcp" | "6" => "tcp",
        "udp" | "17" => "udp",
        "icmp" | "1" => "icmp",
        other => {
            return match other.parse::<u8>() {
                Ok(_) => Ok(other.to_owned()),
                Err(_) => Err(format!(
                    "Invalid value '{protocol}' for IP protocol. Unknown protocol."
                )),
            };
        }
    };
    Ok(normalized.to_owned())
}

/// Checks a rule's ports against its protocol and fills in what EC2 fills in: every
/// protocol (`-1`) and protocols other than tcp, udp and icmp have no ports.
pub fn normalize_ports(
    protocol: &str,
    from_port: Option<i32>,
    to_port: Option<i32>,
) -> Result<(Option<i32>, Option<i32>), String> {
    match protocol {
        "tcp" | "udp" => {
            let (Some(from), Some(to)) = (from_port, to_port) else {
                return Err(
                    "Invalid value for portRange. Must specify both from and to ports with TCP/UDP."
                        .to_owned(),
                );
            };
            if !(0..=65535).contains(&from) || !(0..=65535).contains(&to) {
                return Err(format!(
                    "Invalid value for portRange. Ports must be between 0 and 65535 ({from}-{to})."
                ));
            }
            if from > to {
                return Err(format!(
                    "Invalid TCP/UDP port range: from port {from} is greater than to port {to}."
                ));
            }
            Ok((Some(from), Some(to)))
        }
        "icmp" => {
            let from = from_port.unwrap_or(-1);
            let to = to_port.unwrap_or(-1);
            if !(-1..=255).contains(&from) || !(-1..=255).contains(&to) {
                return Err(format!("Invalid ICMP type or code: {from}, {to}."));
            }
            Ok((Some(from), Some(to)))
        }
        _ => Ok((None, None)),
    }
}

/// An IPv4 source block, `A.B.C.D/N` with any prefix length; host bits must be zero, as EC2
/// requires.
pub fn parse_source_cidr(text: &str) -> Result<(Ipv4Addr, u8), String> {
    let invalid = || format!("CIDR block {text} is malformed");
    let (address, prefix) = text.split_once('/').ok_or_else(invalid)?;
    let address: Ipv4Addr = address.parse().map_err(|_| invalid())?;
    let prefix: u8 = prefix.parse().map_err(|_| invalid())?;
    if prefix > 32 {
        return Err(invalid());
    }
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    };
    if u32::from(address) & !mask != 0 {
        return Err(format!(
            "The CIDR '{text}' is invalid: its host bits must be zero."
        ));
    }
    Ok((address, prefix))
}

/// AWS's ARN for a security group; nodes key groups by it, since ids are only unique
/// within an account and region.
pub fn security_group_arn(region: &str, account_id: &str, group_id: &str) -> String {
    format!("arn:aws:ec2:{region}:{account_id}:security-group/{group_id}")
}

/// A group's ingress rules as a node enforces them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupIngress {
    /// The group's ARN ([`security_group_arn`]).
    pub group_arn: String,
    /// What may come in.
    pub rules: Vec<IngressRule>,
}

/// One rule as a node enforces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IngressRule {
    /// IP protocol number; `None` is every protocol.
    pub protocol: Option<u8>,
    /// Destination ports (tcp/udp), inclusive; `None` is every port.
    pub ports: Option<(u16, u16)>,
    /// An address block or a group's members (by group ARN).
    pub source: IngressSource,
}

/// Where enforced traffic may come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum IngressSource {
    /// Addresses in a block: the network and its prefix length.
    Cidr(Ipv4Addr, u8),
    /// The addresses of a group's members (by ARN).
    Group(String),
}

impl IngressRule {
    /// The enforced form of a stored rule of a group in `region`/`account_id`; `None` for
    /// what cannot be enforced (a malformed block in an old record).
    pub fn from_rule(rule: &SecurityGroupRule, region: &str, account_id: &str) -> Option<Self> {
        let protocol = match rule.ip_protocol.as_str() {
            "-1" => None,
            "tcp" => Some(6),
            "udp" => Some(17),
            "icmp" => Some(1),
            other => Some(other.parse().ok()?),
        };
        // ICMP's "ports" are its type and code, which nodes do not narrow by (yet): a rule for
        // any ICMP type allows ICMP.
        let ports = match (protocol, rule.from_port, rule.to_port) {
            (Some(6 | 17), Some(from), Some(to)) => {
                Some((u16::try_from(from).ok()?, u16::try_from(to).ok()?))
            }
            _ => None,
        };
        let source = match &rule.source {
            RuleSource::CidrIpv4(cidr) => {
                let (address, prefix) = parse_source_cidr(cidr).ok()?;
                IngressSource::Cidr(address, prefix)
            }
            RuleSource::ReferencedGroupId(id) => {
                IngressSource::Group(security_group_arn(region, account_id, id))
            }
        };
        Some(Self {
            protocol,
            ports,
            source,
        })
    }
}

/// The characters EC2 allows in a VPC security group's name and description and in a rule's
/// description: `a-z`, `A-Z`, `0-9`, spaces and `._-:/()#,@[]+=&;{}!$*`. `None` if `value`
/// keeps to them, else the first one it does not.
pub fn disallowed_character(value: &str) -> Option<char> {
    const PUNCTUATION: &str = "._-:/()#,@[]+=&;{}!$*";
    value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == ' ' || PUNCTUATION.contains(*c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_descriptions_keep_to_ec2s_characters() {
        for (value, found) in [
            ("web tier (prod) #2: a=b & c;{d}!$*@[x]+", None),
            ("a\u{1}b", Some('\u{1}')),
            ("tab\there", Some('\t')),
            ("caf\u{e9}", Some('\u{e9}')),
            ("quote\"", Some('"')),
            ("<b>", Some('<')),
        ] {
            assert_eq!(disallowed_character(value), found, "{value:?}");
        }
    }

    #[test]
    fn protocols_normalize_as_ec2_stores_them() {
        assert_eq!(normalize_protocol("TCP").unwrap(), "tcp");
        assert_eq!(normalize_protocol("6").unwrap(), "tcp");
        assert_eq!(normalize_protocol("all").unwrap(), "-1");
        assert_eq!(normalize_protocol("-1").unwrap(), "-1");
        assert_eq!(normalize_protocol("50").unwrap(), "50");
        assert!(normalize_protocol("carrier-pigeon").is_err());
    }

    #[test]
    fn ports_are_checked_against_the_protocol() {
        assert_eq!(
            normalize_ports("tcp", Some(80), Some(90)).unwrap(),
            (Some(80), Some(90))
        );
        assert!(normalize_ports("tcp", Some(90), Some(80)).is_err());
        assert!(normalize_ports("udp", Some(1), None).is_err());
        assert!(normalize_ports("tcp", Some(0), Some(65536)).is_err());
        assert_eq!(
            normalize_ports("-1", Some(1), Some(2)).unwrap(),
            (None, None)
        );
        assert_eq!(
            normalize_ports("icmp", None, None).unwrap(),
            (Some(-1), Some(-1))
        );
    }

    #[test]
    fn source_blocks_need_zero_host_bits() {
        assert_eq!(
            parse_source_cidr("0.0.0.0/0").unwrap(),
            (Ipv4Addr::UNSPECIFIED, 0)
        );
        assert_eq!(
            parse_source_cidr("10.1.2.3/32").unwrap(),
            (Ipv4Addr::new(10, 1, 2, 3), 32)
        );
        assert!(parse_source_cidr("10.1.2.3/24").is_err());
        assert!(parse_source_cidr("10.1.2.0/33").is_err());
        assert!(parse_source_cidr("nonsense").is_err());
    }

    #[test]
    fn stored_rules_become_enforced_ones() {
        let rule = |protocol: &str, from, to, source| SecurityGroupRule {
            security_group_rule_id: "sgr-1".into(),
            ip_protocol: protocol.into(),
            from_port: from,
            to_port: to,
            source,
            description: None,
        };
        let web = IngressRule::from_rule(
            &rule(
                "tcp",
                Some(80),
                Some(81),
                RuleSource::CidrIpv4("10.0.0.0/8".into()),
            ),
            "us-east-1",
            "1",
        )
        .unwrap();
        assert_eq!(web.protocol, Some(6));
        assert_eq!(web.ports, Some((80, 81)));
        assert_eq!(
            web.source,
            IngressSource::Cidr(Ipv4Addr::new(10, 0, 0, 0), 8)
        );
        let peers = IngressRule::from_rule(
            &rule(
                "-1",
                None,
                None,
                RuleSource::ReferencedGroupId("sg-1".into()),
            ),
            "us-east-1",
            "1",
        )
        .unwrap();
        assert_eq!(peers.protocol, None);
        assert_eq!(
            peers.source,
            IngressSource::Group("arn:aws:ec2:us-east-1:1:security-group/sg-1".into())
        );
    }
}

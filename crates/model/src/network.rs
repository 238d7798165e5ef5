//! awsvpc networking as the control plane decides it and a node sets it up: a task's network
//! interface (subnet, address, gateway, MAC, DNS name, security groups) and the naming rules
//! AWS uses for them.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// A task's elastic network interface: what its node needs to wire the task's network
/// namespace, decided (and its address allocated) when the task is placed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskNetwork {
    /// The ECS attachment's id.
    pub attachment_id: String,
    /// `eni-...`.
    pub network_interface_id: String,
    /// The subnet the address comes from.
    pub subnet_id: String,
    /// The task's private IPv4 address.
    pub address: Ipv4Addr,
    /// The subnet's prefix length.
    pub prefix_len: u8,
    /// The subnet's router: the first address after the network's.
    pub gateway: Ipv4Addr,
    /// The interface's MAC address, `0a:58:` and the four address bytes.
    pub mac_address: String,
    /// `ip-A-B-C-D.ec2.internal` (us-east-1) or `ip-A-B-C-D.REGION.compute.internal`.
    pub private_dns_name: String,
    /// The security groups guarding the interface.
    pub security_groups: Vec<String>,
    /// Whether the task may reach beyond the host (NAT).
    pub assign_public_ip: bool,
}

/// The MAC address berth gives the interface holding `address`: locally administered, unique
/// per address.
pub fn mac_address(address: Ipv4Addr) -> String {
    let [a, b, c, d] = address.octets();
    format!("0a:58:{a:02x}:{b:02x}:{c:02x}:{d:02x}")
}

/// The private DNS name AWS gives `address` in `region`.
pub fn private_dns_name(address: Ipv4Addr, region: &str) -> String {
    let [a, b, c, d] = address.octets();
    if region == "us-east-1" {
        format!("ip-{a}-{b}-{c}-{d}.ec2.internal")
    } else {
        format!("ip-{a}-{b}-{c}-{d}.{region}.compute.internal")
    }
}

/// An IPv4 network: an address and a prefix length, the host bits zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Network {
    /// The network's first address.
    pub network: Ipv4Addr,
    /// Its prefix length.
    pub prefix_len: u8,
}

impl Ipv4Network {
    /// Parses `A.B.C.D/N`, refusing host bits and prefixes outside 16–28 (the sizes AWS
    /// allows for VPCs and subnets).
    pub fn parse(text: &str) -> Result<Self, String> {
        let (address, prefix) = text
            .split_once('/')
            .ok_or_else(|| format!("{text} is not a CIDR block (A.B.C.D/N)"))?;
        let network: Ipv4Addr = address
            .parse()
            .map_err(|_| format!("{text} is not a CIDR block (A.B.C.D/N)"))?;
        let prefix_len: u8 = prefix
            .parse()
            .map_err(|_| format!("{text} is not a CIDR block (A.B.C.D/N)"))?;
        if !(16..=28).contains(&prefix_len) {
            return Err(format!(
                "the CIDR block {text} is invalid: its netmask must be between /16 and /28"
            ));
        }
        let parsed = Self {
            network,
            prefix_len,
        };
        if u32::from(network) & !parsed.mask() != 0 {
            return Err(format!(
                "the CIDR block {text} is invalid: host bits are set"
            ));
        }
        Ok(parsed)
    }

    fn mask(&self) -> u32 {
        u32::MAX << (32 - u32::from(self.prefix_len))
    }

    /// How many addresses it spans.
    pub fn size(&self) -> u32 {
        1 << (32 - u32::from(self.prefix_len))
    }

    /// Whether `address` is inside it.
    pub fn contains(&self, address: Ipv4Addr) -> bool {
        u32::from(address) & self.mask() == u32::from(self.network)
    }

    /// Whether the two overlap.
    pub fn overlaps(&self, other: &Ipv4Network) -> bool {
        self.contains(other.network) || other.contains(self.network)
    }

    /// The `n`th address of the network.
    pub fn nth(&self, n: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + n)
    }

    /// The subnet router's address (AWS reserves the first four and the last).
    pub fn gateway(&self) -> Ipv4Addr {
        self.nth(1)
    }

    /// The addresses tasks may have, as AWS allows them in a subnet: all but the first four
    /// and the last.
    pub fn assignable(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        (4..self.size().saturating_sub(1)).map(|n| self.nth(n))
    }
}

impl std::fmt::Display for Ipv4Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_aws() {
        let address = Ipv4Addr::new(172, 31, 0, 4);
        assert_eq!(mac_address(address), "0a:58:ac:1f:00:04");
        assert_eq!(
            private_dns_name(address, "us-east-1"),
            "ip-172-31-0-4.ec2.internal"
        );
        assert_eq!(
            private_dns_name(address, "eu-west-1"),
            "ip-172-31-0-4.eu-west-1.compute.internal"
        );
    }

    #[test]
    fn networks_parse_and_hand_out_what_aws_allows() {
        let subnet = Ipv4Network::parse("172.31.16.0/20").unwrap();
        assert_eq!(subnet.gateway(), Ipv4Addr::new(172, 31, 16, 1));
        let assignable: Vec<Ipv4Addr> = subnet.assignable().collect();
        assert_eq!(assignable.len(), 4096 - 5);
        assert_eq!(assignable[0], Ipv4Addr::new(172, 31, 16, 4));
        assert_eq!(*assignable.last().unwrap(), Ipv4Addr::new(172, 31, 31, 254));
        assert!(subnet.contains(Ipv4Addr::new(172, 31, 31, 255)));
        assert!(!subnet.contains(Ipv4Addr::new(172, 31, 32, 0)));
        let vpc = Ipv4Network::parse("172.31.0.0/16").unwrap();
        assert!(vpc.overlaps(&subnet) && subnet.overlaps(&vpc));
        assert!(
            Ipv4Network::parse("172.31.0.1/16")
                .unwrap_err()
                .contains("host bits")
        );
        assert!(
            Ipv4Network::parse("10.0.0.0/8")
                .unwrap_err()
                .contains("/16 and /28")
        );
        assert!(Ipv4Network::parse("nonsense").is_err());
        assert_eq!(subnet.to_string(), "172.31.16.0/20");
    }
}

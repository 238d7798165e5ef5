//! A task's awsvpc interface as its node wires it: the bridge's gateway address (made here),
//! the veth plan its supervisor carries out, and the files its containers see — `/etc/hosts`,
//! `/etc/resolv.conf` and `/etc/hostname` — naming the task by its private DNS name.
//!
//! The files reach containers as a layer of their own, the topmost of each root filesystem's
//! lower layers, not as bind mounts (Docker's way): a bind mount needs its target in the
//! container's filesystem, and making it there copies `/etc` up and creates three files in the
//! writable layer on disk for every task — inodes made and freed each time — besides three
//! more mounts for the runtime to resolve.

use std::path::{Path, PathBuf};

use berth_model::network::TaskNetwork;
use berth_shim::PlannedNetwork;

/// Why a task's interface cannot be planned.
#[derive(Debug, thiserror::Error)]
pub enum InvalidInterface {
    /// The control plane gave it a MAC address that is not six hex bytes.
    #[error("bad MAC address {0}")]
    MacAddress(String),
}

/// The supervisor's part: the veth `bt` + the task id's first 13 characters (15 bytes, the
/// kernel's limit), its host end into `bridge`, the other end `eth0` with the task's address.
pub fn plan(
    bridge: &str,
    task_id: &str,
    network: &TaskNetwork,
) -> Result<PlannedNetwork, InvalidInterface> {
    Ok(PlannedNetwork {
        bridge: bridge.to_owned(),
        host_interface: format!("bt{}", task_id.chars().take(13).collect::<String>()),
        address: network.address,
        prefix_len: network.prefix_len,
        gateway: network.gateway,
        mac: parse_mac(&network.mac_address)
            .ok_or_else(|| InvalidInterface::MacAddress(network.mac_address.clone()))?,
    })
}

/// Makes sure `bridge` holds the gateway of the task's subnet. Blocking.
pub fn ensure_gateway(bridge: &str, network: &TaskNetwork) -> std::io::Result<()> {
    berth_net::ensure_gateway(bridge, network.gateway, network.prefix_len)
}

/// Writes the task's `/etc` files as a layer rooted at `layer` (`layer/etc/hosts`, ...);
/// returns the layer.
pub fn write_etc_layer(layer: &Path, network: &TaskNetwork) -> std::io::Result<PathBuf> {
    let etc = layer.join("etc");
    std::fs::create_dir_all(&etc)?;
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let files = [
        ("hosts", hosts(network)),
        ("resolv.conf", resolv_conf(&host_resolv)),
        ("hostname", format!("{}\n", network.private_dns_name)),
    ];
    for (name, text) in files {
        std::fs::write(etc.join(name), text)?;
    }
    Ok(layer.to_path_buf())
}

/// Loopback names, and the task's address under its private DNS name and short name.
fn hosts(network: &TaskNetwork) -> String {
    let short = network
        .private_dns_name
        .split('.')
        .next()
        .unwrap_or_default();
    format!(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{}\t{} {short}\n",
        network.address, network.private_dns_name
    )
}

/// The host's resolver settings minus nameservers on loopback, which a task's own network
/// namespace cannot reach (Docker drops them the same way).
fn resolv_conf(host: &str) -> String {
    let kept: Vec<&str> = host
        .lines()
        .filter(|line| {
            let mut words = line.split_whitespace();
            !(words.next() == Some("nameserver")
                && words
                    .next()
                    .is_some_and(|a| a.starts_with("127.") || a == "::1"))
        })
        .collect();
    let mut text = kept.join("\n");
    text.push('\n');
    text
}

fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let bytes: Vec<u8> = text
        .split(':')
        .map(|part| u8::from_str_radix(part, 16).ok())
        .collect::<Option<_>>()?;
    bytes.try_into().ok()
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn network() -> TaskNetwork {
        let address = Ipv4Addr::new(172, 31, 0, 4);
        TaskNetwork {
            attachment_id: "a".into(),
            network_interface_id: "eni-1".into(),
            subnet_id: "subnet-1".into(),
            address,
            prefix_len: 20,
            gateway: Ipv4Addr::new(172, 31, 0, 1),
            mac_address: berth_model::network::mac_address(address),
            private_dns_name: "ip-172-31-0-4.ec2.internal".into(),
            security_groups: vec![],
            assign_public_ip: false,
        }
    }

    #[test]
    fn the_plan_names_the_veth_within_the_kernels_limit() {
        let plan = plan("berth0", "0123456789abcdef0123456789abcdef", &network()).unwrap();
        assert_eq!(plan.host_interface, "bt0123456789abc");
        assert_eq!(plan.mac, [0x0a, 0x58, 172, 31, 0, 4]);
        assert_eq!(plan.gateway, Ipv4Addr::new(172, 31, 0, 1));
    }

    #[test]
    fn etc_files_name_the_task_and_drop_loopback_resolvers() {
        let text = hosts(&network());
        assert!(
            text.contains("172.31.0.4\tip-172-31-0-4.ec2.internal ip-172-31-0-4\n"),
            "{text}"
        );
        let resolv =
            resolv_conf("nameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch example.com\n");
        assert_eq!(resolv, "nameserver 10.0.0.2\nsearch example.com\n");
    }
}

//! A task's interface wired in one go: a veth pair made from the host's side, its host end
//! into the bridge, its other end `eth0` in the task's namespace with MAC, address and
//! default route — eight rtnetlink requests, no process.

use std::net::Ipv4Addr;
use std::os::fd::BorrowedFd;

use crate::address::{add_address, add_default_route};
use crate::link::{self, LinkChange};
use crate::netlink::Netlink;

/// What to wire.
#[derive(Debug, Clone, Copy)]
pub struct TaskInterface<'a> {
    /// The bridge the host end joins.
    pub bridge: &'a str,
    /// The host end's name.
    pub host_interface: &'a str,
    /// `eth0`'s address.
    pub address: Ipv4Addr,
    /// Its prefix length.
    pub prefix_len: u8,
    /// The default route's gateway.
    pub gateway: Ipv4Addr,
    /// `eth0`'s MAC address.
    pub mac: [u8; 6],
}

/// Wires `interface`: `host` acts in the host's namespace, `task` in the task's, whose
/// namespace file is `task_namespace`. Says which step failed.
pub fn wire(
    host: &Netlink,
    task: &Netlink,
    task_namespace: BorrowedFd<'_>,
    interface: &TaskInterface<'_>,
) -> std::io::Result<()> {
    let step = |what: String| {
        move |e: std::io::Error| std::io::Error::new(e.kind(), format!("{what}: {e}"))
    };
    link::create_veth(host, interface.host_interface, "eth0", task_namespace).map_err(step(
        format!("create the veth {}", interface.host_interface),
    ))?;
    let host_end = link::index(host, interface.host_interface)
        .map_err(step("find the veth's host end".into()))?;
    let bridge = link::index(host, interface.bridge)
        .map_err(step(format!("find the bridge {}", interface.bridge)))?;
    let up = LinkChange {
        up: true,
        ..LinkChange::default()
    };
    link::change(
        host,
        host_end,
        LinkChange {
            master: Some(bridge),
            ..up
        },
    )
    .map_err(step("attach the veth to the bridge".into()))?;
    let eth0 = link::index(task, "eth0").map_err(step("find eth0".into()))?;
    link::change(
        task,
        eth0,
        LinkChange {
            mac: Some(interface.mac),
            ..up
        },
    )
    .map_err(step("set eth0 up".into()))?;
    add_address(task, eth0, interface.address, interface.prefix_len).map_err(step(format!(
        "add {}/{}",
        interface.address, interface.prefix_len
    )))?;
    add_default_route(task, eth0, interface.gateway)
        .map_err(step(format!("route through {}", interface.gateway)))?;
    Ok(())
}

//! A task's interface: a veth pair made from the host's side, its host end into the bridge,
//! its other end `eth0` in the task's namespace with MAC, address and default route — eight
//! rtnetlink requests, no process. The veth needs no task, so a warm supervisor makes it
//! ahead of one ([`make_veth`]) and a task's start only addresses it ([`address`]).

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

fn step(what: String) -> impl FnOnce(std::io::Error) -> std::io::Error {
    move |e| std::io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// Wires `interface` whole: [`make_veth`], then [`address`]. `host` acts in the host's
/// namespace, `task` in the task's, whose namespace file is `task_namespace`.
pub fn wire(
    host: &Netlink,
    task: &Netlink,
    task_namespace: BorrowedFd<'_>,
    interface: &TaskInterface<'_>,
) -> std::io::Result<u32> {
    let host_end = make_veth(
        host,
        task_namespace,
        interface.host_interface,
        interface.bridge,
    )?;
    address(task, interface)?;
    Ok(host_end)
}

/// The part that needs no task: a veth pair, `host_interface` up in `bridge` on the host's
/// side, `eth0` (down, unaddressed) in the namespace `task_namespace`. Returns the host end's
/// index.
pub fn make_veth(
    host: &Netlink,
    task_namespace: BorrowedFd<'_>,
    host_interface: &str,
    bridge: &str,
) -> std::io::Result<u32> {
    link::create_veth(host, host_interface, "eth0", task_namespace)
        .map_err(step(format!("create the veth {host_interface}")))?;
    let host_end =
        link::index(host, host_interface).map_err(step("find the veth's host end".into()))?;
    let bridge_index =
        link::index(host, bridge).map_err(step(format!("find the bridge {bridge}")))?;
    link::change(
        host,
        host_end,
        LinkChange {
            up: true,
            master: Some(bridge_index),
            mac: None,
        },
    )
    .map_err(step("attach the veth to the bridge".into()))?;
    Ok(host_end)
}

/// The task's part, in its namespace: `eth0` up with its MAC, its address and the default
/// route.
pub fn address(task: &Netlink, interface: &TaskInterface<'_>) -> std::io::Result<()> {
    let eth0 = link::index(task, "eth0").map_err(step("find eth0".into()))?;
    link::change(
        task,
        eth0,
        LinkChange {
            up: true,
            master: None,
            mac: Some(interface.mac),
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

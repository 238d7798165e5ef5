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

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use berth_sys::NetlinkReply;

    use super::*;
    use crate::netlink::testing::{answer, attr, recorded};
    use crate::netlink::{RTM_GETLINK, RTM_NEWADDR, RTM_NEWLINK, RTM_NEWROUTE};

    /// An `RTM_NEWLINK` answer naming interface `index`.
    fn link(seq: u32, index: u32) -> NetlinkReply {
        let mut ifinfomsg = [0u8; 16];
        ifinfomsg[4..8].copy_from_slice(&index.to_ne_bytes());
        answer(RTM_NEWLINK, seq, &ifinfomsg)
    }

    fn interface() -> TaskInterface<'static> {
        TaskInterface {
            bridge: "berth0",
            host_interface: "vb1",
            address: Ipv4Addr::new(10, 99, 0, 5),
            prefix_len: 24,
            gateway: Ipv4Addr::new(10, 99, 0, 1),
            mac: [0x0a, 0x58, 10, 99, 0, 5],
        }
    }

    #[test]
    fn wiring_makes_the_veth_on_the_host_and_addresses_eth0_in_the_task() {
        let (host, host_recorder) = recorded([NetlinkReply::Ack, link(2, 11), link(3, 3)]);
        let (task, task_recorder) = recorded([link(1, 2)]);
        let namespace = std::fs::File::open("/dev/null").unwrap();
        assert_eq!(
            wire(&host, &task, namespace.as_fd(), &interface()).unwrap(),
            11
        );
        let kinds = |recorder: &berth_sys::RecordingNetlink| -> Vec<u16> {
            recorder.sent_messages().iter().map(|m| m.kind).collect()
        };
        // Create, find both ends' indexes, attach; then in the task: find eth0, up with its
        // MAC, address, route.
        assert_eq!(
            kinds(&host_recorder),
            [RTM_NEWLINK, RTM_GETLINK, RTM_GETLINK, RTM_NEWLINK]
        );
        assert_eq!(
            kinds(&task_recorder),
            [RTM_GETLINK, RTM_NEWLINK, RTM_NEWADDR, RTM_NEWROUTE]
        );
        // The attach names the host end and the bridge's index.
        let attach = &host_recorder.sent_messages()[3].payload;
        assert_eq!(attach[4..8], 11u32.to_ne_bytes());
        let master = attr(10, &3u32.to_ne_bytes()); // IFLA_MASTER
        assert!(attach.windows(master.len()).any(|w| w == master));
    }

    #[test]
    fn a_failed_step_says_which_and_keeps_its_error() {
        let (host, recorder) = recorded([NetlinkReply::Error(17)]);
        let namespace = std::fs::File::open("/dev/null").unwrap();
        let error = make_veth(&host, namespace.as_fd(), "vb1", "berth0").unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::AlreadyExists);
        assert!(
            error.to_string().starts_with("create the veth vb1: "),
            "{error}"
        );
        // Nothing after the failed step is sent.
        assert_eq!(recorder.sent().len(), 1);
    }
}

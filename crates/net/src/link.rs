//! Links: bridges, veth pairs, and their state — up, bridge port, MAC address, alias — through
//! `RTM_NEWLINK`/`RTM_GETLINK`/`RTM_DELLINK`, as `ip link` sends them.

use std::os::fd::{AsRawFd, BorrowedFd};

use crate::netlink::{
    Message, NLM_F_CREATE, NLM_F_EXCL, Netlink, RTM_DELLINK, RTM_GETLINK, RTM_NEWLINK, attributes,
};

const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MASTER: u16 = 10;
const IFLA_IFALIAS: u16 = 20;
const IFLA_LINKINFO: u16 = 18;
const IFLA_NET_NS_FD: u16 = 28;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;
const IFF_UP: u32 = 1;
const IFINFOMSG_LEN: usize = 16;

/// `ifinfomsg` for interface `index` (0: none), setting `flags` among `change`.
fn ifinfomsg(index: u32, flags: u32, change: u32) -> [u8; IFINFOMSG_LEN] {
    let mut header = [0u8; IFINFOMSG_LEN];
    // ifi_family AF_UNSPEC, padding, ifi_type 0: zero.
    header[4..8].copy_from_slice(&index.to_ne_bytes());
    header[8..12].copy_from_slice(&flags.to_ne_bytes());
    header[12..16].copy_from_slice(&change.to_ne_bytes());
    header
}

/// The index of interface `name`, `ENODEV` if there is none.
pub fn index(netlink: &Netlink, name: &str) -> std::io::Result<u32> {
    let answer = netlink.query(
        Message::new(RTM_GETLINK, 0)
            .header(&ifinfomsg(0, 0, 0))
            .string(IFLA_IFNAME, name),
    )?;
    answer
        .get(4..8)
        .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| std::io::Error::other("short RTM_NEWLINK answer"))
}

/// The MAC address of interface `index`.
pub fn mac_address(netlink: &Netlink, index: u32) -> std::io::Result<[u8; 6]> {
    let answer = netlink.query(Message::new(RTM_GETLINK, 0).header(&ifinfomsg(index, 0, 0)))?;
    attributes(&answer, IFINFOMSG_LEN)
        .into_iter()
        .find(|(kind, _)| *kind == IFLA_ADDRESS)
        .and_then(|(_, value)| value.try_into().ok())
        .ok_or_else(|| std::io::Error::other("no MAC address in the RTM_NEWLINK answer"))
}

/// Creates bridge `name`; `EEXIST` if it exists.
pub fn create_bridge(netlink: &Netlink, name: &str) -> std::io::Result<()> {
    netlink.request(
        Message::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL)
            .header(&ifinfomsg(0, 0, 0))
            .string(IFLA_IFNAME, name)
            .open(IFLA_LINKINFO)
            .string(IFLA_INFO_KIND, "bridge")
            .close(),
    )
}

/// Creates a veth pair: `name` here, `peer` in the network namespace `peer_namespace`.
pub fn create_veth(
    netlink: &Netlink,
    name: &str,
    peer: &str,
    peer_namespace: BorrowedFd<'_>,
) -> std::io::Result<()> {
    let namespace = u32::try_from(peer_namespace.as_raw_fd()).unwrap_or_default();
    netlink.request(
        Message::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL)
            .header(&ifinfomsg(0, 0, 0))
            .string(IFLA_IFNAME, name)
            .open(IFLA_LINKINFO)
            .string(IFLA_INFO_KIND, "veth")
            .open(IFLA_INFO_DATA)
            .open(VETH_INFO_PEER)
            .header(&ifinfomsg(0, 0, 0))
            .string(IFLA_IFNAME, peer)
            .attr(IFLA_NET_NS_FD, &namespace.to_ne_bytes())
            .close()
            .close()
            .close(),
    )
}

/// What to change on an interface.
#[derive(Debug, Default, Clone, Copy)]
pub struct LinkChange {
    /// Bring it up.
    pub up: bool,
    /// Make it a port of this bridge (by index).
    pub master: Option<u32>,
    /// Give it this MAC address.
    pub mac: Option<[u8; 6]>,
}

/// Applies `change` to interface `index`.
pub fn change(netlink: &Netlink, index: u32, change: LinkChange) -> std::io::Result<()> {
    let flags = if change.up { IFF_UP } else { 0 };
    let mut message = Message::new(RTM_NEWLINK, 0).header(&ifinfomsg(index, flags, flags));
    if let Some(master) = change.master {
        message = message.attr(IFLA_MASTER, &master.to_ne_bytes());
    }
    if let Some(mac) = change.mac {
        message = message.attr(IFLA_ADDRESS, &mac);
    }
    netlink.request(message)
}

/// Sets interface `index`'s alias (`ip link set ... alias`): a note for people, such as
/// which task a veth belongs to.
pub fn set_alias(netlink: &Netlink, index: u32, alias: &str) -> std::io::Result<()> {
    netlink.request(
        Message::new(RTM_NEWLINK, 0)
            .header(&ifinfomsg(index, 0, 0))
            .attr(IFLA_IFALIAS, alias.as_bytes()),
    )
}

/// Deletes interface `index`.
pub fn delete(netlink: &Netlink, index: u32) -> std::io::Result<()> {
    netlink.request(Message::new(RTM_DELLINK, 0).header(&ifinfomsg(index, 0, 0)))
}

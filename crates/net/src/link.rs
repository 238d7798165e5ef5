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

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use berth_sys::NetlinkReply;

    use super::*;
    use crate::netlink::testing::{answer, attr, message, nest, recorded};
    use crate::netlink::{NLM_F_ACK, NLM_F_REQUEST};

    const NEW: u16 = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;

    #[test]
    fn a_veth_is_one_request_with_its_peer_nested_in_the_link_info() {
        let (netlink, recorder) = recorded([]);
        let namespace = std::fs::File::open("/dev/null").unwrap();
        create_veth(&netlink, "vtest0", "eth0", namespace.as_fd()).unwrap();
        let fd = u32::try_from(namespace.as_raw_fd()).unwrap();
        let peer = [
            &[0u8; 16][..],
            &attr(IFLA_IFNAME, b"eth0\0"),
            &attr(IFLA_NET_NS_FD, &fd.to_ne_bytes()),
        ]
        .concat();
        let link_info = [
            attr(IFLA_INFO_KIND, b"veth\0"),
            nest(IFLA_INFO_DATA, &nest(VETH_INFO_PEER, &peer)),
        ]
        .concat();
        let body = [
            &[0u8; 16][..],
            &attr(IFLA_IFNAME, b"vtest0\0"),
            &nest(IFLA_LINKINFO, &link_info),
        ]
        .concat();
        assert_eq!(recorder.sent(), [message(RTM_NEWLINK, NEW, 1, &body)]);
    }

    #[test]
    fn a_bridge_is_a_link_of_kind_bridge() {
        let (netlink, recorder) = recorded([]);
        create_bridge(&netlink, "br0").unwrap();
        let body = [
            &[0u8; 16][..],
            &attr(IFLA_IFNAME, b"br0\0"),
            &nest(IFLA_LINKINFO, &attr(IFLA_INFO_KIND, b"bridge\0")),
        ]
        .concat();
        assert_eq!(recorder.sent(), [message(RTM_NEWLINK, NEW, 1, &body)]);
    }

    #[test]
    fn a_change_sets_up_master_and_mac_on_the_index() {
        let (netlink, recorder) = recorded([]);
        let mac = [0x0a, 0x58, 1, 2, 3, 4];
        let all = LinkChange {
            up: true,
            master: Some(3),
            mac: Some(mac),
        };
        change(&netlink, 9, all).unwrap();
        change(&netlink, 9, LinkChange::default()).unwrap();
        let body = [
            &ifinfomsg(9, IFF_UP, IFF_UP)[..],
            &attr(IFLA_MASTER, &3u32.to_ne_bytes()),
            &attr(IFLA_ADDRESS, &mac),
        ]
        .concat();
        assert_eq!(
            recorder.sent(),
            [
                message(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, 1, &body),
                // Not up: no flag changes, rather than a down.
                message(
                    RTM_NEWLINK,
                    NLM_F_REQUEST | NLM_F_ACK,
                    2,
                    &ifinfomsg(9, 0, 0)
                ),
            ]
        );
        // ifi_family, padding and ifi_type zero; index, flags, change mask.
        let expected = [
            [0u8; 4],
            9u32.to_ne_bytes(),
            1u32.to_ne_bytes(),
            1u32.to_ne_bytes(),
        ];
        assert_eq!(ifinfomsg(9, 1, 1)[..], expected.concat());
    }

    #[test]
    fn index_and_mac_are_read_from_the_answer() {
        let mac = [2, 0, 0, 0, 0, 7];
        let (netlink, recorder) = recorded([
            answer(RTM_NEWLINK, 1, &ifinfomsg(42, 0, 0)),
            answer(
                RTM_NEWLINK,
                2,
                &[&ifinfomsg(42, 0, 0)[..], &attr(IFLA_ADDRESS, &mac)].concat(),
            ),
            NetlinkReply::Error(19),
        ]);
        assert_eq!(index(&netlink, "veth9").unwrap(), 42);
        assert_eq!(mac_address(&netlink, 42).unwrap(), mac);
        assert_eq!(
            index(&netlink, "gone").unwrap_err().raw_os_error(),
            Some(19)
        );
        // Gets ask for no acknowledgement: the answer is the acknowledgement.
        let get = |seq, body: &[u8]| message(RTM_GETLINK, NLM_F_REQUEST, seq, body);
        assert_eq!(
            recorder.sent(),
            [
                get(
                    1,
                    &[&[0u8; 16][..], &attr(IFLA_IFNAME, b"veth9\0")].concat()
                ),
                get(2, &ifinfomsg(42, 0, 0)),
                get(3, &[&[0u8; 16][..], &attr(IFLA_IFNAME, b"gone\0")].concat()),
            ]
        );
    }
}

//! IPv4 addresses and routes, through `RTM_NEWADDR` and `RTM_NEWROUTE`, as `ip address add`
//! and `ip route add` send them.

use std::net::Ipv4Addr;

use crate::netlink::{Message, NLM_F_CREATE, NLM_F_EXCL, Netlink, RTM_NEWADDR, RTM_NEWROUTE};

const AF_INET: u8 = 2;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_OIF: u16 = 4;
const RT_TABLE_MAIN: u8 = 254;
const RTPROT_STATIC: u8 = 4;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RTN_UNICAST: u8 = 1;

/// Adds `address/prefix` to interface `index`; `EEXIST` if it has it.
pub fn add_address(
    netlink: &Netlink,
    index: u32,
    address: Ipv4Addr,
    prefix: u8,
) -> std::io::Result<()> {
    let mut header = [0u8; 8];
    header[0] = AF_INET;
    header[1] = prefix;
    // ifa_flags 0, ifa_scope universe: zero.
    header[4..8].copy_from_slice(&index.to_ne_bytes());
    let host_bits = 32 - u32::from(prefix.min(32));
    let broadcast = Ipv4Addr::from(u32::from(address) | ((1u64 << host_bits) - 1) as u32);
    netlink.request(
        Message::new(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL)
            .header(&header)
            .attr(IFA_LOCAL, &address.octets())
            .attr(IFA_ADDRESS, &address.octets())
            .attr(IFA_BROADCAST, &broadcast.octets()),
    )
}

/// Adds the default route through `gateway` on interface `index`.
pub fn add_default_route(netlink: &Netlink, index: u32, gateway: Ipv4Addr) -> std::io::Result<()> {
    let header = [
        AF_INET,
        0, // rtm_dst_len: the default route
        0, // rtm_src_len
        0, // rtm_tos
        RT_TABLE_MAIN,
        RTPROT_STATIC,
        RT_SCOPE_UNIVERSE,
        RTN_UNICAST,
        0,
        0,
        0,
        0, // rtm_flags
    ];
    netlink.request(
        Message::new(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL)
            .header(&header)
            .attr(RTA_GATEWAY, &gateway.octets())
            .attr(RTA_OIF, &index.to_ne_bytes()),
    )
}

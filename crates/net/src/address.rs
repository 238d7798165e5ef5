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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::testing::{attr, message, recorded};
    use crate::netlink::{NLM_F_ACK, NLM_F_REQUEST};

    const NEW: u16 = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;

    #[test]
    fn an_address_carries_local_address_and_broadcast() {
        let (netlink, recorder) = recorded([]);
        add_address(&netlink, 7, Ipv4Addr::new(10, 99, 3, 5), 22).unwrap();
        let body = [
            &[AF_INET, 22, 0, 0][..],
            &7u32.to_ne_bytes(),
            &attr(IFA_LOCAL, &[10, 99, 3, 5]),
            &attr(IFA_ADDRESS, &[10, 99, 3, 5]),
            &attr(IFA_BROADCAST, &[10, 99, 3, 255]),
        ]
        .concat();
        assert_eq!(recorder.sent(), [message(RTM_NEWADDR, NEW, 1, &body)]);
    }

    #[test]
    fn a_host_address_is_its_own_broadcast_and_a_zero_prefix_has_all_ones() {
        let (netlink, recorder) = recorded([]);
        add_address(&netlink, 1, Ipv4Addr::new(10, 0, 0, 1), 32).unwrap();
        add_address(&netlink, 1, Ipv4Addr::new(10, 0, 0, 1), 0).unwrap();
        let broadcasts: Vec<Vec<u8>> = recorder
            .sent()
            .iter()
            .map(|datagram| datagram[datagram.len() - 4..].to_vec())
            .collect();
        assert_eq!(broadcasts, [vec![10, 0, 0, 1], vec![255; 4]]);
    }

    #[test]
    fn the_default_route_goes_through_the_gateway_on_the_interface() {
        let (netlink, recorder) = recorded([]);
        add_default_route(&netlink, 4, Ipv4Addr::new(10, 99, 0, 1)).unwrap();
        let body = [
            &[
                AF_INET,
                0,
                0,
                0,
                RT_TABLE_MAIN,
                RTPROT_STATIC,
                RT_SCOPE_UNIVERSE,
                RTN_UNICAST,
            ][..],
            &[0; 4],
            &attr(RTA_GATEWAY, &[10, 99, 0, 1]),
            &attr(RTA_OIF, &4u32.to_ne_bytes()),
        ]
        .concat();
        assert_eq!(recorder.sent(), [message(RTM_NEWROUTE, NEW, 1, &body)]);
    }
}

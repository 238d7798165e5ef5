//! The node's bridge: made on first use, up, holding each subnet's gateway address — so the
//! host reaches every task address through it (an operator network) and tasks route through it.

use std::net::Ipv4Addr;

use crate::address::add_address;
use crate::link::{self, LinkChange};
use crate::netlink::Netlink;

const EEXIST: i32 = 17;

/// Makes sure bridge `name` exists and is up; returns its index.
pub fn ensure_bridge(name: &str) -> std::io::Result<u32> {
    ensure_bridge_with(&Netlink::open()?, name)
}

fn ensure_bridge_with(netlink: &Netlink, name: &str) -> std::io::Result<u32> {
    let index = match link::index(netlink, name) {
        Ok(index) => index,
        Err(_) => {
            match link::create_bridge(netlink, name) {
                Err(e) if e.raw_os_error() != Some(EEXIST) => return Err(e),
                _ => {}
            }
            link::index(netlink, name)?
        }
    };
    link::change(
        netlink,
        index,
        LinkChange {
            up: true,
            ..LinkChange::default()
        },
    )?;
    Ok(index)
}

/// Makes sure bridge `name` exists, is up and holds `gateway/prefix_len`.
pub fn ensure_gateway(name: &str, gateway: Ipv4Addr, prefix_len: u8) -> std::io::Result<()> {
    let netlink = Netlink::open()?;
    let index = ensure_bridge_with(&netlink, name)?;
    match add_address(&netlink, index, gateway, prefix_len) {
        Err(e) if e.raw_os_error() != Some(EEXIST) => Err(e),
        _ => Ok(()),
    }
}

/// Deletes bridge `name` if it exists (with the gateway addresses it holds).
pub fn delete_bridge(name: &str) -> std::io::Result<()> {
    let netlink = Netlink::open()?;
    match link::index(&netlink, name) {
        Ok(index) => link::delete(&netlink, index),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use berth_sys::NetlinkReply;

    use super::*;
    use crate::netlink::testing::{answer, recorded};
    use crate::netlink::{RTM_GETLINK, RTM_NEWLINK};

    fn link(seq: u32, index: u32) -> NetlinkReply {
        let mut ifinfomsg = [0u8; 16];
        ifinfomsg[4..8].copy_from_slice(&index.to_ne_bytes());
        answer(RTM_NEWLINK, seq, &ifinfomsg)
    }

    #[test]
    fn a_missing_bridge_is_made_then_set_up() {
        let (netlink, recorder) =
            recorded([NetlinkReply::Error(19), NetlinkReply::Ack, link(3, 5)]);
        assert_eq!(ensure_bridge_with(&netlink, "berth0").unwrap(), 5);
        let kinds: Vec<u16> = recorder.sent_messages().iter().map(|m| m.kind).collect();
        assert_eq!(kinds, [RTM_GETLINK, RTM_NEWLINK, RTM_GETLINK, RTM_NEWLINK]);
    }

    #[test]
    fn a_bridge_made_meanwhile_is_used() {
        // Another process made it between the get and the create: EEXIST is no failure.
        let (netlink, _) = recorded([
            NetlinkReply::Error(19),
            NetlinkReply::Error(EEXIST),
            link(3, 5),
        ]);
        assert_eq!(ensure_bridge_with(&netlink, "berth0").unwrap(), 5);
        let (netlink, _) = recorded([NetlinkReply::Error(19), NetlinkReply::Error(1)]);
        assert_eq!(
            ensure_bridge_with(&netlink, "berth0")
                .unwrap_err()
                .raw_os_error(),
            Some(1)
        );
    }
}

//! Task networking on the node, over rtnetlink (no `ip` processes): `netlink.rs` builds
//! requests and reads answers; `link.rs` makes bridges and veth pairs and sets links up, into
//! a bridge or to a MAC address; `address.rs` adds addresses and the default route;
//! `bridge.rs` keeps the node's bridge with each subnet's gateway address;
//! `task_interface.rs` wires a task's veth, address and route in one go;
//! `loopback.rs` brings `lo` up; `nf_sets.rs` adds and removes addresses in nftables sets
//! over nfnetlink (for `berth-firewall`, which enforces security groups). Each task's network namespace is its supervisor's own (an
//! `unshare`, so it lives exactly as long as the task and its veth goes with it). The sockets
//! are `berth-sys`'s [`berth_sys::NetlinkSocket`] seam: [`Netlink::over`] a
//! [`berth_sys::RecordingNetlink`] tests every request's bytes without root.

mod address;
mod bridge;
mod link;
mod loopback;
mod netlink;
mod nf_sets;
mod task_interface;

pub use address::{add_address, add_default_route};
pub use bridge::{delete_bridge, ensure_bridge, ensure_gateway};
pub use link::{
    LinkChange, change as change_link, create_bridge, create_veth, index as link_index,
    mac_address, set_alias,
};
pub use loopback::{loopback_up, loopback_up_with};
pub use netlink::Netlink;
pub use nf_sets::{NfSets, SetChange};
pub use task_interface::{
    TaskInterface, address as address_task_interface, make_veth, wire as wire_task_interface,
};

//! Bringing `lo` up in the current network namespace with one rtnetlink request, the same
//! `RTM_NEWLINK` that `ip link set lo up` sends, without starting a process.

use crate::link::{self, LinkChange};
use crate::netlink::Netlink;

/// Every network namespace's loopback interface has index 1 (the kernel's LOOPBACK_IFINDEX).
const LOOPBACK_INDEX: u32 = 1;

/// Sets the loopback interface of the calling thread's network namespace up.
pub fn loopback_up() -> std::io::Result<()> {
    loopback_up_with(&Netlink::open()?)
}

/// Sets the loopback interface of `netlink`'s network namespace up.
pub fn loopback_up_with(netlink: &Netlink) -> std::io::Result<()> {
    link::change(
        netlink,
        LOOPBACK_INDEX,
        LinkChange {
            up: true,
            ..LinkChange::default()
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As root: in the host's namespace `lo` is already up; setting it up again succeeds.
    #[test]
    fn sets_loopback_up() {
        loopback_up().unwrap();
    }
}

//! Bringing `lo` up in the current network namespace with one rtnetlink request, the same
//! `RTM_NEWLINK` that `ip link set lo up` sends, without starting a process.

use rustix::net::netlink::SocketAddrNetlink;
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketType};

/// Every network namespace's loopback interface has index 1 (the kernel's LOOPBACK_IFINDEX).
const LOOPBACK_INDEX: i32 = 1;
const RTM_NEWLINK: u16 = 16;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLMSG_ERROR: u16 = 2;
const IFF_UP: u32 = 1;

/// Sets the loopback interface of the calling thread's network namespace up.
pub fn loopback_up() -> std::io::Result<()> {
    // NETLINK_ROUTE is protocol 0: no protocol.
    let socket = rustix::net::socket(AddressFamily::NETLINK, SocketType::RAW, None)?;
    rustix::net::sendto(
        &socket,
        &request(),
        SendFlags::empty(),
        &SocketAddrNetlink::new(0, 0),
    )?;
    let mut answer = [0u8; 1024];
    let (length, _) = rustix::net::recv(&socket, &mut answer, RecvFlags::empty())?;
    acknowledged(&answer[..length])
}

/// `nlmsghdr` + `ifinfomsg`: set IFF_UP on interface 1, and acknowledge.
fn request() -> Vec<u8> {
    let mut message = Vec::with_capacity(32);
    message.extend_from_slice(&32u32.to_ne_bytes()); // nlmsg_len
    message.extend_from_slice(&RTM_NEWLINK.to_ne_bytes()); // nlmsg_type
    message.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes()); // nlmsg_flags
    message.extend_from_slice(&1u32.to_ne_bytes()); // nlmsg_seq
    message.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid: the kernel assigns it
    message.extend_from_slice(&[0, 0]); // ifi_family AF_UNSPEC, padding
    message.extend_from_slice(&0u16.to_ne_bytes()); // ifi_type
    message.extend_from_slice(&LOOPBACK_INDEX.to_ne_bytes()); // ifi_index
    message.extend_from_slice(&IFF_UP.to_ne_bytes()); // ifi_flags
    message.extend_from_slice(&IFF_UP.to_ne_bytes()); // ifi_change
    message
}

/// The kernel's answer: an `NLMSG_ERROR` whose error is 0 on success, `-errno` otherwise.
fn acknowledged(answer: &[u8]) -> std::io::Result<()> {
    let field = |at: usize, len: usize| {
        answer
            .get(at..at + len)
            .ok_or_else(|| std::io::Error::other("short rtnetlink answer"))
    };
    let kind = u16::from_ne_bytes(field(4, 2)?.try_into().unwrap_or_default());
    if kind != NLMSG_ERROR {
        return Err(std::io::Error::other(format!(
            "unexpected rtnetlink answer of type {kind}"
        )));
    }
    let error = i32::from_ne_bytes(field(16, 4)?.try_into().unwrap_or_default());
    match error {
        0 => Ok(()),
        negative => Err(std::io::Error::from_raw_os_error(-negative)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_is_an_rtm_newlink_for_interface_one() {
        let message = request();
        assert_eq!(message.len(), 32);
        assert_eq!(&message[4..6], &RTM_NEWLINK.to_ne_bytes());
        assert_eq!(&message[20..24], &1i32.to_ne_bytes());
        assert_eq!(&message[24..28], &1u32.to_ne_bytes());
    }

    #[test]
    fn answers_map_to_results() {
        let mut answer = vec![0u8; 36];
        answer[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        assert!(acknowledged(&answer).is_ok());
        answer[16..20].copy_from_slice(&(-1i32).to_ne_bytes());
        assert_eq!(acknowledged(&answer).unwrap_err().raw_os_error(), Some(1));
        assert!(acknowledged(&answer[..10]).is_err());
    }

    /// As root: in the host's namespace `lo` is already up; setting it up again succeeds.
    #[test]
    fn sets_loopback_up() {
        loopback_up().unwrap();
    }
}

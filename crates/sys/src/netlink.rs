//! The netlink transport: a socket to the kernel's rtnetlink or nfnetlink that sends whole
//! datagrams and receives them, and nothing more — the requests, acknowledgements and
//! answers are `berth-net`'s. The real socket acts in the network namespace of the thread
//! that opened it, whatever namespace that thread moves to later, so [`LinuxNetlink`] opens
//! it at construction; [`RecordingNetlink`] keeps what it is sent and answers as scripted,
//! so the logic above it is tested without root.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex};

use rustix::fd::OwnedFd;
use rustix::net::netlink::SocketAddrNetlink;
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketType};

/// The header every netlink message starts with (`nlmsghdr`).
pub const NETLINK_HEADER_LEN: usize = 16;
/// `NLMSG_ERROR`: an acknowledgement (error 0) or a refusal (`-errno`).
pub const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`: the end of a multi-part answer.
pub const NLMSG_DONE: u16 = 3;
/// `NLM_F_MULTI`: one part of a multi-part answer, which ends with `NLMSG_DONE`.
pub const NLM_F_MULTI: u16 = 0x2;
/// `NLM_F_ACK`: the sender asks for an acknowledgement.
pub const NLM_F_ACK: u16 = 0x4;

/// Which kernel subsystem a socket talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetlinkProtocol {
    /// rtnetlink (`NETLINK_ROUTE`): links, addresses, routes.
    Route,
    /// nfnetlink (`NETLINK_NETFILTER`): nf_tables and the rest of netfilter.
    Netfilter,
}

/// Sends datagrams to the kernel and receives its answers.
pub trait NetlinkSocket: Send + Sync + 'static {
    /// Sends `datagram` (one or more netlink messages) to the kernel.
    fn send(&self, datagram: &[u8]) -> io::Result<()>;
    /// Receives the next datagram into `buffer`; returns its length.
    fn recv(&self, buffer: &mut [u8]) -> io::Result<usize>;
}

/// A shared socket is a socket: a test keeps one handle on a [`RecordingNetlink`] to read
/// what the other was sent.
impl<S: NetlinkSocket + ?Sized> NetlinkSocket for Arc<S> {
    fn send(&self, datagram: &[u8]) -> io::Result<()> {
        (**self).send(datagram)
    }

    fn recv(&self, buffer: &mut [u8]) -> io::Result<usize> {
        (**self).recv(buffer)
    }
}

/// The real kernel: a netlink socket in the network namespace of the thread that opened it.
#[derive(Debug)]
pub struct LinuxNetlink {
    socket: OwnedFd,
}

impl LinuxNetlink {
    /// Opens a socket for `protocol` in the calling thread's network namespace. A netfilter
    /// socket gives up receiving after 5 seconds: a batch the kernel never answers must not
    /// hold its caller for good. (rtnetlink always answers a request, so it waits.)
    pub fn open(protocol: NetlinkProtocol) -> io::Result<Self> {
        let number = match protocol {
            // NETLINK_ROUTE is protocol 0: no protocol.
            NetlinkProtocol::Route => None,
            NetlinkProtocol::Netfilter => Some(rustix::net::netlink::NETFILTER),
        };
        let socket = rustix::net::socket_with(
            AddressFamily::NETLINK,
            SocketType::RAW,
            rustix::net::SocketFlags::CLOEXEC,
            number,
        )?;
        if protocol == NetlinkProtocol::Netfilter {
            rustix::net::sockopt::set_socket_timeout(
                &socket,
                rustix::net::sockopt::Timeout::Recv,
                Some(std::time::Duration::from_secs(5)),
            )?;
        }
        Ok(Self { socket })
    }
}

impl NetlinkSocket for LinuxNetlink {
    fn send(&self, datagram: &[u8]) -> io::Result<()> {
        // Port 0 is the kernel.
        rustix::net::sendto(
            &self.socket,
            datagram,
            SendFlags::empty(),
            &SocketAddrNetlink::new(0, 0),
        )?;
        Ok(())
    }

    fn recv(&self, buffer: &mut [u8]) -> io::Result<usize> {
        let (length, _) = rustix::net::recv(&self.socket, buffer, RecvFlags::empty())?;
        Ok(length)
    }
}

/// One message of a datagram: its `nlmsghdr` fields and what follows the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetlinkMessage {
    /// `nlmsg_type`.
    pub kind: u16,
    /// `nlmsg_flags`.
    pub flags: u16,
    /// `nlmsg_seq`.
    pub seq: u32,
    /// The fixed header and attributes after the `nlmsghdr`.
    pub payload: Vec<u8>,
}

impl NetlinkMessage {
    /// The messages of `datagram`, in order; a truncated tail is left out.
    pub fn parse(datagram: &[u8]) -> Vec<Self> {
        let mut messages = Vec::new();
        let mut rest = datagram;
        while rest.len() >= NETLINK_HEADER_LEN {
            let len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            if len < NETLINK_HEADER_LEN || len > rest.len() {
                break;
            }
            messages.push(Self {
                kind: u16::from_ne_bytes([rest[4], rest[5]]),
                flags: u16::from_ne_bytes([rest[6], rest[7]]),
                seq: u32::from_ne_bytes([rest[8], rest[9], rest[10], rest[11]]),
                payload: rest[NETLINK_HEADER_LEN..len].to_vec(),
            });
            rest = &rest[len.next_multiple_of(4).min(rest.len())..];
        }
        messages
    }

    /// The message's bytes (header included, port 0: the kernel's), padded to 4 bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let len = u32::try_from(NETLINK_HEADER_LEN + self.payload.len()).unwrap_or(u32::MAX);
        let mut bytes = Vec::with_capacity(NETLINK_HEADER_LEN + self.payload.len() + 3);
        bytes.extend_from_slice(&len.to_ne_bytes());
        bytes.extend_from_slice(&self.kind.to_ne_bytes());
        bytes.extend_from_slice(&self.flags.to_ne_bytes());
        bytes.extend_from_slice(&self.seq.to_ne_bytes());
        bytes.extend_from_slice(&0u32.to_ne_bytes());
        bytes.extend_from_slice(&self.payload);
        while !bytes.len().is_multiple_of(4) {
            bytes.push(0);
        }
        bytes
    }

    /// The kernel's `NLMSG_ERROR` answer to `request`: `errno` 0 acknowledges, any other
    /// refuses with that error (sent negated, as the kernel does), followed by the request's
    /// header.
    pub fn error_for(request: &Self, errno: i32) -> Self {
        let mut payload = (-errno).to_ne_bytes().to_vec();
        let header = request.to_bytes();
        payload.extend_from_slice(&header[..NETLINK_HEADER_LEN]);
        Self {
            kind: NLMSG_ERROR,
            flags: 0,
            seq: request.seq,
            payload,
        }
    }
}

/// How a [`RecordingNetlink`] answers one datagram it is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetlinkReply {
    /// Acknowledges (error 0) every message that asks for it (`NLM_F_ACK`), in one datagram;
    /// nothing if none does.
    Ack,
    /// Refuses with `errno` the first message that asks for an acknowledgement (the first
    /// message when none does, as the kernel refuses a get), in one datagram.
    Error(i32),
    /// These datagrams, as given.
    Datagrams(Vec<Vec<u8>>),
}

/// What a [`RecordingNetlink`] holds.
#[derive(Debug, Default)]
struct Recording {
    sent: Vec<Vec<u8>>,
    script: VecDeque<NetlinkReply>,
    pending: VecDeque<Vec<u8>>,
}

/// Records every datagram it is sent and answers each with the next scripted
/// [`NetlinkReply`] ([`NetlinkReply::Ack`] once the script is used up); for unit tests
/// without root. A receive with no answer pending fails with `WouldBlock` (as a socket's
/// receive timeout does) rather than waiting for good.
#[derive(Debug, Default)]
pub struct RecordingNetlink {
    recording: Mutex<Recording>,
}

impl RecordingNetlink {
    /// A recorder answering with `script`, in order, then with acknowledgements.
    pub fn scripted(script: impl IntoIterator<Item = NetlinkReply>) -> Self {
        Self {
            recording: Mutex::new(Recording {
                script: script.into_iter().collect(),
                ..Recording::default()
            }),
        }
    }

    /// Adds `reply` to the end of the script.
    pub fn reply(&self, reply: NetlinkReply) {
        self.lock().script.push_back(reply);
    }

    /// Every datagram sent so far, in order.
    pub fn sent(&self) -> Vec<Vec<u8>> {
        self.lock().sent.clone()
    }

    /// The messages of every datagram sent so far, in order.
    pub fn sent_messages(&self) -> Vec<NetlinkMessage> {
        self.lock()
            .sent
            .iter()
            .flat_map(|datagram| NetlinkMessage::parse(datagram))
            .collect()
    }

    /// How many answer datagrams are waiting to be received.
    pub fn pending(&self) -> usize {
        self.lock().pending.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recording> {
        self.recording.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl NetlinkSocket for RecordingNetlink {
    fn send(&self, datagram: &[u8]) -> io::Result<()> {
        let mut recording = self.lock();
        recording.sent.push(datagram.to_vec());
        let requests = NetlinkMessage::parse(datagram);
        let asking = || requests.iter().filter(|m| m.flags & NLM_F_ACK != 0);
        let answers = match recording.script.pop_front().unwrap_or(NetlinkReply::Ack) {
            NetlinkReply::Ack => {
                let acks: Vec<u8> = asking()
                    .flat_map(|m| NetlinkMessage::error_for(m, 0).to_bytes())
                    .collect();
                if acks.is_empty() { vec![] } else { vec![acks] }
            }
            NetlinkReply::Error(errno) => asking()
                .next()
                .or(requests.first())
                .map(|m| vec![NetlinkMessage::error_for(m, errno).to_bytes()])
                .unwrap_or_default(),
            NetlinkReply::Datagrams(datagrams) => datagrams,
        };
        recording.pending.extend(answers);
        Ok(())
    }

    fn recv(&self, buffer: &mut [u8]) -> io::Result<usize> {
        let datagram = self.lock().pending.pop_front().ok_or_else(|| {
            io::Error::new(io::ErrorKind::WouldBlock, "no netlink answer is scripted")
        })?;
        // A datagram longer than the buffer is cut, as recv(2) cuts it.
        let length = datagram.len().min(buffer.len());
        buffer[..length].copy_from_slice(&datagram[..length]);
        Ok(length)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u16, flags: u16, seq: u32, payload: &[u8]) -> NetlinkMessage {
        NetlinkMessage {
            kind,
            flags,
            seq,
            payload: payload.to_vec(),
        }
    }

    #[test]
    fn messages_round_trip_through_bytes() {
        let first = message(16, 0x405, 1, &[1, 2, 3]);
        let second = message(17, 0x1, 2, &[]);
        let mut datagram = first.to_bytes();
        assert_eq!(datagram.len(), 20);
        assert_eq!(u32::from_ne_bytes(datagram[0..4].try_into().unwrap()), 19);
        datagram.extend(second.to_bytes());
        // The length excludes the padding, so the payload comes back as it went.
        assert_eq!(NetlinkMessage::parse(&datagram), [first, second]);
        assert!(NetlinkMessage::parse(&datagram[..10]).is_empty());
    }

    #[test]
    fn the_recorder_acknowledges_what_asks_and_keeps_what_it_is_sent() {
        let recorder = RecordingNetlink::default();
        let mut datagram = message(16, 0x5, 7, &[0; 4]).to_bytes();
        datagram.extend(message(16, 0x1, 8, &[]).to_bytes());
        datagram.extend(message(16, 0x5, 9, &[]).to_bytes());
        recorder.send(&datagram).unwrap();
        assert_eq!(recorder.sent(), [datagram]);
        assert_eq!(recorder.sent_messages().len(), 3);

        let mut buffer = [0u8; 256];
        let length = recorder.recv(&mut buffer).unwrap();
        let acks = NetlinkMessage::parse(&buffer[..length]);
        assert_eq!(
            acks.iter().map(|m| (m.kind, m.seq)).collect::<Vec<_>>(),
            [(NLMSG_ERROR, 7), (NLMSG_ERROR, 9)]
        );
        assert_eq!(acks[0].payload[..4], 0i32.to_ne_bytes());
        // The request's header follows the code, as the kernel echoes it.
        assert_eq!(acks[0].payload[4..8], 20u32.to_ne_bytes());
        let nothing = recorder.recv(&mut buffer).unwrap_err();
        assert_eq!(nothing.kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn the_recorder_answers_as_scripted_then_acknowledges() {
        let recorder = RecordingNetlink::scripted([
            NetlinkReply::Error(19),
            NetlinkReply::Datagrams(vec![vec![1, 2, 3, 4, 5], vec![6]]),
        ]);
        let mut buffer = [0u8; 4];
        // A get asks for no acknowledgement; its refusal still comes.
        recorder.send(&message(18, 0x1, 1, &[]).to_bytes()).unwrap();
        let mut whole = [0u8; 64];
        let length = recorder.recv(&mut whole).unwrap();
        let refusal = NetlinkMessage::parse(&whole[..length]);
        assert_eq!(refusal[0].seq, 1);
        assert_eq!(refusal[0].payload[..4], (-19i32).to_ne_bytes());

        recorder.send(&message(18, 0x1, 2, &[]).to_bytes()).unwrap();
        assert_eq!(recorder.pending(), 2);
        // Cut to the buffer, as recv(2) does.
        assert_eq!(recorder.recv(&mut buffer).unwrap(), 4);
        assert_eq!(buffer, [1, 2, 3, 4]);
        assert_eq!(recorder.recv(&mut buffer).unwrap(), 1);

        recorder.reply(NetlinkReply::Ack);
        recorder.send(&message(16, 0x5, 3, &[]).to_bytes()).unwrap();
        recorder.send(&message(16, 0x5, 4, &[]).to_bytes()).unwrap();
        assert_eq!(recorder.pending(), 2);
    }

    /// The real kernel, no root needed: rtnetlink answers a get for the loopback interface
    /// (index 1 in every namespace) with its `RTM_NEWLINK`.
    #[test]
    fn linux_rtnetlink_answers_a_get() {
        let socket = LinuxNetlink::open(NetlinkProtocol::Route).unwrap();
        let mut ifinfomsg = [0u8; 16];
        ifinfomsg[4..8].copy_from_slice(&1u32.to_ne_bytes());
        socket
            .send(&message(18, 0x1, 42, &ifinfomsg).to_bytes())
            .unwrap();
        let mut buffer = vec![0u8; 16 * 1024];
        let length = socket.recv(&mut buffer).unwrap();
        let answer = NetlinkMessage::parse(&buffer[..length]);
        assert_eq!((answer[0].kind, answer[0].seq), (16, 42));
        assert_eq!(answer[0].payload[4..8], 1u32.to_ne_bytes());
        assert!(LinuxNetlink::open(NetlinkProtocol::Netfilter).is_ok());
    }
}

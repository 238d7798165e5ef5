//! A minimal netlink client: builds requests (`nlmsghdr`, a fixed header, attributes, nested
//! attributes) and reads the kernel's acknowledgements and replies — rtnetlink's, and
//! nfnetlink's for whole batches (`nf_sets.rs`). The socket under it is a
//! [`berth_sys::NetlinkSocket`]: the kernel's, which acts in the network namespace of the
//! thread that opened it whatever namespace that thread moves to later — which is how one
//! process configures both ends of a veth — or a recording one in unit tests.

use berth_sys::{
    LinuxNetlink, NLM_F_MULTI, NLMSG_DONE, NLMSG_ERROR, NetlinkProtocol, NetlinkSocket,
};

pub const RTM_NEWLINK: u16 = 16;
pub const RTM_DELLINK: u16 = 17;
pub const RTM_GETLINK: u16 = 18;
pub const RTM_NEWADDR: u16 = 20;
pub const RTM_NEWROUTE: u16 = 24;

pub const NLM_F_REQUEST: u16 = 0x1;
pub use berth_sys::NLM_F_ACK;
pub const NLM_F_EXCL: u16 = 0x200;
pub const NLM_F_CREATE: u16 = 0x400;

const HEADER_LEN: usize = berth_sys::NETLINK_HEADER_LEN;
/// Marks attributes that hold attributes. rtnetlink does not ask for it; nf_tables' newer
/// parsers do, and every kernel reads the kind without it.
const NLA_F_NESTED: u16 = 0x8000;

/// An rtnetlink request under construction.
pub struct Message {
    bytes: Vec<u8>,
    /// Where each open nested attribute starts.
    open: Vec<usize>,
}

impl Message {
    /// A request of `kind` with `flags` (NLM_F_REQUEST is added).
    pub fn new(kind: u16, flags: u16) -> Self {
        let mut bytes = Vec::with_capacity(128);
        bytes.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_len, set by `finish`
        bytes.extend_from_slice(&kind.to_ne_bytes());
        bytes.extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        bytes.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_seq, set when sent
        bytes.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid: the kernel's
        Self {
            bytes,
            open: Vec::new(),
        }
    }

    /// Appends the request's fixed header (`ifinfomsg`, `ifaddrmsg`, `rtmsg`, ...).
    pub fn header(mut self, header: &[u8]) -> Self {
        self.bytes.extend_from_slice(header);
        self.pad();
        self
    }

    /// Appends attribute `kind` holding `value`.
    pub fn attr(mut self, kind: u16, value: &[u8]) -> Self {
        let len = u16::try_from(4 + value.len()).unwrap_or(u16::MAX);
        self.bytes.extend_from_slice(&len.to_ne_bytes());
        self.bytes.extend_from_slice(&kind.to_ne_bytes());
        self.bytes.extend_from_slice(value);
        self.pad();
        self
    }

    /// Appends a NUL-terminated string attribute.
    pub fn string(self, kind: u16, value: &str) -> Self {
        let mut bytes = value.as_bytes().to_vec();
        bytes.push(0);
        self.attr(kind, &bytes)
    }

    /// Opens nested attribute `kind`: the attributes up to the matching [`close`](Self::close)
    /// go inside it.
    pub fn open(mut self, kind: u16) -> Self {
        self.open.push(self.bytes.len());
        self.bytes.extend_from_slice(&0u16.to_ne_bytes());
        self.bytes
            .extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
        self
    }

    /// Closes the innermost open nested attribute.
    pub fn close(mut self) -> Self {
        if let Some(start) = self.open.pop() {
            let len = u16::try_from(self.bytes.len() - start).unwrap_or(u16::MAX);
            self.bytes[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        }
        self
    }

    /// The bytes to send, sequence number `seq`.
    fn finish(&self, seq: u32) -> Vec<u8> {
        let mut bytes = self.bytes.clone();
        let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        bytes[0..4].copy_from_slice(&len.to_ne_bytes());
        bytes[8..12].copy_from_slice(&seq.to_ne_bytes());
        bytes
    }

    fn pad(&mut self) {
        while !self.bytes.len().is_multiple_of(4) {
            self.bytes.push(0);
        }
    }
}

/// A netlink socket, acting in the network namespace it was opened in.
pub struct Netlink {
    socket: Box<dyn NetlinkSocket>,
    seq: std::cell::Cell<u32>,
}

impl Netlink {
    /// An rtnetlink socket in the calling thread's network namespace.
    pub fn open() -> std::io::Result<Self> {
        Ok(Self::over(LinuxNetlink::open(NetlinkProtocol::Route)?))
    }

    /// An nfnetlink socket (nf_tables and the rest of netfilter) in the calling thread's
    /// network namespace.
    pub fn open_netfilter() -> std::io::Result<Self> {
        Ok(Self::over(LinuxNetlink::open(NetlinkProtocol::Netfilter)?))
    }

    /// A client over `socket` — a [`berth_sys::RecordingNetlink`] in tests.
    pub fn over(socket: impl NetlinkSocket) -> Self {
        Self {
            socket: Box::new(socket),
            seq: std::cell::Cell::new(0),
        }
    }

    /// Sends `messages` in one datagram — an nfnetlink batch, begin and end messages
    /// included, which the kernel applies as one transaction — and waits for the answer to
    /// each message that asks for an acknowledgement (`NLM_F_ACK`); the first failure is the
    /// error.
    pub fn batch(&self, messages: &[Message]) -> std::io::Result<()> {
        let mut datagram = Vec::new();
        let mut sent = Vec::new();
        let mut awaited = Vec::new();
        for message in messages {
            let seq = self.next_seq();
            let bytes = message.finish(seq);
            if u16::from_ne_bytes([bytes[6], bytes[7]]) & NLM_F_ACK != 0 {
                awaited.push(seq);
            }
            sent.push(seq);
            datagram.extend_from_slice(&bytes);
        }
        self.transmit(&datagram)?;
        while !awaited.is_empty() {
            let reply = self.receive()?;
            // A refused message may be one that asked for no answer (a malformed batch
            // begin): any failure of the batch ends the wait.
            for part in parts(&reply) {
                if part.kind == NLMSG_ERROR && sent.contains(&part.seq) {
                    error_of(part.payload)?;
                    awaited.retain(|&seq| seq != part.seq);
                }
            }
        }
        Ok(())
    }

    /// Sends `message` asking for an acknowledgement; `Ok` once the kernel says it is done.
    pub fn request(&self, message: Message) -> std::io::Result<()> {
        let seq = self.send(&message, NLM_F_ACK)?;
        loop {
            let reply = self.receive()?;
            for part in parts(&reply) {
                if part.seq == seq && part.kind == NLMSG_ERROR {
                    return error_of(part.payload);
                }
            }
        }
    }

    /// Sends `message` (a get request) and returns the payload of the kernel's answer: the
    /// fixed header and attributes of the object asked for. An answer in parts
    /// (`NLM_F_MULTI`) is read to its `NLMSG_DONE`, so none of it is left in the socket to
    /// fill its buffer; the first part is the answer.
    pub fn query(&self, message: Message) -> std::io::Result<Vec<u8>> {
        let seq = self.send(&message, 0)?;
        let mut answer: Option<Vec<u8>> = None;
        loop {
            let reply = self.receive()?;
            for part in parts(&reply) {
                if part.seq != seq {
                    continue;
                }
                match part.kind {
                    NLMSG_ERROR => {
                        error_of(part.payload)?;
                        // An acknowledgement ends the answer; there may have been none.
                        return answer
                            .ok_or_else(|| std::io::Error::other("empty rtnetlink answer"));
                    }
                    NLMSG_DONE => {
                        // A dump that failed part way says so in its end (a negative errno).
                        if part.payload.len() >= 4 {
                            error_of(part.payload)?;
                        }
                        return answer
                            .ok_or_else(|| std::io::Error::other("empty rtnetlink answer"));
                    }
                    _ if part.flags & NLM_F_MULTI == 0 => {
                        return Ok(answer.unwrap_or_else(|| part.payload.to_vec()));
                    }
                    _ => {
                        answer.get_or_insert_with(|| part.payload.to_vec());
                    }
                }
            }
        }
    }

    fn next_seq(&self) -> u32 {
        let seq = self.seq.get().wrapping_add(1);
        self.seq.set(seq);
        seq
    }

    fn send(&self, message: &Message, extra_flags: u16) -> std::io::Result<u32> {
        let seq = self.next_seq();
        let mut bytes = message.finish(seq);
        let flags = u16::from_ne_bytes([bytes[6], bytes[7]]) | extra_flags;
        bytes[6..8].copy_from_slice(&flags.to_ne_bytes());
        self.transmit(&bytes)?;
        Ok(seq)
    }

    /// Sends one datagram to the kernel.
    fn transmit(&self, datagram: &[u8]) -> std::io::Result<()> {
        self.socket.send(datagram)
    }

    fn receive(&self) -> std::io::Result<Vec<u8>> {
        let mut buffer = vec![0u8; 16 * 1024];
        let length = self.socket.recv(&mut buffer)?;
        buffer.truncate(length);
        Ok(buffer)
    }
}

/// One message of a datagram.
struct Part<'a> {
    kind: u16,
    flags: u16,
    seq: u32,
    payload: &'a [u8],
}

/// The messages in a datagram the kernel sent.
fn parts(datagram: &[u8]) -> Vec<Part<'_>> {
    let mut parts = Vec::new();
    let mut rest = datagram;
    while rest.len() >= HEADER_LEN {
        let len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if len < HEADER_LEN || len > rest.len() {
            break;
        }
        parts.push(Part {
            kind: u16::from_ne_bytes([rest[4], rest[5]]),
            flags: u16::from_ne_bytes([rest[6], rest[7]]),
            seq: u32::from_ne_bytes([rest[8], rest[9], rest[10], rest[11]]),
            payload: &rest[HEADER_LEN..len],
        });
        rest = &rest[len.next_multiple_of(4).min(rest.len())..];
    }
    parts
}

/// An `NLMSG_ERROR` payload: 0 is success, `-errno` a failure.
fn error_of(payload: &[u8]) -> std::io::Result<()> {
    let code = payload
        .get(0..4)
        .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| std::io::Error::other("short rtnetlink answer"))?;
    match code {
        0 => Ok(()),
        negative => Err(std::io::Error::from_raw_os_error(-negative)),
    }
}

/// The attributes after a payload's fixed header of `header_len` bytes: `(kind, value)`.
pub fn attributes(payload: &[u8], header_len: usize) -> Vec<(u16, &[u8])> {
    let mut found = Vec::new();
    let mut rest = payload.get(header_len..).unwrap_or_default();
    while rest.len() >= 4 {
        let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
        if len < 4 || len > rest.len() {
            break;
        }
        let kind = u16::from_ne_bytes([rest[2], rest[3]]) & !NLA_F_NESTED;
        found.push((kind, &rest[4..len]));
        rest = &rest[len.next_multiple_of(4).min(rest.len())..];
    }
    found
}

/// For unit tests: a client over a recording socket, and the bytes the kernel expects
/// written out independently of [`Message`], so the tests check the builder rather than
/// repeat it.
#[cfg(test)]
pub(crate) mod testing {
    use std::sync::Arc;

    use berth_sys::{NetlinkMessage, NetlinkReply, RecordingNetlink};

    use super::{NLA_F_NESTED, Netlink};

    /// A client over a fresh recorder answering with `script`, then acknowledgements.
    pub fn recorded(
        script: impl IntoIterator<Item = NetlinkReply>,
    ) -> (Netlink, Arc<RecordingNetlink>) {
        let recorder = Arc::new(RecordingNetlink::scripted(script));
        (Netlink::over(Arc::clone(&recorder)), recorder)
    }

    /// Attribute `kind` holding `value`, padded to 4 bytes.
    pub fn attr(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&u16::try_from(4 + value.len()).unwrap().to_ne_bytes());
        bytes.extend_from_slice(&kind.to_ne_bytes());
        bytes.extend_from_slice(value);
        bytes.resize(bytes.len().next_multiple_of(4), 0);
        bytes
    }

    /// Nested attribute `kind` holding the attributes `inner`.
    pub fn nest(kind: u16, inner: &[u8]) -> Vec<u8> {
        let mut bytes = attr(kind | NLA_F_NESTED, inner);
        bytes.truncate(4 + inner.len());
        bytes
    }

    /// A whole message: `nlmsghdr` then `body`.
    pub fn message(kind: u16, flags: u16, seq: u32, body: &[u8]) -> Vec<u8> {
        NetlinkMessage {
            kind,
            flags,
            seq,
            payload: body.to_vec(),
        }
        .to_bytes()
    }

    /// The kernel's answer to get request `seq`: one `RTM_NEWLINK`-like message holding `body`.
    pub fn answer(kind: u16, seq: u32, body: &[u8]) -> NetlinkReply {
        NetlinkReply::Datagrams(vec![message(kind, 0, seq, body)])
    }
}

#[cfg(test)]
mod tests {
    use berth_sys::{NetlinkMessage, NetlinkReply};

    use super::testing::{message, recorded};
    use super::*;

    /// An acknowledgement (0) or refusal (`errno`) of message `seq`, as the kernel sends it.
    fn ack(seq: u32, errno: i32) -> Vec<u8> {
        let request = NetlinkMessage {
            kind: RTM_NEWLINK,
            flags: NLM_F_REQUEST | NLM_F_ACK,
            seq,
            payload: vec![],
        };
        NetlinkMessage::error_for(&request, errno).to_bytes()
    }

    #[test]
    fn a_request_asks_for_an_acknowledgement_under_a_fresh_sequence_number() {
        let (netlink, recorder) = recorded([]);
        netlink
            .request(Message::new(RTM_NEWLINK, 0).header(&[0; 16]))
            .unwrap();
        netlink
            .request(Message::new(RTM_DELLINK, 0).header(&[1; 16]))
            .unwrap();
        assert_eq!(
            recorder.sent(),
            [
                message(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, 1, &[0; 16]),
                message(RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, 2, &[1; 16]),
            ]
        );
        assert_eq!(recorder.pending(), 0);
    }

    #[test]
    fn a_refusal_is_the_errno_it_carries() {
        let (netlink, _) = recorded([NetlinkReply::Error(17)]);
        let error = netlink
            .request(Message::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL))
            .unwrap_err();
        assert_eq!(error.raw_os_error(), Some(17));
        assert_eq!(error.kind(), std::io::ErrorKind::AlreadyExists);

        // A get that finds nothing is refused too (ENODEV), not answered empty.
        let (netlink, _) = recorded([NetlinkReply::Error(19)]);
        let error = netlink.query(Message::new(RTM_GETLINK, 0)).unwrap_err();
        assert_eq!(error.raw_os_error(), Some(19));
    }

    #[test]
    fn answers_to_other_requests_are_passed_over() {
        // A late answer to an earlier request (seq 9) arrives first.
        let (netlink, recorder) = recorded([NetlinkReply::Datagrams(vec![
            ack(9, 17),
            [ack(8, 0), ack(1, 0)].concat(),
        ])]);
        netlink.request(Message::new(RTM_NEWLINK, 0)).unwrap();
        assert_eq!(recorder.pending(), 0);
    }

    #[test]
    fn a_multi_part_answer_is_read_to_its_end() {
        let multi = |payload: &[u8]| message(RTM_NEWLINK, NLM_F_MULTI, 1, payload);
        let (netlink, recorder) = recorded([
            NetlinkReply::Datagrams(vec![
                [multi(&[1; 16]), multi(&[2; 16])].concat(),
                [
                    multi(&[3; 16]),
                    message(NLMSG_DONE, NLM_F_MULTI, 1, &0i32.to_ne_bytes()),
                ]
                .concat(),
            ]),
            NetlinkReply::Ack,
            // A dump cut short says so in its end.
            NetlinkReply::Datagrams(vec![
                multi(&[4; 16]),
                message(NLMSG_DONE, NLM_F_MULTI, 3, &(-4i32).to_ne_bytes()),
            ]),
            NetlinkReply::Datagrams(vec![message(NLMSG_DONE, NLM_F_MULTI, 4, &[0; 4])]),
        ]);
        let answer = netlink.query(Message::new(RTM_GETLINK, 0)).unwrap();
        assert_eq!(answer, [1; 16]);
        // Nothing of it is left for the next request to wade through.
        assert_eq!(recorder.pending(), 0);
        netlink.request(Message::new(RTM_NEWLINK, 0)).unwrap();

        let cut = netlink.query(Message::new(RTM_GETLINK, 0)).unwrap_err();
        assert_eq!(cut.raw_os_error(), Some(4));
        let empty = netlink.query(Message::new(RTM_GETLINK, 0)).unwrap_err();
        assert_eq!(empty.to_string(), "empty rtnetlink answer");
        assert_eq!(recorder.pending(), 0);
    }

    #[test]
    fn a_batch_is_one_datagram_awaiting_each_acknowledgement_asked_for() {
        let batch = || {
            [
                Message::new(0x10, 0),
                Message::new(0x0a0c, NLM_F_ACK),
                Message::new(0x0a0e, NLM_F_ACK),
                Message::new(0x11, 0),
            ]
        };
        // The acknowledgements come in two datagrams: both are waited for.
        let (netlink, recorder) = recorded([NetlinkReply::Datagrams(vec![ack(2, 0), ack(3, 0)])]);
        netlink.batch(&batch()).unwrap();
        assert_eq!(recorder.pending(), 0);
        assert_eq!(
            recorder.sent(),
            [[
                message(0x10, NLM_F_REQUEST, 1, &[]),
                message(0x0a0c, NLM_F_REQUEST | NLM_F_ACK, 2, &[]),
                message(0x0a0e, NLM_F_REQUEST | NLM_F_ACK, 3, &[]),
                message(0x11, NLM_F_REQUEST, 4, &[]),
            ]
            .concat()]
        );

        // A refused begin marker (it asked for no answer) fails the batch all the same.
        let (netlink, _) = recorded([NetlinkReply::Datagrams(vec![ack(1, 22)])]);
        assert_eq!(
            netlink.batch(&batch()).unwrap_err().raw_os_error(),
            Some(22)
        );

        // So does an acknowledgement that never comes (the socket's receive timeout).
        let (netlink, _) = recorded([NetlinkReply::Datagrams(vec![ack(2, 0)])]);
        assert_eq!(
            netlink.batch(&batch()).unwrap_err().kind(),
            std::io::ErrorKind::WouldBlock
        );
    }

    #[test]
    fn messages_carry_their_length_sequence_and_padded_attributes() {
        let bytes = Message::new(RTM_NEWLINK, NLM_F_CREATE)
            .header(&[0u8; 16])
            .string(3, "br0")
            .open(18)
            .string(1, "bridge")
            .close()
            .finish(7);
        assert_eq!(bytes.len() % 4, 0);
        assert_eq!(
            u32::from_ne_bytes(bytes[0..4].try_into().unwrap()) as usize,
            bytes.len()
        );
        assert_eq!(
            u16::from_ne_bytes(bytes[6..8].try_into().unwrap()),
            NLM_F_CREATE | NLM_F_REQUEST
        );
        assert_eq!(u32::from_ne_bytes(bytes[8..12].try_into().unwrap()), 7);
        let found = attributes(&bytes[HEADER_LEN..], 16);
        assert_eq!(found[0], (3, &b"br0\0"[..]));
        assert_eq!(found[1].0, 18);
        assert_eq!(attributes(found[1].1, 0), vec![(1, &b"bridge\0"[..])]);
    }

    #[test]
    fn error_payloads_map_to_results() {
        assert!(error_of(&0i32.to_ne_bytes()).is_ok());
        assert_eq!(
            error_of(&(-17i32).to_ne_bytes())
                .unwrap_err()
                .raw_os_error(),
            Some(17)
        );
        assert!(error_of(&[1, 2]).is_err());
    }
}

//! The thin seams over the syscalls berth's node side makes. Each seam is a trait with a
//! Linux implementation and a recording one, so that ordering and rollback logic can be
//! unit-tested without root while the real kernel is exercised by integration tests:
//! [`Mounter`] (overlay mounts), [`Signaller`] (kill(2)) and [`NetlinkSocket`] (the
//! rtnetlink and nfnetlink sockets `berth-net` talks through).
//!
//! rustix gives safe wrappers for every call made here, so this crate needs no `unsafe`.

mod mount;
mod netlink;
mod signal;
mod tmpfs;

pub use mount::{LinuxMounter, MountError, Mounter, OverlayMount, RecordedMount, RecordingMounter};
pub use netlink::{
    LinuxNetlink, NETLINK_HEADER_LEN, NLM_F_ACK, NLM_F_MULTI, NLMSG_DONE, NLMSG_ERROR,
    NetlinkMessage, NetlinkProtocol, NetlinkReply, NetlinkSocket, RecordingNetlink,
};
pub use signal::{
    LinuxSignaller, RecordedSignal, RecordingSignaller, Signal, SignalError, Signaller,
};
pub use tmpfs::{ensure_tmpfs, is_tmpfs};

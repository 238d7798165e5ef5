//! Handing a task to a supervisor that was started ahead of time (a "pooled" one, whose
//! sandbox namespaces already exist): one message on the socket pair the agent holds, with the
//! task's directory as its bytes and, passed as file descriptors, the task's listening socket
//! and its supervisor log.

use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

/// What a pooled supervisor receives.
pub struct Handoff {
    /// The task's directory, holding its plan.
    pub task_dir: PathBuf,
    /// The task's socket, bound and listening.
    pub listener: OwnedFd,
    /// Where the supervisor's own diagnostics go.
    pub log: OwnedFd,
}

/// Sends task `task_dir` to the pooled supervisor at the other end of `stream`.
pub fn send(
    stream: &UnixStream,
    task_dir: &Path,
    listener: impl AsFd,
    log: impl AsFd,
) -> std::io::Result<()> {
    let fds = [listener.as_fd(), log.as_fd()];
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(2))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(std::io::Error::other("no room for the file descriptors"));
    }
    let path = task_dir.as_os_str().as_bytes();
    let sent = rustix::net::sendmsg(
        stream,
        &[IoSlice::new(path)],
        &mut control,
        SendFlags::NOSIGNAL,
    )?;
    if sent != path.len() {
        return Err(std::io::Error::other("the hand-off was cut short"));
    }
    Ok(())
}

/// Waits for a task on `stream`; `None` when the agent closed it instead (berth went away or
/// no longer needs this supervisor).
pub fn receive(stream: &UnixStream) -> std::io::Result<Option<Handoff>> {
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(2))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut bytes = vec![0u8; 4096];
    let received = loop {
        match rustix::net::recvmsg(
            stream,
            &mut [IoSliceMut::new(&mut bytes)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        ) {
            Ok(received) => break received,
            Err(rustix::io::Errno::INTR) => {}
            Err(error) => return Err(error.into()),
        }
    };
    if received.bytes == 0 {
        return Ok(None);
    }
    let mut fds: Vec<OwnedFd> = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(passed) = message {
            fds.extend(passed);
        }
    }
    let [listener, log]: [OwnedFd; 2] = fds
        .try_into()
        .map_err(|_| std::io::Error::other("a hand-off carries two file descriptors"))?;
    bytes.truncate(received.bytes);
    Ok(Some(Handoff {
        task_dir: PathBuf::from(std::ffi::OsStr::from_bytes(&bytes)),
        listener,
        log,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn a_task_directory_and_two_descriptors_cross_over() {
        let (agent, supervisor) = UnixStream::pair().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (mut ours, theirs) = UnixStream::pair().unwrap();
        let log = std::fs::File::create(dir.path().join("shim.log")).unwrap();
        send(&agent, dir.path(), &theirs, &log).unwrap();
        let handoff = receive(&supervisor).unwrap().unwrap();
        assert_eq!(handoff.task_dir, dir.path());
        // The descriptors are the same open files: write through them, read here.
        let mut passed = UnixStream::from(handoff.listener);
        passed.write_all(b"ping").unwrap();
        let mut got = [0u8; 4];
        ours.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"ping");
        let mut file = std::fs::File::from(handoff.log);
        file.write_all(b"logged").unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("shim.log")).unwrap(),
            "logged"
        );
        drop(agent);
        assert!(receive(&supervisor).unwrap().is_none());
    }
}

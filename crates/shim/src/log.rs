//! Where the supervisor's own diagnostics go: a descriptor of its own, close-on-exec, rather
//! than standard error. libcontainer logs from a container's init process too, which is
//! forked from the supervisor but whose standard error is by then the container's own log:
//! written to this descriptor, those lines land in the supervisor's log, never in the
//! container's output.

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::OnceLock;

static LOG: OnceLock<std::fs::File> = OnceLock::new();

/// Takes a close-on-exec copy of standard error as the log. Call it once, first thing.
pub fn open() -> std::io::Result<()> {
    let copy = rustix::io::fcntl_dupfd_cloexec(std::io::stderr(), 3)?;
    let _ = LOG.set(std::fs::File::from(copy));
    Ok(())
}

/// From now on the log is `file` (a warm supervisor's, once it has its task).
pub fn redirect(file: impl AsFd) -> std::io::Result<()> {
    let Some(log) = LOG.get() else {
        return Ok(());
    };
    nix::unistd::dup2(file.as_fd().as_raw_fd(), log.as_raw_fd()).map_err(std::io::Error::from)?;
    // dup2 clears close-on-exec on its target: set it again.
    rustix::io::fcntl_setfd(log, rustix::io::FdFlags::CLOEXEC)?;
    Ok(())
}

/// A writer for `tracing`: to the log once [`open`]ed, else to standard error.
pub fn writer() -> Writer {
    Writer
}

/// See [`writer`].
pub struct Writer;

impl Write for Writer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        match LOG.get() {
            Some(mut log) => log.write(bytes),
            None => std::io::stderr().write(bytes),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

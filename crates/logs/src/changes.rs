//! Waking a log follower as soon as a log directory changes (a record appended, a file
//! rotated, the exited marker written), through inotify, instead of polling on a timer.

use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::fs::inotify::{self, CreateFlags, WatchFlags};

/// Changes to one directory.
pub struct DirChanges {
    /// `None` when inotify could not watch the directory: waits then just sleep.
    inotify: Option<OwnedFd>,
}

impl DirChanges {
    /// Watches `dir` for files created, written, renamed in or closed after writing.
    pub fn watch(dir: &Path) -> Self {
        let inotify = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK)
            .ok()
            .filter(|fd| {
                inotify::add_watch(
                    fd,
                    dir,
                    WatchFlags::CREATE
                        | WatchFlags::MODIFY
                        | WatchFlags::MOVED_TO
                        | WatchFlags::CLOSE_WRITE,
                )
                .is_ok()
            });
        Self { inotify }
    }

    /// Returns once the directory changed since the last call, or after `timeout`.
    pub fn wait(&self, timeout: Duration) {
        let Some(fd) = &self.inotify else {
            std::thread::sleep(timeout);
            return;
        };
        let timeout = Timespec {
            tv_sec: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(timeout.subsec_nanos()),
        };
        let mut fds = [PollFd::new(fd, PollFlags::IN)];
        if rustix::event::poll(&mut fds, Some(&timeout)).unwrap_or(0) > 0 {
            // Drain the events: which file changed does not matter, only that one did.
            let mut buffer = [0u8; 4096];
            while rustix::io::read(fd, &mut buffer).is_ok_and(|n| n > 0) {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn wakes_on_a_write_and_times_out_without_one() {
        let dir = tempfile::tempdir().unwrap();
        let changes = DirChanges::watch(dir.path());
        let started = Instant::now();
        changes.wait(Duration::from_millis(50));
        assert!(started.elapsed() >= Duration::from_millis(50));
        std::fs::write(dir.path().join("app.log"), b"x").unwrap();
        let started = Instant::now();
        changes.wait(Duration::from_secs(10));
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}

//! What the supervisor's loop hears: each container's thread, the agent's connections and the
//! requests on them all report to it as one [`Event`] stream, so the loop alone decides.

use std::os::unix::net::UnixStream;

/// Something the loop must act on.
pub(crate) enum Event {
    /// Container `index` started; `pid` is its init in the host's PID namespace.
    Started { index: usize, pid: i32 },
    /// Container `index` could not be created or started.
    StartFailed { index: usize, error: String },
    /// Created while the plan held, then deleted unstarted: the task stopped first.
    NotStarted { index: usize },
    /// The agent confirmed the images: held containers may start.
    Go,
    /// A client (the agent) closed its connection.
    Disconnected,
    /// Container `index` exited with `code` (`oom`: the kernel's OOM killer ended it).
    Exited { index: usize, code: i32, oom: bool },
    /// A container's thread deleted it.
    Deleted,
    /// The agent asked the task to stop.
    Stop,
    /// A client connected to the socket.
    Connected(UnixStream),
}

//! The task supervisor ("shim"), one small process per task, as containerd-shim and conmon are
//! for their runtimes. The agent prepares a task — images, root filesystem leases, cgroup, one
//! OCI spec per container — writes it down as a [`TaskPlan`] and starts `berth shim TASK_DIR`,
//! or hands it to a supervisor started ahead of need (`berth shim --pooled`, [`handoff`]).
//! From then on the shim owns the task:
//!
//! - it holds the task's network, UTS and IPC namespaces (its sandbox), which every container
//!   joins, and a mount namespace of its own where it mounts the containers' root filesystems
//!   (so the host's mount table does not grow with the number of tasks, and nothing stays
//!   mounted once the task is gone);
//! - it starts the containers in `dependsOn` order through libcontainer, so it is their parent
//!   and the one that learns their exit codes;
//! - it copies their output into timestamped, rotated log files;
//! - it stops the task when an essential container exits or the agent asks (stop signal, then
//!   SIGKILL after the stop timeout), and deletes the containers;
//! - it records every change in `state.json` and streams it to the agent over `shim.sock`.
//!
//! Because berth is not the containers' parent, tasks keep running when berth dies; a new
//! berth reconnects to the socket (or, if the shim finished meanwhile, reads `state.json`).
//! The shim may be older or newer than the berth that finds it: plan, state and requests are
//! versioned, and [`protocol`] says how each side treats the other's version.
//!
//! The shim says what happened in its own terms ([`StopCause`], [`ContainerReason`]); how a
//! user is told (ECS's stop codes and reasons) is the agent's business.

mod container;
mod deps;
mod effects;
mod events;
pub mod handoff;
pub mod log;
mod plan;
pub mod protocol;
mod sandbox;
mod state;
mod supervisor;
mod worker;

pub use deps::{Readiness, readiness};
pub use plan::{Condition, Dependency, PlannedContainer, PlannedNetwork, RootfsMount, TaskPlan};
pub use state::{ContainerReason, ContainerState, ContainerStatus, Phase, ShimState, StopCause};
pub use supervisor::{run, run_pooled};

use std::path::{Path, PathBuf};

/// The supervisor protocol's version this build speaks, and the newest it reads: what plans
/// and states carry as `version` ([`protocol`] says when it changes).
pub const PROTOCOL_VERSION: u32 = 2;

/// The protocol's version of a plan or state without a `version` field.
pub const FIRST_PROTOCOL_VERSION: u32 = 1;

/// The files a task's supervisor keeps in its directory (the agent puts it on a tmpfs: they
/// are made and replaced for every task and need not outlive the machine).
#[derive(Debug, Clone)]
pub struct ShimFiles {
    /// The plan the agent wrote.
    pub plan: PathBuf,
    /// The supervisor's latest [`ShimState`].
    pub state: PathBuf,
    /// The socket the agent connects to.
    pub socket: PathBuf,
}

impl ShimFiles {
    /// The files for the task whose supervisor directory is `task_dir`.
    pub fn new(task_dir: &Path) -> Self {
        Self {
            plan: task_dir.join("plan.json"),
            state: task_dir.join("state.json"),
            socket: task_dir.join("shim.sock"),
        }
    }
}

/// What the agent may send on the socket, one JSON value per line (`"stop"`, `"go"`). Not
/// versioned: these encodings are version 1's and stay so, so that any agent can stop any
/// supervisor (see [`protocol`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Request {
    /// Stop the task: every running container gets its stop signal, then SIGKILL after the
    /// plan's stop timeout; containers held for [`Request::Go`] are deleted unstarted.
    Stop,
    /// Start the containers a plan with `hold` created: the images they were made from are
    /// confirmed.
    Go,
}

/// Why the supervisor could not run a task.
#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    /// Reading or writing its files.
    #[error("{what}: {source}")]
    Io {
        /// What it was doing.
        what: String,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// The plan could not be read.
    #[error("cannot read the task plan: {0}")]
    PlanUnreadable(std::io::Error),
    /// The plan is not valid JSON for a [`TaskPlan`].
    #[error("invalid task plan: {0}")]
    Plan(#[from] serde_json::Error),
    /// The plan is of a protocol version newer than this supervisor's.
    #[error(
        "the task plan is of protocol version {version}; this supervisor runs versions {} to {}",
        FIRST_PROTOCOL_VERSION,
        PROTOCOL_VERSION
    )]
    PlanVersion {
        /// The version it names.
        version: u32,
    },
    /// The sandbox namespaces could not be created.
    #[error("cannot create the task's sandbox: {0}")]
    Sandbox(String),
}

impl ShimError {
    /// The task's stop cause when this error keeps the supervisor from running it.
    pub(crate) fn stop_cause(&self) -> StopCause {
        let error = self.to_string();
        match self {
            ShimError::PlanUnreadable(_) | ShimError::Plan(_) | ShimError::PlanVersion { .. } => {
                StopCause::PlanUnusable { error }
            }
            ShimError::Io { .. } | ShimError::Sandbox(_) => StopCause::SetupFailed { error },
        }
    }
}

pub(crate) fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ShimError {
    let what = what.into();
    move |source| ShimError::Io { what, source }
}

/// `error` and its causes, as one line ("a: b: c"): what a stop cause's or container
/// reason's `error` holds.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

//! What the supervisor observed, kept in `state.json` and streamed to the agent: phases,
//! containers, and why the task stops — as typed causes in the supervisor's own terms
//! ([`StopCause`], [`ContainerReason`]). Wording them for a user (ECS's stop codes and
//! reasons) is the agent's business; the wire form of every type here is the protocol's
//! current version (see [`crate::protocol`]).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::plan::TaskPlan;
use crate::{ShimError, io_error};

/// Where the task is in its life, as the supervisor sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Phase {
    /// Containers are being started (some may wait on their dependencies).
    Starting,
    /// Every container has been started (some may have exited since).
    Running,
    /// Containers are being stopped.
    Stopping,
    /// Every container has exited and been deleted; the supervisor is done.
    Stopped,
}

/// A container's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ContainerStatus {
    /// Not started yet.
    Pending,
    /// Started and not exited.
    Running,
    /// Exited, or will never start.
    Stopped,
}

/// One container, as observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerState {
    /// Its name.
    pub name: String,
    /// Its status.
    pub status: ContainerStatus,
    /// Its init process, in the host's PID namespace, once started.
    pub pid: Option<i32>,
    /// Its exit code (128 + signal when killed), once exited.
    pub exit_code: Option<i32>,
    /// Why it stopped, when not (only) by exiting: killed for memory, never started, ...
    pub reason: Option<ContainerReason>,
    /// When it started, milliseconds since the epoch.
    pub started_at_ms: Option<i64>,
    /// When it exited.
    pub stopped_at_ms: Option<i64>,
}

/// Why a container stopped, besides its exit code. On the wire an object tagged by `kind`
/// (`{"kind": "outOfMemory"}`, `{"kind": "startFailed", "error": "..."}`); a new variant is a
/// new protocol version, because an older agent cannot read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ContainerReason {
    /// The kernel's OOM killer ended it (its memory cgroup says so).
    OutOfMemory,
    /// It could not be created or started (libcontainer's error, or the supervisor's: its
    /// log, its pipes, its thread).
    StartFailed {
        /// What failed, with its causes.
        error: String,
    },
    /// Its root filesystem could not be mounted: it never started.
    NotMounted {
        /// The mount's error, with its causes.
        error: String,
    },
    /// A `dependsOn` condition of it can no longer be met: it never started.
    DependencyNeverMet {
        /// Which condition, and what the container depended on did instead.
        why: String,
    },
    /// The task's network interface could not be set up: no container started.
    NetworkNotWired {
        /// The wiring's error, with its causes.
        error: String,
    },
}

/// Why the task stops: the first thing that stopped it (later ones do not replace it). On
/// the wire an object tagged by `kind` (`{"kind": "stopRequested"}`,
/// `{"kind": "essentialContainerExited", "container": "app"}`); a new variant is a new
/// protocol version, because an older agent cannot read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum StopCause {
    /// An essential container exited.
    EssentialContainerExited {
        /// Its name.
        container: String,
    },
    /// Every container exited, none of them essential.
    AllContainersExited,
    /// The agent asked (`Request::Stop`).
    StopRequested,
    /// The agent went away while the containers were held for its go: no one is left to
    /// confirm their images, so they were deleted unstarted.
    AgentLost,
    /// An essential container's `dependsOn` condition can no longer be met.
    DependencyNeverMet {
        /// The container that will never start.
        container: String,
        /// Which condition, and what the container depended on did instead.
        why: String,
    },
    /// A container could not be created or started (its reason says the same): the task
    /// fails, essential or not, as ECS's does.
    StartFailed {
        /// Its name.
        container: String,
        /// What failed, with its causes.
        error: String,
    },
    /// A container's root filesystem could not be mounted.
    RootFilesystemNotMounted {
        /// Its name.
        container: String,
        /// The mount's error, with its causes.
        error: String,
    },
    /// The task's network interface could not be set up.
    NetworkNotWired {
        /// The wiring's error, with its causes.
        error: String,
    },
    /// The plan could not be read, or is of a protocol version this supervisor does not run.
    PlanUnusable {
        /// Why.
        error: String,
    },
    /// The supervisor could not set itself up (its sandbox, its socket, its threads).
    SetupFailed {
        /// Why.
        error: String,
    },
}

/// Everything the supervisor observed about its task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShimState {
    /// The protocol version it is written in: [`crate::PROTOCOL_VERSION`] (version 1 had
    /// no such field).
    pub version: u32,
    /// The supervisor's process.
    pub shim_pid: u32,
    /// Where the task is.
    pub phase: Phase,
    /// Its containers, in the plan's order.
    pub containers: Vec<ContainerState>,
    /// Why it is stopping, once it is.
    pub stop: Option<StopCause>,
}

impl ShimState {
    /// The state of `plan` before anything has started.
    pub fn new(plan: &TaskPlan) -> Self {
        Self {
            version: crate::PROTOCOL_VERSION,
            shim_pid: std::process::id(),
            phase: Phase::Starting,
            containers: plan
                .containers
                .iter()
                .map(|c| ContainerState {
                    name: c.name.clone(),
                    status: ContainerStatus::Pending,
                    pid: None,
                    exit_code: None,
                    reason: None,
                    started_at_ms: None,
                    stopped_at_ms: None,
                })
                .collect(),
            stop: None,
        }
    }

    /// Writes the state to `path` atomically (a reader sees the old or the new, never half).
    pub fn save(&self, path: &Path) -> Result<(), ShimError> {
        let temporary = path.with_extension("json.tmp");
        let bytes = serde_json::to_vec(self)?;
        std::fs::write(&temporary, bytes).map_err(io_error("cannot write the task state"))?;
        std::fs::rename(&temporary, path).map_err(io_error("cannot write the task state"))
    }

    /// The state last saved at `path`, if any, of this version (the agent reads every
    /// version, with [`crate::protocol::load_state`]).
    pub fn load(path: &Path) -> Option<Self> {
        let bytes = std::fs::read(path).ok()?;
        serde_json::from_slice::<Self>(&bytes)
            .ok()
            .filter(|state| state.version == crate::PROTOCOL_VERSION)
    }
}

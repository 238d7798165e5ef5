//! What the supervisor observed, kept in `state.json` and streamed to the agent.

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
    /// Why it stopped, when ECS would say (OutOfMemoryError, a start failure, ...).
    pub reason: Option<String>,
    /// When it started, milliseconds since the epoch.
    pub started_at_ms: Option<i64>,
    /// When it exited.
    pub stopped_at_ms: Option<i64>,
}

/// Why the task is stopping, in ECS's words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StopCause {
    /// ECS's stopCode.
    pub code: String,
    /// ECS's stoppedReason.
    pub reason: String,
}

/// Everything the supervisor observed about its task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShimState {
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

    /// The state last saved at `path`, if any.
    pub fn load(path: &Path) -> Option<Self> {
        let bytes = std::fs::read(path).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

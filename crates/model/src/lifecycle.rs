//! Fargate's task and container lifecycles as types: the states, their wire names, and the
//! one function that allows or refuses a transition. Strings appear only at the wire.

use std::fmt;

/// A task's `lastStatus`, in the order a Fargate task passes through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TaskStatus {
    /// Resources (the network interface) are being prepared.
    Provisioning,
    /// Waiting to start: images are pulled here.
    Pending,
    /// Containers are being started.
    Activating,
    /// Running.
    Running,
    /// Being taken out of service.
    Deactivating,
    /// Containers are being stopped.
    Stopping,
    /// Resources are being released.
    Deprovisioning,
    /// Done.
    Stopped,
}

/// A task's `desiredStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DesiredStatus {
    /// Should run.
    Running,
    /// Should stop.
    Stopped,
}

/// A container's `lastStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ContainerStatus {
    /// Not started yet.
    Pending,
    /// Running.
    Running,
    /// Exited, or never started.
    Stopped,
}

/// A refused transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a task cannot go from {from} to {to}")]
pub struct TransitionError {
    /// The current status.
    pub from: TaskStatus,
    /// The status asked for.
    pub to: TaskStatus,
}

impl TaskStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [TaskStatus; 8] = [
        Self::Provisioning,
        Self::Pending,
        Self::Activating,
        Self::Running,
        Self::Deactivating,
        Self::Stopping,
        Self::Deprovisioning,
        Self::Stopped,
    ];

    /// Whether a task may move from `self` to `next`: only forward, never back, and states
    /// may be skipped (a task that fails to start goes from PENDING to STOPPED).
    pub fn transition(self, next: TaskStatus) -> Result<TaskStatus, TransitionError> {
        if next > self {
            Ok(next)
        } else {
            Err(TransitionError {
                from: self,
                to: next,
            })
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provisioning => "PROVISIONING",
            Self::Pending => "PENDING",
            Self::Activating => "ACTIVATING",
            Self::Running => "RUNNING",
            Self::Deactivating => "DEACTIVATING",
            Self::Stopping => "STOPPING",
            Self::Deprovisioning => "DEPROVISIONING",
            Self::Stopped => "STOPPED",
        }
    }

    /// Parses a wire name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl DesiredStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "RUNNING",
            Self::Stopped => "STOPPED",
        }
    }

    /// Parses a wire name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "RUNNING" => Some(Self::Running),
            "STOPPED" => Some(Self::Stopped),
            _ => None,
        }
    }
}

impl ContainerStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Running => "RUNNING",
            Self::Stopped => "STOPPED",
        }
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_forward() {
        use TaskStatus::*;
        assert_eq!(Provisioning.transition(Pending), Ok(Pending));
        assert_eq!(Pending.transition(Stopped), Ok(Stopped));
        assert!(Running.transition(Pending).is_err());
        assert!(Stopped.transition(Stopped).is_err());
        for status in TaskStatus::ALL {
            assert_eq!(TaskStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(
            DesiredStatus::parse("STOPPED"),
            Some(DesiredStatus::Stopped)
        );
        assert_eq!(TaskStatus::parse("running"), None);
    }
}

/// What a node observed about one container, reported to the control plane.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ContainerReport {
    /// The container's name in the task definition.
    pub name: String,
    /// Its status now.
    pub status: Option<ContainerStatus>,
    /// Its exit code, once stopped.
    pub exit_code: Option<i32>,
    /// Why it stopped, when not by exiting (`OutOfMemoryError: ...`, `CannotPullContainerError: ...`).
    pub reason: Option<String>,
    /// The runtime's id for it.
    pub runtime_id: Option<String>,
    /// The digest of the image it runs.
    pub image_digest: Option<String>,
}

/// What a node observed about one task. Fields left `None` are unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TaskReport {
    /// The task's new lastStatus; must move forward.
    pub status: Option<TaskStatus>,
    /// Containers that changed.
    pub containers: Vec<ContainerReport>,
    /// Why the task stopped (set once).
    pub stopped_reason: Option<String>,
    /// ECS's stop code, as it names them (`EssentialContainerExited`, `TaskFailedToStart`, ...).
    pub stop_code: Option<String>,
    /// When the image pulls started.
    pub pull_started_at: Option<crate::Timestamp>,
    /// When they finished.
    pub pull_stopped_at: Option<crate::Timestamp>,
    /// When the node observed this (the control plane's clock when absent): the time a new
    /// status is stamped with, however late the report arrives.
    pub observed_at: Option<crate::Timestamp>,
}

impl serde::Serialize for ContainerStatus {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for ContainerStatus {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        match text.as_str() {
            "PENDING" => Ok(Self::Pending),
            "RUNNING" => Ok(Self::Running),
            "STOPPED" => Ok(Self::Stopped),
            other => Err(serde::de::Error::custom(format!(
                "unknown container status {other}"
            ))),
        }
    }
}

impl serde::Serialize for TaskStatus {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for TaskStatus {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown task status {text}")))
    }
}

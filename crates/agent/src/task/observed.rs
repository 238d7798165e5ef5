//! A supervisor's state as the runner uses it, whichever protocol version the supervisor
//! speaks (`berth_shim::protocol`): an adopted supervisor may have been started by the berth
//! before an upgrade and still run its code. Both versions come down to one [`Observed`] —
//! the phase, each container as the control plane is told (its reason in ECS's words), and
//! what the supervisor recorded of the stop — so that following, relaying and concluding a
//! task know nothing of versions.

use std::path::Path;

use berth_model::lifecycle::{ContainerReport, ContainerStatus};
use berth_shim::protocol::{self, AnyState, StateError, v1};
use berth_shim::{ContainerState, Phase, ShimState};

use super::stop_reason::{EcsStop, Recorded, StopCause, container_reason};

/// What a supervisor said of its task, in one of the versions the agent reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// Where the task is.
    pub phase: Phase,
    /// Its containers, in the plan's order, as the control plane is told.
    pub containers: Vec<ContainerReport>,
    /// Why it is stopping, once it is.
    pub stop: Option<Recorded>,
}

impl Observed {
    /// The state in `bytes` (a line from the supervisor's socket, or its `state.json`).
    pub fn read(bytes: &[u8]) -> Result<Self, StateError> {
        protocol::read_state(bytes).map(Self::from)
    }

    /// The state the supervisor last saved at `path`: `None` when it saved none (or nothing
    /// that is a state); an error when it is of a version this berth cannot read.
    pub fn load(path: &Path) -> Option<Result<Self, StateError>> {
        match protocol::load_state(path)? {
            Ok(state) => Some(Ok(Self::from(state))),
            Err(StateError::Malformed(_)) => None,
            Err(unreadable) => Some(Err(unreadable)),
        }
    }

    /// Why the task stopped, given the supervisor is done and this is the last it said
    /// (`None`: it said nothing).
    pub fn stop_cause(state: Option<&Self>) -> StopCause {
        match state {
            Some(Observed {
                phase: Phase::Stopped,
                stop: Some(recorded),
                ..
            }) => StopCause::Recorded(recorded.clone()),
            Some(_) => StopCause::SupervisorEnded,
            None => StopCause::AgentStoppedWhileStarting,
        }
    }
}

impl From<AnyState> for Observed {
    fn from(state: AnyState) -> Self {
        match state {
            AnyState::Current(state) => Self::from(state),
            AnyState::V1(state) => Self {
                phase: state.phase,
                containers: state.containers.iter().map(container_report_v1).collect(),
                stop: state.stop.map(|stop| {
                    Recorded::Worded(EcsStop {
                        code: stop.code,
                        reason: stop.reason,
                    })
                }),
            },
        }
    }
}

impl From<ShimState> for Observed {
    fn from(state: ShimState) -> Self {
        Self {
            phase: state.phase,
            containers: state.containers.iter().map(container_report).collect(),
            stop: state.stop.map(Recorded::Cause),
        }
    }
}

/// A container as the supervisor saw it, as the control plane is told.
fn container_report(container: &ContainerState) -> ContainerReport {
    ContainerReport {
        name: container.name.clone(),
        status: Some(status(container.status)),
        exit_code: container.exit_code,
        reason: container
            .reason
            .as_ref()
            .map(|reason| container_reason(&container.name, reason)),
        runtime_id: container.pid.map(|pid| pid.to_string()),
        ..ContainerReport::default()
    }
}

/// A container as a version-1 supervisor saw it: its reason is already worded.
fn container_report_v1(container: &v1::ContainerState) -> ContainerReport {
    ContainerReport {
        name: container.name.clone(),
        status: Some(status(container.status)),
        exit_code: container.exit_code,
        reason: container.reason.clone(),
        runtime_id: container.pid.map(|pid| pid.to_string()),
        ..ContainerReport::default()
    }
}

fn status(status: berth_shim::ContainerStatus) -> ContainerStatus {
    match status {
        berth_shim::ContainerStatus::Pending => ContainerStatus::Pending,
        berth_shim::ContainerStatus::Running => ContainerStatus::Running,
        berth_shim::ContainerStatus::Stopped => ContainerStatus::Stopped,
    }
}

#[cfg(test)]
mod tests {
    use berth_shim::ContainerReason;

    use super::*;
    use crate::task::stop_reason::ecs_stop;

    /// One OOM-killed container and an essential exit, as each version writes it.
    const V1: &str = r#"{"shimPid":7,"phase":"STOPPED","containers":[{"name":"app","status":"STOPPED","pid":42,"exitCode":137,"reason":"OutOfMemoryError: Container killed due to memory usage","startedAtMs":1,"stoppedAtMs":2}],"stop":{"code":"EssentialContainerExited","reason":"Essential container in task exited"}}"#;
    const V2: &str = r#"{"version":2,"shimPid":7,"phase":"STOPPED","containers":[{"name":"app","status":"STOPPED","pid":42,"exitCode":137,"reason":{"kind":"outOfMemory"},"startedAtMs":1,"stoppedAtMs":2}],"stop":{"kind":"essentialContainerExited","container":"app"}}"#;

    #[test]
    fn both_versions_come_to_the_same_reports() {
        let v1 = Observed::read(V1.as_bytes()).unwrap();
        let v2 = Observed::read(V2.as_bytes()).unwrap();
        assert_eq!(v1.containers, v2.containers);
        assert_eq!(
            v2.containers,
            [ContainerReport {
                name: "app".into(),
                status: Some(ContainerStatus::Stopped),
                exit_code: Some(137),
                reason: Some("OutOfMemoryError: Container killed due to memory usage".into()),
                runtime_id: Some("42".into()),
                ..ContainerReport::default()
            }]
        );
        // The version-1 stop was worded by its supervisor, the version-2 one here: the same.
        let stop = |observed: &Observed| ecs_stop(&Observed::stop_cause(Some(observed)));
        assert_eq!(stop(&v1), stop(&v2));
        assert_eq!(stop(&v2).code, "EssentialContainerExited");
        assert_eq!(stop(&v2).reason, "Essential container in task exited");
    }

    #[test]
    fn the_cause_of_a_finished_supervisor_is_what_it_recorded() {
        let recorded = berth_shim::StopCause::StopRequested;
        let state = |phase, stop: Option<berth_shim::StopCause>| {
            Observed::from(ShimState {
                version: protocol::VERSION,
                shim_pid: 1,
                phase,
                containers: Vec::new(),
                stop,
            })
        };
        assert!(matches!(
            Observed::stop_cause(Some(&state(Phase::Stopped, Some(recorded.clone())))),
            StopCause::Recorded(Recorded::Cause(cause)) if cause == recorded
        ));
        // Stopping, but gone before it finished: its word no longer holds.
        assert!(matches!(
            Observed::stop_cause(Some(&state(Phase::Stopping, Some(recorded)))),
            StopCause::SupervisorEnded
        ));
        assert!(matches!(
            Observed::stop_cause(Some(&state(Phase::Stopped, None))),
            StopCause::SupervisorEnded
        ));
        assert!(matches!(
            Observed::stop_cause(None),
            StopCause::AgentStoppedWhileStarting
        ));
    }

    #[test]
    fn a_saved_state_is_loaded_whatever_its_version_and_garbage_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        assert!(Observed::load(&path).is_none(), "no file");
        std::fs::write(&path, "{half a st").unwrap();
        assert!(Observed::load(&path).is_none(), "not a state");
        std::fs::write(&path, V1).unwrap();
        let v1 = Observed::load(&path).unwrap().unwrap();
        assert!(matches!(v1.stop, Some(Recorded::Worded(_))));
        std::fs::write(&path, r#"{"version":9}"#).unwrap();
        assert!(matches!(
            Observed::load(&path),
            Some(Err(StateError::Unsupported { version: 9 }))
        ));
        // A version-2 reason names its container in the words.
        let state = ShimState {
            version: protocol::VERSION,
            shim_pid: 1,
            phase: Phase::Stopped,
            containers: vec![ContainerState {
                name: "web".into(),
                status: berth_shim::ContainerStatus::Stopped,
                pid: None,
                exit_code: None,
                reason: Some(ContainerReason::NotMounted {
                    error: "busy".into(),
                }),
                started_at_ms: None,
                stopped_at_ms: None,
            }],
            stop: None,
        };
        state.save(&path).unwrap();
        let observed = Observed::load(&path).unwrap().unwrap();
        assert_eq!(
            observed.containers[0].reason.as_deref(),
            Some("CannotCreateContainerError: cannot mount the root filesystem of web: busy")
        );
    }
}

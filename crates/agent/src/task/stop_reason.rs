//! ECS's stopCode and stoppedReason for a stopped task, from a typed [`StopCause`]:
//! [`ecs_stop`] is the one place the agent words a stop as ECS does — the ECS error class
//! (`CannotPullContainerError`, `CannotCreateContainerError`, `ResourceInitializationError`)
//! before the cause's own message, which the step that failed wrote. A cause the supervisor
//! recorded arrives already in ECS's words (`berth-shim` words what it sees) and passes
//! through unchanged.

use berth_model::shapes::TaskStopCode;
use berth_shim::{Phase, ShimState};

use super::PrepareError;
use super::plan::PlanError;

/// Why a task stopped, as the agent learnt it.
#[derive(Debug)]
pub enum StopCause {
    /// It could not be prepared or handed to a supervisor (or a stop came first).
    FailedToStart(PrepareError),
    /// Its supervisor ran it to the end and recorded why it stopped.
    Recorded(berth_shim::StopCause),
    /// Its supervisor is gone without having finished the task: its containers were killed
    /// with it.
    SupervisorEnded,
    /// Its supervisor left no state at all: berth stopped after handing the task over and
    /// before the supervisor wrote anything.
    AgentStoppedWhileStarting,
}

impl StopCause {
    /// Why a task whose supervisor is done stopped, from the last state it left (`None`: it
    /// left none).
    pub fn from_state(state: Option<&ShimState>) -> Self {
        match state {
            Some(ShimState {
                phase: Phase::Stopped,
                stop: Some(cause),
                ..
            }) => Self::Recorded(cause.clone()),
            Some(_) => Self::SupervisorEnded,
            None => Self::AgentStoppedWhileStarting,
        }
    }
}

/// A stop in ECS's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcsStop {
    /// The task's `stopCode`.
    pub code: String,
    /// Its `stoppedReason` (also a container's `reason` when its image could not be pulled).
    pub reason: String,
}

/// `cause` as ECS says it: its stop code and stopped reason.
pub fn ecs_stop(cause: &StopCause) -> EcsStop {
    let failed_to_start = |reason: String| EcsStop {
        code: TaskStopCode::TaskFailedToStart.as_str().to_owned(),
        reason,
    };
    match cause {
        StopCause::FailedToStart(error) => failed_to_start(match error {
            PrepareError::Pull(pull) => format!("CannotPullContainerError: {pull}"),
            // ECS does not name the container here; its own report carries the reason.
            PrepareError::Plan(PlanError::Container { error, .. }) => {
                format!("CannotCreateContainerError: {error}")
            }
            PrepareError::TaskDirectory(_)
            | PrepareError::Cgroup(_)
            | PrepareError::Bridge { .. }
            | PrepareError::Interrupted(_)
            | PrepareError::Plan(PlanError::EtcFiles(_) | PlanError::Network(_))
            | PrepareError::HandOver(_) => format!("ResourceInitializationError: {error}"),
            PrepareError::Stopped => "Task stopped before all its containers started".to_owned(),
        }),
        StopCause::Recorded(recorded) => EcsStop {
            code: recorded.code.clone(),
            reason: recorded.reason.clone(),
        },
        StopCause::SupervisorEnded => failed_to_start(
            "Task stopped: its supervisor process ended unexpectedly; its containers were killed"
                .to_owned(),
        ),
        StopCause::AgentStoppedWhileStarting => failed_to_start(
            "ResourceInitializationError: berth stopped while the task was starting".to_owned(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use berth_image::PullFailure;

    use super::super::plan::ContainerPlanError;
    use super::super::supervisor_link::HandOverError;
    use super::*;
    use crate::network::InvalidInterface;
    use crate::pulls::PullError;

    fn failed(error: PrepareError) -> StopCause {
        StopCause::FailedToStart(error)
    }

    fn io(text: &str) -> std::io::Error {
        std::io::Error::other(text.to_owned())
    }

    #[test]
    fn every_cause_in_ecs_words() {
        let pull = PullError::from(berth_image::PullError {
            reference: "127.0.0.1:1/nothing:latest".into(),
            failure: PullFailure::Config("no rootfs".into()),
        });
        let container = |error| {
            failed(PrepareError::Plan(PlanError::Container {
                container: "app".into(),
                error,
            }))
        };
        let long = PathBuf::from("/very/long/shim.sock");
        #[rustfmt::skip]
        let table: Vec<(StopCause, &str, &str)> = vec![
            (failed(PrepareError::Pull(pull)), "TaskFailedToStart", "CannotPullContainerError: pull image 127.0.0.1:1/nothing:latest: invalid image config: no rootfs"),
            (failed(PrepareError::TaskDirectory(io("disk full"))), "TaskFailedToStart", "ResourceInitializationError: cannot create the task's directory: disk full"),
            (failed(PrepareError::Cgroup(io("denied"))), "TaskFailedToStart", "ResourceInitializationError: failed to create the task's cgroup: denied"),
            (failed(PrepareError::Bridge { bridge: "berth0".into(), error: io("no such device") }), "TaskFailedToStart", "ResourceInitializationError: failed to set up the bridge berth0: no such device"),
            (failed(PrepareError::Plan(PlanError::EtcFiles(io("read-only")))), "TaskFailedToStart", "ResourceInitializationError: cannot write the task's /etc files: read-only"),
            (failed(PrepareError::Plan(PlanError::Network(InvalidInterface::MacAddress("zz".into())))), "TaskFailedToStart", "ResourceInitializationError: bad MAC address zz"),
            (container(ContainerPlanError::InitBinary), "TaskFailedToStart", "CannotCreateContainerError: initProcessEnabled needs a static init binary on the node (tini-static, from Debian's tini package; see berth up --init-path)"),
            (container(ContainerPlanError::LogDirectory(io("quota"))), "TaskFailedToStart", "CannotCreateContainerError: quota"),
            (failed(PrepareError::HandOver(HandOverError::SocketPathTooLong(long))), "TaskFailedToStart", "ResourceInitializationError: failed to start the task's supervisor: the socket path /very/long/shim.sock is too long for a Unix socket: use a shorter data directory"),
            (failed(PrepareError::HandOver(HandOverError::Spawn(io("no such file")))), "TaskFailedToStart", "ResourceInitializationError: failed to start the task's supervisor: no such file"),
            (failed(PrepareError::Stopped), "TaskFailedToStart", "Task stopped before all its containers started"),
            (StopCause::Recorded(berth_shim::StopCause { code: "UserInitiated".into(), reason: "Task stopped by user".into() }), "UserInitiated", "Task stopped by user"),
            (StopCause::SupervisorEnded, "TaskFailedToStart", "Task stopped: its supervisor process ended unexpectedly; its containers were killed"),
            (StopCause::AgentStoppedWhileStarting, "TaskFailedToStart", "ResourceInitializationError: berth stopped while the task was starting"),
        ];
        for (cause, code, reason) in table {
            let words = ecs_stop(&cause);
            assert_eq!(
                (words.code.as_str(), words.reason.as_str()),
                (code, reason),
                "{cause:?}"
            );
        }
    }

    #[test]
    fn the_cause_of_a_finished_supervisor_is_what_it_recorded() {
        let recorded = berth_shim::StopCause {
            code: "EssentialContainerExited".into(),
            reason: "Essential container in task exited".into(),
        };
        let state = |phase, stop: Option<berth_shim::StopCause>| ShimState {
            shim_pid: 1,
            phase,
            containers: Vec::new(),
            stop,
        };
        assert!(matches!(
            StopCause::from_state(Some(&state(Phase::Stopped, Some(recorded.clone())))),
            StopCause::Recorded(cause) if cause == recorded
        ));
        // Stopping, but gone before it finished: its word no longer holds.
        assert!(matches!(
            StopCause::from_state(Some(&state(Phase::Stopping, Some(recorded)))),
            StopCause::SupervisorEnded
        ));
        assert!(matches!(
            StopCause::from_state(Some(&state(Phase::Stopped, None))),
            StopCause::SupervisorEnded
        ));
        assert!(matches!(
            StopCause::from_state(None),
            StopCause::AgentStoppedWhileStarting
        ));
    }
}

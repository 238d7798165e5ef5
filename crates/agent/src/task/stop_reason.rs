//! ECS's words for why a task or a container stopped: [`ecs_stop`] is the one place the agent
//! words a task's stop as ECS does (its stopCode and stoppedReason), [`container_reason`] a
//! container's `reason` — the ECS error class (`CannotPullContainerError`,
//! `CannotCreateContainerError`, `CannotStartContainerError`, `ResourceInitializationError`,
//! `OutOfMemoryError`) before the cause's own message, which the step that failed wrote. The
//! supervisor reports typed causes (`berth_shim::StopCause`, `berth_shim::ContainerReason`)
//! and they are worded here; only a version-1 supervisor (from a berth before the protocol was
//! versioned) recorded its stop already worded, and that passes through as it wrote it.

use berth_model::shapes::TaskStopCode;
use berth_shim::ContainerReason;
use berth_shim::protocol::StateError;

use super::PrepareError;
use super::plan::PlanError;
use super::volumes::VolumeError;

/// Why a task stopped, as the agent learnt it.
#[derive(Debug)]
pub enum StopCause {
    /// It could not be prepared or handed to a supervisor (or a stop came first).
    FailedToStart(PrepareError),
    /// Its supervisor ran it to the end and recorded why it stopped.
    Recorded(Recorded),
    /// Its supervisor is gone without having finished the task: its containers were killed
    /// with it.
    SupervisorEnded,
    /// Its supervisor left no state at all: berth stopped after handing the task over and
    /// before the supervisor wrote anything.
    AgentStoppedWhileStarting,
    /// Its supervisor speaks a protocol version this berth cannot read (a newer one, under a
    /// downgraded berth): it was asked to stop, or had already.
    UnreadableSupervisor(StateError),
}

/// What a supervisor recorded of why its task stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// In its own terms (protocol version 2 on), for [`ecs_stop`] to word.
    Cause(berth_shim::StopCause),
    /// Already in ECS's words, as version-1 supervisors wrote it: passed on as it is.
    Worded(EcsStop),
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
    match cause {
        StopCause::FailedToStart(error) => failed_to_start(match error {
            PrepareError::Pull(pull) => format!("CannotPullContainerError: {pull}"),
            // ECS does not name the container here; its own report carries the reason.
            PrepareError::Plan(PlanError::Container { error, .. }) => {
                format!("CannotCreateContainerError: {error}")
            }
            // A volume's directory the node could not make is its own trouble; a mount the
            // definition gets wrong is the container's.
            PrepareError::Plan(PlanError::Volumes(VolumeError::Directory { .. })) => {
                format!("ResourceInitializationError: {error}")
            }
            PrepareError::Plan(PlanError::Volumes(_)) => {
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
        StopCause::Recorded(Recorded::Cause(cause)) => recorded(cause),
        StopCause::Recorded(Recorded::Worded(words)) => words.clone(),
        StopCause::SupervisorEnded => failed_to_start(
            "Task stopped: its supervisor process ended unexpectedly; its containers were killed"
                .to_owned(),
        ),
        StopCause::AgentStoppedWhileStarting => failed_to_start(
            "ResourceInitializationError: berth stopped while the task was starting".to_owned(),
        ),
        StopCause::UnreadableSupervisor(error) => failed_to_start(format!(
            "ResourceInitializationError: cannot follow the task: {error}"
        )),
    }
}

/// Container `container`'s `reason`, as ECS words `reason`.
pub fn container_reason(container: &str, reason: &ContainerReason) -> String {
    match reason {
        ContainerReason::OutOfMemory => {
            "OutOfMemoryError: Container killed due to memory usage".to_owned()
        }
        ContainerReason::StartFailed { error } => cannot_start(error),
        ContainerReason::NotMounted { error } => not_mounted(container, error),
        ContainerReason::DependencyNeverMet { why } => never_met(container, why),
        ContainerReason::NetworkNotWired { error } => network_not_wired(error),
    }
}

/// What a supervisor recorded, in ECS's words. A cause that a container's failure made says
/// what that container's reason says.
fn recorded(cause: &berth_shim::StopCause) -> EcsStop {
    use berth_shim::StopCause as Cause;
    match cause {
        Cause::EssentialContainerExited { .. } | Cause::AllContainersExited => EcsStop {
            code: TaskStopCode::EssentialContainerExited.as_str().to_owned(),
            reason: "Essential container in task exited".to_owned(),
        },
        Cause::StopRequested => EcsStop {
            code: TaskStopCode::UserInitiated.as_str().to_owned(),
            reason: "Task stopped by user".to_owned(),
        },
        Cause::AgentLost => failed_to_start(
            "ResourceInitializationError: the node agent went away before the task's images \
             were confirmed"
                .to_owned(),
        ),
        Cause::DependencyNeverMet { container, why } => failed_to_start(never_met(container, why)),
        Cause::StartFailed { error, .. } => failed_to_start(cannot_start(error)),
        Cause::RootFilesystemNotMounted { container, error } => {
            failed_to_start(not_mounted(container, error))
        }
        Cause::NetworkNotWired { error } => failed_to_start(network_not_wired(error)),
        Cause::PlanUnusable { error } | Cause::SetupFailed { error } => {
            failed_to_start(format!("ResourceInitializationError: {error}"))
        }
    }
}

fn failed_to_start(reason: String) -> EcsStop {
    EcsStop {
        code: TaskStopCode::TaskFailedToStart.as_str().to_owned(),
        reason,
    }
}

fn cannot_start(error: &str) -> String {
    format!("CannotStartContainerError: {error}")
}

fn never_met(container: &str, why: &str) -> String {
    format!("CannotStartContainerError: container {container}: {why}")
}

fn not_mounted(container: &str, error: &str) -> String {
    format!("CannotCreateContainerError: cannot mount the root filesystem of {container}: {error}")
}

fn network_not_wired(error: &str) -> String {
    format!("ResourceInitializationError: cannot set up the task's network interface: {error}")
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
            (failed(PrepareError::Plan(PlanError::Volumes(VolumeError::UnknownContainer("db".into())))), "TaskFailedToStart", "CannotCreateContainerError: volumes: volumesFrom: no container 'db' in the task definition"),
            (failed(PrepareError::Plan(PlanError::Volumes(VolumeError::Directory { volume: "v".into(), path: "/d".into(), error: io("full") }))), "TaskFailedToStart", "ResourceInitializationError: volumes: volume 'v': cannot make /d: full"),
            (failed(PrepareError::HandOver(HandOverError::SocketPathTooLong(long))), "TaskFailedToStart", "ResourceInitializationError: failed to start the task's supervisor: the socket path /very/long/shim.sock is too long for a Unix socket: use a shorter data directory"),
            (failed(PrepareError::HandOver(HandOverError::Spawn(io("no such file")))), "TaskFailedToStart", "ResourceInitializationError: failed to start the task's supervisor: no such file"),
            (failed(PrepareError::Stopped), "TaskFailedToStart", "Task stopped before all its containers started"),
            (StopCause::Recorded(Recorded::Worded(EcsStop { code: "UserInitiated".into(), reason: "Task stopped by user".into() })), "UserInitiated", "Task stopped by user"),
            (StopCause::UnreadableSupervisor(StateError::Unsupported { version: 3 }), "TaskFailedToStart", "ResourceInitializationError: cannot follow the task: its supervisor speaks protocol version 3; this berth reads versions 1 to 2"),
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

    /// Every cause a supervisor records, in the words berth has always reported (end-to-end
    /// tests and users' scripts match on them).
    #[test]
    fn what_a_supervisor_recorded_in_ecs_words() {
        use berth_shim::StopCause as Cause;
        let recorded = |cause| StopCause::Recorded(Recorded::Cause(cause));
        let app = || "app".to_owned();
        #[rustfmt::skip]
        let table: Vec<(Cause, &str, &str)> = vec![
            (Cause::EssentialContainerExited { container: app() }, "EssentialContainerExited", "Essential container in task exited"),
            (Cause::AllContainersExited, "EssentialContainerExited", "Essential container in task exited"),
            (Cause::StopRequested, "UserInitiated", "Task stopped by user"),
            (Cause::AgentLost, "TaskFailedToStart", "ResourceInitializationError: the node agent went away before the task's images were confirmed"),
            (Cause::DependencyNeverMet { container: app(), why: "it depends on container ghost, which the task does not have".into() }, "TaskFailedToStart", "CannotStartContainerError: container app: it depends on container ghost, which the task does not have"),
            (Cause::StartFailed { container: app(), error: "exec: no such file".into() }, "TaskFailedToStart", "CannotStartContainerError: exec: no such file"),
            (Cause::RootFilesystemNotMounted { container: app(), error: "cannot mount an overlay on /r: busy".into() }, "TaskFailedToStart", "CannotCreateContainerError: cannot mount the root filesystem of app: cannot mount an overlay on /r: busy"),
            (Cause::NetworkNotWired { error: "no bridge".into() }, "TaskFailedToStart", "ResourceInitializationError: cannot set up the task's network interface: no bridge"),
            (Cause::PlanUnusable { error: "invalid task plan: eof".into() }, "TaskFailedToStart", "ResourceInitializationError: invalid task plan: eof"),
            (Cause::SetupFailed { error: "cannot create the task's sandbox: unshare: EPERM".into() }, "TaskFailedToStart", "ResourceInitializationError: cannot create the task's sandbox: unshare: EPERM"),
        ];
        for (cause, code, reason) in table {
            let words = ecs_stop(&recorded(cause.clone()));
            assert_eq!(
                (words.code.as_str(), words.reason.as_str()),
                (code, reason),
                "{cause:?}"
            );
        }
    }

    #[test]
    fn container_reasons_in_ecs_words_and_as_their_tasks_reason() {
        #[rustfmt::skip]
        let table: Vec<(ContainerReason, &str)> = vec![
            (ContainerReason::OutOfMemory, "OutOfMemoryError: Container killed due to memory usage"),
            (ContainerReason::StartFailed { error: "exec: no such file".into() }, "CannotStartContainerError: exec: no such file"),
            (ContainerReason::NotMounted { error: "busy".into() }, "CannotCreateContainerError: cannot mount the root filesystem of app: busy"),
            (ContainerReason::DependencyNeverMet { why: "it never started".into() }, "CannotStartContainerError: container app: it never started"),
            (ContainerReason::NetworkNotWired { error: "no bridge".into() }, "ResourceInitializationError: cannot set up the task's network interface: no bridge"),
        ];
        for (reason, words) in table {
            assert_eq!(container_reason("app", &reason), words, "{reason:?}");
        }
        // A container's failure that fails its task is said the same way on both.
        let task = ecs_stop(&StopCause::Recorded(Recorded::Cause(
            berth_shim::StopCause::DependencyNeverMet {
                container: "app".into(),
                why: "it never started".into(),
            },
        )));
        assert_eq!(
            task.reason,
            container_reason(
                "app",
                &ContainerReason::DependencyNeverMet {
                    why: "it never started".into()
                }
            )
        );
    }
}

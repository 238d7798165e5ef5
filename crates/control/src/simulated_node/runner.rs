//! One task on the simulated node, as the real agent's runner (`berth-agent`'s `task.rs`)
//! drives it and in the order it reports: PENDING with `pullStartedAt`; the images
//! "pulled" (a pull failure: the container STOPPED with its reason, then the task STOPPED
//! with TaskFailedToStart); ACTIVATING with `pullStoppedAt` and each container's
//! `imageDigest`; then whatever its supervisor publishes, relayed as it changes (containers
//! with their status, pid as `runtimeId`, exit code and reason; RUNNING; STOPPING); and at
//! the end DEPROVISIONING and STOPPED with the stop code and reason, in one report.
//!
//! A task an earlier agent started is adopted: the runner reconnects to its supervisor, or
//! reads what it left if it finished meanwhile, or says it vanished.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_model::Timestamp;
use berth_model::lifecycle::{ContainerReport, ContainerStatus, TaskReport, TaskStatus};
use berth_model::shapes::{ContainerDefinition, TaskStopCode};
use tokio::sync::{mpsc, watch};

use super::host::{
    self, ContainerReason, ContainerState, Phase, PlannedContainer, Reconnected, SimulatedHost,
    SupervisorState,
};
use super::script::Script;
use crate::{Assignment, Ecs};

/// A container's stop timeout unless its definition says (the real agent's default)...
const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// ...and the most ECS allows.
const MAX_STOP_TIMEOUT: Duration = Duration::from_secs(120);

/// Every batch of reports an agent sent, in order, with the task's key.
pub(crate) type ReportLog = Arc<Mutex<Vec<(String, Vec<TaskReport>)>>>;

pub(crate) struct Runner {
    pub ecs: Arc<Ecs>,
    pub host: SimulatedHost,
    pub log: ReportLog,
}

/// What the runner has told the control plane so far.
#[derive(Default)]
struct Relayed {
    phase: Option<Phase>,
    containers: HashMap<String, ContainerState>,
}

impl Runner {
    /// Runs a task new to this node.
    pub async fn run(&self, assignment: &Assignment, mut stop: watch::Receiver<bool>) {
        match self.prepare(assignment, &mut stop).await {
            Ok(states) => self.follow(assignment, states, stop).await,
            Err(failure) => {
                let words = ecs_stop(&StopCause::FailedToStart(failure));
                let failed = TaskReport {
                    status: Some(TaskStatus::Stopped),
                    stop_code: Some(words.code),
                    stopped_reason: Some(words.reason),
                    ..TaskReport::default()
                };
                self.report(&assignment.key, failed).await;
            }
        }
    }

    /// Takes over a task an earlier agent started.
    pub async fn adopt(&self, assignment: &Assignment, stop: watch::Receiver<bool>) {
        match self.host.reconnect(&assignment.key) {
            Reconnected::Following(states) => {
                tracing::info!(task = %assignment.key, "adopted a running task");
                self.follow(assignment, states, stop).await;
            }
            Reconnected::Ended(state) => self.conclude(assignment, state).await,
        }
    }

    /// "Pulls" the images and hands the task to a supervisor; its states, or why the task
    /// cannot start.
    async fn prepare(
        &self,
        assignment: &Assignment,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<mpsc::UnboundedReceiver<SupervisorState>, PrepareFailure> {
        let key = &assignment.key;
        let pending = TaskReport {
            status: Some(TaskStatus::Pending),
            pull_started_at: Some(Timestamp::now()),
            ..TaskReport::default()
        };
        self.report(key, pending).await;
        let scripts = self.host.scripts();
        let family = assignment.definition.family.as_deref().unwrap_or_default();
        let definitions = assignment
            .definition
            .container_definitions
            .as_deref()
            .unwrap_or_default();
        tokio::time::sleep(self.host.timing().pull).await;
        let mut planned = Vec::with_capacity(definitions.len());
        let mut digests = Vec::with_capacity(definitions.len());
        for definition in definitions {
            let name = definition.name.clone().unwrap_or_default();
            let image = definition.image.as_deref().unwrap_or_default();
            let script = scripts.for_container(family, image).clone();
            if let Script::PullFails { message } = &script {
                let failure = PrepareFailure::Pull {
                    image: image.to_owned(),
                    message: message.clone(),
                };
                // The container carries the reason too, as the real agent reports it.
                let words = ecs_stop(&StopCause::FailedToStart(failure.clone()));
                let failed = TaskReport {
                    containers: vec![ContainerReport {
                        name,
                        status: Some(ContainerStatus::Stopped),
                        reason: Some(words.reason),
                        ..ContainerReport::default()
                    }],
                    ..TaskReport::default()
                };
                self.report(key, failed).await;
                return Err(failure);
            }
            digests.push(ContainerReport {
                name: name.clone(),
                image_digest: Some(image_digest(image)),
                ..ContainerReport::default()
            });
            planned.push(PlannedContainer {
                name,
                essential: definition.essential.unwrap_or(true),
                script,
                stop_timeout: stop_timeout(definition),
            });
        }
        let activating = TaskReport {
            status: Some(TaskStatus::Activating),
            pull_stopped_at: Some(Timestamp::now()),
            containers: digests,
            ..TaskReport::default()
        };
        self.report(key, activating).await;
        if *stop.borrow() {
            return Err(PrepareFailure::Stopped);
        }
        Ok(self.host.spawn(key, planned))
    }

    /// Relays the supervisor's states until the task has stopped, forwarding a stop request;
    /// then reports it STOPPED.
    async fn follow(
        &self,
        assignment: &Assignment,
        mut states: mpsc::UnboundedReceiver<SupervisorState>,
        mut stop: watch::Receiver<bool>,
    ) {
        let key = &assignment.key;
        let mut relayed = Relayed::default();
        let mut stop_sent = false;
        let mut last = None;
        loop {
            if !stop_sent && *stop.borrow() {
                self.host.stop(key);
                stop_sent = true;
            }
            tokio::select! {
                state = states.recv() => {
                    let Some(state) = state else { break };
                    self.relay(key, &state, &mut relayed).await;
                    let stopped = state.phase == Phase::Stopped;
                    last = Some(state);
                    if stopped {
                        break;
                    }
                }
                changed = stop.changed(), if !stop_sent => {
                    if changed.is_err() {
                        // The agent is going away: the task carries on under its supervisor.
                        return;
                    }
                }
            }
        }
        // What the supervisor saved is at least as new as what it sent.
        let state = self
            .host
            .saved(key)
            .filter(|s| s.phase == Phase::Stopped)
            .or(last);
        self.conclude(assignment, state).await;
    }

    /// Reports what changed since the last relay: task phase and container states.
    async fn relay(&self, key: &str, state: &SupervisorState, relayed: &mut Relayed) {
        let mut report = TaskReport::default();
        if relayed.phase != Some(state.phase) {
            report.status = match state.phase {
                Phase::Starting => None,
                Phase::Running => Some(TaskStatus::Running),
                // The final report says STOPPED once resources are released.
                Phase::Stopping | Phase::Stopped => Some(TaskStatus::Stopping),
            };
            relayed.phase = Some(state.phase);
        }
        for container in &state.containers {
            if relayed.containers.get(&container.name) != Some(container) {
                report.containers.push(container_report(container));
                relayed
                    .containers
                    .insert(container.name.clone(), container.clone());
            }
        }
        if report.status.is_some() || !report.containers.is_empty() {
            self.report(key, report).await;
        }
    }

    /// Reports the task STOPPED: as its supervisor recorded when it finished, or, when it
    /// vanished, with what it left and a reason that says so. DEPROVISIONING goes in the
    /// same write, stamped with when it began.
    async fn conclude(&self, assignment: &Assignment, state: Option<SupervisorState>) {
        let key = &assignment.key;
        let deprovisioning = TaskReport {
            status: Some(TaskStatus::Deprovisioning),
            observed_at: Some(Timestamp::now()),
            ..TaskReport::default()
        };
        let words = ecs_stop(&StopCause::from_state(state.as_ref()));
        let containers = state
            .map(|s| {
                s.containers
                    .iter()
                    .map(|c| ContainerReport {
                        status: Some(ContainerStatus::Stopped),
                        ..container_report(c)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let stopped = TaskReport {
            status: Some(TaskStatus::Stopped),
            stop_code: Some(words.code),
            stopped_reason: Some(words.reason),
            containers,
            observed_at: Some(Timestamp::now()),
            ..TaskReport::default()
        };
        self.send(key, vec![deprovisioning, stopped]).await;
        // Until STOPPED is stored, an agent started again needs what the supervisor left.
        self.host.remove(key);
    }

    /// Reports `report`, stamped with the time it was made.
    async fn report(&self, key: &str, report: TaskReport) {
        let report = TaskReport {
            observed_at: Some(Timestamp::now()),
            ..report
        };
        self.send(key, vec![report]).await;
    }

    /// Sends reports to the control plane. Each is awaited, so a task's reports are stored
    /// in the order they were made, as the real agent's queue keeps them.
    pub async fn send(&self, key: &str, reports: Vec<TaskReport>) {
        self.log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push((key.to_owned(), reports.clone()));
        if let Err(error) = self.ecs.report_task(key, &reports).await {
            tracing::warn!(task = %key, %error, "cannot report task state");
        }
    }
}

/// Why a task could not be handed to a supervisor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PrepareFailure {
    /// A container's image could not be pulled ([`Script::PullFails`]).
    Pull { image: String, message: String },
    /// A stop was asked for before the containers started.
    Stopped,
}

/// Why a task stopped, as the agent learnt it (the real agent's `StopCause`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StopCause {
    /// It could not be prepared (or a stop came first).
    FailedToStart(PrepareFailure),
    /// Its supervisor ran it to the end and recorded why it stopped.
    Recorded(host::StopCause),
    /// Its supervisor is gone without having finished the task.
    SupervisorEnded,
    /// Its supervisor left no state at all (a fresh machine: gone with the old one).
    AgentStoppedWhileStarting,
}

impl StopCause {
    /// Why a task whose supervisor is done stopped, from the last state it left (`None`: it
    /// left none).
    fn from_state(state: Option<&SupervisorState>) -> Self {
        match state {
            Some(SupervisorState {
                phase: Phase::Stopped,
                stop: Some(cause),
                ..
            }) => Self::Recorded(cause.clone()),
            Some(_) => Self::SupervisorEnded,
            None => Self::AgentStoppedWhileStarting,
        }
    }
}

/// A stop in ECS's words: the task's `stopCode` and `stoppedReason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EcsStop {
    pub code: String,
    pub reason: String,
}

/// `cause` as ECS says it — with [`container_reason`], the one place the simulated node words
/// a stop, in the real agent's words for the same cause (`berth-agent`'s `stop_reason.rs`).
pub(crate) fn ecs_stop(cause: &StopCause) -> EcsStop {
    let failed_to_start = |reason: String| EcsStop {
        code: TaskStopCode::TaskFailedToStart.as_str().to_owned(),
        reason,
    };
    match cause {
        StopCause::FailedToStart(PrepareFailure::Pull { image, message }) => {
            // The image puller's words (`berth_image::PullError`) after ECS's class.
            failed_to_start(format!(
                "CannotPullContainerError: pull image {image}: {message}"
            ))
        }
        StopCause::FailedToStart(PrepareFailure::Stopped) => {
            failed_to_start("Task stopped before all its containers started".to_owned())
        }
        StopCause::Recorded(host::StopCause::EssentialContainerExited { .. })
        | StopCause::Recorded(host::StopCause::AllContainersExited) => EcsStop {
            code: TaskStopCode::EssentialContainerExited.as_str().to_owned(),
            reason: "Essential container in task exited".to_owned(),
        },
        StopCause::Recorded(host::StopCause::StopRequested) => EcsStop {
            code: TaskStopCode::UserInitiated.as_str().to_owned(),
            reason: "Task stopped by user".to_owned(),
        },
        StopCause::Recorded(host::StopCause::StartFailed { error, .. }) => {
            failed_to_start(cannot_start(error))
        }
        StopCause::SupervisorEnded => failed_to_start(
            "Task stopped: its supervisor process ended unexpectedly; its containers were killed"
                .to_owned(),
        ),
        StopCause::AgentStoppedWhileStarting => failed_to_start(
            "ResourceInitializationError: berth stopped while the task was starting".to_owned(),
        ),
    }
}

/// A container's `reason` as ECS words it.
fn container_reason(reason: &ContainerReason) -> String {
    match reason {
        ContainerReason::OutOfMemory => {
            "OutOfMemoryError: Container killed due to memory usage".to_owned()
        }
        ContainerReason::StartFailed { error } => cannot_start(error),
    }
}

fn cannot_start(error: &str) -> String {
    format!("CannotStartContainerError: {error}")
}

fn container_report(container: &ContainerState) -> ContainerReport {
    ContainerReport {
        name: container.name.clone(),
        status: Some(container.status),
        exit_code: container.exit_code,
        reason: container.reason.as_ref().map(container_reason),
        runtime_id: container.pid.map(|pid| pid.to_string()),
        ..ContainerReport::default()
    }
}

/// A container's `stopTimeout` (seconds; ECS caps it at 120), else the default.
fn stop_timeout(definition: &ContainerDefinition) -> Duration {
    definition
        .stop_timeout
        .map(|s| Duration::from_secs(u64::try_from(s).unwrap_or(0)).min(MAX_STOP_TIMEOUT))
        .unwrap_or(DEFAULT_STOP_TIMEOUT)
}

/// A manifest digest for `image`, the same for the same name: what a registry would answer,
/// without one. Four FNV-1a hashes make the 64 hex digits of a sha256 digest.
fn image_digest(image: &str) -> String {
    let mut digest = String::from("sha256:");
    for round in 0u8..4 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in std::iter::once(round).chain(image.bytes()) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        digest.push_str(&format!("{hash:016x}"));
    }
    digest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_digests_look_like_sha256_and_follow_the_name() {
        let digest = image_digest("nginx");
        assert_eq!(digest.len(), "sha256:".len() + 64);
        assert!(digest.starts_with("sha256:"));
        assert_eq!(digest, image_digest("nginx"));
        assert_ne!(digest, image_digest("nginx:1.27"));
    }

    #[test]
    fn every_cause_in_the_real_agents_words() {
        let pull = PrepareFailure::Pull {
            image: "127.0.0.1:1/nothing:latest".into(),
            message: "manifest unknown".into(),
        };
        let recorded = |cause| StopCause::Recorded(cause);
        let start_failed = host::StopCause::StartFailed {
            container: "app".into(),
            error: "exec: no such file".into(),
        };
        let exited = host::StopCause::EssentialContainerExited {
            container: "app".into(),
        };
        #[rustfmt::skip]
        let table: Vec<(StopCause, &str, &str)> = vec![
            (StopCause::FailedToStart(pull), "TaskFailedToStart", "CannotPullContainerError: pull image 127.0.0.1:1/nothing:latest: manifest unknown"),
            (StopCause::FailedToStart(PrepareFailure::Stopped), "TaskFailedToStart", "Task stopped before all its containers started"),
            (recorded(host::StopCause::StopRequested), "UserInitiated", "Task stopped by user"),
            (recorded(exited), "EssentialContainerExited", "Essential container in task exited"),
            (recorded(host::StopCause::AllContainersExited), "EssentialContainerExited", "Essential container in task exited"),
            (recorded(start_failed), "TaskFailedToStart", "CannotStartContainerError: exec: no such file"),
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
    fn container_reasons_in_the_real_agents_words() {
        assert_eq!(
            container_reason(&ContainerReason::OutOfMemory),
            "OutOfMemoryError: Container killed due to memory usage"
        );
        let failed = ContainerReason::StartFailed {
            error: "exec: no such file".into(),
        };
        assert_eq!(
            container_reason(&failed),
            "CannotStartContainerError: exec: no such file"
        );
    }

    #[test]
    fn a_supervisor_gone_before_it_finished_has_no_word_left() {
        let state = |phase, stop| SupervisorState {
            phase,
            containers: Vec::new(),
            stop,
        };
        let cause = host::StopCause::StopRequested;
        assert_eq!(
            StopCause::from_state(Some(&state(Phase::Stopped, Some(cause.clone())))),
            StopCause::Recorded(cause.clone())
        );
        assert_eq!(
            StopCause::from_state(Some(&state(Phase::Stopping, Some(cause)))),
            StopCause::SupervisorEnded
        );
        assert_eq!(
            StopCause::from_state(None),
            StopCause::AgentStoppedWhileStarting
        );
    }
}

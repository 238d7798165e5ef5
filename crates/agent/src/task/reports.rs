//! A task's reports to the control plane: queued in the order the runner makes them, each
//! stamped with the time the agent observed it, and sent in batches (one store write each) by
//! [`send_reports`]; the supervisor's states turned into reports of what changed ([`Relayed`]).

use std::collections::HashMap;
use std::sync::Arc;

use berth_model::Timestamp;
use berth_model::lifecycle::{ContainerReport, TaskReport, TaskStatus};
use berth_shim::Phase;
use tokio::sync::mpsc;

use super::observed::Observed;
use crate::ControlPlane;

/// A task's reports on their way to [`send_reports`], each batch with the task's key.
pub type Queue = mpsc::UnboundedSender<(String, Vec<TaskReport>)>;

/// Sends a task's reports to the control plane in the order they were made, until the runner
/// is done. The runner does not wait for each to be stored: starting and stopping containers
/// never stalls on the control plane's disk.
pub async fn send_reports(
    control: Arc<dyn ControlPlane>,
    mut reports: mpsc::UnboundedReceiver<(String, Vec<TaskReport>)>,
) {
    while let Some((key, mut batch)) = reports.recv().await {
        // Whatever queued up meanwhile goes along: one write for the lot.
        while let Ok((_, next)) = reports.try_recv() {
            batch.extend(next);
        }
        if let Err(error) = control.report(key.clone(), batch).await {
            tracing::warn!(task = %key, %error, "cannot report task state");
        }
    }
}

/// Queues `report` for [`send_reports`], stamped with the time it was made.
pub fn queue(reports: &Queue, key: &str, report: TaskReport) {
    let report = TaskReport {
        observed_at: Some(Timestamp::now()),
        ..report
    };
    let _ = reports.send((key.to_owned(), vec![report]));
}

/// What the runner has told the control plane so far of the supervisor's states.
#[derive(Default)]
pub struct Relayed {
    phase: Option<Phase>,
    containers: HashMap<String, ContainerReport>,
}

impl Relayed {
    /// What changed since the last relayed state — task status, containers — as a report to
    /// send, now counted as told; `None` when nothing did. A stopped supervisor is reported
    /// STOPPING: the final report says STOPPED once the task's resources are released.
    pub fn changes(&mut self, state: &Observed) -> Option<TaskReport> {
        let mut report = TaskReport::default();
        if self.phase != Some(state.phase) {
            report.status = match state.phase {
                Phase::Starting => None,
                Phase::Running => Some(TaskStatus::Running),
                Phase::Stopping | Phase::Stopped => Some(TaskStatus::Stopping),
            };
            self.phase = Some(state.phase);
        }
        for container in &state.containers {
            if self.containers.get(&container.name) != Some(container) {
                report.containers.push(container.clone());
                self.containers
                    .insert(container.name.clone(), container.clone());
            }
        }
        (report.status.is_some() || !report.containers.is_empty()).then_some(report)
    }
}

#[cfg(test)]
mod tests {
    use berth_model::lifecycle::ContainerStatus;
    use berth_shim::{ContainerState, ContainerStatus as Seen, ShimState};

    use super::*;

    fn state(phase: Phase, status: Seen, pid: Option<i32>) -> Observed {
        Observed::from(ShimState {
            version: berth_shim::protocol::VERSION,
            shim_pid: 1,
            phase,
            containers: vec![ContainerState {
                name: "app".into(),
                status,
                pid,
                exit_code: None,
                reason: None,
                started_at_ms: None,
                stopped_at_ms: None,
            }],
            stop: None,
        })
    }

    #[test]
    fn only_what_changed_is_relayed() {
        let mut relayed = Relayed::default();
        let starting = relayed
            .changes(&state(Phase::Starting, Seen::Pending, None))
            .unwrap();
        assert_eq!(starting.status, None);
        assert_eq!(
            starting.containers[0].status,
            Some(ContainerStatus::Pending)
        );
        // The same state again says nothing.
        assert_eq!(
            relayed.changes(&state(Phase::Starting, Seen::Pending, None)),
            None
        );
        let running = relayed
            .changes(&state(Phase::Running, Seen::Running, Some(42)))
            .unwrap();
        assert_eq!(running.status, Some(TaskStatus::Running));
        assert_eq!(running.containers[0].runtime_id.as_deref(), Some("42"));
        // A phase change alone carries no containers.
        let stopping = relayed
            .changes(&state(Phase::Stopping, Seen::Running, Some(42)))
            .unwrap();
        assert_eq!(stopping.status, Some(TaskStatus::Stopping));
        assert!(stopping.containers.is_empty());
        // A stopped supervisor is still STOPPING: STOPPED waits for the final report.
        let stopped = relayed
            .changes(&state(Phase::Stopped, Seen::Stopped, Some(42)))
            .unwrap();
        assert_eq!(stopped.status, Some(TaskStatus::Stopping));
        assert_eq!(stopped.containers[0].status, Some(ContainerStatus::Stopped));
    }
}

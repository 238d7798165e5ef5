//! The control plane's side of the node protocol: the tasks assigned to a node (now, and as
//! they change) and the observed state a node reports back. The binary connects this to the
//! node agent; a remote agent will speak the same protocol over the network later.

use berth_model::Timestamp;
use berth_model::lifecycle::{DesiredStatus, TaskReport, TaskStatus};
use berth_model::shapes::{Connectivity, Task, TaskDefinition, TaskStopCode};
use berth_store::{Compare, Event, KeyRange, Op, Revision, StoreError, Txn, Watcher};

use crate::Ecs;
use crate::cas::{Attempt, retry_cas};
use crate::keys;
use crate::records::{self, TaskRecord};
use crate::tasks::TaskError;

/// A task as its node needs it.
#[derive(Debug, Clone)]
pub struct Assignment {
    /// The task's store key: how the node names it in reports.
    pub key: String,
    /// The task document (desired status included).
    pub task: Task,
    /// The task definition it was started from.
    pub definition: TaskDefinition,
    /// Its network interface (awsvpc).
    pub network: Option<berth_model::network::TaskNetwork>,
}

impl Ecs {
    /// The tasks assigned to `node` now, and the store revision they were read at (watch from
    /// the next one).
    pub async fn node_assignments(
        &self,
        node: &str,
    ) -> Result<(Vec<Assignment>, Revision), TaskError> {
        let found = self
            .store
            .range(KeyRange::prefix(keys::node_tasks(node)), None)
            .await?;
        let mut assignments = Vec::new();
        for kv in &found.kvs {
            let key = String::from_utf8_lossy(&kv.value).into_owned();
            let task = self.store.range(KeyRange::key(key.as_str()), None).await?;
            if let Some(task_kv) = task.kvs.first() {
                let record: TaskRecord = records::decode(task_kv)?;
                assignments.push(Assignment {
                    key,
                    task: record.task,
                    definition: record.definition,
                    network: record.network,
                });
            }
        }
        Ok((assignments, found.revision))
    }

    /// Every change to task records from `from` on; decode each with [`Ecs::assignment_of`].
    pub fn watch_tasks(&self, from: Revision) -> Result<Watcher, StoreError> {
        // Every task of every account and region lives under it (clusters and task
        // definitions too, which `assignment_of` passes over).
        self.store.watch(KeyRange::prefix(keys::ALL_ECS), from)
    }

    /// The assignment an event is about, if it is a task of `node`.
    pub fn assignment_of(event: &Event, node: &str) -> Option<Assignment> {
        let Event::Put(kv) = event else { return None };
        let key = String::from_utf8_lossy(&kv.key).into_owned();
        if !keys::is_task(&key) {
            return None;
        }
        let record: TaskRecord = records::decode(kv).ok()?;
        (record.node == node).then_some(Assignment {
            key,
            task: record.task,
            definition: record.definition,
            network: record.network,
        })
    }

    /// Applies what a node observed to the task at `key`. Status only moves forward; the
    /// timestamps ECS keeps are set as the task passes each status.
    pub async fn report_task(&self, key: &str, reports: &[TaskReport]) -> Result<Task, TaskError> {
        retry_cas(
            || async {
                let found = self.store.range(KeyRange::key(key), None).await?;
                let kv = found
                    .kvs
                    .into_iter()
                    .next()
                    .ok_or_else(|| TaskError::NotFound(key.to_owned()))?;
                let mut record: TaskRecord = records::decode(&kv)?;
                let was_stopped = record.task.last_status.as_deref() == Some("STOPPED");
                // Several reports in order, one write: a node catching up costs one commit.
                for report in reports {
                    apply(&mut record.task, report);
                }
                let mut success = vec![Op::put(kv.key.clone(), records::encode(&record))];
                // A stopped task's address is free again, in the same write.
                if !was_stopped
                    && record.task.last_status.as_deref() == Some("STOPPED")
                    && let Some(network) = &record.network
                {
                    success.push(Op::Delete {
                        key: keys::address(network.address).into_bytes(),
                    });
                }
                let txn = Txn {
                    compares: vec![Compare::unchanged_since(kv.key.clone(), kv.mod_revision)],
                    success,
                    failure: vec![],
                };
                let committed = self.store.txn(txn).await?.succeeded;
                Ok(Attempt::committed(committed, record.task))
            },
            TaskError::Contended,
        )
        .await
    }
}

/// Every ENI attachment of `task` now has `status`.
fn set_attachments(task: &mut Task, status: &str) {
    for attachment in task.attachments.iter_mut().flatten() {
        attachment.status = Some(status.to_owned());
    }
}

fn apply(task: &mut Task, report: &TaskReport) {
    let now = report.observed_at.unwrap_or_else(Timestamp::now);
    let current = task
        .last_status
        .as_deref()
        .and_then(TaskStatus::parse)
        .unwrap_or(TaskStatus::Provisioning);
    if let Some(next) = report.status
        && let Ok(next) = current.transition(next)
    {
        task.last_status = Some(next.as_str().to_owned());
        match next {
            TaskStatus::Running => {
                task.started_at = task.started_at.or(Some(now));
                // Its interface is wired by the time its containers run.
                set_attachments(task, "ATTACHED");
                task.connectivity = Some(Connectivity::Connected);
                task.connectivity_at = task.connectivity_at.or(Some(now));
            }
            TaskStatus::Stopping => task.stopping_at = task.stopping_at.or(Some(now)),
            TaskStatus::Deprovisioning => {
                task.execution_stopped_at = task.execution_stopped_at.or(Some(now))
            }
            TaskStatus::Stopped => {
                task.execution_stopped_at = task.execution_stopped_at.or(Some(now));
                task.stopping_at = task.stopping_at.or(Some(now));
                task.stopped_at = Some(now);
                task.desired_status = Some(DesiredStatus::Stopped.as_str().to_owned());
                set_attachments(task, "DELETED");
            }
            _ => {}
        }
    }
    if report.pull_started_at.is_some() {
        task.pull_started_at = report.pull_started_at;
    }
    if report.pull_stopped_at.is_some() {
        task.pull_stopped_at = report.pull_stopped_at;
    }
    if task.stopped_reason.is_none() {
        task.stopped_reason = report.stopped_reason.clone();
    }
    if task.stop_code.is_none()
        && let Some(code) = &report.stop_code
    {
        task.stop_code =
            serde_json::from_value::<TaskStopCode>(serde_json::Value::String(code.clone())).ok();
    }
    for update in &report.containers {
        let Some(container) = task
            .containers
            .get_or_insert_with(Vec::new)
            .iter_mut()
            .find(|c| c.name.as_deref() == Some(update.name.as_str()))
        else {
            continue;
        };
        if let Some(status) = update.status {
            container.last_status = Some(status.as_str().to_owned());
        }
        if update.exit_code.is_some() {
            container.exit_code = update.exit_code;
        }
        if update.reason.is_some() {
            container.reason = update.reason.clone();
        }
        if update.runtime_id.is_some() {
            container.runtime_id = update.runtime_id.clone();
        }
        if update.image_digest.is_some() {
            container.image_digest = update.image_digest.clone();
        }
    }
    task.version = Some(task.version.unwrap_or(1) + 1);
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_model::lifecycle::ContainerReport;
    use berth_model::shapes::Container;

    fn task() -> Task {
        Task {
            last_status: Some("PROVISIONING".into()),
            desired_status: Some("RUNNING".into()),
            containers: Some(vec![Container {
                name: Some("app".into()),
                last_status: Some("PENDING".into()),
                ..Container::default()
            }]),
            ..Task::default()
        }
    }

    #[test]
    fn reports_move_forward_and_stamp_times() {
        let mut t = task();
        apply(
            &mut t,
            &TaskReport {
                status: Some(TaskStatus::Running),
                ..TaskReport::default()
            },
        );
        assert_eq!(t.last_status.as_deref(), Some("RUNNING"));
        assert!(t.started_at.is_some());
        // Backwards is ignored.
        apply(
            &mut t,
            &TaskReport {
                status: Some(TaskStatus::Pending),
                ..TaskReport::default()
            },
        );
        assert_eq!(t.last_status.as_deref(), Some("RUNNING"));
        apply(
            &mut t,
            &TaskReport {
                status: Some(TaskStatus::Stopped),
                stop_code: Some("EssentialContainerExited".into()),
                stopped_reason: Some("Essential container in task exited".into()),
                containers: vec![ContainerReport {
                    name: "app".into(),
                    status: Some(berth_model::lifecycle::ContainerStatus::Stopped),
                    exit_code: Some(3),
                    ..ContainerReport::default()
                }],
                ..TaskReport::default()
            },
        );
        assert_eq!(t.desired_status.as_deref(), Some("STOPPED"));
        assert_eq!(t.stop_code, Some(TaskStopCode::EssentialContainerExited));
        assert!(
            t.stopped_at.is_some() && t.stopping_at.is_some() && t.execution_stopped_at.is_some()
        );
        let c = &t.containers.as_ref().unwrap()[0];
        assert_eq!(
            (c.last_status.as_deref(), c.exit_code),
            (Some("STOPPED"), Some(3))
        );
    }

    #[test]
    fn statuses_are_stamped_with_the_time_the_node_observed_them() {
        let mut t = task();
        let seen = Timestamp::from_millis(1_700_000_000_000);
        apply(
            &mut t,
            &TaskReport {
                status: Some(TaskStatus::Running),
                observed_at: Some(seen),
                ..TaskReport::default()
            },
        );
        assert_eq!(t.started_at, Some(seen));
    }

    #[test]
    fn a_users_stop_reason_is_kept() {
        let mut t = task();
        t.stopped_reason = Some("mine".into());
        apply(
            &mut t,
            &TaskReport {
                stopped_reason: Some("agent's".into()),
                ..TaskReport::default()
            },
        );
        assert_eq!(t.stopped_reason.as_deref(), Some("mine"));
    }
}

//! The control plane's side of the node protocol: the tasks assigned to a node (now, and as
//! they change) and the observed state a node reports back. The binary connects this to the
//! node agent; a remote agent will speak the same protocol over the network later.
//!
//! A node follows the task records (desired state) alone: its own reports go to the tasks'
//! observed records, outside the range it watches, and never wake it. Each assignment still
//! carries the whole task — both records put together — since a node deciding whether to
//! start a task or adopt it must know how far it got.

use berth_model::Timestamp;
use berth_model::lifecycle::{DesiredStatus, TaskReport, TaskStatus};
use berth_model::shapes::{Connectivity, Task, TaskDefinition, TaskStopCode};
use berth_store::{Compare, Event, KeyRange, Op, Revision, StoreError, Txn, Watcher};

use crate::Ecs;
use crate::cas::{Attempt, retry_cas};
use crate::keys;
use crate::records::{self, ObservedTask, TaskRecord};
use crate::tasks::{FoundTask, TaskError};

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
            if let Some(task) = self.read_task(&key).await? {
                assignments.push(assignment(key, &task));
            }
        }
        Ok((assignments, found.revision))
    }

    /// Every change to task records (desired state) from `from` on; read each with
    /// [`Ecs::assignment_of`].
    pub fn watch_tasks(&self, from: Revision) -> Result<Watcher, StoreError> {
        // Every task record of every account and region lives under it (clusters and task
        // definitions too, which `assignment_of` passes over); observed records do not.
        self.store.watch(KeyRange::prefix(keys::ALL_ECS), from)
    }

    /// The assignment an event of [`Ecs::watch_tasks`] is about, if it is a task of `node`:
    /// the task record the event carries, with what was observed of the task as of now.
    pub async fn assignment_of(
        &self,
        event: &Event,
        node: &str,
    ) -> Result<Option<Assignment>, TaskError> {
        let Event::Put(kv) = event else {
            return Ok(None);
        };
        let key = String::from_utf8_lossy(&kv.key).into_owned();
        if !keys::is_task(&key) {
            return Ok(None);
        }
        let record: TaskRecord = records::decode(kv)?;
        if record.node != node {
            return Ok(None);
        }
        let observed = self
            .store
            .range(KeyRange::key(keys::observed_task(&key)), None)
            .await?;
        let observed = match observed.kvs.first() {
            Some(observed) => records::decode(observed)?,
            None => ObservedTask::of(&record.task, 0),
        };
        Ok(Some(Assignment {
            key,
            task: observed.merge(&record.task),
            definition: record.definition,
            network: record.network,
        }))
    }

    /// Applies what a node observed to the task at `key`. Status only moves forward; the
    /// timestamps ECS keeps are set as the task passes each status. Only the task's observed
    /// record is written (and compared on): StopTask and the like, which change its task
    /// record, never make a report start over, nor a report them.
    pub async fn report_task(&self, key: &str, reports: &[TaskReport]) -> Result<Task, TaskError> {
        let applied = i64::try_from(reports.len()).unwrap_or(i64::MAX);
        retry_cas(
            || async {
                let found = self
                    .read_task(key)
                    .await?
                    .ok_or_else(|| TaskError::NotFound(key.to_owned()))?;
                let mut task = found.task();
                let was_stopped = task.last_status.as_deref() == Some("STOPPED");
                // Several reports in order, one write: a node catching up costs one commit.
                for report in reports {
                    apply(&mut task, report);
                }
                let observed =
                    ObservedTask::of(&task, found.observed.reports.saturating_add(applied));
                let observed_key = keys::observed_task(key);
                let compare = match &found.observed_kv {
                    Some(kv) => Compare::unchanged_since(observed_key.as_str(), kv.mod_revision),
                    None => Compare::absent(observed_key.as_str()),
                };
                let mut success = vec![Op::put(observed_key, records::encode(&observed))];
                // A stopped task's address is free again, in the same write.
                if !was_stopped
                    && task.last_status.as_deref() == Some("STOPPED")
                    && let Some(network) = &found.record.network
                {
                    success.push(Op::Delete {
                        key: keys::address(network.address).into_bytes(),
                    });
                }
                let txn = Txn {
                    compares: vec![compare],
                    success,
                    failure: vec![],
                };
                let committed = self.store.txn(txn).await?.succeeded;
                Ok(Attempt::committed(
                    committed,
                    observed.merge(&found.record.task),
                ))
            },
            TaskError::Contended,
        )
        .await
    }
}

/// A task as its node is given it.
fn assignment(key: String, found: &FoundTask) -> Assignment {
    Assignment {
        key,
        task: found.task(),
        definition: found.record.definition.clone(),
        network: found.record.network.clone(),
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

    /// Desired and observed state kept apart, read together.
    mod split {
        use std::time::Duration;

        use berth_model::lifecycle::{ContainerReport, ContainerStatus};
        use berth_store::{EmbeddedStore, KeyValue, Store};

        use super::*;
        use crate::network::NetworkConfig;
        use crate::placement::LOCAL_NODE;
        use crate::testing::{cluster_and_definition, run_web, scope, store, two_planes};
        use crate::{ListTasksQuery, PageRequest};

        fn at(ms: i64) -> Option<Timestamp> {
            Some(Timestamp::from_millis(1_700_000_000_000 + ms))
        }

        fn report(status: TaskStatus, ms: i64) -> TaskReport {
            TaskReport {
                status: Some(status),
                observed_at: at(ms),
                ..TaskReport::default()
            }
        }

        fn container(status: ContainerStatus, exit_code: Option<i32>) -> ContainerReport {
            ContainerReport {
                name: "app".into(),
                status: Some(status),
                exit_code,
                runtime_id: Some("4242".into()),
                ..ContainerReport::default()
            }
        }

        /// What the real agent reports of a task that runs: every batch up to RUNNING.
        fn up_to_running() -> Vec<Vec<TaskReport>> {
            vec![
                vec![TaskReport {
                    pull_started_at: at(1),
                    ..report(TaskStatus::Pending, 1)
                }],
                vec![TaskReport {
                    pull_stopped_at: at(2),
                    containers: vec![ContainerReport {
                        name: "app".into(),
                        image_digest: Some("sha256:abc".into()),
                        ..ContainerReport::default()
                    }],
                    ..report(TaskStatus::Activating, 2)
                }],
                vec![TaskReport {
                    containers: vec![ContainerReport {
                        name: "app".into(),
                        status: Some(ContainerStatus::Pending),
                        ..ContainerReport::default()
                    }],
                    observed_at: at(3),
                    ..TaskReport::default()
                }],
                vec![TaskReport {
                    containers: vec![container(ContainerStatus::Running, None)],
                    ..report(TaskStatus::Running, 4)
                }],
            ]
        }

        /// ...and from its stop on.
        fn stopping(code: &str, reason: &str, exit_code: i32) -> Vec<Vec<TaskReport>> {
            vec![
                vec![report(TaskStatus::Stopping, 10)],
                vec![TaskReport {
                    containers: vec![container(ContainerStatus::Stopped, Some(exit_code))],
                    observed_at: at(11),
                    ..TaskReport::default()
                }],
                vec![
                    report(TaskStatus::Deprovisioning, 12),
                    TaskReport {
                        stop_code: Some(code.into()),
                        stopped_reason: Some(reason.into()),
                        containers: vec![container(ContainerStatus::Stopped, Some(exit_code))],
                        ..report(TaskStatus::Stopped, 13)
                    },
                ],
            ]
        }

        /// StopTask, as it changed the one record there was.
        fn stop(task: &mut Task, reason: &str) {
            if task.desired_status.as_deref() != Some("STOPPED") {
                task.desired_status = Some("STOPPED".into());
                task.stop_code = Some(TaskStopCode::UserInitiated);
                task.stopped_reason = Some(reason.into());
                task.version = Some(task.version.unwrap_or(1) + 1);
            }
        }

        async fn describe(ecs: &Ecs, arn: &str) -> Task {
            let (mut tasks, failures) = ecs
                .describe_tasks(&scope(), None, &[arn.to_owned()], true)
                .await
                .unwrap();
            assert!(failures.is_empty(), "{failures:?}");
            tasks.remove(0)
        }

        async fn get(store: &EmbeddedStore, key: &str) -> Option<KeyValue> {
            store
                .range(KeyRange::key(key), None)
                .await
                .unwrap()
                .kvs
                .into_iter()
                .next()
        }

        /// A new task: its ARN and its key.
        async fn run(ecs: &Ecs) -> (String, String) {
            let (tasks, _) = ecs
                .run_task(&scope(), run_web("subnet-1", &[]))
                .await
                .unwrap();
            let arn = tasks[0].task_arn.clone().unwrap();
            let id = arn.rsplit('/').next().unwrap().to_owned();
            (arn, keys::task(&scope(), "default", &id))
        }

        async fn running_arns(ecs: &Ecs) -> Vec<String> {
            ecs.list_tasks(
                &scope(),
                &ListTasksQuery::default(),
                &PageRequest::default(),
            )
            .await
            .unwrap()
            .items
        }

        /// Every step of a task's life, each read back against the one-record document the
        /// same steps made before the split: every field, the same values.
        #[tokio::test]
        async fn the_two_records_read_as_the_one_did() {
            let (_dir, store) = store();
            let ecs = Ecs::new(store.clone());
            cluster_and_definition(&ecs).await;
            let (tasks, _) = ecs
                .run_task(&scope(), run_web("subnet-1", &[]))
                .await
                .unwrap();
            let mut expected = tasks[0].clone();
            let arn = expected.task_arn.clone().unwrap();
            let key = keys::task(&scope(), "default", arn.rsplit('/').next().unwrap());
            assert_eq!(describe(&ecs, &arn).await, expected);

            for batch in up_to_running() {
                let reported = ecs.report_task(&key, &batch).await.unwrap();
                for report in &batch {
                    apply(&mut expected, report);
                }
                assert_eq!(reported, expected);
                assert_eq!(describe(&ecs, &arn).await, expected);
            }
            let stopped = ecs
                .stop_task(&scope(), None, &arn, Some("enough"))
                .await
                .unwrap();
            stop(&mut expected, "enough");
            assert_eq!(stopped, expected);
            assert_eq!(describe(&ecs, &arn).await, expected);
            for batch in stopping("UserInitiated", "Task stopped by user", 143) {
                ecs.report_task(&key, &batch).await.unwrap();
                for report in &batch {
                    apply(&mut expected, report);
                }
                assert_eq!(describe(&ecs, &arn).await, expected);
            }
            assert_eq!(expected.stopped_reason.as_deref(), Some("enough"));
            assert_eq!(expected.version, Some(10));

            // The task record was written by RunTask and StopTask alone; the address is free.
            assert_eq!(get(&store, &key).await.unwrap().version, 2);
            assert!(get(&store, &keys::observed_task(&key)).await.is_some());
            assert!(ecs.claimed_addresses().await.unwrap().is_empty());
            // ListTasks and the node see the same document.
            let stopped = ListTasksQuery {
                desired_status: Some(DesiredStatus::Stopped),
                ..ListTasksQuery::default()
            };
            let listed = ecs
                .list_tasks(&scope(), &stopped, &PageRequest::default())
                .await
                .unwrap();
            assert_eq!(listed.items, std::slice::from_ref(&arn));
            let (assignments, _) = ecs.node_assignments(LOCAL_NODE).await.unwrap();
            assert_eq!(assignments[0].task, expected);
        }

        /// A task that exits on its own: STOPPED by the node alone still lists as desired
        /// STOPPED, and a StopTask after it changes nothing.
        #[tokio::test]
        async fn a_task_that_ended_on_its_own_is_desired_stopped() {
            let (_dir, store) = store();
            let ecs = Ecs::new(store.clone());
            cluster_and_definition(&ecs).await;
            let (arn, key) = run(&ecs).await;
            for batch in up_to_running().into_iter().chain(stopping(
                "EssentialContainerExited",
                "Essential container in task exited",
                3,
            )) {
                ecs.report_task(&key, &batch).await.unwrap();
            }
            let task = describe(&ecs, &arn).await;
            assert_eq!(task.desired_status.as_deref(), Some("STOPPED"));
            assert!(running_arns(&ecs).await.is_empty());
            let after = ecs.stop_task(&scope(), None, &arn, None).await.unwrap();
            assert_eq!(after, task);
            assert_eq!(get(&store, &key).await.unwrap().version, 1);
        }

        /// Data from before the split: one record holding both. It reads as it was, StopTask
        /// changes it in place, and the first report after the split starts its observed
        /// record, leaving the old one's observed fields behind.
        #[tokio::test]
        async fn a_task_stored_before_the_split_reads_as_it_was() {
            let (_dir, store) = store();
            let ecs = Ecs::new(store.clone());
            cluster_and_definition(&ecs).await;
            let (arn, key) = run(&ecs).await;
            // What the old report_task left: the reports applied to the task record itself.
            let kv = get(&store, &key).await.unwrap();
            let mut old: TaskRecord = records::decode(&kv).unwrap();
            for report in up_to_running().iter().flatten() {
                apply(&mut old.task, report);
            }
            let put = Txn {
                success: vec![Op::put(key.as_str(), records::encode(&old))],
                ..Txn::default()
            };
            store.txn(put).await.unwrap();
            let mut expected = old.task.clone();
            assert_eq!(expected.last_status.as_deref(), Some("RUNNING"));

            assert_eq!(describe(&ecs, &arn).await, expected);
            assert_eq!(running_arns(&ecs).await, std::slice::from_ref(&arn));
            let (assignments, _) = ecs.node_assignments(LOCAL_NODE).await.unwrap();
            assert_eq!(assignments[0].task, expected);

            ecs.stop_task(&scope(), None, &arn, None).await.unwrap();
            stop(&mut expected, "Task stopped by user");
            assert_eq!(describe(&ecs, &arn).await, expected);
            assert!(get(&store, &keys::observed_task(&key)).await.is_none());

            let desired_before = get(&store, &key).await.unwrap();
            for batch in stopping("UserInitiated", "Task stopped by user", 137) {
                ecs.report_task(&key, &batch).await.unwrap();
                for report in &batch {
                    apply(&mut expected, report);
                }
                assert_eq!(describe(&ecs, &arn).await, expected);
            }
            // Reports went to the observed record: the old one is as StopTask left it.
            assert_eq!(get(&store, &key).await.unwrap(), desired_before);
            assert!(get(&store, &keys::observed_task(&key)).await.is_some());
            assert_eq!(expected.last_status.as_deref(), Some("STOPPED"));
            assert!(ecs.claimed_addresses().await.unwrap().is_empty());
        }

        /// The observed record lost (or never written): the task is PROVISIONING, as RunTask
        /// left it.
        #[tokio::test]
        async fn a_task_without_an_observed_record_reads_as_provisioning() {
            let (_dir, store) = store();
            let ecs = Ecs::new(store.clone());
            cluster_and_definition(&ecs).await;
            let (arn, key) = run(&ecs).await;
            let provisioning = describe(&ecs, &arn).await;
            for batch in up_to_running() {
                ecs.report_task(&key, &batch).await.unwrap();
            }
            assert_eq!(
                describe(&ecs, &arn).await.last_status.as_deref(),
                Some("RUNNING")
            );
            let lost = Txn {
                success: vec![Op::Delete {
                    key: keys::observed_task(&key).into_bytes(),
                }],
                ..Txn::default()
            };
            store.txn(lost).await.unwrap();
            let task = describe(&ecs, &arn).await;
            assert_eq!(task, provisioning);
            assert_eq!(task.last_status.as_deref(), Some("PROVISIONING"));
            let container = &task.containers.as_ref().unwrap()[0];
            assert_eq!(container.last_status.as_deref(), Some("PENDING"));
        }

        /// The node's watch follows task records: a report does not wake it, and an
        /// assignment still says how far the task got.
        #[tokio::test]
        async fn reports_do_not_wake_the_nodes_watch() {
            let (_dir, store) = store();
            let ecs = Ecs::new(store.clone());
            cluster_and_definition(&ecs).await;
            let (_, revision) = ecs.node_assignments(LOCAL_NODE).await.unwrap();
            let mut watcher = ecs.watch_tasks(revision + 1).unwrap();
            let (arn, key) = run(&ecs).await;
            for batch in up_to_running() {
                ecs.report_task(&key, &batch).await.unwrap();
            }
            ecs.stop_task(&scope(), None, &arn, None).await.unwrap();

            let mut next = async || {
                let event = tokio::time::timeout(Duration::from_secs(10), watcher.next())
                    .await
                    .expect("an event")
                    .expect("the store open");
                ecs.assignment_of(&event, LOCAL_NODE).await.unwrap()
            };
            let placed = next().await.expect("the new task");
            assert_eq!(placed.key, key);
            // The task record as RunTask wrote it, with what is observed now.
            assert_eq!(placed.task.last_status.as_deref(), Some("RUNNING"));
            assert_eq!(placed.task.desired_status.as_deref(), Some("RUNNING"));
            let stopped = next().await.expect("the stop");
            assert_eq!(stopped.task.desired_status.as_deref(), Some("STOPPED"));
            assert_eq!(stopped.task.last_status.as_deref(), Some("RUNNING"));
            // Another node's task is not this node's assignment.
            let (_, other_key) = run(&ecs).await;
            let event = tokio::time::timeout(Duration::from_secs(10), watcher.next())
                .await
                .unwrap()
                .unwrap();
            assert!(
                ecs.assignment_of(&event, "elsewhere")
                    .await
                    .unwrap()
                    .is_none()
            );
            assert_eq!(
                ecs.assignment_of(&event, LOCAL_NODE)
                    .await
                    .unwrap()
                    .unwrap()
                    .key,
                other_key
            );
        }

        /// StopTask in the middle of a report and a report in the middle of StopTask: neither
        /// has to start over, as each writes a record of its own.
        #[tokio::test]
        async fn stop_task_and_reports_do_not_contend() {
            let planes = two_planes(NetworkConfig::default());
            cluster_and_definition(&planes.inner).await;
            let (arn, key) = run(&planes.inner).await;
            let observed_prefix = keys::observed_task("");
            let is_report = move |txn: &Txn| {
                txn.success
                    .iter()
                    .any(|op| op.key().starts_with(observed_prefix.as_bytes()))
            };

            let (inner, stopped) = (planes.inner.clone(), arn.clone());
            planes.between.before(is_report.clone(), move || {
                Box::pin(async move {
                    inner
                        .stop_task(&scope(), None, &stopped, None)
                        .await
                        .unwrap();
                })
            });
            let before = planes.between.txns();
            let batches = up_to_running();
            planes.outer.report_task(&key, &batches[0]).await.unwrap();
            assert!(planes.between.ran());
            assert_eq!(planes.between.txns() - before, 1, "the report started over");

            let stopped = planes.inner.stop_task(&scope(), None, &arn, None).await;
            assert!(stopped.is_ok());
            // The other way round, on a task still running.
            let (arn, key) = run(&planes.inner).await;
            let (inner, reported) = (planes.inner.clone(), key.clone());
            let task_key = key.clone();
            planes.between.before(
                move |txn| txn.success.iter().any(|op| op.key() == task_key.as_bytes()),
                move || {
                    Box::pin(async move {
                        inner
                            .report_task(&reported, &up_to_running()[0])
                            .await
                            .unwrap();
                    })
                },
            );
            let before = planes.between.txns();
            let task = planes
                .outer
                .stop_task(&scope(), None, &arn, None)
                .await
                .unwrap();
            assert!(planes.between.ran());
            assert_eq!(planes.between.txns() - before, 1, "StopTask started over");
            assert_eq!(task.desired_status.as_deref(), Some("STOPPED"));
            // Both writes stand.
            let task = describe(&planes.inner, &arn).await;
            assert_eq!(task.last_status.as_deref(), Some("PENDING"));
            assert_eq!(task.desired_status.as_deref(), Some("STOPPED"));
            assert_eq!(task.stop_code, Some(TaskStopCode::UserInitiated));
        }

        /// A StopTask that read the task just before its STOPPED report and writes just after
        /// it does not take the stop over: the task stopped on its own, and says so.
        #[tokio::test]
        async fn a_stop_task_racing_the_stopped_report_does_not_reword_it() {
            let planes = two_planes(NetworkConfig::default());
            cluster_and_definition(&planes.inner).await;
            let (arn, key) = run(&planes.inner).await;
            for batch in up_to_running() {
                planes.inner.report_task(&key, &batch).await.unwrap();
            }
            let task_key = key.clone();
            let (inner, reported) = (planes.inner.clone(), key.clone());
            planes.between.before(
                move |txn| txn.success.iter().any(|op| op.key() == task_key.as_bytes()),
                move || {
                    Box::pin(async move {
                        let stopped = TaskReport {
                            stop_code: Some("EssentialContainerExited".into()),
                            stopped_reason: Some("Essential container in task exited".into()),
                            ..report(TaskStatus::Stopped, 9)
                        };
                        inner.report_task(&reported, &[stopped]).await.unwrap();
                    })
                },
            );
            planes
                .outer
                .stop_task(&scope(), None, &arn, None)
                .await
                .unwrap();
            assert!(planes.between.ran());
            let task = describe(&planes.inner, &arn).await;
            assert_eq!(task.last_status.as_deref(), Some("STOPPED"));
            assert_eq!(task.stop_code, Some(TaskStopCode::EssentialContainerExited));
            assert_eq!(
                task.stopped_reason.as_deref(),
                Some("Essential container in task exited")
            );
        }
    }
}

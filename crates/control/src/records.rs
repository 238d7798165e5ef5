//! What is stored under each key: the ECS document plus what ECS keeps beside it, as JSON —
//! and the EC2 security group, which both the network (a VPC's default group) and the
//! security groups' own operations make.
//!
//! A task is stored as two records (see `keys.rs`): its [`TaskRecord`], the desired state,
//! and its [`ObservedTask`], what its node reported. [`ObservedTask::merge`] puts them back
//! together into the one ECS `Task` document DescribeTasks returns.

use berth_model::Timestamp;
use berth_model::lifecycle::{DesiredStatus, TaskStatus};
use berth_model::security_groups::{RuleSource, SecurityGroupRule};
use berth_model::shapes::{Cluster, Connectivity, Tag, Task, TaskDefinition, TaskStopCode};
use berth_store::KeyValue;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::ids::{RandomError, new_id};

/// A cluster as stored (its tags live inside the document, as ECS returns them).
pub type ClusterRecord = Cluster;

/// A task definition revision and its tags (tags are not part of the TaskDefinition shape).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskDefinitionRecord {
    pub definition: TaskDefinition,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// A task's desired state: the ECS document as RunTask made it and as users and controllers
/// change it, the task definition it was started from (so later changes to the definition do
/// not change a running task), and the node it is placed on.
///
/// Its document's observed fields ([`ObservedTask`]'s) stay as RunTask wrote them —
/// PROVISIONING, every container PENDING — and are read only while no observed record
/// exists: so a task its node has not reported on yet reads as PROVISIONING. A record
/// written before the split (one record with both) holds the observed state it had then,
/// and is read the same way until its first report after the split writes the observed
/// record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskRecord {
    pub task: Task,
    pub definition: TaskDefinition,
    pub node: String,
    /// Its network interface (awsvpc), its address claimed under `keys::address`.
    #[serde(default)]
    pub network: Option<berth_model::network::TaskNetwork>,
}

/// What a task's node observed of it, written only by `report_task`: the ECS `Task` fields
/// that come from the node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ObservedTask {
    pub last_status: Option<String>,
    pub pull_started_at: Option<Timestamp>,
    pub pull_stopped_at: Option<Timestamp>,
    pub started_at: Option<Timestamp>,
    pub connectivity: Option<Connectivity>,
    pub connectivity_at: Option<Timestamp>,
    pub stopping_at: Option<Timestamp>,
    pub execution_stopped_at: Option<Timestamp>,
    pub stopped_at: Option<Timestamp>,
    /// The node's stop code and reason; a user's (StopTask's, in the task record) wins.
    pub stop_code: Option<TaskStopCode>,
    pub stopped_reason: Option<String>,
    /// The status of the task's network attachments (all of them alike).
    pub attachment_status: Option<String>,
    pub containers: Vec<ObservedContainer>,
    /// How many reports have been applied: the document's `version` is the task record's plus
    /// these, as each report counted one more version when both were one record.
    pub reports: i64,
}

/// What a task's node observed of one of its containers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ObservedContainer {
    pub name: String,
    pub last_status: Option<String>,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
    pub runtime_id: Option<String>,
    pub image_digest: Option<String>,
}

impl ObservedTask {
    /// The observed fields of `task`, `reports` reports in: from a document after reports
    /// were applied to it, or — `reports` 0 — from a task record no observed record has been
    /// written for.
    pub fn of(task: &Task, reports: i64) -> Self {
        Self {
            last_status: task.last_status.clone(),
            pull_started_at: task.pull_started_at,
            pull_stopped_at: task.pull_stopped_at,
            started_at: task.started_at,
            connectivity: task.connectivity,
            connectivity_at: task.connectivity_at,
            stopping_at: task.stopping_at,
            execution_stopped_at: task.execution_stopped_at,
            stopped_at: task.stopped_at,
            stop_code: task.stop_code,
            stopped_reason: task.stopped_reason.clone(),
            attachment_status: task
                .attachments
                .iter()
                .flatten()
                .find_map(|a| a.status.clone()),
            containers: task
                .containers
                .iter()
                .flatten()
                .map(|c| ObservedContainer {
                    name: c.name.clone().unwrap_or_default(),
                    last_status: c.last_status.clone(),
                    exit_code: c.exit_code,
                    reason: c.reason.clone(),
                    runtime_id: c.runtime_id.clone(),
                    image_digest: c.image_digest.clone(),
                })
                .collect(),
            reports,
        }
    }

    /// The ECS document: `desired` (a task record's) with what was observed in place of its
    /// observed fields. A stopped task's desired status is STOPPED, as ECS shows it.
    pub fn merge(&self, desired: &Task) -> Task {
        let mut task = desired.clone();
        task.last_status = self.last_status.clone();
        task.pull_started_at = self.pull_started_at;
        task.pull_stopped_at = self.pull_stopped_at;
        task.started_at = self.started_at;
        task.connectivity = self.connectivity;
        task.connectivity_at = self.connectivity_at;
        task.stopping_at = self.stopping_at;
        task.execution_stopped_at = self.execution_stopped_at;
        task.stopped_at = self.stopped_at;
        // Set once, by whoever came first. A user's stop is in the task record, and a report
        // that came after it kept it (reports apply to the merged task). Once the task is
        // STOPPED its own record has the last word: a StopTask that read the task just before
        // the STOPPED report and wrote just after it (it compares only the task record) must
        // not take the stop over — with one record, its compare would have failed and its
        // retry found the task stopped.
        let stopped = self.last_status.as_deref() == Some(TaskStatus::Stopped.as_str());
        if stopped && self.stop_code.is_some() {
            task.stop_code = self.stop_code;
            task.stopped_reason = self.stopped_reason.clone();
        } else {
            task.stop_code = desired.stop_code.or(self.stop_code);
            task.stopped_reason = desired
                .stopped_reason
                .clone()
                .or_else(|| self.stopped_reason.clone());
        }
        if stopped {
            task.desired_status = Some(DesiredStatus::Stopped.as_str().to_owned());
        }
        if let Some(status) = &self.attachment_status {
            for attachment in task.attachments.iter_mut().flatten() {
                attachment.status = Some(status.clone());
            }
        }
        for container in task.containers.iter_mut().flatten() {
            let Some(observed) = self
                .containers
                .iter()
                .find(|o| Some(&o.name) == container.name.as_ref())
            else {
                continue;
            };
            container.last_status = observed.last_status.clone();
            container.exit_code = observed.exit_code;
            container.reason = observed.reason.clone();
            container.runtime_id = observed.runtime_id.clone();
            container.image_digest = observed.image_digest.clone();
        }
        task.version = Some(desired.version.unwrap_or(1) + self.reports);
        task
    }
}

/// A security group, as EC2's `SecurityGroup` names its fields.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityGroupRecord {
    pub group_id: String,
    pub group_name: String,
    pub description: String,
    pub vpc_id: String,
    /// Ingress rules, one protocol, port range and source each.
    pub ingress: Vec<SecurityGroupRule>,
}

impl SecurityGroupRecord {
    /// A VPC's `default` group.
    pub(crate) fn default_group(group_id: &str, vpc_id: &str) -> Result<Self, RandomError> {
        Self::new(group_id, "default", "default VPC security group", vpc_id)
    }

    /// A new group: ingress only from its own members (all egress is implied), as AWS's
    /// default group has.
    pub(crate) fn new(
        group_id: &str,
        name: &str,
        description: &str,
        vpc_id: &str,
    ) -> Result<Self, RandomError> {
        Ok(Self {
            group_id: group_id.to_owned(),
            group_name: name.to_owned(),
            description: description.to_owned(),
            vpc_id: vpc_id.to_owned(),
            ingress: vec![SecurityGroupRule {
                security_group_rule_id: new_id("sgr")?,
                ip_protocol: "-1".into(),
                from_port: None,
                to_port: None,
                source: RuleSource::ReferencedGroupId(group_id.to_owned()),
                description: None,
            }],
        })
    }
}

/// A stored record that does not decode: the store holds bytes this version did not write.
#[derive(Debug, Clone, thiserror::Error)]
#[error("stored record {key} cannot be decoded")]
pub struct CorruptRecord {
    pub key: String,
}

pub fn decode<T: DeserializeOwned>(kv: &KeyValue) -> Result<T, CorruptRecord> {
    serde_json::from_slice(&kv.value).map_err(|_| CorruptRecord {
        key: String::from_utf8_lossy(&kv.key).into_owned(),
    })
}

pub fn encode<T: Serialize>(record: &T) -> Vec<u8> {
    // Cannot fail for these types: every map has string keys and no serializer returns an
    // error (non-finite floats become null). Writing an empty record instead would corrupt
    // state, so a broken invariant must stop the request rather than be papered over.
    serde_json::to_vec(record).expect("records serialize to JSON")
}

#[cfg(test)]
mod tests {
    use berth_model::shapes::{Attachment, Container};

    use super::*;

    /// One record as it was before the split, with every observed field set.
    fn combined() -> Task {
        let at = |ms: i64| Some(Timestamp::from_millis(1_700_000_000_000 + ms));
        Task {
            task_arn: Some("arn:aws:ecs:us-east-1:123456789012:task/default/abc".into()),
            last_status: Some("STOPPED".into()),
            desired_status: Some("STOPPED".into()),
            pull_started_at: at(1),
            pull_stopped_at: at(2),
            started_at: at(3),
            connectivity: Some(Connectivity::Connected),
            connectivity_at: at(3),
            stopping_at: at(4),
            execution_stopped_at: at(5),
            stopped_at: at(6),
            stop_code: Some(TaskStopCode::EssentialContainerExited),
            stopped_reason: Some("Essential container in task exited".into()),
            attachments: Some(vec![Attachment {
                status: Some("DELETED".into()),
                ..Attachment::default()
            }]),
            containers: Some(vec![Container {
                name: Some("app".into()),
                last_status: Some("STOPPED".into()),
                exit_code: Some(3),
                reason: Some("OutOfMemoryError: Container killed due to memory usage".into()),
                runtime_id: Some("4242".into()),
                image_digest: Some("sha256:abc".into()),
                ..Container::default()
            }]),
            version: Some(9),
            ..Task::default()
        }
    }

    #[test]
    fn a_record_read_as_both_is_itself() {
        let task = combined();
        assert_eq!(ObservedTask::of(&task, 0).merge(&task), task);
    }

    #[test]
    fn the_observed_record_replaces_every_observed_field() {
        // A task record whose observed fields all say something else (as RunTask's do, and
        // as a record from before the split may), and what its node observed since.
        let stale = Some(Timestamp::from_millis(1));
        let desired = Task {
            last_status: Some("PROVISIONING".into()),
            desired_status: Some("RUNNING".into()),
            pull_started_at: stale,
            pull_stopped_at: stale,
            started_at: stale,
            connectivity: Some(Connectivity::Disconnected),
            connectivity_at: stale,
            stopping_at: stale,
            execution_stopped_at: stale,
            stopped_at: stale,
            stop_code: None,
            stopped_reason: None,
            attachments: Some(vec![Attachment {
                status: Some("PRECREATED".into()),
                ..Attachment::default()
            }]),
            containers: Some(vec![Container {
                name: Some("app".into()),
                last_status: Some("PENDING".into()),
                runtime_id: Some("1".into()),
                ..Container::default()
            }]),
            version: Some(1),
            ..combined()
        };
        let observed = ObservedTask::of(&combined(), 8);
        assert_eq!(observed.merge(&desired), combined());
        // A user's stop reason, in the task record, is the one shown while the task stops;
        // once STOPPED, the task's own record says why (a report that came after the user's
        // stop kept it there).
        let stopped_by_user = Task {
            stopped_reason: Some("enough".into()),
            ..desired
        };
        let stopping = ObservedTask::of(
            &Task {
                last_status: Some("STOPPING".into()),
                stop_code: None,
                stopped_reason: None,
                ..combined()
            },
            8,
        );
        assert_eq!(
            stopping.merge(&stopped_by_user).stopped_reason.as_deref(),
            Some("enough")
        );
        assert_eq!(
            observed.merge(&stopped_by_user).stopped_reason,
            combined().stopped_reason
        );
    }
}

//! Tasks: RunTask, DescribeTasks, ListTasks and StopTask.
//!
//! RunTask goes in three steps: it validates the request as ECS does (snapshotting the task
//! definition into each new task), places each task on a node (`placement.rs`), and writes
//! them in one transaction: each task record (desired state RUNNING, last status
//! PROVISIONING) and its node's assignment key, which the node's agent watches. Everything
//! after that — pulling, starting, stopping, exit codes — is observed state the agent reports
//! into the task's observed record (`node.rs`), apart from the task record that StopTask and
//! TagResource change; every read puts the two together ([`FoundTask::task`]).

use berth_model::lifecycle::{DesiredStatus, TaskStatus};
use berth_model::network::{self, TaskNetwork};
use berth_model::shapes::{
    AssignPublicIp, Attachment, AwsVpcConfiguration, CapacityProviderStrategyItem, Compatibility,
    Container, EphemeralStorage, Failure, KeyValuePair, LaunchType, NetworkConfiguration,
    NetworkInterface, NetworkMode, PropagateTags, Tag, Task, TaskDefinition, TaskDefinitionStatus,
    TaskOverride, TaskStopCode,
};
use berth_model::tags::{self, TagError};
use berth_model::{AccountRegion, ResourceArn, Timestamp, fargate};
use berth_store::{Compare, KeyRange, KeyValue, Op, StoreError, Txn};
use std::collections::HashMap;
use std::net::Ipv4Addr;

use crate::Ecs;
use crate::cas::{Attempt, retry_cas};
use crate::clusters::{CAPACITY_PROVIDERS, ClusterError};
use crate::ec2_error::{Ec2Code, Ec2Error};
use crate::ids::{RandomError, attachment_id, new_id, random_hex};
use crate::keys;
use crate::network::SubnetRecord;
use crate::paging::{Page, PageError, PageRequest};
use crate::placement;
use crate::records::{self, CorruptRecord, ObservedTask, TaskRecord};
use crate::security_groups::depend_on_groups;
use crate::task_definitions::TaskDefinitionOpError;

const MAX_COUNT: i32 = 10;
const DESCRIBE_LIMIT: usize = 100;
const LIST_LIMIT: usize = 100;
/// The platform version Fargate reports for tasks like these.
const PLATFORM_VERSION: &str = "1.4.0";
/// Ephemeral storage a Fargate task gets unless its definition asks for more.
const DEFAULT_EPHEMERAL_GIB: i32 = 20;

/// Why a task operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TaskError {
    /// The cluster does not exist.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The task definition cannot be resolved.
    #[error(transparent)]
    TaskDefinition(#[from] TaskDefinitionOpError),
    /// The task definition is INACTIVE or being deleted.
    #[error("TaskDefinition is inactive: {0}")]
    InactiveDefinition(String),
    /// The task definition cannot run on Fargate.
    #[error("Task definition does not support launch_type FARGATE.")]
    NotFargateCompatible,
    /// A bad parameter; the message says which and why.
    #[error("{0}")]
    Invalid(String),
    /// Bad tags.
    #[error(transparent)]
    Tags(#[from] TagError),
    /// Bad paging parameters.
    #[error(transparent)]
    Page(#[from] PageError),
    /// No such task.
    #[error("The referenced task was not found.")]
    NotFound(String),
    /// The record kept changing under concurrent updates.
    #[error("The task is being updated by other requests; try again.")]
    Contended,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored record is unreadable.
    #[error(transparent)]
    Corrupt(#[from] CorruptRecord),
    /// The system could not provide randomness for task ids.
    #[error("cannot generate a task id")]
    Random(#[from] RandomError),
}

/// What a task operation's failure means to an EC2 operation: the store's and the id
/// generator's failures and contention stay what they are; the rest is a bad parameter.
impl From<TaskError> for Ec2Error {
    fn from(error: TaskError) -> Self {
        match error {
            TaskError::Store(e) => Self::Store(e),
            TaskError::Corrupt(e) => Self::Corrupt(e),
            TaskError::Random(e) => Self::Random(e),
            TaskError::Contended => Self::Contended,
            other => Self::client(Ec2Code::InvalidParameterValue, other.to_string()),
        }
    }
}

/// RunTask meets EC2's errors when it resolves subnets and groups; ECS reports those as
/// invalid parameters.
impl From<Ec2Error> for TaskError {
    fn from(error: Ec2Error) -> Self {
        match error {
            Ec2Error::Client { message, .. } => TaskError::Invalid(message),
            Ec2Error::Contended => TaskError::Contended,
            Ec2Error::Store(e) => TaskError::Store(e),
            Ec2Error::Corrupt(e) => TaskError::Corrupt(e),
            Ec2Error::Random(e) => TaskError::Random(e),
        }
    }
}

/// What RunTask asks for, in model types.
#[derive(Debug, Clone, Default)]
pub struct RunTaskInput {
    /// Cluster name or ARN (`default` when absent).
    pub cluster: Option<String>,
    /// `family`, `family:revision` or ARN.
    pub task_definition: String,
    /// 1–10.
    pub count: Option<i32>,
    /// Must be FARGATE when given.
    pub launch_type: Option<LaunchType>,
    /// FARGATE / FARGATE_SPOT.
    pub capacity_provider_strategy: Option<Vec<CapacityProviderStrategyItem>>,
    /// Required for awsvpc.
    pub network_configuration: Option<NetworkConfiguration>,
    /// Container and task overrides.
    pub overrides: Option<TaskOverride>,
    /// Up to 36 characters.
    pub started_by: Option<String>,
    /// `family:NAME` when absent.
    pub group: Option<String>,
    /// The tasks' tags.
    pub tags: Vec<Tag>,
    /// Copy the task definition's tags.
    pub propagate_tags: Option<PropagateTags>,
    /// Stored; ECS Exec is not served.
    pub enable_execute_command: Option<bool>,
}

/// ListTasks' filters.
#[derive(Debug, Clone, Default)]
pub struct ListTasksQuery {
    /// Cluster name or ARN (`default` when absent).
    pub cluster: Option<String>,
    /// Tasks of this family only.
    pub family: Option<String>,
    /// RUNNING unless given.
    pub desired_status: Option<DesiredStatus>,
    /// Tasks started by this only.
    pub started_by: Option<String>,
}

impl Ecs {
    /// RunTask: validates, places each new task on a node, and writes them all in one
    /// transaction.
    pub async fn run_task(
        &self,
        scope: &AccountRegion,
        input: RunTaskInput,
    ) -> Result<(Vec<Task>, Vec<Failure>), TaskError> {
        // 1. Validation: what ECS refuses is refused before anything is written.
        let request = self.validate_run_task(scope, &input).await?;
        let nodes = placement::nodes();
        retry_cas(
            || async {
                let mut records = Vec::with_capacity(request.count);
                for NewTask { id, task, network } in self.new_tasks(&request).await? {
                    // 2. Placement: which node runs each task.
                    let node = placement::place(&task, &nodes);
                    let record = TaskRecord {
                        task,
                        definition: request.definition.clone(),
                        node: node.into_string(),
                        network,
                    };
                    records.push((id, record));
                }
                // 3. The write: every task, its assignment, its address and its groups' usage
                //    in one transaction — or, when a compare fails (an address taken, a group
                //    deleted meanwhile), none of them, and the attempt starts over.
                if !self.put_new_tasks(&request, &records).await? {
                    return Ok(Attempt::Lost);
                }
                tracing::info!(
                    cluster = %request.cluster_name,
                    family = %request.family,
                    count = request.count,
                    "tasks placed"
                );
                let tasks = records.into_iter().map(|(_, r)| r.task).collect();
                Ok(Attempt::Done((tasks, vec![])))
            },
            TaskError::Contended,
        )
        .await
    }

    /// RunTask's checks, as ECS makes them and in its order, and what the new tasks share.
    async fn validate_run_task<'a>(
        &self,
        scope: &'a AccountRegion,
        input: &RunTaskInput,
    ) -> Result<NewTasks<'a>, TaskError> {
        let cluster_reference = input
            .cluster
            .clone()
            .unwrap_or_else(|| "default".to_owned());
        let (cluster, _) = self
            .read_cluster(scope, &cluster_reference)
            .await?
            .ok_or_else(|| ClusterError::NotFound(cluster_reference.clone()))?;
        let cluster_name = cluster.cluster_name.clone().unwrap_or_default();
        let count = input.count.unwrap_or(1);
        if !(1..=MAX_COUNT).contains(&count) {
            return Err(TaskError::Invalid(format!(
                "count must be between 1 and 10; {count} was given."
            )));
        }
        let capacity_provider = capacity_provider(input)?;

        let registered = self
            .describe_task_definition(scope, &input.task_definition)
            .await?;
        let definition = registered.definition;
        // An INACTIVE revision can still be described, but no new task may use it.
        if definition.status != Some(TaskDefinitionStatus::Active) {
            return Err(TaskError::InactiveDefinition(input.task_definition.clone()));
        }
        if !definition
            .compatibilities
            .as_deref()
            .unwrap_or_default()
            .contains(&Compatibility::Fargate)
        {
            return Err(TaskError::NotFargateCompatible);
        }
        let mut awsvpc = None;
        if definition.network_mode == Some(NetworkMode::Awsvpc) {
            let configuration = input
                .network_configuration
                .as_ref()
                .and_then(|n| n.awsvpc_configuration.as_ref())
                .ok_or_else(|| {
                    TaskError::Invalid("Network Configuration must be provided when networkMode 'awsvpc' is specified.".into())
                })?;
            if configuration.subnets.is_empty() {
                return Err(TaskError::Invalid("subnets can not be empty.".into()));
            }
            awsvpc = Some(configuration);
        }
        let overrides = input.overrides.clone().unwrap_or_default();
        let (cpu, memory) = task_size(&definition, &overrides)?;
        for container_override in overrides.container_overrides.as_deref().unwrap_or_default() {
            let name = container_override.name.clone().unwrap_or_default();
            let known = definition
                .container_definitions
                .as_deref()
                .unwrap_or_default()
                .iter()
                .any(|c| c.name.as_deref() == Some(name.as_str()));
            if !known {
                return Err(TaskError::Invalid(format!(
                    "Override for container named {name} is not a container in the TaskDefinition."
                )));
            }
        }
        if let Some(started_by) = &input.started_by
            && (started_by.len() > 36
                || !started_by
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        {
            return Err(TaskError::Invalid(
                "startedBy may be up to 36 letters (uppercase and lowercase), numbers, hyphens, and underscores.".into(),
            ));
        }
        let mut task_tags = input.tags.clone();
        tags::validate(&task_tags)?;
        if input.propagate_tags == Some(PropagateTags::TaskDefinition) {
            task_tags = tags::merge(&registered.tags, &task_tags)?;
        }

        let family = definition.family.clone().unwrap_or_default();
        Ok(NewTasks {
            scope,
            count: count as usize,
            cluster_arn: cluster.cluster_arn.clone(),
            cluster_name,
            family: family.clone(),
            definition,
            cpu,
            memory,
            capacity_provider,
            group: input
                .group
                .clone()
                .unwrap_or_else(|| format!("family:{family}")),
            started_by: input.started_by.clone(),
            tags: task_tags,
            overrides: TaskOverride {
                container_overrides: Some(
                    overrides.container_overrides.clone().unwrap_or_default(),
                ),
                inference_accelerator_overrides: Some(vec![]),
                ..overrides.clone()
            },
            enable_execute_command: input.enable_execute_command.unwrap_or(false),
            awsvpc: awsvpc.cloned(),
        })
    }

    /// How the tasks are networked: the subnet (the first one named: one availability zone
    /// here) and the groups guarding the interfaces, settled before any address is claimed.
    async fn task_network(
        &self,
        scope: &AccountRegion,
        awsvpc: Option<&AwsVpcConfiguration>,
    ) -> Result<Option<NetworkRequest>, TaskError> {
        let Some(awsvpc) = awsvpc else {
            return Ok(None);
        };
        let subnet = self.subnet(scope, &awsvpc.subnets[0]).await?;
        let vpc = self.vpc(scope, &subnet.vpc_id).await?;
        let named = awsvpc.security_groups.clone().unwrap_or_default();
        Ok(Some(NetworkRequest {
            security_groups: self.task_security_groups(scope, &named, &vpc).await?,
            subnet,
            assign_public_ip: awsvpc.assign_public_ip == Some(AssignPublicIp::Enabled),
        }))
    }

    /// One attempt's new tasks: fresh ids, and addresses no task holds now. The network is
    /// settled afresh each attempt, as a lost compare may mean a group was deleted meanwhile.
    async fn new_tasks(&self, request: &NewTasks<'_>) -> Result<Vec<NewTask>, TaskError> {
        let networking = self
            .task_network(request.scope, request.awsvpc.as_ref())
            .await?;
        let addresses = match &networking {
            Some(networking) => {
                self.free_addresses(&networking.subnet, request.count)
                    .await?
            }
            None => Vec::new(),
        };
        let now = Timestamp::now();
        let mut tasks = Vec::with_capacity(request.count);
        for n in 0..request.count {
            let id = random_hex(16)?;
            let network = match (&networking, addresses.get(n)) {
                (Some(networking), Some(address)) => {
                    Some(networking.interface(request.scope, *address)?)
                }
                _ => None,
            };
            let task = request.task(&id, now, network.as_ref())?;
            tasks.push(NewTask { id, task, network });
        }
        Ok(tasks)
    }

    /// Writes placed tasks in one transaction, if none of their ids or addresses is taken
    /// and their security groups still exist; whether it was written.
    async fn put_new_tasks(
        &self,
        request: &NewTasks<'_>,
        records: &[(String, TaskRecord)],
    ) -> Result<bool, TaskError> {
        let (scope, cluster_name) = (request.scope, request.cluster_name.as_str());
        let mut txn = Txn::default();
        for (id, record) in records {
            let key = keys::task(scope, cluster_name, id);
            txn.compares.push(Compare::absent(key.as_str()));
            txn.success
                .push(Op::put(key.as_str(), records::encode(record)));
            txn.success.push(Op::put(
                keys::node_task(&record.node, scope, cluster_name, id),
                key.clone().into_bytes(),
            ));
            // Each address is claimed by its own key: a RunTask that raced this one for it
            // makes this transaction fail, and the addresses are chosen again.
            if let Some(interface) = &record.network {
                let claim = keys::address(interface.address);
                txn.compares.push(Compare::absent(claim.as_str()));
                txn.success.push(Op::put(claim, key.into_bytes()));
            }
        }
        // The tasks join their groups: a DeleteSecurityGroup that found them unused before
        // this commits must look again.
        let groups: Vec<String> = records
            .iter()
            .filter_map(|(_, record)| record.network.as_ref())
            .flat_map(|network| network.security_groups.iter().cloned())
            .collect();
        if let Some((first, _)) = records.first() {
            let dependent = keys::task(scope, cluster_name, first);
            depend_on_groups(scope, &groups, &dependent).add_to(&mut txn);
        }
        Ok(self.store.txn(txn).await?.succeeded)
    }

    /// DescribeTasks: the tasks by id or ARN, with MISSING failures for the others.
    pub async fn describe_tasks(
        &self,
        scope: &AccountRegion,
        cluster: Option<&str>,
        references: &[String],
        include_tags: bool,
    ) -> Result<(Vec<Task>, Vec<Failure>), TaskError> {
        if references.is_empty() || references.len() > DESCRIBE_LIMIT {
            return Err(TaskError::Invalid(format!(
                "tasks must name between 1 and 100 tasks; {} were given.",
                references.len()
            )));
        }
        let cluster_name = self.cluster_name(scope, cluster).await?;
        let mut tasks = Vec::new();
        let mut failures = Vec::new();
        for reference in references {
            match self.find_task(scope, &cluster_name, reference).await? {
                Some(found) => {
                    let mut task = found.task();
                    if !include_tags {
                        task.tags = None;
                    }
                    tasks.push(task);
                }
                None => failures.push(Failure {
                    arn: Some(if reference.starts_with("arn:") {
                        reference.clone()
                    } else {
                        scope.task_arn(&cluster_name, reference)
                    }),
                    reason: Some("MISSING".into()),
                    detail: None,
                }),
            }
        }
        Ok((tasks, failures))
    }

    /// ListTasks: task ARNs of a cluster, filtered.
    pub async fn list_tasks(
        &self,
        scope: &AccountRegion,
        query: &ListTasksQuery,
        page: &PageRequest,
    ) -> Result<Page<String>, TaskError> {
        let cluster_name = self.cluster_name(scope, query.cluster.as_deref()).await?;
        let desired = query.desired_status.unwrap_or(DesiredStatus::Running);
        let all = self
            .store
            .range(KeyRange::prefix(keys::tasks(scope, &cluster_name)), None)
            .await?;
        let mut observed = self.observed_tasks(scope, &cluster_name).await?;
        let mut matching = Vec::new();
        for kv in all.kvs {
            let record: TaskRecord = records::decode(&kv)?;
            let task_key = String::from_utf8_lossy(&kv.key).into_owned();
            let task = match observed.remove(&task_key) {
                Some(observed) => observed.merge(&record.task),
                None => ObservedTask::of(&record.task, 0).merge(&record.task),
            };
            let keep = task.desired_status.as_deref() == Some(desired.as_str())
                && query
                    .family
                    .as_ref()
                    .is_none_or(|f| record.definition.family.as_ref() == Some(f))
                && query
                    .started_by
                    .as_ref()
                    .is_none_or(|s| task.started_by.as_ref() == Some(s));
            if keep {
                matching.push((kv.key, task.task_arn.clone().unwrap_or_default()));
            }
        }
        let page = page.apply(matching, |(key, _)| key, false, LIST_LIMIT)?;
        Ok(Page {
            items: page.items.into_iter().map(|(_, arn)| arn).collect(),
            next_token: page.next_token,
        })
    }

    /// StopTask: the task's desired status becomes STOPPED; its node stops it.
    pub async fn stop_task(
        &self,
        scope: &AccountRegion,
        cluster: Option<&str>,
        reference: &str,
        reason: Option<&str>,
    ) -> Result<Task, TaskError> {
        let cluster_name = self.cluster_name(scope, cluster).await?;
        let reason = reason
            .filter(|r| !r.is_empty())
            .unwrap_or("Task stopped by user")
            .to_owned();
        retry_cas(
            || async {
                let mut found = self
                    .find_task(scope, &cluster_name, reference)
                    .await?
                    .ok_or_else(|| TaskError::NotFound(reference.to_owned()))?;
                // Stopped already, as asked or as its node saw it end.
                let task = found.task();
                if task.desired_status.as_deref() == Some(DesiredStatus::Stopped.as_str()) {
                    return Ok(Attempt::Done(task));
                }
                // Only the task record changes: the node's reports do not hold this up.
                let record = &mut found.record;
                record.task.desired_status = Some(DesiredStatus::Stopped.as_str().into());
                record.task.stop_code = Some(TaskStopCode::UserInitiated);
                record.task.stopped_reason = Some(reason.clone());
                record.task.version = Some(record.task.version.unwrap_or(1) + 1);
                let committed = self.replace_task(&found.kv, &found.record).await?;
                Ok(Attempt::committed(committed, found.task()))
            },
            TaskError::Contended,
        )
        .await
    }

    /// Replaces a task's tags (TagResource/UntagResource go through here).
    pub(crate) async fn modify_task_tags(
        &self,
        scope: &AccountRegion,
        cluster: &str,
        id: &str,
        change: impl Fn(&[Tag]) -> Result<Vec<Tag>, TagError>,
    ) -> Result<Vec<Tag>, TaskError> {
        retry_cas(
            || async {
                let FoundTask { mut record, kv, .. } = self
                    .find_task(scope, cluster, id)
                    .await?
                    .ok_or_else(|| TaskError::NotFound(id.to_owned()))?;
                let tags = change(record.task.tags.as_deref().unwrap_or_default())?;
                record.task.tags = Some(tags.clone());
                let committed = self.replace_task(&kv, &record).await?;
                Ok(Attempt::committed(committed, tags))
            },
            TaskError::Contended,
        )
        .await
    }

    /// The name of an ACTIVE cluster (`default` when none is given).
    async fn cluster_name(
        &self,
        scope: &AccountRegion,
        cluster: Option<&str>,
    ) -> Result<String, TaskError> {
        let reference = cluster.unwrap_or("default");
        let (found, _) = self
            .read_cluster(scope, reference)
            .await?
            .ok_or_else(|| ClusterError::NotFound(reference.to_owned()))?;
        Ok(found.cluster_name.unwrap_or_default())
    }

    /// Waits until task `reference` has reached `until` (or gone past it) — or, with
    /// `or_containers_stopped`, until all its containers have stopped — for at most `timeout`;
    /// returns the task as it is then, `None` if there is no such task. Not an ECS operation:
    /// berth's own API, so that `berth run` learns of the exit without polling.
    pub async fn wait_task(
        &self,
        scope: &AccountRegion,
        cluster: Option<&str>,
        reference: &str,
        until: TaskStatus,
        or_containers_stopped: bool,
        timeout: std::time::Duration,
    ) -> Result<Option<Task>, TaskError> {
        let cluster_name = self.cluster_name(scope, cluster).await?;
        let Some(mut found) = self.find_task(scope, &cluster_name, reference).await? else {
            return Ok(None);
        };
        let reached = |task: &Task| {
            let status_reached = task
                .last_status
                .as_deref()
                .and_then(TaskStatus::parse)
                .is_some_and(|status| status >= until);
            let containers = task.containers.as_deref().unwrap_or_default();
            let containers_stopped = !containers.is_empty()
                && containers
                    .iter()
                    .all(|c| c.last_status.as_deref() == Some("STOPPED"));
            status_reached || (or_containers_stopped && containers_stopped)
        };
        let mut task = found.task();
        if reached(&task) {
            return Ok(Some(task));
        }
        // Both records, from the first read on: what they held then was read already, and a
        // change replayed from between the two reads is older, never past what was read.
        let from = found.revision + 1;
        let task_key = found.kv.key.clone();
        let observed_key = keys::observed_task(&String::from_utf8_lossy(&task_key));
        let mut desired_changes = self.store.watch(KeyRange::key(task_key), from)?;
        let mut observed_changes = self.store.watch(KeyRange::key(observed_key), from)?;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let change = tokio::time::timeout_at(deadline, async {
                tokio::select! {
                    event = desired_changes.next() => event.map(Changed::Desired),
                    event = observed_changes.next() => event.map(Changed::Observed),
                }
            })
            .await;
            match change {
                Ok(Some(Changed::Desired(berth_store::Event::Put(kv)))) => {
                    found.record = records::decode(&kv)?;
                    if found.observed_kv.is_none() {
                        found.observed = ObservedTask::of(&found.record.task, 0);
                    }
                }
                Ok(Some(Changed::Observed(berth_store::Event::Put(kv)))) => {
                    found.observed = records::decode(&kv)?;
                    found.observed_kv = Some(kv);
                }
                Ok(Some(_)) => continue,
                // Timed out, or the store is shutting down: the task as last seen.
                Ok(None) | Err(_) => return Ok(Some(task)),
            }
            task = found.task();
            if reached(&task) {
                return Ok(Some(task));
            }
        }
    }

    /// A task by id or ARN within `cluster`.
    pub(crate) async fn find_task(
        &self,
        scope: &AccountRegion,
        cluster: &str,
        reference: &str,
    ) -> Result<Option<FoundTask>, TaskError> {
        let id = if reference.starts_with("arn:") {
            match ResourceArn::parse(reference) {
                Ok(ResourceArn::Task {
                    scope: s,
                    cluster: c,
                    id,
                }) if &s == scope && c == cluster => id,
                _ => return Ok(None),
            }
        } else {
            reference.to_owned()
        };
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Ok(None);
        }
        self.read_task(&keys::task(scope, cluster, &id)).await
    }

    /// The task at `key`: its task record and what its node observed.
    pub(crate) async fn read_task(&self, key: &str) -> Result<Option<FoundTask>, TaskError> {
        let found = self.store.range(KeyRange::key(key), None).await?;
        let Some(kv) = found.kvs.into_iter().next() else {
            return Ok(None);
        };
        let record: TaskRecord = records::decode(&kv)?;
        let observed = self
            .store
            .range(KeyRange::key(keys::observed_task(key)), None)
            .await?;
        let (observed, observed_kv) = match observed.kvs.into_iter().next() {
            Some(observed_kv) => (records::decode(&observed_kv)?, Some(observed_kv)),
            // Not reported on since the split: as the task record holds it.
            None => (ObservedTask::of(&record.task, 0), None),
        };
        Ok(Some(FoundTask {
            record,
            kv,
            observed,
            observed_kv,
            revision: found.revision,
        }))
    }

    /// The observed records of a cluster's tasks, by task key.
    async fn observed_tasks(
        &self,
        scope: &AccountRegion,
        cluster: &str,
    ) -> Result<HashMap<String, ObservedTask>, TaskError> {
        let found = self
            .store
            .range(KeyRange::prefix(keys::observed_tasks(scope, cluster)), None)
            .await?;
        let mut observed = HashMap::with_capacity(found.kvs.len());
        for kv in &found.kvs {
            let key = String::from_utf8_lossy(&kv.key);
            if let Some(task_key) = keys::task_of_observed(&key) {
                observed.insert(task_key.to_owned(), records::decode(kv)?);
            }
        }
        Ok(observed)
    }

    async fn replace_task(&self, kv: &KeyValue, record: &TaskRecord) -> Result<bool, TaskError> {
        let txn = Txn {
            compares: vec![Compare::unchanged_since(kv.key.clone(), kv.mod_revision)],
            success: vec![Op::put(kv.key.clone(), records::encode(record))],
            failure: vec![],
        };
        Ok(self.store.txn(txn).await?.succeeded)
    }
}

/// Which of a task's records a change is to.
enum Changed {
    Desired(berth_store::Event),
    Observed(berth_store::Event),
}

/// A task as stored: its task record (desired state) and what its node observed.
#[derive(Debug, Clone)]
pub(crate) struct FoundTask {
    /// The task record...
    pub record: TaskRecord,
    /// ...and its key-value: what a change to the desired state compares on.
    pub kv: KeyValue,
    /// What the node observed: its observed record's, or — none written yet — as the task
    /// record holds it (PROVISIONING for a task written since the split; all of a task
    /// written before it, when one record held both).
    pub observed: ObservedTask,
    /// The observed record's key-value, once there is one: what a report compares on.
    pub observed_kv: Option<KeyValue>,
    /// The store revision the task record was read at.
    pub revision: berth_store::Revision,
}

impl FoundTask {
    /// The ECS document, both records put together.
    pub fn task(&self) -> Task {
        self.observed.merge(&self.record.task)
    }
}

/// FARGATE or FARGATE_SPOT, from the launch type or the capacity provider strategy.
fn capacity_provider(input: &RunTaskInput) -> Result<String, TaskError> {
    let strategy = input
        .capacity_provider_strategy
        .as_deref()
        .unwrap_or_default();
    match (input.launch_type, strategy.is_empty()) {
        (Some(_), false) => Err(TaskError::Invalid(
            "Specifying both a launch type and capacity provider strategy is not supported.".into(),
        )),
        (Some(LaunchType::Fargate) | None, true) => Ok("FARGATE".into()),
        (Some(other), true) => Err(TaskError::Invalid(format!(
            "berth runs tasks as Fargate does: launchType must be FARGATE, not {other}."
        ))),
        (None, false) => {
            for item in strategy {
                if !CAPACITY_PROVIDERS.contains(&item.capacity_provider.as_str()) {
                    return Err(TaskError::Invalid(format!(
                        "The specified capacity provider {} does not exist. Use FARGATE or FARGATE_SPOT.",
                        item.capacity_provider
                    )));
                }
            }
            // The provider with a base, else the heaviest weight, takes the task.
            let chosen = strategy
                .iter()
                .max_by_key(|i| (i.base.unwrap_or(0), i.weight.unwrap_or(0)))
                .map(|i| i.capacity_provider.clone())
                .unwrap_or_else(|| "FARGATE".into());
            Ok(chosen)
        }
    }
}

/// The task's cpu and memory: the override's when given (a Fargate pair), else the
/// definition's.
fn task_size(
    definition: &berth_model::shapes::TaskDefinition,
    overrides: &TaskOverride,
) -> Result<(String, String), TaskError> {
    let cpu = overrides
        .cpu
        .clone()
        .or_else(|| definition.cpu.clone())
        .unwrap_or_default();
    let memory = overrides
        .memory
        .clone()
        .or_else(|| definition.memory.clone())
        .unwrap_or_default();
    let size = fargate::parse_fargate_size(&cpu, &memory)
        .map_err(|e| TaskError::Invalid(e.to_string()))?;
    Ok((size.cpu.0.to_string(), size.memory.0.to_string()))
}

/// A validated RunTask: what its tasks share; [`NewTasks::task`] makes each one.
struct NewTasks<'a> {
    scope: &'a AccountRegion,
    count: usize,
    cluster_name: String,
    cluster_arn: Option<String>,
    family: String,
    definition: TaskDefinition,
    cpu: String,
    memory: String,
    capacity_provider: String,
    group: String,
    started_by: Option<String>,
    tags: Vec<Tag>,
    overrides: TaskOverride,
    enable_execute_command: bool,
    /// The tasks' subnets and groups (awsvpc), as the request names them.
    awsvpc: Option<AwsVpcConfiguration>,
}

/// One new task, before it is placed.
struct NewTask {
    id: String,
    task: Task,
    network: Option<TaskNetwork>,
}

impl NewTasks<'_> {
    /// Task `id`, PROVISIONING, created at `now`, with its network `interface`.
    fn task(
        &self,
        id: &str,
        now: Timestamp,
        interface: Option<&TaskNetwork>,
    ) -> Result<Task, TaskError> {
        let task_arn = self.scope.task_arn(&self.cluster_name, id);
        let containers = self
            .definition
            .container_definitions
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|c| -> Result<Container, TaskError> {
                Ok(Container {
                    container_arn: Some(self.scope.container_arn(
                        &self.cluster_name,
                        id,
                        &random_hex(16)?,
                    )),
                    task_arn: Some(task_arn.clone()),
                    name: c.name.clone(),
                    image: c.image.clone(),
                    last_status: Some("PENDING".into()),
                    network_interfaces: Some(
                        interface
                            .iter()
                            .map(|i| NetworkInterface {
                                attachment_id: Some(i.attachment_id.clone()),
                                private_ipv4_address: Some(i.address.to_string()),
                                ipv6_address: None,
                            })
                            .collect(),
                    ),
                    cpu: Some(c.cpu.unwrap_or(0).to_string()),
                    memory: c.memory.map(|m| m.to_string()),
                    memory_reservation: c.memory_reservation.map(|m| m.to_string()),
                    ..Container::default()
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Task {
            task_arn: Some(task_arn),
            cluster_arn: self.cluster_arn.clone(),
            task_definition_arn: self.definition.task_definition_arn.clone(),
            last_status: Some(TaskStatus::Provisioning.as_str().into()),
            desired_status: Some(DesiredStatus::Running.as_str().into()),
            created_at: Some(now),
            cpu: Some(self.cpu.clone()),
            memory: Some(self.memory.clone()),
            containers: Some(containers),
            launch_type: Some(LaunchType::Fargate),
            capacity_provider_name: Some(self.capacity_provider.clone()),
            platform_version: Some(PLATFORM_VERSION.into()),
            platform_family: Some("Linux".into()),
            availability_zone: Some(format!("{}a", self.scope.region)),
            group: Some(self.group.clone()),
            started_by: self.started_by.clone(),
            tags: Some(self.tags.clone()),
            overrides: Some(self.overrides.clone()),
            version: Some(1),
            enable_execute_command: Some(self.enable_execute_command),
            ephemeral_storage: Some(self.definition.ephemeral_storage.clone().unwrap_or(
                EphemeralStorage {
                    size_in_gi_b: DEFAULT_EPHEMERAL_GIB,
                },
            )),
            attachments: Some(interface.into_iter().map(attachment).collect()),
            ..Task::default()
        })
    }
}

/// How a RunTask's tasks are networked, settled before their addresses are chosen.
struct NetworkRequest {
    subnet: SubnetRecord,
    security_groups: Vec<String>,
    assign_public_ip: bool,
}

impl NetworkRequest {
    /// The interface of a task holding `address`.
    fn interface(
        &self,
        scope: &AccountRegion,
        address: Ipv4Addr,
    ) -> Result<TaskNetwork, TaskError> {
        let block = self.subnet.network()?;
        Ok(TaskNetwork {
            attachment_id: attachment_id()?,
            network_interface_id: new_id("eni")?,
            subnet_id: self.subnet.subnet_id.clone(),
            address,
            prefix_len: block.prefix_len,
            gateway: block.gateway(),
            mac_address: network::mac_address(address),
            private_dns_name: network::private_dns_name(address, &scope.region),
            security_groups: self.security_groups.clone(),
            assign_public_ip: self.assign_public_ip,
        })
    }
}

/// The ECS attachment describing `interface`, as DescribeTasks shows it.
pub(crate) fn attachment(interface: &TaskNetwork) -> Attachment {
    let detail = |name: &str, value: String| KeyValuePair {
        name: Some(name.to_owned()),
        value: Some(value),
    };
    Attachment {
        id: Some(interface.attachment_id.clone()),
        r#type: Some("ElasticNetworkInterface".into()),
        status: Some("PRECREATED".into()),
        details: Some(vec![
            detail("subnetId", interface.subnet_id.clone()),
            detail("networkInterfaceId", interface.network_interface_id.clone()),
            detail("macAddress", interface.mac_address.clone()),
            detail("privateDnsName", interface.private_dns_name.clone()),
            detail("privateIPv4Address", interface.address.to_string()),
        ]),
    }
}

//! A simulated node: a fake node agent that takes a node's assignments from the control
//! plane exactly as the real one does (the binary's `local_node.rs`: the assignments now,
//! then the store's watch of task records read with `Ecs::assignment_of`, and
//! `Ecs::report_task`) and reports the transitions the real agent reports, in its order and
//! with its fields — but whose containers follow [`Script`]s on tokio's clock instead of
//! running. It lets control-plane features (services, deployments, autoscaling) be tested in
//! milliseconds, without root or containers, as omicron tests its control plane against a
//! simulated sled agent.
//!
//! What it does not simulate: `dependsOn` (every container starts at once), health checks,
//! logs, and the firewall (a real node reports RUNNING once its rules are in force).
//!
//! Two halves, as on a real node: [`SimulatedNode`] is the agent (dropping it is stopping
//! `berth up`), [`SimulatedHost`] the machine with one simulated supervisor per task, which
//! outlives the agent. A node started again on the same host adopts the tasks left running
//! there; on a fresh host it finds their supervisors gone and reports them stopped, as after
//! a reboot.
//!
//! Times on the ECS documents (`startedAt`, `stoppedAt`, ...) are the system clock's, as the
//! real agent stamps them; the scripts' delays and [`Timing`] are tokio's, so a test can run
//! them under `tokio::time::pause()`.
//!
//! A test makes a host with its scripts (`SimulatedHost::new(Scripts::new().image("batch",
//! Script::Exit { code: 3, after }), Timing::default())`), starts the node's agent on it
//! (`SimulatedNode::start(ecs, &host, LOCAL_NODE)`), and then speaks ECS to the control plane
//! as users do: RunTask, DescribeTasks, StopTask.

mod host;
mod runner;
mod script;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use berth_model::ResourceArn;
use berth_model::lifecycle::{DesiredStatus, TaskReport, TaskStatus};
use berth_store::{StoreError, Watcher};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

pub use host::SimulatedHost;
pub use script::{Script, Scripts, Timing};

use crate::keys;
use crate::tasks::TaskError;
use crate::{Assignment, Ecs};
use runner::{ReportLog, Runner};

/// Why a simulated node could not start.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SimulatedNodeError {
    /// The node's assignments could not be read.
    #[error("cannot read the node's assignments")]
    Assignments(#[source] TaskError),
    /// The store refused to watch the tasks.
    #[error("cannot watch the node's assignments")]
    Watch(#[source] StoreError),
}

/// A running simulated node agent; dropping it stops the agent (its tasks keep running on
/// its [`SimulatedHost`]).
pub struct SimulatedNode {
    agent: JoinHandle<()>,
    host: SimulatedHost,
    log: ReportLog,
}

impl Drop for SimulatedNode {
    fn drop(&mut self) {
        self.agent.abort();
    }
}

impl SimulatedNode {
    /// Starts the agent of node `node` (`LOCAL_NODE` for the tasks RunTask places today) on
    /// `host`, taking its assignments from `ecs`. Returns once it is watching: every task
    /// placed from then on reaches it.
    pub async fn start(
        ecs: Arc<Ecs>,
        host: &SimulatedHost,
        node: &str,
    ) -> Result<Self, SimulatedNodeError> {
        let (current, revision) = ecs
            .node_assignments(node)
            .await
            .map_err(SimulatedNodeError::Assignments)?;
        let watcher = ecs
            .watch_tasks(revision + 1)
            .map_err(SimulatedNodeError::Watch)?;
        let log = ReportLog::default();
        let agent = Agent {
            runner: Arc::new(Runner {
                ecs,
                host: host.clone(),
                log: log.clone(),
            }),
            node: node.to_owned(),
            running: HashMap::new(),
            done: HashSet::new(),
            runners: JoinSet::new(),
        };
        Ok(Self {
            agent: tokio::spawn(agent.run(current, watcher)),
            host: host.clone(),
            log,
        })
    }

    /// The machine this node runs on.
    pub fn host(&self) -> &SimulatedHost {
        &self.host
    }

    /// Every batch of reports this agent has sent about the task `task_arn` names, in order:
    /// one `report_task` call each.
    pub fn reports(&self, task_arn: &str) -> Vec<Vec<TaskReport>> {
        let key = match ResourceArn::parse(task_arn) {
            Ok(ResourceArn::Task { scope, cluster, id }) => keys::task(&scope, &cluster, &id),
            _ => return Vec::new(),
        };
        self.log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
            .filter(|(k, _)| *k == key)
            .map(|(_, batch)| batch.clone())
            .collect()
    }
}

/// The agent's loop, as `berth_agent::Agent::run` has it: a runner per new task, adoption of
/// tasks an earlier agent started, stop requests forwarded.
struct Agent {
    runner: Arc<Runner>,
    node: String,
    /// Tasks with a runner, and how to tell each to stop.
    running: HashMap<String, watch::Sender<bool>>,
    /// Tasks this agent ran to the end: later events about them (a StopTask after the end,
    /// tags) need nothing more.
    done: HashSet<String>,
    /// The runners; dropped with the agent, which aborts them.
    runners: JoinSet<String>,
}

impl Agent {
    async fn run(mut self, current: Vec<Assignment>, mut watcher: Watcher) {
        for assignment in current {
            self.handle(assignment).await;
        }
        loop {
            tokio::select! {
                Some(finished) = self.runners.join_next(), if !self.runners.is_empty() => {
                    match finished {
                        Ok(key) => {
                            self.running.remove(&key);
                            self.done.insert(key);
                        }
                        Err(error) => tracing::error!(%error, "a simulated task runner failed"),
                    }
                }
                event = watcher.next() => {
                    // The store is shutting down.
                    let Some(event) = event else { return };
                    match self.runner.ecs.assignment_of(&event, &self.node).await {
                        Ok(Some(assignment)) if !self.done.contains(&assignment.key) => {
                            self.handle(assignment).await;
                        }
                        Ok(_) => {}
                        Err(error) => tracing::error!(%error, "cannot read a task assignment"),
                    }
                }
            }
        }
    }

    async fn handle(&mut self, assignment: Assignment) {
        let last = assignment
            .task
            .last_status
            .as_deref()
            .and_then(TaskStatus::parse)
            .unwrap_or(TaskStatus::Provisioning);
        let desired = desired_status(&assignment);
        if let Some(stop) = self.running.get(&assignment.key) {
            if desired == DesiredStatus::Stopped {
                let _ = stop.send(true);
            }
            return;
        }
        let host = &self.runner.host;
        match (last, desired) {
            (TaskStatus::Stopped, _) => {}
            // Reports trail the work: an earlier agent may have handed this task to a
            // supervisor before its first report was stored.
            (TaskStatus::Provisioning, _) if host.supervises(&assignment.key) => {
                self.spawn_runner(assignment, true);
            }
            (TaskStatus::Provisioning, DesiredStatus::Running) => {
                self.spawn_runner(assignment, false);
            }
            (TaskStatus::Provisioning, DesiredStatus::Stopped) => {
                // Stopped before it started: nothing to tear down.
                let report = TaskReport {
                    status: Some(TaskStatus::Stopped),
                    ..TaskReport::default()
                };
                self.runner.send(&assignment.key, vec![report]).await;
            }
            // Started by an earlier agent: adopt it (its supervisor kept it going). A stop
            // asked for meanwhile is passed on at once.
            _ => self.spawn_runner(assignment, true),
        }
    }

    fn spawn_runner(&mut self, assignment: Assignment, adopt: bool) {
        let (stop, stopping) =
            watch::channel(desired_status(&assignment) == DesiredStatus::Stopped);
        self.running.insert(assignment.key.clone(), stop);
        let runner = self.runner.clone();
        self.runners.spawn(async move {
            if adopt {
                runner.adopt(&assignment, stopping).await;
            } else {
                runner.run(&assignment, stopping).await;
            }
            assignment.key
        });
    }
}

/// What the control plane wants of the task (RUNNING unless it says otherwise).
fn desired_status(assignment: &Assignment) -> DesiredStatus {
    assignment
        .task
        .desired_status
        .as_deref()
        .and_then(DesiredStatus::parse)
        .unwrap_or(DesiredStatus::Running)
}

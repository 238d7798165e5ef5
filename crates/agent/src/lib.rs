//! The node agent: watches the tasks assigned to this node, turns each one into running
//! containers — images pulled, root filesystems mounted, containers started with their limits —
//! and reports what it observes back to the control plane.
//!
//! It speaks to the control plane only through [`ControlPlane`], which the binary implements
//! in-process today and a remote agent will implement over the network; it never sees HTTP.
//!
//! Not yet here (the rest of the "Run tasks for real" issue): the per-task supervisor process
//! and restart adoption, task-level cgroups, dependsOn, OOM reporting, log rotation.

mod container;
mod task;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use berth_image::ImageStore;
use berth_model::lifecycle::{DesiredStatus, TaskReport, TaskStatus};
use berth_model::shapes::{Task, TaskDefinition};
use tokio::sync::{mpsc, watch};

/// A boxed future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A task as the control plane assigns it.
#[derive(Debug, Clone)]
pub struct Assignment {
    /// How the control plane names the task in reports.
    pub key: String,
    /// The task (desired status included).
    pub task: Task,
    /// The task definition it runs.
    pub definition: TaskDefinition,
}

/// Why the control plane could not be reached.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the control plane did not answer: {0}")]
pub struct ControlPlaneError(pub String);

/// The control plane, as a node sees it.
pub trait ControlPlane: Send + Sync + 'static {
    /// The tasks assigned to this node — every current one, then each change — until the
    /// control plane goes away.
    fn assignments(&self) -> BoxFuture<'_, Result<mpsc::Receiver<Assignment>, ControlPlaneError>>;
    /// Records what this node observed about task `key`.
    fn report(
        &self,
        key: String,
        report: TaskReport,
    ) -> BoxFuture<'_, Result<(), ControlPlaneError>>;
}

/// Where the agent keeps things.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Per-task scratch space (writable layers, logs).
    pub tasks_dir: PathBuf,
    /// libcontainer's state directory.
    pub runtime_dir: PathBuf,
    /// The cgroup every task's cgroups go under.
    pub cgroup_parent: String,
}

/// Where a task's container logs are on this node: `(log file, exited marker)`. The log holds
/// the container's stdout and stderr in order; the marker appears once it has exited.
pub fn container_log(config: &AgentConfig, task_id: &str, container: &str) -> (PathBuf, PathBuf) {
    let scratch = config.tasks_dir.join(task_id);
    (
        task::log_path(&scratch, container),
        task::exited_marker(&scratch, container),
    )
}

/// The node agent.
pub struct Agent {
    control: Arc<dyn ControlPlane>,
    images: Arc<ImageStore>,
    config: AgentConfig,
}

impl Agent {
    /// An agent for this node.
    pub fn new(
        control: Arc<dyn ControlPlane>,
        images: Arc<ImageStore>,
        config: AgentConfig,
    ) -> Self {
        Self {
            control,
            images,
            config,
        }
    }

    /// Runs until the control plane's assignment stream ends.
    pub async fn run(self) -> Result<(), ControlPlaneError> {
        let mut assignments = self.control.assignments().await?;
        let mut running: HashMap<String, watch::Sender<bool>> = HashMap::new();
        // Tasks this agent ran to the end: later events about them (its own reports coming
        // back) need nothing more.
        let mut done: HashSet<String> = HashSet::new();
        let (finished_tx, mut finished) = mpsc::unbounded_channel::<String>();
        loop {
            tokio::select! {
                Some(key) = finished.recv() => {
                    running.remove(&key);
                    done.insert(key);
                }
                assignment = assignments.recv() => {
                    let Some(assignment) = assignment else { return Ok(()) };
                    if !done.contains(&assignment.key) {
                        self.handle(assignment, &mut running, &finished_tx).await;
                    }
                }
            }
        }
    }

    async fn handle(
        &self,
        assignment: Assignment,
        running: &mut HashMap<String, watch::Sender<bool>>,
        finished: &mpsc::UnboundedSender<String>,
    ) {
        let last = assignment
            .task
            .last_status
            .as_deref()
            .and_then(TaskStatus::parse)
            .unwrap_or(TaskStatus::Provisioning);
        let desired = assignment
            .task
            .desired_status
            .as_deref()
            .and_then(DesiredStatus::parse)
            .unwrap_or(DesiredStatus::Running);
        if let Some(stop) = running.get(&assignment.key) {
            if desired == DesiredStatus::Stopped {
                let _ = stop.send(true);
            }
            return;
        }
        match (last, desired) {
            (TaskStatus::Stopped, _) => {}
            (TaskStatus::Provisioning, DesiredStatus::Running) => {
                let (stop_tx, stop_rx) = watch::channel(false);
                running.insert(assignment.key.clone(), stop_tx);
                let runner = task::Runner {
                    control: self.control.clone(),
                    images: self.images.clone(),
                    config: self.config.clone(),
                };
                let finished = finished.clone();
                tokio::spawn(async move {
                    let key = assignment.key.clone();
                    runner.run(assignment, stop_rx).await;
                    let _ = finished.send(key);
                });
            }
            (TaskStatus::Provisioning, DesiredStatus::Stopped) => {
                // Stopped before it started: nothing to tear down.
                let report = TaskReport {
                    status: Some(TaskStatus::Stopped),
                    ..TaskReport::default()
                };
                let _ = self.control.report(assignment.key, report).await;
            }
            _ => {
                // A task this agent is not running but that was started by an earlier berth
                // process: until tasks are supervised and adopted, whatever is left of it is
                // killed and cleaned up, and the task reported stopped.
                let id = assignment
                    .task
                    .task_arn
                    .as_deref()
                    .and_then(|a| a.rsplit('/').next())
                    .unwrap_or_default()
                    .to_owned();
                let images = self.images.clone();
                let config = self.config.clone();
                let definition = assignment.definition.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    task::clean_up_orphan(&images, &config, &id, &definition)
                })
                .await;
                let report = TaskReport {
                    status: Some(TaskStatus::Stopped),
                    stop_code: Some("TaskFailedToStart".into()),
                    stopped_reason: Some(
                        "Task stopped: its containers ended with an earlier run of berth, which cannot adopt running tasks yet".into(),
                    ),
                    ..TaskReport::default()
                };
                let _ = self.control.report(assignment.key, report).await;
            }
        }
    }
}

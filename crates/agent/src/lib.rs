//! The node agent: watches the tasks assigned to this node, prepares each one — images
//! pulled, task cgroup, root filesystems, container specs — hands it to a
//! supervisor process of its own (`berth-shim`) and reports what the supervisor observes back
//! to the control plane. Tasks outlive the agent: when it starts, it adopts the tasks an
//! earlier one left running. `firewall.rs` keeps the node's security-group rules in force
//! for the tasks on the bridge.
//!
//! It speaks to the control plane only through [`ControlPlane`], which the binary implements
//! in-process today and a remote agent will implement over the network; it never sees HTTP.

pub mod firewall;
mod network;
mod pool;
mod pulls;
mod task;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use berth_image::ImageStore;
use berth_model::lifecycle::{DesiredStatus, TaskReport, TaskStatus};
use berth_model::security_groups::GroupIngress;
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
    /// Its network interface (awsvpc): the address and gateway to wire.
    pub network: Option<berth_model::network::TaskNetwork>,
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
    /// Records what this node observed about task `key`, in order.
    fn report(
        &self,
        key: String,
        reports: Vec<TaskReport>,
    ) -> BoxFuture<'_, Result<(), ControlPlaneError>>;
    /// Every security group's ingress rules — now, then again whenever any group changes —
    /// until the control plane goes away.
    fn security_groups(
        &self,
    ) -> BoxFuture<'_, Result<mpsc::Receiver<Vec<GroupIngress>>, ControlPlaneError>>;
}

/// Where the agent keeps things.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Per-task scratch space (writable layers, logs), on disk.
    pub tasks_dir: PathBuf,
    /// Per-task runtime state (the supervisor's plan, state and socket, OCI bundles), on a
    /// tmpfs: see [`AgentConfig::supervisor_dir`].
    pub run_dir: PathBuf,
    /// libcontainer's state directory.
    pub runtime_dir: PathBuf,
    /// The cgroup every task's cgroups go under.
    pub cgroup_parent: String,
    /// The bridge tasks' veths join; it holds each subnet's gateway address.
    pub bridge: String,
    /// The program run as `berth shim` to supervise each task.
    pub shim_binary: ShimProgram,
    /// A static init binary (tini) for containers with `initProcessEnabled`.
    pub init_binary: Option<PathBuf>,
    /// How big each container's log may grow.
    pub log_limits: berth_logs::LogLimits,
    /// When images are fetched from their registry.
    pub pull_behavior: PullBehavior,
    /// Task supervisors kept started ahead of need, their sandboxes made (0: none).
    pub warm_supervisors: usize,
    /// What enforces security groups (`None`: nothing, with a warning at start).
    pub firewall: Option<berth_firewall::Backend>,
}

/// The program a supervisor runs: `PATH shim ...`, shown in process listings as `NAME shim ...`.
#[derive(Debug, Clone)]
pub struct ShimProgram {
    /// What is executed.
    pub path: PathBuf,
    /// Its `argv[0]`.
    pub name: PathBuf,
}

impl ShimProgram {
    /// The binary this process runs, as it runs. `/proc/self/exe` names the running file's
    /// inode, not its path: when the file is replaced while berth runs (an upgrade), this berth
    /// still starts supervisors of its own version — one of a newer version would write states
    /// it cannot read. Listings show the path it was started from.
    pub fn this_binary() -> std::io::Result<Self> {
        Ok(Self {
            path: PathBuf::from("/proc/self/exe"),
            name: std::env::current_exe()?,
        })
    }

    /// A program run as it is named (tests' stand-ins).
    pub fn at(path: PathBuf) -> Self {
        Self {
            name: path.clone(),
            path,
        }
    }

    /// A command running it.
    pub(crate) fn command(&self) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(&self.path);
        command.arg0(&self.name);
        command
    }
}

impl AgentConfig {
    /// Where task `task_id`'s supervisor keeps its files ([`berth_shim::ShimFiles`]).
    pub fn supervisor_dir(&self, task_id: &str) -> PathBuf {
        self.run_dir.join("tasks").join(task_id)
    }
}

/// When a task's images are fetched from their registry, as the ECS container agent's
/// `ECS_IMAGE_PULL_BEHAVIOR` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PullBehavior {
    /// Always pull; if the registry cannot be reached, use the cached image if there is one.
    #[default]
    Default,
    /// Always pull; fail the task if that fails.
    Always,
    /// Pull only images not stored on this node yet.
    Once,
    /// Use the stored image when there is one, else pull.
    PreferCached,
}

impl PullBehavior {
    /// The behavior ECS names `name` (`default`, `always`, `once`, `prefer-cached`).
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "default" => Self::Default,
            "always" => Self::Always,
            "once" => Self::Once,
            "prefer-cached" => Self::PreferCached,
            _ => return None,
        })
    }
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

/// The root filesystems (by id) of the tasks on this node still under a supervisor: those a
/// restarted berth must keep for the tasks it adopts.
pub fn rootfs_in_use(config: &AgentConfig) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(config.run_dir.join("tasks")) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let files = berth_shim::ShimFiles::new(&entry.path());
            if !files.socket.exists() {
                return None;
            }
            // Of any version, even one this berth cannot run (a supervisor from a newer
            // berth, which it will stop): read loosely, only the ids, so that no root
            // filesystem still under a supervisor is cleaned up from under it.
            let plan: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&files.plan).ok()?).ok()?;
            let ids: Vec<String> = plan["containers"]
                .as_array()?
                .iter()
                .filter_map(|c| c["runtimeId"].as_str().map(str::to_owned))
                .collect();
            Some(ids)
        })
        .flatten()
        .collect()
}

/// The node agent.
pub struct Agent {
    control: Arc<dyn ControlPlane>,
    images: Arc<ImageStore>,
    config: AgentConfig,
    pool: Arc<pool::SupervisorPool>,
    pulls: Arc<pulls::SharedPulls>,
    firewall: Option<Arc<firewall::Firewall>>,
    /// Where the cgroup filesystems are mounted.
    cgroup_root: PathBuf,
}

/// What an agent is given of the machine beyond its configuration. Tests give a temporary
/// directory for cgroups and no bridge, so that what makes no container runs without root and
/// changes nothing on the host.
struct Host<'a> {
    /// Where the cgroup filesystems are mounted.
    cgroup_root: &'a Path,
    /// The bridge warm supervisors wire their veth into ahead of a task, when it exists.
    bridge: Option<&'a str>,
}

impl Agent {
    /// An agent for this node.
    pub fn new(
        control: Arc<dyn ControlPlane>,
        images: Arc<ImageStore>,
        config: AgentConfig,
    ) -> Self {
        let bridge = match berth_net::ensure_bridge(&config.bridge) {
            Ok(_) => Some(config.bridge.clone()),
            Err(error) => {
                tracing::warn!(%error, bridge = %config.bridge, "cannot make the bridge; tasks' veths are made as they start");
                None
            }
        };
        let host = Host {
            cgroup_root: Path::new(berth_runtime::cgroups::CGROUP_ROOT),
            bridge: bridge.as_deref(),
        };
        Self::on_host(control, images, config, host)
    }

    fn on_host(
        control: Arc<dyn ControlPlane>,
        images: Arc<ImageStore>,
        config: AgentConfig,
        host: Host<'_>,
    ) -> Self {
        let mut pool = pool::SupervisorPool::new(
            &config.shim_binary,
            &config.tasks_dir,
            config.warm_supervisors,
        );
        if let Some(bridge) = host.bridge {
            pool.prewire_into(bridge);
        }
        let pool = Arc::new(pool);
        let firewall = match config.firewall {
            Some(backend) => Some(firewall::Firewall::start(backend, config.bridge.clone())),
            None => {
                tracing::warn!(
                    "security groups are not enforced (--firewall off, or neither nft nor iptables is available)"
                );
                None
            }
        };
        Self {
            control,
            images,
            config,
            pool,
            pulls: Arc::default(),
            firewall,
            cgroup_root: host.cgroup_root.to_path_buf(),
        }
    }

    /// Runs until the control plane's assignment stream ends.
    pub async fn run(self) -> Result<(), ControlPlaneError> {
        if let Some(firewall) = &self.firewall {
            let mut groups = self.control.security_groups().await?;
            if let Some(first) = groups.recv().await {
                firewall.set_groups(first);
            }
            let firewall = firewall.clone();
            tokio::spawn(async move {
                while let Some(update) = groups.recv().await {
                    firewall.set_groups(update);
                }
            });
        }
        let mut assignments = self.control.assignments().await?;
        self.pool.fill();
        let mut running: HashMap<String, watch::Sender<bool>> = HashMap::new();
        // Tasks this agent ran to the end: later events about them (a StopTask after the end,
        // tags) need nothing more.
        let mut done: HashSet<String> = HashSet::new();
        let (finished_tx, mut finished) = mpsc::unbounded_channel::<String>();
        // The tasks there are now come first: once they are registered, the firewall's first
        // apply keeps theirs and drops what is left of tasks that are gone.
        for _ in 0..assignments.len() {
            if let Some(assignment) = assignments.recv().await {
                self.handle(assignment, &mut running, &finished_tx).await;
            }
        }
        if let Some(firewall) = &self.firewall {
            firewall.ready();
        }
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
        let desired = desired_status(&assignment);
        if let Some(stop) = running.get(&assignment.key) {
            if desired == DesiredStatus::Stopped {
                let _ = stop.send(true);
            }
            return;
        }
        match (last, desired) {
            (TaskStatus::Stopped, _) => {}
            // Reports trail the work: an earlier berth may have handed this task to a
            // supervisor before its first report was stored. Then it is adopted (and stopped,
            // if that is what is wanted now).
            (TaskStatus::Provisioning, _) if self.supervised(&assignment) => {
                self.spawn_runner(assignment, true, running, finished);
            }
            (TaskStatus::Provisioning, DesiredStatus::Running) => {
                self.spawn_runner(assignment, false, running, finished);
            }
            (TaskStatus::Provisioning, DesiredStatus::Stopped) => {
                // Stopped before it started: nothing to tear down.
                let report = TaskReport {
                    status: Some(TaskStatus::Stopped),
                    ..TaskReport::default()
                };
                let _ = self.control.report(assignment.key, vec![report]).await;
            }
            _ => {
                // Started by an earlier berth process: adopt it (its supervisor kept it going).
                // A stop asked for meanwhile is passed on at once.
                self.spawn_runner(assignment, true, running, finished);
            }
        }
    }

    /// Whether a supervisor was started for this task (its socket exists).
    fn supervised(&self, assignment: &Assignment) -> bool {
        let dir = self.config.supervisor_dir(&task::task_id(assignment));
        berth_shim::ShimFiles::new(&dir).socket.exists()
    }

    fn spawn_runner(
        &self,
        assignment: Assignment,
        adopt: bool,
        running: &mut HashMap<String, watch::Sender<bool>>,
        finished: &mpsc::UnboundedSender<String>,
    ) {
        let stop = desired_status(&assignment) == DesiredStatus::Stopped;
        let (stop_tx, stop_rx) = watch::channel(stop);
        running.insert(assignment.key.clone(), stop_tx);
        let (reports, queued) = mpsc::unbounded_channel();
        let sender = tokio::spawn(task::send_reports(self.control.clone(), queued));
        let guard = match (&self.firewall, &assignment.network) {
            (Some(firewall), Some(network)) => {
                let task_arn = assignment.task.task_arn.clone().unwrap_or_default();
                let generation = firewall.add_task(&assignment.key, &task_arn, network);
                Some((firewall.clone(), generation))
            }
            _ => None,
        };
        let runner = task::Runner {
            images: self.images.clone(),
            config: self.config.clone(),
            cgroup_root: self.cgroup_root.clone(),
            pool: self.pool.clone(),
            pulls: self.pulls.clone(),
            reports,
            firewall: guard,
        };
        let finished = finished.clone();
        let supervisor_dir = self.config.supervisor_dir(&task::task_id(&assignment));
        tokio::spawn(async move {
            let key = assignment.key.clone();
            if adopt {
                runner.adopt(assignment, stop_rx).await;
            } else {
                runner.run(assignment, stop_rx).await;
            }
            // The last reports are sent before the task counts as done. Its supervisor's
            // state goes only then: until STOPPED is stored, a restarted berth needs it.
            drop(runner);
            let _ = sender.await;
            let _ = tokio::fs::remove_dir_all(supervisor_dir).await;
            let _ = finished.send(key);
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

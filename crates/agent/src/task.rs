//! One task on this node. A new task is prepared here — images pulled, task cgroup, a root
//! filesystem and OCI spec per container — and handed to its supervisor process (`berth
//! shim`, see the `berth-shim` crate), which makes its namespaces and starts and stops the
//! containers. With its images stored here, the task is handed over while the registry is
//! still being asked about them: the supervisor creates the containers and starts them only
//! when the runner says go.
//! From then on the runner follows the supervisor's state over its socket and relays it to the
//! control plane; a stop request goes the other way. When the supervisor is done, the runner
//! releases what it prepared and reports STOPPED.
//!
//! A task an earlier berth process started is adopted: the runner reconnects to its
//! supervisor, or reads the state it left if it finished meanwhile.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use berth_image::{ImageRecord, ImageStore};
use berth_model::Timestamp;
use berth_model::lifecycle::{ContainerReport, ContainerStatus, TaskReport, TaskStatus};
use berth_model::shapes::{ContainerDefinition, ContainerOverride, TaskDefinition};
use berth_runtime::cgroups::{self, TaskLimits};
use berth_runtime::process::{command_line, environment, resolve_user};
use berth_runtime::spec::{ContainerConfig, Rlimit, SharedNamespaces, generate};
use berth_shim::{
    Condition, Dependency, Phase, PlannedContainer, Request, RootfsMount, ShimFiles, ShimState,
    TaskPlan,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::{mpsc, watch};

use crate::network;
use crate::pool::SupervisorPool;
use crate::pulls::SharedPulls;
use crate::{AgentConfig, Assignment, ControlPlane, PullBehavior};

const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_STOP_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a supervisor told to give its task back (its containers created from images the
/// registry has replaced) may take to delete them.
const ABORT_WAIT: Duration = Duration::from_secs(30);
/// Most processes one task may have.
const TASK_PIDS_LIMIT: i64 = 4096;
const CFS_PERIOD: u64 = 100_000;
/// Set while a [`cgroups::begin_migration_grace_period`] call is running.
static GRACE_PERIOD_STARTED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);
/// The longest path a Unix socket address holds.
const MAX_SOCKET_PATH: usize = 107;

pub struct Runner {
    pub images: Arc<ImageStore>,
    pub config: AgentConfig,
    /// Supervisors started ahead of need.
    pub pool: Arc<SupervisorPool>,
    /// Pulls in progress, shared by the tasks that need them.
    pub pulls: Arc<SharedPulls>,
    /// The task's reports, in order, to [`send_reports`].
    pub reports: mpsc::UnboundedSender<(String, Vec<TaskReport>)>,
    /// The node's firewall and the generation that guards this task (awsvpc tasks).
    pub firewall: Option<(Arc<crate::firewall::Firewall>, u64)>,
}

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

/// A task's containers as planned: its hostname, each container's plan, and the digest of
/// the image manifest each root filesystem was made from (by container name).
struct Planned {
    hostname: String,
    containers: Vec<PlannedContainer>,
    manifests: HashMap<String, String>,
}

/// What the runner has told the control plane so far.
#[derive(Default)]
struct Relayed {
    phase: Option<Phase>,
    containers: HashMap<String, berth_shim::ContainerState>,
}

impl Runner {
    /// Runs a task new to this node.
    pub async fn run(&self, assignment: Assignment, mut stop: watch::Receiver<bool>) {
        let id = task_id(&assignment);
        let scratch = self.config.tasks_dir.join(&id);
        match self.prepare(&assignment, &id, &scratch, &mut stop).await {
            Ok(connection) => self.follow(&assignment, &id, connection, stop).await,
            Err(reason) => {
                tokio::join!(
                    self.release(&id, &assignment.definition),
                    self.unguard(&assignment.key)
                );
                self.report(
                    &assignment.key,
                    TaskReport {
                        status: Some(TaskStatus::Stopped),
                        stop_code: Some("TaskFailedToStart".into()),
                        stopped_reason: Some(reason),
                        ..TaskReport::default()
                    },
                )
                .await;
            }
        }
    }

    /// Takes over a task an earlier berth process started.
    pub async fn adopt(&self, assignment: Assignment, stop: watch::Receiver<bool>) {
        let id = task_id(&assignment);
        let files = ShimFiles::new(&self.config.supervisor_dir(&id));
        match UnixStream::connect(&files.socket).await {
            Ok(connection) => {
                tracing::info!(task = %id, "adopted a running task");
                self.follow(&assignment, &id, connection, stop).await;
            }
            Err(_) => {
                let state = ShimState::load(&files.state);
                self.conclude(&assignment, &id, state).await;
            }
        }
    }

    /// Pulls, prepares and hands the task to its supervisor; returns the connection to it, or
    /// why the task cannot start, in ECS's words.
    async fn prepare(
        &self,
        assignment: &Assignment,
        id: &str,
        scratch: &Path,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<UnixStream, String> {
        let key = &assignment.key;
        tracing::debug!(task = %id, "preparing");
        let definitions = assignment
            .definition
            .container_definitions
            .clone()
            .unwrap_or_default();
        self.report(
            key,
            TaskReport {
                status: Some(TaskStatus::Pending),
                pull_started_at: Some(Timestamp::now()),
                ..TaskReport::default()
            },
        )
        .await;
        // Made first: whatever the task comes to hold on this node is found from its
        // directory (a test harness reaping a killed berth's tasks, for one).
        std::fs::create_dir_all(scratch).map_err(|error| {
            format!("ResourceInitializationError: cannot create the task's directory: {error}")
        })?;
        // The task's cgroup (and its subnet's gateway on the bridge) are made while the
        // images are checked: neither needs the other.
        let limits = task_limits(assignment);
        let task_cgroup = format!("{}/{id}", self.config.cgroup_parent);
        let gateway = assignment
            .network
            .clone()
            .map(|network| (self.config.bridge.clone(), network));
        let cgroup = tokio::task::spawn_blocking(move || {
            cgroups::create_task_cgroup(Path::new(cgroups::CGROUP_ROOT), &task_cgroup, limits)
                .map_err(|error| {
                    format!(
                        "ResourceInitializationError: failed to create the task's cgroup: {error}"
                    )
                })?;
            // Directory made: now the kernel's wait before the first cgroup move (see
            // begin_migration_grace_period) can run while the rest is prepared. It holds the
            // cgroup lock meanwhile, so it starts only after our own mkdir. One at a time:
            // while tasks start in numbers, the kernel's lock stays warm anyway.
            if !GRACE_PERIOD_STARTED.swap(true, std::sync::atomic::Ordering::AcqRel) {
                tokio::task::spawn_blocking(|| {
                    cgroups::begin_migration_grace_period(Path::new(cgroups::CGROUP_ROOT));
                    GRACE_PERIOD_STARTED.store(false, std::sync::atomic::Ordering::Release);
                });
            }
            if let Some((bridge, network)) = gateway {
                network::ensure_gateway(&bridge, &network).map_err(|error| {
                    format!(
                        "ResourceInitializationError: failed to set up the bridge {bridge}: {error}"
                    )
                })?;
            }
            Ok::<(), String>(())
        });
        let checked = async {
            let digests = self.obtain_images(key, &definitions).await?;
            self.report(
                key,
                TaskReport {
                    status: Some(TaskStatus::Activating),
                    pull_stopped_at: Some(Timestamp::now()),
                    containers: digests
                        .iter()
                        .map(|(name, digest)| ContainerReport {
                            name: name.clone(),
                            image_digest: Some(digest.clone()),
                            ..ContainerReport::default()
                        })
                        .collect(),
                    ..TaskReport::default()
                },
            )
            .await;
            tracing::debug!(task = %id, "images ready");
            Ok::<_, String>(digests)
        };
        // From the images stored here — the common case — the task is planned and handed to
        // its supervisor while the registry is asked whether they are still current: the
        // supervisor creates the containers and holds them until the answer. They start if
        // the registry names the digests they were planned with; otherwise they are deleted
        // unstarted, and the task is planned again from the images it names. The cgroup is
        // settled before any return, so that a failed task's release finds it made.
        let early = async {
            let planned = self
                .plan_containers(assignment, id, scratch, &definitions)
                .await;
            let cgroup = match cgroup.await {
                Ok(made) => made,
                Err(error) => Err(format!("ResourceInitializationError: {error}")),
            };
            let held = match planned {
                Ok(planned) if cgroup.is_ok() && !*stop.borrow() => {
                    tracing::debug!(task = %id, "cgroup and root filesystems ready");
                    let manifests = planned.manifests.clone();
                    self.hand_over(assignment, id, scratch, planned, true)
                        .await
                        .ok()
                        .map(|connection| (manifests, connection))
                }
                _ => None,
            };
            (cgroup, held)
        };
        let (checked, (cgroup, held)) = tokio::join!(checked, early);
        let held = match (&checked, held) {
            (Ok(digests), Some((manifests, connection)))
                if *digests == manifests && !*stop.borrow() =>
            {
                // A supervisor that cannot be told to go is given up on; a new one runs the
                // task.
                go(connection).await
            }
            (_, Some((_, connection))) => {
                abort(id, connection).await;
                None
            }
            (_, None) => None,
        };
        if let Some(connection) = held {
            tracing::debug!(task = %id, "images confirmed: containers go");
            return Ok(connection);
        }
        // Also what a plan that failed half-way made.
        self.discard(id, &definitions).await;
        cgroup?;
        checked?;
        if *stop.borrow() {
            return Err("Task stopped before all its containers started".to_owned());
        }
        let planned = self
            .plan_containers(assignment, id, scratch, &definitions)
            .await?;
        tracing::debug!(task = %id, "cgroup and root filesystems ready");
        self.hand_over(assignment, id, scratch, planned, false)
            .await
    }

    /// Makes the task's plan from `planned` and hands it to a supervisor; returns the
    /// connection to it. With `hold`, the supervisor creates the containers but starts them
    /// only when told to ([`go`]).
    async fn hand_over(
        &self,
        assignment: &Assignment,
        id: &str,
        scratch: &Path,
        planned: Planned,
        hold: bool,
    ) -> Result<UnixStream, String> {
        let plan = TaskPlan {
            task_id: id.to_owned(),
            hostname: planned.hostname,
            state_root: self.config.runtime_dir.clone(),
            stop_timeout_ms: millis(DEFAULT_STOP_TIMEOUT),
            log_max_bytes: self.config.log_limits.max_bytes,
            log_max_files: self.config.log_limits.max_files,
            containers: planned.containers,
            network: assignment
                .network
                .as_ref()
                .map(|n| network::plan(&self.config.bridge, id, n))
                .transpose()
                .map_err(|error| format!("ResourceInitializationError: {error}"))?,
            hold,
        };
        self.spawn_supervisor(scratch, &plan)
            .await
            .map_err(|error| {
                format!(
                    "ResourceInitializationError: failed to start the task's supervisor: {error}"
                )
            })
    }

    /// Each container's image, pulled as the pull behavior says: the digests by container
    /// name, or the first failure in ECS's words (reported on its container).
    async fn obtain_images(
        &self,
        key: &str,
        definitions: &[ContainerDefinition],
    ) -> Result<HashMap<String, String>, String> {
        let mut digests = HashMap::new();
        for definition in definitions {
            let name = definition.name.clone().unwrap_or_default();
            match self
                .obtain_image(definition.image.as_deref().unwrap_or_default())
                .await
            {
                Ok(record) => {
                    digests.insert(name, record.manifest.to_string());
                }
                Err(message) => {
                    let report = TaskReport {
                        containers: vec![ContainerReport {
                            name,
                            status: Some(ContainerStatus::Stopped),
                            reason: Some(message.clone()),
                            ..ContainerReport::default()
                        }],
                        ..TaskReport::default()
                    };
                    self.report(key, report).await;
                    return Err(message);
                }
            }
        }
        Ok(digests)
    }

    /// Writes the plan, binds the supervisor's socket and starts `berth shim` with it as its
    /// standard input; returns the agent's connection, made before the supervisor even runs.
    async fn spawn_supervisor(
        &self,
        scratch: &Path,
        plan: &TaskPlan,
    ) -> std::io::Result<UnixStream> {
        let dir = self.config.supervisor_dir(&plan.task_id);
        let files = ShimFiles::new(&dir);
        if files.socket.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(std::io::Error::other(format!(
                "the socket path {} is too long for a Unix socket: use a shorter data directory",
                files.socket.display()
            )));
        }
        std::fs::create_dir_all(&dir)?;
        std::fs::write(&files.plan, serde_json::to_vec(plan)?)?;
        let _ = std::fs::remove_file(&files.socket);
        let listener = std::os::unix::net::UnixListener::bind(&files.socket)?;
        let connection = std::os::unix::net::UnixStream::connect(&files.socket)?;
        let log = std::fs::File::create(scratch.join("shim.log"))?;
        connection.set_nonblocking(true)?;
        if let Some(idle) = self.pool.take() {
            match idle.hand_over(&dir, &listener, &log) {
                Ok(()) => {
                    // Refilled off the start path, once this task has had the CPU.
                    let pool = self.pool.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        pool.fill();
                    });
                    return UnixStream::from_std(connection);
                }
                Err(error) => {
                    tracing::warn!(%error, "an idle supervisor refused its task; starting one");
                }
            }
        }
        let mut child = tokio::process::Command::new(&self.config.shim_binary)
            .arg("shim")
            .arg(&dir)
            .stdin(std::process::Stdio::from(std::os::fd::OwnedFd::from(
                listener,
            )))
            .stdout(log.try_clone()?)
            .stderr(log)
            // Its own process group: a Ctrl-C meant for `berth up` does not reach tasks.
            .process_group(0)
            .spawn()?;
        // Reaped here while this berth lives; by init once it is gone.
        tokio::spawn(async move {
            let _ = child.wait().await;
        });
        UnixStream::from_std(connection)
    }

    /// Relays the supervisor's state until the task has stopped, forwarding a stop request;
    /// then releases the task's resources and reports it STOPPED.
    async fn follow(
        &self,
        assignment: &Assignment,
        id: &str,
        connection: UnixStream,
        mut stop: watch::Receiver<bool>,
    ) {
        let (read, mut write) = connection.into_split();
        let mut lines = BufReader::new(read).lines();
        let mut relayed = Relayed::default();
        let mut stop_sent = false;
        let mut last: Option<ShimState> = None;
        loop {
            if !stop_sent && *stop.borrow() {
                // A supervisor that is gone cannot be asked; its end shows on the socket.
                let _ = send_request(&mut write, &Request::Stop).await;
                stop_sent = true;
            }
            tokio::select! {
                line = lines.next_line() => {
                    let Ok(Some(line)) = line else { break };
                    let Ok(state) = serde_json::from_str::<ShimState>(&line) else {
                        tracing::warn!(task = %id, "unreadable state from the task's supervisor");
                        continue;
                    };
                    tracing::debug!(task = %id, phase = ?state.phase, "supervisor state");
                    self.relay(&assignment.key, &state, &mut relayed).await;
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
        // The supervisor saves each state before it sends it: the file is at least as new.
        let state = ShimState::load(&ShimFiles::new(&self.config.supervisor_dir(id)).state)
            .filter(|s| s.phase == Phase::Stopped)
            .or(last);
        self.conclude(assignment, id, state).await;
    }

    /// Reports what changed since the last relay: task phase and container states.
    async fn relay(&self, key: &str, state: &ShimState, relayed: &mut Relayed) {
        let mut report = TaskReport::default();
        if relayed.phase != Some(state.phase) {
            report.status = match state.phase {
                Phase::Starting => None,
                Phase::Running => {
                    // RUNNING means reachable as its security groups say.
                    if let Some((firewall, generation)) = &self.firewall {
                        let since = std::time::Instant::now();
                        firewall.in_force(key, *generation).await;
                        // The rules are applied while the task starts: this is what they
                        // added to its start (BENCHMARKS.md).
                        tracing::debug!(task = %key, micros = since.elapsed().as_micros(), "rules in force");
                    }
                    Some(TaskStatus::Running)
                }
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

    /// Releases the task's resources and reports it STOPPED: as its supervisor recorded when
    /// it finished, or, when it vanished, with what it left and a reason that says so.
    async fn conclude(&self, assignment: &Assignment, id: &str, state: Option<ShimState>) {
        let key = &assignment.key;
        // DEPROVISIONING goes with STOPPED, stamped with when it began: one store write, so
        // the final one does not queue behind another.
        let deprovisioning = TaskReport {
            status: Some(TaskStatus::Deprovisioning),
            observed_at: Some(Timestamp::now()),
            ..TaskReport::default()
        };
        tokio::join!(self.release(id, &assignment.definition), self.unguard(key));
        tracing::debug!(task = %id, "released");
        let finished = state.as_ref().is_some_and(|s| s.phase == Phase::Stopped);
        let (stop_code, reason) = match state.as_ref().and_then(|s| s.stop.clone()) {
            Some(cause) if finished => (cause.code, cause.reason),
            _ if state.is_some() => (
                "TaskFailedToStart".to_owned(),
                "Task stopped: its supervisor process ended unexpectedly; its containers were killed".to_owned(),
            ),
            _ => (
                "TaskFailedToStart".to_owned(),
                "ResourceInitializationError: berth stopped while the task was starting".to_owned(),
            ),
        };
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
            stop_code: Some(stop_code),
            stopped_reason: Some(reason),
            containers,
            observed_at: Some(Timestamp::now()),
            ..TaskReport::default()
        };
        let _ = self
            .reports
            .send((key.clone(), vec![deprovisioning, stopped]));
    }

    /// Removes what the task held on this node, whatever state it was left in.
    async fn release(&self, id: &str, definition: &TaskDefinition) {
        let images = self.images.clone();
        let config = self.config.clone();
        let id = id.to_owned();
        let definition = definition.clone();
        let _ = tokio::task::spawn_blocking(move || {
            release_task_resources(&images, &config, &id, &definition)
        })
        .await;
    }

    /// Mounts container `definition`'s root filesystem and decides its spec.
    /// Every container's plan (root filesystem prepared, OCI spec made) and the task's
    /// hostname, with the `/etc` files an awsvpc task's containers share.
    async fn plan_containers(
        &self,
        assignment: &Assignment,
        id: &str,
        scratch: &Path,
        definitions: &[ContainerDefinition],
    ) -> Result<Planned, String> {
        let overrides: Vec<ContainerOverride> = assignment
            .task
            .overrides
            .as_ref()
            .and_then(|o| o.container_overrides.clone())
            .unwrap_or_default();
        // An awsvpc task is named by its private DNS name, as in Fargate.
        let (hostname, etc_layer) = match &assignment.network {
            Some(network) => {
                let layer = self.config.supervisor_dir(id).join("etc-layer");
                let layer = network::write_etc_layer(&layer, network).map_err(|error| {
                    format!(
                        "ResourceInitializationError: cannot write the task's /etc files: {error}"
                    )
                })?;
                (network.private_dns_name.clone(), Some(layer))
            }
            None => (id.chars().take(12).collect(), None),
        };
        let mut containers = Vec::new();
        let mut manifests = HashMap::new();
        for definition in definitions {
            let name = definition.name.clone().unwrap_or_default();
            let container_override = overrides
                .iter()
                .find(|o| o.name.as_deref() == Some(name.as_str()));
            let (planned, manifest) = self
                .plan_container(
                    id,
                    scratch,
                    definition,
                    container_override,
                    &hostname,
                    etc_layer.as_deref(),
                )
                .await
                .map_err(|reason| format!("CannotCreateContainerError: {reason}"))?;
            manifests.insert(name, manifest);
            containers.push(planned);
        }
        Ok(Planned {
            hostname,
            containers,
            manifests,
        })
    }

    /// Gives back whatever root filesystems a plan that will not run made (from images the
    /// registry has since replaced, or half-way before it failed).
    async fn discard(&self, id: &str, definitions: &[ContainerDefinition]) {
        let images = self.images.clone();
        let ids: Vec<String> = definitions
            .iter()
            .map(|d| format!("{id}-{}", d.name.as_deref().unwrap_or_default()))
            .collect();
        let id = id.to_owned();
        let _ = tokio::task::spawn_blocking(move || {
            for rootfs in ids {
                if let Err(error) = images.unmount_rootfs(&rootfs) {
                    tracing::warn!(%error, task = %id, "cannot remove a root filesystem");
                }
            }
        })
        .await;
    }

    async fn plan_container(
        &self,
        id: &str,
        scratch: &Path,
        definition: &ContainerDefinition,
        container_override: Option<&ContainerOverride>,
        hostname: &str,
        etc_layer: Option<&Path>,
    ) -> Result<(PlannedContainer, String), String> {
        let name = definition.name.clone().unwrap_or_default();
        let image = definition.image.clone().unwrap_or_default();
        // The writable layer on disk; the mount point, made and removed for every task, on
        // the run directory's tmpfs.
        let container_scratch = scratch.join(format!("rootfs-{name}"));
        let target = self.config.supervisor_dir(id).join("rootfs").join(&name);
        let rootfs_id = format!("{id}-{name}");
        let images = self.images.clone();
        // Prepared here, mounted by the supervisor in its own mount namespace.
        let (rootfs, mut overlay) = {
            let (rootfs_id, image, container_scratch) =
                (rootfs_id.clone(), image.clone(), container_scratch.clone());
            tokio::task::spawn_blocking(move || {
                images.prepare_rootfs(&rootfs_id, &image, &container_scratch, &target)
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| berth_image::error_chain(&e))?
        };
        // The task's /etc files over the image (overlayfs lists the topmost layer first).
        if let Some(layer) = etc_layer {
            overlay.lowers.insert(0, layer.to_path_buf());
        }
        let image_config = &rootfs.config;
        let command = container_override
            .and_then(|o| o.command.clone())
            .or_else(|| definition.command.clone());
        let args = command_line(
            image_config.entrypoint.as_deref(),
            image_config.cmd.as_deref(),
            definition.entry_point.as_deref(),
            command.as_deref(),
        )
        .map_err(|e| e.to_string())?;
        let pairs =
            |list: Option<&Vec<berth_model::shapes::KeyValuePair>>| -> Vec<(String, String)> {
                list.into_iter()
                    .flatten()
                    .filter_map(|kv| Some((kv.name.clone()?, kv.value.clone().unwrap_or_default())))
                    .collect()
            };
        let definition_env = pairs(definition.environment.as_ref());
        let override_env = pairs(container_override.and_then(|o| o.environment.as_ref()));
        let env = environment(
            image_config.env.as_deref().unwrap_or_default(),
            &[&definition_env, &override_env],
            hostname,
        );
        let read = |path: &str| read_from_layers(&overlay.lowers, path);
        let user_spec = definition
            .user
            .clone()
            .or_else(|| image_config.user.clone())
            .unwrap_or_default();
        let user = resolve_user(&user_spec, &read("etc/passwd"), &read("etc/group"))
            .map_err(|e| e.to_string())?;
        let memory = container_override
            .and_then(|o| o.memory)
            .or(definition.memory);
        let reservation = container_override
            .and_then(|o| o.memory_reservation)
            .or(definition.memory_reservation);
        let cpu = container_override
            .and_then(|o| o.cpu)
            .or(definition.cpu)
            .unwrap_or(0);
        let init = if definition
            .linux_parameters
            .as_ref()
            .and_then(|l| l.init_process_enabled)
            .unwrap_or(false)
        {
            Some(self.config.init_binary.clone().ok_or_else(|| {
                "initProcessEnabled needs a static init binary on the node (tini-static, from Debian's tini package; see berth up --init-path)".to_owned()
            })?)
        } else {
            None
        };
        let cgroup = format!("{}/{id}/{name}", self.config.cgroup_parent);
        let config = ContainerConfig {
            rootfs: rootfs.path.clone(),
            args,
            env,
            cwd: definition
                .working_directory
                .clone()
                .or_else(|| image_config.working_dir.clone())
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| "/".into()),
            user,
            hostname: hostname.to_owned(),
            readonly_rootfs: definition.readonly_root_filesystem.unwrap_or(false),
            cgroups_path: PathBuf::from(format!("/{cgroup}")),
            // The task's cgroup holds its CPU quota; among its containers, shares decide.
            cpu_shares: Some(u64::try_from(cpu).unwrap_or(0).max(2)),
            cpu_quota: None,
            // The task's cgroup holds its memory; a container may have a lower hard limit.
            memory_limit: memory.map(|m| i64::from(m) << 20),
            memory_reservation: reservation.map(|r| i64::from(r) << 20),
            pids_limit: None,
            rlimits: definition
                .ulimits
                .as_deref()
                .unwrap_or_default()
                .iter()
                .map(|u| Rlimit {
                    name: u.name.to_string(),
                    soft: u64::try_from(u.soft_limit).unwrap_or(0),
                    hard: u64::try_from(u.hard_limit).unwrap_or(0),
                })
                .collect(),
            // The supervisor's sandbox namespaces, joined once it has made them.
            shared: SharedNamespaces::default(),
            init,
        };
        let spec = generate(&config).map_err(|e| e.to_string())?;
        let logs = scratch.join("logs");
        std::fs::create_dir_all(&logs).map_err(|e| e.to_string())?;
        let planned = PlannedContainer {
            rootfs: RootfsMount {
                lowers: overlay.lowers,
                upper: overlay.upper,
                work: overlay.work,
                target: overlay.target,
            },
            runtime_id: format!("{id}-{name}"),
            bundle: self.config.supervisor_dir(id).join("bundles").join(&name),
            spec,
            essential: definition.essential != Some(false),
            depends_on: definition
                .depends_on
                .as_deref()
                .unwrap_or_default()
                .iter()
                .filter_map(|d| {
                    Some(Dependency {
                        container: d.container_name.clone(),
                        condition: Condition::parse(d.condition.as_str())?,
                    })
                })
                .collect(),
            stop_signal: image_config
                .stop_signal
                .as_deref()
                .and_then(signal_number)
                .unwrap_or(15),
            stop_timeout_ms: stop_timeout(definition).map(millis),
            cgroup,
            log: log_path(scratch, &name),
            exited_marker: exited_marker(scratch, &name),
            name,
        };
        Ok((planned, rootfs.manifest))
    }

    /// The image as the pull behavior says: pulled (sharing a pull of it in progress), or the
    /// copy stored on this node; else why not, in ECS's words.
    async fn obtain_image(&self, image: &str) -> Result<ImageRecord, String> {
        let stored = || self.images.get(image).ok();
        if matches!(
            self.config.pull_behavior,
            PullBehavior::Once | PullBehavior::PreferCached
        ) && let Some(record) = stored()
        {
            return Ok(record);
        }
        match self.pulls.pull(&self.images, image).await {
            Ok(record) => Ok(record),
            Err(error) if self.config.pull_behavior == PullBehavior::Default => match stored() {
                Some(record) => {
                    tracing::warn!(%error, image, "pull failed; using the stored image");
                    Ok(record)
                }
                None => Err(error),
            },
            Err(error) => Err(error),
        }
    }

    /// Takes the task's address out of the firewall and waits until that is in force: STOPPED
    /// frees the address for another task, which must not inherit this one's place in its
    /// security groups.
    async fn unguard(&self, key: &str) {
        if let Some((firewall, _)) = &self.firewall {
            let generation = firewall.remove_task(key);
            firewall.in_force(key, generation).await;
        }
    }

    /// Queues a report for [`send_reports`], stamped with the time it was made.
    async fn report(&self, key: &str, report: TaskReport) {
        let report = TaskReport {
            observed_at: Some(Timestamp::now()),
            ..report
        };
        let _ = self.reports.send((key.to_owned(), vec![report]));
    }
}

/// Sends `request` to a supervisor: one JSON line.
async fn send_request(
    connection: &mut (impl tokio::io::AsyncWrite + Unpin),
    request: &Request,
) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(request).map_err(std::io::Error::other)?;
    line.push(b'\n');
    connection.write_all(&line).await
}

/// Tells a supervisor holding its containers to start them; `None` if it cannot be told.
async fn go(mut connection: UnixStream) -> Option<UnixStream> {
    send_request(&mut connection, &Request::Go).await.ok()?;
    Some(connection)
}

/// Has a supervisor holding its containers delete them unstarted, and waits until it has
/// finished (or [`ABORT_WAIT`] has passed): the task is then planned again and handed to
/// another supervisor.
async fn abort(id: &str, connection: UnixStream) {
    let (read, mut write) = connection.into_split();
    let _ = send_request(&mut write, &Request::Stop).await;
    let mut lines = BufReader::new(read).lines();
    let finished = tokio::time::timeout(ABORT_WAIT, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if serde_json::from_str::<ShimState>(&line).is_ok_and(|s| s.phase == Phase::Stopped) {
                return;
            }
        }
    })
    .await;
    if finished.is_err() {
        tracing::warn!(task = %id, "a supervisor told to give its task back has not finished");
    }
}

/// Removes what task `id` held on this node: processes still in its cgroups (killed), its
/// cgroups and root filesystems (its namespaces went with its supervisor). Log followers are told its containers
/// are done. Blocking.
pub fn release_task_resources(
    images: &ImageStore,
    config: &AgentConfig,
    id: &str,
    definition: &TaskDefinition,
) {
    let left = cgroups::kill_and_remove(
        Path::new(cgroups::CGROUP_ROOT),
        &format!("{}/{id}", config.cgroup_parent),
    );
    if !left.is_empty() {
        tracing::warn!(task = %id, ?left, "task cgroups could not be removed");
    }
    let scratch = config.tasks_dir.join(id);
    let _ = std::fs::create_dir_all(scratch.join("logs"));
    for container in definition
        .container_definitions
        .as_deref()
        .unwrap_or_default()
    {
        let name = container.name.as_deref().unwrap_or_default();
        if let Err(error) = images.unmount_rootfs(&format!("{id}-{name}")) {
            tracing::warn!(%error, task = %id, "cannot remove a root filesystem");
        }
        // Also when preparing it failed before its lease was written.
        let _ = std::fs::remove_dir_all(scratch.join(format!("rootfs-{name}")));
        let _ = std::fs::write(exited_marker(&scratch, name), b"");
    }
    let supervisor_dir = config.supervisor_dir(id);
    let _ = std::fs::remove_dir_all(supervisor_dir.join("rootfs"));
    let _ = std::fs::remove_dir_all(supervisor_dir.join("bundles"));
    let _ = std::fs::remove_file(ShimFiles::new(&supervisor_dir).socket);
}

/// The text of file `path` (relative to `/`) in an image whose layers are `lowers`, topmost
/// first, as the merged root filesystem would show it; empty when it is missing, deleted by a
/// whiteout or a symbolic link (which would point into the host, not the image).
fn read_from_layers(lowers: &[PathBuf], path: &str) -> String {
    use std::os::unix::fs::FileTypeExt;
    for layer in lowers {
        let file = layer.join(path);
        match std::fs::symlink_metadata(&file) {
            Ok(meta) if meta.is_file() => return std::fs::read_to_string(file).unwrap_or_default(),
            Ok(meta) if meta.file_type().is_char_device() || meta.file_type().is_symlink() => {
                return String::new();
            }
            _ => {}
        }
    }
    String::new()
}

/// The last part of the task's ARN.
pub fn task_id(assignment: &Assignment) -> String {
    assignment
        .task
        .task_arn
        .as_deref()
        .and_then(|a| a.rsplit('/').next())
        .unwrap_or("task")
        .to_owned()
}

/// Where container `name`'s output goes.
pub fn log_path(scratch: &Path, name: &str) -> PathBuf {
    scratch.join("logs").join(format!("{name}.log"))
}

/// Written beside a container's log once it has exited: nothing more will be appended.
pub fn exited_marker(scratch: &Path, name: &str) -> PathBuf {
    scratch.join("logs").join(format!("{name}.exited"))
}

fn container_report(container: &berth_shim::ContainerState) -> ContainerReport {
    ContainerReport {
        name: container.name.clone(),
        status: Some(match container.status {
            berth_shim::ContainerStatus::Pending => ContainerStatus::Pending,
            berth_shim::ContainerStatus::Running => ContainerStatus::Running,
            berth_shim::ContainerStatus::Stopped => ContainerStatus::Stopped,
        }),
        exit_code: container.exit_code,
        reason: container.reason.clone(),
        runtime_id: container.pid.map(|pid| pid.to_string()),
        ..ContainerReport::default()
    }
}

/// The task cgroup's limits: CPU quota = task cpu / 1024 vCPUs, memory = task memory.
fn task_limits(assignment: &Assignment) -> TaskLimits {
    let cpu: i64 = assignment
        .task
        .cpu
        .as_deref()
        .and_then(|c| c.parse().ok())
        .unwrap_or(256);
    let memory: i64 = assignment
        .task
        .memory
        .as_deref()
        .and_then(|m| m.parse().ok())
        .unwrap_or(512);
    TaskLimits {
        cpu_quota: cpu * CFS_PERIOD as i64 / 1024,
        cpu_period: CFS_PERIOD,
        memory: memory << 20,
        pids: TASK_PIDS_LIMIT,
    }
}

/// A container's `stopTimeout` (seconds; ECS caps it at 120), when it has one.
fn stop_timeout(definition: &ContainerDefinition) -> Option<Duration> {
    definition
        .stop_timeout
        .map(|s| Duration::from_secs(u64::try_from(s).unwrap_or(0)).min(MAX_STOP_TIMEOUT))
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// An image's StopSignal (`SIGQUIT`, `QUIT` or `3`) as a number.
fn signal_number(name: &str) -> Option<i32> {
    if let Ok(number) = name.parse() {
        return Some(number);
    }
    let name = name.trim_start_matches("SIG");
    Some(match name {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "KILL" => 9,
        "USR1" => 10,
        "USR2" => 12,
        "TERM" => 15,
        "STOP" => 19,
        "WINCH" => 28,
        "PWR" => 30,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_signals_by_name_or_number() {
        assert_eq!(signal_number("SIGQUIT"), Some(3));
        assert_eq!(signal_number("WINCH"), Some(28));
        assert_eq!(signal_number("10"), Some(10));
        assert_eq!(signal_number("SIGNOPE"), None);
    }
}

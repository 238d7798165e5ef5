//! One task on this node, from its first report to STOPPED: the runner, which sequences the
//! steps its submodules own. A new task is prepared — images obtained (`crate::pulls`), task
//! directory, cgroup and subnet gateway made, and its containers planned (`plan`: a root
//! filesystem and OCI spec each) — and handed to its supervisor process (`berth shim`, see the
//! `berth-shim` crate; `supervisor_link`), which makes its namespaces and starts and stops the
//! containers. With its images stored here, the task is handed over while the registry is
//! still being asked about them: the supervisor creates the containers and starts them only
//! when the runner says go.
//! From then on the runner follows the supervisor's state over its socket and relays it to the
//! control plane (`reports`); a stop request goes the other way. When the supervisor is done,
//! the runner releases what it prepared (`teardown`) and reports STOPPED, with ECS's stop code
//! and reason (`stop_reason`).
//!
//! A task an earlier berth process started is adopted: the runner reconnects to its
//! supervisor, or reads the state it left if it finished meanwhile — in whichever protocol
//! version that supervisor speaks (`observed`); one it cannot read is stopped.

mod observed;
mod plan;
mod reports;
mod stop_reason;
mod supervisor_link;
mod teardown;
mod volumes;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_image::ImageStore;
use berth_model::Timestamp;
use berth_model::lifecycle::{ContainerReport, ContainerStatus, TaskReport, TaskStatus};
use berth_model::shapes::ContainerDefinition;
use berth_runtime::cgroups::{self, TaskLimits};
use berth_shim::{Phase, Request, ShimFiles};
use tokio::net::UnixStream;
use tokio::sync::watch;

pub use plan::{exited_marker, log_path};
pub use reports::send_reports;

use crate::network;
use crate::pool::SupervisorPool;
use crate::pulls::{PullError, SharedPulls};
use crate::{AgentConfig, Assignment};
use observed::Observed;
use plan::{PlanError, Planned, Planner};
use stop_reason::{StopCause, ecs_stop};
use supervisor_link::{HandOverError, States};

/// Set while a [`cgroups::begin_migration_grace_period`] call is running.
static GRACE_PERIOD_STARTED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Why a task could not be made ready and handed to a supervisor: the failed step's own
/// error, or a stop asked for first. Each message carries its cause's text, because it is
/// what a user reads in `stoppedReason`; [`stop_reason::ecs_stop`] adds ECS's words.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// The task's scratch directory could not be made.
    #[error("cannot create the task's directory: {0}")]
    TaskDirectory(std::io::Error),
    /// The task's cgroup could not be made or given its limits.
    #[error("failed to create the task's cgroup: {0}")]
    Cgroup(std::io::Error),
    /// The task subnet's gateway could not be put on the bridge.
    #[error("failed to set up the bridge {bridge}: {error}")]
    Bridge {
        /// The bridge.
        bridge: String,
        /// Why.
        error: std::io::Error,
    },
    /// The thread making the cgroup and gateway ended before it answered.
    #[error("{0}")]
    Interrupted(tokio::task::JoinError),
    /// An image could not be obtained.
    #[error(transparent)]
    Pull(#[from] PullError),
    /// The task could not be planned.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// No supervisor took the task.
    #[error("failed to start the task's supervisor: {0}")]
    HandOver(#[from] HandOverError),
    /// A stop was asked for before the task was handed over.
    #[error("stopped before all its containers started")]
    Stopped,
}

/// Runs one task, new or adopted, to its STOPPED report.
pub struct Runner {
    pub images: Arc<ImageStore>,
    pub config: AgentConfig,
    /// Where the cgroup filesystems are mounted (`/sys/fs/cgroup`; a temporary directory in
    /// tests that make no cgroups).
    pub cgroup_root: PathBuf,
    /// Supervisors started ahead of need.
    pub pool: Arc<SupervisorPool>,
    /// Pulls in progress, shared by the tasks that need them.
    pub pulls: Arc<SharedPulls>,
    /// The task's reports, in order, to [`send_reports`].
    pub reports: reports::Queue,
    /// The node's firewall and the generation that guards this task (awsvpc tasks).
    pub firewall: Option<(Arc<crate::firewall::Firewall>, u64)>,
}

impl Runner {
    /// Runs a task new to this node.
    pub async fn run(&self, assignment: Assignment, mut stop: watch::Receiver<bool>) {
        let id = task_id(&assignment);
        let scratch = self.config.tasks_dir.join(&id);
        match self.prepare(&assignment, &id, &scratch, &mut stop).await {
            Ok(connection) => self.follow(&assignment, &id, connection, stop).await,
            Err(error) => {
                tracing::debug!(task = %id, %error, "the task cannot start");
                tokio::join!(
                    self.release(&id, &assignment),
                    teardown::unguard(self.firewall.as_ref(), &assignment.key)
                );
                let stopped = ecs_stop(&StopCause::FailedToStart(error));
                self.report(
                    &assignment.key,
                    TaskReport {
                        status: Some(TaskStatus::Stopped),
                        stop_code: Some(stopped.code),
                        stopped_reason: Some(stopped.reason),
                        ..TaskReport::default()
                    },
                );
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
            Err(_) => match Observed::load(&files.state) {
                Some(Err(unreadable)) => {
                    let cause = StopCause::UnreadableSupervisor(unreadable);
                    self.conclude(&assignment, &id, cause, None).await;
                }
                state => {
                    let state = state.and_then(Result::ok);
                    let cause = Observed::stop_cause(state.as_ref());
                    self.conclude(&assignment, &id, cause, state).await;
                }
            },
        }
    }

    /// Pulls, prepares and hands the task to its supervisor; returns the connection to it, or
    /// why the task cannot start.
    async fn prepare(
        &self,
        assignment: &Assignment,
        id: &str,
        scratch: &Path,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<UnixStream, PrepareError> {
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
        );
        // Made first: whatever the task comes to hold on this node is found from its
        // directory (a test harness reaping a killed berth's tasks, for one).
        std::fs::create_dir_all(scratch).map_err(PrepareError::TaskDirectory)?;
        // The task's cgroup (and its subnet's gateway on the bridge) are made while the
        // images are checked: neither needs the other.
        let cgroup = {
            let cgroup_root = self.cgroup_root.clone();
            let task_cgroup = format!("{}/{id}", self.config.cgroup_parent);
            let limits = plan::task_limits(assignment);
            let gateway = assignment
                .network
                .clone()
                .map(|network| (self.config.bridge.clone(), network));
            tokio::task::spawn_blocking(move || {
                make_cgroup_and_gateway(&cgroup_root, &task_cgroup, limits, gateway)
            })
        };
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
            );
            tracing::debug!(task = %id, "images ready");
            Ok::<_, PrepareError>(digests)
        };
        // From the images stored here — the common case — the task is planned and handed to
        // its supervisor while the registry is asked whether they are still current: the
        // supervisor creates the containers and holds them until the answer. They start if
        // the registry names the digests they were planned with; otherwise they are deleted
        // unstarted, and the task is planned again from the images it names. The cgroup is
        // settled before any return, so that a failed task's release finds it made.
        let early = async {
            let planned = self
                .planner()
                .containers(assignment, id, scratch, &definitions)
                .await;
            let cgroup = cgroup
                .await
                .unwrap_or_else(|error| Err(PrepareError::Interrupted(error)));
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
                supervisor_link::go(connection).await
            }
            (_, Some((_, connection))) => {
                supervisor_link::abort(id, connection).await;
                None
            }
            (_, None) => None,
        };
        if let Some(connection) = held {
            tracing::debug!(task = %id, "images confirmed: containers go");
            return Ok(connection);
        }
        // Also what a plan that failed half-way made.
        teardown::discard(&self.images, id, &definitions).await;
        cgroup?;
        checked?;
        if *stop.borrow() {
            return Err(PrepareError::Stopped);
        }
        let planned = self
            .planner()
            .containers(assignment, id, scratch, &definitions)
            .await?;
        tracing::debug!(task = %id, "cgroup and root filesystems ready");
        self.hand_over(assignment, id, scratch, planned, false)
            .await
    }

    /// Makes the task's plan from `planned` and hands it to a supervisor; returns the
    /// connection to it. With `hold`, the supervisor creates the containers but starts them
    /// only when told to ([`supervisor_link::go`]).
    async fn hand_over(
        &self,
        assignment: &Assignment,
        id: &str,
        scratch: &Path,
        planned: Planned,
        hold: bool,
    ) -> Result<UnixStream, PrepareError> {
        let plan = self.planner().task(assignment, id, planned, hold)?;
        Ok(supervisor_link::hand_over(&self.config, &self.pool, scratch, &plan).await?)
    }

    /// Each container's image, obtained as the pull behavior says: the digests by container
    /// name, or the first failure (reported on its container, in ECS's words).
    async fn obtain_images(
        &self,
        key: &str,
        definitions: &[ContainerDefinition],
    ) -> Result<HashMap<String, String>, PrepareError> {
        let mut digests = HashMap::new();
        for definition in definitions {
            let name = definition.name.clone().unwrap_or_default();
            let image = definition.image.as_deref().unwrap_or_default();
            match self
                .pulls
                .obtain(&self.images, self.config.pull_behavior, image)
                .await
            {
                Ok(record) => {
                    digests.insert(name, record.manifest.to_string());
                }
                Err(error) => {
                    let cause = StopCause::FailedToStart(PrepareError::Pull(error.clone()));
                    let reason = ecs_stop(&cause).reason;
                    let report = TaskReport {
                        containers: vec![ContainerReport {
                            name,
                            status: Some(ContainerStatus::Stopped),
                            reason: Some(reason),
                            ..ContainerReport::default()
                        }],
                        ..TaskReport::default()
                    };
                    self.report(key, report);
                    return Err(PrepareError::Pull(error));
                }
            }
        }
        Ok(digests)
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
        let key = &assignment.key;
        let (read, mut write) = connection.into_split();
        let mut states = States::new(read);
        let mut relayed = reports::Relayed::default();
        let mut stop_sent = false;
        let mut last: Option<Observed> = None;
        // Set once the supervisor is found to speak a protocol version this berth cannot
        // read: it is told to stop (every version understands that) and followed no further.
        let mut unreadable = None;
        loop {
            if !stop_sent && (*stop.borrow() || unreadable.is_some()) {
                // A supervisor that is gone cannot be asked; its end shows on the socket.
                let _ = supervisor_link::send_request(&mut write, &Request::Stop).await;
                stop_sent = true;
            }
            tokio::select! {
                state = states.next(id) => {
                    let Some(state) = state else { break };
                    let state = match state {
                        Ok(state) => state,
                        Err(error) => {
                            if unreadable.is_none() {
                                tracing::warn!(task = %id, %error, "stopping a supervisor this berth cannot follow");
                            }
                            unreadable = Some(error);
                            continue;
                        }
                    };
                    tracing::debug!(task = %id, phase = ?state.phase, "supervisor state");
                    if let Some(report) = relayed.changes(&state) {
                        if report.status == Some(TaskStatus::Running) {
                            self.rules_in_force(key).await;
                        }
                        self.report(key, report);
                    }
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
        if let Some(error) = unreadable {
            let cause = StopCause::UnreadableSupervisor(error);
            return self.conclude(assignment, id, cause, None).await;
        }
        // The supervisor saves each state before it sends it: the file is at least as new.
        let state = Observed::load(&ShimFiles::new(&self.config.supervisor_dir(id)).state)
            .and_then(Result::ok)
            .filter(|s| s.phase == Phase::Stopped)
            .or(last);
        let cause = Observed::stop_cause(state.as_ref());
        self.conclude(assignment, id, cause, state).await;
    }

    /// Waits until the firewall's rules for the task are in force (awsvpc tasks): RUNNING
    /// means reachable as its security groups say.
    async fn rules_in_force(&self, key: &str) {
        if let Some((firewall, generation)) = &self.firewall {
            let since = std::time::Instant::now();
            firewall.in_force(key, *generation).await;
            // The rules are applied while the task starts: this is what they added to its
            // start (BENCHMARKS.md).
            tracing::debug!(task = %key, micros = since.elapsed().as_micros(), "rules in force");
        }
    }

    /// Releases the task's resources and reports it STOPPED because of `cause`, with its
    /// containers as `state` (the supervisor's last) left them: as its supervisor recorded
    /// when it finished, or, when it vanished, with what it left and a reason that says so.
    async fn conclude(
        &self,
        assignment: &Assignment,
        id: &str,
        cause: StopCause,
        state: Option<Observed>,
    ) {
        let key = &assignment.key;
        // DEPROVISIONING goes with STOPPED, stamped with when it began: one store write, so
        // the final one does not queue behind another.
        let deprovisioning = TaskReport {
            status: Some(TaskStatus::Deprovisioning),
            observed_at: Some(Timestamp::now()),
            ..TaskReport::default()
        };
        tokio::join!(
            self.release(id, assignment),
            teardown::unguard(self.firewall.as_ref(), key)
        );
        tracing::debug!(task = %id, "released");
        let stopped = ecs_stop(&cause);
        let containers = state
            .map(|s| {
                s.containers
                    .into_iter()
                    .map(|c| ContainerReport {
                        status: Some(ContainerStatus::Stopped),
                        ..c
                    })
                    .collect()
            })
            .unwrap_or_default();
        let stopped = TaskReport {
            status: Some(TaskStatus::Stopped),
            stop_code: Some(stopped.code),
            stopped_reason: Some(stopped.reason),
            containers,
            observed_at: Some(Timestamp::now()),
            ..TaskReport::default()
        };
        let _ = self
            .reports
            .send((key.clone(), vec![deprovisioning, stopped]));
    }

    /// Removes what the task held on this node, whatever state it was left in.
    async fn release(&self, id: &str, assignment: &Assignment) {
        teardown::release(
            &self.images,
            &self.config,
            &self.cgroup_root,
            id,
            &assignment.definition,
        )
        .await;
    }

    fn planner(&self) -> Planner<'_> {
        Planner {
            images: &self.images,
            config: &self.config,
        }
    }

    /// Queues a report, stamped with the time it was made.
    fn report(&self, key: &str, report: TaskReport) {
        reports::queue(&self.reports, key, report);
    }
}

/// Makes the task's cgroup `task_cgroup` under the cgroup mounts at `cgroup_root`, with
/// `limits`, and puts its subnet's gateway on the bridge (awsvpc). Blocking.
fn make_cgroup_and_gateway(
    cgroup_root: &Path,
    task_cgroup: &str,
    limits: TaskLimits,
    gateway: Option<(String, berth_model::network::TaskNetwork)>,
) -> Result<(), PrepareError> {
    cgroups::create_task_cgroup(cgroup_root, task_cgroup, limits).map_err(PrepareError::Cgroup)?;
    // Directory made: now the kernel's wait before the first cgroup move (see
    // begin_migration_grace_period) can run while the rest is prepared. It holds the
    // cgroup lock meanwhile, so it starts only after our own mkdir. One at a time:
    // while tasks start in numbers, the kernel's lock stays warm anyway.
    if !GRACE_PERIOD_STARTED.swap(true, std::sync::atomic::Ordering::AcqRel) {
        let cgroup_root = cgroup_root.to_path_buf();
        tokio::task::spawn_blocking(move || {
            cgroups::begin_migration_grace_period(&cgroup_root);
            GRACE_PERIOD_STARTED.store(false, std::sync::atomic::Ordering::Release);
        });
    }
    if let Some((bridge, network)) = gateway {
        network::ensure_gateway(&bridge, &network)
            .map_err(|error| PrepareError::Bridge { bridge, error })?;
    }
    Ok(())
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

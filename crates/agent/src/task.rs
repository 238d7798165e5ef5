//! Running one task: pull its images, mount a root filesystem per container, start the
//! containers (the first creates the task's network, UTS and IPC namespaces, the others join
//! them), report RUNNING, then wait for an essential container to exit or for a stop request,
//! stop the rest (SIGTERM, then SIGKILL after stopTimeout), clean up and report STOPPED with
//! each container's exit code.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use berth_image::ImageStore;
use berth_model::Timestamp;
use berth_model::lifecycle::{ContainerReport, ContainerStatus, TaskReport, TaskStatus};
use berth_model::shapes::{ContainerDefinition, ContainerOverride};
use berth_net::NetworkNamespace;
use berth_runtime::cgroups;
use berth_runtime::executor::Stdio;
use berth_runtime::process::{command_line, environment, resolve_user};
use berth_runtime::spec::{ContainerConfig, Rlimit, SharedNamespaces, generate};
use tokio::sync::watch;

use crate::container::ContainerHandle;
use crate::{AgentConfig, Assignment, ControlPlane};

const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_STOP_TIMEOUT: Duration = Duration::from_secs(120);
/// Most processes one container may have.
const PIDS_LIMIT: i64 = 4096;

pub struct Runner {
    pub control: Arc<dyn ControlPlane>,
    pub images: Arc<ImageStore>,
    pub config: AgentConfig,
}

/// A started container of the task.
struct Started {
    name: String,
    essential: bool,
    handle: ContainerHandle,
    exit_code: Option<i32>,
}

impl Runner {
    pub async fn run(&self, assignment: Assignment, mut stop: watch::Receiver<bool>) {
        let key = assignment.key.clone();
        let id = assignment
            .task
            .task_arn
            .as_deref()
            .and_then(|a| a.rsplit('/').next())
            .unwrap_or("task")
            .to_owned();
        let scratch = self.config.tasks_dir.join(&id);
        let outcome = self.start(&assignment, &id, &scratch, &mut stop).await;
        let (mut started, failure) = match outcome {
            Ok(started) => (started, None),
            Err((started, failure)) => (started, Some(failure)),
        };

        let (stop_code, reason) = match failure {
            Some(failure) => ("TaskFailedToStart".to_owned(), failure),
            None => {
                self.report(&key, running_report(&started)).await;
                wait_for_end(&mut started, &mut stop).await
            }
        };
        self.report(
            &key,
            TaskReport {
                status: Some(TaskStatus::Stopping),
                ..TaskReport::default()
            },
        )
        .await;
        let timeout = stop_timeout(&assignment.definition);
        stop_all(&mut started, timeout).await;
        self.report(
            &key,
            TaskReport {
                status: Some(TaskStatus::Deprovisioning),
                ..TaskReport::default()
            },
        )
        .await;

        // Every container is done now, including those that never started: followers of
        // their logs may stop.
        let _ = std::fs::create_dir_all(scratch.join("logs"));
        for definition in assignment
            .definition
            .container_definitions
            .as_deref()
            .unwrap_or_default()
        {
            let _ = std::fs::write(
                exited_marker(&scratch, definition.name.as_deref().unwrap_or_default()),
                b"",
            );
        }
        let containers = started
            .iter()
            .map(|c| {
                // Read before the container (and its cgroup) is deleted below.
                let cgroup = format!("{}/{id}/{}", self.config.cgroup_parent, c.name);
                let oom = c.exit_code == Some(137)
                    && cgroups::oom_killed(Path::new(cgroups::CGROUP_ROOT), &cgroup);
                ContainerReport {
                    name: c.name.clone(),
                    status: Some(ContainerStatus::Stopped),
                    exit_code: c.exit_code,
                    reason: oom.then(|| {
                        "OutOfMemoryError: Container killed due to memory usage".to_owned()
                    }),
                    ..ContainerReport::default()
                }
            })
            .collect();
        for container in started {
            container.handle.delete().await;
        }
        for definition in assignment
            .definition
            .container_definitions
            .as_deref()
            .unwrap_or_default()
        {
            let rootfs_id = format!("{id}-{}", definition.name.as_deref().unwrap_or_default());
            if let Err(error) = self.images.unmount_rootfs(&rootfs_id) {
                tracing::warn!(%error, task = %id, "cannot remove a root filesystem");
            }
        }
        let task_cgroup = format!("{}/{id}", self.config.cgroup_parent);
        let left = cgroups::remove(Path::new(cgroups::CGROUP_ROOT), &task_cgroup);
        if !left.is_empty() {
            tracing::warn!(task = %id, ?left, "task cgroups still in use; left in place");
        }
        if let Err(error) =
            NetworkNamespace::create(&netns_name(&id)).and_then(NetworkNamespace::remove)
        {
            tracing::warn!(%error, task = %id, "cannot remove the task's network namespace");
        }
        let _ = std::fs::remove_dir_all(scratch.join("rootfs"));
        let _ = std::fs::remove_dir_all(scratch.join("bundles"));
        self.report(
            &key,
            TaskReport {
                status: Some(TaskStatus::Stopped),
                stop_code: Some(stop_code),
                stopped_reason: Some(reason),
                containers,
                ..TaskReport::default()
            },
        )
        .await;
    }

    /// Pulls, mounts and starts every container. On failure returns what did start and the
    /// reason, in ECS's words.
    async fn start(
        &self,
        assignment: &Assignment,
        id: &str,
        scratch: &Path,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<Vec<Started>, (Vec<Started>, String)> {
        let key = &assignment.key;
        let definitions = assignment
            .definition
            .container_definitions
            .clone()
            .unwrap_or_default();
        let overrides: Vec<ContainerOverride> = assignment
            .task
            .overrides
            .as_ref()
            .and_then(|o| o.container_overrides.clone())
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
        let mut digests = HashMap::new();
        for definition in &definitions {
            let image = definition.image.clone().unwrap_or_default();
            match self.images.pull(&image, Arc::new(|_| {})).await {
                Ok(record) => {
                    digests.insert(
                        definition.name.clone().unwrap_or_default(),
                        record.manifest.to_string(),
                    );
                }
                Err(error) => {
                    let message = error.to_string();
                    let report = TaskReport {
                        containers: vec![ContainerReport {
                            name: definition.name.clone().unwrap_or_default(),
                            status: Some(ContainerStatus::Stopped),
                            reason: Some(message.clone()),
                            ..ContainerReport::default()
                        }],
                        ..TaskReport::default()
                    };
                    self.report(key, report).await;
                    return Err((Vec::new(), message));
                }
            }
        }
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

        // The task's network namespace, loopback up: every container joins it.
        let network = match NetworkNamespace::create(&netns_name(id)) {
            Ok(network) => network,
            Err(error) => {
                return Err((
                    Vec::new(),
                    format!(
                        "ResourceInitializationError: failed to create the task's network namespace: {error}"
                    ),
                ));
            }
        };
        let mut started: Vec<Started> = Vec::new();
        for definition in &definitions {
            if *stop.borrow() {
                return Err((
                    started,
                    "Task stopped before all its containers started".into(),
                ));
            }
            let name = definition.name.clone().unwrap_or_default();
            let container_override = overrides
                .iter()
                .find(|o| o.name.as_deref() == Some(name.as_str()));
            // UTS and IPC come from the first container (a sandbox process will hold them
            // once tasks are supervised); the network namespace is the task's own.
            let first = started.first().map(|first| first.handle.pid);
            let shared = SharedNamespaces {
                network: Some(network.path()),
                uts: first.map(|pid| format!("/proc/{pid}/ns/uts").into()),
                ipc: first.map(|pid| format!("/proc/{pid}/ns/ipc").into()),
            };
            match self
                .start_container(
                    assignment,
                    id,
                    scratch,
                    definition,
                    container_override,
                    shared,
                )
                .await
            {
                Ok(handle) => started.push(Started {
                    name,
                    essential: definition.essential != Some(false),
                    handle,
                    exit_code: None,
                }),
                Err(reason) => {
                    return Err((started, format!("CannotStartContainerError: {reason}")));
                }
            }
        }
        Ok(started)
    }

    async fn start_container(
        &self,
        assignment: &Assignment,
        id: &str,
        scratch: &Path,
        definition: &ContainerDefinition,
        container_override: Option<&ContainerOverride>,
        shared: SharedNamespaces,
    ) -> Result<ContainerHandle, String> {
        let name = definition.name.clone().unwrap_or_default();
        let image = definition.image.clone().unwrap_or_default();
        let container_scratch = scratch.join("rootfs").join(&name);
        let rootfs_id = format!("{id}-{name}");
        let images = self.images.clone();
        let rootfs = {
            let (rootfs_id, image, container_scratch) =
                (rootfs_id.clone(), image.clone(), container_scratch.clone());
            tokio::task::spawn_blocking(move || {
                images.mount_rootfs(&rootfs_id, &image, &container_scratch)
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| berth_image::error_chain(&e))?
        };
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
        let hostname = definition
            .hostname
            .clone()
            .unwrap_or_else(|| id.chars().take(12).collect());
        let env = environment(
            image_config.env.as_deref().unwrap_or_default(),
            &[&definition_env, &override_env],
            &hostname,
        );
        let read = |path: &str| std::fs::read_to_string(rootfs.path.join(path)).unwrap_or_default();
        let user_spec = definition
            .user
            .clone()
            .or_else(|| image_config.user.clone())
            .unwrap_or_default();
        let user = resolve_user(&user_spec, &read("etc/passwd"), &read("etc/group"))
            .map_err(|e| e.to_string())?;
        let task_cpu: i64 = assignment
            .task
            .cpu
            .as_deref()
            .and_then(|c| c.parse().ok())
            .unwrap_or(256);
        let task_memory: i64 = assignment
            .task
            .memory
            .as_deref()
            .and_then(|m| m.parse().ok())
            .unwrap_or(512);
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
            hostname,
            readonly_rootfs: definition.readonly_root_filesystem.unwrap_or(false),
            cgroups_path: PathBuf::from(format!("/{}/{id}/{name}", self.config.cgroup_parent)),
            cpu_shares: Some(u64::try_from(cpu).unwrap_or(0).max(2)),
            // Until tasks get a cgroup of their own, each container carries the task's quota.
            cpu_quota: Some((task_cpu * 100_000 / 1024, 100_000)),
            // The container's hard limit, else the task's memory (until tasks have a cgroup).
            memory_limit: Some(memory.map_or(task_memory, i64::from) << 20),
            memory_reservation: reservation.map(|r| i64::from(r) << 20),
            pids_limit: Some(PIDS_LIMIT),
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
            shared,
        };
        let spec = generate(&config).map_err(|e| e.to_string())?;
        let logs = scratch.join("logs");
        std::fs::create_dir_all(&logs).map_err(|e| e.to_string())?;
        // stdout and stderr share one file, so their lines stay in the order they were written.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path(scratch, &name))
            .map_err(|e| e.to_string())?;
        let log_err = log.try_clone().map_err(|e| e.to_string())?;
        let stdio = Stdio {
            stdout: Some(log.into()),
            stderr: Some(log_err.into()),
        };
        let container_id = format!("{id}-{name}");
        let state_root = self.config.runtime_dir.clone();
        let bundle = scratch.join("bundles").join(&name);
        tokio::task::spawn_blocking(move || {
            ContainerHandle::start(container_id, state_root, bundle, spec, stdio)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| berth_image::error_chain(&e))
    }

    async fn report(&self, key: &str, report: TaskReport) {
        if let Err(error) = self.control.report(key.to_owned(), report).await {
            tracing::warn!(task = %key, %error, "cannot report task state");
        }
    }
}

/// Removes what an earlier berth process left of task `id`: its processes (killed), cgroups,
/// root filesystems and network namespace. Blocking.
pub fn clean_up_orphan(
    images: &ImageStore,
    config: &AgentConfig,
    id: &str,
    definition: &berth_model::shapes::TaskDefinition,
) {
    let left = cgroups::kill_and_remove(
        Path::new(cgroups::CGROUP_ROOT),
        &format!("{}/{id}", config.cgroup_parent),
    );
    if !left.is_empty() {
        tracing::warn!(task = %id, ?left, "cgroups of an orphaned task could not be removed");
    }
    for container in definition
        .container_definitions
        .as_deref()
        .unwrap_or_default()
    {
        let _ = images.unmount_rootfs(&format!(
            "{id}-{}",
            container.name.as_deref().unwrap_or_default()
        ));
    }
    if let Err(error) = NetworkNamespace::create(&netns_name(id)).and_then(NetworkNamespace::remove)
    {
        tracing::warn!(%error, task = %id, "cannot remove an orphaned task's network namespace");
    }
    let scratch = config.tasks_dir.join(id);
    let _ = std::fs::remove_dir_all(scratch.join("rootfs"));
    let _ = std::fs::remove_dir_all(scratch.join("bundles"));
    let _ = std::fs::create_dir_all(scratch.join("logs"));
    for container in definition
        .container_definitions
        .as_deref()
        .unwrap_or_default()
    {
        let _ = std::fs::write(
            exited_marker(&scratch, container.name.as_deref().unwrap_or_default()),
            b"",
        );
    }
}

/// Where container `name`'s output goes.
pub fn log_path(scratch: &Path, name: &str) -> PathBuf {
    scratch.join("logs").join(format!("{name}.log"))
}

/// Written beside a container's log once it has exited: nothing more will be appended.
pub fn exited_marker(scratch: &Path, name: &str) -> PathBuf {
    scratch.join("logs").join(format!("{name}.exited"))
}

/// The name of task `id`'s network namespace.
fn netns_name(id: &str) -> String {
    format!("berth-{id}")
}

fn running_report(started: &[Started]) -> TaskReport {
    TaskReport {
        status: Some(TaskStatus::Running),
        containers: started
            .iter()
            .map(|c| ContainerReport {
                name: c.name.clone(),
                status: Some(ContainerStatus::Running),
                runtime_id: Some(c.handle.pid.to_string()),
                ..ContainerReport::default()
            })
            .collect(),
        ..TaskReport::default()
    }
}

/// Waits until an essential container exits or a stop is asked for; returns the stop code and
/// reason ECS would give.
async fn wait_for_end(
    started: &mut [Started],
    stop: &mut watch::Receiver<bool>,
) -> (String, String) {
    loop {
        if started.iter().all(|c| c.exit_code.is_some()) {
            return (
                "EssentialContainerExited".into(),
                "Essential container in task exited".into(),
            );
        }
        let exits = started
            .iter_mut()
            .enumerate()
            .filter(|(_, c)| c.exit_code.is_none())
            .map(|(i, c)| {
                let exited = &mut c.handle.exited;
                Box::pin(async move { (i, exited.await.unwrap_or(255)) })
            });
        let any_exit = first_of(exits.collect());
        tokio::select! {
            (i, code) = any_exit => {
                started[i].exit_code = Some(code);
                if started[i].essential {
                    return ("EssentialContainerExited".into(), "Essential container in task exited".into());
                }
            }
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    return ("UserInitiated".into(), "Task stopped by user".into());
                }
            }
        }
    }
}

/// SIGTERM to every container still running, SIGKILL to those still there after `timeout`.
async fn stop_all(started: &mut [Started], timeout: Duration) {
    for container in started.iter().filter(|c| c.exit_code.is_none()) {
        container.handle.signal(rustix::process::Signal::TERM);
    }
    let deadline = tokio::time::Instant::now() + timeout;
    for container in started.iter_mut().filter(|c| c.exit_code.is_none()) {
        let code = match tokio::time::timeout_at(deadline, &mut container.handle.exited).await {
            Ok(code) => code.unwrap_or(255),
            Err(_) => {
                container.handle.signal(rustix::process::Signal::KILL);
                (&mut container.handle.exited).await.unwrap_or(137)
            }
        };
        container.exit_code = Some(code);
    }
}

fn stop_timeout(definition: &berth_model::shapes::TaskDefinition) -> Duration {
    definition
        .container_definitions
        .as_deref()
        .unwrap_or_default()
        .iter()
        .filter_map(|c| c.stop_timeout)
        .max()
        .map_or(DEFAULT_STOP_TIMEOUT, |s| {
            Duration::from_secs(u64::try_from(s).unwrap_or(30)).min(MAX_STOP_TIMEOUT)
        })
}

/// The first of `futures` to finish.
async fn first_of<F: std::future::Future + Unpin>(mut futures: Vec<F>) -> F::Output {
    std::future::poll_fn(move |cx| {
        for future in futures.iter_mut() {
            if let std::task::Poll::Ready(output) = std::pin::Pin::new(future).poll(cx) {
                return std::task::Poll::Ready(output);
            }
        }
        std::task::Poll::Pending
    })
    .await
}

//! The ECS → OCI plan: a task definition (with the task's overrides and network) and the images
//! stored on this node turned into what its supervisor carries out — per container a root
//! filesystem prepared (not mounted: the supervisor mounts it in its own mount namespace), an
//! OCI spec (`berth-runtime`: capabilities, sysctls, privilege, the volumes it mounts), its
//! stop signal and timeout, its log; for the task its hostname, its `/etc` files, its volumes'
//! directories (`volumes.rs`), its cgroup limits and its veth. Nothing here starts a process or
//! reports anything; what cannot be planned is a [`PlanError`].

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use berth_image::{ImageStore, RootfsError};
use berth_model::shapes::{ContainerDefinition, ContainerOverride};
use berth_runtime::capabilities::CapabilityChanges;
use berth_runtime::cgroups::TaskLimits;
use berth_runtime::process::{ProcessError, command_line, environment, resolve_user};
use berth_runtime::spec::{
    ContainerConfig, Rlimit, SharedNamespaces, SpecError, VolumeMount, generate,
};
use berth_shim::{Condition, Dependency, PlannedContainer, RootfsMount, TaskPlan};

use super::volumes::{TaskVolumes, VolumeError};
use crate::network;
use crate::{AgentConfig, Assignment};

/// How long a container may take to stop when its definition gives no `stopTimeout`.
const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// ECS caps `stopTimeout` at two minutes.
const MAX_STOP_TIMEOUT: Duration = Duration::from_secs(120);
/// Most processes one task may have.
const TASK_PIDS_LIMIT: i64 = 4096;
const CFS_PERIOD: u64 = 100_000;

/// Why a task could not be planned. Each message carries its cause's text, because it is what
/// a user reads in `stoppedReason` (see `stop_reason`, which adds ECS's words).
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The `/etc` files of an awsvpc task could not be written.
    #[error("cannot write the task's /etc files: {0}")]
    EtcFiles(std::io::Error),
    /// The task's volumes, or a container's mounts of them, cannot be planned.
    #[error("volumes: {0}")]
    Volumes(#[from] VolumeError),
    /// The task's network interface cannot be planned.
    #[error(transparent)]
    Network(#[from] network::InvalidInterface),
    /// One container cannot be planned.
    #[error("container {container}: {error}")]
    Container {
        /// Its name.
        container: String,
        /// Why.
        error: ContainerPlanError,
    },
}

/// Why one container could not be planned.
#[derive(Debug, thiserror::Error)]
pub enum ContainerPlanError {
    /// Its image is not stored, or its root filesystem's directories could not be made.
    #[error("{}", berth_image::error_chain(.0))]
    RootFilesystem(RootfsError),
    /// The thread preparing its root filesystem ended before it answered.
    #[error("{0}")]
    Interrupted(tokio::task::JoinError),
    /// Neither the image nor the definition says what to run, or they say it wrongly.
    #[error("{0}")]
    CommandLine(ProcessError),
    /// Its user is not one its image knows.
    #[error("{0}")]
    User(ProcessError),
    /// `initProcessEnabled` without an init binary on the node.
    #[error(
        "initProcessEnabled needs a static init binary on the node (tini-static, from Debian's tini package; see berth up --init-path)"
    )]
    InitBinary,
    /// A `systemControls` entry without a namespace.
    #[error("a systemControls entry needs a namespace")]
    SystemControl,
    /// Its OCI spec cannot be made from the definition.
    #[error("{0}")]
    Spec(SpecError),
    /// The task's log directory could not be made.
    #[error("{0}")]
    LogDirectory(std::io::Error),
}

/// A task's containers as planned: its hostname, each container's plan, and the digest of
/// the image manifest each root filesystem was made from (by container name).
pub struct Planned {
    pub hostname: String,
    pub containers: Vec<PlannedContainer>,
    pub manifests: HashMap<String, String>,
}

/// What planning reads: the images stored on this node and the agent's configuration.
pub struct Planner<'a> {
    pub images: &'a Arc<ImageStore>,
    pub config: &'a AgentConfig,
}

impl Planner<'_> {
    /// Every container's plan (root filesystem prepared, OCI spec made) and the task's
    /// hostname, with the `/etc` files an awsvpc task's containers share.
    pub async fn containers(
        &self,
        assignment: &Assignment,
        id: &str,
        scratch: &Path,
        definitions: &[ContainerDefinition],
    ) -> Result<Planned, PlanError> {
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
                let layer =
                    network::write_etc_layer(&layer, network).map_err(PlanError::EtcFiles)?;
                (network.private_dns_name.clone(), Some(layer))
            }
            None => (id.chars().take(12).collect(), None),
        };
        let volumes = TaskVolumes::prepare(
            scratch,
            assignment.definition.volumes.as_deref().unwrap_or_default(),
        )?;
        let mut mounts = volumes.mounts(definitions)?;
        let mut containers = Vec::new();
        let mut manifests = HashMap::new();
        for definition in definitions {
            let name = definition.name.clone().unwrap_or_default();
            let container_override = overrides
                .iter()
                .find(|o| o.name.as_deref() == Some(name.as_str()));
            let (planned, manifest) = self
                .container(
                    id,
                    scratch,
                    definition,
                    container_override,
                    &hostname,
                    etc_layer.as_deref(),
                    mounts.remove(&name).unwrap_or_default(),
                )
                .await
                .map_err(|error| PlanError::Container {
                    container: name.clone(),
                    error,
                })?;
            manifests.insert(name, manifest);
            containers.push(planned);
        }
        Ok(Planned {
            hostname,
            containers,
            manifests,
        })
    }

    /// The plan the task's supervisor is handed: `planned`, the task's veth (awsvpc) and the
    /// supervisor's settings. With `hold`, it creates the containers but starts them only when
    /// told to.
    pub fn task(
        &self,
        assignment: &Assignment,
        id: &str,
        planned: Planned,
        hold: bool,
    ) -> Result<TaskPlan, PlanError> {
        Ok(TaskPlan {
            version: berth_shim::protocol::VERSION,
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
                .transpose()?,
            hold,
        })
    }

    /// Prepares container `definition`'s root filesystem and decides its spec (with the
    /// `volumes` it mounts); returns its plan and the digest of the image manifest its root
    /// filesystem was made from.
    #[allow(clippy::too_many_arguments)]
    async fn container(
        &self,
        id: &str,
        scratch: &Path,
        definition: &ContainerDefinition,
        container_override: Option<&ContainerOverride>,
        hostname: &str,
        etc_layer: Option<&Path>,
        volumes: Vec<VolumeMount>,
    ) -> Result<(PlannedContainer, String), ContainerPlanError> {
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
            .map_err(ContainerPlanError::Interrupted)?
            .map_err(ContainerPlanError::RootFilesystem)?
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
        .map_err(ContainerPlanError::CommandLine)?;
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
            .map_err(ContainerPlanError::User)?;
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
            Some(
                self.config
                    .init_binary
                    .clone()
                    .ok_or(ContainerPlanError::InitBinary)?,
            )
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
            capabilities: capability_changes(definition),
            privileged: definition.privileged.unwrap_or(false),
            sysctls: system_controls(definition)?,
            volumes,
        };
        let spec = generate(&config).map_err(ContainerPlanError::Spec)?;
        let logs = scratch.join("logs");
        std::fs::create_dir_all(&logs).map_err(ContainerPlanError::LogDirectory)?;
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
}

/// `linuxParameters.capabilities`: what the container adds to and drops from the defaults.
fn capability_changes(definition: &ContainerDefinition) -> CapabilityChanges {
    let capabilities = definition
        .linux_parameters
        .as_ref()
        .and_then(|l| l.capabilities.as_ref());
    CapabilityChanges {
        add: capabilities.and_then(|c| c.add.clone()).unwrap_or_default(),
        drop: capabilities
            .and_then(|c| c.drop.clone())
            .unwrap_or_default(),
    }
}

/// `systemControls` as sysctls (`net.ipv4.tcp_keepalive_time` → its value); a later entry
/// for the same name wins, as it would when applied in order.
fn system_controls(
    definition: &ContainerDefinition,
) -> Result<BTreeMap<String, String>, ContainerPlanError> {
    let mut sysctls = BTreeMap::new();
    for control in definition.system_controls.as_deref().unwrap_or_default() {
        let namespace = control
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .ok_or(ContainerPlanError::SystemControl)?;
        sysctls.insert(namespace, control.value.clone().unwrap_or_default());
    }
    Ok(sysctls)
}

/// Where container `name`'s output goes.
pub fn log_path(scratch: &Path, name: &str) -> PathBuf {
    scratch.join("logs").join(format!("{name}.log"))
}

/// Written beside a container's log once it has exited: nothing more will be appended.
pub fn exited_marker(scratch: &Path, name: &str) -> PathBuf {
    scratch.join("logs").join(format!("{name}.exited"))
}

/// The task cgroup's limits: CPU quota = task cpu / 1024 vCPUs, memory = task memory.
pub fn task_limits(assignment: &Assignment) -> TaskLimits {
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

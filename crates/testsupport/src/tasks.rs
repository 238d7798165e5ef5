//! Running tasks in tests: a real registry holding busybox and a `berth up` with a default
//! cluster, and the few SDK calls every task test makes (register, run, wait for a status).

use std::time::{Duration, Instant};

use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, ContainerDefinition, LaunchType, NetworkConfiguration,
    Task, TaskOverride,
};

use crate::oci::{Layout, busybox_image};
use crate::registry::TestRegistry;
use crate::{Berth, register_fargate_with};

/// A registry holding the busybox image and a `berth up` with a default cluster. Tests
/// borrow from it, so the registry lives as long as the test (destructuring it with `..`
/// would stop the registry at once).
pub struct TaskSetup {
    registry: Option<TestRegistry>,
    /// The server.
    pub berth: Berth,
    /// The busybox image's reference in the registry.
    pub image: String,
}

impl TaskSetup {
    /// Starts the registry and `berth up` (the binary at `binary`) with extra `args`.
    pub async fn start(binary: &str, args: &[&str]) -> Self {
        Self::start_with_env(binary, args, &[]).await
    }

    /// Like [`start`](Self::start), with environment variables for `berth up`.
    pub async fn start_with_env(binary: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        let registry = TestRegistry::start();
        let dir = tempfile::tempdir().unwrap();
        let mut layout = Layout::new(dir.path());
        layout.tag_image("v1", &busybox_image());
        registry.push(layout.dir(), "v1", "busybox");
        let image = format!("{}/busybox:v1", registry.address());
        let berth = Berth::start_with_env(binary, args, env);
        berth.ecs().create_cluster().send().await.unwrap();
        Self {
            registry: Some(registry),
            berth,
            image,
        }
    }

    /// Pushes `image` to the registry as `busybox:TAG`; returns its reference.
    pub fn push(&self, tag: &str, image: &crate::oci::Image) -> String {
        let registry = self.registry.as_ref().expect("the registry is running");
        let dir = tempfile::tempdir().unwrap();
        let mut layout = Layout::new(dir.path());
        layout.tag_image(tag, image);
        registry.push(layout.dir(), tag, "busybox");
        format!("{}/busybox:{tag}", registry.address())
    }

    /// The registry's `127.0.0.1:PORT`.
    pub fn registry_address(&self) -> &str {
        self.registry
            .as_ref()
            .expect("the registry is running")
            .address()
    }

    /// Stops the registry, as an outage would.
    pub fn stop_registry(&mut self) {
        self.registry = None;
    }

    /// A busybox container named `name` running `sh -c script`.
    pub fn shell(
        &self,
        name: &str,
        script: &str,
    ) -> aws_sdk_ecs::types::builders::ContainerDefinitionBuilder {
        ContainerDefinition::builder()
            .name(name)
            .image(&self.image)
            .command("sh")
            .command("-c")
            .command(script)
    }
}

/// The awsvpc network configuration every Fargate RunTask needs.
pub fn network() -> NetworkConfiguration {
    network_in("subnet-12345678", &[], false)
}

/// An awsvpc configuration: `subnet`, security `groups` (none: the VPC's default group) and,
/// with `public`, a public IP (a way out of the host).
pub fn network_in(subnet: &str, groups: &[&str], public: bool) -> NetworkConfiguration {
    let awsvpc = AwsVpcConfiguration::builder()
        .subnets(subnet)
        .set_security_groups(
            (!groups.is_empty()).then(|| groups.iter().map(|g| g.to_string()).collect()),
        )
        .assign_public_ip(if public {
            AssignPublicIp::Enabled
        } else {
            AssignPublicIp::Disabled
        })
        .build()
        .unwrap();
    NetworkConfiguration::builder()
        .awsvpc_configuration(awsvpc)
        .build()
}

/// Registers the Fargate guide's definition in `family` with `container` instead.
pub async fn register(ecs: &aws_sdk_ecs::Client, family: &str, container: ContainerDefinition) {
    register_fargate_with(ecs, family, container)
        .send()
        .await
        .unwrap();
}

/// Runs `count` tasks of `family` on Fargate; returns their ARNs.
pub async fn run_many(
    ecs: &aws_sdk_ecs::Client,
    family: &str,
    count: i32,
    overrides: Option<TaskOverride>,
) -> Vec<String> {
    let out = ecs
        .run_task()
        .task_definition(family)
        .count(count)
        .launch_type(LaunchType::Fargate)
        .network_configuration(network())
        .set_overrides(overrides)
        .send()
        .await
        .unwrap();
    assert!(out.failures().is_empty(), "{:?}", out.failures());
    out.tasks()
        .iter()
        .map(|t| t.task_arn().unwrap().to_owned())
        .collect()
}

/// Runs one task of `family`; returns its ARN.
pub async fn run(
    ecs: &aws_sdk_ecs::Client,
    family: &str,
    overrides: Option<TaskOverride>,
) -> String {
    run_many(ecs, family, 1, overrides).await.remove(0)
}

/// Waits until task `arn` reaches `status`; panics after `within`.
pub async fn wait_for(
    ecs: &aws_sdk_ecs::Client,
    arn: &str,
    status: &str,
    within: Duration,
) -> Task {
    wait_for_all(ecs, &[arn.to_owned()], status, within)
        .await
        .remove(0)
}

/// Waits until every task of `arns` is in `status` at once (or STOPPED, when waiting for
/// that); panics after `within`.
pub async fn wait_for_all(
    ecs: &aws_sdk_ecs::Client,
    arns: &[String],
    status: &str,
    within: Duration,
) -> Vec<Task> {
    let deadline = Instant::now() + within;
    loop {
        let mut tasks = Vec::new();
        for chunk in arns.chunks(100) {
            let described = ecs
                .describe_tasks()
                .set_tasks(Some(chunk.to_vec()))
                .send()
                .await
                .unwrap();
            tasks.extend(described.tasks().iter().cloned());
        }
        let behind: Vec<&Task> = tasks
            .iter()
            .filter(|t| t.last_status() != Some(status))
            .collect();
        if behind.is_empty() {
            return tasks;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} tasks never reached {status}; first: {:?}",
            behind.len(),
            arns.len(),
            behind[0]
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Nothing of task `id` is left on the machine: no cgroup in any hierarchy, no network
/// namespace, no mount.
pub fn assert_released(id: &str) {
    let cgroups: Vec<_> = std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .map(|h| h.path().join("berth").join(id))
        .filter(|p| p.exists())
        .collect();
    assert!(cgroups.is_empty(), "leaked cgroups: {cgroups:?}");
    assert!(
        !std::path::Path::new(&format!("/run/netns/berth-{id}")).exists(),
        "leaked network namespace"
    );
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(id), "leaked mounts of {id}");
    // The veth (its host end's alias is the task id) goes with the supervisor's network
    // namespace, which the kernel tears down shortly after the supervisor exits.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while let Some(veth) = interface_of(id) {
        assert!(std::time::Instant::now() < deadline, "leaked veth {veth}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// How many processes container `container` of task `id` has in its cgroup (any hierarchy).
pub fn processes_in_cgroup(id: &str, container: &str) -> usize {
    let mut places = vec![std::path::PathBuf::from("/sys/fs/cgroup")];
    places.extend(
        std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
            .map(|h| h.path()),
    );
    places
        .iter()
        .map(|h| {
            h.join("berth")
                .join(id)
                .join(container)
                .join("cgroup.procs")
        })
        .filter_map(|procs| std::fs::read_to_string(procs).ok())
        .map(|pids| pids.lines().count())
        .max()
        .unwrap_or(0)
}

/// The host interface whose alias is `alias` (berth names a task's veth so), if any.
pub fn interface_of(alias: &str) -> Option<String> {
    std::fs::read_dir("/sys/class/net")
        .ok()?
        .flatten()
        .find(|link| {
            std::fs::read_to_string(link.path().join("ifalias")).is_ok_and(|a| a.trim() == alias)
        })
        .map(|link| link.file_name().to_string_lossy().into_owned())
}

/// The exit code of container `name` of `task`, if it has one.
pub fn exit_code(task: &Task, name: &str) -> Option<i32> {
    task.containers()
        .iter()
        .find(|c| c.name() == Some(name))
        .and_then(|c| c.exit_code())
}

/// Detail `name` of `task`'s network interface attachment (`privateIPv4Address`, ...).
pub fn attachment_detail(task: &Task, name: &str) -> String {
    let attachment = &task.attachments()[0];
    attachment
        .details()
        .iter()
        .find(|d| d.name() == Some(name))
        .and_then(|d| d.value())
        .unwrap_or_else(|| panic!("no {name} in {attachment:?}"))
        .to_owned()
}

/// The last part of a task's ARN.
pub fn task_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

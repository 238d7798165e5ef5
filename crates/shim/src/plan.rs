//! The task plan: everything the supervisor needs to run a task, decided by the agent. Its
//! wire form is the protocol's current version; older ones are read by
//! [`crate::protocol::read_plan`].

use std::path::PathBuf;

use berth_runtime::spec::OciSpec;
use serde::{Deserialize, Serialize};

/// A task, ready to run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskPlan {
    /// The protocol version it is written in ([`crate::PROTOCOL_VERSION`] when the agent
    /// writes it; version 1 had no such field, hence the default).
    #[serde(default = "first_version")]
    pub version: u32,
    /// The task's ID (the last part of its ARN).
    pub task_id: String,
    /// The hostname of the task's sandbox.
    pub hostname: String,
    /// libcontainer's state directory.
    pub state_root: PathBuf,
    /// How long containers get between their stop signal and SIGKILL, unless they say.
    pub stop_timeout_ms: u64,
    /// Size at which a container's log is rotated.
    pub log_max_bytes: u64,
    /// Log files kept per container, the live one included.
    pub log_max_files: u32,
    /// The containers, in the task definition's order.
    pub containers: Vec<PlannedContainer>,
    /// The task's network interface (awsvpc); none: loopback only.
    #[serde(default)]
    pub network: Option<PlannedNetwork>,
    /// Create the containers that may start, but start none until the agent sends
    /// `Request::Go`: it is still asking the registry whether the images planned with are
    /// current. A stop meanwhile deletes them unstarted.
    #[serde(default)]
    pub hold: bool,
}

fn first_version() -> u32 {
    crate::FIRST_PROTOCOL_VERSION
}

/// The task's network interface: a veth whose host end joins the node's bridge and whose
/// other end is the sandbox's `eth0`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedNetwork {
    /// The bridge the host end joins.
    pub bridge: String,
    /// The host end's name (at most 15 bytes).
    pub host_interface: String,
    /// `eth0`'s address.
    pub address: std::net::Ipv4Addr,
    /// The subnet's prefix length.
    pub prefix_len: u8,
    /// The default route's gateway (the bridge holds it).
    pub gateway: std::net::Ipv4Addr,
    /// `eth0`'s MAC address.
    pub mac: [u8; 6],
}

/// One container of the plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedContainer {
    /// Its name in the task definition.
    pub name: String,
    /// Its ID in libcontainer.
    pub runtime_id: String,
    /// Where its bundle (`config.json`) is written.
    pub bundle: PathBuf,
    /// Its OCI runtime spec; the supervisor adds its sandbox's namespaces.
    pub spec: OciSpec,
    /// Its root filesystem, for the supervisor to mount (at the spec's root path) in its own
    /// mount namespace.
    pub rootfs: RootfsMount,
    /// Whether the task stops when it exits.
    pub essential: bool,
    /// Containers that must reach a condition before it starts.
    pub depends_on: Vec<Dependency>,
    /// The signal that asks it to stop (the image's StopSignal, else SIGTERM).
    pub stop_signal: i32,
    /// How long it gets between its stop signal and SIGKILL (its `stopTimeout`); the plan's
    /// `stop_timeout_ms` when absent.
    #[serde(default)]
    pub stop_timeout_ms: Option<u64>,
    /// Its cgroup, relative to the cgroup root (to tell an OOM kill).
    pub cgroup: String,
    /// Its log file.
    pub log: PathBuf,
    /// Written once its output has all been logged.
    pub exited_marker: PathBuf,
}

/// An overlay root filesystem, as the image store prepared it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RootfsMount {
    /// The image's layers, topmost first.
    pub lowers: Vec<PathBuf>,
    /// The container's writable layer.
    pub upper: PathBuf,
    /// overlayfs's work directory.
    pub work: PathBuf,
    /// The mount point: the container's `/`.
    pub target: PathBuf,
}

/// `dependsOn`: a container that must reach `condition` first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dependency {
    /// The container depended on.
    pub container: String,
    /// What it must reach.
    pub condition: Condition,
}

/// ECS's dependency conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Condition {
    /// It has started.
    Start,
    /// It has exited, with any code.
    Complete,
    /// It has exited with code 0.
    Success,
    /// Its health check passed. Health checks are not run yet: treated as START.
    Healthy,
}

impl Condition {
    /// ECS's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::Start => "START",
            Condition::Complete => "COMPLETE",
            Condition::Success => "SUCCESS",
            Condition::Healthy => "HEALTHY",
        }
    }

    /// The condition ECS names `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "START" => Condition::Start,
            "COMPLETE" => Condition::Complete,
            "SUCCESS" => Condition::Success,
            "HEALTHY" => Condition::Healthy,
            _ => return None,
        })
    }
}

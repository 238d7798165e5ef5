//! Registering a task definition: the rules ECS and Fargate check, with messages as specific
//! as AWS's, and the defaults ECS fills in so that DescribeTaskDefinition shows what a user
//! of ECS would see.

use crate::fargate::{self, CpuUnits, MemoryMib, SizeError};
use crate::fields;
use crate::names;
use crate::restrictions::{self, Refusal, RegistrationPolicy};
use crate::shapes::{
    Compatibility, ContainerDefinition, NetworkMode, TaskDefinition, TransportProtocol,
};

/// The largest task definition ECS accepts, as its JSON document.
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;
/// Ephemeral storage bounds on Fargate, GiB.
pub const EPHEMERAL_STORAGE_GIB: std::ops::RangeInclusive<i32> = 21..=200;

/// Why a task definition cannot be registered. Each message says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskDefinitionError {
    /// Family outside the ECS alphabet or too long.
    #[error(
        "Family '{0}' is invalid: up to 255 letters (uppercase and lowercase), numbers, hyphens, and underscores are allowed."
    )]
    InvalidFamily(String),
    /// No containers at all.
    #[error("Task definition must contain at least one container definition.")]
    NoContainers,
    /// A container without a name.
    #[error("Container.name should not be null or empty.")]
    MissingContainerName,
    /// A container name outside the ECS alphabet.
    #[error(
        "Container name '{0}' is invalid: up to 255 letters (uppercase and lowercase), numbers, hyphens, and underscores are allowed."
    )]
    InvalidContainerName(String),
    /// Two containers share a name.
    #[error(
        "Duplicate container name '{0}': container names must be unique within a task definition."
    )]
    DuplicateContainerName(String),
    /// A container without an image.
    #[error("Container.image should not be null or empty (container '{0}').")]
    MissingImage(String),
    /// Every container is `essential: false`.
    #[error("Task definition must have at least one essential container.")]
    NoEssentialContainer,
    /// `requiresCompatibilities: FARGATE` with another network mode.
    #[error(
        "Fargate only supports network mode 'awsvpc'; this task definition's 'networkMode' is '{0}'."
    )]
    FargateNeedsAwsvpc(String),
    /// `requiresCompatibilities: FARGATE` without task-level cpu or memory.
    #[error("Fargate requires that '{0}' be defined at the task level.")]
    FargateNeedsTaskLevel(&'static str),
    /// A task cpu/memory that does not parse or is no Fargate pair.
    #[error(transparent)]
    Size(#[from] SizeError),
    /// A container cpu or memory that is negative or zero where it must be positive.
    #[error(
        "Invalid '{field}' setting for container '{container}': {value} must be {minimum} or more."
    )]
    ContainerValueTooSmall {
        /// The container.
        container: String,
        /// `cpu`, `memory` or `memoryReservation`.
        field: &'static str,
        /// What was given.
        value: i32,
        /// The least allowed.
        minimum: i32,
    },
    /// The containers' cpu adds up to more than the task's.
    #[error(
        "Invalid 'cpu' setting for task. The sum of the containers' cpu ({containers}) is more than the task cpu ({task})."
    )]
    ContainerCpuExceedsTask {
        /// Sum over containers.
        containers: u32,
        /// Task cpu units.
        task: u32,
    },
    /// One container's hard memory limit is above the task's memory.
    #[error(
        "Invalid 'memory' setting for container '{container}'. Its memory ({memory} MiB) is more than the task memory ({task} MiB)."
    )]
    ContainerMemoryExceedsTask {
        /// The container.
        container: String,
        /// Its `memory`.
        memory: u32,
        /// Task memory MiB.
        task: u32,
    },
    /// The containers' reserved memory adds up to more than the task's.
    #[error(
        "Invalid 'memory' setting for task. The containers reserve {containers} MiB in all (memoryReservation, else memory), more than the task memory ({task} MiB)."
    )]
    ContainerMemoryReservationsExceedTask {
        /// Sum over containers.
        containers: u32,
        /// Task memory MiB.
        task: u32,
    },
    /// memoryReservation above memory.
    #[error(
        "Invalid 'memoryReservation' setting for container '{0}': it must be less than the container's 'memory'."
    )]
    ReservationAboveMemory(String),
    /// No task memory and a container with neither memory nor memoryReservation.
    #[error(
        "Invalid setting for container '{0}'. At least one of 'memory' or 'memoryReservation' must be specified."
    )]
    ContainerMemoryMissing(String),
    /// A port outside 1–65535.
    #[error(
        "Invalid port {port} in the port mappings of container '{container}': ports are 1–65535."
    )]
    InvalidPort {
        /// The container.
        container: String,
        /// The port.
        port: i32,
    },
    /// In awsvpc mode a hostPort differs from its containerPort.
    #[error(
        "When networkMode=awsvpc, the host ports and container ports in port mappings must match (container '{container}': containerPort {container_port}, hostPort {host_port})."
    )]
    HostPortMismatch {
        /// The container.
        container: String,
        /// containerPort.
        container_port: i32,
        /// hostPort.
        host_port: i32,
    },
    /// A port mapping without containerPort (and no range).
    #[error("A port mapping of container '{0}' has no containerPort.")]
    MissingContainerPort(String),
    /// `dependsOn` names a container that is not in the task definition.
    #[error(
        "Container '{container}' depends on '{depends_on}', which is not a container in this task definition."
    )]
    UnknownDependency {
        /// The dependent container.
        container: String,
        /// The missing one.
        depends_on: String,
    },
    /// Ephemeral storage outside 21–200 GiB.
    #[error("The ephemeral storage size must be between 21 and 200 GiB; {0} GiB was given.")]
    EphemeralStorageOutOfRange(i32),
    /// The document is over 64 KiB.
    #[error(
        "The task definition is {0} bytes; the largest allowed is 65536 bytes. Move large values (such as environment) elsewhere."
    )]
    TooLarge(usize),
    /// Something Fargate does not allow a task, or a field berth does not act on.
    #[error(transparent)]
    Refused(#[from] Refusal),
}

/// Checks `draft` (a task definition as the user sent it) against ECS's and Fargate's rules —
/// Fargate's task restrictions (`restrictions`, relaxed only as `policy` says) and the fields
/// berth does not take (`fields`) included — and fills in what ECS fills in: `essential: true`,
/// `cpu: 0`, `protocol: tcp`, host ports in awsvpc, empty lists, task cpu/memory in units,
/// `compatibilities`. Revision, ARN, status and timestamps are the registrar's job.
pub fn validate_and_normalize(
    draft: &mut TaskDefinition,
    policy: RegistrationPolicy,
) -> Result<(), TaskDefinitionError> {
    let family = draft.family.clone().unwrap_or_default();
    if !names::is_valid_name(&family) {
        return Err(TaskDefinitionError::InvalidFamily(family));
    }
    let awsvpc = draft.network_mode == Some(NetworkMode::Awsvpc);
    let requires_fargate = restrictions::requires_fargate(draft);

    if requires_fargate {
        if let Some(mode) = draft.network_mode.filter(|m| *m != NetworkMode::Awsvpc) {
            return Err(TaskDefinitionError::FargateNeedsAwsvpc(mode.to_string()));
        }
        if !awsvpc {
            return Err(TaskDefinitionError::FargateNeedsAwsvpc("bridge".into()));
        }
        if draft.cpu.is_none() {
            return Err(TaskDefinitionError::FargateNeedsTaskLevel("cpu"));
        }
        if draft.memory.is_none() {
            return Err(TaskDefinitionError::FargateNeedsTaskLevel("memory"));
        }
    }
    let task_cpu = draft.cpu.as_deref().map(fargate::parse_cpu).transpose()?;
    let task_memory = draft
        .memory
        .as_deref()
        .map(fargate::parse_memory)
        .transpose()?;
    let fargate_size = match (&draft.cpu, &draft.memory) {
        (Some(cpu), Some(memory)) if requires_fargate => {
            Some(fargate::parse_fargate_size(cpu, memory)?)
        }
        (Some(cpu), Some(memory)) => fargate::parse_fargate_size(cpu, memory).ok(),
        _ => None,
    };
    if let Some(cpu) = task_cpu {
        draft.cpu = Some(cpu.0.to_string());
    }
    if let Some(memory) = task_memory {
        draft.memory = Some(memory.0.to_string());
    }
    if let Some(storage) = &draft.ephemeral_storage
        && !EPHEMERAL_STORAGE_GIB.contains(&storage.size_in_gi_b)
    {
        return Err(TaskDefinitionError::EphemeralStorageOutOfRange(
            storage.size_in_gi_b,
        ));
    }

    check_containers(
        draft.container_definitions.get_or_insert_with(Vec::new),
        awsvpc,
        task_cpu,
        task_memory,
    )?;
    // On the definition as sent, before defaults are filled in: a refusal names what the user
    // wrote.
    restrictions::check(draft, policy)?;
    fields::check(draft, requires_fargate)?;
    for container in draft.container_definitions.iter_mut().flatten() {
        normalize_container(container, awsvpc);
    }

    draft.volumes.get_or_insert_with(Vec::new);
    draft.placement_constraints.get_or_insert_with(Vec::new);
    draft.requires_attributes.get_or_insert_with(Vec::new);
    draft.compatibilities = Some(if awsvpc && fargate_size.is_some() {
        vec![Compatibility::Ec2, Compatibility::Fargate]
    } else if awsvpc {
        vec![Compatibility::Ec2]
    } else {
        vec![Compatibility::External, Compatibility::Ec2]
    });

    let size = serde_json::to_vec(draft).map(|v| v.len()).unwrap_or(0);
    if size > MAX_DOCUMENT_BYTES {
        return Err(TaskDefinitionError::TooLarge(size));
    }
    Ok(())
}

fn check_containers(
    containers: &[ContainerDefinition],
    awsvpc: bool,
    task_cpu: Option<CpuUnits>,
    task_memory: Option<MemoryMib>,
) -> Result<(), TaskDefinitionError> {
    use TaskDefinitionError as E;
    if containers.is_empty() {
        return Err(E::NoContainers);
    }
    let mut seen: Vec<&str> = Vec::with_capacity(containers.len());
    let (mut cpu_sum, mut reserved_sum) = (0u32, 0u32);
    for container in containers {
        let name = container.name.as_deref().unwrap_or_default();
        if name.is_empty() {
            return Err(E::MissingContainerName);
        }
        if !names::is_valid_name(name) {
            return Err(E::InvalidContainerName(name.to_owned()));
        }
        if seen.contains(&name) {
            return Err(E::DuplicateContainerName(name.to_owned()));
        }
        seen.push(name);
        if container
            .image
            .as_deref()
            .unwrap_or_default()
            .trim()
            .is_empty()
        {
            return Err(E::MissingImage(name.to_owned()));
        }
        let cpu = non_negative(name, "cpu", container.cpu, 0)?;
        let memory = non_negative(name, "memory", container.memory, 6)?;
        let reservation = non_negative(name, "memoryReservation", container.memory_reservation, 4)?;
        cpu_sum = cpu_sum.saturating_add(cpu.unwrap_or(0));
        if let (Some(memory), Some(reservation)) = (memory, reservation)
            && reservation > memory
        {
            return Err(E::ReservationAboveMemory(name.to_owned()));
        }
        match task_memory {
            None if memory.is_none() && reservation.is_none() => {
                return Err(E::ContainerMemoryMissing(name.to_owned()));
            }
            Some(task) if memory.is_some_and(|m| m > task.0) => {
                return Err(E::ContainerMemoryExceedsTask {
                    container: name.to_owned(),
                    memory: memory.unwrap_or(0),
                    task: task.0,
                });
            }
            _ => {}
        }
        reserved_sum = reserved_sum.saturating_add(reservation.or(memory).unwrap_or(0));
        check_ports(container, name, awsvpc)?;
    }
    for container in containers {
        for dependency in container.depends_on.as_deref().unwrap_or_default() {
            if !seen.contains(&dependency.container_name.as_str()) {
                return Err(E::UnknownDependency {
                    container: container.name.clone().unwrap_or_default(),
                    depends_on: dependency.container_name.clone(),
                });
            }
        }
    }
    if !containers.iter().any(|c| c.essential != Some(false)) {
        return Err(E::NoEssentialContainer);
    }
    if let Some(task) = task_cpu
        && cpu_sum > task.0
    {
        return Err(E::ContainerCpuExceedsTask {
            containers: cpu_sum,
            task: task.0,
        });
    }
    if let Some(task) = task_memory
        && reserved_sum > task.0
    {
        return Err(E::ContainerMemoryReservationsExceedTask {
            containers: reserved_sum,
            task: task.0,
        });
    }
    Ok(())
}

fn non_negative(
    container: &str,
    field: &'static str,
    value: Option<i32>,
    minimum: i32,
) -> Result<Option<u32>, TaskDefinitionError> {
    match value {
        Some(v) if v < minimum => Err(TaskDefinitionError::ContainerValueTooSmall {
            container: container.to_owned(),
            field,
            value: v,
            minimum,
        }),
        Some(v) => Ok(Some(v.unsigned_abs())),
        None => Ok(None),
    }
}

fn check_ports(
    container: &ContainerDefinition,
    name: &str,
    awsvpc: bool,
) -> Result<(), TaskDefinitionError> {
    let port_ok = |p: i32| (1..=65535).contains(&p);
    for mapping in container.port_mappings.as_deref().unwrap_or_default() {
        let Some(container_port) = mapping.container_port else {
            if mapping.container_port_range.is_some() {
                continue;
            }
            return Err(TaskDefinitionError::MissingContainerPort(name.to_owned()));
        };
        // hostPort 0 asks for a dynamic port, which only bridge mode has.
        let host_port_ok = |p: i32| port_ok(p) || (p == 0 && !awsvpc);
        let bad_port = if !port_ok(container_port) {
            Some(container_port)
        } else {
            mapping.host_port.filter(|p| !host_port_ok(*p))
        };
        if let Some(port) = bad_port {
            return Err(TaskDefinitionError::InvalidPort {
                container: name.to_owned(),
                port,
            });
        }
        if awsvpc && let Some(host_port) = mapping.host_port.filter(|h| *h != container_port) {
            return Err(TaskDefinitionError::HostPortMismatch {
                container: name.to_owned(),
                container_port,
                host_port,
            });
        }
    }
    Ok(())
}

fn normalize_container(container: &mut ContainerDefinition, awsvpc: bool) {
    container.cpu.get_or_insert(0);
    container.essential.get_or_insert(true);
    for mapping in container.port_mappings.get_or_insert_with(Vec::new) {
        mapping.protocol.get_or_insert(TransportProtocol::Tcp);
        if awsvpc && mapping.host_port.is_none() {
            mapping.host_port = mapping.container_port;
        }
    }
    container.environment.get_or_insert_with(Vec::new);
    container.mount_points.get_or_insert_with(Vec::new);
    container.volumes_from.get_or_insert_with(Vec::new);
    container.system_controls.get_or_insert_with(Vec::new);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The Fargate guide's task definition, as a base for each case to change.
    fn guide() -> serde_json::Value {
        json!({
            "family": "fargate-task",
            "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"],
            "cpu": "256",
            "memory": "512",
            "containerDefinitions": [{
                "name": "my-container",
                "image": "nginx",
                "essential": true,
                "portMappings": [{"containerPort": 80, "hostPort": 80}]
            }]
        })
    }

    fn register(doc: serde_json::Value) -> Result<TaskDefinition, TaskDefinitionError> {
        let mut draft: TaskDefinition = serde_json::from_value(doc).unwrap();
        validate_and_normalize(&mut draft, RegistrationPolicy::default()).map(|()| draft)
    }

    fn with(patch: impl FnOnce(&mut serde_json::Value)) -> serde_json::Value {
        let mut doc = guide();
        patch(&mut doc);
        doc
    }

    #[test]
    fn the_guide_registers_with_ecs_defaults() {
        let td = register(guide()).unwrap();
        let c = &td.container_definitions.as_ref().unwrap()[0];
        assert_eq!(c.cpu, Some(0));
        assert_eq!(c.environment, Some(vec![]));
        let port = &c.port_mappings.as_ref().unwrap()[0];
        assert_eq!(port.protocol, Some(TransportProtocol::Tcp));
        assert_eq!(
            td.compatibilities,
            Some(vec![Compatibility::Ec2, Compatibility::Fargate])
        );
    }

    #[test]
    fn sizes_in_words_are_stored_in_units() {
        let td = register(with(|d| {
            d["cpu"] = json!("1 vCPU");
            d["memory"] = json!("2 GB");
        }))
        .unwrap();
        assert_eq!(
            (td.cpu.as_deref(), td.memory.as_deref()),
            (Some("1024"), Some("2048"))
        );
    }

    #[test]
    fn host_port_defaults_to_container_port_in_awsvpc() {
        let td = register(with(|d| {
            d["containerDefinitions"][0]["portMappings"] = json!([{"containerPort": 8080}]);
        }))
        .unwrap();
        let port = &td.container_definitions.unwrap()[0]
            .port_mappings
            .clone()
            .unwrap()[0];
        assert_eq!(port.host_port, Some(8080));
    }

    /// One rule per line: how the guide's definition is broken, and the error it earns.
    #[test]
    fn each_rule_refuses_with_its_own_error() {
        use TaskDefinitionError as E;
        type Patch = fn(&mut serde_json::Value);
        type Expect = fn(&E) -> bool;
        let cases: Vec<(Patch, Expect)> = vec![
            (
                |d| d["family"] = json!("bad family"),
                |e| matches!(e, E::InvalidFamily(_)),
            ),
            (
                |d| d["containerDefinitions"] = json!([]),
                |e| matches!(e, E::NoContainers),
            ),
            (
                |d| d["networkMode"] = json!("bridge"),
                |e| matches!(e, E::FargateNeedsAwsvpc(m) if m == "bridge"),
            ),
            (
                |d| {
                    d.as_object_mut().unwrap().remove("networkMode");
                },
                |e| matches!(e, E::FargateNeedsAwsvpc(_)),
            ),
            (
                |d| {
                    d.as_object_mut().unwrap().remove("cpu");
                },
                |e| matches!(e, E::FargateNeedsTaskLevel("cpu")),
            ),
            (
                |d| {
                    d.as_object_mut().unwrap().remove("memory");
                },
                |e| matches!(e, E::FargateNeedsTaskLevel("memory")),
            ),
            (
                |d| d["memory"] = json!("4096"),
                |e| {
                    matches!(
                        e,
                        E::Size(SizeError::NoFargateConfiguration {
                            cpu: 256,
                            memory: 4096,
                            ..
                        })
                    )
                },
            ),
            (
                |d| d["cpu"] = json!("lots"),
                |e| matches!(e, E::Size(SizeError::Cpu(_))),
            ),
            (
                |d| d["containerDefinitions"][0]["essential"] = json!(false),
                |e| matches!(e, E::NoEssentialContainer),
            ),
            (
                |d| {
                    d["containerDefinitions"][0]
                        .as_object_mut()
                        .unwrap()
                        .remove("name");
                },
                |e| matches!(e, E::MissingContainerName),
            ),
            (
                |d| d["containerDefinitions"][0]["image"] = json!(""),
                |e| matches!(e, E::MissingImage(_)),
            ),
            (
                |d| {
                    let c = d["containerDefinitions"][0].clone();
                    d["containerDefinitions"].as_array_mut().unwrap().push(c);
                },
                |e| matches!(e, E::DuplicateContainerName(_)),
            ),
            (
                |d| d["containerDefinitions"][0]["cpu"] = json!(512),
                |e| {
                    matches!(
                        e,
                        E::ContainerCpuExceedsTask {
                            containers: 512,
                            task: 256
                        }
                    )
                },
            ),
            (
                |d| d["containerDefinitions"][0]["memory"] = json!(1024),
                |e| {
                    matches!(
                        e,
                        E::ContainerMemoryExceedsTask {
                            memory: 1024,
                            task: 512,
                            ..
                        }
                    )
                },
            ),
            (
                |d| {
                    d["containerDefinitions"][0]["memory"] = json!(256);
                    d["containerDefinitions"][0]["memoryReservation"] = json!(300);
                },
                |e| matches!(e, E::ReservationAboveMemory(_)),
            ),
            (
                |d| {
                    let mut c = d["containerDefinitions"][0].clone();
                    c["name"] = json!("b");
                    c["memoryReservation"] = json!(300);
                    d["containerDefinitions"][0]["memoryReservation"] = json!(300);
                    d["containerDefinitions"].as_array_mut().unwrap().push(c);
                },
                |e| {
                    matches!(
                        e,
                        E::ContainerMemoryReservationsExceedTask {
                            containers: 600,
                            task: 512
                        }
                    )
                },
            ),
            (
                |d| {
                    d["containerDefinitions"][0]["portMappings"] =
                        json!([{"containerPort": 80, "hostPort": 8080}])
                },
                |e| {
                    matches!(
                        e,
                        E::HostPortMismatch {
                            container_port: 80,
                            host_port: 8080,
                            ..
                        }
                    )
                },
            ),
            (
                |d| {
                    d["containerDefinitions"][0]["portMappings"] = json!([{"containerPort": 70000}])
                },
                |e| matches!(e, E::InvalidPort { port: 70000, .. }),
            ),
            (
                |d| {
                    d["containerDefinitions"][0]["dependsOn"] =
                        json!([{"containerName": "ghost", "condition": "START"}])
                },
                |e| matches!(e, E::UnknownDependency { .. }),
            ),
            (
                |d| d["ephemeralStorage"] = json!({"sizeInGiB": 20}),
                |e| matches!(e, E::EphemeralStorageOutOfRange(20)),
            ),
            (
                |d| d["ephemeralStorage"] = json!({"sizeInGiB": 201}),
                |e| matches!(e, E::EphemeralStorageOutOfRange(201)),
            ),
            (
                |d| {
                    d["containerDefinitions"][0]["environment"] =
                        json!([{"name": "BIG", "value": "x".repeat(70_000)}])
                },
                |e| matches!(e, E::TooLarge(_)),
            ),
        ];
        for (i, (patch, expected)) in cases.into_iter().enumerate() {
            let result = register(with(patch));
            assert!(
                matches!(&result, Err(e) if expected(e)),
                "case {i}: {result:?}"
            );
        }
    }

    #[test]
    fn ec2_task_definitions_need_container_memory_without_task_memory() {
        let doc = json!({
            "family": "ec2-task",
            "containerDefinitions": [{"name": "app", "image": "busybox"}]
        });
        assert_eq!(
            register(doc.clone()).unwrap_err(),
            TaskDefinitionError::ContainerMemoryMissing("app".into())
        );
        let mut ok = doc;
        ok["containerDefinitions"][0]["memory"] = json!(128);
        let td = register(ok).unwrap();
        assert_eq!(
            td.compatibilities,
            Some(vec![Compatibility::External, Compatibility::Ec2])
        );
    }

    #[test]
    fn ephemeral_storage_bounds_are_accepted() {
        for size in [21, 200] {
            assert!(register(with(|d| d["ephemeralStorage"] = json!({"sizeInGiB": size}))).is_ok());
        }
    }
}

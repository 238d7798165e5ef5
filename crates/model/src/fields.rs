//! Every field of a task definition and what berth does with it — the one table that says so.
//!
//! berth stores a definition as it was registered, so a field it does nothing with would
//! otherwise be accepted and silently ignored: a task asking for EFS, a TTY or FireLens would
//! run without them and nobody would know why. Each field of `TaskDefinition`,
//! `ContainerDefinition`, `LinuxParameters` and `Volume` (the generated `shapes`, from
//! botocore's ECS model) has a row here with its [`Disposition`]; [`check`] refuses, by name,
//! any field whose row says berth does not take it and whose value is not ECS's default (null,
//! `false`, an empty list or string), and any field that has no row at all. A test walks the
//! table against `shapes` itself, so a field botocore adds cannot go unclassified.
//!
//! "Acted on" is judged from what berth's node does with a definition (the agent's
//! `task/plan.rs` and the runtime's `spec.rs`), counting what is being built alongside this
//! table: read-only root filesystems, capabilities, init processes, `net.*` kernel parameters,
//! task-scoped volumes with `mountPoints` and `volumesFrom`, secrets and registry credentials.

use serde_json::Value;

use crate::restrictions::{FargateRule, Location, Refusal};
use crate::shapes::TaskDefinition;

/// What berth does with a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// berth's node does with it what ECS does.
    ActedOn,
    /// Stored and described as given; a task on one node needs no behaviour from it (names,
    /// roles, labels, the launch types to validate against).
    Metadata,
    /// Accepted and not acted on yet, deliberately: deploy tools and the Fargate guide send it,
    /// and a later issue acts on it. The row says what berth does meanwhile.
    Deferred,
    /// ECS sets it at registration; a request cannot carry it.
    SetByEcs,
    /// Fargate allows some values only; `restrictions` checks them value by value.
    Restricted,
    /// Not valid in a Fargate task: refused, in ECS's words, unless it has its default value.
    NotOnFargate,
    /// berth does not act on it: refused unless it has its default value.
    Unsupported,
}

/// Which values of a refused field are ECS's default, and so still accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultValue {
    /// Absent, null, `false`, `[]` or `""`.
    Empty,
    /// Empty, or an object whose `enabled` is not `true` (`restartPolicy`).
    NotEnabled,
}

impl DefaultValue {
    fn holds(self, value: &Value) -> bool {
        match self {
            Self::Empty => is_empty(value),
            Self::NotEnabled => is_empty(value) || value.get("enabled") != Some(&Value::Bool(true)),
        }
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.is_empty(),
        // An object, even `{}`, asks for something (`dockerVolumeConfiguration: {}` is a Docker
        // volume with Docker's defaults).
        Value::Number(_) | Value::Object(_) => false,
    }
}

/// One field: its name as the API spells it, and what berth does with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The member's name (`readonlyRootFilesystem`).
    pub name: &'static str,
    /// What berth does with it.
    pub disposition: Disposition,
    /// Which of its values are the default.
    pub default: DefaultValue,
}

const fn field(name: &'static str, disposition: Disposition) -> Field {
    Field {
        name,
        disposition,
        default: DefaultValue::Empty,
    }
}

use Disposition::*;

/// `TaskDefinition`'s fields.
pub const TASK_DEFINITION: &[Field] = &[
    field("taskDefinitionArn", SetByEcs),
    field("containerDefinitions", ActedOn),
    field("family", Metadata),
    // berth has no IAM: the roles are kept for DescribeTaskDefinition and tools that read them.
    field("taskRoleArn", Metadata),
    field("executionRoleArn", Metadata),
    // awsvpc: each task its own interface; host refused; bridge and none as before.
    field("networkMode", Restricted),
    field("revision", SetByEcs),
    field("volumes", Restricted),
    field("status", SetByEcs),
    field("requiresAttributes", SetByEcs),
    field("placementConstraints", NotOnFargate),
    field("compatibilities", SetByEcs),
    // Linux only; the node pulls images for its own architecture, whatever cpuArchitecture says.
    field("runtimePlatform", Restricted),
    // Which launch types to validate against: berth validates every definition as Fargate.
    field("requiresCompatibilities", Metadata),
    // The task's cgroup.
    field("cpu", ActedOn),
    field("memory", ActedOn),
    field("inferenceAccelerators", NotOnFargate),
    field("pidMode", Restricted),
    field("ipcMode", Restricted),
    field("proxyConfiguration", Unsupported),
    field("registeredAt", SetByEcs),
    field("deregisteredAt", SetByEcs),
    field("deleteRequestedAt", SetByEcs),
    field("registeredBy", SetByEcs),
    // Checked (21–200 GiB); the task's writable layers live on berth's data disk, unquota'd.
    field("ephemeralStorage", Deferred),
    field("enableFaultInjection", Unsupported),
];

/// `ContainerDefinition`'s fields.
pub const CONTAINER_DEFINITION: &[Field] = &[
    field("name", ActedOn),
    field("image", ActedOn),
    field("repositoryCredentials", ActedOn),
    field("cpu", ActedOn),
    field("memory", ActedOn),
    field("memoryReservation", ActedOn),
    field("links", Restricted),
    // awsvpc: every port of the task's address is reachable as security groups allow, as in
    // Fargate; the mappings are what load balancers and Service Connect read.
    field("portMappings", Metadata),
    field("essential", ActedOn),
    Field {
        name: "restartPolicy",
        disposition: Unsupported,
        default: DefaultValue::NotEnabled,
    },
    field("entryPoint", ActedOn),
    field("command", ActedOn),
    field("environment", ActedOn),
    // S3 objects: berth has no S3.
    field("environmentFiles", Unsupported),
    field("mountPoints", ActedOn),
    field("volumesFrom", ActedOn),
    field("linuxParameters", Restricted),
    field("secrets", ActedOn),
    field("dependsOn", ActedOn),
    // berth gives up on a dependency when it can no longer be met (it exited), not on a timer.
    field("startTimeout", Deferred),
    field("stopTimeout", ActedOn),
    // Tags are resolved to digests for service deployments, which berth does not have yet.
    field("versionConsistency", Metadata),
    field("hostname", Restricted),
    field("user", ActedOn),
    field("workingDirectory", ActedOn),
    field("disableNetworking", NotOnFargate),
    field("privileged", Restricted),
    field("readonlyRootFilesystem", ActedOn),
    field("dnsServers", NotOnFargate),
    field("dnsSearchDomains", NotOnFargate),
    field("extraHosts", NotOnFargate),
    field("dockerSecurityOptions", NotOnFargate),
    // No TTY and no open stdin: a container that needs them would exit at once.
    field("interactive", Unsupported),
    field("pseudoTerminal", Unsupported),
    // berth has no Docker API to show them on.
    field("dockerLabels", Metadata),
    field("ulimits", ActedOn),
    // The Fargate guide's awslogs: output goes to berth's own log files until CloudWatch Logs.
    field("logConfiguration", Deferred),
    // Services use it; the node does not run health checks yet (containers read UNKNOWN).
    field("healthCheck", Deferred),
    field("systemControls", Restricted),
    field("resourceRequirements", Restricted),
    field("firelensConfiguration", Unsupported),
    field("credentialSpecs", Unsupported),
];

/// `LinuxParameters`' fields (`containerDefinitions[].linuxParameters`).
pub const LINUX_PARAMETERS: &[Field] = &[
    field("capabilities", Restricted),
    field("devices", NotOnFargate),
    field("initProcessEnabled", ActedOn),
    field("sharedMemorySize", NotOnFargate),
    // Fargate takes tmpfs mounts since January 2026; berth's node does not make them yet.
    field("tmpfs", Unsupported),
    field("maxSwap", NotOnFargate),
    field("swappiness", NotOnFargate),
];

/// `Volume`'s fields (`volumes[]`).
pub const VOLUME: &[Field] = &[
    field("name", ActedOn),
    // Without sourcePath, a task-scoped volume; with one, a host bind mount (restricted).
    field("host", Restricted),
    field("dockerVolumeConfiguration", NotOnFargate),
    field("efsVolumeConfiguration", Unsupported),
    field("s3filesVolumeConfiguration", Unsupported),
    field("fsxWindowsFileServerVolumeConfiguration", Unsupported),
    // EBS volumes given at launch.
    field("configuredAtLaunch", Unsupported),
];

/// Refuses the first field of `definition` that berth does not take and that is set to
/// something other than its default, in table order: task-level fields, then each container's
/// (its `linuxParameters` with it), then each volume's.
pub fn check(definition: &TaskDefinition, requires_fargate: bool) -> Result<(), Refusal> {
    // Serializing these plain documents cannot fail; were it to, there would be nothing to walk.
    let document = serde_json::to_value(definition).unwrap_or_default();
    check_members(&document, TASK_DEFINITION, requires_fargate, &|field| {
        Location::task(field)
    })?;
    for (index, container) in items(&document, "containerDefinitions") {
        let name = container["name"].as_str().unwrap_or_default();
        let at = |field: &str| Location::container(index, name, field);
        check_members(container, CONTAINER_DEFINITION, requires_fargate, &at)?;
        let at =
            |field: &str| Location::container(index, name, &format!("linuxParameters.{field}"));
        check_members(
            &container["linuxParameters"],
            LINUX_PARAMETERS,
            requires_fargate,
            &at,
        )?;
    }
    for (index, volume) in items(&document, "volumes") {
        let name = volume["name"].as_str().unwrap_or_default();
        let at = |field: &str| Location::volume(index, name, field);
        check_members(volume, VOLUME, requires_fargate, &at)?;
    }
    Ok(())
}

fn items<'a>(document: &'a Value, list: &str) -> impl Iterator<Item = (usize, &'a Value)> {
    document[list].as_array().into_iter().flatten().enumerate()
}

fn check_members(
    object: &Value,
    table: &'static [Field],
    requires_fargate: bool,
    at: &dyn Fn(&str) -> Location,
) -> Result<(), Refusal> {
    let Some(members) = object.as_object() else {
        return Ok(());
    };
    for field in table {
        let Some(value) = members.get(field.name) else {
            continue;
        };
        if field.default.holds(value) {
            continue;
        }
        match field.disposition {
            NotOnFargate => {
                return Err(Refusal::Fargate {
                    rule: FargateRule::NotSupported(field.name),
                    at: at(field.name),
                    requires_fargate,
                });
            }
            Unsupported => {
                return Err(Refusal::Unsupported {
                    at: at(field.name),
                    value: None,
                });
            }
            ActedOn | Metadata | Deferred | SetByEcs | Restricted => {}
        }
    }
    // A member the table has no row for: a field newer than this table is not acted on.
    match members
        .iter()
        .find(|(name, value)| !table.iter().any(|f| f.name == *name) && !is_empty(value))
    {
        Some((name, _)) => Err(Refusal::Unsupported {
            at: at(name),
            value: None,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use serde::de::{self, Visitor};
    use serde_json::json;

    use super::*;
    use crate::restrictions::RegistrationPolicy;
    use crate::shapes::{ContainerDefinition, LinuxParameters, Volume};
    use crate::task_definition::{TaskDefinitionError, validate_and_normalize};

    /// A deserializer that only records the member names a struct asks it for: serde's own
    /// list, renames applied, so the table is checked against the shapes as serde sees them.
    struct MemberNames(Option<&'static [&'static str]>);

    impl<'de> de::Deserializer<'de> for &mut MemberNames {
        type Error = de::value::Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            self.0 = Some(fields);
            Err(de::Error::custom("recorded"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }

    fn members<T: for<'de> serde::Deserialize<'de>>() -> &'static [&'static str] {
        let mut names = MemberNames(None);
        let _ = T::deserialize(&mut names);
        names.0.expect("a struct")
    }

    /// Every table, with the shape it describes.
    fn tables() -> [(&'static str, &'static [Field], &'static [&'static str]); 4] {
        [
            (
                "TaskDefinition",
                TASK_DEFINITION,
                members::<TaskDefinition>(),
            ),
            (
                "ContainerDefinition",
                CONTAINER_DEFINITION,
                members::<ContainerDefinition>(),
            ),
            (
                "LinuxParameters",
                LINUX_PARAMETERS,
                members::<LinuxParameters>(),
            ),
            ("Volume", VOLUME, members::<Volume>()),
        ]
    }

    #[test]
    fn every_field_of_the_shapes_has_exactly_one_row() {
        for (shape, table, members) in tables() {
            for member in members {
                let rows = table.iter().filter(|f| f.name == *member).count();
                assert_eq!(
                    rows, 1,
                    "{shape}.{member}: give it one row in fields.rs (it has {rows})"
                );
            }
            for row in table {
                assert!(
                    members.contains(&row.name),
                    "{shape}.{}: no such field in shapes.rs",
                    row.name
                );
            }
        }
    }

    /// What registering the guide's definition with one field set should do.
    enum Expect {
        Accept,
        /// Refused with a message containing this.
        Refuse(&'static str),
    }
    use Expect::*;

    /// One value per field, each different from its default: (shape, field, value, what a
    /// Restricted field's value should do — the other dispositions decide for themselves).
    #[rustfmt::skip]
    const SAMPLES: &[(&str, &str, &str, Option<Expect>)] = &[
        ("TaskDefinition", "taskDefinitionArn", r#""arn:aws:ecs:us-east-1:000000000000:task-definition/x:1""#, None),
        ("TaskDefinition", "containerDefinitions", r#"[{"name": "a", "image": "busybox"}]"#, None),
        ("TaskDefinition", "family", r#""other""#, None),
        ("TaskDefinition", "taskRoleArn", r#""arn:aws:iam::000000000000:role/app""#, None),
        ("TaskDefinition", "executionRoleArn", r#""arn:aws:iam::000000000000:role/exec""#, None),
        ("TaskDefinition", "networkMode", r#""awsvpc""#, Some(Accept)),
        ("TaskDefinition", "revision", "3", None),
        ("TaskDefinition", "volumes", r#"[{"name": "scratch"}]"#, Some(Accept)),
        ("TaskDefinition", "status", r#""ACTIVE""#, None),
        ("TaskDefinition", "requiresAttributes", r#"[{"name": "ecs.capability.secrets.asm.environment-variables"}]"#, None),
        ("TaskDefinition", "placementConstraints", r#"[{"type": "memberOf", "expression": "attribute:ecs.instance-type =~ t2.*"}]"#, None),
        ("TaskDefinition", "compatibilities", r#"["EC2"]"#, None),
        ("TaskDefinition", "runtimePlatform", r#"{"operatingSystemFamily": "LINUX", "cpuArchitecture": "ARM64"}"#, Some(Accept)),
        ("TaskDefinition", "requiresCompatibilities", r#"["FARGATE"]"#, None),
        ("TaskDefinition", "cpu", r#""256""#, None),
        ("TaskDefinition", "memory", r#""512""#, None),
        ("TaskDefinition", "inferenceAccelerators", r#"[{"deviceName": "d", "deviceType": "eia2.medium"}]"#, None),
        ("TaskDefinition", "pidMode", r#""task""#, Some(Refuse("berth does not support the value 'task' of 'pidMode' yet"))),
        ("TaskDefinition", "ipcMode", r#""task""#, Some(Refuse("Tasks using the Fargate launch type do not support ipcMode: 'ipcMode'."))),
        ("TaskDefinition", "proxyConfiguration", r#"{"containerName": "my-container"}"#, None),
        ("TaskDefinition", "registeredAt", "1700000000", None),
        ("TaskDefinition", "deregisteredAt", "1700000000", None),
        ("TaskDefinition", "deleteRequestedAt", "1700000000", None),
        ("TaskDefinition", "registeredBy", r#""arn:aws:iam::000000000000:root""#, None),
        ("TaskDefinition", "ephemeralStorage", r#"{"sizeInGiB": 30}"#, None),
        ("TaskDefinition", "enableFaultInjection", "true", None),
        ("ContainerDefinition", "name", r#""web""#, None),
        ("ContainerDefinition", "image", r#""busybox""#, None),
        ("ContainerDefinition", "repositoryCredentials", r#"{"credentialsParameter": "arn:aws:secretsmanager:us-east-1:000000000000:secret:hub"}"#, None),
        ("ContainerDefinition", "cpu", "128", None),
        ("ContainerDefinition", "memory", "256", None),
        ("ContainerDefinition", "memoryReservation", "128", None),
        ("ContainerDefinition", "links", r#"["db"]"#, Some(Refuse("Links are not supported when networkMode=awsvpc: 'containerDefinitions[0].links' (container 'my-container')."))),
        ("ContainerDefinition", "portMappings", r#"[{"containerPort": 8080}]"#, None),
        ("ContainerDefinition", "essential", "true", None),
        ("ContainerDefinition", "restartPolicy", r#"{"enabled": true}"#, None),
        ("ContainerDefinition", "entryPoint", r#"["sh", "-c"]"#, None),
        ("ContainerDefinition", "command", r#"["echo hi"]"#, None),
        ("ContainerDefinition", "environment", r#"[{"name": "A", "value": "b"}]"#, None),
        ("ContainerDefinition", "environmentFiles", r#"[{"value": "arn:aws:s3:::bucket/app.env", "type": "s3"}]"#, None),
        ("ContainerDefinition", "mountPoints", r#"[{"sourceVolume": "scratch", "containerPath": "/data"}]"#, None),
        ("ContainerDefinition", "volumesFrom", r#"[{"sourceContainer": "my-container", "readOnly": true}]"#, None),
        ("ContainerDefinition", "linuxParameters", r#"{"initProcessEnabled": true}"#, Some(Accept)),
        ("ContainerDefinition", "secrets", r#"[{"name": "A", "valueFrom": "arn:aws:ssm:us-east-1:000000000000:parameter/a"}]"#, None),
        ("ContainerDefinition", "dependsOn", r#"[{"containerName": "my-container", "condition": "START"}]"#, None),
        ("ContainerDefinition", "startTimeout", "60", None),
        ("ContainerDefinition", "stopTimeout", "30", None),
        ("ContainerDefinition", "versionConsistency", r#""disabled""#, None),
        ("ContainerDefinition", "hostname", r#""web""#, Some(Refuse("hostname is not supported on container when networkMode=awsvpc: 'containerDefinitions[0].hostname' (container 'my-container')."))),
        ("ContainerDefinition", "user", r#""1000""#, None),
        ("ContainerDefinition", "workingDirectory", r#""/srv""#, None),
        ("ContainerDefinition", "disableNetworking", "true", None),
        ("ContainerDefinition", "privileged", "true", Some(Refuse("Fargate compatible task definitions do not support privileged: 'containerDefinitions[0].privileged' (container 'my-container')."))),
        ("ContainerDefinition", "readonlyRootFilesystem", "true", None),
        ("ContainerDefinition", "dnsServers", r#"["10.0.0.2"]"#, None),
        ("ContainerDefinition", "dnsSearchDomains", r#"["example.com"]"#, None),
        ("ContainerDefinition", "extraHosts", r#"[{"hostname": "db", "ipAddress": "10.0.0.5"}]"#, None),
        ("ContainerDefinition", "dockerSecurityOptions", r#"["seccomp=unconfined"]"#, None),
        ("ContainerDefinition", "interactive", "true", None),
        ("ContainerDefinition", "pseudoTerminal", "true", None),
        ("ContainerDefinition", "dockerLabels", r#"{"team": "web"}"#, None),
        ("ContainerDefinition", "ulimits", r#"[{"name": "nofile", "softLimit": 1024, "hardLimit": 4096}]"#, None),
        ("ContainerDefinition", "logConfiguration", r#"{"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/web", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "ecs"}}"#, None),
        ("ContainerDefinition", "healthCheck", r#"{"command": ["CMD-SHELL", "true"], "interval": 10}"#, None),
        ("ContainerDefinition", "systemControls", r#"[{"namespace": "net.core.somaxconn", "value": "1024"}]"#, Some(Accept)),
        ("ContainerDefinition", "resourceRequirements", r#"[{"type": "GPU", "value": "1"}]"#, Some(Refuse("Fargate compatible task definitions do not support gpu: 'containerDefinitions[0].resourceRequirements'"))),
        ("ContainerDefinition", "firelensConfiguration", r#"{"type": "fluentbit"}"#, None),
        ("ContainerDefinition", "credentialSpecs", r#"["credentialspec:arn:aws:s3:::bucket/spec.json"]"#, None),
        ("LinuxParameters", "capabilities", r#"{"add": ["SYS_PTRACE"], "drop": ["NET_RAW"]}"#, Some(Accept)),
        ("LinuxParameters", "devices", r#"[{"hostPath": "/dev/mem"}]"#, None),
        ("LinuxParameters", "initProcessEnabled", "true", None),
        ("LinuxParameters", "sharedMemorySize", "128", None),
        ("LinuxParameters", "tmpfs", r#"[{"containerPath": "/run", "size": 64}]"#, None),
        ("LinuxParameters", "maxSwap", "0", None),
        ("LinuxParameters", "swappiness", "60", None),
        ("Volume", "name", r#""scratch""#, None),
        ("Volume", "host", "{}", Some(Accept)),
        ("Volume", "dockerVolumeConfiguration", r#"{"scope": "task"}"#, None),
        ("Volume", "efsVolumeConfiguration", r#"{"fileSystemId": "fs-12345678"}"#, None),
        ("Volume", "s3filesVolumeConfiguration", r#"{"fileSystemArn": "arn:aws:s3files:us-east-1:000000000000:file-system/fs-1"}"#, None),
        ("Volume", "fsxWindowsFileServerVolumeConfiguration", r#"{"fileSystemId": "fs-1", "rootDirectory": "\\data", "authorizationConfig": {"credentialsParameter": "arn:aws:secretsmanager:us-east-1:000000000000:secret:ad", "domain": "corp"}}"#, None),
        ("Volume", "configuredAtLaunch", "true", None),
    ];

    /// The Fargate guide's task definition.
    fn guide() -> Value {
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

    /// The guide with `field` of `shape` set to `value`, and that field's path.
    fn guide_with(shape: &str, field: &str, value: Value) -> (Value, String) {
        let mut doc = guide();
        let path = match shape {
            "TaskDefinition" => {
                doc[field] = value;
                field.to_owned()
            }
            "ContainerDefinition" => {
                doc["containerDefinitions"][0][field] = value;
                format!("containerDefinitions[0].{field}")
            }
            "LinuxParameters" => {
                doc["containerDefinitions"][0]["linuxParameters"] = json!({ field: value });
                format!("containerDefinitions[0].linuxParameters.{field}")
            }
            "Volume" => {
                let mut volume = json!({"name": "data"});
                volume[field] = value;
                doc["volumes"] = json!([volume]);
                format!("volumes[0].{field}")
            }
            other => panic!("no shape {other}"),
        };
        (doc, path)
    }

    fn register(doc: Value) -> Result<(), TaskDefinitionError> {
        let mut draft: TaskDefinition = serde_json::from_value(doc).expect("a task definition");
        validate_and_normalize(&mut draft, RegistrationPolicy::default())
    }

    /// The value ECS would take for "not set", in the sample's own JSON type.
    fn default_like(sample: &Value) -> Value {
        match sample {
            Value::Bool(_) => json!(false),
            Value::Array(_) => json!([]),
            Value::String(_) => json!(""),
            _ => Value::Null,
        }
    }

    /// Each row of each table, set on the guide's definition: what its disposition says.
    #[test]
    fn each_disposition_does_what_it_says() {
        for (shape, table, _) in tables() {
            for row in table {
                let samples: Vec<_> = SAMPLES
                    .iter()
                    .filter(|(s, f, _, _)| *s == shape && *f == row.name)
                    .collect();
                assert_eq!(samples.len(), 1, "{shape}.{}: give it one sample", row.name);
                let (_, _, sample, restricted) = samples[0];
                let sample: Value = serde_json::from_str(sample).expect("sample JSON");
                let (doc, path) = guide_with(shape, row.name, sample.clone());
                let result = register(doc);
                let case = format!("{shape}.{} = {sample}", row.name);
                let refused = |phrase: &str| match &result {
                    Err(e) => assert!(
                        e.to_string().contains(phrase),
                        "{case}: {e} lacks {phrase:?}"
                    ),
                    Ok(()) => panic!("{case} was accepted; expected {phrase:?}"),
                };
                match (row.disposition, restricted) {
                    (ActedOn | Metadata | Deferred | SetByEcs, None)
                    | (Restricted, Some(Accept)) => {
                        assert!(result.is_ok(), "{case}: {result:?}")
                    }
                    (Restricted, Some(Refuse(phrase))) => refused(phrase),
                    (NotOnFargate, None) => refused(&format!(
                        "Fargate compatible task definitions do not support {}: '{path}'",
                        row.name
                    )),
                    (Unsupported, None) => {
                        refused(&format!("berth does not support '{path}'"));
                        refused("yet; remove it.");
                    }
                    (disposition, expect) => panic!(
                        "{case}: a {disposition:?} field {} an expectation",
                        if expect.is_some() {
                            "takes no"
                        } else {
                            "needs"
                        }
                    ),
                }
                if matches!(row.disposition, NotOnFargate | Unsupported) {
                    let (doc, _) = guide_with(shape, row.name, default_like(&sample));
                    let result = register(doc);
                    assert!(result.is_ok(), "{case}, at its default: {result:?}");
                }
            }
        }
    }

    #[test]
    fn refusals_name_the_container_or_volume() {
        let (doc, _) = guide_with(
            "ContainerDefinition",
            "firelensConfiguration",
            json!({"type": "fluentbit"}),
        );
        assert_eq!(
            register(doc).unwrap_err().to_string(),
            "berth does not support 'containerDefinitions[0].firelensConfiguration' (container 'my-container') yet; remove it."
        );
        let (doc, _) = guide_with(
            "Volume",
            "efsVolumeConfiguration",
            json!({"fileSystemId": "fs-1"}),
        );
        assert_eq!(
            register(doc).unwrap_err().to_string(),
            "berth does not support 'volumes[0].efsVolumeConfiguration' (volume 'data') yet; remove it."
        );
        let (doc, _) = guide_with(
            "LinuxParameters",
            "devices",
            json!([{"hostPath": "/dev/mem"}]),
        );
        assert_eq!(
            register(doc).unwrap_err().to_string(),
            "Fargate compatible task definitions do not support devices: 'containerDefinitions[0].linuxParameters.devices' (container 'my-container')."
        );
    }

    #[test]
    fn a_restart_policy_that_is_not_enabled_is_accepted() {
        let (doc, _) = guide_with(
            "ContainerDefinition",
            "restartPolicy",
            json!({"enabled": false, "restartAttemptPeriod": 60}),
        );
        assert!(register(doc).is_ok());
    }

    #[test]
    fn a_member_without_a_row_is_refused_unless_empty() {
        let at = |field: &str| Location::task(field);
        let refused = check_members(
            &json!({"family": "f", "newThing": 5}),
            TASK_DEFINITION,
            true,
            &at,
        );
        assert_eq!(
            refused,
            Err(Refusal::Unsupported {
                at: Location::task("newThing"),
                value: None
            })
        );
        let empty = check_members(
            &json!({"family": "f", "newThing": []}),
            TASK_DEFINITION,
            true,
            &at,
        );
        assert_eq!(empty, Ok(()));
    }
}

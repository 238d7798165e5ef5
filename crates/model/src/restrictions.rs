//! Fargate's task restrictions: what a task may not ask of the machine it runs on — privileged
//! containers, host bind mounts, capabilities beyond `SYS_PTRACE`, the host's process, IPC or
//! network namespace, kernel parameters outside the task's own namespaces — checked value by
//! value at registration, with the words ECS uses for each.
//!
//! berth runs every task on its own node the way Fargate does, so these hold for every task
//! definition, not only those that require `FARGATE`; a definition that does not gets the same
//! refusal with a sentence saying so. `berth up --allow-privileged` (a trusted single-user
//! machine's explicit opt-out) lifts exactly three of them: `privileged`, any
//! `capabilities.add`, and host `sourcePath` bind mounts. Fields refused whole, by name
//! (`devices`, `dockerSecurityOptions`, ...), are the field table's (`fields`); the refusal
//! type both share is here.

use std::collections::HashMap;

use crate::capabilities::{self, FARGATE_ADDABLE, KERNEL_CAPABILITIES};
use crate::shapes::{Compatibility, NetworkMode, OSFamily, PidMode, ResourceType, TaskDefinition};
use crate::sysctls::{self, FARGATE_SYSCTLS, SysctlScope};

/// What registration allows beyond Fargate's rules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RegistrationPolicy {
    /// `berth up --allow-privileged`: accept `privileged`, any `capabilities.add` and host
    /// `sourcePath` bind mounts.
    pub allow_privileged: bool,
}

/// Where in a task definition a refused value is: its path as the request spells it
/// (`containerDefinitions[0].privileged`) and the container or volume it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The field's path.
    pub path: String,
    /// The container or volume, by name, for a field inside one.
    pub owner: Option<Owner>,
}

/// The named part of a task definition a field is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// A container definition.
    Container(String),
    /// A volume.
    Volume(String),
}

impl Location {
    /// A task-level field.
    pub fn task(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            owner: None,
        }
    }

    /// Field `field` of container definition `index`, named `name`.
    pub fn container(index: usize, name: &str, field: &str) -> Self {
        Self {
            path: format!("containerDefinitions[{index}].{field}"),
            owner: Some(Owner::Container(name.to_owned())),
        }
    }

    /// Field `field` of volume `index`, named `name`.
    pub fn volume(index: usize, name: &str, field: &str) -> Self {
        Self {
            path: format!("volumes[{index}].{field}"),
            owner: Some(Owner::Volume(name.to_owned())),
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "'{}'", self.path)?;
        match &self.owner {
            Some(Owner::Container(name)) => write!(f, " (container '{name}')"),
            Some(Owner::Volume(name)) => write!(f, " (volume '{name}')"),
            None => Ok(()),
        }
    }
}

/// One of Fargate's restrictions, as ECS words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FargateRule {
    /// A parameter Fargate takes no value of (`privileged`, `devices`, `sourcePath`, ...), by
    /// the name ECS's message gives it.
    NotSupported(&'static str),
    /// A capability other than `SYS_PTRACE` in `capabilities.add`.
    AddCapability(String),
    /// `pidMode` other than `task`.
    PidMode(String),
    /// Any `ipcMode`.
    IpcMode,
    /// A `networkMode` other than `awsvpc`, in a definition that does not require FARGATE
    /// (one that does is refused earlier, in `task_definition`'s words).
    NetworkMode(String),
    /// A kernel parameter outside the task's own namespaces.
    SystemControl(String),
    /// `hostname` with `networkMode: awsvpc`.
    HostnameInAwsvpc,
    /// `links` with `networkMode: awsvpc`.
    LinksInAwsvpc,
}

impl FargateRule {
    /// ECS's words for the rule, without a closing period. Where ECS's exact message is known
    /// it is used (`sourcePath`, `ipcMode`, `pidMode`, `hostname`, `links`); the others follow
    /// the pattern of its `Fargate compatible task definitions do not support ...` messages.
    fn words(&self) -> String {
        match self {
            Self::NotSupported(parameter) => {
                format!("Fargate compatible task definitions do not support {parameter}")
            }
            Self::AddCapability(name) => format!(
                "Fargate compatible task definitions only support adding the {FARGATE_ADDABLE} kernel capability, not '{name}'"
            ),
            Self::PidMode(mode) => format!(
                "Tasks using the Fargate launch type do not support pidMode '{mode}'; the supported value for pidMode is 'task'"
            ),
            Self::IpcMode => "Tasks using the Fargate launch type do not support ipcMode".into(),
            Self::NetworkMode(mode) => {
                format!("Fargate only supports network mode 'awsvpc', not '{mode}'")
            }
            Self::SystemControl(key) => format!(
                "Fargate compatible task definitions only support the namespaced kernel parameters {FARGATE_SYSCTLS}, not '{key}'"
            ),
            Self::HostnameInAwsvpc => {
                "hostname is not supported on container when networkMode=awsvpc".into()
            }
            Self::LinksInAwsvpc => "Links are not supported when networkMode=awsvpc".into(),
        }
    }

    /// Whether `berth up --allow-privileged` lifts it.
    fn lifted_by_allow_privileged(&self) -> bool {
        matches!(
            self,
            Self::NotSupported("privileged" | "sourcePath") | Self::AddCapability(_)
        )
    }
}

/// Why a task definition is refused for what it asks of the machine or of features berth does
/// not have. Each message names the field (and its container or volume) and says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// One of Fargate's restrictions.
    #[error("{}", fargate_message(rule, at, *requires_fargate))]
    Fargate {
        /// The rule.
        rule: FargateRule,
        /// Where.
        at: Location,
        /// Whether the definition requires FARGATE (else the message says why berth holds it
        /// to Fargate's rules anyway).
        requires_fargate: bool,
    },
    /// A field, or one value of it, berth does not act on.
    #[error("berth does not support {}{at} yet; remove it.", value.as_ref().map(|v| format!("the value '{v}' of ")).unwrap_or_default())]
    Unsupported {
        /// Where.
        at: Location,
        /// The value, when only some values are refused.
        value: Option<String>,
    },
    /// A capability ECS does not know.
    #[error(
        "Invalid capability '{name}' in {at}: valid values are {}.",
        KERNEL_CAPABILITIES.join(", ")
    )]
    InvalidCapability {
        /// Where.
        at: Location,
        /// What was given.
        name: String,
    },
    /// A `systemControls` entry without a namespace.
    #[error("A system control has no namespace: {at}. Give the kernel parameter to set.")]
    SystemControlWithoutNamespace {
        /// Where.
        at: Location,
    },
    /// Two containers (or one, twice) setting one kernel parameter to different values.
    #[error(
        "The system control '{namespace}' is set to '{first_value}' in container '{first}' and to '{second_value}' in container '{second}': the containers of a task share one network namespace, so give it one value."
    )]
    ConflictingSystemControl {
        /// The kernel parameter.
        namespace: String,
        /// The container that set it first.
        first: String,
        /// Its value there.
        first_value: String,
        /// The container that set it differently.
        second: String,
        /// Its value there.
        second_value: String,
    },
}

fn fargate_message(rule: &FargateRule, at: &Location, requires_fargate: bool) -> String {
    let mut message = format!("{}: {at}.", rule.words());
    if !requires_fargate {
        message.push_str(
            " berth runs every task as Fargate does, whatever requiresCompatibilities says",
        );
        if rule.lifted_by_allow_privileged() {
            message.push_str(
                "; to allow this on a trusted single-user machine, start berth with 'berth up --allow-privileged'.",
            );
        } else {
            message.push_str(
                " ('berth up --allow-privileged' lifts only privileged, capabilities.add and host sourcePath).",
            );
        }
    }
    message
}

/// Whether `definition` requires FARGATE.
pub fn requires_fargate(definition: &TaskDefinition) -> bool {
    definition
        .requires_compatibilities
        .as_deref()
        .unwrap_or_default()
        .contains(&Compatibility::Fargate)
}

/// Checks `definition` against Fargate's task restrictions, as `policy` relaxes them.
pub fn check(definition: &TaskDefinition, policy: RegistrationPolicy) -> Result<(), Refusal> {
    let requires_fargate = requires_fargate(definition);
    let refuse = |rule: FargateRule, at: Location| -> Result<(), Refusal> {
        if policy.allow_privileged && rule.lifted_by_allow_privileged() {
            return Ok(());
        }
        Err(Refusal::Fargate {
            rule,
            at,
            requires_fargate,
        })
    };
    let awsvpc = definition.network_mode == Some(NetworkMode::Awsvpc);
    // A FARGATE definition in another mode was refused before this check.
    if let Some(mode @ NetworkMode::Host) = definition.network_mode {
        refuse(
            FargateRule::NetworkMode(mode.to_string()),
            Location::task("networkMode"),
        )?;
    }
    match definition.pid_mode {
        Some(PidMode::Host) => refuse(
            FargateRule::PidMode(PidMode::Host.to_string()),
            Location::task("pidMode"),
        )?,
        // Fargate shares one PID namespace between the task's containers; berth gives each
        // container its own, so it cannot honour this yet.
        Some(PidMode::Task) => {
            return Err(Refusal::Unsupported {
                at: Location::task("pidMode"),
                value: Some(PidMode::Task.to_string()),
            });
        }
        None => {}
    }
    // Every value, `none` and `task` included: Fargate takes no ipcMode at all.
    if definition.ipc_mode.is_some() {
        refuse(FargateRule::IpcMode, Location::task("ipcMode"))?;
    }
    if let Some(os) = definition
        .runtime_platform
        .as_ref()
        .and_then(|p| p.operating_system_family)
        .filter(|os| *os != OSFamily::Linux)
    {
        return Err(Refusal::Unsupported {
            at: Location::task("runtimePlatform.operatingSystemFamily"),
            value: Some(os.to_string()),
        });
    }
    for (index, volume) in definition.volumes.iter().flatten().enumerate() {
        let name = volume.name.as_deref().unwrap_or_default();
        // A `host` without a sourcePath is a task-scoped volume, which Fargate provides.
        if volume
            .host
            .as_ref()
            .and_then(|h| h.source_path.as_deref())
            .is_some_and(|p| !p.is_empty())
        {
            refuse(
                FargateRule::NotSupported("sourcePath"),
                Location::volume(index, name, "host.sourcePath"),
            )?;
        }
    }
    // Kernel parameters by name: the first container to set each, and its value.
    let mut sysctls: HashMap<&str, (&str, &str)> = HashMap::new();
    for (index, container) in definition
        .container_definitions
        .iter()
        .flatten()
        .enumerate()
    {
        let name = container.name.as_deref().unwrap_or_default();
        let at = |field: &str| Location::container(index, name, field);
        if container.privileged == Some(true) {
            refuse(FargateRule::NotSupported("privileged"), at("privileged"))?;
        }
        // ECS refuses both in awsvpc; outside it berth names the task itself and has no
        // links between containers, which share one network namespace anyway.
        let hostname = container.hostname.as_deref().is_some_and(|h| !h.is_empty());
        let links = !container.links.as_deref().unwrap_or_default().is_empty();
        for (set, field, rule) in [
            (hostname, "hostname", FargateRule::HostnameInAwsvpc),
            (links, "links", FargateRule::LinksInAwsvpc),
        ] {
            match (set, awsvpc) {
                (false, _) => {}
                (true, true) => refuse(rule, at(field))?,
                (true, false) => {
                    return Err(Refusal::Unsupported {
                        at: at(field),
                        value: None,
                    });
                }
            }
        }
        let capabilities = container
            .linux_parameters
            .as_ref()
            .and_then(|l| l.capabilities.as_ref());
        if let Some(capabilities) = capabilities {
            let field = "linuxParameters.capabilities";
            for requested in capabilities.add.iter().flatten() {
                let Some(known) = capabilities::canonical(requested) else {
                    return Err(Refusal::InvalidCapability {
                        at: at(&format!("{field}.add")),
                        name: requested.clone(),
                    });
                };
                if known != FARGATE_ADDABLE {
                    refuse(
                        FargateRule::AddCapability(requested.clone()),
                        at(&format!("{field}.add")),
                    )?;
                }
            }
            for dropped in capabilities.drop.iter().flatten() {
                if capabilities::canonical(dropped).is_none() {
                    return Err(Refusal::InvalidCapability {
                        at: at(&format!("{field}.drop")),
                        name: dropped.clone(),
                    });
                }
            }
        }
        for requirement in container.resource_requirements.iter().flatten() {
            let parameter = match requirement.r#type {
                ResourceType::Gpu => "gpu",
                ResourceType::InferenceAccelerator => "inferenceAccelerators",
            };
            refuse(
                FargateRule::NotSupported(parameter),
                at("resourceRequirements"),
            )?;
        }
        for (j, control) in container.system_controls.iter().flatten().enumerate() {
            let at = at(&format!("systemControls[{j}].namespace"));
            let key = control.namespace.as_deref().unwrap_or_default();
            if key.is_empty() {
                return Err(Refusal::SystemControlWithoutNamespace { at });
            }
            match sysctls::scope(key) {
                SysctlScope::Network => {}
                // Fargate takes these; berth's node sets network ones only, so far.
                SysctlScope::Ipc => {
                    return Err(Refusal::Unsupported {
                        at,
                        value: Some(key.to_owned()),
                    });
                }
                SysctlScope::Host => refuse(FargateRule::SystemControl(key.to_owned()), at)?,
            }
            let value = control.value.as_deref().unwrap_or_default();
            match sysctls.get(key) {
                Some((first, first_value)) if *first_value != value => {
                    return Err(Refusal::ConflictingSystemControl {
                        namespace: key.to_owned(),
                        first: (*first).to_owned(),
                        first_value: (*first_value).to_owned(),
                        second: name.to_owned(),
                        second_value: value.to_owned(),
                    });
                }
                Some(_) => {}
                None => {
                    sysctls.insert(key, (name, value));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::task_definition::validate_and_normalize;

    /// The Fargate guide's task definition.
    fn guide() -> Value {
        json!({
            "family": "fargate-task",
            "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"],
            "cpu": "256",
            "memory": "512",
            "containerDefinitions": [{"name": "app", "image": "nginx"}]
        })
    }

    /// The guide's definition without `requiresCompatibilities`: what ECS would validate for
    /// EC2 only.
    fn ec2() -> Value {
        let mut doc = guide();
        doc.as_object_mut()
            .unwrap()
            .remove("requiresCompatibilities");
        doc
    }

    fn register(doc: Value, policy: RegistrationPolicy) -> Result<(), String> {
        let mut draft: TaskDefinition = serde_json::from_value(doc).expect("a task definition");
        validate_and_normalize(&mut draft, policy).map_err(|e| e.to_string())
    }

    const STRICT: RegistrationPolicy = RegistrationPolicy {
        allow_privileged: false,
    };
    const TRUSTED: RegistrationPolicy = RegistrationPolicy {
        allow_privileged: true,
    };

    fn container(doc: &mut Value) -> &mut Value {
        &mut doc["containerDefinitions"][0]
    }

    fn linux(doc: &mut Value, parameters: Value) {
        container(doc)["linuxParameters"] = parameters;
    }

    fn sysctl(doc: &mut Value, namespace: &str, value: &str) {
        container(doc)["systemControls"] = json!([{"namespace": namespace, "value": value}]);
    }

    /// `app` sets net.core.somaxconn to 1024, a second container `sidecar` sets `controls`.
    fn with_sidecar(doc: &mut Value, controls: Value) {
        sysctl(doc, "net.core.somaxconn", "1024");
        let sidecar = json!({"name": "sidecar", "image": "busybox", "systemControls": controls});
        doc["containerDefinitions"]
            .as_array_mut()
            .unwrap()
            .push(sidecar);
    }

    /// What a case expects: accepted, refused with exactly this message, or refused with a
    /// message containing this.
    enum Expect {
        Ok,
        Exactly(&'static str),
        Contains(&'static str),
    }
    use Expect::*;

    type Patch = fn(&mut Value);
    /// The definition a case starts from, how it changes it, the policy, what it expects.
    type Case = (fn() -> Value, Patch, RegistrationPolicy, Expect);

    /// One restriction per case: the definition it starts from, how it is changed, the policy,
    /// and what registration says.
    #[test]
    fn each_restriction_as_ecs_words_it() {
        #[rustfmt::skip]
        let cases: Vec<Case> = vec![
            (guide, |d| container(d)["privileged"] = json!(true), STRICT, Exactly("Fargate compatible task definitions do not support privileged: 'containerDefinitions[0].privileged' (container 'app').")),
            (guide, |d| container(d)["privileged"] = json!(true), TRUSTED, Ok),
            (guide, |d| container(d)["privileged"] = json!(false), STRICT, Ok),
            (ec2, |d| container(d)["privileged"] = json!(true), STRICT, Exactly("Fargate compatible task definitions do not support privileged: 'containerDefinitions[0].privileged' (container 'app'). berth runs every task as Fargate does, whatever requiresCompatibilities says; to allow this on a trusted single-user machine, start berth with 'berth up --allow-privileged'.")),
            (ec2, |d| container(d)["privileged"] = json!(true), TRUSTED, Ok),
            (guide, |d| linux(d, json!({"capabilities": {"add": ["SYS_ADMIN"]}})), STRICT, Exactly("Fargate compatible task definitions only support adding the SYS_PTRACE kernel capability, not 'SYS_ADMIN': 'containerDefinitions[0].linuxParameters.capabilities.add' (container 'app').")),
            (guide, |d| linux(d, json!({"capabilities": {"add": ["ALL"]}})), STRICT, Contains("only support adding the SYS_PTRACE kernel capability, not 'ALL'")),
            (guide, |d| linux(d, json!({"capabilities": {"add": ["SYS_PTRACE", "NET_ADMIN"]}})), STRICT, Contains("not 'NET_ADMIN'")),
            (guide, |d| linux(d, json!({"capabilities": {"add": ["SYS_ADMIN", "ALL"]}})), TRUSTED, Ok),
            (guide, |d| linux(d, json!({"capabilities": {"add": ["SYS_PTRACE"]}})), STRICT, Ok),
            (guide, |d| linux(d, json!({"capabilities": {"add": ["CAP_SYS_PTRACE"]}})), STRICT, Ok),
            (guide, |d| linux(d, json!({"capabilities": {"drop": ["ALL"]}})), STRICT, Ok),
            (guide, |d| linux(d, json!({"capabilities": {"drop": ["NET_RAW", "CAP_CHOWN"], "add": []}})), STRICT, Ok),
            (guide, |d| linux(d, json!({"capabilities": {"add": ["SUPERPOWER"]}})), TRUSTED, Contains("Invalid capability 'SUPERPOWER' in 'containerDefinitions[0].linuxParameters.capabilities.add' (container 'app'): valid values are ALL, AUDIT_CONTROL,")),
            (guide, |d| linux(d, json!({"capabilities": {"drop": ["NOPE"]}})), STRICT, Contains("Invalid capability 'NOPE' in 'containerDefinitions[0].linuxParameters.capabilities.drop'")),
            (guide, |d| d["volumes"] = json!([{"name": "root", "host": {"sourcePath": "/"}}]), STRICT, Exactly("Fargate compatible task definitions do not support sourcePath: 'volumes[0].host.sourcePath' (volume 'root').")),
            (ec2, |d| d["volumes"] = json!([{"name": "root", "host": {"sourcePath": "/"}}]), STRICT, Contains("do not support sourcePath: 'volumes[0].host.sourcePath' (volume 'root'). berth runs every task as Fargate does, whatever requiresCompatibilities says; to allow this on a trusted single-user machine, start berth with 'berth up --allow-privileged'.")),
            (guide, |d| d["volumes"] = json!([{"name": "root", "host": {"sourcePath": "/"}}]), TRUSTED, Ok),
            (guide, |d| d["volumes"] = json!([{"name": "scratch", "host": {}}, {"name": "empty", "host": {"sourcePath": ""}}, {"name": "plain"}]), STRICT, Ok),
            (guide, |d| linux(d, json!({"devices": [{"hostPath": "/dev/mem"}]})), TRUSTED, Exactly("Fargate compatible task definitions do not support devices: 'containerDefinitions[0].linuxParameters.devices' (container 'app').")),
            (ec2, |d| linux(d, json!({"devices": [{"hostPath": "/dev/mem"}]})), TRUSTED, Exactly("Fargate compatible task definitions do not support devices: 'containerDefinitions[0].linuxParameters.devices' (container 'app'). berth runs every task as Fargate does, whatever requiresCompatibilities says ('berth up --allow-privileged' lifts only privileged, capabilities.add and host sourcePath).")),
            (guide, |d| linux(d, json!({"sharedMemorySize": 256})), TRUSTED, Contains("do not support sharedMemorySize")),
            (guide, |d| linux(d, json!({"maxSwap": 512, "swappiness": 10})), TRUSTED, Contains("do not support maxSwap")),
            (guide, |d| linux(d, json!({"swappiness": 10})), TRUSTED, Contains("do not support swappiness")),
            (guide, |d| linux(d, json!({"tmpfs": [{"containerPath": "/run", "size": 16}]})), TRUSTED, Exactly("berth does not support 'containerDefinitions[0].linuxParameters.tmpfs' (container 'app') yet; remove it.")),
            (guide, |d| linux(d, json!({"initProcessEnabled": true, "capabilities": {}, "devices": [], "tmpfs": []})), STRICT, Ok),
            (guide, |d| d["networkMode"] = json!("host"), TRUSTED, Exactly("Fargate only supports network mode 'awsvpc'; this task definition's 'networkMode' is 'host'.")),
            (ec2, |d| d["networkMode"] = json!("host"), TRUSTED, Contains("Fargate only supports network mode 'awsvpc', not 'host': 'networkMode'. berth runs every task as Fargate does")),
            (guide, |d| container(d)["dockerSecurityOptions"] = json!(["seccomp=unconfined"]), TRUSTED, Exactly("Fargate compatible task definitions do not support dockerSecurityOptions: 'containerDefinitions[0].dockerSecurityOptions' (container 'app').")),
            (guide, |d| sysctl(d, "kernel.core_pattern", "|/tmp/x"), TRUSTED, Exactly("Fargate compatible task definitions only support the namespaced kernel parameters net.*, fs.mqueue.*, kernel.msgmax, kernel.msgmnb, kernel.msgmni, kernel.sem, kernel.shmall, kernel.shmmax, kernel.shmmni and kernel.shm_rmid_forced, not 'kernel.core_pattern': 'containerDefinitions[0].systemControls[0].namespace' (container 'app').")),
            (guide, |d| sysctl(d, "vm.overcommit_memory", "1"), STRICT, Contains("not 'vm.overcommit_memory'")),
            (guide, |d| sysctl(d, "net/../kernel/core_pattern", "x"), STRICT, Contains("not 'net/../kernel/core_pattern'")),
            (guide, |d| sysctl(d, "kernel.shmmax", "1000000"), STRICT, Exactly("berth does not support the value 'kernel.shmmax' of 'containerDefinitions[0].systemControls[0].namespace' (container 'app') yet; remove it.")),
            (guide, |d| sysctl(d, "fs.mqueue.msg_max", "100"), STRICT, Contains("berth does not support the value 'fs.mqueue.msg_max'")),
            (guide, |d| sysctl(d, "net.ipv4.tcp_keepalive_time", "600"), STRICT, Ok),
            (guide, |d| container(d)["systemControls"] = json!([{"value": "1"}]), STRICT, Exactly("A system control has no namespace: 'containerDefinitions[0].systemControls[0].namespace' (container 'app'). Give the kernel parameter to set.")),
            (guide, |d| with_sidecar(d, json!([{"namespace": "net.core.somaxconn", "value": "4096"}])), STRICT, Exactly("The system control 'net.core.somaxconn' is set to '1024' in container 'app' and to '4096' in container 'sidecar': the containers of a task share one network namespace, so give it one value.")),
            (guide, |d| with_sidecar(d, json!([{"namespace": "net.core.somaxconn", "value": "1024"}, {"namespace": "net.ipv4.tcp_fin_timeout", "value": "10"}])), STRICT, Ok),
            (guide, |d| container(d)["systemControls"] = json!([{"namespace": "net.core.somaxconn", "value": "1"}, {"namespace": "net.core.somaxconn", "value": "2"}]), STRICT, Contains("set to '1' in container 'app' and to '2' in container 'app'")),
            (guide, |d| d["pidMode"] = json!("host"), TRUSTED, Exactly("Tasks using the Fargate launch type do not support pidMode 'host'; the supported value for pidMode is 'task': 'pidMode'.")),
            (guide, |d| d["pidMode"] = json!("task"), STRICT, Exactly("berth does not support the value 'task' of 'pidMode' yet; remove it.")),
            (guide, |d| d["ipcMode"] = json!("host"), TRUSTED, Exactly("Tasks using the Fargate launch type do not support ipcMode: 'ipcMode'.")),
            (guide, |d| d["ipcMode"] = json!("none"), STRICT, Contains("do not support ipcMode")),
            (ec2, |d| d["ipcMode"] = json!("task"), STRICT, Contains("do not support ipcMode: 'ipcMode'. berth runs every task as Fargate does")),
            (guide, |d| container(d)["hostname"] = json!("web"), TRUSTED, Exactly("hostname is not supported on container when networkMode=awsvpc: 'containerDefinitions[0].hostname' (container 'app').")),
            (guide, |d| container(d)["hostname"] = json!(""), STRICT, Ok),
            (guide, |d| container(d)["links"] = json!(["db"]), STRICT, Exactly("Links are not supported when networkMode=awsvpc: 'containerDefinitions[0].links' (container 'app').")),
            (bridge, |d| container(d)["hostname"] = json!("web"), STRICT, Exactly("berth does not support 'containerDefinitions[0].hostname' (container 'app') yet; remove it.")),
            (bridge, |d| container(d)["links"] = json!(["db"]), STRICT, Exactly("berth does not support 'containerDefinitions[0].links' (container 'app') yet; remove it.")),
            (guide, |d| d["runtimePlatform"] = json!({"operatingSystemFamily": "WINDOWS_SERVER_2022_CORE"}), STRICT, Exactly("berth does not support the value 'WINDOWS_SERVER_2022_CORE' of 'runtimePlatform.operatingSystemFamily' yet; remove it.")),
            (guide, |d| d["runtimePlatform"] = json!({"operatingSystemFamily": "LINUX", "cpuArchitecture": "X86_64"}), STRICT, Ok),
            (guide, |d| container(d)["resourceRequirements"] = json!([{"type": "InferenceAccelerator", "value": "d"}]), TRUSTED, Contains("do not support inferenceAccelerators: 'containerDefinitions[0].resourceRequirements'")),
        ];
        for (i, (base, patch, policy, expect)) in cases.into_iter().enumerate() {
            let mut doc = base();
            patch(&mut doc);
            let result = register(doc, policy);
            match (expect, &result) {
                (Ok, Result::Ok(())) => {}
                (Exactly(message), Err(got)) if got == message => {}
                (Contains(phrase), Err(got)) if got.contains(phrase) => {}
                (_, result) => panic!("case {i}: {result:?}"),
            }
        }
    }

    /// An EC2 definition in bridge mode (no task size: container memory instead).
    fn bridge() -> Value {
        json!({
            "family": "classic",
            "containerDefinitions": [{"name": "app", "image": "nginx", "memory": 128}]
        })
    }
}

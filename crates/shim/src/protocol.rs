//! The supervisor protocol's versions. The agent and a task's supervisor speak through three
//! things: the task plan the agent writes (`plan.json`, [`TaskPlan`]), the supervisor's state
//! (`state.json`, and the same JSON, one object a line, on `shim.sock`: [`ShimState`]), and the
//! agent's requests on that socket ([`crate::Request`]). Supervisors outlive berth by design,
//! so after an upgrade a new agent finds supervisors of the old code still running — from the
//! old binary, in memory — and must adopt them; this module is what lets it.
//!
//! **The version.** Plan and state carry `version` ([`VERSION`], today 2). Version 1 is the
//! format from before versioning: no `version` field, the stop cause and the containers'
//! reasons as ECS's strings (`{"code": ..., "reason": ...}`), worded by the supervisor
//! ([`v1`]). Version 2 made them typed ([`crate::StopCause`], [`crate::ContainerReason`]),
//! which the agent words.
//!
//! **What bumps it.** Any change that a reader of the previous version would misread or
//! silently ignore: a field removed, renamed or retyped; a variant added to a type a reader
//! must understand (stop causes, container reasons, phases, statuses); a plan field the
//! supervisor must act on (an older supervisor would run the task without it). A field a
//! reader may ignore with no harm (a diagnostic) may be added without a bump. A bump adds
//! the previous version's shapes here as a read-only module, as [`v1`] is.
//!
//! **A newer agent, an older supervisor.** The agent reads states of every version from 1 to
//! its own ([`read_state`], [`load_state`]): it adopts the supervisor and reports what it
//! recorded (a version-1 stop passes through as the strings it wrote). A state of a version
//! it does not know (berth was downgraded under a newer supervisor) it cannot read: it asks
//! the supervisor to stop, which every version understands (below), and reports the task
//! stopped with a reason that says so.
//!
//! **A newer supervisor, an older plan.** A supervisor runs plans of every version from 1 to
//! its own ([`read_plan`]): version 1 plans have exactly version 2's fields, so they run as
//! they are (the case of an old berth that started `berth shim` from the new binary just
//! installed). It always writes its own version of the state, whatever the plan's. A plan of
//! a newer version it refuses: it records the task stopped, [`crate::StopCause::PlanUnusable`].
//!
//! **Requests** carry no version: `"stop"` and `"go"` are encoded as in version 1 and must
//! stay so, since a newer agent must be able to stop any older supervisor. A new request is a
//! new variant (an older supervisor logs a line it cannot read and ignores it), never a new
//! encoding of these two.
//!
//! The hand-off to a warm supervisor ([`crate::handoff`]) is unversioned: an agent hands tasks
//! only to supervisors it started itself, from its own binary. (A binary replaced while berth
//! runs breaks that: supervisors the old berth starts from the new binary write states it
//! cannot read. Upgrade with berth stopped, or restart it at once; the new berth adopts them.)

use std::path::Path;

use serde::Deserialize;

use crate::ShimError;
use crate::plan::TaskPlan;
use crate::state::ShimState;

/// The protocol version this build speaks, and the newest it reads (defined at the crate's
/// root, so that the shapes the versions describe need not depend on this module).
pub use crate::PROTOCOL_VERSION as VERSION;

/// The version of a plan or state without a `version` field.
pub use crate::FIRST_PROTOCOL_VERSION as FIRST_VERSION;

/// Only the version of a plan or state, read before the rest: a document of an unknown
/// version may not parse as any shape this build knows.
#[derive(Deserialize)]
struct Versioned {
    #[serde(default)]
    version: Option<u32>,
}

/// A supervisor's state, of one of the versions this build reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnyState {
    /// This version's.
    Current(ShimState),
    /// Version 1's: a supervisor started by a berth from before versioning.
    V1(v1::ShimState),
}

impl AnyState {
    /// Where the task is.
    pub fn phase(&self) -> crate::Phase {
        match self {
            AnyState::Current(state) => state.phase,
            AnyState::V1(state) => state.phase,
        }
    }
}

/// Why a state could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Of a version this build does not read (a newer supervisor, under a downgraded berth).
    #[error(
        "its supervisor speaks protocol version {version}; this berth reads versions \
         {FIRST_VERSION} to {VERSION}"
    )]
    Unsupported {
        /// The version it names.
        version: u32,
    },
    /// Not a state of the version it names.
    #[error("not a supervisor state: {0}")]
    Malformed(#[from] serde_json::Error),
}

/// The state in `bytes` (a line from the socket, or `state.json`), of whichever version.
pub fn read_state(bytes: &[u8]) -> Result<AnyState, StateError> {
    let Versioned { version } = serde_json::from_slice(bytes)?;
    match version.unwrap_or(FIRST_VERSION) {
        FIRST_VERSION => Ok(AnyState::V1(serde_json::from_slice(bytes)?)),
        VERSION => Ok(AnyState::Current(serde_json::from_slice(bytes)?)),
        version => Err(StateError::Unsupported { version }),
    }
}

/// The state last saved at `path`, of whichever version; `None` when there is no such file.
pub fn load_state(path: &Path) -> Option<Result<AnyState, StateError>> {
    let bytes = std::fs::read(path).ok()?;
    Some(read_state(&bytes))
}

/// The plan in `bytes`, of any version from [`FIRST_VERSION`] to [`VERSION`].
pub fn read_plan(bytes: &[u8]) -> Result<TaskPlan, ShimError> {
    let Versioned { version } = serde_json::from_slice(bytes)?;
    match version.unwrap_or(FIRST_VERSION) {
        // Version 1 has version 2's fields; its `version` reads as 1.
        FIRST_VERSION..=VERSION => Ok(serde_json::from_slice(bytes)?),
        version => Err(ShimError::PlanVersion { version }),
    }
}

/// The plan at `path` (see [`read_plan`]).
pub fn load_plan(path: &Path) -> Result<TaskPlan, ShimError> {
    read_plan(&std::fs::read(path).map_err(ShimError::PlanUnreadable)?)
}

/// Version 1 of the state, as supervisors wrote it before the protocol was versioned: no
/// `version` field, and the stop and the containers' reasons already in the words the agent
/// reports (stop code and reason strings). Read only: no supervisor writes it any more.
pub mod v1 {
    use serde::{Deserialize, Serialize};

    use crate::{ContainerStatus, Phase};

    /// Everything a version-1 supervisor observed about its task.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct ShimState {
        /// The supervisor's process.
        pub shim_pid: u32,
        /// Where the task is.
        pub phase: Phase,
        /// Its containers, in the plan's order.
        pub containers: Vec<ContainerState>,
        /// Why it is stopping, once it is.
        pub stop: Option<StopCause>,
    }

    /// One container, as a version-1 supervisor observed it.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct ContainerState {
        /// Its name.
        pub name: String,
        /// Its status.
        pub status: ContainerStatus,
        /// Its init process, in the host's PID namespace, once started.
        pub pid: Option<i32>,
        /// Its exit code, once exited.
        pub exit_code: Option<i32>,
        /// Why it stopped, worded for the user.
        pub reason: Option<String>,
        /// When it started, milliseconds since the epoch.
        pub started_at_ms: Option<i64>,
        /// When it exited.
        pub stopped_at_ms: Option<i64>,
    }

    /// Why the task is stopping, worded for the user: a stop code and a reason.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct StopCause {
        /// The stop code.
        pub code: String,
        /// The stopped reason.
        pub reason: String,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ContainerReason, ContainerState, ContainerStatus, Phase, StopCause};

    /// A state line exactly as a version-1 supervisor wrote it.
    const V1_STOPPED: &str = r#"{"shimPid":77,"phase":"STOPPED","containers":[{"name":"app","status":"STOPPED","pid":4242,"exitCode":137,"reason":"OutOfMemoryError: Container killed due to memory usage","startedAtMs":1,"stoppedAtMs":2}],"stop":{"code":"EssentialContainerExited","reason":"Essential container in task exited"}}"#;

    #[test]
    fn a_version_1_state_reads_as_its_strings() {
        let AnyState::V1(state) = read_state(V1_STOPPED.as_bytes()).unwrap() else {
            panic!("not read as version 1")
        };
        assert_eq!(state.phase, Phase::Stopped);
        assert_eq!(
            state.containers[0].reason.as_deref(),
            Some("OutOfMemoryError: Container killed due to memory usage")
        );
        assert_eq!(state.stop.unwrap().code, "EssentialContainerExited");
        // This version's reader alone does not take it for one of its own.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, V1_STOPPED).unwrap();
        assert_eq!(ShimState::load(&path), None);
        assert!(matches!(load_state(&path), Some(Ok(AnyState::V1(_)))));
    }

    #[test]
    fn this_versions_state_is_tagged_and_reads_back() {
        let state = ShimState {
            version: VERSION,
            shim_pid: 77,
            phase: Phase::Stopping,
            containers: vec![ContainerState {
                name: "app".into(),
                status: ContainerStatus::Stopped,
                pid: Some(4242),
                exit_code: Some(137),
                reason: Some(ContainerReason::OutOfMemory),
                started_at_ms: Some(1),
                stopped_at_ms: Some(2),
            }],
            stop: Some(StopCause::EssentialContainerExited {
                container: "app".into(),
            }),
        };
        let line = serde_json::to_string(&state).unwrap();
        // The wire form is the protocol: these are what older and newer readers see.
        assert!(line.starts_with(r#"{"version":2,"#), "{line}");
        assert!(
            line.contains(r#""reason":{"kind":"outOfMemory"}"#),
            "{line}"
        );
        assert!(
            line.contains(r#""stop":{"kind":"essentialContainerExited","container":"app"}"#),
            "{line}"
        );
        assert_eq!(
            read_state(line.as_bytes()).unwrap(),
            AnyState::Current(state)
        );
        let failed = serde_json::to_string(&StopCause::StartFailed {
            container: "app".into(),
            error: "exec: no such file".into(),
        })
        .unwrap();
        assert_eq!(
            failed,
            r#"{"kind":"startFailed","container":"app","error":"exec: no such file"}"#
        );
    }

    #[test]
    fn a_state_of_an_unknown_version_is_refused_by_its_number() {
        // Whatever else changed in it: the version is read first.
        let newer = br#"{"version":3,"phase":{"something":"else"}}"#;
        let error = read_state(newer).unwrap_err();
        assert!(matches!(error, StateError::Unsupported { version: 3 }));
        assert_eq!(
            error.to_string(),
            "its supervisor speaks protocol version 3; this berth reads versions 1 to 2"
        );
        assert!(matches!(
            read_state(b"not json"),
            Err(StateError::Malformed(_))
        ));
    }

    #[test]
    fn plans_of_version_1_run_as_they_are_and_newer_ones_are_refused() {
        let plan = TaskPlan {
            version: VERSION,
            task_id: "t1".into(),
            hostname: "ip-10-0-0-2".into(),
            state_root: "/run/containers".into(),
            stop_timeout_ms: 30_000,
            log_max_bytes: 1 << 20,
            log_max_files: 2,
            containers: Vec::new(),
            network: None,
            hold: false,
        };
        let mut document = serde_json::to_value(&plan).unwrap();
        assert_eq!(document["version"], 2);
        document.as_object_mut().unwrap().remove("version");
        let v1 = serde_json::to_vec(&document).unwrap();
        let read = read_plan(&v1).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json");
        std::fs::write(&path, &v1).unwrap();
        assert_eq!(load_plan(&path).unwrap().task_id, "t1");
        assert_eq!(read.version, FIRST_VERSION);
        assert_eq!(read.task_id, "t1");
        document["version"] = 3.into();
        let error = read_plan(&serde_json::to_vec(&document).unwrap()).unwrap_err();
        assert!(
            matches!(error, ShimError::PlanVersion { version: 3 }),
            "{error}"
        );
    }
}

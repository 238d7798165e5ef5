//! The container's process, as libcontainer's executor runs it, with berth's check of its
//! executable first. libcontainer's own check runs inside the container (after its root
//! filesystem is in place, before the start) and can only hand a string back across the
//! process boundary, worded for youki (`executable '/bin/x' not found in $PATH`, even for a
//! path); berth's check sends its typed [`ExecutableError`] as JSON instead, and
//! [`ExecutableError::recognize`] reads it back on the other side, so the task's stop reason
//! says what is wrong and nothing else.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use oci_spec::runtime::Spec;

/// Marks berth's message among libcontainer's words around it.
const MARKER: &str = "berth-executable:";

/// Why a container's process cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum ExecutableError {
    /// A path (it has a '/') to nothing in the container.
    #[error("executable '{executable}' not found")]
    NotFound {
        /// As the command names it.
        executable: String,
    },
    /// A bare name found in no directory of the container's `PATH`.
    #[error("executable '{executable}' not found in $PATH")]
    NotOnPath {
        /// As the command names it.
        executable: String,
    },
    /// Found, but a directory or without execute permission.
    #[error("executable '{executable}' ({path}) is not an executable file")]
    NotExecutable {
        /// As the command names it.
        executable: String,
        /// Where it was found.
        path: String,
    },
}

impl ExecutableError {
    /// The error berth's check sent, if `message` (libcontainer's, around it) carries one.
    pub fn recognize(message: &str) -> Option<Self> {
        let (_, json) = message.split_once(MARKER)?;
        // The first JSON value after the marker: libcontainer's words may follow it.
        serde_json::Deserializer::from_str(json)
            .into_iter()
            .next()?
            .ok()
    }

    fn to_message(&self) -> String {
        // Serializing a plain enum of strings cannot fail; the words are the fallback.
        serde_json::to_string(self).map_or_else(|_| self.to_string(), |j| format!("{MARKER}{j}"))
    }
}

/// libcontainer's default executor, whose check is berth's.
#[derive(Clone)]
pub(crate) struct Workload;

impl Executor for Workload {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        DefaultExecutor {}.exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        let Some(process) = spec.process() else {
            return Err(ExecutorValidationError::ArgValidationError(
                "the spec has no process".into(),
            ));
        };
        let Some(executable) = process.args().as_ref().and_then(|a| a.first()) else {
            return Ok(());
        };
        let path = process
            .env()
            .as_ref()
            .and_then(|env| env.iter().find_map(|e| e.strip_prefix("PATH=")))
            .unwrap_or_default();
        check(executable, path)
            .map(drop)
            .map_err(|error| ExecutorValidationError::ArgValidationError(error.to_message()))
    }
}

/// Finds `executable` as `execvp` would (in the container: the check runs there, in the
/// process's working directory) and checks that it can be run.
fn check(executable: &str, path: &str) -> Result<PathBuf, ExecutableError> {
    let found = if executable.contains('/') {
        Some(PathBuf::from(executable)).filter(|p| p.exists())
    } else {
        path.split(':')
            .filter(|dir| !dir.is_empty())
            .map(|dir| Path::new(dir).join(executable))
            .find(|p| p.exists())
    };
    let Some(found) = found else {
        return Err(if executable.contains('/') {
            ExecutableError::NotFound {
                executable: executable.to_owned(),
            }
        } else {
            ExecutableError::NotOnPath {
                executable: executable.to_owned(),
            }
        });
    };
    let runnable =
        std::fs::metadata(&found).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if !runnable {
        return Err(ExecutableError::NotExecutable {
            executable: executable.to_owned(),
            path: found.display().to_string(),
        });
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executables_are_found_as_execvp_finds_them_and_errors_survive_the_trip() {
        let dir = tempfile::tempdir().unwrap();
        let tool = dir.path().join("tool");
        std::fs::write(&tool, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        let data = dir.path().join("data");
        std::fs::write(&data, "").unwrap();
        let path = format!("/nonexistent:{}", dir.path().display());
        assert_eq!(check("tool", &path).unwrap(), tool);
        assert_eq!(check(tool.to_str().unwrap(), "").unwrap(), tool);
        let cases = [
            (
                check("/bin/nonexistent-berth", &path),
                "executable '/bin/nonexistent-berth' not found",
            ),
            (
                check("nonexistent-berth", &path),
                "executable 'nonexistent-berth' not found in $PATH",
            ),
        ];
        for (result, words) in cases {
            let error = result.unwrap_err();
            assert_eq!(error.to_string(), words);
            // As libcontainer hands it back: inside its own words.
            let relayed = format!(
                "exec process failed with error error in executing process : {}",
                error.to_message()
            );
            assert_eq!(ExecutableError::recognize(&relayed), Some(error.clone()));
            let twice = format!("{relayed}: {relayed}");
            assert_eq!(ExecutableError::recognize(&twice), Some(error));
        }
        assert!(matches!(
            check("data", &path),
            Err(ExecutableError::NotExecutable { .. })
        ));
        assert!(matches!(
            check(dir.path().to_str().unwrap(), ""),
            Err(ExecutableError::NotExecutable { .. })
        ));
        assert_eq!(ExecutableError::recognize("something else"), None);
    }
}

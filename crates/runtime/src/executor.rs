//! Running a container with youki's `libcontainer`, in-process: write the bundle, create and
//! start the container, wait for its init process, delete it. Blocking calls throughout: the
//! caller runs them on a dedicated thread, never on the async reactor.

use std::path::{Path, PathBuf};

use libcontainer::container::Container;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use oci_spec::runtime::Spec;

/// Why a container could not be run.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// The bundle could not be written.
    #[error("cannot write the container bundle at {path}")]
    Bundle {
        /// The bundle directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// libcontainer refused or failed.
    #[error("the container runtime failed to {action} container {id}: {reason}")]
    Runtime {
        /// create, start, delete...
        action: &'static str,
        /// The container.
        id: String,
        /// libcontainer's words.
        reason: String,
    },
    /// Waiting for the process failed.
    #[error("cannot wait for container {id}")]
    Wait {
        /// The container.
        id: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Held while libcontainer creates and starts a container (see [`start_with`]).
static CREATE_AND_START: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A created and started container.
pub struct Started {
    container: Container,
    /// Its init process, in the host's PID namespace.
    pub pid: i32,
}

/// Where a container's standard output and error go (inherited from berth when `None`).
#[derive(Default)]
pub struct Stdio {
    /// stdout.
    pub stdout: Option<std::os::fd::OwnedFd>,
    /// stderr.
    pub stderr: Option<std::os::fd::OwnedFd>,
}

/// Writes `spec` as `bundle/config.json`, then creates and starts container `id` with its
/// state under `state_root`; its output goes where berth's goes.
pub fn start(
    id: &str,
    state_root: &Path,
    bundle: &Path,
    spec: &Spec,
) -> Result<Started, ExecutorError> {
    start_with(id, state_root, bundle, spec, Stdio::default())
}

/// Like [`start`], with the container's output going to `stdio`.
pub fn start_with(
    id: &str,
    state_root: &Path,
    bundle: &Path,
    spec: &Spec,
    stdio: Stdio,
) -> Result<Started, ExecutorError> {
    let bundle_error = |source| ExecutorError::Bundle {
        path: bundle.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(bundle).map_err(bundle_error)?;
    std::fs::create_dir_all(state_root).map_err(bundle_error)?;
    spec.save(bundle.join("config.json"))
        .map_err(|e| bundle_error(std::io::Error::other(e.to_string())))?;
    let runtime = |action: &'static str| {
        move |error: libcontainer::error::LibcontainerError| ExecutorError::Runtime {
            action,
            id: id.to_owned(),
            reason: error.to_string(),
        }
    };
    // libcontainer changes the process's working directory to reach a container's notify
    // socket by a short relative path, both when creating and when starting it: two
    // containers started at once from one process would race for it.
    let _one_at_a_time = CREATE_AND_START
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut builder = ContainerBuilder::new(id.to_owned(), SyscallType::default())
        .with_root_path(state_root)
        .map_err(runtime("create"))?;
    if let Some(stdout) = stdio.stdout {
        builder = builder.with_stdout(stdout);
    }
    if let Some(stderr) = stdio.stderr {
        builder = builder.with_stderr(stderr);
    }
    let mut container = builder
        .as_init(bundle)
        .with_systemd(false)
        .with_detach(false)
        .build()
        .map_err(runtime("create"))?;
    if let Err(error) = container.start() {
        // Created but not started: its init process waits for a start that will not come.
        let _ = container.delete(true);
        return Err(runtime("start")(error));
    }
    let pid = container
        .pid()
        .map(|p| p.as_raw())
        .ok_or_else(|| ExecutorError::Runtime {
            action: "start",
            id: id.to_owned(),
            reason: "no init process".into(),
        })?;
    Ok(Started { container, pid })
}

impl Started {
    /// Waits for the init process to exit; returns its exit code (128 + signal when killed).
    pub fn wait(&self) -> Result<i32, ExecutorError> {
        let pid = rustix::process::Pid::from_raw(self.pid).ok_or_else(|| ExecutorError::Wait {
            id: self.container.id().to_owned(),
            source: std::io::Error::other("invalid pid"),
        })?;
        loop {
            match rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty()) {
                Ok(Some((_, status))) => {
                    if let Some(code) = status.exit_status() {
                        return Ok(code);
                    }
                    if let Some(signal) = status.terminating_signal() {
                        return Ok(128 + signal);
                    }
                }
                Ok(None) => {}
                Err(rustix::io::Errno::INTR) => {}
                Err(error) => {
                    return Err(ExecutorError::Wait {
                        id: self.container.id().to_owned(),
                        source: error.into(),
                    });
                }
            }
        }
    }

    /// Deletes the container (its cgroup and state), killing what is left of it.
    pub fn delete(mut self) -> Result<(), ExecutorError> {
        let id = self.container.id().to_owned();
        self.container
            .delete(true)
            .map_err(|error| ExecutorError::Runtime {
                action: "delete",
                id,
                reason: error.to_string(),
            })
    }
}

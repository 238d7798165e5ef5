//! Running a container with youki's `libcontainer`, in-process: write the bundle, create the
//! container, start it (at once, or later: a created container waits), wait for its init
//! process, delete it. Blocking calls throughout: the
//! caller runs them on a dedicated thread, never on the async reactor.

use std::path::{Path, PathBuf};

use libcontainer::container::Container;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use oci_spec::runtime::Spec;

use crate::workload::{ExecutableError, Workload};

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
    /// The container's process cannot be run: its executable is missing or cannot be run.
    #[error(transparent)]
    Executable(#[from] ExecutableError),
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
    create_with(id, state_root, bundle, spec, stdio)?.start()
}

/// A created container: its init process waits, in the container's namespaces and root
/// filesystem, for [`Created::start`] to run the container's process.
pub struct Created {
    container: Container,
}

/// Writes `spec` as `bundle/config.json` and creates container `id` (state under
/// `state_root`, output to `stdio`) without starting it.
pub fn create_with(
    id: &str,
    state_root: &Path,
    bundle: &Path,
    spec: &Spec,
    stdio: Stdio,
) -> Result<Created, ExecutorError> {
    let bundle_error = |source| ExecutorError::Bundle {
        path: bundle.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(bundle).map_err(bundle_error)?;
    std::fs::create_dir_all(state_root).map_err(bundle_error)?;
    spec.save(bundle.join("config.json"))
        .map_err(|e| bundle_error(std::io::Error::other(e.to_string())))?;
    let _one_at_a_time = one_at_a_time();
    let mut builder = ContainerBuilder::new(id.to_owned(), SyscallType::default())
        .with_root_path(state_root)
        .map_err(runtime_error("create", id))?
        .with_executor(Workload);
    if let Some(stdout) = stdio.stdout {
        builder = builder.with_stdout(stdout);
    }
    if let Some(stderr) = stdio.stderr {
        builder = builder.with_stderr(stderr);
    }
    let container = builder
        .as_init(bundle)
        .with_systemd(false)
        .with_detach(false)
        .build()
        .map_err(runtime_error("create", id))?;
    Ok(Created { container })
}

impl Created {
    /// Runs the container's process.
    pub fn start(mut self) -> Result<Started, ExecutorError> {
        let id = self.container.id().to_owned();
        let started = {
            let _one_at_a_time = one_at_a_time();
            self.container.start()
        };
        if let Err(error) = started {
            // Created but not started: its init process waits for a start that will not come.
            let _ = self.container.delete(true);
            return Err(runtime_error("start", &id)(error));
        }
        let pid =
            self.container
                .pid()
                .map(|p| p.as_raw())
                .ok_or_else(|| ExecutorError::Runtime {
                    action: "start",
                    id,
                    reason: "no init process".into(),
                })?;
        Ok(Started {
            container: self.container,
            pid,
        })
    }

    /// Deletes the container without running it (its init process is killed).
    pub fn delete(mut self) -> Result<(), ExecutorError> {
        let id = self.container.id().to_owned();
        self.container
            .delete(true)
            .map_err(runtime_error("delete", &id))
    }
}

/// libcontainer changes the process's working directory to reach a container's notify
/// socket by a short relative path, both when creating and when starting it: two containers
/// created or started at once from one process would race for it.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    CREATE_AND_START
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn runtime_error(
    action: &'static str,
    id: &str,
) -> impl Fn(libcontainer::error::LibcontainerError) -> ExecutorError {
    let id = id.to_owned();
    move |error| {
        // berth's check of the executable, relayed by libcontainer inside its own words.
        let mut words = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            words.push_str(": ");
            words.push_str(&cause.to_string());
            source = cause.source();
        }
        if let Some(executable) = ExecutableError::recognize(&words) {
            return ExecutorError::Executable(executable);
        }
        ExecutorError::Runtime {
            action,
            id: id.clone(),
            reason: error.to_string(),
        }
    }
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
            .map_err(runtime_error("delete", &id))
    }
}

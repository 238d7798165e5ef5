//! A container's thread, and the loop's handle on it. libcontainer's handles stay on the thread
//! that made them, so one thread per container creates it, starts it (at once, or on the
//! agent's go when the plan holds), pipes its output into its log, waits for it, and deletes it
//! when the loop says; the loop keeps a [`Worker`]: the orders it can still give that thread.
//! Everything the thread observes goes back to the loop as an [`Event`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};

use berth_logs::{LogLimits, LogWriter, Stream, pump};
use berth_runtime::cgroups;
use berth_runtime::executor::{self, Stdio};
use berth_runtime::spec::OciSpec;

use crate::error_chain;
use crate::events::Event;
use crate::plan::PlannedContainer;
use crate::sandbox;

/// The loop's end of a container's thread.
#[derive(Debug)]
pub(crate) struct Worker {
    /// Tells the thread to delete the container once it has exited. Dropped, it means the
    /// same: the thread never outlives the loop's interest in it.
    delete: Sender<()>,
    /// While the plan holds: tells the thread to start the created container (`true`) or to
    /// delete it unstarted. Taken once told.
    go: Option<Sender<bool>>,
}

/// The thread's end of a [`Worker`].
pub(crate) struct Orders {
    /// When to delete the container.
    pub(crate) deletion: Receiver<()>,
    /// When the plan holds: whether to start the created container or delete it unstarted.
    pub(crate) go: Option<Receiver<bool>>,
}

impl Worker {
    /// A worker and its thread's orders; `held`: the thread waits for a go before it starts.
    pub(crate) fn channels(held: bool) -> (Self, Orders) {
        let (delete, deletion) = mpsc::channel();
        let (go, wait) = if held {
            let (go, wait) = mpsc::channel();
            (Some(go), Some(wait))
        } else {
            (None, None)
        };
        (Self { delete, go }, Orders { deletion, go: wait })
    }

    /// Tells a held container's thread to start it (`start`) or to delete it unstarted. Only
    /// the first word counts.
    pub(crate) fn release(&mut self, start: bool) {
        if let Some(go) = self.go.take() {
            // A thread that is gone (its creation failed) has said so with its own event.
            let _ = go.send(start);
        }
    }

    /// Tells the thread to delete its exited container; false when the thread is gone, so no
    /// `Deleted` will come.
    pub(crate) fn delete(&self) -> bool {
        self.delete.send(()).is_ok()
    }
}

/// What a container's thread needs.
pub(crate) struct Job {
    /// Its place in the plan, named in every event.
    pub(crate) index: usize,
    /// The container.
    pub(crate) container: PlannedContainer,
    /// Its spec, in the sandbox's namespaces.
    pub(crate) spec: OciSpec,
    /// The sysctls it asks of the sandbox's namespaces, set just before it is created.
    pub(crate) sysctls: BTreeMap<String, String>,
    /// libcontainer's state directory.
    pub(crate) state_root: PathBuf,
    /// Its log's rotation.
    pub(crate) limits: LogLimits,
    /// The loop.
    pub(crate) events: Sender<Event>,
}

/// Starts `job`'s thread and returns once the container's creation is over (made or failed;
/// with `held`, it then waits for [`Worker::release`]).
pub(crate) fn spawn(job: Job, held: bool) -> std::io::Result<Worker> {
    let (worker, orders) = Worker::channels(held);
    // libcontainer forks while it creates the container; a child of a process whose other
    // threads may hold a lock at that moment can deadlock on it (seen once: a container's
    // intermediate process stuck on a futex). This thread — the busiest other one — waits,
    // holding nothing, until the container thread says creation is over.
    let (created, creation_over) = mpsc::channel::<()>();
    std::thread::Builder::new()
        .name(format!("container-{}", job.container.name))
        .spawn(move || run_container(job, orders, created))?;
    let _ = creation_over.recv();
    Ok(worker)
}

/// A container's thread: start it with its output piped into its log, wait for it, and
/// delete it when the supervisor says so. `created` is dropped once creation is over.
fn run_container(job: Job, orders: Orders, created: Sender<()>) {
    let Job {
        index,
        container,
        spec,
        sysctls,
        state_root,
        limits,
        events,
    } = job;
    let Orders { deletion, go } = orders;
    let container = &container;
    let events = &events;
    let failed = |error: String| {
        let _ = events.send(Event::StartFailed { index, error });
    };
    let log = match LogWriter::open(&container.log, limits) {
        Ok(log) => Arc::new(Mutex::new(log)),
        Err(error) => {
            return failed(format!(
                "cannot open the log {}: {error}",
                container.log.display()
            ));
        }
    };
    let pipes = std::io::pipe().and_then(|out| Ok((out, std::io::pipe()?)));
    let ((out_read, out_write), (err_read, err_write)) = match pipes {
        Ok(pipes) => pipes,
        Err(error) => return failed(format!("cannot create pipes: {error}")),
    };
    let pumps = [(out_read, Stream::Stdout), (err_read, Stream::Stderr)].map(|(read, stream)| {
        let log = log.clone();
        std::thread::spawn(move || pump(read, stream, &log))
    });
    let stdio = Stdio {
        stdout: Some(out_write.into()),
        stderr: Some(err_write.into()),
    };
    // In the sandbox's namespaces, which this thread is in: the last container created
    // decides a sysctl two of them set, as the last started does in ECS.
    if let Err(error) = sandbox::set_sysctls(&sysctls) {
        failed(error.to_string());
        let _ = std::fs::write(&container.exited_marker, b"");
        return;
    }
    let created_container = executor::create_with(
        &container.runtime_id,
        &state_root,
        &container.bundle,
        &spec,
        stdio,
    );
    // Creation is over (either way): the supervisor's loop may go on.
    drop(created);
    let started = created_container.and_then(|created| match go.map(|go| go.recv()) {
        None | Some(Ok(true)) => created.start().map(Some),
        // Stopped while held (or the supervisor's loop is gone): never run.
        Some(_) => {
            if let Err(error) = created.delete() {
                tracing::warn!(%error, container = %container.name, "cannot delete a container");
            }
            Ok(None)
        }
    });
    let started = match started {
        Ok(None) => {
            let _ = std::fs::write(&container.exited_marker, b"");
            let _ = events.send(Event::NotStarted { index });
            return;
        }
        Ok(Some(started)) => started,
        Err(error) => {
            failed(error_chain(&error));
            // Nothing ran, so nothing is left to log; the pumps end with the pipes.
            let _ = std::fs::write(&container.exited_marker, b"");
            return;
        }
    };
    tracing::debug!(container = %container.name, "started");
    let _ = events.send(Event::Started {
        index,
        pid: started.pid,
    });
    let code = started.wait().unwrap_or(255);
    // Read before the container and its cgroup are deleted.
    let oom =
        code == 137 && cgroups::oom_killed(Path::new(cgroups::CGROUP_ROOT), &container.cgroup);
    tracing::debug!(container = %container.name, code, "exited");
    let _ = events.send(Event::Exited { index, code, oom });
    // The container's PID namespace died with its init: every writer of the pipes is gone.
    finish_log(pumps, container);
    let _ = deletion.recv();
    if let Err(error) = started.delete() {
        tracing::warn!(%error, container = %container.name, "cannot delete a container");
    }
    tracing::debug!(container = %container.name, "deleted");
    let _ = events.send(Event::Deleted);
}

fn finish_log(pumps: [std::thread::JoinHandle<()>; 2], container: &PlannedContainer) {
    for pump in pumps {
        let _ = pump.join();
    }
    let _ = std::fs::write(&container.exited_marker, b"");
}

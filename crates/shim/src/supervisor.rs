//! The supervisor's loop. One thread per container starts it, waits for it and deletes it
//! (libcontainer's handles stay on the thread that made them); one more accepts the agent's
//! connections. Everything they observe comes to the loop as an [`Event`]; the loop alone
//! decides (dependencies, essential exits, stop and kill) and publishes the resulting state.

use std::io::{BufRead, BufReader};
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use berth_logs::{LogLimits, LogWriter, Stream, pump};
use berth_runtime::cgroups;
use berth_runtime::executor::{self, Stdio};
use berth_runtime::spec::join_sandbox;
use berth_sys::{LinuxMounter, Mounter, OverlayMount};

use crate::deps::{Readiness, readiness};
use crate::plan::{PlannedContainer, TaskPlan};
use crate::sandbox::{self, Sandbox};
use crate::state::{ContainerStatus, Phase, ShimState, StopCause};
use crate::{Request, ShimError, ShimFiles, handoff, io_error};

/// How long deleting the containers may take before the supervisor gives up on them.
const DELETE_TIMEOUT: Duration = Duration::from_secs(30);
/// A stuck agent must not stall the supervisor.
const CLIENT_WRITE_TIMEOUT: Duration = Duration::from_secs(2);

enum Event {
    Started {
        index: usize,
        pid: i32,
    },
    StartFailed {
        index: usize,
        error: String,
    },
    /// Created while the plan held, then deleted unstarted: the task stopped first.
    NotStarted {
        index: usize,
    },
    Go,
    /// A client (the agent) closed its connection.
    Disconnected,
    Exited {
        index: usize,
        code: i32,
        oom: bool,
    },
    Deleted,
    Stop,
    Connected(UnixStream),
}

/// Runs the task planned in `task_dir` to its end. The listening socket is standard input.
/// If the task cannot even begin (no sandbox, unreadable plan), the state left behind says
/// so, for the agent to report.
pub fn run(task_dir: &Path) -> Result<(), ShimError> {
    let result = (|| {
        let plan = read_plan(task_dir)?;
        // The agent hands the socket over bound and listening, as standard input: it may
        // have connected before this process even started, and never has to poll for it.
        let listener = UnixListener::from(take_stdin()?);
        // Before any thread exists: namespaces belong to the thread that unshares.
        let sandbox = sandbox::enter(&plan.hostname)?;
        restore_default_sigpipe()?;
        supervise(task_dir, plan, listener, sandbox)
    })();
    if let Err(error) = &result {
        record_failure(task_dir, error);
    }
    result
}

/// A supervisor started ahead of need: it makes its sandbox at once (with its veth into
/// `bridge`, if given), then waits on standard input (a socket pair with the agent) for a
/// task, which it runs as [`run`] does. It ends without a task when the agent closes the pair
/// (berth went away).
pub fn run_pooled(bridge: Option<&str>) -> Result<(), ShimError> {
    let handoffs = UnixStream::from(take_stdin()?);
    let mut sandbox = sandbox::enter("berth")?;
    if let Some(bridge) = bridge
        && let Err(error) = sandbox.prewire(bridge)
    {
        // The task's start makes it then.
        tracing::warn!(%error, "cannot make the veth ahead of a task");
    }
    restore_default_sigpipe()?;
    let Some(handoff) = handoff::receive(&handoffs).map_err(io_error("cannot receive a task"))?
    else {
        return Ok(());
    };
    // From now on this task's supervisor log is ours.
    let _ = rustix::stdio::dup2_stdout(&handoff.log);
    let _ = rustix::stdio::dup2_stderr(&handoff.log);
    let _ = crate::log::redirect(&handoff.log);
    let task_dir = handoff.task_dir;
    let result = (|| {
        let plan = read_plan(&task_dir)?;
        sandbox::set_hostname(&plan.hostname)?;
        supervise(
            &task_dir,
            plan,
            UnixListener::from(handoff.listener),
            sandbox,
        )
    })();
    if let Err(error) = &result {
        record_failure(&task_dir, error);
    }
    result
}

fn read_plan(task_dir: &Path) -> Result<TaskPlan, ShimError> {
    let files = ShimFiles::new(task_dir);
    Ok(serde_json::from_slice(
        &std::fs::read(&files.plan).map_err(io_error("cannot read the task plan"))?,
    )?)
}

/// Standard input, taken over; /dev/null in its place, because containers inherit it and
/// must not hold the supervisor's sockets (a dead supervisor's socket would still take
/// connections).
fn take_stdin() -> Result<std::os::fd::OwnedFd, ShimError> {
    let taken = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map_err(io_error("no socket on standard input"))?;
    let null = std::fs::File::open("/dev/null").map_err(io_error("cannot open /dev/null"))?;
    rustix::stdio::dup2_stdin(&null).map_err(|e| ShimError::Io {
        what: "cannot replace standard input".into(),
        source: e.into(),
    })?;
    Ok(taken)
}

/// Leaves a stopped state saying why the task could not begin.
fn record_failure(task_dir: &Path, error: &ShimError) {
    let files = ShimFiles::new(task_dir);
    let mut state = read_plan(task_dir)
        .map(|plan| ShimState::new(&plan))
        .unwrap_or_else(|_| ShimState {
            shim_pid: std::process::id(),
            phase: Phase::Starting,
            containers: Vec::new(),
            stop: None,
        });
    for container in &mut state.containers {
        container.status = ContainerStatus::Stopped;
    }
    state.phase = Phase::Stopped;
    state.stop = Some(StopCause {
        code: "TaskFailedToStart".into(),
        reason: format!("ResourceInitializationError: {error}"),
    });
    let _ = state.save(&files.state);
}

fn supervise(
    task_dir: &Path,
    plan: TaskPlan,
    listener: UnixListener,
    sandbox: Sandbox,
) -> Result<(), ShimError> {
    let files = ShimFiles::new(task_dir);
    tracing::debug!(task = %plan.task_id, "sandbox ready");
    let (events, receiver) = mpsc::channel();
    {
        let events = events.clone();
        std::thread::Builder::new()
            .name("accept".into())
            .spawn(move || accept(&listener, &events))
            .map_err(io_error("cannot start a thread"))?;
    }
    let plan_len = plan.containers.len();
    let mut supervisor = Supervisor {
        held: plan.hold,
        go: (0..plan_len).map(|_| None).collect(),
        state: ShimState::new(&plan),
        starting: vec![false; plan.containers.len()],
        workers: (0..plan.containers.len()).map(|_| None).collect(),
        plan,
        files,
        sandbox,
        published: Vec::new(),
        clients: Vec::new(),
        events,
        kill_at: vec![None; plan_len],
    };
    supervisor.wire_network();
    supervisor.mount_root_filesystems();
    loop {
        supervisor.step();
        supervisor.publish();
        if supervisor.all_exited() {
            break;
        }
        let event = match supervisor.next_kill() {
            Some(at) => match receiver.recv_timeout(at.saturating_duration_since(Instant::now())) {
                Ok(event) => Some(event),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            },
            None => match receiver.recv() {
                Ok(event) => Some(event),
                Err(_) => break,
            },
        };
        match event {
            Some(event) => supervisor.handle(event),
            None => supervisor.kill_the_rest(),
        }
    }
    supervisor.finish(&receiver);
    Ok(())
}

struct Supervisor {
    plan: TaskPlan,
    files: ShimFiles,
    sandbox: Sandbox,
    state: ShimState,
    /// The state as last published.
    published: Vec<u8>,
    clients: Vec<UnixStream>,
    /// Containers whose thread is starting them.
    starting: Vec<bool>,
    /// Per container, once started: tells its thread to delete it.
    workers: Vec<Option<Sender<()>>>,
    events: Sender<Event>,
    /// When the containers still running after their stop signal get SIGKILL.
    /// Per container: when it gets SIGKILL if it is still running after its stop signal.
    kill_at: Vec<Option<Instant>>,
    /// Whether containers are created but not started, until the agent's go (the plan's
    /// `hold`).
    held: bool,
    /// Per container created while held: tells its thread to start it (`true`) or to delete
    /// it unstarted.
    go: Vec<Option<Sender<bool>>>,
}

impl Supervisor {
    /// Starts what may start, settles what never will, and moves the phase on.
    fn step(&mut self) {
        if self.state.phase == Phase::Stopping {
            return;
        }
        // A container that can never start may in turn doom those depending on it: repeat
        // until nothing changes.
        let mut changed = true;
        while changed && self.state.phase != Phase::Stopping {
            changed = false;
            for index in 0..self.plan.containers.len() {
                if self.state.containers[index].status != ContainerStatus::Pending
                    || self.starting[index]
                {
                    continue;
                }
                let container = &self.plan.containers[index];
                match readiness(&container.depends_on, &self.state.containers) {
                    Readiness::Wait => {}
                    Readiness::Ready => self.start(index),
                    Readiness::Never(why) => {
                        let reason = format!(
                            "CannotStartContainerError: container {}: {why}",
                            container.name
                        );
                        let essential = container.essential;
                        let state = &mut self.state.containers[index];
                        state.status = ContainerStatus::Stopped;
                        state.reason = Some(reason.clone());
                        changed = true;
                        if essential {
                            self.begin_stop("TaskFailedToStart", reason);
                        }
                    }
                }
            }
        }
        let containers = &self.state.containers;
        if self.state.phase == Phase::Starting
            && !self.starting.iter().any(|s| *s)
            && containers
                .iter()
                .all(|c| c.status != ContainerStatus::Pending)
        {
            self.state.phase = Phase::Running;
        }
        if self.state.phase == Phase::Running
            && containers
                .iter()
                .all(|c| c.status == ContainerStatus::Stopped)
        {
            self.begin_stop(
                "EssentialContainerExited",
                "Essential container in task exited".into(),
            );
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Started { index, pid } => {
                self.starting[index] = false;
                let state = &mut self.state.containers[index];
                state.status = ContainerStatus::Running;
                state.pid = Some(pid);
                state.started_at_ms = Some(now_ms());
                if self.state.phase == Phase::Stopping {
                    // Asked to stop while it was starting.
                    self.signal_stop(index, pid);
                }
            }
            Event::StartFailed { index, error } => {
                self.starting[index] = false;
                // Nothing to delete: its thread has ended.
                self.workers[index] = None;
                let reason = format!("CannotStartContainerError: {error}");
                let state = &mut self.state.containers[index];
                state.status = ContainerStatus::Stopped;
                state.reason = Some(reason.clone());
                self.begin_stop("TaskFailedToStart", reason);
            }
            Event::Exited { index, code, oom } => {
                let state = &mut self.state.containers[index];
                state.status = ContainerStatus::Stopped;
                state.exit_code = Some(code);
                state.stopped_at_ms = Some(now_ms());
                if oom {
                    state.reason =
                        Some("OutOfMemoryError: Container killed due to memory usage".into());
                }
                if self.plan.containers[index].essential {
                    self.begin_stop(
                        "EssentialContainerExited",
                        "Essential container in task exited".into(),
                    );
                }
            }
            Event::NotStarted { index } => {
                self.starting[index] = false;
                // Deleted already: its thread has ended.
                self.workers[index] = None;
                self.state.containers[index].status = ContainerStatus::Stopped;
            }
            Event::Go => {
                self.held = false;
                for go in self.go.iter_mut().filter_map(Option::take) {
                    let _ = go.send(true);
                }
            }
            Event::Disconnected => self.disconnected(),
            Event::Deleted => {}
            Event::Stop => self.begin_stop("UserInitiated", "Task stopped by user".into()),
            Event::Connected(stream) => self.connect(stream),
        }
    }

    /// Gives the sandbox its network interface, if the task has one; failing that, the task
    /// fails to start.
    fn wire_network(&mut self) {
        let Some(network) = &self.plan.network else {
            return;
        };
        if let Err(error) = self.sandbox.wire(network, &self.plan.task_id) {
            let reason = format!(
                "ResourceInitializationError: cannot set up the task's network interface: {}",
                error_chain(&error)
            );
            for state in &mut self.state.containers {
                state.status = ContainerStatus::Stopped;
                state.reason = Some(reason.clone());
            }
            self.begin_stop("TaskFailedToStart", reason);
        }
    }

    /// Mounts every container's root filesystem in the supervisor's mount namespace. One that
    /// cannot be mounted fails the task.
    fn mount_root_filesystems(&mut self) {
        for index in 0..self.plan.containers.len() {
            let rootfs = &self.plan.containers[index].rootfs;
            let overlay = OverlayMount {
                lowers: rootfs.lowers.clone(),
                upper: rootfs.upper.clone(),
                work: rootfs.work.clone(),
                target: rootfs.target.clone(),
            };
            if let Err(error) = LinuxMounter.mount_overlay(&overlay) {
                let reason = format!(
                    "CannotCreateContainerError: cannot mount the root filesystem of {}: {}",
                    self.plan.containers[index].name,
                    error_chain(&error)
                );
                let state = &mut self.state.containers[index];
                state.status = ContainerStatus::Stopped;
                state.reason = Some(reason.clone());
                self.begin_stop("TaskFailedToStart", reason);
            }
        }
    }

    fn start(&mut self, index: usize) {
        self.starting[index] = true;
        let container = self.plan.containers[index].clone();
        let mut spec = container.spec.clone();
        join_sandbox(
            &mut spec,
            &self.sandbox.net,
            &self.sandbox.uts,
            &self.sandbox.ipc,
        );
        let (delete, deletion) = mpsc::channel();
        self.workers[index] = Some(delete);
        let go = if self.held {
            let (go, wait) = mpsc::channel();
            self.go[index] = Some(go);
            Some(wait)
        } else {
            None
        };
        let events = self.events.clone();
        let state_root = self.plan.state_root.clone();
        let limits = LogLimits {
            max_bytes: self.plan.log_max_bytes,
            max_files: self.plan.log_max_files,
        };
        // libcontainer forks while it creates the container; a child of a process whose other
        // threads may hold a lock at that moment can deadlock on it (seen once: a container's
        // intermediate process stuck on a futex). This thread — the busiest other one — waits,
        // holding nothing, until the container thread says creation is over.
        let (created, creation_over) = mpsc::channel::<()>();
        let spawned = std::thread::Builder::new()
            .name(format!("container-{}", container.name))
            .spawn(move || {
                let channels = WorkerChannels {
                    events,
                    deletion,
                    created,
                    go,
                };
                run_container(index, &container, &spec, &state_root, limits, channels)
            });
        if spawned.is_ok() {
            let _ = creation_over.recv();
        }
        if let Err(error) = spawned {
            let _ = self.events.send(Event::StartFailed {
                index,
                error: format!("cannot start a thread: {error}"),
            });
        }
    }

    /// Stops the task: its stop signal to every running container, SIGKILL after the timeout.
    fn begin_stop(&mut self, code: &str, reason: String) {
        if self.state.stop.is_some() {
            return;
        }
        self.state.stop = Some(StopCause {
            code: code.to_owned(),
            reason,
        });
        self.state.phase = Phase::Stopping;
        // Held containers never run: their threads delete them.
        for go in self.go.iter_mut().filter_map(Option::take) {
            let _ = go.send(false);
        }
        for (index, state) in self.state.containers.iter_mut().enumerate() {
            if state.status == ContainerStatus::Pending && !self.starting[index] {
                state.status = ContainerStatus::Stopped;
            }
        }
        let running: Vec<(usize, i32)> = self
            .state
            .containers
            .iter()
            .enumerate()
            .filter(|(_, c)| c.status == ContainerStatus::Running)
            .filter_map(|(index, c)| Some((index, c.pid?)))
            .collect();
        for (index, pid) in running {
            self.signal_stop(index, pid);
        }
    }

    /// Container `index`'s stop signal now, SIGKILL once its own stop timeout has passed.
    fn signal_stop(&mut self, index: usize, pid: i32) {
        let container = &self.plan.containers[index];
        send_signal(pid, stop_signal(container));
        let timeout = container
            .stop_timeout_ms
            .unwrap_or(self.plan.stop_timeout_ms);
        self.kill_at[index] = Some(Instant::now() + Duration::from_millis(timeout));
    }

    /// The soonest SIGKILL due.
    fn next_kill(&self) -> Option<Instant> {
        self.kill_at.iter().flatten().min().copied()
    }

    /// SIGKILL to each container still running past its stop timeout.
    fn kill_the_rest(&mut self) {
        let now = Instant::now();
        for (index, state) in self.state.containers.iter().enumerate() {
            if self.kill_at[index].is_some_and(|at| at <= now) {
                self.kill_at[index] = None;
                if let (ContainerStatus::Running, Some(pid)) = (state.status, state.pid) {
                    send_signal(pid, rustix::process::Signal::KILL);
                }
            }
        }
    }

    fn all_exited(&self) -> bool {
        self.state.phase == Phase::Stopping
            && !self.starting.iter().any(|s| *s)
            && self
                .state
                .containers
                .iter()
                .all(|c| c.status == ContainerStatus::Stopped)
    }

    /// Deletes the containers, then publishes the final state.
    fn finish(&mut self, receiver: &Receiver<Event>) {
        let mut waiting = 0;
        for delete in self.workers.iter_mut().filter_map(Option::take) {
            if delete.send(()).is_ok() {
                waiting += 1;
            }
        }
        let deadline = Instant::now() + DELETE_TIMEOUT;
        while waiting > 0 {
            match receiver.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(Event::Deleted) => waiting -= 1,
                Ok(Event::Connected(stream)) => self.connect(stream),
                Ok(_) => {}
                Err(_) => {
                    tracing::warn!(waiting, "containers not deleted in time");
                    break;
                }
            }
        }
        // The mounts would go with this process's namespace anyway; gone before the agent
        // hears "stopped", the agent can remove their directories at once.
        for container in &self.plan.containers {
            if LinuxMounter.is_mounted(&container.rootfs.target)
                && let Err(error) = LinuxMounter.unmount(&container.rootfs.target)
            {
                tracing::warn!(%error, container = %container.name, "cannot unmount a root filesystem");
            }
        }
        self.state.phase = Phase::Stopped;
        self.publish();
    }

    fn connect(&mut self, stream: UnixStream) {
        let _ = stream.set_write_timeout(Some(CLIENT_WRITE_TIMEOUT));
        // A client gone before it heard anything (berth killed right after it handed the
        // task over) is as gone as one whose reads end: no reader thread would ever say so.
        if send_all(&stream, &self.line()).is_err() {
            return self.disconnected();
        }
        let reader = stream.try_clone().ok().and_then(|reader| {
            let events = self.events.clone();
            std::thread::Builder::new()
                .name("client".into())
                .spawn(move || read_requests(reader, &events))
                .ok()
        });
        if reader.is_none() {
            return self.disconnected();
        }
        self.clients.push(stream);
    }

    /// A client (the agent) went away. Only the agent can tell held containers to go:
    /// without it they never will, so the task gives up — whichever way the loss shows.
    fn disconnected(&mut self) {
        if self.held {
            self.begin_stop(
                "TaskFailedToStart",
                "ResourceInitializationError: the node agent went away before the task's images were confirmed".into(),
            );
        }
    }

    fn line(&self) -> Vec<u8> {
        let mut line = serde_json::to_vec(&self.state).unwrap_or_default();
        line.push(b'\n');
        line
    }

    /// Saves the state and sends it to the agent, when it changed.
    fn publish(&mut self) {
        let line = self.line();
        if line == self.published {
            return;
        }
        if let Err(error) = self.state.save(&self.files.state) {
            tracing::warn!(%error, "cannot save the task state");
        }
        self.clients
            .retain_mut(|client| send_all(client, &line).is_ok());
        self.published = line;
    }
}

/// How a container's thread talks to the supervisor's loop.
struct WorkerChannels {
    /// What it observes.
    events: Sender<Event>,
    /// Told when to delete the container.
    deletion: Receiver<()>,
    /// Dropped once the container's creation is over.
    created: Sender<()>,
    /// When the plan holds: whether to start the created container or delete it unstarted.
    go: Option<Receiver<bool>>,
}

/// A container's thread: start it with its output piped into its log, wait for it, and
/// delete it when the supervisor says so.
fn run_container(
    index: usize,
    container: &PlannedContainer,
    spec: &berth_runtime::spec::OciSpec,
    state_root: &Path,
    limits: LogLimits,
    channels: WorkerChannels,
) {
    let WorkerChannels {
        events,
        deletion,
        created,
        go,
    } = channels;
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
    let created_container = executor::create_with(
        &container.runtime_id,
        state_root,
        &container.bundle,
        spec,
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

/// Writes all of `bytes` to the agent's socket without SIGPIPE (the supervisor keeps the
/// default disposition, see [`restore_default_sigpipe`]): a gone agent is an error, not death.
fn send_all(stream: &UnixStream, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        match rustix::net::send(stream, bytes, rustix::net::SendFlags::NOSIGNAL) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(())
}

/// Containers inherit the dispositions of the process that starts them, and Rust programs
/// ignore SIGPIPE: left so, `yes | head` in a container would never end. The supervisor
/// restores the default before it starts any (and writes to its socket with MSG_NOSIGNAL).
#[allow(unsafe_code)]
fn restore_default_sigpipe() -> Result<(), ShimError> {
    use nix::sys::signal::{SigHandler, Signal, signal};
    // SAFETY: no handler is installed (SIG_DFL is a disposition, not code), and this runs
    // before the supervisor starts any thread.
    unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) }
        .map(|_| ())
        .map_err(|e| ShimError::Sandbox(format!("cannot restore SIGPIPE: {e}")))
}

fn accept(listener: &UnixListener, events: &Sender<Event>) {
    for stream in listener.incoming().flatten() {
        if events.send(Event::Connected(stream)).is_err() {
            return;
        }
    }
}

fn read_requests(stream: UnixStream, events: &Sender<Event>) {
    for line in BufReader::new(stream).lines() {
        let Ok(line) = line else { break };
        match serde_json::from_str::<Request>(&line) {
            Ok(request) => {
                let event = match request {
                    Request::Stop => Event::Stop,
                    Request::Go => Event::Go,
                };
                if events.send(event).is_err() {
                    return;
                }
            }
            Err(error) => tracing::warn!(%error, "ignoring a malformed request"),
        }
    }
    let _ = events.send(Event::Disconnected);
}

fn stop_signal(container: &PlannedContainer) -> rustix::process::Signal {
    rustix::process::Signal::from_named_raw(container.stop_signal)
        .unwrap_or(rustix::process::Signal::TERM)
}

fn send_signal(pid: i32, signal: rustix::process::Signal) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid) {
        let _ = rustix::process::kill_process(pid, signal);
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_that_cannot_begin_leaves_a_stopped_state_saying_why() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("plan.json"), b"{not a plan").unwrap();
        assert!(run(dir.path()).is_err());
        let state = ShimState::load(&ShimFiles::new(dir.path()).state).unwrap();
        assert_eq!(state.phase, Phase::Stopped);
        let stop = state.stop.unwrap();
        assert_eq!(stop.code, "TaskFailedToStart");
        assert!(
            stop.reason
                .starts_with("ResourceInitializationError: invalid task plan"),
            "{}",
            stop.reason
        );
    }
}

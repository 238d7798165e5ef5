//! The supervisor's loop. One thread per container starts it, waits for it and deletes it
//! (`worker.rs`); one more accepts the agent's connections. Everything they observe comes to
//! the loop as an [`Event`]; the loop alone decides (dependencies, essential exits, stop and
//! kill) and publishes the resulting state. The decisions live in [`Supervisor`], one
//! [`Container`] value per container with its own lifecycle and timers; everything they do to
//! the world goes through [`Effects`], so `step` and `handle` are unit-tested with a recording
//! fake (`supervisor/tests.rs`) while the real kernel is left to the end-to-end tests.

use std::io::{BufRead, BufReader};
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use berth_sys::OverlayMount;

use crate::container::Container;
use crate::deps::{Readiness, readiness};
use crate::effects::{Effects, Host};
use crate::events::Event;
use crate::plan::{PlannedNetwork, TaskPlan};
use crate::sandbox::{self, Sandbox};
use crate::state::{ContainerReason, ContainerState, ContainerStatus, Phase, ShimState, StopCause};
use crate::{Request, ShimError, ShimFiles, error_chain, handoff, io_error, protocol};

/// How long deleting the containers may take before the supervisor gives up on them.
const DELETE_TIMEOUT: Duration = Duration::from_secs(30);
/// A stuck agent must not stall the supervisor.
const CLIENT_WRITE_TIMEOUT: Duration = Duration::from_secs(2);

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

/// The task's plan, of any version this supervisor runs (see [`protocol`]).
fn read_plan(task_dir: &Path) -> Result<TaskPlan, ShimError> {
    protocol::load_plan(&ShimFiles::new(task_dir).plan)
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
            version: protocol::VERSION,
            shim_pid: std::process::id(),
            phase: Phase::Starting,
            containers: Vec::new(),
            stop: None,
        });
    for container in &mut state.containers {
        container.status = ContainerStatus::Stopped;
    }
    state.phase = Phase::Stopped;
    state.stop = Some(error.stop_cause());
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
    let host = Host::new(sandbox, &plan, events.clone());
    let mut supervisor = Supervisor::new(plan, files, host, events);
    supervisor.prepare(Instant::now());
    loop {
        supervisor.step(Instant::now());
        supervisor.publish();
        if supervisor.all_exited() {
            break;
        }
        let event = match supervisor.next_deadline() {
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
            Some(event) => supervisor.handle(event, Instant::now()),
            None => supervisor.expire(Instant::now()),
        }
    }
    supervisor.finish(&receiver);
    Ok(())
}

/// The task, as the loop decides about it. Every method that may signal or arm a timer takes
/// the time it runs at, so that tests drive the clock.
struct Supervisor<E: Effects> {
    task_id: String,
    network: Option<PlannedNetwork>,
    /// For the state: this process.
    shim_pid: u32,
    phase: Phase,
    /// Why the task stops, once it does.
    stop: Option<StopCause>,
    /// Whether containers are created but not started, until the agent's go (the plan's
    /// `hold`).
    held: bool,
    /// The containers, in the plan's order (events name them by index).
    containers: Vec<Container>,
    effects: E,
    files: ShimFiles,
    /// The state as last published.
    published: Vec<u8>,
    clients: Vec<UnixStream>,
    /// The loop's own queue: client threads report to it, and a container whose thread cannot
    /// be spawned fails through it as one whose thread fails.
    events: Sender<Event>,
}

impl<E: Effects> Supervisor<E> {
    /// `plan`, nothing started, nothing published; its state goes to `files`.
    fn new(plan: TaskPlan, files: ShimFiles, effects: E, events: Sender<Event>) -> Self {
        let containers = plan
            .containers
            .into_iter()
            .map(|container| Container::new(container, plan.stop_timeout_ms))
            .collect();
        Self {
            task_id: plan.task_id,
            network: plan.network,
            shim_pid: std::process::id(),
            phase: Phase::Starting,
            stop: None,
            held: plan.hold,
            containers,
            effects,
            files,
            published: Vec::new(),
            clients: Vec::new(),
            events,
        }
    }

    /// What comes before any container: the network interface and the root filesystems.
    fn prepare(&mut self, now: Instant) {
        self.wire_network(now);
        self.mount_root_filesystems(now);
    }

    /// Starts what may start, settles what never will, and moves the phase on.
    fn step(&mut self, now: Instant) {
        if self.phase == Phase::Stopping {
            return;
        }
        // A container that can never start may in turn doom those depending on it: repeat
        // until nothing changes.
        let mut changed = true;
        while changed && self.phase != Phase::Stopping {
            changed = false;
            for index in 0..self.containers.len() {
                if !self.containers[index].is_pending() {
                    continue;
                }
                // As it is now: a container refused earlier in this pass counts.
                let observed = self.observed();
                let container = &self.containers[index];
                match readiness(&container.plan.depends_on, &observed) {
                    Readiness::Wait => {}
                    Readiness::Ready => self.start(index),
                    Readiness::Never(why) => {
                        let essential = container.plan.essential;
                        let cause = StopCause::DependencyNeverMet {
                            container: container.plan.name.clone(),
                            why: why.clone(),
                        };
                        self.containers[index].refuse(ContainerReason::DependencyNeverMet { why });
                        changed = true;
                        if essential {
                            self.begin_stop(cause, now);
                        }
                    }
                }
            }
        }
        if self.phase == Phase::Starting
            && self
                .containers
                .iter()
                .all(|c| !c.is_pending() && !c.is_starting())
        {
            self.phase = Phase::Running;
        }
        if self.phase == Phase::Running && self.containers.iter().all(Container::is_stopped) {
            self.begin_stop(StopCause::AllContainersExited, now);
        }
    }

    /// Acts on `event`, which arrived at `now`.
    fn handle(&mut self, event: Event, now: Instant) {
        match event {
            Event::Started { index, pid } => {
                self.containers[index].started(pid, now_ms());
                if self.phase == Phase::Stopping {
                    // Asked to stop while it was starting.
                    self.containers[index].stop(now, self.effects.signaller());
                }
            }
            Event::StartFailed { index, error } => {
                let container = &mut self.containers[index];
                let cause = StopCause::StartFailed {
                    container: container.plan.name.clone(),
                    error: error.clone(),
                };
                container.start_failed(ContainerReason::StartFailed { error });
                self.begin_stop(cause, now);
            }
            Event::Exited { index, code, oom } => {
                let container = &mut self.containers[index];
                container.exited(code, oom, now_ms());
                if container.plan.essential {
                    let cause = StopCause::EssentialContainerExited {
                        container: container.plan.name.clone(),
                    };
                    self.begin_stop(cause, now);
                }
            }
            Event::NotStarted { index } => self.containers[index].not_started(),
            Event::Go => {
                self.held = false;
                for container in &mut self.containers {
                    container.go();
                }
            }
            Event::Disconnected => self.disconnected(now),
            Event::Deleted => {}
            Event::Stop => self.begin_stop(StopCause::StopRequested, now),
            Event::Connected(stream) => self.connect(stream, now),
        }
    }

    /// The soonest deadline of any container's timers.
    fn next_deadline(&self) -> Option<Instant> {
        self.containers.iter().filter_map(|c| c.timers.next()).min()
    }

    /// Hands each container the timers due by `now`.
    fn expire(&mut self, now: Instant) {
        for container in &mut self.containers {
            container.expire(now, self.effects.signaller());
        }
    }

    /// Every container as the agent is told.
    fn observed(&self) -> Vec<ContainerState> {
        self.containers
            .iter()
            .map(|c| c.observed().clone())
            .collect()
    }

    /// Gives the sandbox its network interface, if the task has one; failing that, the task
    /// fails to start.
    fn wire_network(&mut self, now: Instant) {
        let Some(network) = &self.network else {
            return;
        };
        if let Err(error) = self.effects.wire_network(network, &self.task_id) {
            let error = error_chain(&error);
            for container in &mut self.containers {
                container.refuse(ContainerReason::NetworkNotWired {
                    error: error.clone(),
                });
            }
            self.begin_stop(StopCause::NetworkNotWired { error }, now);
        }
    }

    /// Mounts every container's root filesystem in the supervisor's mount namespace. One that
    /// cannot be mounted fails the task.
    fn mount_root_filesystems(&mut self, now: Instant) {
        for index in 0..self.containers.len() {
            let container = &self.containers[index].plan;
            let overlay = OverlayMount {
                lowers: container.rootfs.lowers.clone(),
                upper: container.rootfs.upper.clone(),
                work: container.rootfs.work.clone(),
                target: container.rootfs.target.clone(),
            };
            if let Err(error) = self.effects.mounter().mount_overlay(&overlay) {
                let error = error_chain(&error);
                let cause = StopCause::RootFilesystemNotMounted {
                    container: container.name.clone(),
                    error: error.clone(),
                };
                self.containers[index].refuse(ContainerReason::NotMounted { error });
                self.begin_stop(cause, now);
            }
        }
    }

    /// Has container `index`'s thread create it (and hold it, while the plan holds).
    fn start(&mut self, index: usize) {
        let container = &mut self.containers[index];
        match self
            .effects
            .start_container(index, &container.plan, self.held)
        {
            Ok(worker) => container.spawned(Some(worker), self.held),
            Err(error) => {
                container.spawned(None, self.held);
                // Settled like any failure of its thread, through the queue.
                let _ = self.events.send(Event::StartFailed {
                    index,
                    error: format!("cannot start a thread: {error}"),
                });
            }
        }
    }

    /// Stops the task: its stop signal to every running container, SIGKILL after each one's
    /// stop timeout; held ones are deleted unstarted and pending ones never start.
    fn begin_stop(&mut self, cause: StopCause, now: Instant) {
        if self.stop.is_some() {
            return;
        }
        self.stop = Some(cause);
        self.phase = Phase::Stopping;
        for container in &mut self.containers {
            container.discard();
            container.stop(now, self.effects.signaller());
        }
    }

    /// Whether the task is over: stopping, and every container stopped with no thread still
    /// starting one.
    fn all_exited(&self) -> bool {
        self.phase == Phase::Stopping
            && self
                .containers
                .iter()
                .all(|c| !c.is_starting() && c.is_stopped())
    }

    /// Deletes the containers, then publishes the final state.
    fn finish(&mut self, receiver: &Receiver<Event>) {
        let mut waiting = 0;
        for container in &mut self.containers {
            if container.delete() {
                waiting += 1;
            }
        }
        let deadline = Instant::now() + DELETE_TIMEOUT;
        while waiting > 0 {
            match receiver.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(Event::Deleted) => waiting -= 1,
                Ok(Event::Connected(stream)) => self.connect(stream, Instant::now()),
                Ok(_) => {}
                Err(_) => {
                    tracing::warn!(waiting, "containers not deleted in time");
                    break;
                }
            }
        }
        // The mounts would go with this process's namespace anyway; gone before the agent
        // hears "stopped", the agent can remove their directories at once.
        let mounter = self.effects.mounter();
        for container in &self.containers {
            let target = &container.plan.rootfs.target;
            if mounter.is_mounted(target)
                && let Err(error) = mounter.unmount(target)
            {
                tracing::warn!(%error, container = %container.plan.name, "cannot unmount a root filesystem");
            }
        }
        self.phase = Phase::Stopped;
        self.publish();
    }

    fn connect(&mut self, stream: UnixStream, now: Instant) {
        let _ = stream.set_write_timeout(Some(CLIENT_WRITE_TIMEOUT));
        // A client gone before it heard anything (berth killed right after it handed the
        // task over) is as gone as one whose reads end: no reader thread would ever say so.
        if send_all(&stream, &self.line()).is_err() {
            return self.disconnected(now);
        }
        let reader = stream.try_clone().ok().and_then(|reader| {
            let events = self.events.clone();
            std::thread::Builder::new()
                .name("client".into())
                .spawn(move || read_requests(reader, &events))
                .ok()
        });
        if reader.is_none() {
            return self.disconnected(now);
        }
        self.clients.push(stream);
    }

    /// A client (the agent) went away. Only the agent can tell held containers to go:
    /// without it they never will, so the task gives up — whichever way the loss shows.
    fn disconnected(&mut self, now: Instant) {
        if self.held {
            self.begin_stop(StopCause::AgentLost, now);
        }
    }

    /// The state, as published.
    fn state(&self) -> ShimState {
        ShimState {
            version: protocol::VERSION,
            shim_pid: self.shim_pid,
            phase: self.phase,
            containers: self.observed(),
            stop: self.stop.clone(),
        }
    }

    fn line(&self) -> Vec<u8> {
        let mut line = serde_json::to_vec(&self.state()).unwrap_or_default();
        line.push(b'\n');
        line
    }

    /// Saves the state and sends it to the agent, when it changed.
    fn publish(&mut self) {
        let line = self.line();
        if line == self.published {
            return;
        }
        if let Err(error) = self.state().save(&self.files.state) {
            tracing::warn!(%error, "cannot save the task state");
        }
        self.clients
            .retain_mut(|client| send_all(client, &line).is_ok());
        self.published = line;
    }
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

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests;

//! The simulated node's machine: one simulated supervisor per task, standing in for `berth
//! shim` — its containers follow their [`Script`]s on tokio's clock instead of running — and
//! living in a [`SimulatedHost`] apart from the agent ([`super::SimulatedNode`]), as real
//! supervisors outlive `berth up`. An agent started again on the same host reconnects to
//! them (adoption); one on a new host finds them gone, as after a reboot.
//!
//! A supervisor goes through the states the real one does, in its order, and publishes each
//! change to the one agent connected to it: STARTING with every container PENDING; each
//! container RUNNING (with a pid) as it starts, the task RUNNING once all have; on an
//! essential container's exit, on a failed start or on a stop request, STOPPING with why
//! ([`StopCause`]), each container STOPPED as it exits (and why, when not only by exiting:
//! [`ContainerReason`]); STOPPED once all have. Like the real one it records causes as types
//! in its own terms, and the agent words them as ECS does (`runner.rs`). What it published
//! last is kept (the real one's `state.json`) until the agent has reported the task STOPPED.
//! `dependsOn` is not simulated: every container starts at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use berth_model::lifecycle::ContainerStatus;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::script::{Script, Scripts, Timing};

/// Exit code of a process ended by SIGTERM (128 + 15).
const TERMINATED: i32 = 143;
/// Exit code of a process ended by SIGKILL (128 + 9), the OOM killer's signal too.
const KILLED: i32 = 137;
/// The first pid handed to a simulated container (pids below are the host's own).
const FIRST_PID: i32 = 1000;

/// Where a task is in its life, as its supervisor sees it (the shim's `Phase`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Starting,
    Running,
    Stopping,
    Stopped,
}

/// One container, as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContainerState {
    pub name: String,
    pub status: ContainerStatus,
    pub pid: Option<i32>,
    pub exit_code: Option<i32>,
    pub reason: Option<ContainerReason>,
}

/// Why a container stopped, besides its exit code (the shim's `ContainerReason`, in the
/// cases scripts make).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ContainerReason {
    /// The OOM killer ended it.
    OutOfMemory,
    /// It could not be started.
    StartFailed { error: String },
}

/// Why the task stops: the first thing that stopped it (the shim's `StopCause`, in the cases
/// scripts make).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StopCause {
    /// An essential container exited.
    EssentialContainerExited { container: String },
    /// Every container exited, none of them essential.
    AllContainersExited,
    /// The agent asked.
    StopRequested,
    /// An essential container could not be started.
    StartFailed { container: String, error: String },
}

/// Everything a supervisor observed about its task (the shim's `ShimState`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SupervisorState {
    pub phase: Phase,
    pub containers: Vec<ContainerState>,
    pub stop: Option<StopCause>,
}

/// One container as the agent plans it.
#[derive(Debug, Clone)]
pub(crate) struct PlannedContainer {
    pub name: String,
    pub essential: bool,
    pub script: Script,
    /// How long after its stop signal it is killed if it has not exited.
    pub stop_timeout: Duration,
}

/// What the agent asks of a supervisor.
enum Request {
    /// Stop the task (StopTask).
    Stop,
    /// Send every state from now on here (the current one first).
    Connect(mpsc::UnboundedSender<SupervisorState>),
}

/// What an agent reconnecting to a task's supervisor finds.
pub(crate) enum Reconnected {
    /// It is still going: its states, the current one first.
    Following(mpsc::UnboundedReceiver<SupervisorState>),
    /// It is done or gone: what it published last, if anything.
    Ended(Option<SupervisorState>),
}

/// The machine the simulated node runs on: its tasks' supervisors, the scripts their
/// containers follow and how long each step takes. Clones share one machine; the
/// supervisors end when the last clone is dropped.
#[derive(Clone)]
pub struct SimulatedHost {
    inner: Arc<HostInner>,
}

struct HostInner {
    scripts: Mutex<Scripts>,
    timing: Timing,
    supervisors: Mutex<HashMap<String, Entry>>,
    started: AtomicUsize,
    pids: Arc<AtomicI32>,
}

/// A task's supervisor, as the host keeps it.
struct Entry {
    requests: mpsc::UnboundedSender<Request>,
    /// What it published last.
    saved: Arc<Mutex<SupervisorState>>,
    task: AbortHandle,
}

impl Drop for HostInner {
    fn drop(&mut self) {
        for entry in lock(&self.supervisors).values() {
            entry.task.abort();
        }
    }
}

impl SimulatedHost {
    /// A machine whose containers follow `scripts`, its steps taking as long as `timing`
    /// says.
    pub fn new(scripts: Scripts, timing: Timing) -> Self {
        Self {
            inner: Arc::new(HostInner {
                scripts: Mutex::new(scripts),
                timing,
                supervisors: Mutex::new(HashMap::new()),
                started: AtomicUsize::new(0),
                pids: Arc::new(AtomicI32::new(FIRST_PID)),
            }),
        }
    }

    /// From now on, tasks that start follow `scripts` (those started keep theirs): the world
    /// changing under the control plane, a registry losing an image, say.
    pub fn set_scripts(&self, scripts: Scripts) {
        *lock(&self.inner.scripts) = scripts;
    }

    /// How many supervisors this machine has started: one per task run on it, never more.
    pub fn supervisors_started(&self) -> usize {
        self.inner.started.load(Ordering::SeqCst)
    }

    /// The keys of the tasks that have a supervisor on this machine now, sorted.
    pub fn supervised(&self) -> Vec<String> {
        let mut keys: Vec<String> = lock(&self.inner.supervisors).keys().cloned().collect();
        keys.sort();
        keys
    }

    pub(crate) fn scripts(&self) -> Scripts {
        lock(&self.inner.scripts).clone()
    }

    pub(crate) fn timing(&self) -> Timing {
        self.inner.timing
    }

    /// Starts task `key`'s supervisor with `containers`; its states, the first one first.
    pub(crate) fn spawn(
        &self,
        key: &str,
        containers: Vec<PlannedContainer>,
    ) -> mpsc::UnboundedReceiver<SupervisorState> {
        let (states, receiver) = mpsc::unbounded_channel();
        let (requests, incoming) = mpsc::unbounded_channel();
        let state = SupervisorState {
            phase: Phase::Starting,
            containers: containers
                .iter()
                .map(|c| ContainerState {
                    name: c.name.clone(),
                    status: ContainerStatus::Pending,
                    pid: None,
                    exit_code: None,
                    reason: None,
                })
                .collect(),
            stop: None,
        };
        let saved = Arc::new(Mutex::new(state.clone()));
        let supervisor = Supervisor {
            due: vec![None; containers.len()],
            starting: vec![false; containers.len()],
            containers,
            timing: self.inner.timing,
            state,
            published: None,
            subscriber: Some(states),
            saved: saved.clone(),
            pids: self.inner.pids.clone(),
        };
        let task = tokio::spawn(supervisor.run(incoming)).abort_handle();
        self.inner.started.fetch_add(1, Ordering::SeqCst);
        let entry = Entry {
            requests,
            saved,
            task,
        };
        if let Some(earlier) = lock(&self.inner.supervisors).insert(key.to_owned(), entry) {
            // Not reached by the agent (it starts a task once); a second supervisor must not
            // leave the first one running unseen.
            earlier.task.abort();
        }
        receiver
    }

    /// Whether task `key` has a supervisor here (finished or not): the agent's "its socket
    /// exists".
    pub(crate) fn supervises(&self, key: &str) -> bool {
        lock(&self.inner.supervisors).contains_key(key)
    }

    /// Connects to task `key`'s supervisor again.
    pub(crate) fn reconnect(&self, key: &str) -> Reconnected {
        let supervisors = lock(&self.inner.supervisors);
        let Some(entry) = supervisors.get(key) else {
            return Reconnected::Ended(None);
        };
        let (states, receiver) = mpsc::unbounded_channel();
        match entry.requests.send(Request::Connect(states)) {
            Ok(()) => Reconnected::Following(receiver),
            Err(_) => Reconnected::Ended(Some(lock(&entry.saved).clone())),
        }
    }

    /// Asks task `key`'s supervisor to stop the task; one that has ended cannot be asked.
    pub(crate) fn stop(&self, key: &str) {
        if let Some(entry) = lock(&self.inner.supervisors).get(key) {
            let _ = entry.requests.send(Request::Stop);
        }
    }

    /// What task `key`'s supervisor published last.
    pub(crate) fn saved(&self, key: &str) -> Option<SupervisorState> {
        lock(&self.inner.supervisors)
            .get(key)
            .map(|entry| lock(&entry.saved).clone())
    }

    /// Forgets task `key`'s supervisor, once its STOPPED is stored.
    pub(crate) fn remove(&self, key: &str) {
        if let Some(entry) = lock(&self.inner.supervisors).remove(key) {
            entry.task.abort();
        }
    }
}

/// A poisoned lock still holds consistent data here (every critical section is a plain
/// read or write), so a panic elsewhere does not take the simulation down with it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What happens next to a container, and when.
#[derive(Debug, Clone, Copy)]
enum Due {
    /// It has been created and starts.
    Start,
    /// It exits.
    Exit { code: i32, oom: bool },
}

/// One task's supervisor: the shim's loop, on tokio's clock.
struct Supervisor {
    containers: Vec<PlannedContainer>,
    timing: Timing,
    state: SupervisorState,
    published: Option<SupervisorState>,
    subscriber: Option<mpsc::UnboundedSender<SupervisorState>>,
    saved: Arc<Mutex<SupervisorState>>,
    /// Containers being started.
    starting: Vec<bool>,
    /// Per container, what happens to it next.
    due: Vec<Option<(Instant, Due)>>,
    pids: Arc<AtomicI32>,
}

impl Supervisor {
    async fn run(mut self, mut requests: mpsc::UnboundedReceiver<Request>) {
        loop {
            self.step();
            self.publish();
            if self.all_exited() {
                break;
            }
            let next = self.next_due();
            tokio::select! {
                request = requests.recv() => match request {
                    Some(request) => self.handle(request),
                    // The host is gone, and the machine with it.
                    None => return,
                },
                () = sleep_until(next) => self.fire(),
            }
        }
        self.state.phase = Phase::Stopped;
        self.publish();
        // Agents connecting from now on are answered by the host with the saved state
        // (the real supervisor's socket is gone; its `state.json` stays).
    }

    /// Starts what may start and moves the phase on, as the shim's `step` does.
    fn step(&mut self) {
        if self.state.phase == Phase::Stopping {
            return;
        }
        for index in 0..self.containers.len() {
            if self.state.containers[index].status == ContainerStatus::Pending
                && !self.starting[index]
            {
                self.starting[index] = true;
                self.due[index] = Some((Instant::now() + self.timing.start, Due::Start));
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
            self.begin_stop(StopCause::AllContainersExited);
        }
    }

    fn handle(&mut self, request: Request) {
        match request {
            Request::Stop => self.begin_stop(StopCause::StopRequested),
            Request::Connect(states) => {
                // The current state first, as the shim greets a client.
                if states.send(self.state.clone()).is_ok() {
                    self.subscriber = Some(states);
                }
            }
        }
    }

    fn next_due(&self) -> Option<Instant> {
        self.due.iter().flatten().map(|(at, _)| *at).min()
    }

    /// The soonest thing due happens (one per turn, as the shim handles one event).
    fn fire(&mut self) {
        let Some(index) = (0..self.due.len())
            .filter(|i| self.due[*i].is_some())
            .min_by_key(|i| self.due[*i].map(|(at, _)| at))
        else {
            return;
        };
        let Some((_, due)) = self.due[index].take() else {
            return;
        };
        match due {
            Due::Start => self.started(index),
            Due::Exit { code, oom } => self.exited(index, code, oom),
        }
    }

    fn started(&mut self, index: usize) {
        self.starting[index] = false;
        let script = self.containers[index].script.clone();
        if let Script::StartFails { message } = script {
            let state = &mut self.state.containers[index];
            state.status = ContainerStatus::Stopped;
            state.reason = Some(ContainerReason::StartFailed {
                error: message.clone(),
            });
            let container = state.name.clone();
            // The real supervisor stops the task whichever container it was.
            self.begin_stop(StopCause::StartFailed {
                container,
                error: message,
            });
            return;
        }
        let state = &mut self.state.containers[index];
        state.status = ContainerStatus::Running;
        state.pid = Some(self.pids.fetch_add(1, Ordering::SeqCst));
        let now = Instant::now();
        self.due[index] = match script {
            Script::Exit { code, after } => Some((now + after, Due::Exit { code, oom: false })),
            Script::OutOfMemory { after } => Some((
                now + after,
                Due::Exit {
                    code: KILLED,
                    oom: true,
                },
            )),
            _ => None,
        };
        if self.state.phase == Phase::Stopping {
            // Asked to stop while it was starting.
            self.signal_stop(index);
        }
    }

    fn exited(&mut self, index: usize, code: i32, oom: bool) {
        let state = &mut self.state.containers[index];
        state.status = ContainerStatus::Stopped;
        state.exit_code = Some(code);
        if oom {
            state.reason = Some(ContainerReason::OutOfMemory);
        }
        if self.containers[index].essential {
            self.begin_stop(StopCause::EssentialContainerExited {
                container: self.containers[index].name.clone(),
            });
        }
    }

    /// Stops the task: its stop signal to every running container.
    fn begin_stop(&mut self, cause: StopCause) {
        if self.state.stop.is_some() {
            return;
        }
        self.state.stop = Some(cause);
        self.state.phase = Phase::Stopping;
        for index in 0..self.containers.len() {
            match self.state.containers[index].status {
                ContainerStatus::Pending if !self.starting[index] => {
                    self.state.containers[index].status = ContainerStatus::Stopped;
                }
                ContainerStatus::Running => self.signal_stop(index),
                _ => {}
            }
        }
    }

    /// The container's stop signal: it exits on it after [`Timing::stop`], or — ignoring
    /// it — is killed after its stop timeout; an exit its script has due sooner comes first.
    fn signal_stop(&mut self, index: usize) {
        let container = &self.containers[index];
        let exit = match container.script {
            Script::RunIgnoringStopSignal => (
                Instant::now() + container.stop_timeout,
                Due::Exit {
                    code: KILLED,
                    oom: false,
                },
            ),
            _ => (
                Instant::now() + self.timing.stop,
                Due::Exit {
                    code: TERMINATED,
                    oom: false,
                },
            ),
        };
        match self.due[index] {
            Some((at, Due::Exit { .. })) if at <= exit.0 => {}
            _ => self.due[index] = Some(exit),
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

    /// Saves the state and sends it to the agent, when it changed.
    fn publish(&mut self) {
        if self.published.as_ref() == Some(&self.state) {
            return;
        }
        *lock(&self.saved) = self.state.clone();
        if let Some(subscriber) = &self.subscriber
            && subscriber.send(self.state.clone()).is_err()
        {
            // The agent went away; the task carries on.
            self.subscriber = None;
        }
        self.published = Some(self.state.clone());
    }
}

/// Sleeps until `at`; never wakes without one (the `select!` branch then waits forever).
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

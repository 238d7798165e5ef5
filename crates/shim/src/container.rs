//! One container as the supervisor's loop sees it: its plan, where it is in its life (a
//! [`Lifecycle`], changed only by the methods here, one per event — containerd's
//! `init_state.go` keeps a process's states as types the same way), what has been observed of
//! it (its wire [`ContainerState`]), the orders its thread still takes, and its [`Timers`].
//!
//! A method called in a state its event cannot happen in (a start for a container that never
//! ran, say) changes nothing and logs a warning: events come from the container's own thread,
//! in order, so that is a bug, and the state the agent sees stays one that was reached.

use std::time::{Duration, Instant};

use berth_sys::{Signal, Signaller};

use crate::plan::PlannedContainer;
use crate::state::{ContainerReason, ContainerState, ContainerStatus};
use crate::worker::Worker;

/// Where a container is in its life.
#[derive(Debug)]
pub(crate) enum Lifecycle {
    /// Not started: its dependencies are not met yet. No thread.
    Pending,
    /// Created by its thread, which waits for the agent's go (the plan holds) — or failed to
    /// be, and the `StartFailed` saying so is on its way.
    Held(Worker),
    /// Its thread is creating and starting it. `None`: the thread could not even be spawned,
    /// and the `StartFailed` saying so is on its way.
    Starting(Option<Worker>),
    /// Held, then told to be deleted unstarted; its thread has not said it is done.
    Discarding,
    /// Its init process runs.
    Running {
        /// Its init, in the host's PID namespace.
        pid: i32,
        /// Its thread, waiting for it.
        worker: Worker,
    },
    /// Exited; its thread deletes it when told (once the task is over).
    Exited(Worker),
    /// Never ran (will never start, failed to, or was deleted unstarted): nothing to delete.
    Stopped,
    /// Exited, and its thread has been told to delete it.
    Deleted,
}

impl Lifecycle {
    /// The status the agent is told.
    fn status(&self) -> ContainerStatus {
        match self {
            Lifecycle::Pending
            | Lifecycle::Held(_)
            | Lifecycle::Starting(_)
            | Lifecycle::Discarding => ContainerStatus::Pending,
            Lifecycle::Running { .. } => ContainerStatus::Running,
            Lifecycle::Exited(_) | Lifecycle::Stopped | Lifecycle::Deleted => {
                ContainerStatus::Stopped
            }
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Lifecycle::Pending => "pending",
            Lifecycle::Held(_) => "held",
            Lifecycle::Starting(_) => "starting",
            Lifecycle::Discarding => "discarding",
            Lifecycle::Running { .. } => "running",
            Lifecycle::Exited(_) => "exited",
            Lifecycle::Stopped => "stopped",
            Lifecycle::Deleted => "deleted",
        }
    }
}

/// The kinds of timer a container can have running, at most one of each. A new kind is a
/// variant here and an arm in [`Container::expire`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    /// SIGKILL, if it still runs when its stop timeout is over.
    Kill,
}

/// A container's running timers.
#[derive(Debug, Default)]
pub(crate) struct Timers(Vec<(Timer, Instant)>);

impl Timers {
    /// Runs `timer` until `at`, instead of whenever it was due before.
    pub(crate) fn set(&mut self, timer: Timer, at: Instant) {
        self.cancel(timer);
        self.0.push((timer, at));
    }

    /// Stops `timer`, if it runs.
    pub(crate) fn cancel(&mut self, timer: Timer) {
        self.0.retain(|(kind, _)| *kind != timer);
    }

    /// The soonest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.0.iter().map(|(_, at)| *at).min()
    }

    /// The timers due by `now`, soonest first, no longer running.
    fn take_due(&mut self, now: Instant) -> Vec<Timer> {
        let mut due: Vec<(Timer, Instant)> = Vec::new();
        self.0.retain(|&(kind, at)| {
            if at <= now {
                due.push((kind, at));
            }
            at > now
        });
        due.sort_by_key(|(_, at)| *at);
        due.into_iter().map(|(kind, _)| kind).collect()
    }
}

/// One container of the task.
#[derive(Debug)]
pub(crate) struct Container {
    /// What the agent planned.
    pub(crate) plan: PlannedContainer,
    /// Where it is.
    lifecycle: Lifecycle,
    /// What the agent is told; its status always follows `lifecycle`.
    observed: ContainerState,
    /// Between its stop signal and SIGKILL: its own stopTimeout, else the task's.
    stop_timeout: Duration,
    /// Its running timers.
    pub(crate) timers: Timers,
}

impl Container {
    /// Container `plan`, not started; it gets `default_stop_timeout_ms` to stop unless it
    /// says otherwise.
    pub(crate) fn new(plan: PlannedContainer, default_stop_timeout_ms: u64) -> Self {
        let observed = ContainerState {
            name: plan.name.clone(),
            status: ContainerStatus::Pending,
            pid: None,
            exit_code: None,
            reason: None,
            started_at_ms: None,
            stopped_at_ms: None,
        };
        let stop_timeout =
            Duration::from_millis(plan.stop_timeout_ms.unwrap_or(default_stop_timeout_ms));
        Self {
            plan,
            lifecycle: Lifecycle::Pending,
            observed,
            stop_timeout,
            timers: Timers::default(),
        }
    }

    /// What the agent is told about it.
    pub(crate) fn observed(&self) -> &ContainerState {
        &self.observed
    }

    /// Not started and no thread: it may be started once its dependencies allow.
    pub(crate) fn is_pending(&self) -> bool {
        matches!(self.lifecycle, Lifecycle::Pending)
    }

    /// Its thread is busy with it and has not said how it went (held, starting, or being
    /// deleted unstarted).
    pub(crate) fn is_starting(&self) -> bool {
        matches!(
            self.lifecycle,
            Lifecycle::Held(_) | Lifecycle::Starting(_) | Lifecycle::Discarding
        )
    }

    /// The agent is told it is stopped: exited, or never to run.
    pub(crate) fn is_stopped(&self) -> bool {
        self.lifecycle.status() == ContainerStatus::Stopped
    }

    fn enter(&mut self, next: Lifecycle) {
        self.observed.status = next.status();
        self.lifecycle = next;
    }

    /// The state, to be moved on: every caller puts a state back with [`Self::enter`] or
    /// [`Self::refuse_event`].
    fn take(&mut self) -> Lifecycle {
        std::mem::replace(&mut self.lifecycle, Lifecycle::Stopped)
    }

    /// Puts `unchanged` back: `event` cannot happen in it.
    fn refuse_event(&mut self, unchanged: Lifecycle, event: &str) {
        tracing::warn!(
            container = %self.plan.name,
            state = unchanged.name(),
            "ignoring {event}: it cannot happen in this state"
        );
        self.lifecycle = unchanged;
    }

    /// Pending → it will never start, because of `reason`. Also a container already stopped
    /// that way takes the newer reason (a task whose network failed may fail to mount too).
    pub(crate) fn refuse(&mut self, reason: ContainerReason) {
        match self.take() {
            Lifecycle::Pending | Lifecycle::Stopped => {
                self.observed.reason = Some(reason);
                self.enter(Lifecycle::Stopped);
            }
            other => self.refuse_event(other, "a refusal"),
        }
    }

    /// Pending → its thread creates it (and holds it, or starts it). `worker`: `None` when the
    /// thread could not be spawned.
    pub(crate) fn spawned(&mut self, worker: Option<Worker>, held: bool) {
        match self.take() {
            Lifecycle::Pending => self.enter(match worker {
                Some(worker) if held => Lifecycle::Held(worker),
                worker => Lifecycle::Starting(worker),
            }),
            other => self.refuse_event(other, "a start"),
        }
    }

    /// Held → starting: the agent confirmed the images. In any other state there is nothing
    /// to start (not held, or no longer).
    pub(crate) fn go(&mut self) {
        match self.take() {
            Lifecycle::Held(mut worker) => {
                worker.release(true);
                self.enter(Lifecycle::Starting(Some(worker)));
            }
            other => self.enter(other),
        }
    }

    /// The task stops before it ran: pending → stopped, held → deleted unstarted. A container
    /// whose thread is starting it runs first, then gets its stop signal; any other has run.
    pub(crate) fn discard(&mut self) {
        match self.take() {
            Lifecycle::Pending => self.enter(Lifecycle::Stopped),
            Lifecycle::Held(mut worker) => {
                worker.release(false);
                // Its thread deletes it and ends without waiting for more orders.
                self.enter(Lifecycle::Discarding);
            }
            other => self.enter(other),
        }
    }

    /// Starting → running as `pid`, since `at_ms`.
    pub(crate) fn started(&mut self, pid: i32, at_ms: i64) {
        match self.take() {
            Lifecycle::Starting(Some(worker)) => {
                self.observed.pid = Some(pid);
                self.observed.started_at_ms = Some(at_ms);
                self.enter(Lifecycle::Running { pid, worker });
            }
            other => self.refuse_event(other, "a start"),
        }
    }

    /// Held, starting or discarding → stopped, never having run, because of `reason`. Its
    /// thread has ended: nothing to delete.
    pub(crate) fn start_failed(&mut self, reason: ContainerReason) {
        match self.take() {
            Lifecycle::Held(_) | Lifecycle::Starting(_) | Lifecycle::Discarding => {
                self.observed.reason = Some(reason);
                self.enter(Lifecycle::Stopped);
            }
            other => self.refuse_event(other, "a start failure"),
        }
    }

    /// Discarding → stopped: its thread deleted it unstarted and ended.
    pub(crate) fn not_started(&mut self) {
        match self.take() {
            Lifecycle::Discarding => self.enter(Lifecycle::Stopped),
            other => self.refuse_event(other, "a deletion unstarted"),
        }
    }

    /// Running → exited with `code` at `at_ms`; `oom`: the kernel's OOM killer did it. Its
    /// SIGKILL, if one was due, is no longer.
    pub(crate) fn exited(&mut self, code: i32, oom: bool, at_ms: i64) {
        match self.take() {
            Lifecycle::Running { worker, .. } => {
                self.observed.exit_code = Some(code);
                self.observed.stopped_at_ms = Some(at_ms);
                if oom {
                    self.observed.reason = Some(ContainerReason::OutOfMemory);
                }
                self.timers.cancel(Timer::Kill);
                self.enter(Lifecycle::Exited(worker));
            }
            other => self.refuse_event(other, "an exit"),
        }
    }

    /// Exited → deleted: tells its thread to delete it. True when a `Deleted` will come back.
    /// A running one (the loop ended early) is deleted by its thread once it has exited; any
    /// other state has nothing to delete.
    pub(crate) fn delete(&mut self) -> bool {
        match self.take() {
            Lifecycle::Exited(worker) => {
                self.enter(Lifecycle::Deleted);
                worker.delete()
            }
            other => {
                let told = match &other {
                    Lifecycle::Running { worker, .. } => worker.delete(),
                    _ => false,
                };
                self.enter(other);
                told
            }
        }
    }

    /// If it runs: its stop signal now, SIGKILL once its stop timeout has passed.
    pub(crate) fn stop(&mut self, now: Instant, signaller: &dyn Signaller) {
        let Lifecycle::Running { pid, .. } = self.lifecycle else {
            return;
        };
        send(signaller, pid, self.stop_signal());
        self.timers.set(Timer::Kill, now + self.stop_timeout);
    }

    /// Acts on each of its timers due by `now`.
    pub(crate) fn expire(&mut self, now: Instant, signaller: &dyn Signaller) {
        for timer in self.timers.take_due(now) {
            match timer {
                Timer::Kill => {
                    if let Lifecycle::Running { pid, .. } = self.lifecycle {
                        send(signaller, pid, Signal::KILL);
                    }
                }
            }
        }
    }

    /// The signal that asks it to stop: the image's, or SIGTERM when that names none.
    fn stop_signal(&self) -> Signal {
        Signal::from_named_raw(self.plan.stop_signal).unwrap_or(Signal::TERM)
    }
}

/// Sends `signal` to `pid`. A container that exited meanwhile is no error: its exit is on its
/// way to the loop.
fn send(signaller: &dyn Signaller, pid: i32, signal: Signal) {
    if let Err(error) = signaller.signal(pid, signal) {
        tracing::debug!(%error, "signal not sent");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::RootfsMount;

    fn planned(name: &str) -> PlannedContainer {
        PlannedContainer {
            name: name.into(),
            runtime_id: name.into(),
            bundle: "/bundle".into(),
            spec: Default::default(),
            rootfs: RootfsMount {
                lowers: Vec::new(),
                upper: "/upper".into(),
                work: "/work".into(),
                target: "/rootfs".into(),
            },
            essential: true,
            depends_on: Vec::new(),
            stop_signal: 0,
            stop_timeout_ms: Some(1_000),
            cgroup: "task/app".into(),
            log: "/app.log".into(),
            exited_marker: "/app.exited".into(),
        }
    }

    #[test]
    fn events_that_cannot_happen_in_a_state_change_nothing() {
        let mut app = Container::new(planned("app"), 30_000);
        // Pending: it has no thread, so nothing can have started, exited or been deleted.
        app.started(100, 1);
        app.exited(1, false, 2);
        app.not_started();
        app.start_failed(ContainerReason::StartFailed {
            error: "no thread".into(),
        });
        assert!(app.is_pending());
        assert_eq!(
            app.observed(),
            Container::new(planned("app"), 30_000).observed()
        );
        let (worker, _thread) = Worker::channels(false);
        app.spawned(Some(worker), false);
        // Starting: it is no longer pending, so neither refused nor started twice.
        app.refuse(ContainerReason::DependencyNeverMet {
            why: "too late".into(),
        });
        app.spawned(None, false);
        assert!(app.is_starting());
        assert_eq!(app.observed().reason, None);
        app.started(100, 1);
        assert_eq!(app.observed().status, ContainerStatus::Running);
        // Told to delete it, its thread does once it has exited: it still runs meanwhile.
        assert!(app.delete());
        assert_eq!(app.observed().status, ContainerStatus::Running);
    }

    #[test]
    fn a_stop_signal_it_does_not_name_is_sigterm_and_its_own_timeout_counts() {
        let signaller = berth_sys::RecordingSignaller::default();
        let mut app = Container::new(planned("app"), 30_000);
        let (worker, _thread) = Worker::channels(false);
        app.spawned(Some(worker), false);
        let t0 = Instant::now();
        // Not running yet: nothing to signal, no timer.
        app.stop(t0, &signaller);
        assert_eq!(app.timers.next(), None);
        app.started(100, 1);
        app.stop(t0, &signaller);
        assert_eq!(app.timers.next(), Some(t0 + Duration::from_secs(1)));
        app.expire(t0 + Duration::from_millis(999), &signaller);
        app.expire(t0 + Duration::from_secs(1), &signaller);
        let sent: Vec<_> = signaller
            .calls()
            .iter()
            .map(|c| (c.pid, c.signal))
            .collect();
        assert_eq!(sent, [(100, Signal::TERM), (100, Signal::KILL)]);
        assert_eq!(app.timers.next(), None, "a timer fires once");
    }

    #[test]
    fn timers_come_due_soonest_first_and_once() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        assert_eq!(timers.next(), None);
        timers.set(Timer::Kill, t0 + Duration::from_secs(5));
        // Set again: the new deadline replaces the old one.
        timers.set(Timer::Kill, t0 + Duration::from_secs(2));
        assert_eq!(timers.next(), Some(t0 + Duration::from_secs(2)));
        assert!(timers.take_due(t0 + Duration::from_secs(1)).is_empty());
        assert_eq!(timers.take_due(t0 + Duration::from_secs(2)), [Timer::Kill]);
        assert_eq!(timers.next(), None);
        timers.set(Timer::Kill, t0);
        timers.cancel(Timer::Kill);
        assert_eq!(timers.next(), None);
    }
}

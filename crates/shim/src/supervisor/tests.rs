//! The supervisor's decisions, driven without root: a [`RecordingEffects`] stands in for the
//! kernel and the containers' threads, the tests play those threads' part by handing the
//! loop their events, and time moves only to the deadlines the containers' timers ask for.
//! What a task does is read back from the recorder (mounts, signals, starts, the orders each
//! thread got) and from the state the agent would see.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use berth_runtime::spec::OciSpec;
use berth_sys::{RecordedMount, Signal};

use super::*;
use crate::effects::{Order, Recorded, RecordingEffects};
use crate::plan::{Condition, Dependency, PlannedContainer, RootfsMount};

/// An essential container that stops on SIGTERM within the task's stop timeout.
fn container(name: &str) -> PlannedContainer {
    PlannedContainer {
        name: name.into(),
        runtime_id: format!("t1-{name}"),
        bundle: format!("/bundles/{name}").into(),
        spec: OciSpec::default(),
        rootfs: RootfsMount {
            lowers: vec![format!("/layers/{name}").into()],
            upper: format!("/scratch/{name}/upper").into(),
            work: format!("/scratch/{name}/work").into(),
            target: format!("/rootfs/{name}").into(),
        },
        essential: true,
        depends_on: Vec::new(),
        stop_signal: 15,
        stop_timeout_ms: None,
        cgroup: format!("berth/t1/{name}"),
        log: format!("/logs/{name}.log").into(),
        exited_marker: format!("/logs/{name}.exited").into(),
    }
}

fn non_essential(name: &str) -> PlannedContainer {
    PlannedContainer {
        essential: false,
        ..container(name)
    }
}

fn depending(name: &str, on: &str, condition: Condition) -> PlannedContainer {
    PlannedContainer {
        depends_on: vec![Dependency {
            container: on.into(),
            condition,
        }],
        ..container(name)
    }
}

/// The task's stop timeout: 30 s.
const TASK_STOP_TIMEOUT: Duration = Duration::from_secs(30);

fn plan(containers: Vec<PlannedContainer>) -> TaskPlan {
    TaskPlan {
        version: protocol::VERSION,
        task_id: "t1".into(),
        hostname: "ip-10-0-0-2".into(),
        state_root: "/run/containers".into(),
        stop_timeout_ms: 30_000,
        log_max_bytes: 1 << 20,
        log_max_files: 2,
        containers,
        network: None,
        hold: false,
    }
}

fn held(containers: Vec<PlannedContainer>) -> TaskPlan {
    TaskPlan {
        hold: true,
        ..plan(containers)
    }
}

/// A supervisor with recorded effects, run as its loop runs it, at a clock the test moves.
struct Task {
    supervisor: Supervisor<RecordingEffects>,
    /// What the supervisor queues for itself (a thread that could not be spawned) and what
    /// client threads send it.
    queue: Receiver<Event>,
    now: Instant,
    _dir: tempfile::TempDir,
}

impl Task {
    fn new(plan: TaskPlan) -> Self {
        Self::with(plan, RecordingEffects::default())
    }

    /// Prepared (network, mounts) and stepped once, as the loop begins.
    fn with(plan: TaskPlan, effects: RecordingEffects) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (events, queue) = mpsc::channel();
        let supervisor = Supervisor::new(plan, ShimFiles::new(dir.path()), effects, events);
        let mut task = Self {
            supervisor,
            queue,
            now: Instant::now(),
            _dir: dir,
        };
        task.supervisor.prepare(task.now);
        task.settle();
        task
    }

    /// What the loop does after anything happened.
    fn settle(&mut self) {
        self.supervisor.step(self.now);
        self.supervisor.publish();
    }

    fn event(&mut self, event: Event) {
        self.supervisor.handle(event, self.now);
        self.settle();
    }

    /// Hands the loop what it queued for itself.
    fn deliver_queued(&mut self) {
        while let Ok(event) = self.queue.try_recv() {
            self.event(event);
        }
    }

    fn index(&self, name: &str) -> usize {
        self.supervisor
            .containers
            .iter()
            .position(|c| c.plan.name == name)
            .unwrap_or_else(|| panic!("no container {name}"))
    }

    fn started(&mut self, name: &str, pid: i32) {
        let index = self.index(name);
        self.event(Event::Started { index, pid });
    }

    fn exited(&mut self, name: &str, code: i32) {
        let index = self.index(name);
        self.event(Event::Exited {
            index,
            code,
            oom: false,
        });
    }

    /// Moves the clock to the soonest deadline, which it returns, and lets it expire as the
    /// loop's timeout does.
    fn run_to_deadline(&mut self) -> Instant {
        let at = self.supervisor.next_deadline().expect("a timer runs");
        assert!(at >= self.now, "deadlines are not in the past");
        self.now = at;
        self.supervisor.expire(at);
        self.settle();
        at
    }

    fn container(&self, name: &str) -> &ContainerState {
        self.supervisor.containers[self.index(name)].observed()
    }

    fn status(&self, name: &str) -> ContainerStatus {
        self.container(name).status
    }

    fn reason(&self, name: &str) -> Option<&ContainerReason> {
        self.container(name).reason.as_ref()
    }

    fn phase(&self) -> Phase {
        self.supervisor.phase
    }

    fn stop(&self) -> Option<&StopCause> {
        self.supervisor.stop.as_ref()
    }

    /// Every signal sent so far, as (pid, signal).
    fn signals(&self) -> Vec<(i32, Signal)> {
        self.supervisor
            .effects
            .signaller
            .calls()
            .into_iter()
            .map(|call| (call.pid, call.signal))
            .collect()
    }

    /// The containers whose threads were started, in order.
    fn starts(&self) -> Vec<String> {
        self.supervisor.effects.started()
    }

    fn orders(&mut self, name: &str) -> Vec<Order> {
        let index = self.index(name);
        self.supervisor.effects.orders(index)
    }

    fn done(&self) -> bool {
        self.supervisor.all_exited()
    }

    /// The state the agent would read from `state.json`.
    fn saved(&self) -> ShimState {
        ShimState::load(&self.supervisor.files.state).expect("a saved state")
    }
}

/// A client whose end is already closed: greeting it fails.
fn gone_client() -> UnixStream {
    let (ours, theirs) = UnixStream::pair().unwrap();
    drop(theirs);
    ours
}

#[test]
fn depends_on_holds_a_container_back_until_its_condition_is_met() {
    /// What `a` does before `b` is looked at again.
    #[derive(Debug, Clone, Copy)]
    enum A {
        Nothing,
        Starts,
        Exits(i32),
    }
    #[derive(Debug)]
    enum B {
        Waits,
        Starts,
        Never(&'static str),
    }
    use Condition::*;
    let cases = [
        (Start, A::Nothing, B::Waits),
        (Start, A::Starts, B::Starts),
        (Complete, A::Starts, B::Waits),
        (Complete, A::Exits(1), B::Starts),
        (Success, A::Starts, B::Waits),
        (Success, A::Exits(0), B::Starts),
        (
            Success,
            A::Exits(3),
            B::Never(
                "dependency condition SUCCESS on container a was not met: it exited with code 3",
            ),
        ),
        // No health checks yet: HEALTHY is met by a start.
        (Healthy, A::Starts, B::Starts),
    ];
    for (condition, a, expected) in cases {
        let case = format!("{condition:?} after a {a:?}");
        let mut task = Task::new(plan(vec![
            non_essential("a"),
            depending("b", "a", condition),
        ]));
        assert_eq!(task.starts(), ["a"], "{case}: b waits for a first");
        match a {
            A::Nothing => {}
            A::Starts => task.started("a", 101),
            A::Exits(code) => {
                task.started("a", 101);
                assert_eq!(task.starts(), ["a"], "{case}: a running is not enough");
                task.exited("a", code);
            }
        }
        match expected {
            B::Waits => {
                assert_eq!(task.starts(), ["a"], "{case}");
                assert_eq!(task.status("b"), ContainerStatus::Pending, "{case}");
                assert_eq!(task.phase(), Phase::Starting, "{case}");
            }
            B::Starts => {
                assert_eq!(task.starts(), ["a", "b"], "{case}");
                assert_eq!(task.stop(), None, "{case}");
            }
            B::Never(why) => {
                let cause = StopCause::DependencyNeverMet {
                    container: "b".into(),
                    why: why.into(),
                };
                assert_eq!(task.starts(), ["a"], "{case}");
                assert_eq!(task.status("b"), ContainerStatus::Stopped, "{case}");
                assert_eq!(
                    task.reason("b"),
                    Some(&ContainerReason::DependencyNeverMet { why: why.into() }),
                    "{case}"
                );
                assert_eq!(task.stop(), Some(&cause), "{case}");
                assert_eq!(task.saved().stop, Some(cause), "{case}: published");
            }
        }
    }
}

#[test]
fn a_container_that_can_never_start_dooms_those_waiting_for_it() {
    let mut task = Task::new(plan(vec![
        container("app"),
        PlannedContainer {
            essential: false,
            ..depending("helper", "ghost", Condition::Start)
        },
        depending("late", "helper", Condition::Start),
    ]));
    // The task had started app before helper was found hopeless: app gets stopped.
    assert_eq!(task.starts(), ["app"]);
    assert_eq!(
        task.reason("helper"),
        Some(&ContainerReason::DependencyNeverMet {
            why: "it depends on container ghost, which the task does not have".into()
        })
    );
    let doomed = "dependency condition START on container helper was not met: it never started";
    assert_eq!(
        task.reason("late"),
        Some(&ContainerReason::DependencyNeverMet { why: doomed.into() })
    );
    assert_eq!(
        task.stop(),
        Some(&StopCause::DependencyNeverMet {
            container: "late".into(),
            why: doomed.into()
        })
    );
    assert_eq!(task.status("app"), ContainerStatus::Pending);
    // Its thread was creating it: it runs, and is stopped at once.
    task.started("app", 100);
    assert_eq!(task.signals(), [(100, Signal::TERM)]);
}

#[test]
fn an_essential_exit_stops_the_others_and_kills_each_after_its_own_stop_timeout() {
    let mut task = Task::new(plan(vec![
        container("app"),
        PlannedContainer {
            stop_signal: 2,
            stop_timeout_ms: Some(2_000),
            ..non_essential("proxy")
        },
        non_essential("logger"),
    ]));
    let t0 = task.now;
    for (name, pid) in [("app", 100), ("proxy", 101), ("logger", 102)] {
        task.started(name, pid);
    }
    assert_eq!(task.phase(), Phase::Running);
    assert_eq!(task.supervisor.next_deadline(), None);

    task.exited("app", 0);
    assert_eq!(
        task.stop(),
        Some(&StopCause::EssentialContainerExited {
            container: "app".into()
        })
    );
    assert_eq!(task.phase(), Phase::Stopping);
    // Each its own stop signal: proxy's image asks for SIGINT.
    assert_eq!(task.signals(), [(101, Signal::INT), (102, Signal::TERM)]);

    // logger stops on SIGTERM: its SIGKILL is called off.
    task.exited("logger", 0);
    // proxy ignores SIGINT: SIGKILL at its own 2 s, not the task's 30 s.
    assert_eq!(task.run_to_deadline(), t0 + Duration::from_secs(2));
    assert_eq!(
        task.signals(),
        [(101, Signal::INT), (102, Signal::TERM), (101, Signal::KILL)]
    );
    assert!(!task.done(), "proxy has not exited yet");
    task.exited("proxy", 137);
    assert_eq!(task.supervisor.next_deadline(), None, "no SIGKILL left due");
    assert!(task.done());
    assert_eq!(task.signals().len(), 3, "logger never got SIGKILL");
    assert_eq!(task.saved().phase, Phase::Stopping);
}

#[test]
fn containers_killed_at_their_deadlines_in_order() {
    let mut task = Task::new(plan(vec![
        container("app"),
        PlannedContainer {
            stop_timeout_ms: Some(5_000),
            ..non_essential("slow")
        },
        PlannedContainer {
            stop_timeout_ms: Some(1_000),
            ..non_essential("fast")
        },
    ]));
    let t0 = task.now;
    for (name, pid) in [("app", 100), ("slow", 101), ("fast", 102)] {
        task.started(name, pid);
    }
    task.event(Event::Stop);
    assert_eq!(task.run_to_deadline(), t0 + Duration::from_secs(1));
    assert_eq!(task.signals()[3..], [(102, Signal::KILL)]);
    assert_eq!(task.run_to_deadline(), t0 + Duration::from_secs(5));
    assert_eq!(task.signals()[4..], [(101, Signal::KILL)]);
    assert_eq!(task.run_to_deadline(), t0 + TASK_STOP_TIMEOUT);
    assert_eq!(task.signals()[5..], [(100, Signal::KILL)]);
    assert_eq!(task.supervisor.next_deadline(), None);
}

#[test]
fn a_non_essential_exit_leaves_the_task_running() {
    let mut task = Task::new(plan(vec![container("app"), non_essential("migrate")]));
    task.started("app", 100);
    task.started("migrate", 101);
    task.exited("migrate", 1);
    assert_eq!(task.phase(), Phase::Running);
    assert_eq!(task.stop(), None);
    assert!(task.signals().is_empty());
    assert_eq!(task.supervisor.next_deadline(), None);
    assert_eq!(task.container("migrate").exit_code, Some(1));
    assert_eq!(task.saved().containers[1].status, ContainerStatus::Stopped);
}

#[test]
fn what_stops_a_task_and_how_it_is_reported() {
    struct Case {
        what: &'static str,
        /// Whether `app` has started when it happens (else its thread is starting it).
        app_started: bool,
        event: fn() -> Event,
        cause: StopCause,
        app_reason: Option<ContainerReason>,
        /// `app`'s status right after.
        app_status: ContainerStatus,
        /// Signals sent: the sidecar's, and app's if it runs.
        signals: &'static [(i32, Signal)],
    }
    let app_exited = StopCause::EssentialContainerExited {
        container: "app".into(),
    };
    let cases = [
        Case {
            what: "a start failure",
            app_started: false,
            event: || Event::StartFailed {
                index: 0,
                error: "exec: no such file".into(),
            },
            cause: StopCause::StartFailed {
                container: "app".into(),
                error: "exec: no such file".into(),
            },
            app_reason: Some(ContainerReason::StartFailed {
                error: "exec: no such file".into(),
            }),
            app_status: ContainerStatus::Stopped,
            signals: &[(201, Signal::TERM)],
        },
        Case {
            what: "a stop request",
            app_started: true,
            event: || Event::Stop,
            cause: StopCause::StopRequested,
            app_reason: None,
            app_status: ContainerStatus::Running,
            signals: &[(100, Signal::TERM), (201, Signal::TERM)],
        },
        Case {
            what: "an essential exit",
            app_started: true,
            event: || Event::Exited {
                index: 0,
                code: 2,
                oom: false,
            },
            cause: app_exited.clone(),
            app_reason: None,
            app_status: ContainerStatus::Stopped,
            signals: &[(201, Signal::TERM)],
        },
        Case {
            what: "an OOM kill",
            app_started: true,
            event: || Event::Exited {
                index: 0,
                code: 137,
                oom: true,
            },
            cause: app_exited,
            app_reason: Some(ContainerReason::OutOfMemory),
            app_status: ContainerStatus::Stopped,
            signals: &[(201, Signal::TERM)],
        },
    ];
    for case in cases {
        let what = case.what;
        let mut task = Task::new(plan(vec![container("app"), non_essential("sidecar")]));
        task.started("sidecar", 201);
        if case.app_started {
            task.started("app", 100);
        }
        task.event((case.event)());
        assert_eq!(task.stop(), Some(&case.cause), "{what}");
        assert_eq!(task.reason("app"), case.app_reason.as_ref(), "{what}");
        assert_eq!(task.status("app"), case.app_status, "{what}");
        assert_eq!(task.signals(), case.signals, "{what}");
        let saved = task.saved();
        assert_eq!(saved.phase, Phase::Stopping, "{what}");
        assert_eq!(saved.containers[0].reason, case.app_reason, "{what}");
        assert_eq!(saved.stop.as_ref(), Some(&case.cause), "{what}");
        // A second cause does not replace the first.
        task.event(Event::Stop);
        assert_eq!(task.stop(), Some(&case.cause), "{what}");
    }
}

#[test]
fn a_task_whose_containers_all_exit_none_essential_stops() {
    let mut task = Task::new(plan(vec![non_essential("a"), non_essential("b")]));
    task.started("a", 100);
    task.started("b", 101);
    task.exited("a", 0);
    assert_eq!(task.stop(), None);
    task.exited("b", 0);
    assert_eq!(task.stop(), Some(&StopCause::AllContainersExited));
    assert!(task.done());
}

#[test]
fn a_stop_while_a_container_is_created_kills_it_once_it_starts() {
    let mut task = Task::new(plan(vec![container("app")]));
    let t0 = task.now;
    task.event(Event::Stop);
    // Nothing to signal yet, and not over: its thread has not said how the start went.
    assert!(task.signals().is_empty());
    assert_eq!(task.status("app"), ContainerStatus::Pending);
    assert!(!task.done());
    task.now = t0 + Duration::from_secs(1);
    task.started("app", 100);
    assert_eq!(task.signals(), [(100, Signal::TERM)]);
    // Its stop timeout counts from its stop signal.
    assert_eq!(
        task.run_to_deadline(),
        t0 + Duration::from_secs(1) + TASK_STOP_TIMEOUT
    );
    assert_eq!(task.signals(), [(100, Signal::TERM), (100, Signal::KILL)]);
    task.exited("app", 137);
    assert!(task.done());
}

#[test]
fn held_containers_are_created_and_start_on_go() {
    let mut task = Task::new(held(vec![
        container("app"),
        depending("worker", "app", Condition::Start),
    ]));
    assert_eq!(
        task.supervisor.effects.calls,
        [Recorded::Start {
            name: "app".into(),
            held: true
        }]
    );
    assert_eq!(task.status("app"), ContainerStatus::Pending);
    assert!(task.orders("app").is_empty());
    task.event(Event::Go);
    assert_eq!(task.orders("app"), [Order::Go(true)]);
    task.started("app", 100);
    // Started after the go: nothing holds it.
    assert_eq!(
        task.supervisor.effects.calls[1..],
        [Recorded::Start {
            name: "worker".into(),
            held: false
        }]
    );
    task.started("worker", 101);
    assert_eq!(task.phase(), Phase::Running);
    // The agent's going away no longer matters: it confirmed the images.
    task.event(Event::Disconnected);
    task.event(Event::Go);
    assert_eq!(task.stop(), None);
    assert!(task.orders("app").is_empty());
}

#[test]
fn held_containers_are_deleted_unstarted_when_the_task_stops_first() {
    /// What happens, the event that says so, and the stop cause.
    type Case = (&'static str, fn() -> Event, StopCause);
    let cases: [Case; 3] = [
        ("a stop", || Event::Stop, StopCause::StopRequested),
        ("a disconnect", || Event::Disconnected, StopCause::AgentLost),
        (
            "a client that cannot be greeted",
            || Event::Connected(gone_client()),
            StopCause::AgentLost,
        ),
    ];
    for (what, event, cause) in cases {
        let mut task = Task::new(held(vec![
            container("app"),
            non_essential("sidecar"),
            depending("worker", "app", Condition::Start),
        ]));
        task.event(event());
        assert_eq!(task.stop(), Some(&cause), "{what}");
        for name in ["app", "sidecar"] {
            assert_eq!(task.orders(name), [Order::Go(false)], "{what}: {name}");
        }
        // Never started, so never stopped by a signal.
        assert!(task.signals().is_empty(), "{what}");
        assert_eq!(task.starts(), ["app", "sidecar"], "{what}: worker never");
        assert_eq!(task.status("worker"), ContainerStatus::Stopped, "{what}");
        // Not over until their threads have deleted them.
        assert_eq!(task.status("app"), ContainerStatus::Pending, "{what}");
        assert!(!task.done(), "{what}");
        task.event(Event::NotStarted { index: 0 });
        task.event(Event::NotStarted { index: 1 });
        assert_eq!(task.status("app"), ContainerStatus::Stopped, "{what}");
        assert!(task.done(), "{what}");
        // A go too late starts nothing.
        task.event(Event::Go);
        assert!(task.orders("app").is_empty(), "{what}");
    }
}

#[test]
fn a_disconnect_when_nothing_is_held_changes_nothing() {
    for (what, hold) in [("never held", false), ("after the go", true)] {
        let mut task = Task::new(if hold {
            held(vec![container("app")])
        } else {
            plan(vec![container("app")])
        });
        if hold {
            task.event(Event::Go);
        }
        let before = task.supervisor.state();
        task.event(Event::Disconnected);
        task.event(Event::Connected(gone_client()));
        assert_eq!(task.supervisor.state(), before, "{what}");
        assert_eq!(task.stop(), None, "{what}");
    }
}

#[test]
fn a_held_task_hears_its_agent_and_stops_when_the_agent_goes() {
    let mut task = Task::new(held(vec![container("app")]));
    let (agent, supervisor_end) = UnixStream::pair().unwrap();
    task.event(Event::Connected(supervisor_end));
    assert_eq!(task.stop(), None, "greeted");
    let mut greeting = String::new();
    BufReader::new(&agent).read_line(&mut greeting).unwrap();
    let greeted: ShimState = serde_json::from_str(&greeting).unwrap();
    assert_eq!(greeted, task.supervisor.state());
    // The reader thread notices the agent's end closing, and tells the loop.
    drop(agent);
    let event = task
        .queue
        .recv_timeout(Duration::from_secs(10))
        .expect("the reader thread reports the disconnect");
    assert!(matches!(event, Event::Disconnected));
    task.event(event);
    assert_eq!(task.stop(), Some(&StopCause::AgentLost));
    assert_eq!(task.orders("app"), [Order::Go(false)]);
}

#[test]
fn the_network_and_root_filesystems_come_first_and_their_failures_fail_the_task() {
    let mut task = Task::new(TaskPlan {
        network: Some(network()),
        ..plan(vec![container("a"), container("b")])
    });
    assert_eq!(
        task.supervisor.effects.calls,
        [
            Recorded::WireNetwork {
                task_id: "t1".into()
            },
            Recorded::Start {
                name: "a".into(),
                held: false
            },
            Recorded::Start {
                name: "b".into(),
                held: false
            },
        ]
    );
    let mounted: Vec<_> = task
        .supervisor
        .effects
        .mounter
        .calls()
        .into_iter()
        .map(|call| match call {
            RecordedMount::Mount(overlay) => overlay.target,
            RecordedMount::Unmount(target) => panic!("unmounted {}", target.display()),
        })
        .collect();
    assert_eq!(mounted, [Path::new("/rootfs/a"), Path::new("/rootfs/b")]);
    assert_eq!(task.stop(), None);
    task.started("a", 100);

    let wiring = "cannot create the task's sandbox: recorded failure";
    let mounting = "cannot mount an overlay on /rootfs/a: recorded failure";
    let cases = [
        (
            "the network",
            RecordingEffects::failing_network(),
            StopCause::NetworkNotWired {
                error: wiring.into(),
            },
            ContainerReason::NetworkNotWired {
                error: wiring.into(),
            },
        ),
        (
            "a mount",
            RecordingEffects::failing_mounts(),
            // The first failure is the task's cause.
            StopCause::RootFilesystemNotMounted {
                container: "a".into(),
                error: mounting.into(),
            },
            ContainerReason::NotMounted {
                error: mounting.into(),
            },
        ),
    ];
    for (what, effects, cause, reason) in cases {
        let task = Task::with(
            TaskPlan {
                network: Some(network()),
                ..plan(vec![container("a"), container("b")])
            },
            effects,
        );
        assert_eq!(task.stop(), Some(&cause), "{what}");
        assert_eq!(task.starts(), Vec::<String>::new(), "{what}");
        assert_eq!(task.status("a"), ContainerStatus::Stopped, "{what}");
        assert_eq!(task.reason("a"), Some(&reason), "{what}");
        assert!(task.done(), "{what}: nothing to wait for");
        assert_eq!(task.saved().stop, Some(cause), "{what}");
    }
}

#[test]
fn a_container_thread_that_cannot_be_spawned_fails_the_start() {
    let mut task = Task::with(
        plan(vec![container("app")]),
        RecordingEffects::failing_spawn(),
    );
    assert_eq!(task.starts(), ["app"]);
    // Settled as any thread's failure is: through the queue.
    assert_eq!(task.stop(), None);
    task.deliver_queued();
    let error = "cannot start a thread: recorded failure";
    assert_eq!(
        task.stop(),
        Some(&StopCause::StartFailed {
            container: "app".into(),
            error: error.into()
        })
    );
    assert_eq!(
        task.reason("app"),
        Some(&ContainerReason::StartFailed {
            error: error.into()
        })
    );
    assert!(task.done());
}

#[test]
fn finishing_deletes_the_exited_containers_then_unmounts_and_publishes_stopped() {
    let mut task = Task::new(plan(vec![container("app"), non_essential("sidecar")]));
    task.started("app", 100);
    task.started("sidecar", 101);
    task.exited("app", 0);
    task.exited("sidecar", 143);
    assert!(task.done());
    assert!(
        task.orders("app").is_empty(),
        "nothing deleted before the task is over"
    );
    // Their threads will answer: queue those answers for `finish` to find.
    for _ in 0..2 {
        task.supervisor.events.send(Event::Deleted).unwrap();
    }
    task.supervisor.finish(&task.queue);
    assert_eq!(task.orders("app"), [Order::Delete]);
    assert_eq!(task.orders("sidecar"), [Order::Delete]);
    let unmounted: Vec<_> = task
        .supervisor
        .effects
        .mounter
        .calls()
        .into_iter()
        .filter_map(|call| match call {
            RecordedMount::Unmount(target) => Some(target),
            RecordedMount::Mount(_) => None,
        })
        .collect();
    assert_eq!(
        unmounted,
        [Path::new("/rootfs/app"), Path::new("/rootfs/sidecar")]
    );
    let saved = task.saved();
    assert_eq!(saved.phase, Phase::Stopped);
    assert_eq!(saved.containers[1].exit_code, Some(143));
}

fn network() -> PlannedNetwork {
    PlannedNetwork {
        bridge: "berth0".into(),
        host_interface: "veth-t1".into(),
        address: "10.0.0.2".parse().unwrap(),
        prefix_len: 24,
        gateway: "10.0.0.1".parse().unwrap(),
        mac: [2, 0, 0, 0, 0, 2],
    }
}

#[test]
fn a_task_that_cannot_begin_leaves_a_stopped_state_saying_why() {
    let dir = tempfile::tempdir().unwrap();
    let files = ShimFiles::new(dir.path());
    std::fs::write(&files.plan, b"{not a plan").unwrap();
    assert!(run(dir.path()).is_err());
    let state = ShimState::load(&files.state).unwrap();
    assert_eq!(state.phase, Phase::Stopped);
    let Some(StopCause::PlanUnusable { error }) = state.stop else {
        panic!("{:?}", state.stop)
    };
    assert!(error.starts_with("invalid task plan"), "{error}");

    // A plan of a newer version is not run, and the state says which version it was.
    std::fs::write(&files.plan, br#"{"version": 3, "taskId": "t1"}"#).unwrap();
    assert!(run(dir.path()).is_err());
    let state = ShimState::load(&files.state).unwrap();
    assert_eq!(state.phase, Phase::Stopped);
    assert_eq!(
        state.stop,
        Some(StopCause::PlanUnusable {
            error: "the task plan is of protocol version 3; this supervisor runs versions 1 to 2"
                .into()
        })
    );
}

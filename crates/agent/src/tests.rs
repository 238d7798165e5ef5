//! The agent against a fake control plane: assignments fed in through a channel, every report
//! recorded, and the agent's own loop (`Agent::run`) driven through what needs no container
//! and no root — a task stopped before it started, a task whose image cannot be pulled, and
//! tasks adopted from an earlier berth (a supervisor gone, one that left its state, and a fake
//! supervisor on the task's socket that is asked to stop — speaking this protocol version, the
//! version before it, or one this berth cannot read). The agent is given a temporary
//! directory for cgroups and no bridge, so none of this touches the host, as root or not.
//! Starting real containers is the end-to-end tests' part (`crates/berth/tests`, as root).

use std::sync::Mutex;
use std::time::Duration;

use berth_image::registry::RegistryConfig;
use berth_model::lifecycle::{ContainerStatus, TaskReport, TaskStatus};
use berth_model::shapes::{ContainerDefinition, Task, TaskDefinition};
use berth_shim::{ContainerState, Phase, Request, ShimFiles, ShimState, StopCause};
use berth_sys::RecordingMounter;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::*;

/// How long a test waits for the agent before it fails.
const PATIENCE: Duration = Duration::from_secs(60);
/// A registry nothing listens on.
const UNREACHABLE_IMAGE: &str = "127.0.0.1:1/nothing:latest";

/// A control plane that hands out the assignments the test sends and records every report.
struct FakeControlPlane {
    assignments: Mutex<Option<mpsc::Receiver<Assignment>>>,
    reports: mpsc::UnboundedSender<(String, Vec<TaskReport>)>,
}

impl ControlPlane for FakeControlPlane {
    fn assignments(&self) -> BoxFuture<'_, Result<mpsc::Receiver<Assignment>, ControlPlaneError>> {
        let assignments = self.assignments.lock().unwrap().take();
        Box::pin(async move {
            assignments.ok_or_else(|| ControlPlaneError("assignments asked for twice".into()))
        })
    }

    fn report(
        &self,
        key: String,
        reports: Vec<TaskReport>,
    ) -> BoxFuture<'_, Result<(), ControlPlaneError>> {
        let _ = self.reports.send((key, reports));
        Box::pin(async { Ok(()) })
    }

    fn security_groups(
        &self,
    ) -> BoxFuture<'_, Result<mpsc::Receiver<Vec<GroupIngress>>, ControlPlaneError>> {
        // Asked only of an agent with a firewall, which these tests do without.
        Box::pin(async { Err(ControlPlaneError("no security groups here".into())) })
    }
}

/// One node: an agent running against a fake control plane, its directories in a tempdir.
struct Node {
    _dir: tempfile::TempDir,
    config: AgentConfig,
    mounter: Arc<RecordingMounter>,
    assign: mpsc::Sender<Assignment>,
    reports: mpsc::UnboundedReceiver<(String, Vec<TaskReport>)>,
    agent: JoinHandle<Result<(), ControlPlaneError>>,
}

impl Node {
    fn start(pull_behavior: PullBehavior) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = AgentConfig {
            tasks_dir: dir.path().join("tasks"),
            run_dir: dir.path().join("run"),
            runtime_dir: dir.path().join("run/runtime"),
            cgroup_parent: "berth".into(),
            bridge: "berth-test0".into(),
            // Never started: no test here gets as far as a supervisor of its own.
            shim_binary: crate::ShimProgram::at(dir.path().join("no-berth-here")),
            init_binary: None,
            log_limits: berth_logs::LogLimits::default(),
            pull_behavior,
            warm_supervisors: 0,
            firewall: None,
        };
        let mounter = Arc::new(RecordingMounter::default());
        let images = ImageStore::open(
            &dir.path().join("images"),
            RegistryConfig::default(),
            mounter.clone(),
        )
        .unwrap();
        let cgroups = dir.path().join("cgroup");
        std::fs::create_dir(&cgroups).unwrap();
        let (assign, assignments) = mpsc::channel(16);
        let (recorded, reports) = mpsc::unbounded_channel();
        let control = Arc::new(FakeControlPlane {
            assignments: Mutex::new(Some(assignments)),
            reports: recorded,
        });
        let host = Host {
            cgroup_root: &cgroups,
            bridge: None,
        };
        let agent = Agent::on_host(control, Arc::new(images), config.clone(), host);
        Self {
            _dir: dir,
            config,
            mounter,
            assign,
            reports,
            agent: tokio::spawn(agent.run()),
        }
    }

    async fn assign(&self, assignment: Assignment) {
        self.assign.send(assignment).await.unwrap();
    }

    /// The reports about `key`, one by one in the order they arrived, up to the one that says
    /// STOPPED; with how many batches (control plane writes) they came in.
    async fn reports_until_stopped(&mut self, key: &str) -> (Vec<TaskReport>, usize) {
        let mut reports = Vec::new();
        let mut batches = 0;
        while !reports
            .iter()
            .any(|r: &TaskReport| r.status == Some(TaskStatus::Stopped))
        {
            let (about, batch) = tokio::time::timeout(PATIENCE, self.reports.recv())
                .await
                .expect("the agent reported nothing more")
                .expect("the agent went away");
            assert_eq!(about, key);
            reports.extend(batch);
            batches += 1;
        }
        (reports, batches)
    }

    /// Ends the assignment stream, which ends the agent's loop; then nothing more is reported
    /// about the tasks that have stopped.
    async fn stop(mut self) {
        drop(self.assign);
        let outcome = tokio::time::timeout(PATIENCE, self.agent).await.unwrap();
        outcome.unwrap().unwrap();
        assert!(self.reports.try_recv().is_err(), "reported after STOPPED");
    }

    fn supervisor_files(&self, id: &str) -> ShimFiles {
        let dir = self.config.supervisor_dir(id);
        std::fs::create_dir_all(&dir).unwrap();
        ShimFiles::new(&dir)
    }
}

/// Task `id` of one container, `app`, running `image`.
fn assignment(id: &str, image: &str, last: Option<&str>, desired: &str) -> Assignment {
    Assignment {
        key: format!("key-{id}"),
        task: Task {
            task_arn: Some(format!(
                "arn:aws:ecs:us-east-1:000000000000:task/default/{id}"
            )),
            last_status: last.map(str::to_owned),
            desired_status: Some(desired.into()),
            ..Task::default()
        },
        definition: TaskDefinition {
            container_definitions: Some(vec![ContainerDefinition {
                name: Some("app".into()),
                image: Some(image.into()),
                ..ContainerDefinition::default()
            }]),
            ..TaskDefinition::default()
        },
        network: None,
    }
}

fn statuses(reports: &[TaskReport]) -> Vec<Option<TaskStatus>> {
    reports.iter().map(|r| r.status).collect()
}

fn container(status: berth_shim::ContainerStatus, exit_code: Option<i32>) -> ContainerState {
    ContainerState {
        name: "app".into(),
        status,
        pid: Some(4242),
        exit_code,
        reason: None,
        started_at_ms: Some(1),
        stopped_at_ms: exit_code.map(|_| 2),
    }
}

fn shim_state(phase: Phase, app: ContainerState, stop: Option<StopCause>) -> ShimState {
    ShimState {
        version: berth_shim::protocol::VERSION,
        shim_pid: 1,
        phase,
        containers: vec![app],
        stop,
    }
}

#[tokio::test]
async fn a_task_stopped_before_it_started_is_reported_stopped_with_nothing_torn_down() {
    let mut node = Node::start(PullBehavior::Default);
    let task = assignment("0a1b", UNREACHABLE_IMAGE, None, "STOPPED");
    node.assign(task.clone()).await;
    let (reports, _) = node.reports_until_stopped(&task.key).await;
    assert_eq!(
        reports,
        vec![TaskReport {
            status: Some(TaskStatus::Stopped),
            ..TaskReport::default()
        }]
    );
    // Nothing made, so nothing torn down: no task directory, no root filesystem.
    assert!(!node.config.tasks_dir.join("0a1b").exists());
    assert!(!node.config.supervisor_dir("0a1b").exists());
    assert_eq!(node.mounter.calls(), Vec::new());
    node.stop().await;
}

#[tokio::test]
async fn a_task_whose_image_cannot_be_pulled_fails_to_start() {
    // Without the image stored, every behavior asks the registry.
    for behavior in [
        PullBehavior::Always,
        PullBehavior::Default,
        PullBehavior::Once,
        PullBehavior::PreferCached,
    ] {
        let mut node = Node::start(behavior);
        let task = assignment("1c2d", UNREACHABLE_IMAGE, None, "RUNNING");
        node.assign(task.clone()).await;
        let (reports, _) = node.reports_until_stopped(&task.key).await;
        assert_eq!(
            statuses(&reports),
            [Some(TaskStatus::Pending), None, Some(TaskStatus::Stopped)],
            "{behavior:?}: {reports:#?}"
        );
        let (pending, pulled, stopped) = (&reports[0], &reports[1], &reports[2]);
        assert!(pending.pull_started_at.is_some());
        assert!(
            reports
                .windows(2)
                .all(|w| w[0].observed_at <= w[1].observed_at),
            "{reports:#?}"
        );
        // The container says why, and so does the task.
        let reason = pulled.containers[0].reason.clone().unwrap();
        assert!(
            reason.starts_with(&format!(
                "CannotPullContainerError: pull image {UNREACHABLE_IMAGE}: "
            )),
            "{reason}"
        );
        assert_eq!(pulled.containers[0].name, "app");
        assert_eq!(pulled.containers[0].status, Some(ContainerStatus::Stopped));
        assert_eq!(stopped.stop_code.as_deref(), Some("TaskFailedToStart"));
        assert_eq!(stopped.stopped_reason.as_deref(), Some(reason.as_str()));
        assert_eq!(stopped.pull_stopped_at, None);
        // Released: its log follower is told the container is done, and its supervisor's
        // directory is gone once STOPPED is sent.
        let (_, exited) = container_log(&node.config, "1c2d", "app");
        assert!(exited.exists());
        node.stop().await;
    }
}

#[tokio::test]
async fn a_running_task_whose_supervisor_left_nothing_was_never_started() {
    let mut node = Node::start(PullBehavior::Default);
    let task = assignment("2e3f", UNREACHABLE_IMAGE, Some("RUNNING"), "RUNNING");
    node.assign(task.clone()).await;
    let (reports, batches) = node.reports_until_stopped(&task.key).await;
    assert_eq!(
        statuses(&reports),
        [Some(TaskStatus::Deprovisioning), Some(TaskStatus::Stopped)]
    );
    // DEPROVISIONING and STOPPED are one write.
    assert_eq!(batches, 1);
    assert_eq!(reports[1].stop_code.as_deref(), Some("TaskFailedToStart"));
    assert_eq!(
        reports[1].stopped_reason.as_deref(),
        Some("ResourceInitializationError: berth stopped while the task was starting")
    );
    assert!(reports[1].containers.is_empty());
    node.stop().await;
}

#[tokio::test]
async fn a_task_whose_supervisor_vanished_is_reported_with_what_it_left() {
    let mut node = Node::start(PullBehavior::Default);
    let files = node.supervisor_files("3a4b");
    let running = shim_state(
        Phase::Running,
        container(berth_shim::ContainerStatus::Running, None),
        None,
    );
    running.save(&files.state).unwrap();
    let task = assignment("3a4b", UNREACHABLE_IMAGE, Some("RUNNING"), "RUNNING");
    node.assign(task.clone()).await;
    let (reports, _) = node.reports_until_stopped(&task.key).await;
    let stopped = reports.last().unwrap();
    assert_eq!(stopped.stop_code.as_deref(), Some("TaskFailedToStart"));
    assert_eq!(
        stopped.stopped_reason.as_deref(),
        Some("Task stopped: its supervisor process ended unexpectedly; its containers were killed")
    );
    assert_eq!(stopped.containers.len(), 1);
    assert_eq!(stopped.containers[0].status, Some(ContainerStatus::Stopped));
    assert_eq!(stopped.containers[0].runtime_id.as_deref(), Some("4242"));
    node.stop().await;
}

#[tokio::test]
async fn a_task_that_finished_while_berth_was_away_is_reported_as_its_supervisor_recorded() {
    let mut node = Node::start(PullBehavior::Default);
    let files = node.supervisor_files("4c5d");
    let cause = StopCause::EssentialContainerExited {
        container: "app".into(),
    };
    let finished = shim_state(
        Phase::Stopped,
        container(berth_shim::ContainerStatus::Stopped, Some(3)),
        Some(cause),
    );
    finished.save(&files.state).unwrap();
    let task = assignment("4c5d", UNREACHABLE_IMAGE, Some("RUNNING"), "RUNNING");
    node.assign(task.clone()).await;
    let (reports, _) = node.reports_until_stopped(&task.key).await;
    let stopped = reports.last().unwrap();
    assert_eq!(
        stopped.stop_code.as_deref(),
        Some("EssentialContainerExited")
    );
    assert_eq!(
        stopped.stopped_reason.as_deref(),
        Some("Essential container in task exited")
    );
    assert_eq!(stopped.containers[0].exit_code, Some(3));
    node.stop().await;
}

#[tokio::test]
async fn an_adopted_task_is_followed_and_stopped_through_its_supervisor() {
    let mut node = Node::start(PullBehavior::Default);
    let files = node.supervisor_files("5e6f");
    // A fake supervisor on the task's socket: RUNNING, then, once asked, STOPPED.
    let listener = tokio::net::UnixListener::bind(&files.socket).unwrap();
    let supervisor = tokio::spawn(async move {
        let (connection, _) = listener.accept().await.unwrap();
        let (read, mut write) = connection.into_split();
        let mut requests = BufReader::new(read).lines();
        let send = |state: ShimState| {
            let mut line = serde_json::to_vec(&state).unwrap();
            line.push(b'\n');
            line
        };
        let running = container(berth_shim::ContainerStatus::Running, None);
        let exited = container(berth_shim::ContainerStatus::Stopped, Some(143));
        let by_user = StopCause::StopRequested;
        write
            .write_all(&send(shim_state(Phase::Running, running.clone(), None)))
            .await
            .unwrap();
        let request = requests.next_line().await.unwrap().unwrap();
        let request: Request = serde_json::from_str(&request).unwrap();
        // A line that is no state is skipped.
        write.write_all(b"not a state\n").await.unwrap();
        write
            .write_all(&send(shim_state(
                Phase::Stopping,
                running,
                Some(by_user.clone()),
            )))
            .await
            .unwrap();
        write
            .write_all(&send(shim_state(Phase::Stopped, exited, Some(by_user))))
            .await
            .unwrap();
        request
    });
    let task = assignment("5e6f", UNREACHABLE_IMAGE, Some("RUNNING"), "RUNNING");
    node.assign(task.clone()).await;
    // StopTask: the same task, now desired STOPPED.
    node.assign(assignment(
        "5e6f",
        UNREACHABLE_IMAGE,
        Some("RUNNING"),
        "STOPPED",
    ))
    .await;
    let (reports, _) = node.reports_until_stopped(&task.key).await;
    assert_eq!(supervisor.await.unwrap(), Request::Stop);
    // The supervisor's STOPPED is relayed as STOPPING: STOPPED comes once the task's
    // resources are released.
    assert_eq!(
        statuses(&reports),
        [
            Some(TaskStatus::Running),
            Some(TaskStatus::Stopping),
            Some(TaskStatus::Stopping),
            Some(TaskStatus::Deprovisioning),
            Some(TaskStatus::Stopped),
        ],
        "{reports:#?}"
    );
    assert_eq!(
        reports[0].containers[0].status,
        Some(ContainerStatus::Running)
    );
    assert!(reports[1].containers.is_empty());
    assert_eq!(reports[2].containers[0].exit_code, Some(143));
    let stopped = &reports[4];
    assert_eq!(stopped.stop_code.as_deref(), Some("UserInitiated"));
    assert_eq!(
        stopped.stopped_reason.as_deref(),
        Some("Task stopped by user")
    );
    assert_eq!(stopped.containers[0].exit_code, Some(143));
    // Its supervisor's directory goes once STOPPED is sent.
    node.stop().await;
}

/// A supervisor's state line in protocol version 1, as supervisors of a berth from before
/// versioning write it (from that code, verbatim): no `version`, the stop and the container's
/// reason as the strings it reported.
fn v1_line(
    phase: &str,
    status: &str,
    exit_code: Option<i32>,
    stop: Option<(&str, &str)>,
) -> String {
    let mut app = serde_json::json!({
        "name": "app", "status": status, "pid": 4242, "exitCode": exit_code,
        "reason": null, "startedAtMs": 1, "stoppedAtMs": exit_code.map(|_| 2),
    });
    if exit_code == Some(137) {
        app["reason"] = "OutOfMemoryError: Container killed due to memory usage".into();
    }
    let stop = stop.map(|(code, reason)| serde_json::json!({"code": code, "reason": reason}));
    let state = serde_json::json!({
        "shimPid": 77, "phase": phase, "containers": [app], "stop": stop,
    });
    format!("{state}\n")
}

/// The same states in this version.
fn v2_line(
    phase: Phase,
    status: berth_shim::ContainerStatus,
    exit_code: Option<i32>,
    stop: Option<StopCause>,
) -> String {
    let mut app = container(status, exit_code);
    if exit_code == Some(137) {
        app.reason = Some(berth_shim::ContainerReason::OutOfMemory);
    }
    let state = shim_state(phase, app, stop);
    format!("{}\n", serde_json::to_string(&state).unwrap())
}

/// A fake supervisor on `socket`: sends `greeting`, waits for one request, sends `after`,
/// and closes; returns the request.
fn fake_supervisor(
    socket: &std::path::Path,
    greeting: Vec<String>,
    after: Vec<String>,
) -> JoinHandle<Request> {
    let listener = tokio::net::UnixListener::bind(socket).unwrap();
    tokio::spawn(async move {
        let (connection, _) = listener.accept().await.unwrap();
        let (read, mut write) = connection.into_split();
        let mut requests = BufReader::new(read).lines();
        for line in greeting {
            write.write_all(line.as_bytes()).await.unwrap();
        }
        let request = requests.next_line().await.unwrap().unwrap();
        for line in after {
            write.write_all(line.as_bytes()).await.unwrap();
        }
        serde_json::from_str(&request).unwrap()
    })
}

/// An upgraded berth adopts supervisors the berth before it started: they still run the old
/// code and speak the protocol version before this one. Its reports of such a task are the
/// reports of the same task under a supervisor of this version, word for word.
#[tokio::test]
async fn a_supervisor_of_the_previous_protocol_version_is_adopted_and_reported_alike() {
    use berth_shim::ContainerStatus as Seen;
    let oom = "OutOfMemoryError: Container killed due to memory usage";
    let essential = (
        "EssentialContainerExited",
        "Essential container in task exited",
    );
    let versions = [
        (
            "version 1",
            vec![v1_line("RUNNING", "RUNNING", None, None)],
            vec![
                v1_line("STOPPING", "STOPPED", Some(137), Some(essential)),
                v1_line("STOPPED", "STOPPED", Some(137), Some(essential)),
            ],
        ),
        (
            "version 2",
            vec![v2_line(Phase::Running, Seen::Running, None, None)],
            vec![
                v2_line(
                    Phase::Stopping,
                    Seen::Stopped,
                    Some(137),
                    Some(StopCause::EssentialContainerExited {
                        container: "app".into(),
                    }),
                ),
                v2_line(
                    Phase::Stopped,
                    Seen::Stopped,
                    Some(137),
                    Some(StopCause::EssentialContainerExited {
                        container: "app".into(),
                    }),
                ),
            ],
        ),
    ];
    let mut seen = Vec::new();
    for (version, greeting, after) in versions {
        let mut node = Node::start(PullBehavior::Default);
        let files = node.supervisor_files("6a7b");
        let supervisor = fake_supervisor(&files.socket, greeting, after);
        let task = assignment("6a7b", UNREACHABLE_IMAGE, Some("RUNNING"), "RUNNING");
        node.assign(task.clone()).await;
        node.assign(assignment(
            "6a7b",
            UNREACHABLE_IMAGE,
            Some("RUNNING"),
            "STOPPED",
        ))
        .await;
        let (reports, _) = node.reports_until_stopped(&task.key).await;
        assert_eq!(supervisor.await.unwrap(), Request::Stop, "{version}");
        assert_eq!(
            statuses(&reports),
            [
                Some(TaskStatus::Running),
                Some(TaskStatus::Stopping),
                Some(TaskStatus::Stopping),
                Some(TaskStatus::Deprovisioning),
                Some(TaskStatus::Stopped),
            ],
            "{version}: {reports:#?}"
        );
        assert_eq!(
            reports[1].containers[0].reason.as_deref(),
            Some(oom),
            "{version}"
        );
        let stopped = &reports[4];
        assert_eq!(stopped.stop_code.as_deref(), Some(essential.0), "{version}");
        assert_eq!(
            stopped.stopped_reason.as_deref(),
            Some(essential.1),
            "{version}"
        );
        assert_eq!(stopped.containers[0].exit_code, Some(137), "{version}");
        assert_eq!(
            stopped.containers[0].reason.as_deref(),
            Some(oom),
            "{version}"
        );
        node.stop().await;
        // The times differ from run to run; nothing else may.
        seen.push(
            reports
                .into_iter()
                .map(|r| TaskReport {
                    observed_at: None,
                    ..r
                })
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(seen[0], seen[1]);
}

#[tokio::test]
async fn a_version_1_state_left_behind_is_reported_as_its_supervisor_worded_it() {
    let mut node = Node::start(PullBehavior::Default);
    let files = node.supervisor_files("7c8d");
    let line = v1_line(
        "STOPPED",
        "STOPPED",
        Some(0),
        Some(("UserInitiated", "Task stopped by user")),
    );
    std::fs::write(&files.state, line.trim_end()).unwrap();
    let task = assignment("7c8d", UNREACHABLE_IMAGE, Some("RUNNING"), "RUNNING");
    node.assign(task.clone()).await;
    let (reports, _) = node.reports_until_stopped(&task.key).await;
    let stopped = reports.last().unwrap();
    assert_eq!(stopped.stop_code.as_deref(), Some("UserInitiated"));
    assert_eq!(
        stopped.stopped_reason.as_deref(),
        Some("Task stopped by user")
    );
    assert_eq!(stopped.containers[0].exit_code, Some(0));
    assert_eq!(stopped.containers[0].runtime_id.as_deref(), Some("4242"));
    node.stop().await;
}

/// A berth downgraded under a supervisor of a newer protocol version cannot read its states:
/// it stops the supervisor (a request every version understands) and says why.
#[tokio::test]
async fn a_supervisor_of_an_unknown_protocol_version_is_stopped_and_the_reason_says_so() {
    let reason = "ResourceInitializationError: cannot follow the task: its supervisor speaks \
                  protocol version 3; this berth reads versions 1 to 2";
    let newer = || r#"{"version":3,"phase":{"whatever":"it became"}}"#.to_owned() + "\n";

    // Running: told to stop, though no one asked; reported once it has gone.
    let mut node = Node::start(PullBehavior::Default);
    let files = node.supervisor_files("8e9f");
    let supervisor = fake_supervisor(&files.socket, vec![newer()], vec![newer()]);
    let task = assignment("8e9f", UNREACHABLE_IMAGE, Some("RUNNING"), "RUNNING");
    node.assign(task.clone()).await;
    let (reports, _) = node.reports_until_stopped(&task.key).await;
    assert_eq!(supervisor.await.unwrap(), Request::Stop);
    assert_eq!(
        statuses(&reports),
        [Some(TaskStatus::Deprovisioning), Some(TaskStatus::Stopped)],
        "nothing relayed of states it cannot read: {reports:#?}"
    );
    assert_eq!(reports[1].stop_code.as_deref(), Some("TaskFailedToStart"));
    assert_eq!(reports[1].stopped_reason.as_deref(), Some(reason));
    node.stop().await;

    // Finished while berth was away: its state says nothing this berth can read either.
    let mut node = Node::start(PullBehavior::Default);
    let files = node.supervisor_files("9a0b");
    std::fs::write(&files.state, newer()).unwrap();
    let task = assignment("9a0b", UNREACHABLE_IMAGE, Some("RUNNING"), "RUNNING");
    node.assign(task.clone()).await;
    let (reports, _) = node.reports_until_stopped(&task.key).await;
    let stopped = reports.last().unwrap();
    assert_eq!(stopped.stopped_reason.as_deref(), Some(reason));
    assert!(stopped.containers.is_empty());
    node.stop().await;
}

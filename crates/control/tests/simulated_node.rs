//! The control plane's task lifecycle against the simulated node (`berth_control::
//! simulated_node`): RunTask to RUNNING, scripted exits, OOM kills, pull and start failures,
//! StopTask, ten tasks at once, addresses freed, and a node agent restarted on its machine —
//! all through the ECS operations users call, in milliseconds and without root.

use std::sync::Arc;
use std::time::Duration;

use berth_control::simulated_node::{Script, Scripts, SimulatedHost, SimulatedNode, Timing};
use berth_control::{Ecs, LOCAL_NODE, ListTasksQuery, NewCluster, PageRequest, RunTaskInput};
use berth_model::AccountRegion;
use berth_model::lifecycle::{ContainerStatus, DesiredStatus, TaskReport, TaskStatus};
use berth_model::shapes::{
    AwsVpcConfiguration, Connectivity, NetworkConfiguration, Task, TaskDefinition, TaskStopCode,
};
use berth_store::EmbeddedStore;

/// How long a test waits for a task, in real time, whatever tokio's clock does.
const PATIENCE: Duration = Duration::from_secs(20);

fn scope() -> AccountRegion {
    AccountRegion {
        account_id: "123456789012".into(),
        region: "us-east-1".into(),
    }
}

/// A control plane over a store in a temporary directory, with the `default` cluster.
struct Plane {
    _dir: tempfile::TempDir,
    store: Arc<EmbeddedStore>,
    ecs: Arc<Ecs>,
}

async fn plane() -> Plane {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = EmbeddedStore::open(&dir.path().join("state.redb")).expect("an embedded store");
    let store = Arc::new(store);
    let ecs = Arc::new(Ecs::new(store.clone()));
    ecs.create_cluster(&scope(), NewCluster::default())
        .await
        .expect("the default cluster");
    Plane {
        _dir: dir,
        store,
        ecs,
    }
}

/// Registers `family` (awsvpc, Fargate) with one essential container `app` running `image`.
async fn register(ecs: &Ecs, family: &str, image: &str) {
    register_containers(
        ecs,
        family,
        serde_json::json!([{"name": "app", "image": image, "essential": true}]),
    )
    .await;
}

async fn register_containers(ecs: &Ecs, family: &str, containers: serde_json::Value) {
    let definition: TaskDefinition = serde_json::from_value(serde_json::json!({
        "family": family,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": containers,
    }))
    .expect("a task definition");
    ecs.register_task_definition(&scope(), definition, vec![])
        .await
        .expect("the task definition registers");
}

/// RunTask of `count` tasks of `family` in a subnet made on first use; their ARNs.
async fn run(ecs: &Ecs, family: &str, count: i32) -> Vec<String> {
    let input = RunTaskInput {
        task_definition: family.into(),
        count: Some(count),
        network_configuration: Some(NetworkConfiguration {
            awsvpc_configuration: Some(AwsVpcConfiguration {
                subnets: vec!["subnet-0123456789abcdef0".into()],
                security_groups: None,
                assign_public_ip: None,
            }),
        }),
        ..RunTaskInput::default()
    };
    let (tasks, failures) = ecs.run_task(&scope(), input).await.expect("RunTask");
    assert!(failures.is_empty(), "{failures:?}");
    tasks
        .into_iter()
        .map(|t| t.task_arn.expect("a task ARN"))
        .collect()
}

async fn run_one(ecs: &Ecs, family: &str) -> String {
    run(ecs, family, 1).await.remove(0)
}

async fn describe(ecs: &Ecs, arn: &str) -> Task {
    let (mut tasks, failures) = ecs
        .describe_tasks(&scope(), None, &[arn.to_owned()], true)
        .await
        .expect("DescribeTasks");
    assert!(failures.is_empty(), "{failures:?}");
    tasks.remove(0)
}

/// The task once it has reached `status` (DescribeTasks' view of it), failing the test after
/// [`PATIENCE`] of real time. Each wait is on tokio's clock, which a paused test may move on
/// while the store's writer thread works: an early wake-up just waits again.
async fn wait_for(ecs: &Ecs, arn: &str, status: TaskStatus) -> Task {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let task = ecs
            .wait_task(
                &scope(),
                None,
                arn,
                status,
                false,
                Duration::from_secs(3600),
            )
            .await
            .expect("the task can be waited for")
            .expect("the task exists");
        if last_status(&task) >= Some(status) {
            return describe(ecs, arn).await;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the task did not reach {status}: {task:?}"
        );
    }
}

/// Waits (in real time, at most [`PATIENCE`]) until `holds` does: for what the node does
/// just after its last report is stored, such as forgetting a task's supervisor.
async fn eventually(what: &str, holds: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + PATIENCE;
    while !holds() {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn last_status(task: &Task) -> Option<TaskStatus> {
    task.last_status.as_deref().and_then(TaskStatus::parse)
}

/// A node on a machine of its own whose containers follow `scripts`.
async fn node(ecs: &Arc<Ecs>, scripts: Scripts) -> SimulatedNode {
    let host = SimulatedHost::new(scripts, Timing::default());
    SimulatedNode::start(ecs.clone(), &host, LOCAL_NODE)
        .await
        .expect("the simulated node starts")
}

/// Each batch's statuses, for comparing a task's reports with the real agent's order: the
/// task's status (or `-`) and each container's, `app=RUNNING`.
fn outline(batches: &[Vec<TaskReport>]) -> Vec<String> {
    batches
        .iter()
        .map(|batch| {
            batch
                .iter()
                .map(|report| {
                    let mut line = report
                        .status
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_else(|| "-".into());
                    for container in &report.containers {
                        let status = container.status.map(|s| s.as_str()).unwrap_or("-");
                        line.push_str(&format!(" {}={status}", container.name));
                    }
                    line
                })
                .collect::<Vec<_>>()
                .join(" + ")
        })
        .collect()
}

#[tokio::test]
async fn a_task_runs_and_describe_tasks_shows_what_the_node_reported() {
    let plane = plane().await;
    let ecs = &plane.ecs;
    register(ecs, "web", "nginx").await;
    let node = node(ecs, Scripts::new()).await;
    let arn = run_one(ecs, "web").await;
    let task = wait_for(ecs, &arn, TaskStatus::Running).await;

    assert_eq!(task.last_status.as_deref(), Some("RUNNING"));
    assert_eq!(task.desired_status.as_deref(), Some("RUNNING"));
    assert!(task.pull_started_at.is_some() && task.pull_stopped_at.is_some());
    assert!(task.pull_started_at <= task.pull_stopped_at);
    assert!(task.started_at.is_some());
    assert_eq!(task.connectivity, Some(Connectivity::Connected));
    assert!(task.connectivity_at.is_some());
    assert!(task.stopped_at.is_none() && task.stop_code.is_none());
    let attachment = &task.attachments.as_deref().expect("attachments")[0];
    assert_eq!(attachment.status.as_deref(), Some("ATTACHED"));
    let container = &task.containers.as_deref().expect("containers")[0];
    assert_eq!(container.last_status.as_deref(), Some("RUNNING"));
    assert!(container.runtime_id.is_some(), "{container:?}");
    let digest = container.image_digest.as_deref().unwrap_or_default();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest}"
    );
    assert!(container.exit_code.is_none());
    let interface = &container.network_interfaces.as_deref().expect("interfaces")[0];
    assert!(interface.private_ipv4_address.is_some());

    // The real agent's order: PENDING, ACTIVATING, the supervisor's first state (containers
    // PENDING), RUNNING with the container running.
    assert_eq!(
        outline(&node.reports(&arn)),
        [
            "PENDING",
            "ACTIVATING app=-",
            "- app=PENDING",
            "RUNNING app=RUNNING"
        ]
    );
    let reports = node.reports(&arn);
    assert!(reports[0][0].pull_started_at.is_some());
    assert!(reports[1][0].pull_stopped_at.is_some());
    assert_eq!(
        reports[1][0].containers[0].image_digest.as_deref(),
        Some(digest)
    );
    assert!(reports.iter().flatten().all(|r| r.observed_at.is_some()));
    assert_eq!(node.host().supervised().len(), 1);
}

#[tokio::test]
async fn a_scripted_exit_stops_the_task_with_its_exit_code() {
    let plane = plane().await;
    let ecs = &plane.ecs;
    register(ecs, "batch", "busybox").await;
    let exit = Script::Exit {
        code: 3,
        after: Duration::from_millis(20),
    };
    let node = node(ecs, Scripts::new().family("batch", exit)).await;
    let arn = run_one(ecs, "batch").await;
    let task = wait_for(ecs, &arn, TaskStatus::Stopped).await;

    assert_eq!(task.stop_code, Some(TaskStopCode::EssentialContainerExited));
    assert_eq!(
        task.stopped_reason.as_deref(),
        Some("Essential container in task exited")
    );
    assert_eq!(task.desired_status.as_deref(), Some("STOPPED"));
    assert!(task.started_at.is_some());
    assert!(task.stopping_at.is_some() && task.execution_stopped_at.is_some());
    assert!(task.stopped_at >= task.stopping_at);
    let container = &task.containers.as_deref().expect("containers")[0];
    assert_eq!(container.last_status.as_deref(), Some("STOPPED"));
    assert_eq!(container.exit_code, Some(3));
    assert!(container.reason.is_none());
    let attachment = &task.attachments.as_deref().expect("attachments")[0];
    assert_eq!(attachment.status.as_deref(), Some("DELETED"));

    // As the real agent reports an exit: the container STOPPED with the task STOPPING, the
    // supervisor's end (STOPPING again, refused as no step forward), then DEPROVISIONING and
    // STOPPED in one write.
    assert_eq!(
        outline(&node.reports(&arn)),
        [
            "PENDING",
            "ACTIVATING app=-",
            "- app=PENDING",
            "RUNNING app=RUNNING",
            "STOPPING app=STOPPED",
            "STOPPING",
            "DEPROVISIONING + STOPPED app=STOPPED",
        ]
    );
    let last = node.reports(&arn).pop().expect("reports");
    assert_eq!(
        last[1].stop_code.as_deref(),
        Some("EssentialContainerExited")
    );
    assert_eq!(last[1].containers[0].exit_code, Some(3));
    // Done with: the machine keeps nothing of it once STOPPED is stored.
    eventually("the supervisor is forgotten", || {
        node.host().supervised().is_empty()
    })
    .await;
}

#[tokio::test]
async fn an_out_of_memory_kill_is_reported_on_the_container() {
    let plane = plane().await;
    let ecs = &plane.ecs;
    register(ecs, "hungry", "hungry:latest").await;
    let oom = Script::OutOfMemory {
        after: Duration::from_millis(10),
    };
    let _node = node(ecs, Scripts::new().image("hungry:latest", oom)).await;
    let arn = run_one(ecs, "hungry").await;
    let task = wait_for(ecs, &arn, TaskStatus::Stopped).await;

    let container = &task.containers.as_deref().expect("containers")[0];
    assert_eq!(container.exit_code, Some(137));
    assert_eq!(
        container.reason.as_deref(),
        Some("OutOfMemoryError: Container killed due to memory usage")
    );
    assert_eq!(task.stop_code, Some(TaskStopCode::EssentialContainerExited));
    assert_eq!(
        task.stopped_reason.as_deref(),
        Some("Essential container in task exited")
    );
}

#[tokio::test]
async fn a_pull_failure_fails_the_task_to_start() {
    let plane = plane().await;
    let ecs = &plane.ecs;
    register(ecs, "missing", "registry.example/missing:v1").await;
    let fails = Script::PullFails {
        message: "manifest unknown: not found".into(),
    };
    let node = node(
        ecs,
        Scripts::new().image("registry.example/missing:v1", fails),
    )
    .await;
    let arn = run_one(ecs, "missing").await;
    let task = wait_for(ecs, &arn, TaskStatus::Stopped).await;

    assert_eq!(task.stop_code, Some(TaskStopCode::TaskFailedToStart));
    let reason = task.stopped_reason.as_deref().unwrap_or_default();
    assert_eq!(
        reason,
        "CannotPullContainerError: pull image registry.example/missing:v1: manifest unknown: not found"
    );
    let container = &task.containers.as_deref().expect("containers")[0];
    assert_eq!(container.last_status.as_deref(), Some("STOPPED"));
    assert_eq!(container.reason.as_deref(), Some(reason));
    assert!(task.started_at.is_none() && task.pull_stopped_at.is_none());
    // The real agent's order for a pull failure: no ACTIVATING, no DEPROVISIONING.
    assert_eq!(
        outline(&node.reports(&arn)),
        ["PENDING", "- app=STOPPED", "STOPPED"]
    );
    assert_eq!(node.host().supervisors_started(), 0);
}

#[tokio::test]
async fn a_container_that_cannot_start_fails_the_task_to_start() {
    let plane = plane().await;
    let ecs = &plane.ecs;
    register_containers(
        ecs,
        "broken",
        serde_json::json!([
            {"name": "app", "image": "app", "essential": true},
            {"name": "sidecar", "image": "broken", "essential": false},
        ]),
    )
    .await;
    let fails = Script::StartFails {
        message: "exec: \"/bin/app\": no such file or directory".into(),
    };
    let _node = node(ecs, Scripts::new().image("broken", fails)).await;
    let arn = run_one(ecs, "broken").await;
    let task = wait_for(ecs, &arn, TaskStatus::Stopped).await;

    assert_eq!(task.stop_code, Some(TaskStopCode::TaskFailedToStart));
    let reason = "CannotStartContainerError: exec: \"/bin/app\": no such file or directory";
    assert_eq!(task.stopped_reason.as_deref(), Some(reason));
    let containers = task.containers.as_deref().expect("containers");
    let sidecar = containers
        .iter()
        .find(|c| c.name.as_deref() == Some("sidecar"))
        .expect("the sidecar");
    assert_eq!(sidecar.reason.as_deref(), Some(reason));
    assert_eq!(sidecar.exit_code, None);
    // The other container had started and was stopped with the task (SIGTERM: 143).
    let app = containers
        .iter()
        .find(|c| c.name.as_deref() == Some("app"))
        .expect("the app");
    assert_eq!(app.last_status.as_deref(), Some("STOPPED"));
    assert_eq!(app.exit_code, Some(143));
    // Its containers never all ran: never RUNNING.
    assert!(task.started_at.is_none());
}

#[tokio::test]
async fn stop_task_stops_it_as_user_initiated() {
    let plane = plane().await;
    let ecs = &plane.ecs;
    register(ecs, "web", "nginx").await;
    let node = node(ecs, Scripts::new()).await;
    let arn = run_one(ecs, "web").await;
    wait_for(ecs, &arn, TaskStatus::Running).await;
    let stopping = ecs
        .stop_task(&scope(), None, &arn, None)
        .await
        .expect("StopTask");
    assert_eq!(stopping.desired_status.as_deref(), Some("STOPPED"));
    let task = wait_for(ecs, &arn, TaskStatus::Stopped).await;

    assert_eq!(task.stop_code, Some(TaskStopCode::UserInitiated));
    assert_eq!(task.stopped_reason.as_deref(), Some("Task stopped by user"));
    let container = &task.containers.as_deref().expect("containers")[0];
    assert_eq!(container.exit_code, Some(143));
    assert_eq!(
        outline(&node.reports(&arn)),
        [
            "PENDING",
            "ACTIVATING app=-",
            "- app=PENDING",
            "RUNNING app=RUNNING",
            "STOPPING",
            "- app=STOPPED",
            "STOPPING",
            "DEPROVISIONING + STOPPED app=STOPPED",
        ]
    );
    let stopped = ListTasksQuery {
        desired_status: Some(DesiredStatus::Stopped),
        ..ListTasksQuery::default()
    };
    let listed = ecs
        .list_tasks(&scope(), &stopped, &PageRequest::default())
        .await
        .expect("ListTasks");
    assert_eq!(listed.items, [arn]);
}

/// On a paused clock: a container that ignores its stop signal is killed after its
/// definition's stopTimeout (100 s here), which takes no real time at all.
#[tokio::test(start_paused = true)]
async fn a_container_ignoring_its_stop_signal_is_killed_after_its_stop_timeout() {
    let real = std::time::Instant::now();
    let plane = plane().await;
    let ecs = &plane.ecs;
    register_containers(
        ecs,
        "stubborn",
        serde_json::json!([{"name": "app", "image": "sleeper", "stopTimeout": 100}]),
    )
    .await;
    let _node = node(
        ecs,
        Scripts::new().image("sleeper", Script::RunIgnoringStopSignal),
    )
    .await;
    let arn = run_one(ecs, "stubborn").await;
    wait_for(ecs, &arn, TaskStatus::Running).await;
    let asked = tokio::time::Instant::now();
    ecs.stop_task(&scope(), None, &arn, Some("enough"))
        .await
        .expect("StopTask");
    let task = wait_for(ecs, &arn, TaskStatus::Stopped).await;

    assert!(asked.elapsed() >= Duration::from_secs(100));
    assert!(real.elapsed() < Duration::from_secs(20));
    assert_eq!(task.stop_code, Some(TaskStopCode::UserInitiated));
    assert_eq!(task.stopped_reason.as_deref(), Some("enough"));
    let container = &task.containers.as_deref().expect("containers")[0];
    assert_eq!(container.exit_code, Some(137));
}

/// On a paused clock: an hour-long batch job finishes at once.
#[tokio::test(start_paused = true)]
async fn scripts_run_on_tokios_clock() {
    let real = std::time::Instant::now();
    let plane = plane().await;
    let ecs = &plane.ecs;
    register(ecs, "nightly", "batch").await;
    let hour = Script::Exit {
        code: 0,
        after: Duration::from_secs(3600),
    };
    let host = SimulatedHost::new(
        Scripts::new().family("nightly", hour),
        Timing {
            pull: Duration::from_secs(60),
            start: Duration::from_secs(5),
            stop: Duration::from_secs(1),
        },
    );
    let _node = SimulatedNode::start(ecs.clone(), &host, LOCAL_NODE)
        .await
        .expect("the simulated node starts");
    let began = tokio::time::Instant::now();
    let arn = run_one(ecs, "nightly").await;
    let task = wait_for(ecs, &arn, TaskStatus::Stopped).await;

    assert!(began.elapsed() >= Duration::from_secs(3665));
    assert!(real.elapsed() < Duration::from_secs(20));
    assert_eq!(
        task.containers.as_deref().expect("containers")[0].exit_code,
        Some(0)
    );
    assert_eq!(task.stop_code, Some(TaskStopCode::EssentialContainerExited));
}

#[tokio::test]
async fn ten_tasks_of_one_run_task_all_run() {
    let plane = plane().await;
    let ecs = &plane.ecs;
    register(ecs, "web", "nginx").await;
    let node = node(ecs, Scripts::new()).await;
    let arns = run(ecs, "web", 10).await;
    assert_eq!(arns.len(), 10);
    for arn in &arns {
        let task = wait_for(ecs, arn, TaskStatus::Running).await;
        assert_eq!(task.last_status.as_deref(), Some("RUNNING"));
    }
    let listed = ecs
        .list_tasks(
            &scope(),
            &ListTasksQuery::default(),
            &PageRequest::default(),
        )
        .await
        .expect("ListTasks");
    assert_eq!(listed.items.len(), 10);
    assert_eq!(node.host().supervisors_started(), 10);
    // Each holds an address of its own.
    let interfaces = ecs
        .describe_network_interfaces(&scope(), &[], &[])
        .await
        .expect("DescribeNetworkInterfaces");
    let mut addresses: Vec<_> = interfaces.iter().map(|i| i.interface.address).collect();
    addresses.sort();
    addresses.dedup();
    assert_eq!(addresses.len(), 10);
}

#[tokio::test]
async fn a_stopped_tasks_address_is_free_for_the_next_task() {
    let plane = plane().await;
    let ecs = &plane.ecs;
    register(ecs, "web", "nginx").await;
    let _node = node(ecs, Scripts::new()).await;
    let first = run_one(ecs, "web").await;
    wait_for(ecs, &first, TaskStatus::Running).await;
    let interfaces = ecs
        .describe_network_interfaces(&scope(), &[], &[])
        .await
        .expect("DescribeNetworkInterfaces");
    assert_eq!(interfaces.len(), 1);
    let address = interfaces[0].interface.address;

    ecs.stop_task(&scope(), None, &first, None)
        .await
        .expect("StopTask");
    wait_for(ecs, &first, TaskStatus::Stopped).await;
    let interfaces = ecs
        .describe_network_interfaces(&scope(), &[], &[])
        .await
        .expect("DescribeNetworkInterfaces");
    assert!(interfaces.is_empty(), "{interfaces:?}");

    // Addresses are handed out lowest first: the freed one is the next task's.
    let second = run_one(ecs, "web").await;
    let task = wait_for(ecs, &second, TaskStatus::Running).await;
    let container = &task.containers.as_deref().expect("containers")[0];
    let interface = &container.network_interfaces.as_deref().expect("interfaces")[0];
    assert_eq!(
        interface.private_ipv4_address.as_deref(),
        Some(address.to_string().as_str())
    );
}

#[tokio::test]
async fn a_restarted_node_adopts_its_running_tasks_without_running_them_again() {
    let plane = plane().await;
    let ecs = &plane.ecs;
    register(ecs, "web", "nginx").await;
    let host = SimulatedHost::new(Scripts::new(), Timing::default());
    let first = SimulatedNode::start(ecs.clone(), &host, LOCAL_NODE)
        .await
        .expect("the simulated node starts");
    let arns = run(ecs, "web", 3).await;
    let mut before = Vec::new();
    for arn in &arns {
        before.push(wait_for(ecs, arn, TaskStatus::Running).await);
    }
    drop(first);

    // Stopped while no agent runs: the next one passes it on.
    ecs.stop_task(&scope(), None, &arns[0], None)
        .await
        .expect("StopTask");
    // A control plane of its own on the same store: all the new agent knows is stored.
    let second = SimulatedNode::start(Arc::new(Ecs::new(plane.store.clone())), &host, LOCAL_NODE)
        .await
        .expect("the simulated node starts again");
    let stopped = wait_for(ecs, &arns[0], TaskStatus::Stopped).await;
    assert_eq!(stopped.stop_code, Some(TaskStopCode::UserInitiated));
    assert_eq!(
        stopped.containers.as_deref().expect("containers")[0].exit_code,
        Some(143)
    );

    // The others: still RUNNING, the same containers (the same runtime ids), never run
    // again (no PENDING from the new agent, no new supervisor).
    for (arn, before) in arns.iter().zip(&before).skip(1) {
        let task = describe(ecs, arn).await;
        assert_eq!(task.last_status.as_deref(), Some("RUNNING"));
        assert_eq!(task.pull_started_at, before.pull_started_at);
        assert_eq!(task.started_at, before.started_at);
        assert_eq!(
            task.containers.as_deref().expect("containers")[0].runtime_id,
            before.containers.as_deref().expect("containers")[0].runtime_id
        );
        let again = second.reports(arn);
        assert!(
            again
                .iter()
                .flatten()
                .all(|r| r.status != Some(TaskStatus::Pending)),
            "{again:?}"
        );
    }
    assert_eq!(host.supervisors_started(), 3);
    eventually("the stopped task's supervisor is forgotten", || {
        host.supervised().len() == 2
    })
    .await;
    let running = ecs
        .list_tasks(
            &scope(),
            &ListTasksQuery::default(),
            &PageRequest::default(),
        )
        .await
        .expect("ListTasks");
    assert_eq!(running.items.len(), 2);

    // And the new agent stops them when asked.
    ecs.stop_task(&scope(), None, &arns[1], None)
        .await
        .expect("StopTask");
    let task = wait_for(ecs, &arns[1], TaskStatus::Stopped).await;
    assert_eq!(task.stop_code, Some(TaskStopCode::UserInitiated));
}

#[tokio::test]
async fn a_task_that_ended_while_its_node_was_down_is_reported_by_the_next() {
    let plane = plane().await;
    let ecs = &plane.ecs;
    register(ecs, "batch", "busybox").await;
    let exit = Script::Exit {
        code: 4,
        after: Duration::from_millis(200),
    };
    let host = SimulatedHost::new(Scripts::new().family("batch", exit), Timing::default());
    let first = SimulatedNode::start(ecs.clone(), &host, LOCAL_NODE)
        .await
        .expect("the simulated node starts");
    let arn = run_one(ecs, "batch").await;
    wait_for(ecs, &arn, TaskStatus::Running).await;
    drop(first);
    tokio::time::sleep(Duration::from_millis(400)).await;
    // Nobody told the control plane.
    assert_eq!(
        describe(ecs, &arn).await.last_status.as_deref(),
        Some("RUNNING")
    );

    let _second = SimulatedNode::start(ecs.clone(), &host, LOCAL_NODE)
        .await
        .expect("the simulated node starts again");
    let task = wait_for(ecs, &arn, TaskStatus::Stopped).await;
    assert_eq!(task.stop_code, Some(TaskStopCode::EssentialContainerExited));
    assert_eq!(
        task.containers.as_deref().expect("containers")[0].exit_code,
        Some(4)
    );
    eventually("the supervisor is forgotten", || {
        host.supervised().is_empty()
    })
    .await;
}

#[tokio::test]
async fn a_node_on_a_fresh_machine_reports_its_vanished_tasks_stopped() {
    let plane = plane().await;
    let ecs = &plane.ecs;
    register(ecs, "web", "nginx").await;
    let first = node(ecs, Scripts::new()).await;
    let arn = run_one(ecs, "web").await;
    wait_for(ecs, &arn, TaskStatus::Running).await;
    // The machine goes with its agent: a reboot.
    drop(first);

    let _second = node(ecs, Scripts::new()).await;
    let task = wait_for(ecs, &arn, TaskStatus::Stopped).await;
    assert_eq!(task.stop_code, Some(TaskStopCode::TaskFailedToStart));
    assert!(
        task.stopped_reason
            .as_deref()
            .unwrap_or_default()
            .starts_with("ResourceInitializationError"),
        "{task:?}"
    );
}

#[tokio::test]
async fn a_task_stopped_before_its_node_saw_it_never_starts() {
    let plane = plane().await;
    let ecs = &plane.ecs;
    register(ecs, "web", "nginx").await;
    let arn = run_one(ecs, "web").await;
    ecs.stop_task(&scope(), None, &arn, None)
        .await
        .expect("StopTask");
    let node = node(ecs, Scripts::new()).await;
    let task = wait_for(ecs, &arn, TaskStatus::Stopped).await;
    assert_eq!(task.stop_code, Some(TaskStopCode::UserInitiated));
    assert!(
        task.containers.as_deref().expect("containers")[0]
            .last_status
            .as_deref()
            == Some(ContainerStatus::Pending.as_str())
    );
    assert_eq!(outline(&node.reports(&arn)), ["STOPPED"]);
    assert_eq!(node.host().supervisors_started(), 0);
}

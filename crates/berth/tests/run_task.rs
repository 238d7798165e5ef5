//! RunTask runs containers for real: a busybox image from a real registry, started through
//! libcontainer by the node agent inside `berth up`, reported back as ECS reports it.

use std::time::{Duration, Instant};

use aws_sdk_ecs::types::{
    Compatibility, ContainerDefinition, ContainerOverride, KeyValuePair, NetworkMode, TaskOverride,
};
use berth_testsupport::netns::{Outside, connects_from};
use berth_testsupport::oci::{Layer, busybox_image};
use berth_testsupport::register_fargate_with;
use berth_testsupport::registry::Front;
use berth_testsupport::tasks::{
    TaskSetup, assert_released, attachment_detail, exit_code, interface_of, processes_in_cgroup,
    register, run, task_id, wait_for,
};

async fn setup() -> TaskSetup {
    TaskSetup::start(env!("CARGO_BIN_EXE_berth"), &[]).await
}

#[tokio::test]
async fn exit_codes_overrides_and_the_lifecycle() {
    let setup = setup().await;
    let (berth, image) = (&setup.berth, setup.image.as_str());
    let ecs = berth.ecs();
    register(
        &ecs,
        "exits",
        ContainerDefinition::builder()
            .name("app")
            .image(image)
            .command("sh")
            .command("-c")
            .command("test \"$GREETING\" = hello && exit 3")
            .environment(
                KeyValuePair::builder()
                    .name("GREETING")
                    .value("hello")
                    .build(),
            )
            .build(),
    )
    .await;
    let arn = run(&ecs, "exits", None).await;
    let task = wait_for(&ecs, &arn, "STOPPED", Duration::from_secs(60)).await;
    let container = &task.containers()[0];
    assert_eq!(container.exit_code(), Some(3), "{task:?}");
    assert_eq!(container.last_status(), Some("STOPPED"));
    assert!(
        container
            .image_digest()
            .is_some_and(|d| d.starts_with("sha256:"))
    );
    assert_eq!(
        task.stopped_reason(),
        Some("Essential container in task exited")
    );
    assert_eq!(
        task.stop_code().map(|c| c.as_str()),
        Some("EssentialContainerExited")
    );
    assert_eq!(task.desired_status(), Some("STOPPED"));
    for (name, at) in [
        ("pullStartedAt", task.pull_started_at()),
        ("pullStoppedAt", task.pull_stopped_at()),
        ("startedAt", task.started_at()),
        ("stoppingAt", task.stopping_at()),
        ("executionStoppedAt", task.execution_stopped_at()),
        ("stoppedAt", task.stopped_at()),
    ] {
        assert!(at.is_some(), "{name} is set");
    }

    // Nothing of the task is left in any cgroup hierarchy, nor mounted.
    assert_released(task_id(&arn));

    // Overrides: a different command and environment exit 0.
    let overrides = TaskOverride::builder()
        .container_overrides(
            ContainerOverride::builder()
                .name("app")
                .command("sh")
                .command("-c")
                .command("test \"$GREETING\" = bye")
                .environment(
                    KeyValuePair::builder()
                        .name("GREETING")
                        .value("bye")
                        .build(),
                )
                .build(),
        )
        .build();
    let arn = run(&ecs, "exits", Some(overrides)).await;
    let task = wait_for(&ecs, &arn, "STOPPED", Duration::from_secs(60)).await;
    assert_eq!(task.containers()[0].exit_code(), Some(0), "{task:?}");
}

#[tokio::test]
async fn stop_task_stops_a_running_container() {
    let setup = setup().await;
    let (berth, image) = (&setup.berth, setup.image.as_str());
    let ecs = berth.ecs();
    // sh as PID 1 ignores SIGTERM: the stop timeout then brings SIGKILL.
    register(
        &ecs,
        "sleeper",
        ContainerDefinition::builder()
            .name("app")
            .image(image)
            .command("sleep")
            .command("300")
            .stop_timeout(2)
            .build(),
    )
    .await;
    let arn = run(&ecs, "sleeper", None).await;
    wait_for(&ecs, &arn, "RUNNING", Duration::from_secs(60)).await;
    ecs.stop_task()
        .task(&arn)
        .reason("enough")
        .send()
        .await
        .unwrap();
    let task = wait_for(&ecs, &arn, "STOPPED", Duration::from_secs(30)).await;
    assert_eq!(task.stopped_reason(), Some("enough"));
    assert_eq!(task.stop_code().map(|c| c.as_str()), Some("UserInitiated"));
    assert_eq!(task.containers()[0].exit_code(), Some(137));
}

#[tokio::test]
async fn a_missing_image_stops_the_task_with_cannot_pull() {
    let setup = setup().await;
    let (berth, image) = (&setup.berth, setup.image.as_str());
    let ecs = berth.ecs();
    let missing = image.replace("busybox:v1", "busybox:missing");
    register(
        &ecs,
        "missing",
        ContainerDefinition::builder()
            .name("app")
            .image(&missing)
            .build(),
    )
    .await;
    let arn = run(&ecs, "missing", None).await;
    let task = wait_for(&ecs, &arn, "STOPPED", Duration::from_secs(60)).await;
    let reason = task.stopped_reason().unwrap_or_default();
    assert!(reason.starts_with("CannotPullContainerError:"), "{reason}");
    assert_eq!(
        task.stop_code().map(|c| c.as_str()),
        Some("TaskFailedToStart")
    );
    // The missing tag, said once, in berth's words.
    let repository = missing.trim_end_matches(":missing");
    assert_eq!(
        reason,
        format!(
            "CannotPullContainerError: pull image {missing}: tag missing not found in {repository}"
        )
    );
    assert_eq!(task.containers()[0].reason(), Some(reason));
}

#[tokio::test]
async fn a_missing_executable_stops_the_task_with_cannot_start_naming_it() {
    let setup = setup().await;
    let ecs = setup.berth.ecs();
    for (family, command, reason) in [
        (
            "absolute",
            "/bin/nonexistent",
            "CannotStartContainerError: executable '/bin/nonexistent' not found",
        ),
        (
            "on-path",
            "nonexistent",
            "CannotStartContainerError: executable 'nonexistent' not found in $PATH",
        ),
    ] {
        register(
            &ecs,
            family,
            ContainerDefinition::builder()
                .name("app")
                .image(&setup.image)
                .command(command)
                .build(),
        )
        .await;
        let arn = run(&ecs, family, None).await;
        let task = wait_for(&ecs, &arn, "STOPPED", Duration::from_secs(60)).await;
        assert_eq!(task.stopped_reason(), Some(reason), "{task:?}");
        assert_eq!(task.containers()[0].reason(), Some(reason), "{task:?}");
    }
}

#[tokio::test]
async fn containers_of_a_task_reach_each_other_on_localhost() {
    let setup = setup().await;
    let (berth, image) = (&setup.berth, setup.image.as_str());
    let ecs = berth.ecs();
    ecs.register_task_definition()
        .family("pair")
        .network_mode(NetworkMode::Awsvpc)
        .requires_compatibilities(Compatibility::Fargate)
        .cpu("256")
        .memory("512")
        .container_definitions(
            ContainerDefinition::builder()
                .name("server")
                .image(image)
                .essential(false)
                .command("sh")
                .command("-c")
                .command("echo hello-from-server | nc -l -p 9000")
                .build(),
        )
        .container_definitions(
            ContainerDefinition::builder()
                .name("client")
                .image(image)
                .command("sh")
                .command("-c")
                .command("for i in 1 2 3 4 5 6 7 8 9 10; do nc 127.0.0.1 9000 2>/dev/null | grep -q hello-from-server && exit 0; sleep 0.3; done; exit 1")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let arn = run(&ecs, "pair", None).await;
    let task = wait_for(&ecs, &arn, "STOPPED", Duration::from_secs(60)).await;
    let client = task
        .containers()
        .iter()
        .find(|c| c.name() == Some("client"))
        .unwrap();
    assert_eq!(client.exit_code(), Some(0), "{task:?}");
    assert_eq!(
        task.stopped_reason(),
        Some("Essential container in task exited")
    );
}

#[tokio::test]
async fn berth_run_ps_logs_stop_from_the_cli() {
    let setup = setup().await;
    let (berth, image) = (&setup.berth, setup.image.as_str());
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();

    // Foreground: the output streams back and berth exits with the container's code.
    let out = berth.cli(&[
        "run",
        "--rm",
        "-e",
        "WHO=berth",
        image,
        "--",
        "sh",
        "-c",
        "echo hello $WHO; echo oops >&2; exit 4",
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    // stdout and stderr are separate pipes (as in Docker): their lines keep their own
    // order, not each other's.
    let mut lines: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    lines.sort();
    assert_eq!(lines, ["hello berth", "oops"]);
    // --rm removed the ad-hoc definition.
    let families = berth.ecs().list_task_definitions().send().await.unwrap();
    assert!(families.task_definition_arns().is_empty(), "{families:?}");

    // Detached: the ARN comes back; ps, logs and stop find the task.
    let out = berth.cli(&[
        "run",
        "-d",
        image,
        "--",
        "sh",
        "-c",
        "trap 'exit 0' TERM; echo started; while true; do sleep 0.2; done",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let arn = text(&out.stdout).trim().to_owned();
    let id = arn.rsplit('/').next().unwrap().to_owned();
    let running = wait_for(&berth.ecs(), &arn, "RUNNING", Duration::from_secs(60)).await;
    // In the default subnet, with a way out (as `docker run`).
    let dir = tempfile::tempdir().unwrap();
    let defaults = berth.aws_json(
        dir.path(),
        &[
            "ec2",
            "describe-subnets",
            "--filters",
            "Name=default-for-az,Values=true",
        ],
    );
    assert_eq!(
        attachment_detail(&running, "subnetId"),
        defaults["Subnets"][0]["SubnetId"].as_str().unwrap()
    );
    let outside = Outside::create(berth.network_slot());
    let supervisor = berth.supervisor_pid(&id).expect("the task's supervisor");
    assert!(connects_from(supervisor, outside.address, 9000));
    // ps shows ids as docker does, 12 characters long.
    let ps = text(&berth.cli(&["ps"]).stdout);
    assert!(ps.contains(&id[..12]) && ps.contains("RUNNING"), "{ps}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let logs = text(&berth.cli(&["logs", &id]).stdout);
        if logs == "started\n" {
            break;
        }
        assert!(Instant::now() < deadline, "logs: {logs:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stop = berth.cli(&["stop", &id]);
    assert!(stop.status.success(), "{}", text(&stop.stderr));
    // The container traps SIGTERM and exits at once, well within the stop timeout.
    let task = wait_for(&berth.ecs(), &arn, "STOPPED", Duration::from_secs(20)).await;
    assert_eq!(task.containers()[0].exit_code(), Some(0));
    let all = text(&berth.cli(&["ps", "--all"]).stdout);
    assert!(all.contains(&id[..12]) && all.contains("STOPPED"), "{all}");

    // A pull failure: non-zero, with ECS's words.
    let missing = image.replace("busybox:v1", "busybox:nope");
    let out = berth.cli(&["run", "--rm", &missing]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("CannotPullContainerError"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn a_container_over_its_memory_is_reported_out_of_memory() {
    let setup = setup().await;
    let (berth, image) = (&setup.berth, setup.image.as_str());
    let ecs = berth.ecs();
    register(
        &ecs,
        "hungry",
        ContainerDefinition::builder()
            .name("app")
            .image(image)
            .memory(16)
            .command("sh")
            .command("-c")
            .command("x=$(yes | head -c 200000000); echo survived")
            .build(),
    )
    .await;
    let arn = run(&ecs, "hungry", None).await;
    let task = wait_for(&ecs, &arn, "STOPPED", Duration::from_secs(60)).await;
    let container = &task.containers()[0];
    assert_eq!(container.exit_code(), Some(137), "{task:?}");
    assert_eq!(
        container.reason(),
        Some("OutOfMemoryError: Container killed due to memory usage")
    );
}

#[tokio::test]
async fn tasks_outlive_a_kill_9_of_berth_and_are_adopted_with_their_real_exit_codes() {
    let mut setup = setup().await;
    let image = setup.image.clone();
    let container = |command: &str| {
        ContainerDefinition::builder()
            .name("app")
            .image(image.clone())
            .command("sh")
            .command("-c")
            .command(command)
            .stop_timeout(2)
            .build()
    };
    let ecs = setup.berth.ecs();
    register(&ecs, "long", container("sleep 300")).await;
    register(&ecs, "brief", container("sleep 3; echo done; exit 7")).await;
    let long = run(&ecs, "long", None).await;
    let brief = run(&ecs, "brief", None).await;
    let lost = run(&ecs, "long", None).await;
    let mut pids = Vec::new();
    for arn in [&long, &brief, &lost] {
        let task = wait_for(&ecs, arn, "RUNNING", Duration::from_secs(60)).await;
        pids.push(
            task.containers()[0]
                .runtime_id()
                .unwrap()
                .parse::<i32>()
                .unwrap(),
        );
    }
    let id = |arn: &str| arn.rsplit('/').next().unwrap().to_owned();

    // berth dies; the tasks do not. One task's supervisor dies too.
    setup.berth.kill9();
    let state = std::fs::read(
        setup
            .berth
            .data_dir()
            .join("run/tasks")
            .join(id(&lost))
            .join("state.json"),
    )
    .unwrap();
    let shim_pid = serde_json::from_slice::<serde_json::Value>(&state).unwrap()["shimPid"]
        .as_u64()
        .unwrap();
    std::process::Command::new("sh")
        .args(["-c", &format!("kill -KILL {shim_pid}")])
        .status()
        .unwrap();
    // The brief task exits while berth is down.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(std::path::Path::new(&format!("/proc/{}", pids[0])).exists());

    setup.berth.restart();
    let ecs = setup.berth.ecs();
    let brief_task = wait_for(&ecs, &brief, "STOPPED", Duration::from_secs(30)).await;
    assert_eq!(
        brief_task.containers()[0].exit_code(),
        Some(7),
        "{brief_task:?}"
    );
    assert_eq!(
        brief_task.stopped_reason(),
        Some("Essential container in task exited")
    );
    let lost_task = wait_for(&ecs, &lost, "STOPPED", Duration::from_secs(30)).await;
    assert!(
        lost_task
            .stopped_reason()
            .unwrap_or_default()
            .contains("supervisor process ended unexpectedly"),
        "{lost_task:?}"
    );
    // The adopted task is still the same process, and StopTask still reaches it.
    let adopted = ecs.describe_tasks().tasks(&long).send().await.unwrap();
    assert_eq!(adopted.tasks()[0].last_status(), Some("RUNNING"));
    assert!(std::path::Path::new(&format!("/proc/{}", pids[0])).exists());
    let logs = setup.berth.cli(&["logs", &id(&brief)]);
    assert_eq!(String::from_utf8_lossy(&logs.stdout), "done\n");
    ecs.stop_task()
        .task(&long)
        .reason("adopted and stopped")
        .send()
        .await
        .unwrap();
    let stopped = wait_for(&ecs, &long, "STOPPED", Duration::from_secs(30)).await;
    assert_eq!(stopped.stopped_reason(), Some("adopted and stopped"));
    assert_eq!(stopped.containers()[0].exit_code(), Some(137));

    // Nothing of any of them is left: processes, cgroups, network namespaces, mounts.
    for (arn, pid) in [&long, &brief, &lost].into_iter().zip(&pids) {
        let id = id(arn);
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::path::Path::new(&format!("/proc/{pid}")).exists() {
            assert!(
                Instant::now() < deadline,
                "container process {pid} is still alive"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_released(&id);
    }
}

#[tokio::test]
async fn with_the_registry_down_tasks_run_from_the_stored_image_unless_pulls_must_succeed() {
    // The second berth also starts every supervisor on demand (none kept warm).
    for (behavior, expect_run, warm) in [("default", true, "2"), ("always", false, "0")] {
        let mut setup = TaskSetup::start(
            env!("CARGO_BIN_EXE_berth"),
            &[
                "--image-pull-behavior",
                behavior,
                "--warm-supervisors",
                warm,
            ],
        )
        .await;
        let ecs = setup.berth.ecs();
        register(&ecs, "cached", setup.shell("app", "exit 5").build()).await;
        let first = run(&ecs, "cached", None).await;
        wait_for(&ecs, &first, "STOPPED", Duration::from_secs(60)).await;

        setup.stop_registry();
        let arn = run(&ecs, "cached", None).await;
        let task = wait_for(&ecs, &arn, "STOPPED", Duration::from_secs(60)).await;
        if expect_run {
            assert_eq!(task.containers()[0].exit_code(), Some(5), "{task:?}");
        } else {
            assert!(
                task.stopped_reason()
                    .unwrap_or_default()
                    .starts_with("CannotPullContainerError"),
                "{task:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_clean_shutdown_of_berth_leaves_tasks_running_for_the_next_one() {
    let mut setup = setup().await;
    let ecs = setup.berth.ecs();
    register(
        &ecs,
        "steady",
        setup
            .shell("app", "trap 'exit 0' TERM; while :; do sleep 0.2; done")
            .build(),
    )
    .await;
    let arn = run(&ecs, "steady", None).await;
    let task = wait_for(&ecs, &arn, "RUNNING", Duration::from_secs(60)).await;
    let pid = task.containers()[0].runtime_id().unwrap().to_owned();

    // SIGTERM: berth exits cleanly (0); the task does not go with it.
    assert_eq!(setup.berth.terminate(), Some(0));
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());

    setup.berth.restart();
    let ecs = setup.berth.ecs();
    let task = wait_for(&ecs, &arn, "RUNNING", Duration::from_secs(10)).await;
    assert_eq!(task.containers()[0].runtime_id(), Some(pid.as_str()));
    ecs.stop_task().task(&arn).send().await.unwrap();
    let task = wait_for(&ecs, &arn, "STOPPED", Duration::from_secs(30)).await;
    assert_eq!(task.containers()[0].exit_code(), Some(0), "{task:?}");
}

#[tokio::test]
async fn each_container_gets_its_own_stop_timeout() {
    let setup = setup().await;
    let ecs = setup.berth.ecs();
    // busybox sleep as PID 1 ignores SIGTERM: only SIGKILL, after 1 s, ends it.
    let stubborn = setup
        .shell("stubborn", "exec sleep 300")
        .stop_timeout(1)
        .build();
    register_fargate_with(&ecs, "timeouts", stubborn)
        .container_definitions(
            setup
                .shell(
                    "polite",
                    "trap 'exit 0' TERM; echo ready; while :; do sleep 0.1; done",
                )
                .stop_timeout(120)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let arn = run(&ecs, "timeouts", None).await;
    wait_for(&ecs, &arn, "RUNNING", Duration::from_secs(60)).await;
    // The shell is PID 1 in its container: a SIGTERM before its trap is set is ignored, and
    // the test would wait out the 120 s. Stop only once it says it listens.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !String::from_utf8_lossy(
        &setup
            .berth
            .cli(&["logs", task_id(&arn), "--container", "polite"])
            .stdout,
    )
    .contains("ready")
    {
        assert!(
            Instant::now() < deadline,
            "the polite container never got ready"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = Instant::now();
    ecs.stop_task().task(&arn).send().await.unwrap();
    let task = wait_for(&ecs, &arn, "STOPPED", Duration::from_secs(60)).await;
    // Not the 120 s of the other container: each is killed after its own timeout.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(exit_code(&task, "stubborn"), Some(137));
    assert_eq!(exit_code(&task, "polite"), Some(0));
}

#[tokio::test]
async fn a_tag_moved_in_the_registry_runs_the_image_it_now_names() {
    // Root filesystems are prepared from the stored image while the registry is asked: a
    // task must still get the image the tag names now, not the one stored before.
    let setup = setup().await;
    let ecs = setup.berth.ecs();
    let version = |v: &str| {
        let mut image = busybox_image();
        image
            .layers
            .push(Layer::new().dir("etc").file("etc/version", v));
        image
    };
    let reference = setup.push("moving", &version("3"));
    register(
        &ecs,
        "moving",
        ContainerDefinition::builder()
            .name("app")
            .image(&reference)
            .command("sh")
            .command("-c")
            .command("exit $(cat /etc/version)")
            .build(),
    )
    .await;
    let runs = |expected: i32| {
        let ecs = ecs.clone();
        async move {
            let arn = run(&ecs, "moving", None).await;
            let task = wait_for(&ecs, &arn, "STOPPED", Duration::from_secs(60)).await;
            assert_eq!(exit_code(&task, "app"), Some(expected), "{task:?}");
            assert_released(task_id(&arn));
            task.containers()[0].image_digest().unwrap().to_owned()
        }
    };
    let first = runs(3).await;
    // The same tag, a new image; the old one stays stored on the node.
    assert_eq!(setup.push("moving", &version("4")), reference);
    let second = runs(4).await;
    assert_ne!(first, second);
    // And once more from the store, now current.
    assert_eq!(runs(4).await, second);
}

#[tokio::test]
async fn containers_are_made_while_the_registry_is_asked_and_run_once_it_answers() {
    let mut setup = setup().await;
    let (front, gate) = Front::gated(setup.registry_address());
    let image = setup
        .image
        .replacen(setup.registry_address(), front.address(), 1);
    let ecs = setup.berth.ecs();
    register(
        &ecs,
        "held",
        setup.shell("app", "echo ran; exit 7").image(&image).build(),
    )
    .await;
    // The first run stores the image on the node.
    let arn = run(&ecs, "held", None).await;
    let task = wait_for(&ecs, &arn, "STOPPED", Duration::from_secs(60)).await;
    assert_eq!(exit_code(&task, "app"), Some(7), "{task:?}");

    // While the registry is slow to answer, the container is made — its init process is in
    // its cgroup — but not run.
    let created = |arn: String| async move {
        let deadline = Instant::now() + Duration::from_secs(20);
        while processes_in_cgroup(task_id(&arn), "app") == 0 {
            assert!(Instant::now() < deadline, "the container was never created");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        arn
    };
    gate.close();
    let arn = created(run(&ecs, "held", None).await).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let described = ecs.describe_tasks().tasks(&arn).send().await.unwrap();
    let task = &described.tasks()[0];
    assert_ne!(task.last_status(), Some("RUNNING"), "{task:?}");
    assert_ne!(task.last_status(), Some("STOPPED"), "{task:?}");
    assert_eq!(exit_code(task, "app"), None, "{task:?}");
    assert_eq!(
        output(&setup, &arn),
        "",
        "the container ran before the registry answered"
    );
    gate.open();
    let task = wait_for(&ecs, &arn, "STOPPED", Duration::from_secs(60)).await;
    assert_eq!(exit_code(&task, "app"), Some(7), "{task:?}");
    assert_eq!(output(&setup, &arn), "ran\n");
    assert_released(task_id(&arn));

    // Stopped while it waits: deleted, never run.
    gate.close();
    let arn = created(run(&ecs, "held", None).await).await;
    ecs.stop_task().task(&arn).send().await.unwrap();
    gate.open();
    let task = wait_for(&ecs, &arn, "STOPPED", Duration::from_secs(60)).await;
    assert_eq!(exit_code(&task, "app"), None, "{task:?}");
    assert_eq!(output(&setup, &arn), "");
    assert_released(task_id(&arn));

    // berth killed while it waits: no one is left to say go, so the supervisor gives the
    // task up, and the restarted berth reports why.
    gate.close();
    let arn = created(run(&ecs, "held", None).await).await;
    setup.berth.restart();
    let ecs = setup.berth.ecs();
    let task = wait_for(&ecs, &arn, "STOPPED", Duration::from_secs(60)).await;
    gate.open();
    assert_eq!(exit_code(&task, "app"), None, "{task:?}");
    assert!(
        task.stopped_reason()
            .is_some_and(|r| r.contains("before the task's images were confirmed")),
        "{task:?}"
    );
    assert_eq!(output(&setup, &arn), "");
    assert_released(task_id(&arn));
}

/// A plan in the protocol's previous version (no `version` field), as the berth before an
/// upgrade wrote it: a supervisor of this berth's binary is started from it by hand, as the
/// old berth started one (`berth shim DIR`, the bound socket as standard input), and the
/// restarted berth adopts it — keeps its root filesystem, follows it and stops it. (A live
/// supervisor of the old code, speaking version-1 states, is played by a fake in the agent's
/// tests.)
#[tokio::test]
async fn a_supervisor_started_from_a_plan_of_the_previous_version_is_adopted() {
    let mut setup = setup().await;
    let ecs = setup.berth.ecs();
    // Each run adds a line to the writable layer and shows it all when stopped: the log says
    // the layer outlived the supervisor it was made for.
    let script = "echo run >> /runs; trap 'cat /runs; exit 0' TERM; while :; do sleep 0.2; done";
    register(
        &ecs,
        "upgraded",
        setup.shell("app", script).stop_timeout(2).build(),
    )
    .await;
    let arn = run(&ecs, "upgraded", None).await;
    wait_for(&ecs, &arn, "RUNNING", Duration::from_secs(60)).await;
    let id = task_id(&arn).to_owned();
    let dir = setup.berth.data_dir().join("run/tasks").join(&id);

    // berth dies; its task's supervisor is stopped through its socket, as berth would.
    setup.berth.kill9();
    stop_supervisor(&dir.join("shim.sock"));
    // Its veth goes with its network namespace, shortly after: the next supervisor makes one
    // of the same name.
    let deadline = Instant::now() + Duration::from_secs(10);
    while interface_of(&id).is_some() {
        assert!(Instant::now() < deadline, "the old supervisor's veth stays");
        std::thread::sleep(Duration::from_millis(20));
    }

    // The plan as a berth from before versioning wrote it: the same fields, no version.
    let plan_path = dir.join("plan.json");
    let mut plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&plan_path).unwrap()).unwrap();
    assert_eq!(plan["version"], 2, "{plan}");
    plan.as_object_mut().unwrap().remove("version");
    std::fs::write(&plan_path, serde_json::to_vec(&plan).unwrap()).unwrap();
    let app = &plan["containers"][0];
    let upper = std::path::PathBuf::from(app["rootfs"]["upper"].as_str().unwrap());
    std::fs::remove_file(app["exitedMarker"].as_str().unwrap()).unwrap();
    std::fs::remove_file(dir.join("state.json")).unwrap();
    let log = setup
        .berth
        .data_dir()
        .join("tasks")
        .join(&id)
        .join("shim.log");
    start_supervisor(setup.berth.binary(), &dir, &log);
    // It runs the plan, and speaks its own version.
    let deadline = Instant::now() + Duration::from_secs(30);
    let pid = loop {
        let state = std::fs::read(dir.join("state.json"))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok());
        if let Some(state) = state.filter(|s| s["phase"] == "RUNNING") {
            assert_eq!(state["version"], 2, "{state}");
            break state["containers"][0]["pid"].as_i64().unwrap().to_string();
        }
        assert!(
            Instant::now() < deadline,
            "the supervisor never ran the plan: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    setup.berth.restart();
    let ecs = setup.berth.ecs();
    // Adopted: the container reported is the one the new supervisor started.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let described = ecs.describe_tasks().tasks(&arn).send().await.unwrap();
        let task = &described.tasks()[0];
        if task.containers()[0].runtime_id() == Some(pid.as_str()) {
            assert_eq!(task.last_status(), Some("RUNNING"), "{task:?}");
            break;
        }
        assert!(Instant::now() < deadline, "never adopted: {task:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Read from the plan without a version, its root filesystem is one berth keeps.
    assert!(
        upper.join("runs").exists(),
        "its writable layer was removed"
    );
    ecs.stop_task().task(&arn).send().await.unwrap();
    let task = wait_for(&ecs, &arn, "STOPPED", Duration::from_secs(30)).await;
    assert_eq!(exit_code(&task, "app"), Some(0), "{task:?}");
    assert_eq!(task.stop_code().map(|c| c.as_str()), Some("UserInitiated"));
    assert_eq!(output(&setup, &arn), "run\nrun\nrun\n");
    assert_released(&id);
}

/// Asks the supervisor on `socket` to stop its task, and waits until it has exited (its end
/// of the connection closes with it).
fn stop_supervisor(socket: &std::path::Path) {
    use std::io::{BufRead, Write};
    let mut connection = std::os::unix::net::UnixStream::connect(socket).unwrap();
    connection
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    connection.write_all(b"\"stop\"\n").unwrap();
    let mut last = String::new();
    for line in std::io::BufReader::new(connection).lines() {
        last = line.expect("the supervisor stopped within 30 s");
    }
    assert!(last.contains(r#""phase":"STOPPED""#), "{last}");
}

/// Starts `berth shim DIR` as the agent does: the task's socket bound and listening as its
/// standard input, its output to `log`, in a process group of its own.
fn start_supervisor(binary: &std::path::Path, dir: &std::path::Path, log: &std::path::Path) {
    use std::os::unix::process::CommandExt;
    let socket = dir.join("shim.sock");
    let _ = std::fs::remove_file(&socket);
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let log = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(log)
        .unwrap();
    let mut child = std::process::Command::new(binary)
        .arg("shim")
        .arg(dir)
        .stdin(std::os::fd::OwnedFd::from(listener))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .process_group(0)
        .spawn()
        .unwrap();
    // Reaped here; the Berth's drop kills it if the test fails first (its state names it).
    std::thread::spawn(move || child.wait());
}

/// What task `arn`'s only container wrote (`berth logs`).
fn output(setup: &TaskSetup, arn: &str) -> String {
    let logs = setup.berth.cli(&["logs", task_id(arn)]);
    String::from_utf8_lossy(&logs.stdout).into_owned()
}

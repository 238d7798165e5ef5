//! What a task definition asks of its containers, checked inside real containers: dependsOn
//! ordering and failure, an init process, a read-only root filesystem, ulimits and the
//! task's hostname, task-scoped volumes through mountPoints and volumesFrom, systemControls,
//! added capabilities and the default seccomp filter, timestamped logs, the task's CPU quota
//! measured from its cgroup, and runtime diagnostics kept out of containers' output.

use std::time::{Duration, Instant};

use aws_sdk_ecs::types::{
    ContainerCondition, ContainerDependency, KernelCapabilities, LinuxParameters, MountPoint,
    SystemControl, Ulimit, UlimitName, Volume, VolumeFrom,
};
use berth_testsupport::register_fargate_with;
use berth_testsupport::tasks::{TaskSetup, exit_code, register, run, task_id, wait_for};

async fn setup() -> TaskSetup {
    TaskSetup::start(env!("CARGO_BIN_EXE_berth"), &[]).await
}

fn depends_on(container: &str, condition: ContainerCondition) -> ContainerDependency {
    ContainerDependency::builder()
        .container_name(container)
        .condition(condition)
        .build()
        .unwrap()
}

/// The timestamps of `container`'s log lines, as `berth logs --timestamps` prints them.
fn log_times(setup: &TaskSetup, arn: &str, container: &str) -> Vec<(String, String)> {
    let out = setup.berth.cli(&[
        "logs",
        "--timestamps",
        "--container",
        container,
        task_id(arn),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            let (time, text) = line.split_once(' ').unwrap();
            (time.to_owned(), text.to_owned())
        })
        .collect()
}

#[tokio::test]
async fn depends_on_orders_containers_and_an_unmet_success_fails_the_task() {
    let setup = setup().await;
    let ecs = setup.berth.ecs();
    let register_pair = |family: &'static str, init_exit: i32| {
        let app = setup
            .shell("app", "echo app-started")
            .depends_on(depends_on("init", ContainerCondition::Success))
            .depends_on(depends_on("sidecar", ContainerCondition::Start))
            .build();
        register_fargate_with(&ecs, family, app)
            .container_definitions(
                setup
                    .shell(
                        "init",
                        &format!("sleep 1; echo init-done; exit {init_exit}"),
                    )
                    .essential(false)
                    .build(),
            )
            .container_definitions(
                setup
                    .shell("sidecar", "echo sidecar-started; sleep 300")
                    .essential(false)
                    .stop_timeout(2)
                    .build(),
            )
            .send()
    };
    register_pair("ordered", 0).await.unwrap();
    register_pair("unmet", 3).await.unwrap();

    let arn = run(&ecs, "ordered", None).await;
    let task = wait_for(&ecs, &arn, "STOPPED", Duration::from_secs(60)).await;
    assert_eq!(
        task.stopped_reason(),
        Some("Essential container in task exited"),
        "{task:?}"
    );
    assert_eq!(exit_code(&task, "app"), Some(0));
    assert_eq!(exit_code(&task, "init"), Some(0));
    // The sidecar was stopped with the task (busybox sleep as PID 1 ignores SIGTERM).
    assert_eq!(exit_code(&task, "sidecar"), Some(137));
    let init = log_times(&setup, &arn, "init");
    let app = log_times(&setup, &arn, "app");
    assert_eq!(init[0].1, "init-done");
    assert_eq!(app[0].1, "app-started");
    // RFC 3339 in UTC with nanoseconds sorts as text: app started after init exited.
    assert!(app[0].0 > init[0].0, "app {app:?} before init {init:?}");

    let arn = run(&ecs, "unmet", None).await;
    let task = wait_for(&ecs, &arn, "STOPPED", Duration::from_secs(60)).await;
    assert_eq!(
        task.stop_code().map(|c| c.as_str()),
        Some("TaskFailedToStart")
    );
    assert_eq!(
        task.stopped_reason(),
        Some(
            "CannotStartContainerError: container app: dependency condition SUCCESS on container init was not met: it exited with code 3"
        )
    );
    let app = task
        .containers()
        .iter()
        .find(|c| c.name() == Some("app"))
        .unwrap();
    assert_eq!(app.exit_code(), None);
}

#[tokio::test]
async fn an_init_process_runs_as_pid_1_and_forwards_stop_signals() {
    let setup = setup().await;
    let ecs = setup.berth.ecs();
    let init = LinuxParameters::builder()
        .init_process_enabled(true)
        .build();
    register(
        &ecs,
        "with-init",
        setup
            .shell(
                "app",
                "tr '\\0' ' ' < /proc/1/cmdline; echo; exec sleep 300",
            )
            .linux_parameters(init)
            .stop_timeout(60)
            .build(),
    )
    .await;
    let arn = run(&ecs, "with-init", None).await;
    wait_for(&ecs, &arn, "RUNNING", Duration::from_secs(60)).await;
    let started = Instant::now();
    ecs.stop_task().task(&arn).send().await.unwrap();
    let task = wait_for(&ecs, &arn, "STOPPED", Duration::from_secs(30)).await;
    // The init forwarded SIGTERM to sleep, which died of it: no wait for the 60 s timeout.
    assert_eq!(task.containers()[0].exit_code(), Some(143), "{task:?}");
    assert!(started.elapsed() < Duration::from_secs(20));
    let logs = setup.berth.cli(&["logs", task_id(&arn)]);
    assert!(
        String::from_utf8_lossy(&logs.stdout).starts_with("/sbin/docker-init -- sh -c "),
        "{}",
        String::from_utf8_lossy(&logs.stdout)
    );
}

#[tokio::test]
async fn read_only_root_ulimits_and_the_task_hostname_reach_the_container() {
    let setup = setup().await;
    let ecs = setup.berth.ecs();
    register(
        &ecs,
        "locked",
        setup
            .shell(
                "app",
                "(echo x > /x) 2>/dev/null && echo writable || echo read-only; ulimit -Sn; ulimit -Hn; hostname",
            )
            .readonly_root_filesystem(true)
            .ulimits(
                Ulimit::builder()
                    .name(UlimitName::Nofile)
                    .soft_limit(1234)
                    .hard_limit(2345)
                    .build()
                    .unwrap(),
            )
            .build(),
    )
    .await;
    let arn = run(&ecs, "locked", None).await;
    let task = wait_for(&ecs, &arn, "STOPPED", Duration::from_secs(60)).await;
    assert_eq!(task.containers()[0].exit_code(), Some(0), "{task:?}");
    let logs = setup.berth.cli(&["logs", task_id(&arn)]);
    // An awsvpc task is named by its private DNS name, as in Fargate.
    let hostname = task.attachments()[0]
        .details()
        .iter()
        .find(|d| d.name() == Some("privateDnsName"))
        .and_then(|d| d.value())
        .unwrap()
        .to_owned();
    assert!(hostname.ends_with(".ec2.internal"), "{hostname}");
    assert_eq!(
        String::from_utf8_lossy(&logs.stdout),
        format!("read-only\n1234\n2345\n{hostname}\n")
    );
}

/// CPU time the task's cgroup has used, in nanoseconds (cgroup v1 or v2).
fn cpu_usage_ns(id: &str) -> u64 {
    let v1 = format!("/sys/fs/cgroup/cpuacct/berth/{id}/cpuacct.usage");
    if let Ok(text) = std::fs::read_to_string(&v1) {
        return text.trim().parse().unwrap();
    }
    let v2 = format!("/sys/fs/cgroup/berth/{id}/cpu.stat");
    let text = std::fs::read_to_string(&v2).expect("the task's cgroup");
    let usec: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("usage_usec "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    usec * 1000
}

#[tokio::test]
async fn a_cpu_bound_task_is_held_to_its_quota() {
    let setup = setup().await;
    let ecs = setup.berth.ecs();
    // 256 CPU units: a quarter of one CPU, whatever the task's two busy loops want.
    register(
        &ecs,
        "busy",
        setup
            .shell("app", "while :; do :; done & while :; do :; done")
            .stop_timeout(2)
            .build(),
    )
    .await;
    let arn = run(&ecs, "busy", None).await;
    wait_for(&ecs, &arn, "RUNNING", Duration::from_secs(60)).await;
    let id = task_id(&arn);
    let (start, used_before) = (Instant::now(), cpu_usage_ns(id));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let used = cpu_usage_ns(id) - used_before;
    let share = used as f64 / start.elapsed().as_nanos() as f64;
    ecs.stop_task().task(&arn).send().await.unwrap();
    // Slack above for period boundaries; any real use below (the host may be busy).
    assert!(share < 0.35, "the task used {share:.2} CPUs");
    assert!(share > 0.02, "the task used {share:.2} CPUs");
    wait_for(&ecs, &arn, "STOPPED", Duration::from_secs(40)).await;
}

#[tokio::test]
async fn logs_are_rotated_at_their_cap_and_the_wait_api_answers_at_a_status_or_exit() {
    let setup = TaskSetup::start(
        env!("CARGO_BIN_EXE_berth"),
        &["--log-max-size", "1", "--log-max-files", "2"],
    )
    .await;
    let ecs = setup.berth.ecs();
    // 15,000 lines of 100 characters: about 1.5 MiB of output, 2 MiB of records.
    let line = "0123456789".repeat(10);
    register(
        &ecs,
        "chatty",
        setup
            .shell("app", &format!("yes {line} | head -n 15000; echo last"))
            .build(),
    )
    .await;
    let arn = run(&ecs, "chatty", None).await;

    // The wait API: unknown tasks are refused; a real one is answered once it has stopped.
    let wait_for_containers = || {
        let body =
            serde_json::json!({"task": arn, "containersStopped": true, "timeoutSeconds": 60});
        let (status, text) = setup.berth.raw_request_to(
            "POST",
            "/berth/v1/tasks/wait",
            &[("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        );
        assert_eq!(status, 200, "{text}");
        serde_json::from_str::<serde_json::Value>(&text).unwrap()
    };
    let wait = |task: &str| {
        let body = serde_json::json!({"task": task, "status": "STOPPED", "timeoutSeconds": 60});
        let (status, text) = setup.berth.raw_request_to(
            "POST",
            "/berth/v1/tasks/wait",
            &[("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        );
        (
            status,
            serde_json::from_str::<serde_json::Value>(&text).unwrap(),
        )
    };
    // Asked to, it answers as soon as the containers have stopped: the exit code is known
    // (the task's clean-up may still be going on).
    let exited = wait_for_containers();
    assert_eq!(exited["task"]["containers"][0]["lastStatus"], "STOPPED");
    assert_eq!(exited["task"]["containers"][0]["exitCode"], 0);
    wait_for(&ecs, &arn, "STOPPED", Duration::from_secs(120)).await;
    let (status, answer) = wait("0123456789abcdef0123456789abcdef");
    assert_eq!(
        (status, answer["__type"].as_str()),
        (400, Some("InvalidParameterException"))
    );
    let (status, answer) = wait(task_id(&arn));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["task"]["lastStatus"], "STOPPED");
    assert_eq!(answer["task"]["containers"][0]["exitCode"], 0);

    let logs = setup
        .berth
        .data_dir()
        .join("tasks")
        .join(task_id(&arn))
        .join("logs");
    let mut files: Vec<String> = std::fs::read_dir(&logs)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("app.log"))
        .collect();
    files.sort();
    assert_eq!(files, ["app.log", "app.log.1"]);
    for file in &files {
        assert!(std::fs::metadata(logs.join(file)).unwrap().len() <= 1 << 20);
    }
    // `berth logs` reads what is kept, oldest first, ending with the last line.
    let out = setup.berth.cli(&["logs", task_id(&arn)]);
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"last"));
    assert!(
        lines.len() > 5_000 && lines.len() < 15_000,
        "{} lines",
        lines.len()
    );
    assert!(lines[..lines.len() - 1].iter().all(|l| *l == line));
}

#[tokio::test]
async fn a_stop_sends_the_images_stop_signal() {
    let setup = setup().await;
    let ecs = setup.berth.ecs();
    let mut image = berth_testsupport::oci::busybox_image();
    image.config["StopSignal"] = "SIGUSR1".into();
    let reference = setup.push("usr1", &image);
    register(
        &ecs,
        "usr1",
        setup
            .shell(
                "app",
                "trap 'echo got-usr1; exit 0' USR1; trap 'echo got-term; exit 1' TERM; while :; do sleep 0.1; done",
            )
            .image(reference)
            .stop_timeout(30)
            .build(),
    )
    .await;
    let arn = run(&ecs, "usr1", None).await;
    wait_for(&ecs, &arn, "RUNNING", Duration::from_secs(60)).await;
    ecs.stop_task().task(&arn).send().await.unwrap();
    let task = wait_for(&ecs, &arn, "STOPPED", Duration::from_secs(20)).await;
    assert_eq!(task.containers()[0].exit_code(), Some(0), "{task:?}");
    let logs = setup.berth.cli(&["logs", task_id(&arn)]);
    assert_eq!(String::from_utf8_lossy(&logs.stdout), "got-usr1\n");
}

#[tokio::test]
async fn runtime_diagnostics_stay_out_of_container_output_even_at_debug_level() {
    // libcontainer logs from the container's init process; at debug level it says a lot.
    let setup =
        TaskSetup::start_with_env(env!("CARGO_BIN_EXE_berth"), &[], &[("BERTH_LOG", "debug")])
            .await;
    let ecs = setup.berth.ecs();
    register(
        &ecs,
        "quiet",
        setup.shell("app", "echo hi; echo oops >&2").build(),
    )
    .await;
    let arn = run(&ecs, "quiet", None).await;
    let task = wait_for(&ecs, &arn, "STOPPED", Duration::from_secs(60)).await;
    assert_eq!(task.containers()[0].exit_code(), Some(0), "{task:?}");
    let logs = setup.berth.cli(&["logs", task_id(&arn)]);
    let mut lines: Vec<String> = String::from_utf8_lossy(&logs.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    assert_eq!(lines, ["hi", "oops"]);
    // They are in the supervisor's own log instead.
    let shim_log = setup
        .berth
        .data_dir()
        .join("tasks")
        .join(task_id(&arn))
        .join("shim.log");
    let diagnostics = std::fs::read_to_string(shim_log).unwrap();
    assert!(diagnostics.contains("libcontainer"), "{diagnostics}");
}

/// Container `container`'s output, as `berth logs --container` prints it.
fn logs_of(setup: &TaskSetup, arn: &str, container: &str) -> String {
    let out = setup
        .berth
        .cli(&["logs", "--container", container, task_id(arn)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn task_scoped_volumes_are_shared_through_mount_points_and_volumes_from() {
    let setup = setup().await;
    let ecs = setup.berth.ecs();
    let writer = setup
        .shell("writer", "echo hello > /shared/note && echo written")
        .essential(false)
        .mount_points(
            MountPoint::builder()
                .source_volume("shared")
                .container_path("/shared")
                .build(),
        )
        .build();
    // Its root is read-only, and so is what it takes from the writer.
    let reader = setup
        .shell(
            "reader",
            "cat /shared/note; \
             (echo x > /shared/x) 2>/dev/null && echo volume-writable || echo volume-read-only; \
             (echo y > /y) 2>/dev/null && echo root-writable || echo root-read-only",
        )
        .depends_on(depends_on("writer", ContainerCondition::Success))
        .volumes_from(
            VolumeFrom::builder()
                .source_container("writer")
                .read_only(true)
                .build(),
        )
        .readonly_root_filesystem(true)
        .build();
    register_fargate_with(&ecs, "volumes", writer)
        .container_definitions(reader)
        .volumes(Volume::builder().name("shared").build())
        .send()
        .await
        .unwrap();
    let arn = run(&ecs, "volumes", None).await;
    let task = wait_for(&ecs, &arn, "STOPPED", Duration::from_secs(60)).await;
    assert_eq!(exit_code(&task, "writer"), Some(0), "{task:?}");
    assert_eq!(exit_code(&task, "reader"), Some(0), "{task:?}");
    assert_eq!(logs_of(&setup, &arn, "writer"), "written\n");
    assert_eq!(
        logs_of(&setup, &arn, "reader"),
        "hello\nvolume-read-only\nroot-read-only\n"
    );
    // The volume went with the task; its logs stay.
    let dir = setup.berth.data_dir().join("tasks").join(task_id(&arn));
    assert!(dir.join("logs").is_dir());
    assert!(
        !dir.join("volumes").exists(),
        "the task's volumes are removed"
    );
}

#[tokio::test]
async fn system_controls_capabilities_and_the_seccomp_filter_reach_the_containers() {
    let setup = setup().await;
    let ecs = setup.berth.ecs();
    let sysctl = |name: &str, value: &str| {
        SystemControl::builder()
            .namespace(name)
            .value(value)
            .build()
    };
    // Set by one container, seen by the others: they share the task's network namespace.
    let tuned = setup
        .shell(
            "tuned",
            "cat /proc/sys/net/core/somaxconn /proc/sys/net/ipv4/tcp_keepalive_time",
        )
        .essential(false)
        .system_controls(sysctl("net.core.somaxconn", "1234"))
        .system_controls(sysctl("net.ipv4.tcp_keepalive_time", "600"))
        .build();
    let peer = setup
        .shell("peer", "cat /proc/sys/net/core/somaxconn")
        .essential(false)
        .depends_on(depends_on("tuned", ContainerCondition::Complete))
        .build();
    // Root reads the environment of another user's process only with CAP_SYS_PTRACE.
    let ptrace = "busybox su -s /bin/sh nobody -c 'exec sleep 30' & pid=$!; sleep 0.5; \
                  cat /proc/$pid/environ >/dev/null 2>&1 && echo traced || echo refused; kill $pid";
    let tracer = setup
        .shell("tracer", ptrace)
        .essential(false)
        .linux_parameters(
            LinuxParameters::builder()
                .capabilities(KernelCapabilities::builder().add("SYS_PTRACE").build())
                .build(),
        )
        .build();
    let untraced = setup.shell("untraced", ptrace).essential(false).build();
    // The filter refuses a new user namespace (no capability needed otherwise); a server
    // and its client still run.
    let filtered = setup
        .shell(
            "filtered",
            "busybox unshare -U true 2>&1; \
             busybox mkdir -p /tmp/www && echo page > /tmp/www/index.html && \
             busybox httpd -p 127.0.0.1:8080 -h /tmp/www && wget -q -O - http://127.0.0.1:8080/",
        )
        .depends_on(depends_on("peer", ContainerCondition::Complete))
        .depends_on(depends_on("tracer", ContainerCondition::Complete))
        .depends_on(depends_on("untraced", ContainerCondition::Complete))
        .build();
    register_fargate_with(&ecs, "hardened", tuned)
        .container_definitions(peer)
        .container_definitions(tracer)
        .container_definitions(untraced)
        .container_definitions(filtered)
        .send()
        .await
        .unwrap();
    let arn = run(&ecs, "hardened", None).await;
    let task = wait_for(&ecs, &arn, "STOPPED", Duration::from_secs(60)).await;
    assert_eq!(exit_code(&task, "filtered"), Some(0), "{task:?}");
    assert_eq!(logs_of(&setup, &arn, "tuned"), "1234\n600\n");
    assert_eq!(logs_of(&setup, &arn, "peer"), "1234\n");
    assert_eq!(logs_of(&setup, &arn, "tracer"), "traced\n");
    assert_eq!(logs_of(&setup, &arn, "untraced"), "refused\n");
    let filtered = logs_of(&setup, &arn, "filtered");
    assert!(
        filtered.contains("Operation not permitted") && filtered.ends_with("page\n"),
        "{filtered}"
    );
}

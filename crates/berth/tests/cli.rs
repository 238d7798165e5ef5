//! The `berth` CLI as a docker user drives it, the real binary against a real `berth up`:
//! `ps` columns whatever the names, `--output json` and `--quiet`, task id prefixes (unique,
//! ambiguous, none), `logs` of a task that never started, Ctrl-C and SIGTERM on a foreground
//! `run`, output into a pipe its reader closed, and `run --rm` leaving nothing in `ps --all`.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use aws_sdk_ecs::types::{ContainerDefinition, DesiredStatus, TaskField};
use berth_testsupport::Berth;
use berth_testsupport::tasks::{
    TaskSetup, register, run, run_many, task_id, wait_for, wait_for_all,
};

/// A family name longer than any column width one might pick for it.
const LONG_FAMILY: &str = "a-family-name-longer-than-any-column-berth-ps-ever-made-room-for";

async fn setup() -> TaskSetup {
    TaskSetup::start(env!("CARGO_BIN_EXE_berth"), &[]).await
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `berth ARGS` against `berth`, its output streams piped, started but not waited for.
fn spawn(berth: &Berth, args: &[&str]) -> Child {
    berth
        .cli_command()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run berth")
}

/// The lines `reader` yields, read on a thread of their own so that a test can wait for them
/// with a deadline.
fn lines_of(reader: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                return;
            }
        }
    });
    receiver
}

/// Waits for a line containing `wanted`; panics after `within`. Returns the lines read.
fn wait_line(lines: &mpsc::Receiver<String>, wanted: &str, within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                let found = line.contains(wanted);
                seen.push(line);
                if found {
                    return seen;
                }
            }
            Err(_) => panic!("no line with {wanted:?} within {within:?}; saw {seen:?}"),
        }
    }
}

/// Waits for `child` to exit; kills it and panics after `within`.
fn wait_exit(child: &mut Child, within: Duration) -> ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("berth did not exit within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &Child, name: &str) {
    // The shell's builtin: a bare Debian has no kill(1) (procps).
    let status = Command::new("sh")
        .args(["-c", &format!("kill -{name} {}", child.id())])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name}");
}

/// How many leading characters `a` and `b` share.
fn common_prefix(a: &str, b: &str) -> usize {
    a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
}

/// The task of the default cluster whose stoppedReason is `reason`, asked until it is there.
async fn task_stopped_for(ecs: &aws_sdk_ecs::Client, reason: &str) -> aws_sdk_ecs::types::Task {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listed = ecs
            .list_tasks()
            .desired_status(DesiredStatus::Stopped)
            .send()
            .await
            .unwrap();
        if !listed.task_arns().is_empty() {
            let described = ecs
                .describe_tasks()
                .set_tasks(Some(listed.task_arns().to_vec()))
                .send()
                .await
                .unwrap();
            if let Some(task) = described
                .tasks()
                .iter()
                .find(|t| t.stopped_reason() == Some(reason))
            {
                return task.clone();
            }
        }
        assert!(Instant::now() < deadline, "no task stopped for {reason:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn ps_columns_json_quiet_prefixes_and_logs_of_a_task_that_never_started() {
    let setup = setup().await;
    let (berth, image) = (&setup.berth, setup.image.as_str());
    let ecs = berth.ecs();
    let missing = image.replace("busybox:v1", "busybox:nope");
    register(
        &ecs,
        LONG_FAMILY,
        ContainerDefinition::builder()
            .name("app")
            .image(&missing)
            .build(),
    )
    .await;
    register(
        &ecs,
        "x",
        setup
            .shell("app", "echo hello; sleep 300")
            .stop_timeout(2)
            .build(),
    )
    .await;
    let running = run(&ecs, "x", None).await;
    wait_for(&ecs, &running, "RUNNING", Duration::from_secs(60)).await;
    // Tasks that fail to pull, until two ids share a first character: an ambiguous prefix
    // (16 hex digits, so 17 ids at most).
    let mut failed = Vec::new();
    let ambiguous = loop {
        failed.extend(run_many(&ecs, LONG_FAMILY, 4, None).await);
        let ids: Vec<&str> = failed
            .iter()
            .chain([&running])
            .map(|arn| task_id(arn))
            .collect();
        let pair = ids.iter().enumerate().find_map(|(i, a)| {
            ids[i + 1..]
                .iter()
                .find(|b| a.as_bytes()[0] == b.as_bytes()[0])
                .map(|b| (a.to_string(), b.to_string()))
        });
        if let Some(pair) = pair {
            break pair;
        }
        assert!(
            failed.len() < 17,
            "17 hex ids cannot all differ in their first digit"
        );
    };
    wait_for_all(&ecs, &failed, "STOPPED", Duration::from_secs(60)).await;
    let ids: Vec<String> = failed
        .iter()
        .chain([&running])
        .map(|arn| task_id(arn).to_owned())
        .collect();
    let running_id = task_id(&running).to_owned();

    // Columns line up under their headers, whatever the family name's length.
    let out = berth.cli(&["ps", "--all"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listing = text(&out.stdout);
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines.len(), 1 + ids.len(), "{listing}");
    let header = lines[0];
    let column = |name: &str| {
        header
            .find(name)
            .unwrap_or_else(|| panic!("{name} in {header}"))
    };
    let starts = [
        column("TASK ID"),
        column("DEFINITION"),
        column("STATUS"),
        column("CREATED"),
    ];
    assert_eq!(starts[0], 0);
    let reason_at = column("REASON");
    for row in &lines[1..] {
        let bytes = row.as_bytes();
        for &at in &starts[1..] {
            assert!(
                bytes[at - 1] == b' ' && bytes[at] != b' ',
                "a column starts at {at}:\n{listing}"
            );
        }
        let short = &row[..12];
        assert!(ids.iter().any(|id| id.starts_with(short)), "{row}");
        assert_eq!(bytes[12], b' ', "ids are 12 characters: {row}");
        let cell = |at: usize| row[at..].split("   ").next().unwrap().trim();
        if short == &running_id[..12] {
            assert_eq!(cell(starts[1]), "x:1", "{row}");
            assert_eq!(cell(starts[2]), "RUNNING", "{row}");
        } else {
            assert_eq!(cell(starts[1]), format!("{LONG_FAMILY}:1"), "{row}");
            assert_eq!(cell(starts[2]), "STOPPED", "{row}");
            // The reason a pull failed is right there.
            assert!(
                row[reason_at..].starts_with("CannotPullContainerError: "),
                "{row}"
            );
        }
        assert!(cell(starts[3]).ends_with(" ago"), "{row}");
    }
    // Without --all: the running task only.
    let out = text(&berth.cli(&["ps"]).stdout);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(
        out.lines().nth(1).unwrap().starts_with(&running_id[..12]),
        "{out}"
    );

    // --quiet: whole ids; --output json: the API's own task objects.
    let quiet = text(&berth.cli(&["ps", "--all", "--quiet"]).stdout);
    let listed: BTreeSet<&str> = quiet.lines().collect();
    assert_eq!(listed, ids.iter().map(String::as_str).collect(), "{quiet}");
    let out = berth.cli(&["ps", "--all", "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let arns: BTreeSet<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|task| task["taskArn"].as_str().unwrap())
        .collect();
    assert_eq!(arns.len(), ids.len());
    assert!(arns.contains(running.as_str()));
    let out = berth.cli(&["ps", "--quiet", "--output", "json"]);
    assert_eq!(out.status.code(), Some(2), "one or the other");
    let images = text(&berth.cli(&["image", "ls", "-q"]).stdout);
    assert_eq!(images.lines().collect::<Vec<_>>(), [image], "{images}");
    let out = berth.cli(&["image", "ls", "--output", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["reference"], image, "{json}");
    assert!(json[0]["digest"].as_str().unwrap().starts_with("sha256:"));

    // `berth status` in English.
    let status = text(&berth.cli(&["status"]).stdout);
    assert!(
        status.contains("is up: 1 cluster, 1 task running"),
        "{status}"
    );
    // And what the server is: its data directory, bridge, VPC range and firewall.
    let data_dir = berth.data_dir().display().to_string();
    assert!(
        status.contains(&format!("data in {data_dir}, account 000000000000")),
        "{status}"
    );
    assert!(
        status.contains("network: bridge berthtest")
            && status.contains("security groups enforced by "),
        "{status}"
    );

    // A unique prefix works for logs and stop; an ambiguous one lists the candidates; one
    // that fits no task says so.
    let unique_len = ids
        .iter()
        .filter(|id| **id != running_id)
        .map(|id| common_prefix(id, &running_id))
        .max()
        .unwrap()
        + 1;
    let unique = &running_id[..unique_len];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = berth.cli(&["logs", unique]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        if text(&out.stdout) == "hello\n" {
            break;
        }
        assert!(Instant::now() < deadline, "logs: {}", text(&out.stdout));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (a, b) = &ambiguous;
    let prefix = &a[..common_prefix(a, b)];
    let out = berth.cli(&["logs", prefix]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(a.as_str()) && stderr.contains(b.as_str()),
        "{stderr}"
    );
    let out = berth.cli(&["stop", prefix]);
    assert!(!out.status.success(), "an ambiguous prefix stops nothing");
    let none = (0..=0xffffu32)
        .map(|n| format!("{n:04x}"))
        .find(|p| !ids.iter().any(|id| id.starts_with(p)))
        .unwrap();
    let out = berth.cli(&["logs", &none]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains(&format!(
            "no task in cluster default has an id starting with {none}"
        )),
        "{}",
        text(&out.stderr)
    );

    // Logs of a task that never started: why, on stderr, and a failure.
    for args in [vec!["logs"], vec!["logs", "--follow"]] {
        let mut args = args.clone();
        args.push(task_id(&failed[0]));
        let out = berth.cli(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(out.stdout.is_empty());
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("never started: CannotPullContainerError: "),
            "{args:?}: {stderr}"
        );
    }

    let out = berth.cli(&["stop", unique]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(&running),
        "{}",
        text(&out.stdout)
    );
    wait_for(&ecs, &running, "STOPPED", Duration::from_secs(30)).await;
}

#[tokio::test]
async fn ctrl_c_stops_a_foreground_run_and_a_second_signal_leaves_it() {
    let setup = setup().await;
    let (berth, image) = (&setup.berth, setup.image.as_str());
    let ecs = berth.ecs();

    // SIGINT: the task is stopped (its container told to stop), and berth exits with the
    // container's code once it has.
    let mut child = spawn(
        berth,
        &[
            "run",
            image,
            "--",
            "sh",
            "-c",
            "trap 'echo bye; exit 7' TERM; echo started; while true; do sleep 0.1; done",
        ],
    );
    let stdout = lines_of(child.stdout.take().unwrap());
    let stderr = lines_of(child.stderr.take().unwrap());
    wait_line(&stdout, "started", Duration::from_secs(60));
    signal(&child, "INT");
    let status = wait_exit(&mut child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(7));
    wait_line(&stderr, "SIGINT: stopping task", Duration::from_secs(5));
    // The output to its end.
    wait_line(&stdout, "bye", Duration::from_secs(5));
    let task = task_stopped_for(&ecs, "Stopped by berth run (SIGINT)").await;
    assert_eq!(task.stop_code().map(|c| c.as_str()), Some("UserInitiated"));

    // SIGTERM likewise; a second one leaves the task to stop on its own (its PID 1 ignores
    // SIGTERM, so it would take the whole stop timeout).
    let mut child = spawn(
        berth,
        &["run", image, "--", "sh", "-c", "echo started; sleep 300"],
    );
    let stdout = lines_of(child.stdout.take().unwrap());
    let stderr = lines_of(child.stderr.take().unwrap());
    wait_line(&stdout, "started", Duration::from_secs(60));
    signal(&child, "TERM");
    wait_line(&stderr, "SIGTERM: stopping task", Duration::from_secs(10));
    signal(&child, "TERM");
    let status = wait_exit(&mut child, Duration::from_secs(10));
    assert_eq!(status.code(), Some(143));
    wait_line(&stderr, "left task", Duration::from_secs(1));
    let task = task_stopped_for(&ecs, "Stopped by berth run (SIGTERM)").await;
    assert_eq!(task.desired_status(), Some("STOPPED"));
}

#[tokio::test]
async fn output_into_a_closed_pipe_ends_quietly() {
    let setup = setup().await;
    let (berth, image) = (&setup.berth, setup.image.as_str());
    let ecs = berth.ecs();
    let out = berth.cli(&[
        "run",
        "-d",
        image,
        "--",
        "sh",
        "-c",
        "yes line | head -n 300000",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let arn = text(&out.stdout).trim().to_owned();
    wait_for(&ecs, &arn, "STOPPED", Duration::from_secs(60)).await;
    let quiet = |stderr: &[u8]| {
        let stderr = text(stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(stderr.is_empty(), "nothing to say: {stderr}");
    };

    // `berth ps --all | true`: the reader is gone before the first line.
    for args in [
        &["ps", "--all"][..],
        &["image", "ls"],
        &["status"],
        &["--help"],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = berth
            .cli_command()
            .args(args)
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        quiet(&out.stderr);
        // clap's own --help ends with 0 whatever became of its output.
        let expected = if args == ["--help"] { 0 } else { 141 };
        assert_eq!(out.status.code(), Some(expected), "{args:?}");
    }

    // `berth logs TASK | head -1`: the reader goes after the first line, the rest (more than
    // a pipe holds) has nowhere to go.
    let mut child = spawn(berth, &["logs", task_id(&arn)]);
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert_eq!(first, "line\n");
    drop(stdout);
    let status = wait_exit(&mut child, Duration::from_secs(10));
    let mut stderr = Vec::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut stderr)
        .unwrap();
    quiet(&stderr);
    assert_eq!(status.code(), Some(141));

    // `berth run ... | head -1`: with nobody reading its output, the task is stopped.
    let mut child = spawn(
        berth,
        &[
            "run",
            image,
            "--",
            "sh",
            "-c",
            "trap 'exit 0' TERM; while true; do echo line; done",
        ],
    );
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert_eq!(first, "line\n");
    drop(stdout);
    let status = wait_exit(&mut child, Duration::from_secs(30));
    let mut stderr = Vec::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut stderr)
        .unwrap();
    quiet(&stderr);
    assert_eq!(status.code(), Some(141));
    let task = task_stopped_for(&ecs, "berth run: its output was closed").await;
    wait_for(
        &ecs,
        task.task_arn().unwrap(),
        "STOPPED",
        Duration::from_secs(30),
    )
    .await;
}

#[tokio::test]
async fn run_rm_leaves_nothing_in_ps_nor_its_definition() {
    let setup = setup().await;
    let (berth, image) = (&setup.berth, setup.image.as_str());
    let ecs = berth.ecs();
    let kept = berth.cli(&["run", "-d", image, "--", "true"]);
    let kept = text(&kept.stdout).trim().to_owned();
    let removed = berth.cli(&["run", "--rm", "-d", image, "--", "true"]);
    assert!(removed.status.success(), "{}", text(&removed.stderr));
    let removed = text(&removed.stdout).trim().to_owned();
    wait_for_all(
        &ecs,
        &[kept.clone(), removed.clone()],
        "STOPPED",
        Duration::from_secs(60),
    )
    .await;
    let out = berth.cli(&["run", "--rm", image, "--", "sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));

    // Only the task run without --rm is listed, in every format.
    let quiet = text(&berth.cli(&["ps", "--all", "-q"]).stdout);
    assert_eq!(
        quiet.lines().collect::<Vec<_>>(),
        [task_id(&kept)],
        "{quiet}"
    );
    let table = text(&berth.cli(&["ps", "--all"]).stdout);
    assert_eq!(table.lines().count(), 2, "{table}");
    let json = berth.cli(&["ps", "--all", "--output", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 1, "{json}");
    // The ad-hoc definitions of both --rm runs are gone; the other's stays.
    let definitions = ecs.list_task_definitions().send().await.unwrap();
    assert_eq!(
        definitions.task_definition_arns().len(),
        1,
        "{definitions:?}"
    );
    // ECS has no DeleteTask: the API still answers for the task, marked as --rm left it.
    let described = ecs
        .describe_tasks()
        .tasks(&removed)
        .include(TaskField::Tags)
        .send()
        .await
        .unwrap();
    let tags = described.tasks()[0].tags();
    assert!(
        tags.iter()
            .any(|t| t.key() == Some("berth:rm") && t.value() == Some("true")),
        "{tags:?}"
    );
}

#[test]
fn ps_on_a_fresh_server_lists_nothing_and_a_missing_named_cluster_is_an_error() {
    let berth = Berth::start(env!("CARGO_BIN_EXE_berth"));
    // No default cluster until a task runs in it: an empty listing, as `docker ps` gives.
    let out = berth.cli(&["ps", "--all"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("TASK ID"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        text(&out.stdout).lines().count(),
        1,
        "{}",
        text(&out.stdout)
    );
    let out = berth.cli(&["ps", "--quiet"]);
    assert!(out.status.success() && out.stdout.is_empty());
    // A cluster the user names and that does not exist is still an error.
    let out = berth.cli(&["ps", "--cluster", "nowhere"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("ClusterNotFoundException"),
        "{}",
        text(&out.stderr)
    );
}

//! `berth up` as a process: durability across `kill -9`, the data-directory lock, clean
//! shutdown on SIGTERM, and the AWS JSON protocol's error cases over raw HTTP.

use berth_testsupport::{Berth, register_fargate};

fn berth() -> Berth {
    Berth::start(env!("CARGO_BIN_EXE_berth"))
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let mut berth = berth();
    let ecs = berth.ecs();
    ecs.create_cluster()
        .cluster_name("kept")
        .send()
        .await
        .unwrap();
    ecs.create_cluster()
        .cluster_name("dropped")
        .send()
        .await
        .unwrap();
    ecs.delete_cluster()
        .cluster("dropped")
        .send()
        .await
        .unwrap();
    for _ in 0..3 {
        register_fargate(&ecs, "kept").send().await.unwrap();
    }
    ecs.deregister_task_definition()
        .task_definition("kept:2")
        .send()
        .await
        .unwrap();

    berth.restart();
    let ecs = berth.ecs();
    let clusters = ecs.list_clusters().send().await.unwrap();
    assert_eq!(
        clusters.cluster_arns(),
        ["arn:aws:ecs:us-east-1:000000000000:cluster/kept"]
    );
    let listed = ecs.list_task_definitions().send().await.unwrap();
    assert_eq!(listed.task_definition_arns().len(), 2);
    let td = ecs
        .describe_task_definition()
        .task_definition("kept:2")
        .send()
        .await
        .unwrap();
    assert!(td.task_definition.unwrap().deregistered_at().is_some());
    // The revision counter carries on after the restart.
    let next = register_fargate(&ecs, "kept").send().await.unwrap();
    assert_eq!(next.task_definition.unwrap().revision(), 4);
}

#[test]
fn a_second_berth_up_on_the_same_data_dir_is_refused() {
    let berth = berth();
    let refused = berth.spawn_again().unwrap_err();
    assert!(
        refused.contains("is already using the data directory"),
        "{refused}"
    );
    // The first one is unharmed.
    let (status, body) = berth.raw_ecs("ListClusters", b"{}");
    assert_eq!(status, 200, "{body}");
}

#[test]
fn sigterm_stops_cleanly_and_releases_the_lock() {
    let mut berth = berth();
    assert_eq!(berth.terminate(), Some(0));
    let (mut again, _) = berth.spawn_again().unwrap();
    again.kill().unwrap();
    again.wait().unwrap();
}

#[test]
fn protocol_errors_are_aws_shaped() {
    let berth = berth();
    let cases: &[(&str, &[u8], u16, &str)] = &[
        ("NoSuchOperation", b"{}", 400, "UnknownOperationException"),
        ("CreateCluster", b"{not json", 400, "SerializationException"),
        (
            "CreateCluster",
            br#"{"clusterName": 42}"#,
            400,
            "SerializationException",
        ),
        ("CreateCluster", b"[]", 400, "SerializationException"),
        ("DeleteCluster", b"{}", 400, "InvalidParameterException"),
        (
            "DescribeTaskDefinition",
            br#"{"taskDefinition": "x", "include": ["NOPE"]}"#,
            400,
            "InvalidParameterException",
        ),
    ];
    for (operation, body, status, code) in cases {
        let (got_status, got) = berth.raw_ecs(operation, body);
        assert_eq!(
            (got_status, got["__type"].as_str()),
            (*status, Some(*code)),
            "{operation}: {got}"
        );
        assert!(
            got["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{got}"
        );
    }

    // No target header at all.
    let (status, body) = berth.raw_request("POST", &[], b"{}");
    assert_eq!(status, 400);
    assert!(body.contains("UnknownOperationException"), "{body}");
    let (status, body) = berth.raw_request("GET", &[], b"");
    assert_eq!(status, 400);
    assert!(body.contains("UnknownOperationException"), "{body}");

    // A body over the documented limit (1 MiB) is refused with 413.
    let huge = vec![b' '; 2 * 1024 * 1024];
    let (status, body) = berth.raw_ecs("CreateCluster", &huge);
    assert_eq!(status, 413);
    assert_eq!(body["__type"], "RequestEntityTooLargeException");

    // None of it wrote anything.
    let (_, listed) = berth.raw_ecs("ListClusters", b"");
    assert_eq!(listed["clusterArns"], serde_json::json!([]));
}

#[test]
fn berth_status_finds_the_server_by_flag_and_environment() {
    let berth = berth();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut command = berth.cli_command();
        command
            .args(args)
            .env_remove("BERTH_ENDPOINT")
            .env_remove("AWS_ENDPOINT_URL");
        for (k, v) in env {
            command.env(k, v);
        }
        command.output().unwrap()
    };
    let by_flag = run(&["status", "--endpoint", berth.endpoint()], &[]);
    assert!(
        by_flag.status.success(),
        "{}",
        String::from_utf8_lossy(&by_flag.stderr)
    );
    assert!(String::from_utf8_lossy(&by_flag.stdout).contains("is up: 0 clusters"));
    let by_env = run(
        &["status"],
        &[
            ("BERTH_ENDPOINT", berth.endpoint()),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
        ],
    );
    assert!(
        by_env.status.success(),
        "{}",
        String::from_utf8_lossy(&by_env.stderr)
    );
    let by_aws = run(&["status"], &[("AWS_ENDPOINT_URL", berth.endpoint())]);
    assert!(by_aws.status.success());
    let nowhere = run(&["status", "--endpoint", "http://127.0.0.1:9"], &[]);
    assert!(!nowhere.status.success());
    assert!(String::from_utf8_lossy(&nowhere.stderr).contains("is `berth up` running?"));
}

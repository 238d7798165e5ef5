//! The Fargate guide's own commands, run with the real `aws` CLI against `berth up`.

use berth_testsupport::{Berth, fargate_guide_dir};

#[test]
fn the_fargate_guide_walkthrough() {
    let berth = Berth::start(env!("CARGO_BIN_EXE_berth"));
    let guide = fargate_guide_dir();

    let registered = berth.aws_json(
        &guide,
        &[
            "ecs",
            "register-task-definition",
            "--cli-input-json",
            "file://task-definition.json",
        ],
    );
    let td = &registered["taskDefinition"];
    assert_eq!(td["family"], "fargate-task");
    assert_eq!(td["revision"], 1);
    assert_eq!(td["cpu"], "256");
    assert_eq!(td["memory"], "512");
    assert_eq!(td["networkMode"], "awsvpc");
    assert_eq!(
        td["containerDefinitions"][0]["portMappings"][0]["hostPort"],
        80
    );

    let created = berth.aws_json(
        &guide,
        &["ecs", "create-cluster", "--cluster-name", "fargate-cluster"],
    );
    assert_eq!(
        created["cluster"]["clusterArn"],
        "arn:aws:ecs:us-east-1:000000000000:cluster/fargate-cluster"
    );

    let clusters = berth.aws_json(&guide, &["ecs", "list-clusters"]);
    assert_eq!(clusters["clusterArns"][0], created["cluster"]["clusterArn"]);
    let described = berth.aws_json(
        &guide,
        &["ecs", "describe-clusters", "--clusters", "fargate-cluster"],
    );
    assert_eq!(described["clusters"][0]["status"], "ACTIVE");

    let definitions = berth.aws_json(&guide, &["ecs", "list-task-definitions"]);
    assert_eq!(
        definitions["taskDefinitionArns"][0],
        "arn:aws:ecs:us-east-1:000000000000:task-definition/fargate-task:1"
    );
    let described = berth.aws_json(
        &guide,
        &[
            "ecs",
            "describe-task-definition",
            "--task-definition",
            "fargate-task",
        ],
    );
    assert_eq!(
        described["taskDefinition"]["containerDefinitions"][0]["image"],
        "nginx"
    );
    let families = berth.aws_json(&guide, &["ecs", "list-task-definition-families"]);
    assert_eq!(families["families"][0], "fargate-task");
}

#[test]
fn the_cli_shows_ecs_errors() {
    let berth = Berth::start(env!("CARGO_BIN_EXE_berth"));
    let dir = fargate_guide_dir();
    let output = berth.aws(
        &dir,
        &[
            "ecs",
            "register-task-definition",
            "--family",
            "bad",
            "--network-mode",
            "awsvpc",
            "--requires-compatibilities",
            "FARGATE",
            "--cpu",
            "256",
            "--memory",
            "4096",
            "--container-definitions",
            r#"[{"name":"c","image":"nginx"}]"#,
        ],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("(ClientException)"), "{stderr}");
    assert!(
        stderr.contains("No Fargate configuration exists for given values: 256 CPU, 4096 memory"),
        "{stderr}"
    );

    let output = berth.aws(&dir, &["ecs", "delete-cluster", "--cluster", "ghost"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("(ClusterNotFoundException)"), "{stderr}");
}

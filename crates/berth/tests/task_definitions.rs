//! Task definition operations and Fargate's registration rules, through the AWS SDK for Rust
//! against a real `berth up`.

use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_sdk_ecs::operation::register_task_definition::builders::RegisterTaskDefinitionFluentBuilder;
use aws_sdk_ecs::types::{
    Compatibility, ContainerDefinition, EphemeralStorage, NetworkMode, PortMapping, SortOrder, Tag,
    TaskDefinitionFamilyStatus, TaskDefinitionField, TaskDefinitionStatus, TransportProtocol,
};
use berth_testsupport::{Berth, register_fargate};

fn berth() -> Berth {
    Berth::start(env!("CARGO_BIN_EXE_berth"))
}

fn container(name: &str) -> ContainerDefinition {
    ContainerDefinition::builder()
        .name(name)
        .image("nginx")
        .port_mappings(PortMapping::builder().container_port(80).build())
        .build()
}

#[tokio::test]
async fn register_fills_in_what_ecs_fills_in() {
    let berth = berth();
    let ecs = berth.ecs();
    let out = register_fargate(&ecs, "web")
        .tags(Tag::builder().key("env").value("dev").build())
        .send()
        .await
        .unwrap();
    let td = out.task_definition.unwrap();
    assert_eq!(
        td.task_definition_arn(),
        Some("arn:aws:ecs:us-east-1:000000000000:task-definition/web:1")
    );
    assert_eq!(td.revision(), 1);
    assert_eq!(td.status(), Some(&TaskDefinitionStatus::Active));
    assert_eq!(
        td.compatibilities(),
        [Compatibility::Ec2, Compatibility::Fargate]
    );
    assert!(td.registered_at().is_some());
    let c = &td.container_definitions()[0];
    assert_eq!(c.essential(), Some(true));
    assert_eq!(c.cpu(), 0);
    let port = &c.port_mappings()[0];
    assert_eq!(
        (port.container_port(), port.host_port()),
        (Some(80), Some(80))
    );
    assert_eq!(port.protocol(), Some(&TransportProtocol::Tcp));
    assert_eq!(out.tags.unwrap()[0].key(), Some("env"));

    let second = register_fargate(&ecs, "web")
        .cpu("1 vCPU")
        .memory("2 GB")
        .send()
        .await
        .unwrap();
    let second = second.task_definition.unwrap();
    assert_eq!(second.revision(), 2);
    assert_eq!(
        (second.cpu(), second.memory()),
        (Some("1024"), Some("2048"))
    );
}

#[tokio::test]
async fn describe_by_family_revision_and_arn() {
    let berth = berth();
    let ecs = berth.ecs();
    for _ in 0..3 {
        register_fargate(&ecs, "app").send().await.unwrap();
    }
    let describe = |reference: &str| {
        ecs.describe_task_definition()
            .task_definition(reference)
            .include(TaskDefinitionField::Tags)
            .send()
    };
    assert_eq!(
        describe("app")
            .await
            .unwrap()
            .task_definition
            .unwrap()
            .revision(),
        3
    );
    assert_eq!(
        describe("app:2")
            .await
            .unwrap()
            .task_definition
            .unwrap()
            .revision(),
        2
    );
    let by_arn = describe("arn:aws:ecs:us-east-1:000000000000:task-definition/app:1")
        .await
        .unwrap();
    assert_eq!(by_arn.task_definition.unwrap().revision(), 1);
    assert_eq!(by_arn.tags.map(|t| t.len()), Some(0));

    // Without include TAGS, tags are left out.
    let plain = ecs
        .describe_task_definition()
        .task_definition("app")
        .send()
        .await
        .unwrap();
    assert!(plain.tags.is_none());

    // `family` means the newest ACTIVE revision.
    ecs.deregister_task_definition()
        .task_definition("app:3")
        .send()
        .await
        .unwrap();
    assert_eq!(
        describe("app")
            .await
            .unwrap()
            .task_definition
            .unwrap()
            .revision(),
        2
    );
    // An INACTIVE revision can still be described by number.
    let inactive = describe("app:3").await.unwrap().task_definition.unwrap();
    assert_eq!(inactive.status(), Some(&TaskDefinitionStatus::Inactive));
    assert!(inactive.deregistered_at().is_some());

    for missing in [
        "app:9",
        "nothing",
        "arn:aws:ecs:eu-west-1:000000000000:task-definition/app:1",
    ] {
        let err = describe(missing).await.unwrap_err().into_service_error();
        assert!(err.is_client_exception(), "{missing}: {err:?}");
    }
}

#[tokio::test]
async fn list_task_definitions_filters_sorts_and_paginates() {
    let berth = berth();
    let ecs = berth.ecs();
    for family in ["b", "a", "a-b", "a"] {
        register_fargate(&ecs, family).send().await.unwrap();
    }
    ecs.deregister_task_definition()
        .task_definition("b:1")
        .send()
        .await
        .unwrap();

    let arns = |out: aws_sdk_ecs::operation::list_task_definitions::ListTaskDefinitionsOutput| -> Vec<String> {
        out.task_definition_arns()
            .iter()
            .map(|a| a.rsplit('/').next().unwrap().to_owned())
            .collect()
    };
    let all = ecs.list_task_definitions().send().await.unwrap();
    assert_eq!(arns(all), ["a:1", "a:2", "a-b:1"]);
    let desc = ecs
        .list_task_definitions()
        .sort(SortOrder::Desc)
        .send()
        .await
        .unwrap();
    assert_eq!(arns(desc), ["a-b:1", "a:2", "a:1"]);
    let family = ecs
        .list_task_definitions()
        .family_prefix("a")
        .send()
        .await
        .unwrap();
    assert_eq!(arns(family), ["a:1", "a:2"]);
    let inactive = ecs
        .list_task_definitions()
        .status(TaskDefinitionStatus::Inactive)
        .send()
        .await
        .unwrap();
    assert_eq!(arns(inactive), ["b:1"]);

    let mut paged = Vec::new();
    let mut token = None;
    loop {
        let page = ecs
            .list_task_definitions()
            .sort(SortOrder::Desc)
            .max_results(1)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        token = page.next_token.clone();
        paged.extend(arns(page));
        if token.is_none() {
            break;
        }
    }
    assert_eq!(paged, ["a-b:1", "a:2", "a:1"]);

    let families = |status: Option<TaskDefinitionFamilyStatus>, prefix: Option<&'static str>| {
        let ecs = ecs.clone();
        async move {
            ecs.list_task_definition_families()
                .set_status(status)
                .set_family_prefix(prefix.map(Into::into))
                .send()
                .await
                .unwrap()
                .families()
                .to_vec()
        }
    };
    assert_eq!(families(None, None).await, ["a", "a-b", "b"]);
    assert_eq!(
        families(Some(TaskDefinitionFamilyStatus::Active), None).await,
        ["a", "a-b"]
    );
    assert_eq!(
        families(Some(TaskDefinitionFamilyStatus::Inactive), None).await,
        ["b"]
    );
    assert_eq!(families(None, Some("a")).await, ["a", "a-b"]);
    let page = ecs
        .list_task_definition_families()
        .max_results(2)
        .send()
        .await
        .unwrap();
    assert_eq!(page.families(), ["a", "a-b"]);
    let rest = ecs
        .list_task_definition_families()
        .max_results(2)
        .set_next_token(page.next_token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (rest.families(), rest.next_token()),
        (&["b".to_owned()][..], None)
    );
}

#[tokio::test]
async fn deregister_then_delete() {
    let berth = berth();
    let ecs = berth.ecs();
    register_fargate(&ecs, "job").send().await.unwrap();
    register_fargate(&ecs, "job").send().await.unwrap();

    let err = ecs
        .deregister_task_definition()
        .task_definition("job")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_client_exception());

    // Deleting an ACTIVE revision is a failure, not an error.
    let out = ecs
        .delete_task_definitions()
        .task_definitions("job:1")
        .task_definitions("job:7")
        .send()
        .await
        .unwrap();
    assert!(out.task_definitions().is_empty());
    assert_eq!(out.failures().len(), 2);
    assert!(out.failures()[0].reason().unwrap().contains("ACTIVE"));
    assert!(
        out.failures()[1]
            .reason()
            .unwrap()
            .contains("does not exist")
    );

    ecs.deregister_task_definition()
        .task_definition("job:1")
        .send()
        .await
        .unwrap();
    let out = ecs
        .delete_task_definitions()
        .task_definitions("job:1")
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.task_definitions()[0].status(),
        Some(&TaskDefinitionStatus::DeleteInProgress)
    );
    assert!(out.task_definitions()[0].delete_requested_at().is_some());

    // Revisions are never reused, even after deletion.
    let next = register_fargate(&ecs, "job").send().await.unwrap();
    assert_eq!(next.task_definition.unwrap().revision(), 3);

    let err = ecs.delete_task_definitions().send().await.unwrap_err();
    assert!(err.into_service_error().is_invalid_parameter_exception());
}

/// Each Fargate/ECS rule, one line each: how the guide's definition is changed, and a phrase
/// the error message must carry. All are ClientExceptions, as ECS raises them.
#[tokio::test]
async fn registration_rules_refuse_with_specific_messages() {
    let berth = berth();
    let ecs = berth.ecs();
    type Change = fn(RegisterTaskDefinitionFluentBuilder) -> RegisterTaskDefinitionFluentBuilder;
    let cases: Vec<(Change, &str)> = vec![
        (
            |b| b.network_mode(NetworkMode::Bridge),
            "Fargate only supports network mode 'awsvpc'",
        ),
        (|b| b.set_cpu(None), "'cpu' be defined at the task level"),
        (
            |b| b.set_memory(None),
            "'memory' be defined at the task level",
        ),
        (
            |b| b.memory("4096"),
            "No Fargate configuration exists for given values: 256 CPU, 4096 memory",
        ),
        (
            |b| b.cpu("512").memory("512"),
            "No Fargate configuration exists",
        ),
        (
            |b| b.cpu("8192").memory("18432"),
            "No Fargate configuration exists",
        ),
        (
            |b| b.cpu("16 vCPU").memory("128 GB"),
            "No Fargate configuration exists",
        ),
        (|b| b.cpu("a lot"), "Invalid 'cpu' setting"),
        (
            |b| {
                b.set_container_definitions(Some(vec![
                    ContainerDefinition::builder()
                        .name("x")
                        .image("i")
                        .essential(false)
                        .build(),
                ]))
            },
            "at least one essential container",
        ),
        (
            |b| b.container_definitions(container("my-container")),
            "Duplicate container name 'my-container'",
        ),
        (
            |b| {
                b.set_container_definitions(Some(vec![
                    ContainerDefinition::builder().name("x").build(),
                ]))
            },
            "Container.image should not be null or empty",
        ),
        (
            |b| {
                b.set_container_definitions(Some(vec![
                    ContainerDefinition::builder()
                        .name("x")
                        .image("i")
                        .cpu(512)
                        .build(),
                ]))
            },
            "more than the task cpu (256)",
        ),
        (
            |b| {
                b.set_container_definitions(Some(vec![
                    ContainerDefinition::builder()
                        .name("x")
                        .image("i")
                        .memory(1024)
                        .build(),
                ]))
            },
            "more than the task memory (512 MiB)",
        ),
        (
            |b| {
                b.set_container_definitions(Some(vec![
                    ContainerDefinition::builder()
                        .name("x")
                        .image("i")
                        .port_mappings(
                            PortMapping::builder()
                                .container_port(80)
                                .host_port(8080)
                                .build(),
                        )
                        .build(),
                ]))
            },
            "When networkMode=awsvpc, the host ports and container ports in port mappings must match",
        ),
        (
            |b| b.ephemeral_storage(EphemeralStorage::builder().size_in_gib(20).build()),
            "between 21 and 200 GiB",
        ),
        (
            |b| b.ephemeral_storage(EphemeralStorage::builder().size_in_gib(201).build()),
            "between 21 and 200 GiB",
        ),
        (|b| b.family("has space"), "Family 'has space' is invalid"),
    ];
    for (i, (change, phrase)) in cases.into_iter().enumerate() {
        let err = change(register_fargate(&ecs, "rules"))
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert!(err.is_client_exception(), "case {i}: {err:?}");
        let message = err.message().unwrap_or_default();
        assert!(
            message.contains(phrase),
            "case {i}: {message:?} lacks {phrase:?}"
        );
    }
    // Every refusal left nothing behind.
    let families = ecs.list_task_definition_families().send().await.unwrap();
    assert!(families.families().is_empty());

    // The boundaries themselves are accepted.
    for (cpu, memory) in [
        ("256", "2048"),
        ("4096", "30720"),
        ("8192", "61440"),
        ("16384", "122880"),
    ] {
        register_fargate(&ecs, "sizes")
            .cpu(cpu)
            .memory(memory)
            .send()
            .await
            .unwrap();
    }
    register_fargate(&ecs, "sizes")
        .ephemeral_storage(EphemeralStorage::builder().size_in_gib(200).build())
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn ec2_style_definitions_need_container_memory() {
    let berth = berth();
    let ecs = berth.ecs();
    let err = ecs
        .register_task_definition()
        .family("classic")
        .container_definitions(
            ContainerDefinition::builder()
                .name("app")
                .image("busybox")
                .build(),
        )
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        err.message()
            .unwrap()
            .contains("At least one of 'memory' or 'memoryReservation'")
    );
    let ok = ecs
        .register_task_definition()
        .family("classic")
        .container_definitions(
            ContainerDefinition::builder()
                .name("app")
                .image("busybox")
                .memory_reservation(64)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        ok.task_definition.unwrap().compatibilities(),
        [Compatibility::External, Compatibility::Ec2]
    );
}

#[tokio::test]
async fn concurrent_registrations_get_distinct_revisions() {
    let berth = berth();
    let ecs = berth.ecs();
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let request = register_fargate(&ecs, "busy");
        tasks.push(tokio::spawn(async move { request.send().await.unwrap() }));
    }
    let mut revisions = Vec::new();
    for task in tasks {
        revisions.push(task.await.unwrap().task_definition.unwrap().revision());
    }
    revisions.sort_unstable();
    assert_eq!(revisions, (1..=40).collect::<Vec<_>>());
}

/// The guide's task definition with `change` applied, as the aws CLI's `--cli-input-json`.
fn guide_changed(change: fn(&mut serde_json::Value)) -> serde_json::Value {
    let mut definition = serde_json::json!({
        "family": "probe",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [{"name": "app", "image": "busybox", "essential": true}]
    });
    change(&mut definition);
    definition
}

/// `aws ecs register-task-definition` of `definition`: the CLI's output, and its stderr.
fn register_with_cli(
    berth: &Berth,
    dir: &std::path::Path,
    definition: &serde_json::Value,
) -> (bool, String, String) {
    std::fs::write(dir.join("probe.json"), definition.to_string()).unwrap();
    let output = berth.aws(
        dir,
        &[
            "ecs",
            "register-task-definition",
            "--cli-input-json",
            "file://probe.json",
        ],
    );
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

type Probe = (&'static str, fn(&mut serde_json::Value), &'static str);

/// What a task might ask of the machine under it, one probe per line: each refused by
/// `berth up` with a ClientException naming the field, through the real aws CLI.
#[rustfmt::skip]
const PROBES: &[Probe] = &[
    ("privileged", |d| d["containerDefinitions"][0]["privileged"] = serde_json::json!(true), "'containerDefinitions[0].privileged' (container 'app')"),
    ("SYS_ADMIN", |d| d["containerDefinitions"][0]["linuxParameters"] = serde_json::json!({"capabilities": {"add": ["SYS_ADMIN"]}}), "not 'SYS_ADMIN': 'containerDefinitions[0].linuxParameters.capabilities.add'"),
    ("ALL", |d| d["containerDefinitions"][0]["linuxParameters"] = serde_json::json!({"capabilities": {"add": ["ALL"]}}), "not 'ALL': 'containerDefinitions[0].linuxParameters.capabilities.add'"),
    ("sourcePath /", |d| {
        d["volumes"] = serde_json::json!([{"name": "root", "host": {"sourcePath": "/"}}]);
        d["containerDefinitions"][0]["mountPoints"] = serde_json::json!([{"sourceVolume": "root", "containerPath": "/host"}]);
    }, "do not support sourcePath: 'volumes[0].host.sourcePath' (volume 'root')"),
    ("/dev/mem", |d| d["containerDefinitions"][0]["linuxParameters"] = serde_json::json!({"devices": [{"hostPath": "/dev/mem", "containerPath": "/dev/mem"}]}), "do not support devices: 'containerDefinitions[0].linuxParameters.devices'"),
    ("networkMode host", |d| d["networkMode"] = serde_json::json!("host"), "Fargate only supports network mode 'awsvpc'; this task definition's 'networkMode' is 'host'"),
    ("seccomp=unconfined", |d| d["containerDefinitions"][0]["dockerSecurityOptions"] = serde_json::json!(["seccomp=unconfined"]), "do not support dockerSecurityOptions: 'containerDefinitions[0].dockerSecurityOptions'"),
    ("kernel.core_pattern", |d| d["containerDefinitions"][0]["systemControls"] = serde_json::json!([{"namespace": "kernel.core_pattern", "value": "|/tmp/pwn"}]), "not 'kernel.core_pattern': 'containerDefinitions[0].systemControls[0].namespace'"),
];

#[test]
fn what_fargate_refuses_a_task_is_refused_by_name() {
    let berth = berth();
    let dir = tempfile::tempdir().unwrap();
    for (probe, change, phrase) in PROBES {
        let (ok, _, stderr) = register_with_cli(&berth, dir.path(), &guide_changed(*change));
        assert!(!ok, "{probe}: registered");
        assert!(
            stderr.contains("(ClientException)") && stderr.contains(phrase),
            "{probe}: {stderr:?} lacks {phrase:?}"
        );
    }
    let families = berth.aws_json(dir.path(), &["ecs", "list-task-definition-families"]);
    assert_eq!(families["families"], serde_json::json!([]));
}

/// On a trusted machine `berth up --allow-privileged` takes the privileged probes and stores
/// them as given; the others stay refused.
#[test]
fn allow_privileged_accepts_privileged_and_nothing_more() {
    let berth = Berth::start_with(env!("CARGO_BIN_EXE_berth"), &["--allow-privileged"]);
    let dir = tempfile::tempdir().unwrap();
    for (probe, change, phrase) in PROBES {
        let (ok, stdout, stderr) = register_with_cli(&berth, dir.path(), &guide_changed(*change));
        let lifted = matches!(*probe, "privileged" | "SYS_ADMIN" | "ALL" | "sourcePath /");
        if lifted {
            assert!(ok, "{probe}: {stderr}");
        } else {
            assert!(
                !ok && stderr.contains("(ClientException)") && stderr.contains(phrase),
                "{probe}: {stdout}{stderr}"
            );
        }
    }
    let described = berth.aws_json(
        dir.path(),
        &[
            "ecs",
            "describe-task-definition",
            "--task-definition",
            "probe:1",
        ],
    );
    assert_eq!(
        described["taskDefinition"]["containerDefinitions"][0]["privileged"],
        true
    );
}

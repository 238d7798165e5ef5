//! The task API through the AWS SDK for Rust and the aws CLI: RunTask's validation and the
//! tasks it creates, DescribeTasks, ListTasks, StopTask. (Starting containers is the node
//! agent's part; these tests look at what the API records and returns.)

use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_sdk_ecs::types::{
    AwsVpcConfiguration, CapacityProviderStrategyItem, ContainerOverride, DesiredStatus,
    LaunchType, NetworkConfiguration, NetworkMode, PropagateTags, Tag, TaskField, TaskOverride,
};
use berth_testsupport::{Berth, fargate_guide_dir, register_fargate};

fn network() -> NetworkConfiguration {
    NetworkConfiguration::builder()
        .awsvpc_configuration(
            AwsVpcConfiguration::builder()
                .subnets("subnet-12345678")
                .security_groups("sg-12345678")
                .build()
                .unwrap(),
        )
        .build()
}

async fn setup(berth: &Berth) -> aws_sdk_ecs::Client {
    let ecs = berth.ecs();
    ecs.create_cluster()
        .cluster_name("fargate-cluster")
        .send()
        .await
        .unwrap();
    register_fargate(&ecs, "fargate-task")
        .tags(Tag::builder().key("team").value("web").build())
        .send()
        .await
        .unwrap();
    ecs
}

#[test]
fn the_guides_run_task_command_verbatim() {
    let berth = Berth::start(env!("CARGO_BIN_EXE_berth"));
    let guide = fargate_guide_dir();
    berth.aws_json(
        &guide,
        &[
            "ecs",
            "register-task-definition",
            "--cli-input-json",
            "file://task-definition.json",
        ],
    );
    berth.aws_json(
        &guide,
        &["ecs", "create-cluster", "--cluster-name", "fargate-cluster"],
    );
    let out = berth.aws_json(
        &guide,
        &[
            "ecs", "run-task", "--cluster", "fargate-cluster", "--launch-type", "FARGATE",
            "--network-configuration",
            "awsvpcConfiguration={subnets=[subnet-12345678],securityGroups=[sg-12345678],assignPublicIp=ENABLED}",
            "--task-definition", "fargate-task",
        ],
    );
    let task = &out["tasks"][0];
    assert!(
        task["taskArn"]
            .as_str()
            .unwrap()
            .starts_with("arn:aws:ecs:us-east-1:000000000000:task/fargate-cluster/")
    );
    assert_eq!(task["lastStatus"], "PROVISIONING");
    assert_eq!(task["desiredStatus"], "RUNNING");
    assert_eq!(task["launchType"], "FARGATE");
    assert_eq!(task["cpu"], "256");
    assert_eq!(task["containers"][0]["name"], "my-container");
    assert_eq!(out["failures"], serde_json::json!([]));
}

#[tokio::test]
async fn run_describe_list_stop() {
    let berth = Berth::start(env!("CARGO_BIN_EXE_berth"));
    let ecs = setup(&berth).await;
    let run = ecs
        .run_task()
        .cluster("fargate-cluster")
        .task_definition("fargate-task")
        .launch_type(LaunchType::Fargate)
        .network_configuration(network())
        .count(3)
        .started_by("tests")
        .propagate_tags(PropagateTags::TaskDefinition)
        .overrides(
            TaskOverride::builder()
                .container_overrides(
                    ContainerOverride::builder()
                        .name("my-container")
                        .command("echo")
                        .build(),
                )
                .cpu("512")
                .memory("1024")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(run.tasks().len(), 3);
    let task = &run.tasks()[0];
    assert_eq!((task.cpu(), task.memory()), (Some("512"), Some("1024")));
    assert_eq!(task.group(), Some("family:fargate-task"));
    assert_eq!(task.started_by(), Some("tests"));
    assert_eq!(task.capacity_provider_name(), Some("FARGATE"));
    assert_eq!(task.platform_version(), Some("1.4.0"));
    assert!(task.created_at().is_some());
    let container = &task.containers()[0];
    assert_eq!(container.last_status(), Some("PENDING"));
    assert!(
        container
            .container_arn()
            .unwrap()
            .contains(":container/fargate-cluster/")
    );
    let arn = task.task_arn().unwrap().to_owned();
    let id = arn.rsplit('/').next().unwrap().to_owned();

    let described = ecs
        .describe_tasks()
        .cluster("fargate-cluster")
        .tasks(&id)
        .tasks(&arn)
        .tasks("0123456789abcdef0123456789abcdef")
        .include(TaskField::Tags)
        .send()
        .await
        .unwrap();
    assert_eq!(described.tasks().len(), 2);
    assert_eq!(
        described.tasks()[0].tags()[0].key(),
        Some("team"),
        "tags propagated"
    );
    assert_eq!(described.failures()[0].reason(), Some("MISSING"));

    let listed = ecs
        .list_tasks()
        .cluster("fargate-cluster")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.task_arns().len(), 3);
    let page = ecs
        .list_tasks()
        .cluster("fargate-cluster")
        .max_results(2)
        .send()
        .await
        .unwrap();
    assert_eq!(page.task_arns().len(), 2);
    assert!(page.next_token().is_some());
    let by_family = ecs
        .list_tasks()
        .cluster("fargate-cluster")
        .family("other")
        .send()
        .await
        .unwrap();
    assert!(by_family.task_arns().is_empty());

    let stopped = ecs
        .stop_task()
        .cluster("fargate-cluster")
        .task(&arn)
        .reason("done testing")
        .send()
        .await
        .unwrap()
        .task
        .unwrap();
    assert_eq!(stopped.desired_status(), Some("STOPPED"));
    assert_eq!(stopped.stopped_reason(), Some("done testing"));
    let running = ecs
        .list_tasks()
        .cluster("fargate-cluster")
        .send()
        .await
        .unwrap();
    assert_eq!(running.task_arns().len(), 2);
    let stopped_list = ecs
        .list_tasks()
        .cluster("fargate-cluster")
        .desired_status(DesiredStatus::Stopped)
        .send()
        .await
        .unwrap();
    assert_eq!(stopped_list.task_arns(), std::slice::from_ref(&arn));

    let err = ecs
        .stop_task()
        .cluster("fargate-cluster")
        .task("0123456789abcdef0123456789abcdef")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_parameter_exception(), "{err:?}");

    // Tasks are taggable by ARN.
    ecs.tag_resource()
        .resource_arn(&arn)
        .tags(Tag::builder().key("k").value("v").build())
        .send()
        .await
        .unwrap();
    let tags = ecs
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags().len(), 2);
}

/// One RunTask rule per line: how the request is changed, and a phrase of the error.
#[tokio::test]
async fn run_task_refuses_what_ecs_refuses() {
    let berth = Berth::start(env!("CARGO_BIN_EXE_berth"));
    let ecs = setup(&berth).await;
    register_fargate(&ecs, "bridge-task")
        .network_mode(NetworkMode::Bridge)
        .set_requires_compatibilities(None)
        .send()
        .await
        .unwrap();
    register_fargate(&ecs, "old").send().await.unwrap();
    ecs.deregister_task_definition()
        .task_definition("old:1")
        .send()
        .await
        .unwrap();

    let base = || {
        ecs.run_task()
            .cluster("fargate-cluster")
            .task_definition("fargate-task")
            .launch_type(LaunchType::Fargate)
            .network_configuration(network())
    };
    type Builder = aws_sdk_ecs::operation::run_task::builders::RunTaskFluentBuilder;
    let cases: Vec<(Builder, &str)> = vec![
        (base().count(11), "count must be between 1 and 10"),
        (base().count(0), "count must be between 1 and 10"),
        (
            base().set_network_configuration(None),
            "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
        ),
        (
            base().launch_type(LaunchType::Ec2),
            "launchType must be FARGATE",
        ),
        (
            base().capacity_provider_strategy(
                CapacityProviderStrategyItem::builder()
                    .capacity_provider("FARGATE")
                    .build()
                    .unwrap(),
            ),
            "Specifying both a launch type and capacity provider strategy is not supported.",
        ),
        (
            base().overrides(
                TaskOverride::builder()
                    .container_overrides(ContainerOverride::builder().name("ghost").build())
                    .build(),
            ),
            "Override for container named ghost is not a container in the TaskDefinition.",
        ),
        (
            base().overrides(TaskOverride::builder().cpu("256").memory("4096").build()),
            "No Fargate configuration exists",
        ),
        (
            base().task_definition("bridge-task"),
            "Task definition does not support launch_type FARGATE.",
        ),
        (
            base().task_definition("old:1"),
            "TaskDefinition is inactive",
        ),
        (
            base().task_definition("nothing"),
            "Unable to describe task definition",
        ),
        (base().cluster("ghost"), "Cluster not found."),
        (
            base().started_by("x".repeat(37)),
            "startedBy may be up to 36",
        ),
    ];
    for (i, (request, phrase)) in cases.into_iter().enumerate() {
        let err = request.send().await.unwrap_err().into_service_error();
        let message = err.message().unwrap_or_default().to_owned();
        assert!(
            message.contains(phrase),
            "case {i}: {message:?} lacks {phrase:?} ({err:?})"
        );
    }
    let none = ecs
        .list_tasks()
        .cluster("fargate-cluster")
        .send()
        .await
        .unwrap();
    assert!(
        none.task_arns().is_empty(),
        "refused requests created nothing"
    );

    // A capacity provider strategy alone is fine.
    let spot = ecs
        .run_task()
        .cluster("fargate-cluster")
        .task_definition("fargate-task")
        .network_configuration(network())
        .capacity_provider_strategy(
            CapacityProviderStrategyItem::builder()
                .capacity_provider("FARGATE_SPOT")
                .weight(1)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        spot.tasks()[0].capacity_provider_name(),
        Some("FARGATE_SPOT")
    );
}

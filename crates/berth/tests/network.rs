//! awsvpc networking for real: every task gets its own address from its subnet on a veth
//! into berth's bridge, reachable from the host at its containerPort, named by its private
//! DNS name; addresses are never shared (not even across a kill -9 of berth) and are freed
//! when tasks stop; unknown subnets are refused when the network is strict. Traffic goes only to
//! addresses inside namespaces this test's berth made.

use std::net::Ipv4Addr;
use std::time::Duration;

use berth_testsupport::netns::{HTTP_SERVER as SERVER, http_get};
use berth_testsupport::tasks::{
    TaskSetup, assert_released, attachment_detail as detail, interface_of, register, run_many,
    task_id, wait_for_all,
};

#[tokio::test]
async fn each_task_gets_its_own_address_reachable_from_the_host_and_freed_when_it_stops() {
    let setup = TaskSetup::start(env!("CARGO_BIN_EXE_berth"), &[]).await;
    let ecs = setup.berth.ecs();
    register(&ecs, "web", setup.shell("web", SERVER).build()).await;
    let arns = run_many(&ecs, "web", 3, None).await;
    let tasks = wait_for_all(&ecs, &arns, "RUNNING", Duration::from_secs(60)).await;

    let mut addresses = Vec::new();
    for task in &tasks {
        let attachment = &task.attachments()[0];
        assert_eq!(attachment.r#type(), Some("ElasticNetworkInterface"));
        assert_eq!(attachment.status(), Some("ATTACHED"));
        assert_eq!(detail(task, "subnetId"), "subnet-12345678");
        assert!(detail(task, "networkInterfaceId").starts_with("eni-"));
        let address: Ipv4Addr = detail(task, "privateIPv4Address").parse().unwrap();
        // This test's VPC block (the test harness gives each berth its own).
        assert_eq!(address.octets()[0], 10, "{address}");
        let [a, b, c, d] = address.octets();
        assert_eq!(
            detail(task, "macAddress"),
            format!("0a:58:{a:02x}:{b:02x}:{c:02x}:{d:02x}")
        );
        let dns_name = detail(task, "privateDnsName");
        assert_eq!(dns_name, format!("ip-{a}-{b}-{c}-{d}.ec2.internal"));
        let interface = &task.containers()[0].network_interfaces()[0];
        assert_eq!(interface.attachment_id(), attachment.id());
        assert_eq!(
            interface.private_ipv4_address(),
            Some(address.to_string().as_str())
        );
        assert_eq!(task.connectivity().map(|c| c.as_str()), Some("CONNECTED"));
        // Its veth's host end is on the host, named after the task (its alias).
        assert!(interface_of(task_id(task.task_arn().unwrap())).is_some());
        assert!(task.connectivity_at().is_some());
        // The host reaches the task at its address; the task knows itself by its DNS name.
        let answer = http_get(address, 8080);
        assert!(answer.ends_with(&format!("{dns_name}\n")), "{answer}");
        addresses.push(address);
    }
    let mut distinct = addresses.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "{addresses:?}");

    for arn in &arns {
        ecs.stop_task().task(arn).send().await.unwrap();
    }
    let stopped = wait_for_all(&ecs, &arns, "STOPPED", Duration::from_secs(30)).await;
    for task in &stopped {
        assert_eq!(task.attachments()[0].status(), Some("DELETED"));
        assert_released(task_id(task.task_arn().unwrap()));
    }
    // Freed: the next task gets the lowest address again.
    let again = run_many(&ecs, "web", 1, None).await;
    let task = &wait_for_all(&ecs, &again, "RUNNING", Duration::from_secs(60)).await[0];
    let lowest = distinct[0];
    assert_eq!(detail(task, "privateIPv4Address"), lowest.to_string());
    ecs.stop_task().task(&again[0]).send().await.unwrap();
    wait_for_all(&ecs, &again, "STOPPED", Duration::from_secs(30)).await;
}

#[tokio::test]
async fn a_strict_network_refuses_subnets_it_has_not_seen() {
    let setup = TaskSetup::start(env!("CARGO_BIN_EXE_berth"), &["--strict-network"]).await;
    let ecs = setup.berth.ecs();
    register(&ecs, "web", setup.shell("web", "true").build()).await;
    let error = ecs
        .run_task()
        .task_definition("web")
        .launch_type(aws_sdk_ecs::types::LaunchType::Fargate)
        .network_configuration(berth_testsupport::tasks::network())
        .send()
        .await
        .unwrap_err();
    let service = error.into_service_error();
    assert!(service.is_invalid_parameter_exception(), "{service:?}");
    assert_eq!(
        service.meta().message(),
        Some("The subnet ID 'subnet-12345678' does not exist")
    );
    // Nothing was placed.
    let listed = ecs.list_tasks().send().await.unwrap();
    assert!(listed.task_arns().is_empty());
}

#[tokio::test]
async fn an_address_stays_claimed_across_a_kill_9_of_berth() {
    let mut setup = TaskSetup::start(env!("CARGO_BIN_EXE_berth"), &[]).await;
    register(
        &setup.berth.ecs(),
        "web",
        setup.shell("web", SERVER).build(),
    )
    .await;
    let first = run_many(&setup.berth.ecs(), "web", 1, None).await;
    let before = &wait_for_all(
        &setup.berth.ecs(),
        &first,
        "RUNNING",
        Duration::from_secs(60),
    )
    .await[0];
    let first_address: Ipv4Addr = detail(before, "privateIPv4Address").parse().unwrap();

    // berth dies and comes back; the task runs on under its supervisor, its address held.
    setup.berth.restart();
    let ecs = setup.berth.ecs();
    let second = run_many(&ecs, "web", 1, None).await;
    let after = &wait_for_all(&ecs, &second, "RUNNING", Duration::from_secs(60)).await[0];
    let second_address: Ipv4Addr = detail(after, "privateIPv4Address").parse().unwrap();
    assert_ne!(first_address, second_address);
    // Both answer, each at its own address.
    assert!(http_get(first_address, 8080).contains("200"));
    assert!(http_get(second_address, 8080).contains("200"));

    let both = [first[0].clone(), second[0].clone()];
    for arn in &both {
        ecs.stop_task().task(arn).send().await.unwrap();
    }
    for task in wait_for_all(&ecs, &both, "STOPPED", Duration::from_secs(30)).await {
        assert_released(task_id(task.task_arn().unwrap()));
    }
}

#[tokio::test]
async fn a_tasks_etc_files_name_it_by_its_private_dns_name() {
    let setup = TaskSetup::start(env!("CARGO_BIN_EXE_berth"), &[]).await;
    let ecs = setup.berth.ecs();
    // The files come as a layer over the image: readable, and writable like any file of it.
    let script = "cat /etc/hostname; hostname; grep -c \"$(hostname)\" /etc/hosts; \
                  test -f /etc/resolv.conf && \
                  echo 10.9.9.9 extra >> /etc/hosts && grep -c extra /etc/hosts";
    register(&ecs, "names", setup.shell("names", script).build()).await;
    let arns = run_many(&ecs, "names", 1, None).await;
    let task = &wait_for_all(&ecs, &arns, "STOPPED", Duration::from_secs(60)).await[0];
    assert_eq!(task.containers()[0].exit_code(), Some(0), "{task:?}");
    let dns_name = detail(task, "privateDnsName");
    let logs = setup.berth.cli(&["logs", task_id(&arns[0])]);
    assert_eq!(
        String::from_utf8_lossy(&logs.stdout),
        format!("{dns_name}\n{dns_name}\n1\n1\n")
    );
    assert_released(task_id(&arns[0]));
}

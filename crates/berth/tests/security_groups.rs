//! Security groups enforced in the kernel, driven by the real `aws ec2` CLI: a task reaches a
//! peer in its own group; a task in another group is refused until an ingress rule lets its
//! group in, and refused again once the rule is revoked; the host always reaches tasks; tasks
//! leave the host (NAT'ed) only with `assignPublicIp`; DescribeNetworkInterfaces lists the
//! tasks' interfaces; after stop, and after a crash and restart, the firewall keeps nothing
//! of tasks that are gone — and a clean stop leaves no rules, bridge, veth or namespace.
//! Traffic goes only to namespaces this test or its berth made.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use aws_sdk_ecs::types::{LaunchType, Task};
use berth_firewall::{self as firewall, Backend};
use berth_testsupport::Berth;
use berth_testsupport::netns::{HTTP_SERVER, Outside, connects_from, eventually, http_get};
use berth_testsupport::tasks::{
    TaskSetup, assert_released, attachment_detail, network_in, register, task_id, wait_for_all,
};

/// A task that only waits (until SIGTERM).
const IDLE: &str = "trap 'exit 0' TERM; sleep 3600 & wait";

/// Rule changes reach running tasks within a second; a refused connection attempt itself
/// takes a second to time out, so checks allow for one attempt more.
const RULE_CHANGE: Duration = Duration::from_secs(3);

async fn run_in(berth: &Berth, family: &str, groups: &[&str], public: bool) -> String {
    let out = berth
        .ecs()
        .run_task()
        .task_definition(family)
        .launch_type(LaunchType::Fargate)
        .network_configuration(network_in("subnet-12345678", groups, public))
        .send()
        .await
        .unwrap();
    out.tasks()[0].task_arn().unwrap().to_owned()
}

fn address(task: &Task) -> Ipv4Addr {
    attachment_detail(task, "privateIPv4Address")
        .parse()
        .unwrap()
}

fn pid(berth: &Berth, task: &Task) -> u32 {
    berth
        .supervisor_pid(task_id(task.task_arn().unwrap()))
        .expect("the task's supervisor pid")
}

/// The node's rules as the backend lists them.
fn rules(backend: Backend, bridge: &str) -> String {
    let output = match backend {
        Backend::Nftables => Command::new("nft")
            .args(["list", "table", "ip", &format!("berth_{bridge}")])
            .output(),
        Backend::Iptables => Command::new("iptables-save").output(),
    }
    .unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

async fn groups_guard_tasks(backend: Backend, flag: &str) {
    let mut setup = TaskSetup::start(env!("CARGO_BIN_EXE_berth"), &["--firewall", flag]).await;
    let dir = tempfile::tempdir().unwrap();
    let aws = |args: &[&str]| setup.berth.aws_json(dir.path(), args);
    let create = |name: &str| {
        aws(&[
            "ec2",
            "create-security-group",
            "--group-name",
            name,
            "--description",
            "test group",
        ])["GroupId"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (group_a, group_b) = (create("a"), create("b"));
    let ecs = setup.berth.ecs();
    register(&ecs, "web", setup.shell("web", HTTP_SERVER).build()).await;
    register(&ecs, "idle", setup.shell("idle", IDLE).build()).await;
    let server = run_in(&setup.berth, "web", &[&group_a], false).await;
    let peer = run_in(&setup.berth, "idle", &[&group_a], false).await;
    let stranger = run_in(&setup.berth, "idle", &[&group_b], false).await;
    let arns = [server, peer, stranger];
    let tasks = wait_for_all(&ecs, &arns, "RUNNING", Duration::from_secs(60)).await;
    let [server, peer, stranger] = [&tasks[0], &tasks[1], &tasks[2]];
    let server_ip = address(server);

    // The host reaches any task; a peer in the server's group does too; another group does not.
    assert!(http_get(server_ip, 8080).contains("200"));
    assert!(connects_from(pid(&setup.berth, peer), server_ip, 8080));
    assert!(!connects_from(pid(&setup.berth, stranger), server_ip, 8080));

    let rule = [
        "--group-id",
        group_a.as_str(),
        "--protocol",
        "tcp",
        "--port",
        "8080",
        "--source-group",
        group_b.as_str(),
    ];
    let authorize: Vec<&str> = ["ec2", "authorize-security-group-ingress"]
        .into_iter()
        .chain(rule)
        .collect();
    aws(&authorize);
    assert!(
        eventually(RULE_CHANGE, || connects_from(
            pid(&setup.berth, stranger),
            server_ip,
            8080
        )),
        "the authorized group is still refused"
    );
    let revoke: Vec<&str> = ["ec2", "revoke-security-group-ingress"]
        .into_iter()
        .chain(rule)
        .collect();
    aws(&revoke);
    assert!(
        eventually(RULE_CHANGE, || !connects_from(
            pid(&setup.berth, stranger),
            server_ip,
            8080
        )),
        "the revoked group still gets in"
    );
    assert!(connects_from(pid(&setup.berth, peer), server_ip, 8080));

    // Every running task's interface, as EC2 shows Fargate's.
    let interfaces = aws(&["ec2", "describe-network-interfaces"]);
    let interfaces = interfaces["NetworkInterfaces"].as_array().unwrap();
    assert_eq!(interfaces.len(), 3, "{interfaces:?}");
    for task in &tasks {
        let id = attachment_detail(task, "networkInterfaceId");
        let interface = interfaces
            .iter()
            .find(|i| i["NetworkInterfaceId"] == id.as_str())
            .unwrap_or_else(|| panic!("{id} not listed"));
        assert_eq!(interface["PrivateIpAddress"], address(task).to_string());
        assert_eq!(interface["Status"], "in-use");
        assert_eq!(interface["InterfaceType"], "interface");
        assert_eq!(interface["RequesterManaged"], true);
    }
    let in_a = aws(&[
        "ec2",
        "describe-network-interfaces",
        "--filters",
        &format!("Name=group-id,Values={group_a}"),
    ]);
    assert_eq!(in_a["NetworkInterfaces"].as_array().unwrap().len(), 2);

    // Stopped tasks leave no rules behind — already when STOPPED frees their addresses for
    // other tasks; a clean stop of berth leaves nothing at all.
    for arn in &arns {
        ecs.stop_task().task(arn).send().await.unwrap();
    }
    let bridge = setup.berth.bridge();
    for task in wait_for_all(&ecs, &arns, "STOPPED", Duration::from_secs(30)).await {
        assert_released(task_id(task.task_arn().unwrap()));
    }
    let listed = rules(backend, &bridge);
    for task in &tasks {
        assert!(!listed.contains(&address(task).to_string()), "{listed}");
    }
    assert_eq!(setup.berth.terminate(), Some(0));
    assert!(!firewall::present(backend, &bridge));
    assert!(!Path::new("/sys/class/net").join(&bridge).exists());
}

#[tokio::test]
async fn security_groups_are_enforced_with_nftables() {
    groups_guard_tasks(Backend::Nftables, "nftables").await;
}

#[tokio::test]
async fn security_groups_are_enforced_with_iptables_where_nft_is_missing() {
    groups_guard_tasks(Backend::Iptables, "iptables").await;
}

#[tokio::test]
async fn only_tasks_with_a_public_ip_leave_the_host_and_they_are_nated() {
    let setup = TaskSetup::start(env!("CARGO_BIN_EXE_berth"), &[]).await;
    let outside = Outside::create(setup.berth.network_slot());
    let ecs = setup.berth.ecs();
    register(&ecs, "idle", setup.shell("idle", IDLE).build()).await;
    let public = run_in(&setup.berth, "idle", &[], true).await;
    let private = run_in(&setup.berth, "idle", &[], false).await;
    let arns = [public, private];
    let tasks = wait_for_all(&ecs, &arns, "RUNNING", Duration::from_secs(60)).await;

    assert!(connects_from(
        pid(&setup.berth, &tasks[0]),
        outside.address,
        9000
    ));
    // The outside world sees the host's address, not the task's.
    let host_end = format!("198.18.{}.1", setup.berth.network_slot());
    assert!(
        eventually(Duration::from_secs(2), || outside.peers()
            == [host_end.clone()]),
        "{:?}",
        outside.peers()
    );
    assert!(!connects_from(
        pid(&setup.berth, &tasks[1]),
        outside.address,
        9000
    ));
    assert_eq!(outside.peers().len(), 1);

    for arn in &arns {
        ecs.stop_task().task(arn).send().await.unwrap();
    }
    wait_for_all(&ecs, &arns, "STOPPED", Duration::from_secs(30)).await;
}

#[tokio::test]
async fn after_a_crash_the_firewall_keeps_only_the_tasks_still_there() {
    let mut setup = TaskSetup::start(env!("CARGO_BIN_EXE_berth"), &[]).await;
    register(
        &setup.berth.ecs(),
        "idle",
        setup.shell("idle", IDLE).build(),
    )
    .await;
    let stays = run_in(&setup.berth, "idle", &[], false).await;
    let vanishes = run_in(&setup.berth, "idle", &[], false).await;
    let arns = [stays, vanishes];
    let tasks = wait_for_all(
        &setup.berth.ecs(),
        &arns,
        "RUNNING",
        Duration::from_secs(60),
    )
    .await;
    let bridge = setup.berth.bridge();
    let (kept, gone) = (address(&tasks[0]), address(&tasks[1]));
    let listed = rules(Backend::Nftables, &bridge);
    assert!(listed.contains(&kept.to_string()) && listed.contains(&gone.to_string()));

    // berth dies; meanwhile one task's supervisor dies too.
    setup.berth.kill9();
    let gone_pid = pid(&setup.berth, &tasks[1]);
    // The shell's builtin: a bare Debian has no kill(1) (procps).
    Command::new("sh")
        .args(["-c", &format!("kill -KILL {gone_pid}")])
        .status()
        .unwrap();
    setup.berth.restart();
    let ecs = setup.berth.ecs();
    wait_for_all(&ecs, &arns[1..], "STOPPED", Duration::from_secs(30)).await;
    assert!(
        eventually(Duration::from_secs(5), || {
            let listed = rules(Backend::Nftables, &bridge);
            listed.contains(&kept.to_string()) && !listed.contains(&gone.to_string())
        }),
        "{}",
        rules(Backend::Nftables, &bridge)
    );

    ecs.stop_task().task(&arns[0]).send().await.unwrap();
    for task in wait_for_all(&ecs, &arns, "STOPPED", Duration::from_secs(30)).await {
        assert_released(task_id(task.task_arn().unwrap()));
    }
    assert_eq!(setup.berth.terminate(), Some(0));
    assert!(!firewall::present(Backend::Nftables, &bridge));
    assert!(!Path::new("/sys/class/net").join(&bridge).exists());
}

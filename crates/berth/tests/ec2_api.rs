//! The EC2 operations berth serves, driven by the real `aws ec2` CLI: VPCs, subnets and
//! security groups are made, listed (by id and by filter), changed and deleted as EC2 does
//! it, and each mistake gets EC2's error code — a block that overlaps or lies outside its
//! VPC, a duplicate group or rule, a rule that is not there, a group or subnet still in use,
//! the default group, an unknown filter or action. A strict network refuses groups it has
//! never seen; otherwise they are made on first use.

use std::process::Output;
use std::time::Duration;

use aws_sdk_ecs::types::{LaunchType, Task};
use berth_testsupport::Berth;
use berth_testsupport::tasks::{TaskSetup, network_in, register, wait_for_all};
use serde_json::Value;

/// A raw Query call's `Authorization`, as the aws CLI sends it (berth takes form bodies only
/// signed).
const SIGNED: &str = "AWS4-HMAC-SHA256 Credential=AKIDBERTHTEST/20261123/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0";
/// A task that only waits (until SIGTERM).
const IDLE: &str = "trap 'exit 0' TERM; sleep 3600 & wait";

/// The CLI against one berth, in a scratch directory.
struct Cli<'a> {
    berth: &'a Berth,
    dir: tempfile::TempDir,
}

impl<'a> Cli<'a> {
    fn new(berth: &'a Berth) -> Self {
        Self {
            berth,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// `aws ec2 ARGS`: the arguments as run and what the CLI did.
    fn run(&self, args: &[impl AsRef<str>]) -> (Vec<String>, Output) {
        let args: Vec<&str> = std::iter::once("ec2")
            .chain(args.iter().map(AsRef::as_ref))
            .collect();
        let output = self.berth.aws(self.dir.path(), &args);
        (args.into_iter().map(str::to_owned).collect(), output)
    }

    /// `aws ec2 ARGS`, which must succeed (for operations that print nothing).
    fn succeeds(&self, args: &[impl AsRef<str>]) -> Output {
        let (args, output) = self.run(args);
        assert!(
            output.status.success(),
            "aws {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// `aws ec2 ARGS`, which must succeed; its JSON output.
    fn ok(&self, args: &[impl AsRef<str>]) -> Value {
        serde_json::from_slice(&self.succeeds(args).stdout).expect("aws CLI printed JSON")
    }

    /// While `task` runs, `delete` is refused (`DependencyViolation`); once it has stopped,
    /// `delete` succeeds and the resource is gone: `describe` and `delete` again answer
    /// `not_found`.
    async fn deletable_once_stopped(
        &self,
        berth: &Berth,
        task: &Task,
        delete: &[&str],
        describe: &[&str],
        not_found: &str,
    ) {
        self.fails("DependencyViolation", delete);
        stop(berth, task.task_arn().unwrap()).await;
        self.succeeds(delete);
        self.fails(not_found, describe);
        self.fails(not_found, delete);
    }

    /// `aws ec2 ARGS`, which must fail with EC2 error `code`.
    fn fails(&self, code: &str, args: &[impl AsRef<str>]) {
        let (args, output) = self.run(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "aws {args:?} succeeded");
        assert!(
            stderr.contains(&format!("({code})")),
            "aws {args:?}: expected {code}, got: {stderr}"
        );
    }
}

fn list<'v>(value: &'v Value, field: &str) -> &'v Vec<Value> {
    value[field]
        .as_array()
        .unwrap_or_else(|| panic!("{field} missing in {value}"))
}

fn string(value: &Value, field: &str) -> String {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} missing in {value}"))
        .to_owned()
}

async fn run_in(berth: &Berth, subnet: &str, groups: &[&str]) -> Result<String, String> {
    berth
        .ecs()
        .run_task()
        .task_definition("idle")
        .launch_type(LaunchType::Fargate)
        .network_configuration(network_in(subnet, groups, false))
        .send()
        .await
        .map(|out| out.tasks()[0].task_arn().unwrap().to_owned())
        .map_err(|e| format!("{:?}", e.into_service_error()))
}

/// A task in `subnet` with `groups`, once RUNNING.
async fn running_in(berth: &Berth, subnet: &str, groups: &[&str]) -> Task {
    let arn = run_in(berth, subnet, groups).await.unwrap();
    let ecs = berth.ecs();
    wait_for_all(&ecs, &[arn], "RUNNING", Duration::from_secs(60))
        .await
        .remove(0)
}

async fn stop(berth: &Berth, arn: &str) {
    let ecs = berth.ecs();
    ecs.stop_task().task(arn).send().await.unwrap();
    wait_for_all(&ecs, &[arn.to_owned()], "STOPPED", Duration::from_secs(30)).await;
}

#[tokio::test]
async fn vpcs_and_subnets_are_made_listed_and_deleted_as_in_ec2() {
    let setup = TaskSetup::start(env!("CARGO_BIN_EXE_berth"), &[]).await;
    let cli = Cli::new(&setup.berth);

    // The default VPC is there from the start, with its default subnet.
    let vpcs = cli.ok(&["describe-vpcs", "--filters", "Name=is-default,Values=true"]);
    let default = &list(&vpcs, "Vpcs")[0];
    // (The test's berth is given a VPC block of its own so that tests do not collide.)
    let slot = setup.berth.network_slot();
    assert_eq!(default["CidrBlock"], format!("10.{slot}.0.0/16"));
    assert_eq!(default["IsDefault"], true);
    let defaults = cli.ok(&[
        "describe-subnets",
        "--filters",
        "Name=default-for-az,Values=true",
    ]);
    let default_subnet = &list(&defaults, "Subnets")[0];
    assert_eq!(default_subnet["VpcId"], default["VpcId"]);
    assert_eq!(default_subnet["MapPublicIpOnLaunch"], true);

    // A VPC of one's own (overlapping the default one, as EC2 allows), and subnets in it.
    let block = |third: u32, rest: &str| format!("10.{slot}.{third}.{rest}");
    let vpc = cli.ok(&["create-vpc", "--cidr-block", &block(128, "0/17")])["Vpc"].clone();
    let vpc_id = string(&vpc, "VpcId");
    assert_eq!(vpc["CidrBlock"], block(128, "0/17"));
    assert_eq!(vpc["IsDefault"], false);
    let listed = cli.ok(&["describe-vpcs", "--vpc-ids", &vpc_id]);
    assert_eq!(list(&listed, "Vpcs").len(), 1);
    cli.fails(
        "InvalidVpc.Range",
        &["create-vpc", "--cidr-block", "10.0.0.0/8"],
    );
    cli.fails(
        "InvalidVpcID.NotFound",
        &["describe-vpcs", "--vpc-ids", "vpc-0123456789abcdef0"],
    );

    let subnet = cli.ok(&[
        "create-subnet",
        "--vpc-id",
        &vpc_id,
        "--cidr-block",
        &block(201, "0/24"),
    ])["Subnet"]
        .clone();
    let subnet_id = string(&subnet, "SubnetId");
    assert_eq!(subnet["VpcId"], vpc_id.as_str());
    // EC2 keeps five addresses of each subnet for itself.
    assert_eq!(subnet["AvailableIpAddressCount"], 251);
    let make = |cidr: String| {
        let args = ["create-subnet", "--vpc-id", &vpc_id, "--cidr-block", &cidr];
        args.map(str::to_owned)
    };
    cli.fails("InvalidSubnet.Conflict", &make(block(201, "128/25")));
    cli.fails("InvalidSubnet.Range", &make(block(0, "0/24")));
    cli.fails(
        "InvalidVpcID.NotFound",
        &[
            "create-subnet",
            "--vpc-id",
            "vpc-0123456789abcdef0",
            "--cidr-block",
            &block(203, "0/24"),
        ],
    );
    cli.ok(&make(block(202, "0/24")));

    // Filters narrow the listing, wildcards included; an unknown filter is an error.
    let in_vpc = cli.ok(&[
        "describe-subnets",
        "--filters",
        &format!("Name=vpc-id,Values={vpc_id}"),
    ]);
    assert_eq!(list(&in_vpc, "Subnets").len(), 2);
    let by_block = cli.ok(&[
        "describe-subnets",
        "--filters",
        &format!("Name=vpc-id,Values={vpc_id}"),
        &format!("Name=cidr-block,Values=10.{slot}.201.*"),
    ]);
    assert_eq!(
        list(&by_block, "Subnets")[0]["SubnetId"],
        subnet_id.as_str()
    );
    cli.fails(
        "InvalidParameterValue",
        &["describe-subnets", "--filters", "Name=colour,Values=blue"],
    );

    // A subnet with a task in it stays until the task is gone.
    let ecs = setup.berth.ecs();
    register(&ecs, "idle", setup.shell("idle", IDLE).build()).await;
    let group = cli.ok(&[
        "create-security-group",
        "--group-name",
        "own",
        "--description",
        "in my VPC",
        "--vpc-id",
        &vpc_id,
    ]);
    let group_id = string(&group, "GroupId");
    let task = running_in(&setup.berth, &subnet_id, &[&group_id]).await;
    let address = berth_testsupport::tasks::attachment_detail(&task, "privateIPv4Address");
    assert!(address.starts_with(&block(201, "")), "{address}");
    cli.deletable_once_stopped(
        &setup.berth,
        &task,
        &["delete-subnet", "--subnet-id", &subnet_id],
        &["describe-subnets", "--subnet-ids", &subnet_id],
        "InvalidSubnetID.NotFound",
    )
    .await;
}

#[tokio::test]
async fn security_groups_and_their_rules_follow_ec2() {
    let setup = TaskSetup::start(env!("CARGO_BIN_EXE_berth"), &[]).await;
    let cli = Cli::new(&setup.berth);
    let create = |name: &str| {
        cli.ok(&[
            "create-security-group",
            "--group-name",
            name,
            "--description",
            "web servers",
        ])
    };
    let web = string(&create("web"), "GroupId");
    let lb = string(&create("lb"), "GroupId");
    cli.fails(
        "InvalidGroup.Duplicate",
        &[
            "create-security-group",
            "--group-name",
            "web",
            "--description",
            "again",
        ],
    );
    cli.fails(
        "InvalidGroup.Reserved",
        &[
            "create-security-group",
            "--group-name",
            "default",
            "--description",
            "mine",
        ],
    );

    // A new group: all egress; ingress only from its own members.
    let describe = |id: &str| {
        list(
            &cli.ok(&["describe-security-groups", "--group-ids", id]),
            "SecurityGroups",
        )[0]
        .clone()
    };
    let fresh = describe(&web);
    assert_eq!(fresh["GroupName"], "web");
    let ingress = list(&fresh, "IpPermissions");
    assert_eq!(ingress.len(), 1, "{ingress:?}");
    assert_eq!(ingress[0]["IpProtocol"], "-1");
    assert_eq!(ingress[0]["UserIdGroupPairs"][0]["GroupId"], web.as_str());
    let egress = list(&fresh, "IpPermissionsEgress");
    assert_eq!(egress[0]["IpProtocol"], "-1");
    assert_eq!(egress[0]["IpRanges"][0]["CidrIp"], "0.0.0.0/0");

    // Rules in both spellings: the shorthand and IpPermissions with a port range, a block and
    // a source group; describe regroups them per protocol and ports.
    let shorthand = [
        "authorize-security-group-ingress",
        "--group-id",
        &web,
        "--protocol",
        "tcp",
        "--port",
        "80",
        "--cidr",
        "10.0.0.0/8",
    ];
    let added = cli.ok(&shorthand);
    assert_eq!(added["Return"], true);
    assert_eq!(list(&added, "SecurityGroupRules")[0]["FromPort"], 80);
    cli.fails("InvalidPermission.Duplicate", &shorthand);
    let range = format!(
        r#"[{{"IpProtocol":"tcp","FromPort":8000,"ToPort":8100,
            "IpRanges":[{{"CidrIp":"192.168.0.0/16","Description":"office"}}],
            "UserIdGroupPairs":[{{"GroupId":"{lb}"}}]}}]"#
    );
    let added = cli.ok(&[
        "authorize-security-group-ingress",
        "--group-id",
        &web,
        "--ip-permissions",
        &range,
    ]);
    assert_eq!(list(&added, "SecurityGroupRules").len(), 2);
    let described = describe(&web);
    let ingress = list(&described, "IpPermissions");
    assert_eq!(ingress.len(), 3, "{ingress:?}");
    let ranged = ingress
        .iter()
        .find(|p| p["FromPort"] == 8000)
        .expect("the 8000-8100 permission");
    assert_eq!(ranged["ToPort"], 8100);
    assert_eq!(ranged["IpRanges"][0]["CidrIp"], "192.168.0.0/16");
    assert_eq!(ranged["IpRanges"][0]["Description"], "office");
    assert_eq!(ranged["UserIdGroupPairs"][0]["GroupId"], lb.as_str());
    cli.fails(
        "InvalidParameterValue",
        &[
            "authorize-security-group-ingress",
            "--group-id",
            &web,
            "--protocol",
            "tcp",
            "--port",
            "80",
            "--cidr",
            "10.0.0.300/8",
        ],
    );

    // Revoking: a rule that is not there is an error; with one that is, it is reported back.
    let unknown =
        r#"[{"IpProtocol":"udp","FromPort":53,"ToPort":53,"IpRanges":[{"CidrIp":"10.0.0.0/8"}]}]"#;
    cli.fails(
        "InvalidPermission.NotFound",
        &[
            "revoke-security-group-ingress",
            "--group-id",
            &web,
            "--ip-permissions",
            unknown,
        ],
    );
    let mixed = r#"[{"IpProtocol":"udp","FromPort":53,"ToPort":53,"IpRanges":[{"CidrIp":"10.0.0.0/8"}]},
                    {"IpProtocol":"tcp","FromPort":80,"ToPort":80,"IpRanges":[{"CidrIp":"10.0.0.0/8"}]}]"#;
    let revoked = cli.ok(&[
        "revoke-security-group-ingress",
        "--group-id",
        &web,
        "--ip-permissions",
        mixed,
    ]);
    let unknown = list(&revoked, "UnknownIpPermissions");
    assert_eq!(unknown.len(), 1, "{revoked}");
    assert_eq!(unknown[0]["IpProtocol"], "udp");
    assert_eq!(list(&describe(&web), "IpPermissions").len(), 2);

    // Filters.
    let named = cli.ok(&[
        "describe-security-groups",
        "--filters",
        "Name=group-name,Values=w*",
    ]);
    let named = list(&named, "SecurityGroups");
    assert_eq!(named.len(), 1);
    assert_eq!(named[0]["GroupId"], web.as_str());
    cli.fails(
        "InvalidParameterValue",
        &[
            "describe-security-groups",
            "--filters",
            "Name=colour,Values=blue",
        ],
    );

    // Deleting: not the default group, not one another group's rules name, not one a task
    // is in; then it is gone.
    let default = cli.ok(&[
        "describe-security-groups",
        "--filters",
        "Name=group-name,Values=default",
    ]);
    let default_id = string(&list(&default, "SecurityGroups")[0], "GroupId");
    cli.fails(
        "CannotDelete",
        &["delete-security-group", "--group-id", &default_id],
    );
    cli.fails(
        "DependencyViolation",
        &["delete-security-group", "--group-id", &lb],
    );
    let ecs = setup.berth.ecs();
    register(&ecs, "idle", setup.shell("idle", IDLE).build()).await;
    let task = running_in(&setup.berth, "subnet-12345678", &[&web]).await;
    cli.deletable_once_stopped(
        &setup.berth,
        &task,
        &["delete-security-group", "--group-id", &web],
        &["describe-security-groups", "--group-ids", &web],
        "InvalidGroup.NotFound",
    )
    .await;
    // With its referrer gone, the other group may go too.
    cli.ok(&["delete-security-group", "--group-id", &lb]);
}

#[tokio::test]
async fn unknown_groups_are_made_on_first_use_unless_the_network_is_strict() {
    let relaxed = TaskSetup::start(env!("CARGO_BIN_EXE_berth"), &[]).await;
    register(
        &relaxed.berth.ecs(),
        "idle",
        relaxed.shell("idle", IDLE).build(),
    )
    .await;
    let task = run_in(&relaxed.berth, "subnet-12345678", &["sg-0123456789abcdef0"])
        .await
        .unwrap();
    let cli = Cli::new(&relaxed.berth);
    let made = cli.ok(&[
        "describe-security-groups",
        "--group-ids",
        "sg-0123456789abcdef0",
    ]);
    let made = &list(&made, "SecurityGroups")[0];
    let default_vpc = cli.ok(&["describe-vpcs", "--filters", "Name=is-default,Values=true"]);
    assert_eq!(made["VpcId"], list(&default_vpc, "Vpcs")[0]["VpcId"]);
    stop(&relaxed.berth, &task).await;

    let strict = TaskSetup::start(env!("CARGO_BIN_EXE_berth"), &["--strict-network"]).await;
    register(
        &strict.berth.ecs(),
        "idle",
        strict.shell("idle", IDLE).build(),
    )
    .await;
    let cli = Cli::new(&strict.berth);
    let defaults = cli.ok(&[
        "describe-subnets",
        "--filters",
        "Name=default-for-az,Values=true",
    ]);
    let subnet = string(&list(&defaults, "Subnets")[0], "SubnetId");
    let error = run_in(&strict.berth, &subnet, &["sg-0123456789abcdef0"])
        .await
        .unwrap_err();
    assert!(error.contains("InvalidParameterException"), "{error}");
    assert!(error.contains("sg-0123456789abcdef0"), "{error}");
    let listed = strict.berth.ecs().list_tasks().send().await.unwrap();
    assert!(listed.task_arns().is_empty());
}

#[test]
fn the_query_protocol_answers_unknown_actions_and_missing_versions_in_ec2s_words() {
    let berth = Berth::start(env!("CARGO_BIN_EXE_berth"));
    let form = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("authorization", SIGNED),
    ];
    let (status, body) =
        berth.raw_request("POST", &form, b"Action=LaunchRocket&Version=2016-11-15");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("<Code>InvalidAction</Code>"), "{body}");
    assert!(body.contains("<RequestID>"), "{body}");
    let (status, body) = berth.raw_request("POST", &form, b"Version=2016-11-15");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("<Code>MissingAction</Code>"), "{body}");
}

#[test]
fn characters_xml_cannot_carry_are_refused_and_every_answer_stays_parseable() {
    let berth = Berth::start(env!("CARGO_BIN_EXE_berth"));
    let form = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("authorization", SIGNED),
    ];
    // Raw, as a probe sends it: a control character in the description.
    let (status, body) = berth.raw_request(
        "POST",
        &form,
        b"Action=CreateSecurityGroup&Version=2016-11-15&GroupName=probe&GroupDescription=a%01b",
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("<Code>InvalidParameterValue</Code>"),
        "{body}"
    );
    // Nothing was stored, and the aws CLI (botocore's XML parser) still reads the region.
    let cli = Cli::new(&berth);
    let groups = cli.ok(&["describe-security-groups"]);
    assert!(
        list(&groups, "SecurityGroups")
            .iter()
            .all(|g| g["GroupName"] != "probe"),
        "{groups}"
    );
    cli.fails(
        "InvalidParameterValue",
        &[
            "create-security-group",
            "--group-name",
            "caf\u{e9}",
            "--description",
            "accented",
        ],
    );
    // EC2's own characters are fine.
    cli.ok(&[
        "create-security-group",
        "--group-name",
        "web-1.prod",
        "--description",
        "web tier (prod) #2: a=b & c;{d}!$*@[x]+",
    ]);
    assert_eq!(
        list(&cli.ok(&["describe-security-groups"]), "SecurityGroups").len(),
        2
    );
}

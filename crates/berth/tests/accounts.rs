//! Principals, policies and accounts against a real `berth up`, through the aws CLI: IAM users
//! with access keys and inline policies (Allow and Deny, `Action` wildcards such as
//! `ecs:Describe*`, `Resource` ARNs with wildcards), every request authorized before it acts
//! and refused in its service's words; and accounts that see and touch nothing of each
//! other's — clusters, task definitions, networks, security groups.

use std::path::Path;
use std::process::Output;

use berth_testsupport::Berth;

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The aws CLI as the holder of `key` (id, secret).
fn aws_as(berth: &Berth, dir: &Path, key: &(String, String), args: &[&str]) -> Output {
    berth.aws_with(
        dir,
        args,
        &[
            ("AWS_ACCESS_KEY_ID", &key.0),
            ("AWS_SECRET_ACCESS_KEY", &key.1),
        ],
    )
}

fn json(output: &Output) -> serde_json::Value {
    assert!(output.status.success(), "{}", stderr(output));
    serde_json::from_slice(&output.stdout).expect("JSON")
}

/// A user `name` with `policy` and an access key: its (id, secret).
fn user_with_policy(berth: &Berth, dir: &Path, name: &str, policy: &str) -> (String, String) {
    berth.aws_json(dir, &["iam", "create-user", "--user-name", name]);
    let output = berth.aws(
        dir,
        &[
            "iam",
            "put-user-policy",
            "--user-name",
            name,
            "--policy-name",
            "access",
            "--policy-document",
            policy,
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let key = berth.aws_json(dir, &["iam", "create-access-key", "--user-name", name]);
    (
        key["AccessKey"]["AccessKeyId"].as_str().unwrap().to_owned(),
        key["AccessKey"]["SecretAccessKey"]
            .as_str()
            .unwrap()
            .to_owned(),
    )
}

#[test]
fn users_keys_and_policies_are_managed_with_iam() {
    let berth = Berth::start(env!("CARGO_BIN_EXE_berth"));
    let dir = tempfile::tempdir().unwrap();
    let user = berth.aws_json(
        dir.path(),
        &[
            "iam",
            "create-user",
            "--user-name",
            "alice",
            "--path",
            "/team/",
        ],
    );
    assert_eq!(
        user["User"]["Arn"],
        "arn:aws:iam::000000000000:user/team/alice"
    );
    assert!(user["User"]["UserId"].as_str().unwrap().starts_with("AIDA"));
    let again = berth.aws(dir.path(), &["iam", "create-user", "--user-name", "ALICE"]);
    assert!(
        stderr(&again).contains("EntityAlreadyExists"),
        "{}",
        stderr(&again)
    );
    let users = berth.aws_json(dir.path(), &["iam", "list-users"]);
    assert_eq!(users["Users"].as_array().unwrap().len(), 1);

    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecs:List*","Resource":"*"}]}"#;
    let put = berth.aws(
        dir.path(),
        &[
            "iam",
            "put-user-policy",
            "--user-name",
            "alice",
            "--policy-name",
            "read",
            "--policy-document",
            policy,
        ],
    );
    assert!(put.status.success(), "{}", stderr(&put));
    // The aws CLI decodes the URL-encoded document back into JSON.
    let got = berth.aws_json(
        dir.path(),
        &[
            "iam",
            "get-user-policy",
            "--user-name",
            "alice",
            "--policy-name",
            "read",
        ],
    );
    assert_eq!(got["PolicyDocument"]["Statement"][0]["Action"], "ecs:List*");
    let listed = berth.aws_json(
        dir.path(),
        &["iam", "list-user-policies", "--user-name", "alice"],
    );
    assert_eq!(listed["PolicyNames"], serde_json::json!(["read"]));
    let malformed = berth.aws(
        dir.path(),
        &[
            "iam",
            "put-user-policy",
            "--user-name",
            "alice",
            "--policy-name",
            "bad",
            "--policy-document",
            r#"{"Statement":[{"Effect":"Allow","Action":"RunTask","Resource":"*"}]}"#,
        ],
    );
    assert!(
        stderr(&malformed).contains("MalformedPolicyDocument"),
        "{}",
        stderr(&malformed)
    );

    let first = berth.aws_json(
        dir.path(),
        &["iam", "create-access-key", "--user-name", "alice"],
    );
    berth.aws_json(
        dir.path(),
        &["iam", "create-access-key", "--user-name", "alice"],
    );
    let third = berth.aws(
        dir.path(),
        &["iam", "create-access-key", "--user-name", "alice"],
    );
    assert!(
        stderr(&third).contains("LimitExceeded"),
        "{}",
        stderr(&third)
    );
    let keys = berth.aws_json(
        dir.path(),
        &["iam", "list-access-keys", "--user-name", "alice"],
    );
    assert_eq!(keys["AccessKeyMetadata"].as_array().unwrap().len(), 2);

    // Keys and policies first, then the user.
    let early = berth.aws(dir.path(), &["iam", "delete-user", "--user-name", "alice"]);
    assert!(
        stderr(&early).contains("DeleteConflict"),
        "{}",
        stderr(&early)
    );
    for key in keys["AccessKeyMetadata"].as_array().unwrap() {
        let id = key["AccessKeyId"].as_str().unwrap();
        let deleted = berth.aws(
            dir.path(),
            &[
                "iam",
                "delete-access-key",
                "--user-name",
                "alice",
                "--access-key-id",
                id,
            ],
        );
        assert!(deleted.status.success(), "{}", stderr(&deleted));
    }
    // A deleted key no longer signs.
    let gone = (
        first["AccessKey"]["AccessKeyId"]
            .as_str()
            .unwrap()
            .to_owned(),
        first["AccessKey"]["SecretAccessKey"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    let refused = aws_as(&berth, dir.path(), &gone, &["ecs", "list-clusters"]);
    assert!(
        stderr(&refused).contains("UnrecognizedClientException"),
        "{}",
        stderr(&refused)
    );
    let deleted = berth.aws(
        dir.path(),
        &[
            "iam",
            "delete-user-policy",
            "--user-name",
            "alice",
            "--policy-name",
            "read",
        ],
    );
    assert!(deleted.status.success(), "{}", stderr(&deleted));
    let deleted = berth.aws(dir.path(), &["iam", "delete-user", "--user-name", "alice"]);
    assert!(deleted.status.success(), "{}", stderr(&deleted));
    let missing = berth.aws(dir.path(), &["iam", "get-user", "--user-name", "alice"]);
    assert!(
        stderr(&missing).contains("NoSuchEntity"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn every_request_is_authorized_against_the_callers_policies() {
    let berth = Berth::start(env!("CARGO_BIN_EXE_berth"));
    let dir = tempfile::tempdir().unwrap();
    berth.aws_json(
        dir.path(),
        &["ecs", "create-cluster", "--cluster-name", "secret"],
    );
    berth.aws_json(
        dir.path(),
        &["ecs", "create-cluster", "--cluster-name", "team-web"],
    );
    let reader = user_with_policy(
        &berth,
        dir.path(),
        "reader",
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":["ecs:Describe*","ecs:List*","ec2:Describe*"],"Resource":"*"},
            {"Effect":"Deny","Action":"ecs:DescribeClusters","Resource":"arn:aws:ecs:*:*:cluster/secret"}]}"#,
    );
    let listed = json(&aws_as(
        &berth,
        dir.path(),
        &reader,
        &["ecs", "list-clusters"],
    ));
    assert_eq!(listed["clusterArns"].as_array().unwrap().len(), 2);
    let web = json(&aws_as(
        &berth,
        dir.path(),
        &reader,
        &["ecs", "describe-clusters", "--clusters", "team-web"],
    ));
    assert_eq!(web["clusters"][0]["clusterName"], "team-web");
    // An explicit deny wins over the Describe* allow.
    let denied = aws_as(
        &berth,
        dir.path(),
        &reader,
        &["ecs", "describe-clusters", "--clusters", "secret"],
    );
    assert!(
        stderr(&denied).contains("AccessDeniedException"),
        "{}",
        stderr(&denied)
    );
    assert!(
        stderr(&denied).contains("explicit deny"),
        "{}",
        stderr(&denied)
    );
    // Nothing allows a write.
    let write = aws_as(
        &berth,
        dir.path(),
        &reader,
        &["ecs", "create-cluster", "--cluster-name", "mine"],
    );
    assert!(
        stderr(&write).contains("AccessDeniedException"),
        "{}",
        stderr(&write)
    );
    assert!(
        stderr(&write).contains(
            "arn:aws:iam::000000000000:user/reader is not authorized to perform: ecs:CreateCluster"
        ),
        "{}",
        stderr(&write)
    );
    // EC2 and IAM refuse in their own words.
    assert!(
        aws_as(&berth, dir.path(), &reader, &["ec2", "describe-vpcs"])
            .status
            .success()
    );
    let ec2 = aws_as(
        &berth,
        dir.path(),
        &reader,
        &[
            "ec2",
            "create-security-group",
            "--group-name",
            "g",
            "--description",
            "d",
        ],
    );
    assert!(
        stderr(&ec2).contains("UnauthorizedOperation"),
        "{}",
        stderr(&ec2)
    );
    let iam = aws_as(
        &berth,
        dir.path(),
        &reader,
        &["iam", "create-user", "--user-name", "mallory"],
    );
    assert!(stderr(&iam).contains("AccessDenied"), "{}", stderr(&iam));
    // Everyone may ask who they are.
    let me = json(&aws_as(
        &berth,
        dir.path(),
        &reader,
        &["sts", "get-caller-identity"],
    ));
    assert_eq!(me["Arn"], "arn:aws:iam::000000000000:user/reader");

    // Resource ARNs with wildcards: a team may make and delete its own clusters only.
    let team = user_with_policy(
        &berth,
        dir.path(),
        "team",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ecs:CreateCluster","ecs:DeleteCluster"],"Resource":"arn:aws:ecs:*:000000000000:cluster/team-*"}]}"#,
    );
    let own = aws_as(
        &berth,
        dir.path(),
        &team,
        &["ecs", "create-cluster", "--cluster-name", "team-api"],
    );
    assert!(own.status.success(), "{}", stderr(&own));
    let other = aws_as(
        &berth,
        dir.path(),
        &team,
        &["ecs", "delete-cluster", "--cluster", "secret"],
    );
    assert!(
        stderr(&other).contains("AccessDeniedException"),
        "{}",
        stderr(&other)
    );
    // The policy changes at once when its document does.
    let put = berth.aws(
        dir.path(),
        &[
            "iam",
            "put-user-policy",
            "--user-name",
            "team",
            "--policy-name",
            "access",
            "--policy-document",
            r#"{"Statement":[{"Effect":"Deny","Action":"ecs:*","Resource":"*"}]}"#,
        ],
    );
    assert!(put.status.success(), "{}", stderr(&put));
    let now_denied = aws_as(
        &berth,
        dir.path(),
        &team,
        &["ecs", "delete-cluster", "--cluster", "team-api"],
    );
    assert!(
        stderr(&now_denied).contains("AccessDeniedException"),
        "{}",
        stderr(&now_denied)
    );
    // berth's own routes are actions too: the reader may not list the node's images.
    let images = berth
        .cli_command()
        .args(["image", "ls"])
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_ACCESS_KEY_ID", &reader.0)
        .env("AWS_SECRET_ACCESS_KEY", &reader.1)
        .output()
        .unwrap();
    assert!(
        stderr(&images).contains("berth:ListImages"),
        "{}",
        stderr(&images)
    );
}

#[test]
fn one_account_sees_and_touches_nothing_of_anothers() {
    let berth = Berth::start(env!("CARGO_BIN_EXE_berth"));
    let dir = tempfile::tempdir().unwrap();
    // Account A: the first one, with a cluster, a task definition and a security group.
    let cluster = berth.aws_json(
        dir.path(),
        &["ecs", "create-cluster", "--cluster-name", "a-prod"],
    );
    let cluster_arn = cluster["cluster"]["clusterArn"]
        .as_str()
        .unwrap()
        .to_owned();
    let guide = berth_testsupport::fargate_guide_dir().join("task-definition.json");
    let registered = berth.aws_json(
        dir.path(),
        &[
            "ecs",
            "register-task-definition",
            "--cli-input-json",
            &format!("file://{}", guide.display()),
        ],
    );
    let definition_arn = registered["taskDefinition"]["taskDefinitionArn"]
        .as_str()
        .unwrap()
        .to_owned();
    let group = berth.aws_json(
        dir.path(),
        &[
            "ec2",
            "create-security-group",
            "--group-name",
            "a-web",
            "--description",
            "A",
        ],
    );
    let group_id = group["GroupId"].as_str().unwrap().to_owned();

    // Account B, made by A's root with `berth account create`.
    let made = berth.cli(&["account", "create", "--account-id", "222233334444"]);
    assert!(made.status.success(), "{}", stderr(&made));
    let text = String::from_utf8_lossy(&made.stdout);
    assert!(text.contains("[berth-222233334444]"), "{text}");
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} = ")))
            .unwrap()
            .to_owned()
    };
    let b = (field("aws_access_key_id"), field("aws_secret_access_key"));
    let me = json(&aws_as(
        &berth,
        dir.path(),
        &b,
        &["sts", "get-caller-identity"],
    ));
    assert_eq!(me["Account"], "222233334444");

    // B sees none of A's things, by listing or by ARN.
    let listed = json(&aws_as(&berth, dir.path(), &b, &["ecs", "list-clusters"]));
    assert_eq!(listed["clusterArns"], serde_json::json!([]));
    let described = json(&aws_as(
        &berth,
        dir.path(),
        &b,
        &["ecs", "describe-clusters", "--clusters", &cluster_arn],
    ));
    assert_eq!(described["clusters"], serde_json::json!([]));
    assert_eq!(described["failures"][0]["reason"], "MISSING");
    let definition = aws_as(
        &berth,
        dir.path(),
        &b,
        &[
            "ecs",
            "describe-task-definition",
            "--task-definition",
            &definition_arn,
        ],
    );
    assert!(!definition.status.success(), "B read A's task definition");
    let families = json(&aws_as(
        &berth,
        dir.path(),
        &b,
        &["ecs", "list-task-definitions"],
    ));
    assert_eq!(families["taskDefinitionArns"], serde_json::json!([]));
    let groups = aws_as(
        &berth,
        dir.path(),
        &b,
        &["ec2", "describe-security-groups", "--group-ids", &group_id],
    );
    assert!(
        stderr(&groups).contains("InvalidGroup.NotFound"),
        "{}",
        stderr(&groups)
    );
    let a_vpcs = berth.aws_json(dir.path(), &["ec2", "describe-vpcs"]);
    let b_vpcs = json(&aws_as(&berth, dir.path(), &b, &["ec2", "describe-vpcs"]));
    assert_ne!(a_vpcs["Vpcs"][0]["VpcId"], b_vpcs["Vpcs"][0]["VpcId"]);
    assert_eq!(b_vpcs["Vpcs"][0]["OwnerId"], "222233334444");

    // Nor touches them.
    let tagged = aws_as(
        &berth,
        dir.path(),
        &b,
        &[
            "ecs",
            "tag-resource",
            "--resource-arn",
            &cluster_arn,
            "--tags",
            "key=owner,value=b",
        ],
    );
    assert!(!tagged.status.success(), "B tagged A's cluster");
    let deleted = aws_as(
        &berth,
        dir.path(),
        &b,
        &["ecs", "delete-cluster", "--cluster", &cluster_arn],
    );
    assert!(!deleted.status.success(), "B deleted A's cluster");
    let still = berth.aws_json(
        dir.path(),
        &["ecs", "describe-clusters", "--clusters", "a-prod"],
    );
    assert_eq!(still["clusters"][0]["status"], "ACTIVE");
    let tags = still["clusters"][0]["tags"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(tags.is_empty(), "{tags:?}");
    // B's users are B's: IAM lists only its own.
    json(&aws_as(
        &berth,
        dir.path(),
        &b,
        &["iam", "create-user", "--user-name", "bob"],
    ));
    let a_users = berth.aws_json(dir.path(), &["iam", "list-users"]);
    assert_eq!(a_users["Users"], serde_json::json!([]));

    // Only the first account's root makes accounts.
    let refused = berth
        .cli_command()
        .args(["account", "create"])
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_ACCESS_KEY_ID", &b.0)
        .env("AWS_SECRET_ACCESS_KEY", &b.1)
        .output()
        .unwrap();
    assert!(
        stderr(&refused).contains("AccessDeniedException"),
        "{}",
        stderr(&refused)
    );
}

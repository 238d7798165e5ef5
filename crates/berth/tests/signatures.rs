//! Signature Version 4 against a real `berth up`, with the clients users sign with — the aws
//! CLI, boto3 (botocore's own signer) and the AWS SDK for Rust: the administrator key `berth
//! up` writes at first start, then every way a signature fails — no signature, a wrong
//! secret, an unknown key, a tampered body, a date outside the 15-minute window (a replay),
//! a scope for another service or region — each with the error code its protocol's SDKs
//! decode; session tokens from GetSessionToken; presigned URLs; and `--auth none`.

use std::process::{Command, Output};

use berth_testsupport::{Berth, python};

fn berth() -> Berth {
    Berth::start(env!("CARGO_BIN_EXE_berth"))
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs `script` with the project's Python (botocore, boto3), `ENDPOINT`, `KEY` and `SECRET`
/// in its environment; returns what it printed.
fn boto(berth: &Berth, script: &str) -> String {
    let key = berth.credentials();
    let output = Command::new(python())
        .args(["-c", script])
        .env("ENDPOINT", berth.endpoint())
        .env("KEY", &key.access_key_id)
        .env("SECRET", &key.secret_access_key)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .expect("run python");
    assert!(output.status.success(), "{}", stderr(&output));
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn the_first_start_writes_an_administrator_key_the_clients_sign_with() {
    let berth = berth();
    let file = berth.credentials_file();
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("[berth]") && text.contains("aws_access_key_id = AKIA"),
        "{text}"
    );
    // The aws CLI with nothing but that file and profile.
    let dir = tempfile::tempdir().unwrap();
    let file_env = file.to_str().unwrap();
    let output = berth.aws_with(
        dir.path(),
        &["sts", "get-caller-identity"],
        &[
            ("AWS_SHARED_CREDENTIALS_FILE", file_env),
            ("AWS_PROFILE", "berth"),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let identity: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(identity["Account"], "000000000000");
    assert_eq!(identity["Arn"], "arn:aws:iam::000000000000:root");
    // The berth CLI, by the same chain.
    let status = berth.cli(&["status"]);
    assert!(status.status.success(), "{}", stderr(&status));
    // A restart keeps the key (and writes no new one).
    let mut berth = berth;
    berth.restart();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
    assert!(berth.cli(&["status"]).status.success());
}

#[test]
fn each_signature_failure_has_the_code_its_protocol_decodes() {
    let berth = berth();
    let dir = tempfile::tempdir().unwrap();
    let key = berth.credentials();
    let with = |id: &str, secret: &str, args: &[&str]| {
        berth.aws_with(
            dir.path(),
            args,
            &[("AWS_ACCESS_KEY_ID", id), ("AWS_SECRET_ACCESS_KEY", secret)],
        )
    };
    let ecs = ["ecs", "list-clusters"];
    let ec2 = ["ec2", "describe-vpcs"];
    let iam = ["iam", "list-users"];
    for (id, secret, args, code) in [
        (
            key.access_key_id.as_str(),
            "wrong",
            &ecs[..],
            "InvalidSignatureException",
        ),
        (
            "AKIAUNKNOWNUNKNOWN00",
            key.secret_access_key.as_str(),
            &ecs[..],
            "UnrecognizedClientException",
        ),
        (
            key.access_key_id.as_str(),
            "wrong",
            &ec2[..],
            "SignatureDoesNotMatch",
        ),
        (
            "AKIAUNKNOWNUNKNOWN00",
            key.secret_access_key.as_str(),
            &ec2[..],
            "AuthFailure",
        ),
        (
            key.access_key_id.as_str(),
            "wrong",
            &iam[..],
            "SignatureDoesNotMatch",
        ),
        (
            "AKIAUNKNOWNUNKNOWN00",
            key.secret_access_key.as_str(),
            &iam[..],
            "InvalidClientTokenId",
        ),
    ] {
        let output = with(id, secret, args);
        assert!(!output.status.success(), "{args:?} with {id}");
        assert!(
            stderr(&output).contains(code),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    // Unsigned: JSON's and Query's own words.
    let (status, body) = berth.raw_unsigned_to(
        "POST",
        "/",
        &[
            (
                "X-Amz-Target",
                "AmazonEC2ContainerServiceV20141113.ListClusters",
            ),
            ("Content-Type", "application/x-amz-json-1.1"),
        ],
        b"{}",
    );
    assert_eq!(status, 403);
    assert!(
        body.contains("MissingAuthenticationTokenException"),
        "{body}"
    );
    let (status, body) = berth.raw_unsigned_to("GET", "/berth/v1/images", &[], b"");
    assert_eq!(status, 403);
    assert!(
        body.contains("MissingAuthenticationTokenException"),
        "{body}"
    );
    // A signature for another service is refused.
    let signed = berth.sign(
        "POST",
        "/",
        &[
            (
                "X-Amz-Target",
                "AmazonEC2ContainerServiceV20141113.ListClusters",
            ),
            ("Content-Type", "application/x-amz-json-1.1"),
        ],
        b"{}",
        "ec2",
    );
    let signed: Vec<(&str, &str)> = signed
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let (status, body) = berth.raw_unsigned_to("POST", "/", &signed, b"{}");
    assert_eq!(status, 403);
    assert!(
        body.contains("Credential should be scoped to correct service: 'ecs'"),
        "{body}"
    );
    // The Rust SDK decodes the same codes.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let wrong = berth.ecs_as("us-east-1", &key.access_key_id, "wrong", None);
    let error = runtime.block_on(wrong.list_clusters().send()).unwrap_err();
    let code = aws_sdk_ecs::error::ProvideErrorMetadata::code(&error).map(str::to_owned);
    assert_eq!(code.as_deref(), Some("InvalidSignatureException"));
    let unknown = berth.ecs_as("us-east-1", "AKIAUNKNOWNUNKNOWN00", "x", None);
    let error = runtime
        .block_on(unknown.list_clusters().send())
        .unwrap_err();
    let code = aws_sdk_ecs::error::ProvideErrorMetadata::code(&error).map(str::to_owned);
    assert_eq!(code.as_deref(), Some("UnrecognizedClientException"));
    let right = berth.ecs_in("eu-west-3");
    assert!(runtime.block_on(right.list_clusters().send()).is_ok());
}

/// botocore's own signer, driven by hand: what a request signed at another time, or changed
/// after signing, gets.
const SIGN_AND_SEND: &str = r#"
import datetime, json, os, urllib.request, urllib.error
from unittest import mock
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

def send(body, minutes_ago=0, tamper=None):
    request = AWSRequest(method="POST", url=os.environ["ENDPOINT"] + "/", data=body, headers={
        "X-Amz-Target": "AmazonEC2ContainerServiceV20141113.CreateCluster",
        "Content-Type": "application/x-amz-json-1.1"})
    at = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=minutes_ago)
    with mock.patch("botocore.auth.get_current_datetime", return_value=at):
        SigV4Auth(Credentials(os.environ["KEY"], os.environ["SECRET"]), "ecs", "us-east-1").add_auth(request)
    prepared = request.prepare()
    data = tamper if tamper is not None else prepared.body
    req = urllib.request.Request(prepared.url, data=data, method="POST", headers=dict(prepared.headers))
    try:
        with urllib.request.urlopen(req) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())

results = {
    "fresh": send(b'{"clusterName":"fresh"}'),
    "replayed": send(b'{"clusterName":"replayed"}', minutes_ago=16),
    "skewed_but_inside": send(b'{"clusterName":"inside"}', minutes_ago=14),
    "from_the_future": send(b'{"clusterName":"future"}', minutes_ago=-16),
    "tampered": send(b'{"clusterName":"honest"}', tamper=b'{"clusterName":"evilxx"}'),
}
print(json.dumps({k: [v[0], v[1].get("__type")] for k, v in results.items()}))
"#;

#[test]
fn botocore_signatures_outside_the_window_or_over_another_body_are_refused() {
    let berth = berth();
    let results: serde_json::Value = serde_json::from_str(&boto(&berth, SIGN_AND_SEND)).unwrap();
    assert_eq!(results["fresh"], serde_json::json!([200, null]));
    assert_eq!(results["skewed_but_inside"], serde_json::json!([200, null]));
    assert_eq!(
        results["replayed"],
        serde_json::json!([403, "InvalidSignatureException"])
    );
    assert_eq!(
        results["from_the_future"],
        serde_json::json!([403, "InvalidSignatureException"])
    );
    assert_eq!(
        results["tampered"],
        serde_json::json!([403, "InvalidSignatureException"])
    );
    // Only the good ones acted.
    let dir = tempfile::tempdir().unwrap();
    let clusters = berth.aws_json(dir.path(), &["ecs", "list-clusters"]);
    let mut names: Vec<String> = clusters["clusterArns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().rsplit('/').next().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["fresh", "inside"]);
}

#[test]
fn session_tokens_and_presigned_urls_verify() {
    let berth = berth();
    let dir = tempfile::tempdir().unwrap();
    let session = berth.aws_json(
        dir.path(),
        &["sts", "get-session-token", "--duration-seconds", "900"],
    );
    let credentials = &session["Credentials"];
    let id = credentials["AccessKeyId"].as_str().unwrap();
    assert!(id.starts_with("ASIA"), "{id}");
    let secret = credentials["SecretAccessKey"].as_str().unwrap();
    let token = credentials["SessionToken"].as_str().unwrap();
    let as_session = |token: &str, args: &[&str]| {
        berth.aws_with(
            dir.path(),
            args,
            &[
                ("AWS_ACCESS_KEY_ID", id),
                ("AWS_SECRET_ACCESS_KEY", secret),
                ("AWS_SESSION_TOKEN", token),
            ],
        )
    };
    let output = as_session(
        token,
        &["ecs", "create-cluster", "--cluster-name", "by-session"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let output = as_session(token, &["sts", "get-caller-identity"]);
    let identity: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(identity["Arn"], "arn:aws:iam::000000000000:root");
    let output = as_session("not-the-token", &["ecs", "list-clusters"]);
    assert!(
        stderr(&output).contains("UnrecognizedClientException"),
        "{}",
        stderr(&output)
    );
    // A session cannot make another.
    let output = as_session(token, &["sts", "get-session-token"]);
    assert!(
        stderr(&output).contains("AccessDenied"),
        "{}",
        stderr(&output)
    );

    // A presigned URL (boto3's generate_presigned_url), fetched with a plain GET.
    let presigned = boto(
        &berth,
        r#"
import os, urllib.request, urllib.error, boto3
sts = boto3.client("sts", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1",
                   aws_access_key_id=os.environ["KEY"], aws_secret_access_key=os.environ["SECRET"])
url = sts.generate_presigned_url("get_caller_identity", ExpiresIn=60, HttpMethod="GET")
try:
    with urllib.request.urlopen(url) as response:
        print(response.read().decode())
except urllib.error.HTTPError as error:
    print(url, error.read().decode())
"#,
    );
    assert!(
        presigned.contains("<Account>000000000000</Account>"),
        "{presigned}"
    );
}

#[test]
fn auth_none_accepts_any_caller() {
    let berth = Berth::start_with(env!("CARGO_BIN_EXE_berth"), &["--auth", "none"]);
    let (status, body) = berth.raw_unsigned_to(
        "POST",
        "/",
        &[
            (
                "X-Amz-Target",
                "AmazonEC2ContainerServiceV20141113.ListClusters",
            ),
            ("Content-Type", "application/x-amz-json-1.1"),
        ],
        b"{}",
    );
    assert_eq!(status, 200, "{body}");
    let dir = tempfile::tempdir().unwrap();
    let output = berth.aws_with(
        dir.path(),
        &["ecs", "list-clusters"],
        &[
            ("AWS_ACCESS_KEY_ID", "anything"),
            ("AWS_SECRET_ACCESS_KEY", "at-all"),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
}

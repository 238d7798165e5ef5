//! Hostile HTTP against a real `berth up` over raw TCP: web pages turned against the API (DNS
//! rebinding, foreign origins, cross-site form and text posts) are refused in each protocol's
//! error shape and run nothing; clients that send too slowly or hold connections open
//! (unfinished heads, dripped bodies, idle keep-alives, more connections than the limit) are
//! cut off within the timeouts and cannot keep the server from answering. Timeouts are set
//! to a second or two so that every wait here is short and bounded.

use std::time::Duration;

use berth_testsupport::Berth;
use berth_testsupport::oci::{Image, Layer, Layout};

const ECS_JSON: (&str, &str) = ("Content-Type", "application/x-amz-json-1.1");
const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");

fn target(operation: &str) -> (&'static str, String) {
    (
        "X-Amz-Target",
        format!("AmazonEC2ContainerServiceV20141113.{operation}"),
    )
}

/// An ECS JSON call with this Host and more headers, signed as a client reaching the server
/// by that name would sign it: (status, head, body).
fn ecs_as(
    berth: &Berth,
    host: Option<&str>,
    operation: &str,
    body: &str,
    more: &[(&str, &str)],
) -> (u16, String, String) {
    let (name, value) = target(operation);
    let mut headers = vec![(name, value.as_str()), ECS_JSON];
    headers.extend_from_slice(more);
    berth.raw_signed_as(host, "POST", "/", &headers, body.as_bytes(), "ecs")
}

/// A whole signed ECS JSON request as raw bytes would send it, `extra` lines (each ending in
/// CRLF) added to its head.
fn signed_ecs_request(berth: &Berth, operation: &str, body: &str, extra: &str) -> String {
    let (name, value) = target(operation);
    let headers = [(name, value.as_str()), ECS_JSON];
    let mut head = format!("POST / HTTP/1.1\r\nHost: {}\r\n", berth.authority());
    for (name, value) in berth.sign("POST", "/", &headers, body.as_bytes(), "ecs") {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    format!("{head}Content-Length: {}\r\n{extra}\r\n{body}", body.len())
}

fn clusters(berth: &Berth) -> serde_json::Value {
    let (status, listed) = berth.raw_ecs("ListClusters", b"{}");
    assert_eq!(status, 200, "{listed}");
    listed["clusterArns"].clone()
}

#[test]
fn a_rebound_name_is_refused_and_the_servers_own_names_are_served() {
    let berth = Berth::start_with(env!("CARGO_BIN_EXE_berth"), &["--api-host", "berth.test"]);
    let port = berth.authority().rsplit(':').next().unwrap().to_owned();

    // DNS rebinding: the page's own name, pointed at berth.
    let evil = format!("evil.example:{port}");
    let (status, head, body) = ecs_as(&berth, Some(&evil), "CreateCluster", "{}", &[]);
    assert_eq!(status, 403, "{body}");
    assert!(head.contains("x-amzn-requestid"), "{head}");
    let error: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["__type"], "AccessDeniedException");
    assert_eq!(
        error["message"],
        "Host 'evil.example' is not one of this server's names; start berth up with \
         --api-host evil.example to allow it."
    );
    // The same in the Query protocol's shape, and in berth's own API's.
    let (status, _, body) = berth.raw_signed_as(
        Some(&evil),
        "POST",
        "/",
        &[FORM],
        b"Action=CreateSecurityGroup&Version=2016-11-15&GroupName=rebound&GroupDescription=x",
        "ec2",
    );
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("<Response><Errors><Error><Code>UnauthorizedOperation</Code>"),
        "{body}"
    );
    let (status, _, body) = berth.raw_request_as(Some(&evil), "GET", "/berth/v1/info", &[], b"");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("AccessDeniedException"), "{body}");
    // No Host at all.
    let (status, _, body) = ecs_as(&berth, None, "CreateCluster", "{}", &[]);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("no Host header"), "{body}");
    assert_eq!(clusters(&berth), serde_json::json!([]));

    // Its own names: loopback ones, the one it was given, any address.
    for host in [
        format!("localhost:{port}"),
        format!("berth.test:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
    ] {
        let (status, _, body) = ecs_as(&berth, Some(&host), "ListClusters", "{}", &[]);
        assert_eq!(status, 200, "{host}: {body}");
    }
}

#[test]
fn requests_another_sites_page_sends_are_refused() {
    let berth = berth_quick(&[]);
    let own = berth.authority().to_owned();
    let cases = [
        ("Origin", "http://evil.example"),
        ("Origin", "null"),
        // The Host rule takes any address, but a page served from one is another site.
        ("Origin", "http://192.0.2.7"),
        ("Sec-Fetch-Site", "cross-site"),
    ];
    for (name, value) in cases {
        let (status, _, body) = ecs_as(
            &berth,
            Some(&own),
            "CreateCluster",
            r#"{"clusterName":"csrf"}"#,
            &[(name, value)],
        );
        assert_eq!(status, 403, "{name}: {value}: {body}");
        assert!(body.contains("AccessDeniedException"), "{body}");
    }
    // A CORS preflight is refused, and nothing in the answer grants anything.
    let (status, head, _) = berth.raw_request_as(
        Some(&own),
        "OPTIONS",
        "/",
        &[
            ("Origin", "http://evil.example"),
            ("Access-Control-Request-Method", "POST"),
            (
                "Access-Control-Request-Headers",
                "x-amz-target,content-type",
            ),
        ],
        b"",
    );
    assert_eq!(status, 403, "{head}");
    assert!(
        !head.to_ascii_lowercase().contains("access-control-"),
        "{head}"
    );
    assert_eq!(clusters(&berth), serde_json::json!([]));
    // The server's own origin, as a page it served would send it.
    let origin = format!("http://{own}");
    let (status, _, body) = ecs_as(
        &berth,
        Some(&own),
        "ListClusters",
        "{}",
        &[("Origin", &origin), ("Sec-Fetch-Site", "same-origin")],
    );
    assert_eq!(status, 200, "{body}");
}

#[test]
fn a_browsers_form_or_text_post_runs_nothing() {
    let berth = berth_quick(&[]);
    let own = berth.authority().to_owned();
    let create = b"Action=CreateSecurityGroup&Version=2016-11-15&GroupName=csrf&GroupDescription=x";
    // A plain HTML form posting an EC2 action: no signature.
    let (status, _, body) = berth.raw_request_as(Some(&own), "POST", "/", &[FORM], create);
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("<Code>UnauthorizedOperation</Code>"),
        "{body}"
    );
    assert!(body.contains("must be signed"), "{body}");
    // The same signed (the aws CLI's way) runs; and it is the only group made.
    let describe = b"Action=DescribeSecurityGroups&Version=2016-11-15";
    let (status, _, body) = berth.raw_signed_as(Some(&own), "POST", "/", &[FORM], describe, "ec2");
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains("<groupName>csrf</groupName>"), "{body}");

    // text/plain, what a page's fetch may send anywhere: to berth's own API...
    for path in ["/berth/v1/images/pull", "/berth/v1/images/import"] {
        let (status, _, body) = berth.raw_request_as(
            Some(&own),
            "POST",
            path,
            &[("Content-Type", "text/plain"), ("x-berth-tag", "csrf:1")],
            br#"{"reference":"127.0.0.1:9/csrf"}"#,
        );
        assert_eq!(status, 403, "{path}: {body}");
        let error: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(error["__type"], "AccessDeniedException", "{path}");
        assert!(
            error["message"].as_str().unwrap().contains("text/plain"),
            "{error}"
        );
    }
    // ... and as AWS JSON, which takes its own content types only.
    let (name, value) = target("CreateCluster");
    let (status, _, body) = berth.raw_request_as(
        Some(&own),
        "POST",
        "/",
        &[(name, &value), ("Content-Type", "text/plain;charset=UTF-8")],
        br#"{"clusterName":"csrf"}"#,
    );
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("AccessDeniedException"), "{body}");
    assert_eq!(clusters(&berth), serde_json::json!([]));
    let (status, _, body) =
        berth.raw_signed_as(Some(&own), "GET", "/berth/v1/images", &[], b"", "berth");
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains("csrf"), "{body}");
}

/// A server with timeouts short enough to wait out in a test.
fn berth_quick(more: &[&str]) -> Berth {
    let mut args = vec!["--header-timeout", "1", "--body-timeout", "1"];
    args.extend_from_slice(more);
    Berth::start_with(env!("CARGO_BIN_EXE_berth"), &args)
}

#[test]
fn a_request_head_that_never_ends_is_closed_in_the_header_timeout() {
    let berth = berth_quick(&[]);
    let mut connection = berth.connect();
    connection.send(b"POST / HTTP/1.1\r\n").unwrap();
    let (closed, _) = connection.read_to_close(Duration::from_secs(5));
    let closed = closed.expect("the server keeps an unfinished head open past 5 s");
    assert!(closed < Duration::from_secs(2), "closed after {closed:?}");
    // A head dripped a header at a time is cut the same way.
    let mut connection = berth.connect();
    let start = std::time::Instant::now();
    connection.send(b"POST / HTTP/1.1\r\n").unwrap();
    let mut cut = false;
    for n in 0..20 {
        std::thread::sleep(Duration::from_millis(200));
        if connection
            .send(format!("X-Drip-{n}: 1\r\n").as_bytes())
            .is_err()
        {
            cut = true;
            break;
        }
    }
    let (closed, _) = connection.read_to_close(Duration::from_secs(1));
    assert!(
        cut || closed.is_some(),
        "still open after {:?}",
        start.elapsed()
    );
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn an_idle_keep_alive_connection_is_closed() {
    let berth = berth_quick(&[]);
    let mut connection = berth.connect();
    let request = signed_ecs_request(&berth, "ListClusters", "{}", "");
    // Two requests on one connection: it is kept alive between them...
    for _ in 0..2 {
        connection.send(request.as_bytes()).unwrap();
        let (status, body) = connection
            .read_response(Duration::from_secs(5))
            .expect("an answer");
        assert_eq!(status, 200, "{body}");
        std::thread::sleep(Duration::from_millis(300));
    }
    // ... and closed once idle for the timeout.
    let (closed, _) = connection.read_to_close(Duration::from_secs(5));
    let closed = closed.expect("an idle connection is kept past 5 s");
    assert!(closed < Duration::from_secs(2), "closed after {closed:?}");
}

#[test]
fn a_slow_drip_body_is_cut() {
    let berth = berth_quick(&[]);
    let mut connection = berth.connect();
    let (name, value) = target("CreateCluster");
    let body = br#"{"clusterName":"dripped-slowly-one-byte-at-a-time"}"#;
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {}\r\n{name}: {value}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n",
        berth.authority(),
        ECS_JSON.1,
        body.len()
    );
    connection.send(head.as_bytes()).unwrap();
    let start = std::time::Instant::now();
    // A byte every 100 ms: never silent for the timeout, far too slow to finish within it.
    for byte in body {
        std::thread::sleep(Duration::from_millis(100));
        if connection.send(&[*byte]).is_err() {
            break;
        }
        if start.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    let (closed, answer) = connection.read_to_close(Duration::from_secs(3));
    assert!(closed.is_some(), "still open after {:?}", start.elapsed());
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        answer.contains("did not send all of it within 1 s"),
        "{answer}"
    );
    assert_eq!(clusters(&berth), serde_json::json!([]));

    // A body that stops altogether is cut too.
    let mut connection = berth.connect();
    connection.send(head.as_bytes()).unwrap();
    connection.send(&body[..5]).unwrap();
    let (closed, answer) = connection.read_to_close(Duration::from_secs(3));
    assert!(
        closed.is_some_and(|c| c < Duration::from_secs(2)),
        "{closed:?}"
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("within 1 s"), "{answer}");
}

#[test]
fn an_image_import_streams_past_the_body_timeout_but_may_not_stall() {
    let berth = berth_quick(&[]);
    let work = tempfile::tempdir().unwrap();
    let mut layout = Layout::new(&work.path().join("layout"));
    let image = Image::new(vec![Layer::new().file("hello.txt", "hello")]);
    layout.tag_image("v1", &image);
    let archive = work.path().join("image.tar");
    layout.write_oci_archive(&archive);
    let archive = std::fs::read(&archive).unwrap();

    let import = |tag: &str, stall_after: Option<usize>| {
        let mut connection = berth.connect();
        let headers = [
            ("content-type", "application/x-tar"),
            ("x-berth-tag", tag),
            ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
        ];
        let mut head = format!(
            "POST /berth/v1/images/import HTTP/1.1\r\nHost: {}\r\n",
            berth.authority()
        );
        for (name, value) in berth.sign("POST", "/berth/v1/images/import", &headers, b"", "berth") {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", archive.len()));
        connection.send(head.as_bytes()).unwrap();
        // Ten pieces 300 ms apart: three times the body timeout in all.
        let piece = archive.len().div_ceil(10);
        for (n, chunk) in archive.chunks(piece).enumerate() {
            if stall_after == Some(n) {
                break;
            }
            std::thread::sleep(Duration::from_millis(300));
            connection.send(chunk).unwrap();
        }
        connection.read_response(Duration::from_secs(10))
    };
    let (status, body) = import("local/dripped:v1", None).expect("an answer");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("localhost/local/dripped:v1"), "{body}");
    // Half an archive, then silence: the import is cut within the timeout and stores nothing.
    let start = std::time::Instant::now();
    let answer = import("local/stalled:v1", Some(5));
    assert!(
        start.elapsed() < Duration::from_secs(6),
        "{:?}",
        start.elapsed()
    );
    if let Some((status, body)) = answer {
        assert_ne!(status, 200, "{body}");
    }
    let (_, listed) = berth.raw_request_to("GET", "/berth/v1/images", &[], b"");
    assert!(
        listed.contains("dripped") && !listed.contains("stalled"),
        "{listed}"
    );
}

#[test]
fn connections_past_the_limit_wait_and_are_served_once_others_go() {
    const LIMIT: usize = 3;
    let berth = Berth::start_with(
        env!("CARGO_BIN_EXE_berth"),
        &["--max-connections", "3", "--header-timeout", "5"],
    );
    // The limit's worth of connections, each holding an unfinished head.
    let mut holders: Vec<_> = (0..LIMIT).map(|_| berth.connect()).collect();
    for holder in &mut holders {
        holder.send(b"POST / HTTP/1.1\r\n").unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    // Two more, whole requests: they wait to be accepted.
    let request = signed_ecs_request(&berth, "ListClusters", "{}", "Connection: close\r\n");
    let mut waiting: Vec<_> = (0..2).map(|_| berth.connect()).collect();
    for connection in &mut waiting {
        connection.send(request.as_bytes()).unwrap();
    }
    assert_eq!(
        waiting[0].read_response(Duration::from_secs(1)),
        None,
        "a connection past the limit was served"
    );
    // Once the holders go, every waiting one is answered.
    drop(holders);
    for connection in &mut waiting {
        let (status, body) = connection
            .read_response(Duration::from_secs(3))
            .expect("an answer once the others are gone");
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = berth.raw_ecs("ListClusters", b"{}");
    assert_eq!(status, 200, "{body}");
}

#[test]
fn sigterm_stops_the_server_whatever_connections_are_open() {
    let mut berth = Berth::start_with(env!("CARGO_BIN_EXE_berth"), &["--header-timeout", "30"]);
    let (name, value) = target("ListClusters");
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {}\r\n{name}: {value}\r\nContent-Type: {}\r\nContent-Length: 2\r\n\r\n{{}}",
        berth.authority(),
        ECS_JSON.1
    );
    // One kept alive after an answer, one that never sent anything, one halfway through a
    // head (which hyper's graceful close waits for: berth gives it 5 s).
    let mut kept = berth.connect();
    kept.send(request.as_bytes()).unwrap();
    assert!(kept.read_response(Duration::from_secs(5)).is_some());
    let _silent = berth.connect();
    let mut halfway = berth.connect();
    halfway
        .send(b"POST / HTTP/1.1\r\nHost: localhost\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let start = std::time::Instant::now();
    assert_eq!(berth.terminate(), Some(0));
    // Not the 30 s those connections could otherwise take.
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    let (closed, _) = kept.read_to_close(Duration::from_secs(1));
    assert!(closed.is_some());
}

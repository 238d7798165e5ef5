//! The router without a socket (`tower::ServiceExt::oneshot`): headers, status codes and the
//! request/response shapes of each protocol, services berth knows but does not serve yet, the
//! authentication layer in front of every route, and how bodies that cannot be read are told.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use berth_api::{AcceptAnyCredentials, ApiState, router};
use berth_control::Ecs;
use berth_store::EmbeddedStore;
use http_body_util::BodyExt;
use tower::ServiceExt;

struct Api {
    _dir: tempfile::TempDir,
    router: axum::Router,
}

/// No images: these tests are about the ECS protocol.
struct NoImages;

impl berth_api::ImageService for NoImages {
    fn list(&self) -> Vec<berth_model::images::ImageSummary> {
        Vec::new()
    }
    fn pull(
        &self,
        _: String,
        _: tokio::sync::mpsc::UnboundedSender<berth_model::images::PullEvent>,
    ) -> berth_api::images::BoxFuture<()> {
        Box::pin(async {})
    }
    fn import(
        &self,
        _: String,
        _: tokio::sync::mpsc::Receiver<Result<axum::body::Bytes, String>>,
    ) -> berth_api::images::BoxFuture<
        Result<berth_model::images::ImageSummary, berth_api::ImageServiceError>,
    > {
        Box::pin(async {
            Err(berth_api::ImageServiceError::Invalid(
                "no images here".into(),
            ))
        })
    }
    fn remove(
        &self,
        reference: &str,
    ) -> Result<berth_model::images::ImageSummary, berth_api::ImageServiceError> {
        Err(berth_api::ImageServiceError::NotFound(format!(
            "no such image: {reference}"
        )))
    }
    fn prune(&self) -> Result<berth_model::images::PruneSummary, berth_api::ImageServiceError> {
        Ok(Default::default())
    }
}

/// No logs either.
struct NoLogs;

impl berth_api::LogService for NoLogs {
    fn open(
        &self,
        _: String,
        _: String,
        _: bool,
        _: bool,
    ) -> berth_api::images::BoxFuture<Option<tokio::sync::mpsc::Receiver<axum::body::Bytes>>> {
        Box::pin(async { None })
    }
}

fn api() -> Api {
    api_with(Arc::new(AcceptAnyCredentials::new("123456789012")))
}

fn api_with(auth: Arc<dyn berth_api::Authenticator>) -> Api {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(&dir.path().join("state.redb")).unwrap());
    let sealer = berth_control::sealing::Sealer::new(&[7; 32]);
    let state = ApiState {
        ecs: Arc::new(Ecs::new(store.clone())),
        iam: Arc::new(berth_control::iam::Iam::new(store, Arc::new(sealer))),
        auth,
        images: Arc::new(NoImages),
        logs: Arc::new(NoLogs),
        info: Arc::new(berth_api::info::ServerInfo {
            version: "9.9.9".into(),
            ..Default::default()
        }),
        names: Arc::new(berth_api::ServerNames::loopback()),
    };
    Api {
        _dir: dir,
        // Requests come as a client on this machine sends them, to localhost: the browser
        // guard in front of every route refuses HTTP/1.1 without a Host.
        router: router(state).layer(axum::middleware::map_request(to_localhost)),
    }
}

async fn to_localhost(mut request: Request<Body>) -> Request<Body> {
    if !request.headers().contains_key("host") {
        request
            .headers_mut()
            .insert("host", axum::http::HeaderValue::from_static("localhost"));
    }
    request
}

/// An `Authorization` as the aws CLI sends with its Query calls: the browser guard takes form
/// bodies only signed.
const SIGNED: &str = "AWS4-HMAC-SHA256 Credential=AKID/20261123/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0";

async fn call(
    api: &Api,
    operation: &str,
    region: &str,
    body: &str,
) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
    let request = Request::post("/")
        .header("x-amz-target", format!("AmazonEC2ContainerServiceV20141113.{operation}"))
        .header("content-type", "application/x-amz-json-1.1")
        .header(
            "authorization",
            format!("AWS4-HMAC-SHA256 Credential=AKID/20261123/{region}/ecs/aws4_request, SignedHeaders=host, Signature=0"),
        )
        .body(Body::from(body.to_owned()))
        .unwrap();
    let response = api.router.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        serde_json::from_slice(&bytes).unwrap(),
    )
}

#[tokio::test]
async fn success_carries_the_protocol_headers_and_scope() {
    let api = api();
    let (status, headers, body) = call(
        &api,
        "CreateCluster",
        "ap-south-1",
        r#"{"clusterName":"x"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/x-amz-json-1.1");
    assert!(headers.contains_key("x-amzn-requestid"));
    assert_eq!(
        body["cluster"]["clusterArn"],
        "arn:aws:ecs:ap-south-1:123456789012:cluster/x"
    );
    // Optional members are omitted, never null.
    assert!(body["cluster"].get("configuration").is_none());
    assert!(!body.to_string().contains("null"));
}

#[tokio::test]
async fn errors_carry_type_in_body_and_header() {
    let api = api();
    let (status, headers, body) =
        call(&api, "DeleteCluster", "us-east-1", r#"{"cluster":"ghost"}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(headers["x-amzn-errortype"], "ClusterNotFoundException");
    assert_eq!(body["__type"], "ClusterNotFoundException");
    assert_eq!(body["message"], "Cluster not found.");
}

#[tokio::test]
async fn image_api_errors_are_aws_shaped() {
    let api = api();
    let request = Request::post("/berth/v1/images/remove")
        .body(Body::from(r#"{"reference":"nginx"}"#))
        .unwrap();
    let response = api.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["__type"], "ImageNotFoundException");
}

/// Sends `request`; the status, headers and body bytes.
async fn send(api: &Api, request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let response = api.router.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes().to_vec();
    (parts.status, parts.headers, bytes)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn a_service_not_served_yet_answers_in_its_own_protocol() {
    let api = api();
    // CloudWatch Logs, AWS JSON 1.1.
    let (status, headers, body) = send(
        &api,
        Request::post("/")
            .header("x-amz-target", "Logs_20140328.CreateLogGroup")
            .header("content-type", "application/x-amz-json-1.1")
            .body(Body::from("{}"))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(headers["x-amzn-errortype"], "UnknownOperationException");
    assert!(
        text(&body).contains("Logs_20140328.CreateLogGroup"),
        "{}",
        text(&body)
    );
    // ELBv2, the Query protocol: an ErrorResponse document, not EC2's.
    let (status, headers, body) = send(
        &api,
        Request::post("/")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", SIGNED)
            .body(Body::from(
                "Action=DescribeLoadBalancers&Version=2015-12-01",
            ))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/xml")
    );
    let body = text(&body);
    assert!(
        body.contains("<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code>"),
        "{body}"
    );
    // CloudWatch over rpc-v2-cbor: a CBOR map {"__type": ..., "message": ...}.
    let (status, headers, body) = send(
        &api,
        Request::post("/service/GraniteServiceVersion20100801/operation/PutMetricData")
            .header("smithy-protocol", "rpc-v2-cbor")
            .header("content-type", "application/cbor")
            .body(Body::from(vec![0xa0]))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(headers["smithy-protocol"], "rpc-v2-cbor");
    let error = berth_api::protocol::cbor::decode(&body).unwrap();
    assert_eq!(error["__type"], "UnknownOperationException");
    // EC2 is served over Query, with its own documents.
    let (status, _, body) = send(
        &api,
        Request::post("/")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", SIGNED)
            .body(Body::from("Action=DescribeVpcs&Version=2016-11-15"))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", text(&body));
    assert!(
        text(&body)
            .contains("<DescribeVpcsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">")
    );
}

/// Records what the authentication layer is given.
struct Recording(std::sync::Mutex<Vec<String>>);

impl berth_api::Authenticator for Recording {
    fn authenticate<'a>(
        &'a self,
        request: &'a berth_api::AuthRequest<'a>,
    ) -> berth_api::auth::AuthFuture<'a> {
        let payload = match &request.payload {
            berth_api::Payload::Sha256(hash) => hash.iter().map(|b| format!("{b:02x}")).collect(),
            berth_api::Payload::Streamed => "streamed".to_owned(),
        };
        self.0.lock().unwrap().push(format!(
            "{} {} {} {}",
            request.method,
            request.path,
            request.query.unwrap_or("-"),
            payload
        ));
        if request.headers.contains_key("x-refuse") {
            return Box::pin(async {
                Err(berth_api::ApiError::new(
                    berth_api::ErrorCode::InvalidSignatureException,
                    "refused",
                ))
            });
        }
        Box::pin(async move {
            AcceptAnyCredentials::new("123456789012")
                .authenticate(request)
                .await
        })
    }
}

#[tokio::test]
async fn every_route_is_authenticated_with_the_whole_request() {
    let recording = Arc::new(Recording(Default::default()));
    let api = api_with(recording.clone());
    let routes = [
        ("/?x=1", "{}"),
        ("/berth/v1/images/remove", r#"{"reference":"nginx"}"#),
        ("/berth/v1/tasks/wait", "{}"),
    ];
    for (path, body) in routes {
        send(&api, Request::post(path).body(Body::from(body)).unwrap()).await;
    }
    send(
        &api,
        Request::get("/berth/v1/images")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    send(
        &api,
        Request::post("/berth/v1/images/import")
            .body(Body::from("not an archive"))
            .unwrap(),
    )
    .await;
    let seen = recording.0.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            // sha256("{}")
            "POST / x=1 44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
            "POST /berth/v1/images/remove - 5dd0c286b07e7ef8558d58671a0b7c956f8c61a570e5e5ccacf59785235e2dbc",
            "POST /berth/v1/tasks/wait - 44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
            // sha256("")
            "GET /berth/v1/images - e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "POST /berth/v1/images/import - streamed",
        ]
    );
    // A refusal is answered in the request's own protocol.
    let (status, headers, _) = send(
        &api,
        Request::post("/berth/v1/images/prune")
            .header("x-refuse", "1")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(headers["x-amzn-errortype"], "InvalidSignatureException");
    let (status, _, body) = send(
        &api,
        Request::post("/")
            .header("x-refuse", "1")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", SIGNED)
            .body(Body::from("Action=DescribeVpcs&Version=2016-11-15"))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        text(&body).contains("<Code>SignatureDoesNotMatch</Code>"),
        "{}",
        text(&body)
    );
}

#[tokio::test]
async fn bodies_too_large_or_broken_are_told_apart_on_every_route() {
    let api = api();
    let large = "x".repeat(berth_api::MAX_BODY_BYTES + 1);
    // berth's own routes: berth's limit and berth's error shape, not the framework's.
    let (status, headers, body) = send(
        &api,
        Request::post("/berth/v1/images/remove")
            .body(Body::from(large.clone()))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        headers["x-amzn-errortype"],
        "RequestEntityTooLargeException"
    );
    assert!(text(&body).contains("larger than 1048576 bytes"));
    // EC2: not RequestLimitExceeded, which botocore retries as throttling.
    let (status, _, body) = send(
        &api,
        Request::post("/")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", SIGNED)
            .body(Body::from(large))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        text(&body).contains("<Code>RequestEntityTooLarge</Code>"),
        "{}",
        text(&body)
    );
    // A body that breaks off is a 400 of its own.
    let (status, _, body) = send(
        &api,
        Request::post("/")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", SIGNED)
            .body(Body::new(Broken(false)))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        text(&body).contains("<Code>IncompleteBody</Code>"),
        "{}",
        text(&body)
    );
    let (status, headers, _) = send(
        &api,
        Request::post("/")
            .header(
                "x-amz-target",
                "AmazonEC2ContainerServiceV20141113.ListClusters",
            )
            .body(Body::new(Broken(false)))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(headers["x-amzn-errortype"], "SerializationException");
}

#[tokio::test]
async fn a_wrong_method_on_berths_routes_is_answered_in_berths_shape() {
    let api = api();
    let (status, headers, body) = send(
        &api,
        Request::get("/berth/v1/images/pull")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers["x-amzn-errortype"], "MethodNotAllowedException");
    assert!(text(&body).contains("/berth/v1/images/pull"));
    // An unknown berth route, and GET / too.
    for request in [
        Request::post("/berth/v1/nothing")
            .body(Body::empty())
            .unwrap(),
        Request::get("/").body(Body::empty()).unwrap(),
    ] {
        let (status, headers, _) = send(&api, request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(headers["x-amzn-errortype"], "UnknownOperationException");
    }
}

/// One chunk, then the connection breaks.
struct Broken(bool);

impl http_body::Body for Broken {
    type Data = axum::body::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        if self.0 {
            return std::task::Poll::Ready(Some(Err(std::io::Error::other("connection reset"))));
        }
        self.0 = true;
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(
            axum::body::Bytes::from_static(b"Action="),
        ))))
    }
}

#[tokio::test]
async fn the_server_says_what_it_is() {
    let api = api();
    let (status, headers, body) = send(
        &api,
        Request::get("/berth/v1/info").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/json");
    let info: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(info["version"], "9.9.9");
    assert!(info.get("dataDirectory").is_some(), "{info}");
}

/// Every service the registry lists but does not serve yet answers an operation in every
/// protocol its botocore model lists (boto3 and the v1 aws CLI may pick different ones), each
/// in that protocol's own error shape.
#[tokio::test]
async fn every_unserved_service_answers_in_each_protocol_it_speaks() {
    use berth_api::services::{Handler, SERVICES};
    let api = api();
    let mut asked = 0;
    for service in SERVICES
        .iter()
        .filter(|s| matches!(s.handler, Handler::NotServed))
    {
        if let Some(json) = service.json {
            let (status, headers, body) = send(
                &api,
                Request::post("/")
                    .header("x-amz-target", format!("{}.Nothing", json.target_prefix))
                    .header("content-type", json.version.content_type())
                    .body(Body::from("{}"))
                    .unwrap(),
            )
            .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{}", service.signing_name);
            assert_eq!(headers["content-type"], json.version.content_type());
            let error: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(error["__type"], "UnknownOperationException");
            asked += 1;
            if json.cbor {
                let (status, headers, body) = send(
                    &api,
                    Request::post(format!("/service/{}/operation/Nothing", json.target_prefix))
                        .header("smithy-protocol", "rpc-v2-cbor")
                        .body(Body::from(vec![0xa0]))
                        .unwrap(),
                )
                .await;
                assert_eq!(status, StatusCode::BAD_REQUEST, "{}", service.signing_name);
                assert_eq!(headers["content-type"], "application/cbor");
                let error = berth_api::protocol::cbor::decode(&body).unwrap();
                assert_eq!(error["__type"], "UnknownOperationException");
                asked += 1;
            }
        }
        if let Some(query) = service.query {
            let (status, headers, body) = send(
                &api,
                Request::post("/")
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("authorization", SIGNED)
                    .body(Body::from(format!(
                        "Action=Nothing&Version={}",
                        query.version
                    )))
                    .unwrap(),
            )
            .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{}", service.signing_name);
            assert!(
                headers["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("text/xml")
            );
            let body = text(&body);
            let shape = match query.flavor {
                berth_api::protocol::xml::XmlFlavor::Ec2 => {
                    "<Response><Errors><Error><Code>InvalidAction"
                }
                berth_api::protocol::xml::XmlFlavor::Query => {
                    "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction"
                }
            };
            assert!(body.contains(shape), "{}: {body}", service.signing_name);
            asked += 1;
        }
    }
    // Eight services, CloudWatch in three protocols.
    assert_eq!(asked, 10);
}

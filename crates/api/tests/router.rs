//! The router without a socket (`tower::ServiceExt::oneshot`): headers, status codes and the
//! request/response shapes of the AWS JSON protocol.

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
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(&dir.path().join("state.redb")).unwrap();
    let state = ApiState {
        ecs: Arc::new(Ecs::new(Arc::new(store))),
        auth: Arc::new(AcceptAnyCredentials::new("123456789012")),
        images: Arc::new(NoImages),
        logs: Arc::new(NoLogs),
    };
    Api {
        _dir: dir,
        router: router(state),
    }
}

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

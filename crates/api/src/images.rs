//! berth's own image API, for `berth image ...` (no AWS service manages a node's local
//! images). JSON in and out, errors shaped like the AWS ones; a pull answers with a stream of
//! newline-delimited JSON progress events so the CLI can draw progress bars.
//!
//! ```text
//! GET  /berth/v1/images          {"images": [ImageSummary]}
//! POST /berth/v1/images/pull     {"reference"}            → NDJSON PullEvents
//! POST /berth/v1/images/import   archive bytes, header x-berth-tag: REF → {"image"}
//! POST /berth/v1/images/remove   {"reference"}            → {"image"}
//! POST /berth/v1/images/prune                              → PruneSummary
//! ```
//!
//! The API does not know how images are stored: it calls an [`ImageService`], which the
//! binary implements over the node's image store.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_model::images::{ImageSummary, PruneSummary, PullEvent};
use http_body_util::BodyExt;
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::ApiState;
use crate::error::{ApiError, ErrorCode};
use crate::protocol::aws_json::decode;

/// A boxed future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Why an image operation failed, as the API reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageServiceError {
    /// Bad input (a reference, an archive).
    Invalid(String),
    /// No such image.
    NotFound(String),
    /// A running container uses it.
    InUse(String),
    /// The node failed.
    Failed(String),
}

/// The node's images, as the API needs them.
pub trait ImageService: Send + Sync + 'static {
    /// Every stored image.
    fn list(&self) -> Vec<ImageSummary>;
    /// Pulls `reference`, sending progress (ending in `Pulled` or `Failed`) to `events`.
    fn pull(&self, reference: String, events: mpsc::UnboundedSender<PullEvent>) -> BoxFuture<()>;
    /// Imports the archive arriving in `archive` as `tag`.
    fn import(
        &self,
        tag: String,
        archive: mpsc::Receiver<Result<Bytes, String>>,
    ) -> BoxFuture<Result<ImageSummary, ImageServiceError>>;
    /// Removes an image's record.
    fn remove(&self, reference: &str) -> Result<ImageSummary, ImageServiceError>;
    /// Removes unreferenced layers and blobs.
    fn prune(&self) -> Result<PruneSummary, ImageServiceError>;
}

impl From<ImageServiceError> for ApiError {
    fn from(error: ImageServiceError) -> Self {
        match error {
            ImageServiceError::Invalid(m) => ApiError::new(ErrorCode::InvalidParameterException, m),
            ImageServiceError::NotFound(m) => ApiError::new(ErrorCode::ImageNotFoundException, m),
            ImageServiceError::InUse(m) => ApiError::new(ErrorCode::ResourceInUseException, m),
            ImageServiceError::Failed(m) => {
                tracing::error!(error = %m, "image operation failed");
                ApiError::new(ErrorCode::ServerException, m)
            }
        }
    }
}

#[derive(Deserialize)]
struct ReferenceRequest {
    reference: String,
}

pub async fn list(State(state): State<ApiState>) -> Response {
    json(&serde_json::json!({ "images": state.images.list() }))
}

pub async fn pull(State(state): State<ApiState>, body: Bytes) -> Response {
    let request: ReferenceRequest = match decode(&body) {
        Ok(request) => request,
        Err(error) => return error.into_response(),
    };
    let (events, receiver) = mpsc::unbounded_channel();
    // The pull runs on its own task: a client that goes away does not cancel it half-way.
    tokio::spawn(state.images.pull(request.reference, events));
    let mut response = Response::new(Body::new(EventBody { events: receiver }));
    response.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/x-ndjson"),
    );
    response
}

pub async fn import(State(state): State<ApiState>, headers: HeaderMap, body: Body) -> Response {
    let Some(tag) = headers
        .get("x-berth-tag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    else {
        return ApiError::new(
            ErrorCode::InvalidParameterException,
            "give the image's name in the x-berth-tag header",
        )
        .into_response();
    };
    let (chunks, receiver) = mpsc::channel(16);
    tokio::spawn(async move {
        let mut body = body;
        while let Some(frame) = body.frame().await {
            let chunk = match frame {
                Ok(frame) => match frame.into_data() {
                    Ok(data) => Ok(data),
                    Err(_) => continue,
                },
                Err(error) => Err(error.to_string()),
            };
            let failed = chunk.is_err();
            if chunks.send(chunk).await.is_err() || failed {
                break;
            }
        }
    });
    match state.images.import(tag, receiver).await {
        Ok(image) => json(&serde_json::json!({ "image": image })),
        Err(error) => ApiError::from(error).into_response(),
    }
}

pub async fn remove(State(state): State<ApiState>, body: Bytes) -> Response {
    let result = decode::<ReferenceRequest>(&body)
        .and_then(|r| state.images.remove(&r.reference).map_err(ApiError::from));
    match result {
        Ok(image) => json(&serde_json::json!({ "image": image })),
        Err(error) => error.into_response(),
    }
}

pub async fn prune(State(state): State<ApiState>) -> Response {
    match state.images.prune() {
        Ok(summary) => json(&summary),
        Err(error) => ApiError::from(error).into_response(),
    }
}

fn json<T: serde::Serialize>(value: &T) -> Response {
    let mut response = (
        StatusCode::OK,
        serde_json::to_vec(value).unwrap_or_default(),
    )
        .into_response();
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}

/// Pull events as NDJSON, one line each, as they happen.
struct EventBody {
    events: mpsc::UnboundedReceiver<PullEvent>,
}

impl http_body::Body for EventBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        self.events.poll_recv(cx).map(|event| {
            event.map(|event| {
                let mut line = serde_json::to_vec(&event).unwrap_or_default();
                line.push(b'\n');
                Ok(http_body::Frame::data(Bytes::from(line)))
            })
        })
    }
}

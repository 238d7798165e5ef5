//! berth's own logs API, for `berth logs` and `berth run` (CloudWatch Logs comes with its own
//! issue): a task's container output as a stream of bytes, optionally followed until the
//! container has exited.
//!
//! ```text
//! POST /berth/v1/tasks/logs  {"task", "cluster"?, "container"?, "follow"?, "timestamps"?}
//!                            → text/plain stream
//! ```

use axum::body::{Body, Bytes};
use axum::extract::{Extension, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::ApiState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorCode};
use crate::images::BoxFuture;
use crate::protocol::aws_json::decode;

/// A node's container logs, as the API needs them.
pub trait LogService: Send + Sync + 'static {
    /// The output of `container` of task `task_id`, streamed; with `follow`, the stream ends
    /// only once the container has exited; with `timestamps`, each line starts with the time
    /// it was written. `None` when the node has no log for it.
    fn open(
        &self,
        task_id: String,
        container: String,
        follow: bool,
        timestamps: bool,
    ) -> BoxFuture<Option<mpsc::Receiver<Bytes>>>;
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogsRequest {
    task: String,
    cluster: Option<String>,
    container: Option<String>,
    #[serde(default)]
    follow: bool,
    #[serde(default)]
    timestamps: bool,
}

pub async fn logs(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Response {
    match stream(&state, &caller, &body).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn stream(state: &ApiState, caller: &Caller, body: &[u8]) -> Result<Response, ApiError> {
    let request: LogsRequest = decode(body)?;
    let (tasks, _) = state
        .ecs
        .describe_tasks(
            &caller.scope,
            request.cluster.as_deref(),
            std::slice::from_ref(&request.task),
            false,
        )
        .await?;
    let task = tasks.into_iter().next().ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidParameterException,
            "The referenced task was not found.",
        )
    })?;
    let names: Vec<String> = task
        .containers
        .unwrap_or_default()
        .into_iter()
        .filter_map(|c| c.name)
        .collect();
    let container = match request.container {
        Some(name) if names.contains(&name) => name,
        Some(name) => {
            return Err(ApiError::new(
                ErrorCode::InvalidParameterException,
                format!(
                    "the task has no container named {name}; it has {}",
                    names.join(", ")
                ),
            ));
        }
        None if names.len() == 1 => names[0].clone(),
        None => {
            return Err(ApiError::new(
                ErrorCode::InvalidParameterException,
                format!("the task has containers {}: name one", names.join(", ")),
            ));
        }
    };
    let id = task
        .task_arn
        .as_deref()
        .and_then(|a| a.rsplit('/').next())
        .unwrap_or_default()
        .to_owned();
    let receiver = state
        .logs
        .open(id, container, request.follow, request.timestamps)
        .await;
    let body = match receiver {
        Some(receiver) => Body::new(ChunkBody { chunks: receiver }),
        // Nothing was written yet (the task has not started): an empty log.
        None => Body::empty(),
    };
    let mut response = Response::new(body);
    response.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(response)
}

struct ChunkBody {
    chunks: mpsc::Receiver<Bytes>,
}

impl http_body::Body for ChunkBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        self.chunks
            .poll_recv(cx)
            .map(|chunk| chunk.map(|c| Ok(http_body::Frame::data(c))))
    }
}

//! berth's own wait API, for `berth run`: answers once a task has reached a status (STOPPED
//! unless asked otherwise) — or, with `containersStopped`, as soon as all its containers have
//! stopped (their exit codes known, the task's clean-up still to come) — or when the timeout
//! runs out: a long poll instead of many DescribeTasks calls.
//!
//! ```text
//! POST /berth/v1/tasks/wait  {"task", "cluster"?, "status"?, "containersStopped"?, "timeoutSeconds"?}
//!   → {"task": Task}
//! ```

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Extension, State};

use axum::response::{IntoResponse, Response};
use berth_model::lifecycle::TaskStatus;
use berth_model::shapes::Task;
use serde::{Deserialize, Serialize};

use crate::ApiState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorCode};
use crate::protocol::aws_json::{decode, encode};

/// The longest a caller may wait in one request.
const MAX_WAIT_SECONDS: u64 = 300;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WaitRequest {
    task: String,
    cluster: Option<String>,
    status: Option<String>,
    #[serde(default)]
    containers_stopped: bool,
    timeout_seconds: Option<u64>,
}

#[derive(Serialize)]
struct WaitResponse {
    task: Task,
}

pub async fn wait(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Response {
    match answer(&state, &caller, &body).await {
        Ok(bytes) => ([("content-type", "application/json")], bytes).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn answer(state: &ApiState, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let request: WaitRequest = decode(body)?;
    let status = request.status.as_deref().unwrap_or("STOPPED");
    let until = TaskStatus::parse(status).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidParameterException,
            format!("status {status} is not a task status"),
        )
    })?;
    let timeout = Duration::from_secs(request.timeout_seconds.unwrap_or(60).min(MAX_WAIT_SECONDS));
    let task = state
        .ecs
        .wait_task(
            &caller.scope,
            request.cluster.as_deref(),
            &request.task,
            until,
            request.containers_stopped,
            timeout,
        )
        .await?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidParameterException,
                "The referenced task was not found.",
            )
        })?;
    encode(&WaitResponse { task })
}

//! berth's HTTP API: the AWS wire protocols, the authentication seam, and the one place where
//! control-plane errors become AWS error codes.
//!
//! EC2's Query protocol (`ec2`, for VPCs, subnets, security groups and network interfaces)
//! shares the endpoint: `aws_json` hands it form-encoded requests without a target header.
//!
//! A request goes `router` → `aws_json` (target header, body limit, JSON decoding) →
//! `auth` (who is calling, in which region) → `ecs` (one dispatch `match` to a typed action,
//! one small function per operation) → `berth_control`. This crate never touches the kernel,
//! images or containers.

pub mod auth;
mod aws_json;
mod ec2;
mod ecs;
mod error;
pub mod images;
pub mod logs;
mod task_wait;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use berth_control::Ecs;

pub use auth::{AcceptAnyCredentials, Authenticator, Caller};
pub use error::{ApiError, ErrorCode};
pub use images::{ImageService, ImageServiceError};
pub use logs::LogService;

/// The largest request body accepted, in bytes. ECS's largest documents (a task definition
/// of 64 KiB) fit many times over; anything larger is refused with HTTP 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What every request handler can reach.
#[derive(Clone)]
pub struct ApiState {
    /// The ECS control plane.
    pub ecs: Arc<Ecs>,
    /// Decides who a request comes from.
    pub auth: Arc<dyn Authenticator>,
    /// The node's images (berth's own API).
    pub images: Arc<dyn ImageService>,
    /// The node's container logs (berth's own API).
    pub logs: Arc<dyn LogService>,
}

/// The HTTP router serving every protocol on one endpoint.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route(
            "/",
            post(aws_json::serve).fallback(aws_json::not_an_operation),
        )
        .route("/berth/v1/images", get(images::list))
        .route("/berth/v1/images/pull", post(images::pull))
        .route("/berth/v1/images/import", post(images::import))
        .route("/berth/v1/images/remove", post(images::remove))
        .route("/berth/v1/images/prune", post(images::prune))
        .route("/berth/v1/tasks/logs", post(logs::logs))
        .route("/berth/v1/tasks/wait", post(task_wait::wait))
        .fallback(aws_json::not_an_operation)
        .with_state(state)
}

//! berth's HTTP API: the AWS wire protocols, the services spoken over them, the
//! authentication seam, and the one place where control-plane errors become AWS error codes.
//!
//! `listener` accepts connections and bounds how long a client may take; a request goes
//! `router` → `browser_guard` (nothing a web page could have been made to send — for every
//! route) → `endpoint::authenticate` (the body, who is calling — for every route) →
//! `endpoint::serve`, which reads the protocol's framing (`protocol`: AWS JSON,
//! Query with XML, rpc-v2-cbor), finds the service (`services`: the registry; `ecs`, `ec2`)
//! and has the protocol write its answer. A service holds one dispatch `match` to a typed
//! action and one small function per operation onto `berth_control`. berth's own API
//! (`images`, `logs`, `task_wait`) sits under `/berth/v1`. This crate never touches the
//! kernel, images or containers.

mod accounts;
pub mod auth;
mod authorize;
pub mod browser_guard;
mod endpoint;
mod error;
pub mod images;
pub mod info;
pub mod listener;
pub mod logs;
pub mod protocol;
pub mod server_names;
pub mod services;
mod task_wait;
mod timed_body;

use std::sync::Arc;

use axum::Router;
use axum::middleware;
use axum::routing::{get, post};
use berth_control::Ecs;

pub use auth::{
    AcceptAnyCredentials, AuthRequest, Authenticator, Caller, Payload, SigV4Authenticator,
};
pub use error::{ApiError, ErrorCode};
pub use images::{ImageService, ImageServiceError};
pub use listener::HttpLimits;
pub use logs::LogService;
pub use server_names::ServerNames;

/// The largest request body accepted, in bytes. ECS's largest documents (a task definition
/// of 64 KiB) fit many times over; anything larger is refused with HTTP 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What every request handler can reach.
#[derive(Clone)]
pub struct ApiState {
    /// The ECS control plane.
    pub ecs: Arc<Ecs>,
    /// Accounts, users, access keys and policies.
    pub iam: Arc<berth_control::iam::Iam>,
    /// Decides who a request comes from.
    pub auth: Arc<dyn Authenticator>,
    /// The node's images (berth's own API).
    pub images: Arc<dyn ImageService>,
    /// The node's container logs (berth's own API).
    pub logs: Arc<dyn LogService>,
    /// What `GET /berth/v1/info` answers.
    pub info: Arc<info::ServerInfo>,
    /// The names this server answers to (`browser_guard`).
    pub names: Arc<ServerNames>,
}

/// The HTTP router serving every protocol on one endpoint.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/berth/v1/info", get(info::info))
        .route("/berth/v1/accounts", post(accounts::create))
        .route("/berth/v1/images", get(images::list))
        .route("/berth/v1/images/pull", post(images::pull))
        .route(endpoint::STREAMED_PATH, post(images::import))
        .route("/berth/v1/images/remove", post(images::remove))
        .route("/berth/v1/images/prune", post(images::prune))
        .route("/berth/v1/tasks/logs", post(logs::logs))
        .route("/berth/v1/tasks/wait", post(task_wait::wait))
        .fallback(endpoint::serve)
        .method_not_allowed_fallback(endpoint::method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            endpoint::authenticate,
        ))
        // Outermost: a request a page could have been made to send is refused before its
        // body is read or its credentials looked at.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            browser_guard::guard,
        ))
        .with_state(state)
}

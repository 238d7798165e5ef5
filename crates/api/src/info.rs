//! berth's own `GET /berth/v1/info`: what the server is and how it runs — its version, data
//! directory, account, the bridge and VPC range it holds on this machine and what enforces
//! security groups — for `berth status`. No AWS service says these things. The binary fills
//! in [`ServerInfo`] once at start; the API only serves it.

use axum::extract::{Extension, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::ApiState;
use crate::auth::Caller;

/// The server's facts, as `GET /berth/v1/info` answers them.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerInfo {
    /// berth's version.
    pub version: String,
    /// Where its state lives.
    pub data_directory: String,
    /// The caller's account.
    pub account_id: String,
    /// The bridge every task's interface joins.
    pub bridge: String,
    /// The default VPC's range.
    pub vpc_cidr: String,
    /// What enforces security groups (`nftables`, `iptables`, or `off`).
    pub firewall: String,
}

/// `GET /berth/v1/info`, with the caller's own account.
pub async fn info(State(state): State<ApiState>, Extension(caller): Extension<Caller>) -> Response {
    let info = ServerInfo {
        account_id: caller.scope.account_id.clone(),
        ..state.info.as_ref().clone()
    };
    let mut response = serde_json::to_vec(&info)
        .unwrap_or_default()
        .into_response();
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}

//! The slice of Amazon EC2 that tasks' networks need, in EC2's Query protocol as `aws ec2`
//! and the SDKs speak it: `POST /` with a form-encoded body (`Action=...&Version=2016-11-15`)
//! and XML answers. `query.rs` reads parameters, `xml.rs` writes documents; one dispatch
//! `match` below sends each action to its function in `vpcs.rs`, `security_groups.rs` or
//! `network_interfaces.rs`. Shapes and element names follow botocore's EC2 model.

mod network_interfaces;
mod query;
mod security_groups;
mod vpcs;
mod xml;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_control::Ecs;
use berth_model::AccountRegion;
use tracing::Instrument;

use crate::error::Ec2Failure;
use crate::{ApiState, MAX_BODY_BYTES};
use query::Params;

/// Whether a `POST /` is an EC2 Query request: form-encoded, with no JSON target.
pub fn is_query_request(headers: &HeaderMap) -> bool {
    !headers.contains_key("x-amz-target")
        && headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// Handles one EC2 request.
pub async fn serve(
    state: &ApiState,
    headers: &HeaderMap,
    body: Body,
    request_id: String,
) -> Response {
    let result = async {
        let caller = state.auth.authenticate(headers)?;
        let body = axum::body::to_bytes(body, MAX_BODY_BYTES)
            .await
            .map_err(|_| {
                Ec2Failure::new(
                    "RequestLimitExceeded",
                    format!("The request body is larger than {MAX_BODY_BYTES} bytes."),
                )
            })?;
        let params = Params::parse(&body);
        let action = params
            .required("Action")
            .map_err(|_| {
                Ec2Failure::new(
                    "MissingAction",
                    "The request must contain the parameter Action",
                )
            })?
            .to_owned();
        let span = tracing::debug_span!("ec2", %request_id, %action);
        dispatch(&state.ecs, &caller.scope, &action, &params, &request_id)
            .instrument(span)
            .await
            .map(|body| body.finish(&action))
    }
    .await;
    let (status, body) = match result {
        Ok(document) => (StatusCode::OK, document),
        Err(failure) => (
            failure.status,
            xml::error(failure.code, &failure.message, &request_id),
        ),
    };
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/xml;charset=UTF-8"),
    );
    response
}

async fn dispatch(
    ecs: &Ecs,
    scope: &AccountRegion,
    action: &str,
    params: &Params,
    request_id: &str,
) -> Result<xml::Xml, Ec2Failure> {
    let mut out = xml::Xml::response(action, request_id);
    match action {
        "CreateVpc" => vpcs::create_vpc(ecs, scope, params, &mut out).await?,
        "DescribeVpcs" => vpcs::describe_vpcs(ecs, scope, params, &mut out).await?,
        "CreateSubnet" => vpcs::create_subnet(ecs, scope, params, &mut out).await?,
        "DescribeSubnets" => vpcs::describe_subnets(ecs, scope, params, &mut out).await?,
        "DeleteSubnet" => vpcs::delete_subnet(ecs, scope, params, &mut out).await?,
        "CreateSecurityGroup" => security_groups::create(ecs, scope, params, &mut out).await?,
        "DescribeSecurityGroups" => security_groups::describe(ecs, scope, params, &mut out).await?,
        "DeleteSecurityGroup" => security_groups::delete(ecs, scope, params, &mut out).await?,
        "AuthorizeSecurityGroupIngress" => {
            security_groups::authorize_ingress(ecs, scope, params, &mut out).await?
        }
        "RevokeSecurityGroupIngress" => {
            security_groups::revoke_ingress(ecs, scope, params, &mut out).await?
        }
        "DescribeNetworkInterfaces" => {
            network_interfaces::describe(ecs, scope, params, &mut out).await?
        }
        other => {
            return Err(Ec2Failure::new(
                "InvalidAction",
                format!("The action {other} is not valid for this web service."),
            ));
        }
    }
    Ok(out)
}

//! The slice of Amazon EC2 that tasks' networks need, in EC2's Query protocol as `aws ec2`
//! and the SDKs speak it (`Action=...&Version=2016-11-15`, XML answers — the protocol itself is
//! `crate::protocol::query` and `crate::protocol::xml`). One dispatch `match` below sends each
//! action to its function in `vpcs.rs`, `security_groups.rs` or `network_interfaces.rs`;
//! `params.rs` reads EC2's own structures (filters, permissions). Shapes and element names
//! follow botocore's EC2 model.

mod network_interfaces;
mod params;
mod security_groups;
mod vpcs;

use berth_control::Ecs;
use berth_model::AccountRegion;

use crate::ApiState;
use crate::auth::Caller;
use crate::protocol::query::{Params, QueryError};
use crate::protocol::xml::Xml;
use crate::services::BoxFuture;

/// EC2's API version, the `Version` of its Query requests.
pub const VERSION: &str = "2016-11-15";
/// The `xmlns` of EC2's answers.
pub const NAMESPACE: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";

/// The registry's entry point ([`crate::services::QueryHandler`]).
pub fn serve<'a>(
    state: &'a ApiState,
    caller: &'a Caller,
    action: &'a str,
    params: &'a Params,
    out: &'a mut Xml,
) -> BoxFuture<'a, Result<(), QueryError>> {
    Box::pin(dispatch(&state.ecs, &caller.scope, action, params, out))
}

async fn dispatch(
    ecs: &Ecs,
    scope: &AccountRegion,
    action: &str,
    params: &Params,
    out: &mut Xml,
) -> Result<(), QueryError> {
    match action {
        "CreateVpc" => vpcs::create_vpc(ecs, scope, params, out).await?,
        "DescribeVpcs" => vpcs::describe_vpcs(ecs, scope, params, out).await?,
        "CreateSubnet" => vpcs::create_subnet(ecs, scope, params, out).await?,
        "DescribeSubnets" => vpcs::describe_subnets(ecs, scope, params, out).await?,
        "DeleteSubnet" => vpcs::delete_subnet(ecs, scope, params, out).await?,
        "CreateSecurityGroup" => security_groups::create(ecs, scope, params, out).await?,
        "DescribeSecurityGroups" => security_groups::describe(ecs, scope, params, out).await?,
        "DeleteSecurityGroup" => security_groups::delete(ecs, scope, params, out).await?,
        "AuthorizeSecurityGroupIngress" => {
            security_groups::authorize_ingress(ecs, scope, params, out).await?
        }
        "RevokeSecurityGroupIngress" => {
            security_groups::revoke_ingress(ecs, scope, params, out).await?
        }
        "DescribeNetworkInterfaces" => {
            network_interfaces::describe(ecs, scope, params, out).await?
        }
        other => return Err(QueryError::invalid_action(other)),
    }
    Ok(())
}

//! The Amazon ECS API (target prefix `AmazonEC2ContainerServiceV20141113`): one dispatch
//! `match` turns an operation name and body into a typed request, and one small function per
//! operation maps it onto the control plane.

mod clusters;
pub mod resources;
mod tagging;
mod task_definitions;
mod tasks;
#[allow(missing_docs, clippy::doc_lazy_continuation)] // generated from the service model
pub mod wire;

use berth_control::Ecs;
use berth_model::AccountRegion;

use crate::ApiState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::protocol::aws_json::{decode, encode, unknown_operation};
use crate::services::BoxFuture;
use wire::*;

/// The `X-Amz-Target` prefix of ECS operations.
pub const TARGET_PREFIX: &str = "AmazonEC2ContainerServiceV20141113";

/// A decoded ECS request.
enum EcsRequest {
    CreateCluster(CreateClusterRequest),
    DescribeClusters(DescribeClustersRequest),
    ListClusters(ListClustersRequest),
    DeleteCluster(DeleteClusterRequest),
    UpdateCluster(UpdateClusterRequest),
    UpdateClusterSettings(UpdateClusterSettingsRequest),
    PutClusterCapacityProviders(PutClusterCapacityProvidersRequest),
    RegisterTaskDefinition(RegisterTaskDefinitionRequest),
    DescribeTaskDefinition(DescribeTaskDefinitionRequest),
    ListTaskDefinitions(ListTaskDefinitionsRequest),
    ListTaskDefinitionFamilies(ListTaskDefinitionFamiliesRequest),
    DeregisterTaskDefinition(DeregisterTaskDefinitionRequest),
    DeleteTaskDefinitions(DeleteTaskDefinitionsRequest),
    TagResource(TagResourceRequest),
    UntagResource(UntagResourceRequest),
    ListTagsForResource(ListTagsForResourceRequest),
    RunTask(RunTaskRequest),
    DescribeTasks(DescribeTasksRequest),
    ListTasks(ListTasksRequest),
    StopTask(StopTaskRequest),
}

impl EcsRequest {
    fn parse(operation: &str, body: &[u8]) -> Result<Self, ApiError> {
        use EcsRequest as R;
        Ok(match operation {
            "CreateCluster" => R::CreateCluster(decode(body)?),
            "DescribeClusters" => R::DescribeClusters(decode(body)?),
            "ListClusters" => R::ListClusters(decode(body)?),
            "DeleteCluster" => R::DeleteCluster(decode(body)?),
            "UpdateCluster" => R::UpdateCluster(decode(body)?),
            "UpdateClusterSettings" => R::UpdateClusterSettings(decode(body)?),
            "PutClusterCapacityProviders" => R::PutClusterCapacityProviders(decode(body)?),
            "RegisterTaskDefinition" => R::RegisterTaskDefinition(decode(body)?),
            "DescribeTaskDefinition" => R::DescribeTaskDefinition(decode(body)?),
            "ListTaskDefinitions" => R::ListTaskDefinitions(decode(body)?),
            "ListTaskDefinitionFamilies" => R::ListTaskDefinitionFamilies(decode(body)?),
            "DeregisterTaskDefinition" => R::DeregisterTaskDefinition(decode(body)?),
            "DeleteTaskDefinitions" => R::DeleteTaskDefinitions(decode(body)?),
            "TagResource" => R::TagResource(decode(body)?),
            "UntagResource" => R::UntagResource(decode(body)?),
            "ListTagsForResource" => R::ListTagsForResource(decode(body)?),
            "RunTask" => R::RunTask(decode(body)?),
            "DescribeTasks" => R::DescribeTasks(decode(body)?),
            "ListTasks" => R::ListTasks(decode(body)?),
            "StopTask" => R::StopTask(decode(body)?),
            other => return Err(unknown_operation(&format!("{TARGET_PREFIX}.{other}"))),
        })
    }

    async fn execute(self, ecs: &Ecs, scope: &AccountRegion) -> Result<Vec<u8>, ApiError> {
        use EcsRequest as R;
        match self {
            R::CreateCluster(r) => encode(&clusters::create(ecs, scope, r).await?),
            R::DescribeClusters(r) => encode(&clusters::describe(ecs, scope, r).await?),
            R::ListClusters(r) => encode(&clusters::list(ecs, scope, r).await?),
            R::DeleteCluster(r) => encode(&clusters::delete(ecs, scope, r).await?),
            R::UpdateCluster(r) => encode(&clusters::update(ecs, scope, r).await?),
            R::UpdateClusterSettings(r) => encode(&clusters::update_settings(ecs, scope, r).await?),
            R::PutClusterCapacityProviders(r) => {
                encode(&clusters::put_capacity_providers(ecs, scope, r).await?)
            }
            R::RegisterTaskDefinition(r) => {
                encode(&task_definitions::register(ecs, scope, r).await?)
            }
            R::DescribeTaskDefinition(r) => {
                encode(&task_definitions::describe(ecs, scope, r).await?)
            }
            R::ListTaskDefinitions(r) => encode(&task_definitions::list(ecs, scope, r).await?),
            R::ListTaskDefinitionFamilies(r) => {
                encode(&task_definitions::list_families(ecs, scope, r).await?)
            }
            R::DeregisterTaskDefinition(r) => {
                encode(&task_definitions::deregister(ecs, scope, r).await?)
            }
            R::DeleteTaskDefinitions(r) => encode(&task_definitions::delete(ecs, scope, r).await?),
            R::TagResource(r) => encode(&tagging::tag(ecs, scope, r).await?),
            R::UntagResource(r) => encode(&tagging::untag(ecs, scope, r).await?),
            R::ListTagsForResource(r) => encode(&tagging::list(ecs, scope, r).await?),
            R::RunTask(r) => encode(&tasks::run(ecs, scope, r).await?),
            R::DescribeTasks(r) => encode(&tasks::describe(ecs, scope, r).await?),
            R::ListTasks(r) => encode(&tasks::list(ecs, scope, r).await?),
            R::StopTask(r) => encode(&tasks::stop(ecs, scope, r).await?),
        }
    }
}

/// Serves one ECS operation for `caller`.
/// The registry's entry point ([`crate::services::JsonHandler`]).
pub fn serve<'a>(
    state: &'a ApiState,
    caller: &'a Caller,
    operation: &'a str,
    body: &'a [u8],
) -> BoxFuture<'a, Result<Vec<u8>, ApiError>> {
    Box::pin(dispatch(&state.ecs, caller, operation, body))
}

async fn dispatch(
    ecs: &Ecs,
    caller: &Caller,
    operation: &str,
    body: &[u8],
) -> Result<Vec<u8>, ApiError> {
    EcsRequest::parse(operation, body)?
        .execute(ecs, &caller.scope)
        .await
}

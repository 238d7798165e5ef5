//! The task definition operations: wire shapes in, control-plane calls, wire shapes out.

use berth_control::{Ecs, ListTaskDefinitionsQuery, PageRequest};
use berth_model::AccountRegion;
use berth_model::shapes::{SortOrder, TaskDefinition, TaskDefinitionField};

use super::wire::*;
use crate::error::{ApiError, ErrorCode};

pub async fn register(
    ecs: &Ecs,
    scope: &AccountRegion,
    r: RegisterTaskDefinitionRequest,
) -> Result<RegisterTaskDefinitionResponse, ApiError> {
    let tags = r.tags.clone().unwrap_or_default();
    let draft = draft_from(r)?;
    let registered = ecs.register_task_definition(scope, draft, tags).await?;
    Ok(RegisterTaskDefinitionResponse {
        task_definition: Some(registered.definition),
        tags: Some(registered.tags),
    })
}

/// Every member of the request except `tags` is a member of the TaskDefinition document with
/// the same name and type, so the request's JSON (less tags) *is* the draft document. Going
/// through JSON keeps that true for members botocore adds later, with no list to maintain.
fn draft_from(mut r: RegisterTaskDefinitionRequest) -> Result<TaskDefinition, ApiError> {
    r.tags = None;
    serde_json::to_value(r)
        .and_then(serde_json::from_value)
        .map_err(|e| {
            tracing::error!(error = %e, "RegisterTaskDefinitionRequest no longer maps onto TaskDefinition");
            ApiError::new(ErrorCode::ServerException, "berth failed to read the task definition.")
        })
}

pub async fn describe(
    ecs: &Ecs,
    scope: &AccountRegion,
    r: DescribeTaskDefinitionRequest,
) -> Result<DescribeTaskDefinitionResponse, ApiError> {
    let registered = ecs
        .describe_task_definition(scope, &r.task_definition)
        .await?;
    let with_tags = r
        .include
        .unwrap_or_default()
        .contains(&TaskDefinitionField::Tags);
    Ok(DescribeTaskDefinitionResponse {
        task_definition: Some(registered.definition),
        tags: with_tags.then_some(registered.tags),
    })
}

pub async fn list(
    ecs: &Ecs,
    scope: &AccountRegion,
    r: ListTaskDefinitionsRequest,
) -> Result<ListTaskDefinitionsResponse, ApiError> {
    let query = ListTaskDefinitionsQuery {
        family: r.family_prefix,
        status: r.status,
        descending: r.sort == Some(SortOrder::Desc),
    };
    let page = PageRequest::new(r.next_token, r.max_results);
    let page = ecs.list_task_definitions(scope, &query, &page).await?;
    Ok(ListTaskDefinitionsResponse {
        task_definition_arns: Some(page.items),
        next_token: page.next_token,
    })
}

pub async fn list_families(
    ecs: &Ecs,
    scope: &AccountRegion,
    r: ListTaskDefinitionFamiliesRequest,
) -> Result<ListTaskDefinitionFamiliesResponse, ApiError> {
    let page = PageRequest::new(r.next_token, r.max_results);
    let page = ecs
        .list_task_definition_families(scope, r.family_prefix.as_deref(), r.status.into(), &page)
        .await?;
    Ok(ListTaskDefinitionFamiliesResponse {
        families: Some(page.items),
        next_token: page.next_token,
    })
}

pub async fn deregister(
    ecs: &Ecs,
    scope: &AccountRegion,
    r: DeregisterTaskDefinitionRequest,
) -> Result<DeregisterTaskDefinitionResponse, ApiError> {
    let definition = ecs
        .deregister_task_definition(scope, &r.task_definition)
        .await?;
    Ok(DeregisterTaskDefinitionResponse {
        task_definition: Some(definition),
    })
}

pub async fn delete(
    ecs: &Ecs,
    scope: &AccountRegion,
    r: DeleteTaskDefinitionsRequest,
) -> Result<DeleteTaskDefinitionsResponse, ApiError> {
    let outcome = ecs
        .delete_task_definitions(scope, &r.task_definitions)
        .await?;
    Ok(DeleteTaskDefinitionsResponse {
        task_definitions: Some(outcome.deleted),
        failures: Some(outcome.failures),
    })
}

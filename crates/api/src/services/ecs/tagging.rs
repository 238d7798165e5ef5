//! TagResource, UntagResource and ListTagsForResource: wire shapes in and out.

use berth_control::Ecs;
use berth_model::AccountRegion;

use super::wire::*;
use crate::error::ApiError;

pub async fn tag(
    ecs: &Ecs,
    scope: &AccountRegion,
    r: TagResourceRequest,
) -> Result<TagResourceResponse, ApiError> {
    ecs.tag_resource(scope, &r.resource_arn, &r.tags).await?;
    Ok(TagResourceResponse {})
}

pub async fn untag(
    ecs: &Ecs,
    scope: &AccountRegion,
    r: UntagResourceRequest,
) -> Result<UntagResourceResponse, ApiError> {
    ecs.untag_resource(scope, &r.resource_arn, &r.tag_keys)
        .await?;
    Ok(UntagResourceResponse {})
}

pub async fn list(
    ecs: &Ecs,
    scope: &AccountRegion,
    r: ListTagsForResourceRequest,
) -> Result<ListTagsForResourceResponse, ApiError> {
    let tags = ecs.list_tags_for_resource(scope, &r.resource_arn).await?;
    Ok(ListTagsForResourceResponse { tags: Some(tags) })
}

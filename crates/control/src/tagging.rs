//! TagResource, UntagResource and ListTagsForResource over every taggable resource, found by
//! its ARN.

use berth_model::AccountRegion;
use berth_model::arn::{ArnError, ResourceArn};
use berth_model::shapes::Tag;
use berth_model::tags::{self, TagError};

use crate::Ecs;
use crate::clusters::ClusterError;
use crate::task_definitions::TaskDefinitionOpError;
use crate::tasks::TaskError;

/// Why a tagging operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TaggingError {
    /// Not an ARN of a taggable ECS resource.
    #[error(transparent)]
    Arn(#[from] ArnError),
    /// An ARN of another account or region.
    #[error("The resource '{0}' is not in this account and region.")]
    OtherScope(String),
    /// Bad tags.
    #[error(transparent)]
    Tags(#[from] TagError),
    /// The cluster does not exist (or failed otherwise).
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The task definition does not exist (or failed otherwise).
    #[error(transparent)]
    TaskDefinition(#[from] TaskDefinitionOpError),
    /// The task does not exist (or failed otherwise).
    #[error(transparent)]
    Task(#[from] TaskError),
}

impl Ecs {
    /// TagResource: adds tags, replacing the values of keys already there.
    pub async fn tag_resource(
        &self,
        scope: &AccountRegion,
        arn: &str,
        added: &[Tag],
    ) -> Result<(), TaggingError> {
        tags::validate(added)?;
        self.change_tags(scope, arn, |existing| tags::merge(existing, added))
            .await
    }

    /// UntagResource: removes the tags with these keys.
    pub async fn untag_resource(
        &self,
        scope: &AccountRegion,
        arn: &str,
        keys: &[String],
    ) -> Result<(), TaggingError> {
        self.change_tags(scope, arn, |existing| Ok(tags::remove(existing, keys)))
            .await
    }

    /// ListTagsForResource.
    pub async fn list_tags_for_resource(
        &self,
        scope: &AccountRegion,
        arn: &str,
    ) -> Result<Vec<Tag>, TaggingError> {
        match resolve(scope, arn)? {
            ResourceArn::Cluster { name, .. } => {
                let (cluster, _) = self
                    .read_cluster(scope, &name)
                    .await?
                    .ok_or_else(|| ClusterError::NotFound(name.clone()))?;
                Ok(cluster.tags.unwrap_or_default())
            }
            ResourceArn::TaskDefinition {
                family, revision, ..
            } => Ok(self
                .describe_task_definition(scope, &format!("{family}:{revision}"))
                .await?
                .tags),
            ResourceArn::Task { cluster, id, .. } => {
                let found = self
                    .find_task(scope, &cluster, &id)
                    .await?
                    .ok_or_else(|| TaskError::NotFound(id.clone()))?;
                Ok(found.record.task.tags.unwrap_or_default())
            }
        }
    }

    async fn change_tags(
        &self,
        scope: &AccountRegion,
        arn: &str,
        change: impl Fn(&[Tag]) -> Result<Vec<Tag>, TagError>,
    ) -> Result<(), TaggingError> {
        match resolve(scope, arn)? {
            ResourceArn::Cluster { name, .. } => {
                self.modify_cluster_tags(scope, &name, change).await?
            }
            ResourceArn::TaskDefinition {
                family, revision, ..
            } => {
                self.modify_task_definition_tags(scope, &format!("{family}:{revision}"), change)
                    .await?;
            }
            ResourceArn::Task { cluster, id, .. } => {
                self.modify_task_tags(scope, &cluster, &id, change).await?;
            }
        }
        Ok(())
    }
}

fn resolve(scope: &AccountRegion, arn: &str) -> Result<ResourceArn, TaggingError> {
    let parsed = ResourceArn::parse(arn)?;
    if parsed.scope() != scope {
        return Err(TaggingError::OtherScope(arn.to_owned()));
    }
    Ok(parsed)
}

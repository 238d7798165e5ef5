//! ARNs of ECS resources and the account/region scope every resource lives in.

use std::fmt;

/// Where a resource lives: every ECS resource belongs to one account in one region, and two
/// regions of one account never see each other's clusters or task definitions.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccountRegion {
    /// The 12-digit account id.
    pub account_id: String,
    /// The region name, e.g. `us-east-1`.
    pub region: String,
}

impl AccountRegion {
    /// The scope of `account_id` in `region`.
    pub fn new(account_id: impl Into<String>, region: impl Into<String>) -> Self {
        Self {
            account_id: account_id.into(),
            region: region.into(),
        }
    }

    /// `arn:aws:ecs:REGION:ACCOUNT:cluster/NAME`
    pub fn cluster_arn(&self, name: &str) -> String {
        ResourceArn::Cluster {
            scope: self.clone(),
            name: name.to_owned(),
        }
        .to_string()
    }

    /// `arn:aws:ecs:REGION:ACCOUNT:task/CLUSTER/ID`
    pub fn task_arn(&self, cluster: &str, id: &str) -> String {
        ResourceArn::Task {
            scope: self.clone(),
            cluster: cluster.to_owned(),
            id: id.to_owned(),
        }
        .to_string()
    }

    /// `arn:aws:ecs:REGION:ACCOUNT:container/CLUSTER/TASK_ID/CONTAINER_ID`
    pub fn container_arn(&self, cluster: &str, task_id: &str, container_id: &str) -> String {
        format!(
            "arn:aws:ecs:{}:{}:container/{cluster}/{task_id}/{container_id}",
            self.region, self.account_id
        )
    }

    /// `arn:aws:ecs:REGION:ACCOUNT:task-definition/FAMILY:REVISION`
    pub fn task_definition_arn(&self, family: &str, revision: u32) -> String {
        ResourceArn::TaskDefinition {
            scope: self.clone(),
            family: family.to_owned(),
            revision,
        }
        .to_string()
    }
}

/// An ECS resource ARN that berth knows how to resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceArn {
    /// `arn:aws:ecs:REGION:ACCOUNT:cluster/NAME`
    Cluster {
        /// The account and region in the ARN.
        scope: AccountRegion,
        /// The cluster name.
        name: String,
    },
    /// `arn:aws:ecs:REGION:ACCOUNT:task-definition/FAMILY:REVISION`
    TaskDefinition {
        /// The account and region in the ARN.
        scope: AccountRegion,
        /// The task definition family.
        family: String,
        /// The revision number.
        revision: u32,
    },
    /// `arn:aws:ecs:REGION:ACCOUNT:task/CLUSTER/ID`
    Task {
        /// The account and region in the ARN.
        scope: AccountRegion,
        /// The cluster name.
        cluster: String,
        /// The task id.
        id: String,
    },
}

/// Why a string is not an ECS resource ARN berth can resolve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArnError {
    /// Not of the form `arn:PARTITION:ecs:REGION:ACCOUNT:RESOURCE`.
    #[error("'{0}' is not a valid ARN: expected arn:aws:ecs:REGION:ACCOUNT:RESOURCE")]
    Malformed(String),
    /// A well-formed ECS ARN of a resource type berth does not have.
    #[error("ARN '{0}' names a resource type that is not supported")]
    UnsupportedResourceType(String),
}

impl ResourceArn {
    /// Parses `arn:aws:ecs:REGION:ACCOUNT:TYPE/ID`.
    pub fn parse(text: &str) -> Result<Self, ArnError> {
        let malformed = || ArnError::Malformed(text.to_owned());
        let mut parts = text.splitn(6, ':');
        let (Some("arn"), Some(_partition), Some("ecs"), Some(region), Some(account), Some(rest)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(malformed());
        };
        if region.is_empty() || account.is_empty() {
            return Err(malformed());
        }
        let scope = AccountRegion::new(account, region);
        let (kind, id) = rest.split_once('/').ok_or_else(malformed)?;
        match kind {
            "cluster" if !id.is_empty() => Ok(Self::Cluster {
                scope,
                name: id.to_owned(),
            }),
            "task-definition" => {
                let (family, revision) = id.rsplit_once(':').ok_or_else(malformed)?;
                let revision = revision.parse().map_err(|_| malformed())?;
                if family.is_empty() {
                    return Err(malformed());
                }
                Ok(Self::TaskDefinition {
                    scope,
                    family: family.to_owned(),
                    revision,
                })
            }
            "task" => match id.split_once('/') {
                Some((cluster, task))
                    if !cluster.is_empty() && !task.is_empty() && !task.contains('/') =>
                {
                    Ok(Self::Task {
                        scope,
                        cluster: cluster.to_owned(),
                        id: task.to_owned(),
                    })
                }
                _ => Err(malformed()),
            },
            _ => Err(ArnError::UnsupportedResourceType(text.to_owned())),
        }
    }

    /// The account and region the resource lives in.
    pub fn scope(&self) -> &AccountRegion {
        match self {
            Self::Cluster { scope, .. }
            | Self::TaskDefinition { scope, .. }
            | Self::Task { scope, .. } => scope,
        }
    }
}

impl fmt::Display for ResourceArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cluster { scope, name } => write!(
                f,
                "arn:aws:ecs:{}:{}:cluster/{name}",
                scope.region, scope.account_id
            ),
            Self::TaskDefinition {
                scope,
                family,
                revision,
            } => write!(
                f,
                "arn:aws:ecs:{}:{}:task-definition/{family}:{revision}",
                scope.region, scope.account_id
            ),
            Self::Task { scope, cluster, id } => write!(
                f,
                "arn:aws:ecs:{}:{}:task/{cluster}/{id}",
                scope.region, scope.account_id
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_each_kind() {
        for text in [
            "arn:aws:ecs:us-east-1:000000000000:cluster/default",
            "arn:aws:ecs:eu-west-3:123456789012:task-definition/web-app:12",
            "arn:aws:ecs:us-east-1:000000000000:task/default/0123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(ResourceArn::parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn refuses_what_is_not_an_ecs_arn() {
        for text in [
            "",
            "cluster/default",
            "arn:aws:s3:us-east-1:000000000000:cluster/x",
            "arn:aws:ecs:us-east-1:000000000000:task-definition/web",
            "arn:aws:ecs:us-east-1:000000000000:task-definition/web:x",
            "arn:aws:ecs::000000000000:cluster/x",
        ] {
            assert!(ResourceArn::parse(text).is_err(), "{text}");
        }
        assert!(matches!(
            ResourceArn::parse("arn:aws:ecs:us-east-1:000000000000:service/a/b"),
            Err(ArnError::UnsupportedResourceType(_))
        ));
    }
}

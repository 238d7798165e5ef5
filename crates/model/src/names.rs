//! Names and references users give: cluster names, task definition families, and the three
//! ways to point at a task definition (`family`, `family:revision`, ARN).

use crate::arn::{AccountRegion, ResourceArn};

/// The longest cluster name or family ECS accepts.
pub const MAX_NAME_LEN: usize = 255;

/// True when `name` is 1–255 letters, digits, hyphens and underscores, the alphabet ECS allows
/// for cluster names and task definition families.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Resolves a `cluster` parameter (a short name or a full ARN) to a cluster name in `scope`.
/// `None` when the ARN belongs to another account or region, or is not a cluster ARN: such a
/// cluster can never be found here.
pub fn cluster_name_in(scope: &AccountRegion, reference: &str) -> Option<String> {
    if !reference.starts_with("arn:") {
        return Some(reference.to_owned());
    }
    match ResourceArn::parse(reference) {
        Ok(ResourceArn::Cluster { scope: s, name }) if &s == scope => Some(name),
        _ => None,
    }
}

/// How a request names a task definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskDefinitionRef {
    /// `family`: the latest ACTIVE revision.
    Latest {
        /// The family name.
        family: String,
    },
    /// `family:revision` or a full ARN.
    Revision {
        /// The family name.
        family: String,
        /// The revision number.
        revision: u32,
    },
}

/// Why a task definition reference cannot be resolved in this scope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskDefinitionRefError {
    /// Neither `family`, `family:revision` nor an ARN of this account and region.
    #[error(
        "'{0}' is not a task definition reference: use family, family:revision or a task definition ARN of this account and region"
    )]
    Invalid(String),
}

impl TaskDefinitionRef {
    /// Parses a reference in any of the forms ECS accepts.
    pub fn parse(scope: &AccountRegion, text: &str) -> Result<Self, TaskDefinitionRefError> {
        let invalid = || TaskDefinitionRefError::Invalid(text.to_owned());
        if text.starts_with("arn:") {
            return match ResourceArn::parse(text) {
                Ok(ResourceArn::TaskDefinition {
                    scope: s,
                    family,
                    revision,
                }) if &s == scope => Ok(Self::Revision { family, revision }),
                _ => Err(invalid()),
            };
        }
        match text.split_once(':') {
            None if is_valid_name(text) => Ok(Self::Latest {
                family: text.to_owned(),
            }),
            Some((family, revision)) if is_valid_name(family) => Ok(Self::Revision {
                family: family.to_owned(),
                revision: revision
                    .parse()
                    .ok()
                    .filter(|r| *r > 0)
                    .ok_or_else(invalid)?,
            }),
            _ => Err(invalid()),
        }
    }

    /// The family this reference points into.
    pub fn family(&self) -> &str {
        match self {
            Self::Latest { family } | Self::Revision { family, .. } => family,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> AccountRegion {
        AccountRegion::new("000000000000", "us-east-1")
    }

    #[test]
    fn names_follow_the_ecs_alphabet() {
        for (name, ok) in [
            ("default", true),
            ("web_app-2", true),
            ("", false),
            ("has space", false),
            ("a/b", false),
            ("dot.ted", false),
            (&"x".repeat(255), true),
            (&"x".repeat(256), false),
        ] {
            assert_eq!(is_valid_name(name), ok, "{name}");
        }
    }

    #[test]
    fn task_definition_references() {
        use TaskDefinitionRef::*;
        let s = scope();
        let cases: &[(&str, Option<TaskDefinitionRef>)] = &[
            (
                "web",
                Some(Latest {
                    family: "web".into(),
                }),
            ),
            (
                "web:3",
                Some(Revision {
                    family: "web".into(),
                    revision: 3,
                }),
            ),
            (
                "arn:aws:ecs:us-east-1:000000000000:task-definition/web:7",
                Some(Revision {
                    family: "web".into(),
                    revision: 7,
                }),
            ),
            (
                "arn:aws:ecs:eu-west-1:000000000000:task-definition/web:7",
                None,
            ),
            ("web:0", None),
            ("web:x", None),
            ("we b", None),
            (":3", None),
        ];
        for (text, expected) in cases {
            assert_eq!(TaskDefinitionRef::parse(&s, text).ok(), *expected, "{text}");
        }
    }

    #[test]
    fn cluster_references() {
        let s = scope();
        assert_eq!(cluster_name_in(&s, "web").as_deref(), Some("web"));
        assert_eq!(
            cluster_name_in(&s, "arn:aws:ecs:us-east-1:000000000000:cluster/web").as_deref(),
            Some("web")
        );
        assert_eq!(
            cluster_name_in(&s, "arn:aws:ecs:us-west-2:000000000000:cluster/web"),
            None
        );
    }
}

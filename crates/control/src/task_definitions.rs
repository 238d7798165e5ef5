//! Task definitions: RegisterTaskDefinition, DescribeTaskDefinition, ListTaskDefinitions,
//! ListTaskDefinitionFamilies, DeregisterTaskDefinition and DeleteTaskDefinitions.
//!
//! Revisions count up per family from 1 and are never reused, even after deletion. Each
//! registration claims its revision with a create-only compare-and-swap, so two control planes
//! sharing one store can never hand out the same revision; within one process an allocator
//! hands concurrent registrations distinct numbers up front so they commit in one batch
//! instead of retrying against each other.

use std::collections::HashMap;
use std::sync::Mutex;

use berth_model::names::{self, TaskDefinitionRef, TaskDefinitionRefError};
use berth_model::shapes::{
    Failure, Tag, TaskDefinition, TaskDefinitionFamilyStatus, TaskDefinitionStatus,
};
use berth_model::tags::{self, TagError};
use berth_model::task_definition::{self, TaskDefinitionError};
use berth_model::{AccountRegion, Timestamp};
use berth_store::{Compare, KeyRange, KeyValue, Op, StoreError, Txn};

use crate::Ecs;
use crate::cas::{Attempt, retry_cas};
use crate::keys;
use crate::paging::{Page, PageError, PageRequest};
use crate::records::{self, CorruptRecord, TaskDefinitionRecord};

const LIST_LIMIT: usize = 100;
const DELETE_LIMIT: usize = 10;

/// Why a task definition operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TaskDefinitionOpError {
    /// The definition breaks an ECS or Fargate rule.
    #[error(transparent)]
    Invalid(#[from] TaskDefinitionError),
    /// Bad tags.
    #[error(transparent)]
    Tags(#[from] TagError),
    /// The reference is not `family`, `family:revision` or an ARN.
    #[error(transparent)]
    Reference(#[from] TaskDefinitionRefError),
    /// Nothing registered under that reference.
    #[error("Unable to describe task definition: '{0}' does not exist.")]
    NotFound(String),
    /// Deregister/delete need an exact revision.
    #[error(
        "'{0}' names a family without a revision; give family:revision or a task definition ARN."
    )]
    RevisionRequired(String),
    /// Too many task definitions in one DeleteTaskDefinitions call.
    #[error("DeleteTaskDefinitions takes 1 to 10 task definitions; {0} were given.")]
    DeleteCount(usize),
    /// Bad paging parameters.
    #[error(transparent)]
    Page(#[from] PageError),
    /// Could not claim a revision under sustained contention.
    #[error("Too many concurrent registrations for this family; try again.")]
    Contended,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored record is unreadable.
    #[error(transparent)]
    Corrupt(#[from] CorruptRecord),
}

/// A registered revision and its tags.
#[derive(Debug, Clone)]
pub struct Registered {
    /// The task definition as ECS describes it.
    pub definition: TaskDefinition,
    /// Its tags.
    pub tags: Vec<Tag>,
}

/// ListTaskDefinitions' filters.
#[derive(Debug, Clone, Default)]
pub struct ListTaskDefinitionsQuery {
    /// Exact family (ECS calls it `familyPrefix`, but matches the whole name).
    pub family: Option<String>,
    /// ACTIVE unless given.
    pub status: Option<TaskDefinitionStatus>,
    /// Newest first.
    pub descending: bool,
}

/// ListTaskDefinitionFamilies' status filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FamilyStatusFilter {
    /// Families with an ACTIVE revision.
    Active,
    /// Families without one.
    Inactive,
    /// Both.
    All,
}

impl From<Option<TaskDefinitionFamilyStatus>> for FamilyStatusFilter {
    fn from(status: Option<TaskDefinitionFamilyStatus>) -> Self {
        match status {
            Some(TaskDefinitionFamilyStatus::Active) => Self::Active,
            Some(TaskDefinitionFamilyStatus::Inactive) => Self::Inactive,
            Some(TaskDefinitionFamilyStatus::All) | None => Self::All,
        }
    }
}

/// What DeleteTaskDefinitions did.
#[derive(Debug, Clone, Default)]
pub struct DeleteOutcome {
    /// Definitions now DELETE_IN_PROGRESS.
    pub deleted: Vec<TaskDefinition>,
    /// The ones that could not be deleted, and why.
    pub failures: Vec<Failure>,
}

/// Hands out the next revision of each family without a store round trip.
#[derive(Default)]
pub struct RevisionAllocator {
    next: Mutex<HashMap<String, u32>>,
}

impl RevisionAllocator {
    fn claim(&self, family_key: &str, at_least: u32) -> u32 {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let slot = next.entry(family_key.to_owned()).or_insert(at_least);
        let revision = (*slot).max(at_least);
        *slot = revision + 1;
        revision
    }
}

impl Ecs {
    /// RegisterTaskDefinition: validates `draft`, gives it the family's next revision and
    /// stores it ACTIVE.
    pub async fn register_task_definition(
        &self,
        scope: &AccountRegion,
        mut draft: TaskDefinition,
        tags: Vec<Tag>,
    ) -> Result<Registered, TaskDefinitionOpError> {
        task_definition::validate_and_normalize(&mut draft, self.registration)?;
        tags::validate(&tags)?;
        if tags.len() > tags::MAX_TAGS {
            return Err(TagError::TooMany(tags.len()).into());
        }
        let family = draft.family.clone().unwrap_or_default();
        let family_key = keys::family(scope, &family);
        let mut retrying = false;
        retry_cas(
            || {
                let retry = std::mem::replace(&mut retrying, true);
                let (draft, tags, family, family_key) = (&draft, &tags, &family, &family_key);
                async move {
                    // Another writer (a restart, or a second control plane) took the revision
                    // the last attempt claimed: continue after the family's newest stored one.
                    let at_least = if retry {
                        self.newest_revision(scope, family).await? + 1
                    } else {
                        1
                    };
                    let revision = self.revisions.claim(family_key, at_least);
                    let mut definition = draft.clone();
                    definition.task_definition_arn =
                        Some(scope.task_definition_arn(family, revision));
                    definition.revision = Some(revision as i32);
                    definition.status = Some(TaskDefinitionStatus::Active);
                    definition.registered_at = Some(Timestamp::now());
                    definition.registered_by =
                        Some(format!("arn:aws:iam::{}:root", scope.account_id));
                    let record = TaskDefinitionRecord {
                        definition,
                        tags: tags.clone(),
                    };
                    let key = keys::task_definition(scope, family, revision);
                    let txn = Txn {
                        compares: vec![Compare::absent(key.as_str())],
                        success: vec![Op::put(key, records::encode(&record))],
                        failure: vec![],
                    };
                    if !self.store.txn(txn).await?.succeeded {
                        return Ok(Attempt::Lost);
                    }
                    tracing::debug!(family = %family, revision, "task definition registered");
                    Ok(Attempt::Done(Registered {
                        definition: record.definition,
                        tags: record.tags,
                    }))
                }
            },
            TaskDefinitionOpError::Contended,
        )
        .await
    }

    /// DescribeTaskDefinition: `family` means its newest ACTIVE revision.
    pub async fn describe_task_definition(
        &self,
        scope: &AccountRegion,
        reference: &str,
    ) -> Result<Registered, TaskDefinitionOpError> {
        let (record, _) = self.find(scope, reference).await?;
        Ok(Registered {
            definition: record.definition,
            tags: record.tags,
        })
    }

    /// ListTaskDefinitions: ARNs by family then revision.
    pub async fn list_task_definitions(
        &self,
        scope: &AccountRegion,
        query: &ListTaskDefinitionsQuery,
        page: &PageRequest,
    ) -> Result<Page<String>, TaskDefinitionOpError> {
        let prefix = match &query.family {
            // A family outside the ECS alphabet matches nothing (and must not be read as a
            // key prefix such as `a#`).
            Some(family) if !names::is_valid_name(family) => return Ok(Page::empty()),
            Some(family) => keys::family(scope, family),
            None => keys::task_definitions(scope),
        };
        let status = query.status.unwrap_or(TaskDefinitionStatus::Active);
        let mut matching = Vec::new();
        for kv in self.store.range(KeyRange::prefix(prefix), None).await?.kvs {
            let record: TaskDefinitionRecord = records::decode(&kv)?;
            if record.definition.status == Some(status) {
                matching.push((
                    kv.key,
                    record.definition.task_definition_arn.unwrap_or_default(),
                ));
            }
        }
        if query.descending {
            matching.reverse();
        }
        let page = page.apply(matching, |(key, _)| key, query.descending, LIST_LIMIT)?;
        Ok(Page {
            items: page.items.into_iter().map(|(_, arn)| arn).collect(),
            next_token: page.next_token,
        })
    }

    /// ListTaskDefinitionFamilies: family names starting with `prefix`.
    pub async fn list_task_definition_families(
        &self,
        scope: &AccountRegion,
        prefix: Option<&str>,
        status: FamilyStatusFilter,
        page: &PageRequest,
    ) -> Result<Page<String>, TaskDefinitionOpError> {
        let prefix = prefix.unwrap_or_default();
        if !prefix.is_empty() && !names::is_valid_name(prefix) {
            return Ok(Page::empty());
        }
        let range = KeyRange::prefix(keys::families_starting_with(scope, prefix));
        // (family, has an ACTIVE revision), in family order thanks to the key layout.
        let mut families: Vec<(String, bool)> = Vec::new();
        for kv in self.store.range(range, None).await?.kvs {
            let record: TaskDefinitionRecord = records::decode(&kv)?;
            let family = record.definition.family.unwrap_or_default();
            let active = record.definition.status == Some(TaskDefinitionStatus::Active);
            match families.last_mut() {
                Some((last, any_active)) if *last == family => *any_active |= active,
                _ => families.push((family, active)),
            }
        }
        families.retain(|(_, active)| match status {
            FamilyStatusFilter::Active => *active,
            FamilyStatusFilter::Inactive => !*active,
            FamilyStatusFilter::All => true,
        });
        let page = page.apply(families, |(family, _)| family.as_bytes(), false, LIST_LIMIT)?;
        Ok(Page {
            items: page.items.into_iter().map(|(family, _)| family).collect(),
            next_token: page.next_token,
        })
    }

    /// DeregisterTaskDefinition: the revision becomes INACTIVE.
    pub async fn deregister_task_definition(
        &self,
        scope: &AccountRegion,
        reference: &str,
    ) -> Result<TaskDefinition, TaskDefinitionOpError> {
        self.require_revision(scope, reference)?;
        let record = self
            .modify(scope, reference, |record| {
                if record.definition.status == Some(TaskDefinitionStatus::Active) {
                    record.definition.status = Some(TaskDefinitionStatus::Inactive);
                    record.definition.deregistered_at = Some(Timestamp::now());
                }
                Ok(())
            })
            .await?;
        Ok(record.definition)
    }

    /// DeleteTaskDefinitions: INACTIVE revisions become DELETE_IN_PROGRESS; the rest are
    /// reported as failures, as ECS does.
    pub async fn delete_task_definitions(
        &self,
        scope: &AccountRegion,
        references: &[String],
    ) -> Result<DeleteOutcome, TaskDefinitionOpError> {
        if references.is_empty() || references.len() > DELETE_LIMIT {
            return Err(TaskDefinitionOpError::DeleteCount(references.len()));
        }
        let mut outcome = DeleteOutcome::default();
        for reference in references {
            let fail = |reason: &str| Failure {
                arn: Some(reference.clone()),
                reason: Some(reason.to_owned()),
                detail: None,
            };
            if self.require_revision(scope, reference).is_err() {
                outcome.failures.push(fail(
                    "The task definition must be given as family:revision or an ARN.",
                ));
                continue;
            }
            let status = match self.find(scope, reference).await {
                Ok((record, _)) => record.definition.status,
                Err(TaskDefinitionOpError::NotFound(_) | TaskDefinitionOpError::Reference(_)) => {
                    outcome
                        .failures
                        .push(fail("The specified task definition does not exist."));
                    continue;
                }
                Err(other) => return Err(other),
            };
            // A revision never becomes ACTIVE again, so this check cannot go stale.
            if status == Some(TaskDefinitionStatus::Active) {
                outcome.failures.push(fail(
                    "The specified task definition is still in ACTIVE status. Please deregister the target and try again.",
                ));
                continue;
            }
            let record = self
                .modify(scope, reference, |record| {
                    if record.definition.status != Some(TaskDefinitionStatus::DeleteInProgress) {
                        record.definition.status = Some(TaskDefinitionStatus::DeleteInProgress);
                        record.definition.delete_requested_at = Some(Timestamp::now());
                    }
                    Ok(())
                })
                .await?;
            outcome.deleted.push(record.definition);
        }
        Ok(outcome)
    }

    /// Replaces a revision's tags (TagResource/UntagResource go through here).
    pub(crate) async fn modify_task_definition_tags(
        &self,
        scope: &AccountRegion,
        reference: &str,
        change: impl Fn(&[Tag]) -> Result<Vec<Tag>, TagError>,
    ) -> Result<Vec<Tag>, TaskDefinitionOpError> {
        let record = self
            .modify(scope, reference, |record| {
                record.tags = change(&record.tags)?;
                Ok(())
            })
            .await?;
        Ok(record.tags)
    }

    fn require_revision(
        &self,
        scope: &AccountRegion,
        reference: &str,
    ) -> Result<(), TaskDefinitionOpError> {
        match TaskDefinitionRef::parse(scope, reference)? {
            TaskDefinitionRef::Latest { .. } => Err(TaskDefinitionOpError::RevisionRequired(
                reference.to_owned(),
            )),
            TaskDefinitionRef::Revision { .. } => Ok(()),
        }
    }

    /// The record a reference points at, with its key-value for a later compare-and-swap.
    async fn find(
        &self,
        scope: &AccountRegion,
        reference: &str,
    ) -> Result<(TaskDefinitionRecord, KeyValue), TaskDefinitionOpError> {
        let not_found = || TaskDefinitionOpError::NotFound(reference.to_owned());
        match TaskDefinitionRef::parse(scope, reference)? {
            TaskDefinitionRef::Revision { family, revision } => {
                let key = keys::task_definition(scope, &family, revision);
                let kv = self
                    .store
                    .range(KeyRange::key(key), None)
                    .await?
                    .kvs
                    .pop()
                    .ok_or_else(not_found)?;
                Ok((records::decode(&kv)?, kv))
            }
            TaskDefinitionRef::Latest { family } => {
                let all = self
                    .store
                    .range(KeyRange::prefix(keys::family(scope, &family)), None)
                    .await?;
                for kv in all.kvs.into_iter().rev() {
                    let record: TaskDefinitionRecord = records::decode(&kv)?;
                    if record.definition.status == Some(TaskDefinitionStatus::Active) {
                        return Ok((record, kv));
                    }
                }
                Err(not_found())
            }
        }
    }

    /// Reads the revision `reference` points at, applies `change`, and writes it back if
    /// nobody wrote it in between (else starts over). Nothing is written when `change` leaves
    /// the record as it was.
    async fn modify(
        &self,
        scope: &AccountRegion,
        reference: &str,
        change: impl Fn(&mut TaskDefinitionRecord) -> Result<(), TaskDefinitionOpError>,
    ) -> Result<TaskDefinitionRecord, TaskDefinitionOpError> {
        retry_cas(
            || async {
                let (mut record, kv) = self.find(scope, reference).await?;
                change(&mut record)?;
                let value = records::encode(&record);
                if value == kv.value {
                    return Ok(Attempt::Done(record));
                }
                let txn = Txn {
                    compares: vec![Compare::unchanged_since(kv.key.clone(), kv.mod_revision)],
                    success: vec![Op::put(kv.key, value)],
                    failure: vec![],
                };
                let committed = self.store.txn(txn).await?.succeeded;
                Ok(Attempt::committed(committed, record))
            },
            TaskDefinitionOpError::Contended,
        )
        .await
    }

    async fn newest_revision(
        &self,
        scope: &AccountRegion,
        family: &str,
    ) -> Result<u32, TaskDefinitionOpError> {
        let all = self
            .store
            .range(KeyRange::prefix(keys::family(scope, family)), None)
            .await?;
        match all.kvs.last() {
            Some(kv) => Ok(records::decode::<TaskDefinitionRecord>(kv)?
                .definition
                .revision
                .unwrap_or(0)
                .max(0) as u32),
            None => Ok(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use berth_model::restrictions::{FargateRule, Refusal, RegistrationPolicy};
    use serde_json::{Value, json};

    use super::*;
    use crate::testing::{scope, store};

    /// A Fargate definition of `family` whose one container `app` has `container`'s members
    /// besides its name and image, and `volumes`.
    fn definition(family: &str, container: Value, volumes: Value) -> TaskDefinition {
        let mut app = json!({"name": "app", "image": "busybox"});
        app.as_object_mut()
            .unwrap()
            .extend(container.as_object().cloned().unwrap_or_default());
        serde_json::from_value(json!({
            "family": family,
            "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"],
            "cpu": "256",
            "memory": "512",
            "containerDefinitions": [app],
            "volumes": volumes,
        }))
        .expect("a task definition")
    }

    /// What `berth up --allow-privileged` lets through: the three things it names.
    fn privileged_asks() -> Vec<(&'static str, TaskDefinition)> {
        vec![
            (
                "privileged",
                definition("p", json!({"privileged": true}), json!([])),
            ),
            (
                "sysadmin",
                definition(
                    "p",
                    json!({"linuxParameters": {"capabilities": {"add": ["SYS_ADMIN", "ALL"]}}}),
                    json!([]),
                ),
            ),
            (
                "host root",
                definition(
                    "p",
                    json!({"mountPoints": [{"sourceVolume": "root", "containerPath": "/host"}]}),
                    json!([{"name": "root", "host": {"sourcePath": "/"}}]),
                ),
            ),
        ]
    }

    #[tokio::test]
    async fn privileged_asks_are_refused_and_nothing_is_stored() {
        let (_dir, store) = store();
        let ecs = Ecs::new(store);
        for (case, definition) in privileged_asks() {
            let refused = ecs
                .register_task_definition(&scope(), definition, vec![])
                .await;
            assert!(
                matches!(
                    refused,
                    Err(TaskDefinitionOpError::Invalid(
                        TaskDefinitionError::Refused(Refusal::Fargate {
                            requires_fargate: true,
                            ..
                        })
                    ))
                ),
                "{case}: {refused:?}"
            );
        }
        let families = ecs
            .list_task_definition_families(
                &scope(),
                None,
                FamilyStatusFilter::All,
                &PageRequest::default(),
            )
            .await
            .unwrap();
        assert!(families.items.is_empty());
    }

    #[tokio::test]
    async fn allow_privileged_accepts_them_as_given() {
        let (_dir, store) = store();
        let ecs = Ecs::new(store).with_registration(RegistrationPolicy {
            allow_privileged: true,
        });
        for (case, definition) in privileged_asks() {
            let registered = ecs
                .register_task_definition(&scope(), definition.clone(), vec![])
                .await
                .unwrap_or_else(|e| panic!("{case}: {e}"));
            let stored = ecs
                .describe_task_definition(
                    &scope(),
                    registered
                        .definition
                        .task_definition_arn
                        .as_deref()
                        .unwrap(),
                )
                .await
                .unwrap()
                .definition;
            let (asked, kept) = (
                &definition.container_definitions.as_ref().unwrap()[0],
                &stored.container_definitions.as_ref().unwrap()[0],
            );
            assert_eq!(kept.privileged, asked.privileged, "{case}");
            assert_eq!(kept.linux_parameters, asked.linux_parameters, "{case}");
            assert_eq!(stored.volumes, definition.volumes, "{case}");
        }
    }

    /// Everything else stays refused even on a trusted machine.
    #[tokio::test]
    async fn allow_privileged_lifts_nothing_else() {
        let (_dir, store) = store();
        let ecs = Ecs::new(store).with_registration(RegistrationPolicy {
            allow_privileged: true,
        });
        let cases = [
            (
                json!({"linuxParameters": {"devices": [{"hostPath": "/dev/mem"}]}}),
                "do not support devices",
            ),
            (
                json!({"dockerSecurityOptions": ["seccomp=unconfined"]}),
                "do not support dockerSecurityOptions",
            ),
            (
                json!({"systemControls": [{"namespace": "kernel.core_pattern", "value": "|/x"}]}),
                "not 'kernel.core_pattern'",
            ),
            (
                json!({"linuxParameters": {"sharedMemorySize": 64}}),
                "do not support sharedMemorySize",
            ),
        ];
        for (container, phrase) in cases {
            let refused = ecs
                .register_task_definition(&scope(), definition("q", container, json!([])), vec![])
                .await
                .unwrap_err();
            assert!(refused.to_string().contains(phrase), "{refused}");
        }
        let mut host_network = definition("q", json!({}), json!([]));
        host_network.requires_compatibilities = None;
        host_network.network_mode = Some(berth_model::shapes::NetworkMode::Host);
        let refused = ecs
            .register_task_definition(&scope(), host_network, vec![])
            .await;
        assert!(
            matches!(
                &refused,
                Err(TaskDefinitionOpError::Invalid(
                    TaskDefinitionError::Refused(Refusal::Fargate {
                        rule: FargateRule::NetworkMode(_),
                        requires_fargate: false,
                        ..
                    })
                ))
            ),
            "{refused:?}"
        );
    }

    /// A definition that does not require FARGATE is held to Fargate's rules all the same,
    /// and told how to opt out.
    #[tokio::test]
    async fn non_fargate_definitions_are_told_about_allow_privileged() {
        let (_dir, store) = store();
        let ecs = Ecs::new(store);
        let mut ec2 = definition("ec2", json!({"privileged": true}), json!([]));
        ec2.requires_compatibilities = None;
        let refused = ecs
            .register_task_definition(&scope(), ec2, vec![])
            .await
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains("berth runs every task as Fargate does")
                && refused.contains("'berth up --allow-privileged'"),
            "{refused}"
        );
    }
}

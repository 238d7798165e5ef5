//! Inline user policies: PutUserPolicy, GetUserPolicy, DeleteUserPolicy, ListUserPolicies.

use berth_model::policy::{MAX_USER_POLICY_CHARS, Policy, counted_chars};
use berth_store::{Compare, KeyRange, Op, Txn};

use super::records::UserPolicyRecord;
use super::users::no_such_user;
use super::{Iam, IamError, check_name};
use crate::cas::{Attempt, retry_cas};
use crate::keys;
use crate::records::{decode, encode};

/// Most characters in a policy name, as IAM allows.
const MAX_POLICY_NAME: usize = 128;

impl Iam {
    /// PutUserPolicy: adds or replaces `policy_name` of `user_name`.
    pub async fn put_user_policy(
        &self,
        account_id: &str,
        user_name: &str,
        policy_name: &str,
        document: &str,
    ) -> Result<(), IamError> {
        check_name("policyName", policy_name, MAX_POLICY_NAME)?;
        Policy::parse(document).map_err(|e| IamError::MalformedPolicyDocument(e.to_string()))?;
        retry_cas(
            || async move {
                let user_key = keys::user(account_id, user_name);
                let user = self.store.range(KeyRange::key(user_key.as_str()), None).await?;
                let Some(user) = user.kvs.into_iter().next() else {
                    return Err(no_such_user(user_name));
                };
                let others = self
                    .store
                    .range(KeyRange::prefix(keys::user_policies(account_id, user_name)), None)
                    .await?;
                let mut total = counted_chars(document);
                for kv in &others.kvs {
                    let stored: UserPolicyRecord = decode(kv)?;
                    if stored.policy_name != policy_name {
                        total += counted_chars(&stored.document);
                    }
                }
                if total > MAX_USER_POLICY_CHARS {
                    return Err(IamError::LimitExceeded(format!(
                        "Maximum policy size of {MAX_USER_POLICY_CHARS} bytes exceeded for user {user_name}"
                    )));
                }
                let record = UserPolicyRecord {
                    policy_name: policy_name.to_owned(),
                    user_name: user_name.to_owned(),
                    document: document.to_owned(),
                };
                // Rewriting the user's record guards the size check and DeleteUser alike.
                let committed = self
                    .store
                    .txn(Txn {
                        compares: vec![Compare::unchanged_since(user.key.clone(), user.mod_revision)],
                        success: vec![
                            Op::put(keys::user_policy(account_id, user_name, policy_name), encode(&record)),
                            Op::put(user.key.clone(), user.value.clone()),
                        ],
                        failure: vec![],
                    })
                    .await?
                    .succeeded;
                Ok(Attempt::committed(committed, ()))
            },
            IamError::Contended,
        )
        .await
    }

    /// GetUserPolicy: the document as it was put.
    pub async fn user_policy(
        &self,
        account_id: &str,
        user_name: &str,
        policy_name: &str,
    ) -> Result<String, IamError> {
        self.user(account_id, user_name).await?;
        let found = self
            .store
            .range(
                KeyRange::key(keys::user_policy(account_id, user_name, policy_name)),
                None,
            )
            .await?;
        match found.kvs.first() {
            Some(kv) => Ok(decode::<UserPolicyRecord>(kv)?.document),
            None => Err(no_such_policy(user_name, policy_name)),
        }
    }

    /// DeleteUserPolicy.
    pub async fn delete_user_policy(
        &self,
        account_id: &str,
        user_name: &str,
        policy_name: &str,
    ) -> Result<(), IamError> {
        self.user(account_id, user_name).await?;
        let key = keys::user_policy(account_id, user_name, policy_name);
        let deleted = self
            .store
            .txn(Txn {
                compares: vec![Compare {
                    key: key.clone().into_bytes(),
                    op: berth_store::CompareOp::Greater,
                    target: berth_store::CompareTarget::CreateRevision(0),
                }],
                success: vec![Op::Delete {
                    key: key.into_bytes(),
                }],
                failure: vec![],
            })
            .await?;
        if deleted.succeeded {
            Ok(())
        } else {
            Err(no_such_policy(user_name, policy_name))
        }
    }

    /// ListUserPolicies: the names, in order.
    pub async fn list_user_policies(
        &self,
        account_id: &str,
        user_name: &str,
    ) -> Result<Vec<String>, IamError> {
        self.user(account_id, user_name).await?;
        let found = self
            .store
            .range(
                KeyRange::prefix(keys::user_policies(account_id, user_name)),
                None,
            )
            .await?;
        found
            .kvs
            .iter()
            .map(|kv| Ok(decode::<UserPolicyRecord>(kv)?.policy_name))
            .collect()
    }
}

fn no_such_policy(user_name: &str, policy_name: &str) -> IamError {
    IamError::NoSuchEntity(format!(
        "The user policy with name {policy_name} cannot be found. (user {user_name})"
    ))
}

//! Accounts and who a request comes from: the first account and its administrator key made
//! at first start, more accounts made by that account's root, and [`Iam::resolve`], which
//! turns an access key id into everything a request is checked against.

use berth_model::Timestamp;
use berth_model::policy::Policy;
use berth_store::{Compare, KeyRange, Op, Txn};

use super::access_keys::{NewAccessKey, new_key_record};
use super::identity::{KeyIdentity, Principal};
use super::records::{AccountRecord, UserPolicyRecord, UserRecord};
use super::{Iam, IamError};
use crate::ids;
use crate::keys;
use crate::records::{decode, encode};

impl Iam {
    /// At first start: the first account, `account_id`, and an administrator key for its
    /// root. `None` when accounts exist already (the key was made by an earlier start).
    pub async fn bootstrap(&self, account_id: &str) -> Result<Option<NewAccessKey>, IamError> {
        let existing = self
            .store
            .range(KeyRange::prefix(keys::ACCOUNTS), Some(1))
            .await?;
        if !existing.kvs.is_empty() {
            return Ok(None);
        }
        self.make_account(account_id, true).await.map(Some)
    }

    /// A new account (`account_id`, or a fresh one) with an access key for its root.
    pub async fn create_account(&self, account_id: Option<&str>) -> Result<NewAccessKey, IamError> {
        let account_id = match account_id {
            Some(id) => id.to_owned(),
            None => ids::account_id()?,
        };
        self.make_account(&account_id, false).await
    }

    async fn make_account(
        &self,
        account_id: &str,
        management: bool,
    ) -> Result<NewAccessKey, IamError> {
        if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IamError::InvalidInput(format!(
                "Account id '{account_id}' must be 12 digits."
            )));
        }
        let record = AccountRecord {
            account_id: account_id.to_owned(),
            created_at: Timestamp::now(),
            management,
        };
        let (key, key_ops) = new_key_record(&self.sealer, account_id, None, None)?;
        let account_key = keys::account(account_id);
        let mut success = vec![Op::put(account_key.as_str(), encode(&record))];
        success.extend(key_ops);
        let result = self
            .store
            .txn(Txn {
                compares: vec![Compare::absent(account_key.as_str())],
                success,
                failure: vec![],
            })
            .await?;
        if !result.succeeded {
            return Err(IamError::EntityAlreadyExists(format!(
                "Account {account_id} already exists."
            )));
        }
        Ok(key)
    }

    /// Every account, in id order.
    pub async fn accounts(&self) -> Result<Vec<AccountRecord>, IamError> {
        let all = self
            .store
            .range(KeyRange::prefix(keys::ACCOUNTS), None)
            .await?;
        Ok(all.kvs.iter().map(decode).collect::<Result<_, _>>()?)
    }

    /// Who `access_key_id` belongs to, or `None` when no such key exists.
    pub async fn resolve(&self, access_key_id: &str) -> Result<Option<KeyIdentity>, IamError> {
        let Some((record, key)) = self.key_record(access_key_id).await? else {
            return Ok(None);
        };
        let account = self
            .store
            .range(KeyRange::key(keys::account(&record.account_id)), None)
            .await?;
        let Some(account) = account.kvs.first() else {
            return Ok(None);
        };
        let account: AccountRecord = decode(account)?;
        let secret = self.sealer.open(&record.sealed_secret, &key)?;
        let secret_access_key =
            String::from_utf8(secret).map_err(|_| crate::sealing::SealError::Open)?;
        let (principal, user_id, arn, policies) = match &record.user_name {
            None => (
                Principal::Root,
                record.account_id.clone(),
                format!("arn:aws:iam::{}:root", record.account_id),
                Vec::new(),
            ),
            Some(name) => {
                let user = self
                    .store
                    .range(KeyRange::key(keys::user(&record.account_id, name)), None)
                    .await?;
                let Some(user) = user.kvs.first() else {
                    return Ok(None);
                };
                let user: UserRecord = decode(user)?;
                let documents = self
                    .store
                    .range(
                        KeyRange::prefix(keys::user_policies(&record.account_id, name)),
                        None,
                    )
                    .await?;
                let mut policies = Vec::new();
                for kv in &documents.kvs {
                    let stored: UserPolicyRecord = decode(kv)?;
                    // Stored documents were parsed when put; one that no longer parses (a
                    // newer berth's grammar) grants nothing rather than failing every call.
                    if let Ok(policy) = Policy::parse(&stored.document) {
                        policies.push(policy);
                    }
                }
                (
                    Principal::User(user.user_name),
                    user.user_id,
                    user.arn,
                    policies,
                )
            }
        };
        let session = record.session.as_ref().and_then(|s| {
            let hash = unhex_sha256(&s.token_sha256)?;
            Some((hash, s.expiration))
        });
        Ok(Some(KeyIdentity {
            access_key_id: record.access_key_id,
            account_id: record.account_id,
            principal,
            user_id,
            arn,
            secret_access_key,
            active: record.status == "Active",
            session,
            policies,
            management_account: account.management,
        }))
    }
}

/// The 32 bytes of a hex SHA-256 as stored.
fn unhex_sha256(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let pair = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}

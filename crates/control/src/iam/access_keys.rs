//! Access keys: long-term keys of a root or user (CreateAccessKey, DeleteAccessKey,
//! ListAccessKeys) and temporary ones with a session token (GetSessionToken).

use berth_model::Timestamp;
use berth_store::{Compare, KeyRange, Op, Txn};
use ring::digest;

use super::identity::{KeyIdentity, Principal};
use super::records::{AccessKeyRecord, SessionRecord};
use super::{ACCESS_KEYS_PER_PRINCIPAL, Iam, IamError};
use crate::cas::{Attempt, retry_cas};
use crate::ids;
use crate::keys;
use crate::records::{decode, encode};
use crate::sealing::Sealer;

/// A key just made: the only time its secret is given out.
#[derive(Clone, PartialEq)]
pub struct NewAccessKey {
    /// The account it acts in.
    pub account_id: String,
    /// The user it belongs to; `None` for root.
    pub user_name: Option<String>,
    /// `AKIA...`.
    pub access_key_id: String,
    /// The secret.
    pub secret_access_key: String,
    /// When it was made.
    pub create_date: Timestamp,
}

impl std::fmt::Debug for NewAccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAccessKey")
            .field("account_id", &self.account_id)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// What ListAccessKeys gives of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKeyMetadata {
    /// The user; `None` for root.
    pub user_name: Option<String>,
    /// `AKIA...`.
    pub access_key_id: String,
    /// `Active` or `Inactive`.
    pub status: String,
    /// When it was made.
    pub create_date: Timestamp,
}

/// GetSessionToken's answer.
#[derive(Clone, PartialEq)]
pub struct SessionCredentials {
    /// `ASIA...`.
    pub access_key_id: String,
    /// The secret.
    pub secret_access_key: String,
    /// The token every request with the key must carry.
    pub session_token: String,
    /// When the key stops working.
    pub expiration: Timestamp,
}

impl std::fmt::Debug for SessionCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCredentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// A new long-term key for `user_name` (root when `None`), `session` making it temporary:
/// the key and the writes that store it with its principal's index entry.
pub(super) fn new_key_record(
    sealer: &Sealer,
    account_id: &str,
    user_name: Option<&str>,
    session: Option<SessionRecord>,
) -> Result<(NewAccessKey, Vec<Op>), IamError> {
    let prefix = if session.is_some() { "ASIA" } else { "AKIA" };
    let access_key_id = ids::access_key_id(prefix)?;
    let secret_access_key = ids::secret_access_key()?;
    let key = keys::access_key(&access_key_id);
    let record = AccessKeyRecord {
        access_key_id: access_key_id.clone(),
        account_id: account_id.to_owned(),
        user_name: user_name.map(str::to_owned),
        sealed_secret: sealer.seal(secret_access_key.as_bytes(), &key)?,
        status: "Active".into(),
        create_date: Timestamp::now(),
        session,
    };
    let mut ops = vec![Op::put(key.as_str(), encode(&record))];
    // Temporary keys are not listed as the principal's keys (IAM does not list them either).
    if record.session.is_none() {
        ops.push(Op::put(
            keys::principal_key(account_id, user_name, &access_key_id),
            access_key_id.as_bytes().to_vec(),
        ));
    }
    Ok((
        NewAccessKey {
            account_id: account_id.to_owned(),
            user_name: user_name.map(str::to_owned),
            access_key_id,
            secret_access_key,
            create_date: record.create_date,
        },
        ops,
    ))
}

impl Iam {
    /// The stored record of `access_key_id`, with its key.
    pub(super) async fn key_record(
        &self,
        access_key_id: &str,
    ) -> Result<Option<(AccessKeyRecord, String)>, IamError> {
        let key = keys::access_key(access_key_id);
        let found = self.store.range(KeyRange::key(key.as_str()), None).await?;
        match found.kvs.first() {
            Some(kv) => Ok(Some((decode(kv)?, key))),
            None => Ok(None),
        }
    }

    /// CreateAccessKey for `user_name` (the caller's root when `None`).
    pub async fn create_access_key(
        &self,
        account_id: &str,
        user_name: Option<&str>,
    ) -> Result<NewAccessKey, IamError> {
        retry_cas(
            || async move {
                // The owner's record guards its keys: every new key rewrites it, and compares
                // that nobody else did meanwhile, so two creates cannot both pass the quota and
                // a DeleteUser cannot slip between the check and the write.
                let owner = self.owner_record(account_id, user_name).await?;
                let existing = self
                    .store
                    .range(
                        KeyRange::prefix(keys::principal_keys(account_id, user_name)),
                        None,
                    )
                    .await?;
                if existing.kvs.len() >= ACCESS_KEYS_PER_PRINCIPAL {
                    return Err(IamError::LimitExceeded(format!(
                        "Cannot exceed quota for AccessKeysPerUser: {ACCESS_KEYS_PER_PRINCIPAL}"
                    )));
                }
                let (key, mut ops) = new_key_record(&self.sealer, account_id, user_name, None)?;
                ops.push(Op::put(owner.key.clone(), owner.value.clone()));
                let compares = vec![
                    Compare::unchanged_since(owner.key.clone(), owner.mod_revision),
                    Compare::absent(keys::access_key(&key.access_key_id)),
                ];
                let committed = self
                    .store
                    .txn(Txn {
                        compares,
                        success: ops,
                        failure: vec![],
                    })
                    .await?
                    .succeeded;
                Ok(Attempt::committed(committed, key))
            },
            IamError::Contended,
        )
        .await
    }

    /// The record that owns `user_name`'s keys: the user's, or the account's for root.
    async fn owner_record(
        &self,
        account_id: &str,
        user_name: Option<&str>,
    ) -> Result<berth_store::KeyValue, IamError> {
        let key = match user_name {
            Some(name) => keys::user(account_id, name),
            None => keys::account(account_id),
        };
        let found = self.store.range(KeyRange::key(key.as_str()), None).await?;
        found.kvs.into_iter().next().ok_or_else(|| match user_name {
            Some(name) => super::users::no_such_user(name),
            None => IamError::NoSuchEntity(format!("Account {account_id} cannot be found.")),
        })
    }

    /// DeleteAccessKey of `user_name`'s key (root's when `None`).
    pub async fn delete_access_key(
        &self,
        account_id: &str,
        user_name: Option<&str>,
        access_key_id: &str,
    ) -> Result<(), IamError> {
        self.owner_record(account_id, user_name).await?;
        let not_found = || {
            IamError::NoSuchEntity(format!(
                "The Access Key with id {access_key_id} cannot be found."
            ))
        };
        let Some((record, key)) = self.key_record(access_key_id).await? else {
            return Err(not_found());
        };
        let owner_matches = record.account_id == account_id
            && record.user_name.as_deref().map(str::to_lowercase)
                == user_name.map(str::to_lowercase);
        if !owner_matches {
            return Err(not_found());
        }
        self.store
            .txn(Txn {
                compares: vec![],
                success: vec![
                    Op::Delete {
                        key: key.into_bytes(),
                    },
                    Op::Delete {
                        key: keys::principal_key(account_id, user_name, access_key_id).into_bytes(),
                    },
                ],
                failure: vec![],
            })
            .await?;
        Ok(())
    }

    /// ListAccessKeys of `user_name` (root's when `None`).
    pub async fn list_access_keys(
        &self,
        account_id: &str,
        user_name: Option<&str>,
    ) -> Result<Vec<AccessKeyMetadata>, IamError> {
        self.owner_record(account_id, user_name).await?;
        let index = self
            .store
            .range(
                KeyRange::prefix(keys::principal_keys(account_id, user_name)),
                None,
            )
            .await?;
        let mut out = Vec::new();
        for kv in &index.kvs {
            let id = String::from_utf8_lossy(&kv.value).into_owned();
            if let Some((record, _)) = self.key_record(&id).await? {
                out.push(AccessKeyMetadata {
                    user_name: record.user_name,
                    access_key_id: record.access_key_id,
                    status: record.status,
                    create_date: record.create_date,
                });
            }
        }
        Ok(out)
    }

    /// GetSessionToken: a temporary key of `caller`'s principal for `duration_secs`.
    pub async fn create_session(
        &self,
        caller: &KeyIdentity,
        duration_secs: i64,
    ) -> Result<SessionCredentials, IamError> {
        let session_token = format!(
            "berth/{}",
            ids::secret_access_key()? + &ids::secret_access_key()?
        );
        let expiration =
            Timestamp::from_millis(Timestamp::now().as_millis() + duration_secs * 1000);
        let session = SessionRecord {
            token_sha256: hex(digest::digest(&digest::SHA256, session_token.as_bytes()).as_ref()),
            expiration,
        };
        let user_name = match &caller.principal {
            Principal::Root => None,
            Principal::User(name) => Some(name.as_str()),
        };
        let (key, ops) =
            new_key_record(&self.sealer, &caller.account_id, user_name, Some(session))?;
        self.store
            .txn(Txn {
                compares: vec![],
                success: ops,
                failure: vec![],
            })
            .await?;
        Ok(SessionCredentials {
            access_key_id: key.access_key_id,
            secret_access_key: key.secret_access_key,
            session_token,
            expiration,
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

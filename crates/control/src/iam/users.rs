//! IAM users: CreateUser, GetUser, ListUsers, DeleteUser.

use berth_model::Timestamp;
use berth_store::{Compare, KeyRange, Op, Txn};

use super::records::UserRecord;
use super::{Iam, IamError, check_name};
use crate::ids;
use crate::keys;
use crate::records::{decode, encode};

/// Most characters in a user name, as IAM allows.
const MAX_USER_NAME: usize = 64;

/// One page of ListUsers.
#[derive(Debug, Clone, PartialEq)]
pub struct UserPage {
    /// The users, by name.
    pub users: Vec<UserRecord>,
    /// Where the next page starts, when there is one.
    pub marker: Option<String>,
}

/// IAM's answer for a user that does not exist.
pub(super) fn no_such_user(name: &str) -> IamError {
    IamError::NoSuchEntity(format!("The user with name {name} cannot be found."))
}

/// IAM's path rule: `/`, or `/`-delimited, starting and ending in `/`, printable ASCII.
fn check_path(path: &str) -> Result<(), IamError> {
    let valid = path.starts_with('/')
        && path.ends_with('/')
        && path.len() <= 512
        && path.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if valid {
        Ok(())
    } else {
        Err(IamError::InvalidInput(format!(
            "The specified value for path is invalid. It must begin and end with / and contain only alphanumeric characters and/or / characters. ('{path}')"
        )))
    }
}

impl Iam {
    /// CreateUser.
    pub async fn create_user(
        &self,
        account_id: &str,
        user_name: &str,
        path: Option<&str>,
    ) -> Result<UserRecord, IamError> {
        check_name("userName", user_name, MAX_USER_NAME)?;
        let path = path.unwrap_or("/");
        check_path(path)?;
        let record = UserRecord {
            user_name: user_name.to_owned(),
            user_id: ids::iam_unique_id("AIDA")?,
            path: path.to_owned(),
            arn: format!("arn:aws:iam::{account_id}:user{path}{user_name}"),
            create_date: Timestamp::now(),
        };
        let key = keys::user(account_id, user_name);
        let created = self
            .store
            .txn(Txn {
                compares: vec![Compare::absent(key.as_str())],
                success: vec![Op::put(key.as_str(), encode(&record))],
                failure: vec![],
            })
            .await?;
        if !created.succeeded {
            return Err(IamError::EntityAlreadyExists(format!(
                "User with name {user_name} already exists."
            )));
        }
        Ok(record)
    }

    /// GetUser.
    pub async fn user(&self, account_id: &str, user_name: &str) -> Result<UserRecord, IamError> {
        let found = self
            .store
            .range(KeyRange::key(keys::user(account_id, user_name)), None)
            .await?;
        match found.kvs.first() {
            Some(kv) => Ok(decode(kv)?),
            None => Err(no_such_user(user_name)),
        }
    }

    /// ListUsers: those whose path starts with `path_prefix`, from after `marker`, at most
    /// `max_items`.
    pub async fn list_users(
        &self,
        account_id: &str,
        path_prefix: Option<&str>,
        marker: Option<&str>,
        max_items: usize,
    ) -> Result<UserPage, IamError> {
        let prefix = keys::users(account_id);
        let range = match marker {
            Some(marker) => KeyRange::prefix_after(prefix.as_str(), marker.as_bytes()),
            None => KeyRange::prefix(prefix.as_str()),
        };
        let all = self.store.range(range, None).await?;
        let mut users = Vec::new();
        let mut next = None;
        for kv in &all.kvs {
            let user: UserRecord = decode(kv)?;
            if !path_prefix.is_none_or(|p| user.path.starts_with(p)) {
                continue;
            }
            if users.len() == max_items {
                next = users
                    .last()
                    .map(|u: &UserRecord| u.user_name.to_lowercase());
                break;
            }
            users.push(user);
        }
        Ok(UserPage {
            users,
            marker: next,
        })
    }

    /// DeleteUser: only once its access keys and policies are gone, as IAM requires.
    pub async fn delete_user(&self, account_id: &str, user_name: &str) -> Result<(), IamError> {
        let key = keys::user(account_id, user_name);
        let found = self.store.range(KeyRange::key(key.as_str()), None).await?;
        let Some(user) = found.kvs.first() else {
            return Err(no_such_user(user_name));
        };
        let has = |prefix: String| async move {
            let found = self.store.range(KeyRange::prefix(prefix), Some(1)).await?;
            Ok::<_, IamError>(!found.kvs.is_empty())
        };
        if has(keys::principal_keys(account_id, Some(user_name))).await? {
            return Err(IamError::DeleteConflict(
                "Cannot delete entity, must delete access keys first.".into(),
            ));
        }
        if has(keys::user_policies(account_id, user_name)).await? {
            return Err(IamError::DeleteConflict(
                "Cannot delete entity, must delete policies first.".into(),
            ));
        }
        // Keys and policies rewrite the user's record when added: comparing on it makes the
        // checks above and the delete one decision.
        let deleted = self
            .store
            .txn(Txn {
                compares: vec![Compare::unchanged_since(key.as_str(), user.mod_revision)],
                success: vec![Op::Delete {
                    key: key.into_bytes(),
                }],
                failure: vec![],
            })
            .await?;
        if deleted.succeeded {
            Ok(())
        } else {
            Err(IamError::DeleteConflict(format!(
                "User {user_name} was changed while it was being deleted; try again."
            )))
        }
    }
}

//! Identity: accounts, IAM users, their access keys and inline policies — who may call
//! berth, in which account, allowed to do what.
//!
//! [`Iam`] is the control plane of IAM and of STS's GetSessionToken, over the same store as
//! ECS (keys in `keys.rs`). The API's authenticator resolves a request's access key id with
//! [`Iam::resolve`] into a [`KeyIdentity`]: the account, the principal, the secret to check
//! the signature with and the policies to authorize with.
//!
//! Secrets are sealed at rest (`sealing.rs`); a session token is kept only as its SHA-256.
//! Every write that adds or removes a thing and its index entries is one transaction, so a
//! `kill -9` never leaves a key without its owner or an owner with a dangling key.

mod access_keys;
mod accounts;
mod identity;
mod records;
mod user_policies;
mod users;

use std::sync::Arc;

use berth_store::{Store, StoreError};

use crate::ids::RandomError;
use crate::records::CorruptRecord;
use crate::sealing::{SealError, Sealer};

pub use access_keys::{AccessKeyMetadata, NewAccessKey, SessionCredentials};
pub use identity::{KeyIdentity, Principal};
pub use records::{AccountRecord, UserRecord};
pub use users::UserPage;

/// Most access keys per principal, as IAM allows.
pub const ACCESS_KEYS_PER_PRINCIPAL: usize = 2;

/// Why an IAM operation failed; each variant is one of IAM's error codes.
#[derive(Debug, Clone, thiserror::Error)]
pub enum IamError {
    /// `NoSuchEntity`.
    #[error("{0}")]
    NoSuchEntity(String),
    /// `EntityAlreadyExists`.
    #[error("{0}")]
    EntityAlreadyExists(String),
    /// `DeleteConflict`.
    #[error("{0}")]
    DeleteConflict(String),
    /// `LimitExceeded`.
    #[error("{0}")]
    LimitExceeded(String),
    /// `InvalidInput` / `ValidationError`.
    #[error("{0}")]
    InvalidInput(String),
    /// `MalformedPolicyDocument`.
    #[error("{0}")]
    MalformedPolicyDocument(String),
    /// Too many writers at once on one record.
    #[error("the identity records are being changed by other requests; try again")]
    Contended,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A record could not be decoded.
    #[error(transparent)]
    Corrupt(#[from] CorruptRecord),
    /// No random bytes for a new id or secret.
    #[error(transparent)]
    Random(#[from] RandomError),
    /// A secret could not be sealed or opened.
    #[error(transparent)]
    Seal(#[from] SealError),
}

/// The IAM control plane.
pub struct Iam {
    store: Arc<dyn Store>,
    sealer: Arc<Sealer>,
}

impl Iam {
    /// IAM over `store`, sealing secrets with `sealer`.
    pub fn new(store: Arc<dyn Store>, sealer: Arc<Sealer>) -> Self {
        Self { store, sealer }
    }
}

/// IAM's name rule for users and policies: `[\w+=,.@-]`, 1 to `max` characters.
fn check_name(kind: &str, name: &str, max: usize) -> Result<(), IamError> {
    let valid = !name.is_empty()
        && name.len() <= max
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(IamError::InvalidInput(format!(
            "1 validation error detected: Value '{name}' at '{kind}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+ and have length at most {max}"
        )))
    }
}

impl Iam {
    /// Every change to IAM's records from now on: what keeps a cache of identities true.
    pub async fn watch(&self) -> Result<berth_store::Watcher, IamError> {
        let range = berth_store::KeyRange::prefix(crate::keys::ALL_IAM);
        let now = self.store.range(range.clone(), Some(1)).await?;
        Ok(self.store.watch(range, now.revision + 1)?)
    }
}

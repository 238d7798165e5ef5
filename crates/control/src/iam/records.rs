//! What IAM stores under each of its keys, as JSON.

use berth_model::Timestamp;
use serde::{Deserialize, Serialize};

/// An account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountRecord {
    /// 12 digits.
    pub account_id: String,
    /// When it was made.
    pub created_at: Timestamp,
    /// The first account: its root may create accounts (as an AWS Organizations management
    /// account may).
    pub management: bool,
}

/// An IAM user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRecord {
    /// The name as given.
    pub user_name: String,
    /// `AIDA...`.
    pub user_id: String,
    /// `/` or `/division/`.
    pub path: String,
    /// `arn:aws:iam::ACCOUNT:user{path}{name}`.
    pub arn: String,
    /// When it was made.
    pub create_date: Timestamp,
}

/// An access key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AccessKeyRecord {
    pub access_key_id: String,
    pub account_id: String,
    /// The user it belongs to; `None` for the account's root.
    pub user_name: Option<String>,
    /// The secret, sealed for this record's key.
    pub sealed_secret: String,
    /// `Active` or `Inactive`.
    pub status: String,
    pub create_date: Timestamp,
    /// A temporary key's session.
    #[serde(default)]
    pub session: Option<SessionRecord>,
}

/// What makes an access key temporary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SessionRecord {
    /// Hex SHA-256 of the session token: the token itself is never stored.
    pub token_sha256: String,
    /// When the key stops working.
    pub expiration: Timestamp,
}

/// An inline user policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UserPolicyRecord {
    pub policy_name: String,
    pub user_name: String,
    /// The document as given.
    pub document: String,
}

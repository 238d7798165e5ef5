//! Who a request comes from, as the authenticator and the authorizer see it.

use berth_model::Timestamp;
use berth_model::policy::Policy;

/// Who holds an access key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The account's root: may do anything in its account.
    Root,
    /// An IAM user: may do what its policies allow.
    User(String),
}

/// Everything a request signed with one access key is checked against.
#[derive(Debug, Clone)]
pub struct KeyIdentity {
    /// The access key id.
    pub access_key_id: String,
    /// The account it acts in.
    pub account_id: String,
    /// Whose key it is.
    pub principal: Principal,
    /// `UserId` as GetCallerIdentity gives it: the account id for root, `AIDA...` for users.
    pub user_id: String,
    /// The principal's ARN.
    pub arn: String,
    /// The secret it signs with.
    pub secret_access_key: String,
    /// Whether it may be used (`Active`).
    pub active: bool,
    /// A temporary key's session: the token's SHA-256 and its expiry.
    pub session: Option<([u8; 32], Timestamp)>,
    /// The principal's inline policies (none for root, which needs none).
    pub policies: Vec<Policy>,
    /// Whether the account is the management account (its root may create accounts).
    pub management_account: bool,
}

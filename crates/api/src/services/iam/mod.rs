//! The IAM subset berth serves, in IAM's Query protocol as `aws iam` and the SDKs speak it
//! (`Action=...&Version=2010-05-08`, `<ActionResult>` answers with `<member>` lists):
//! CreateUser, GetUser, DeleteUser, ListUsers; CreateAccessKey, DeleteAccessKey,
//! ListAccessKeys; PutUserPolicy, GetUserPolicy, DeleteUserPolicy, ListUserPolicies. Every
//! action acts in the caller's own account; the decisions are `berth_control::iam`'s.

mod access_keys;
mod users;

use berth_control::iam::{Iam, Principal};

use crate::ApiState;
use crate::auth::Caller;
use crate::protocol::query::{Params, QueryError};
use crate::protocol::xml::Xml;
use crate::services::BoxFuture;

/// IAM's API version, the `Version` of its Query requests.
pub const VERSION: &str = "2010-05-08";
/// The `xmlns` of IAM's answers.
pub const NAMESPACE: &str = "https://iam.amazonaws.com/doc/2010-05-08/";

/// The registry's entry point ([`crate::services::QueryHandler`]).
pub fn serve<'a>(
    state: &'a ApiState,
    caller: &'a Caller,
    action: &'a str,
    params: &'a Params,
    out: &'a mut Xml,
) -> BoxFuture<'a, Result<(), QueryError>> {
    Box::pin(dispatch(&state.iam, caller, action, params, out))
}

async fn dispatch(
    iam: &Iam,
    caller: &Caller,
    action: &str,
    params: &Params,
    out: &mut Xml,
) -> Result<(), QueryError> {
    let account = caller.scope.account_id.as_str();
    match action {
        "CreateUser" => users::create(iam, account, params, out).await,
        "GetUser" => users::get(iam, caller, params, out).await,
        "DeleteUser" => users::delete(iam, account, params).await,
        "ListUsers" => users::list(iam, account, params, out).await,
        "CreateAccessKey" => access_keys::create(iam, caller, params, out).await,
        "DeleteAccessKey" => access_keys::delete(iam, caller, params).await,
        "ListAccessKeys" => access_keys::list(iam, caller, params, out).await,
        "PutUserPolicy" => users::put_policy(iam, account, params).await,
        "GetUserPolicy" => users::get_policy(iam, account, params, out).await,
        "DeleteUserPolicy" => users::delete_policy(iam, account, params).await,
        "ListUserPolicies" => users::list_policies(iam, account, params, out).await,
        other => Err(QueryError::invalid_action(other)),
    }
}

/// The user an access-key action is about: `UserName`, else the caller itself (IAM's rule:
/// a user manages its own keys without naming itself; root's are the account's).
fn key_owner<'a>(caller: &'a Caller, params: &'a Params) -> Option<&'a str> {
    if let Some(name) = params.get("UserName").filter(|n| !n.is_empty()) {
        return Some(name);
    }
    match caller.identity.as_deref().map(|i| &i.principal) {
        Some(Principal::User(name)) => Some(name.as_str()),
        _ => None,
    }
}

/// An ISO 8601 timestamp, as IAM writes dates.
fn date(timestamp: berth_model::Timestamp) -> String {
    berth_sigv4::AmzDate::from_epoch(timestamp.as_millis().div_euclid(1000)).iso8601()
}

/// `MaxItems`: 1 to 1000, 100 unless given.
fn max_items(params: &Params) -> Result<usize, QueryError> {
    match params.integer("MaxItems")? {
        None => Ok(100),
        Some(n @ 1..=1000) => Ok(n as usize),
        Some(n) => Err(QueryError::new(
            "ValidationError",
            format!(
                "1 validation error detected: Value '{n}' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 1000"
            ),
        )),
    }
}

/// The user an IAM action acts on, as IAM policies name it (`arn:aws:iam::ACCOUNT:user/NAME`):
/// `UserName`, else the caller's own user; `*` for account-wide actions (ListUsers).
pub fn resources(scope: &berth_model::AccountRegion, action: &str, params: &Params) -> Vec<String> {
    let named = params.get("UserName").filter(|n| !n.is_empty());
    let user = match action {
        "ListUsers" => None,
        _ => named,
    };
    match user {
        Some(name) => vec![format!("arn:aws:iam::{}:user/{name}", scope.account_id)],
        None => vec!["*".to_owned()],
    }
}

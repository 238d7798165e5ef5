//! Authorization: every request's action checked against its caller's identity policies
//! before it acts, as IAM decides within one account — an account's root may do anything in
//! it, a user only what its policies allow and none deny. Under `--auth none` every caller
//! is root.
//!
//! The action is the service's IAM prefix and the operation (`ecs:RunTask`); the resources
//! are what the service says the operation acts on (`services::Resources`), each of which
//! must be allowed.

use berth_control::iam::Principal;
use berth_model::policy::{Decision, evaluate};

use crate::auth::Caller;
use crate::error::{ApiError, ErrorCode};

/// Actions anyone with a valid key may perform, whatever the policies say: AWS answers
/// "who am I" for every caller.
const ALWAYS_ALLOWED: [&str; 1] = ["sts:GetCallerIdentity"];

/// Whether `caller` needs its policies checked at all (root and `--auth none` need not):
/// lets callers skip working out resources on the hot path.
pub fn needs_check(caller: &Caller) -> bool {
    caller
        .identity
        .as_deref()
        .is_some_and(|identity| identity.principal != Principal::Root)
}

/// Whether `caller` may perform `action` on every one of `resources`.
pub fn authorize(caller: &Caller, action: &str, resources: &[String]) -> Result<(), ApiError> {
    let Some(identity) = caller.identity.as_deref() else {
        return Ok(());
    };
    if identity.principal == Principal::Root || ALWAYS_ALLOWED.contains(&action) {
        return Ok(());
    }
    for resource in resources {
        let why = match evaluate(&identity.policies, action, resource) {
            Decision::Allow => continue,
            Decision::ExplicitDeny => {
                "with an explicit deny in an identity-based policy".to_owned()
            }
            Decision::ImplicitDeny => {
                format!("because no identity-based policy allows the {action} action")
            }
        };
        return Err(ApiError::new(
            ErrorCode::AccessDeniedException,
            format!(
                "User: {} is not authorized to perform: {action} on resource: {resource} {why}",
                identity.arn
            ),
        ));
    }
    Ok(())
}

/// What callers of berth's own routes (`/berth/v1/...`) need to be allowed: `berth:` and
/// the route's operation, or `None` for a path that is no route.
pub fn berth_action(method: &str, path: &str) -> Option<&'static str> {
    Some(match (method, path) {
        ("GET", "/berth/v1/info") => "berth:GetServerInfo",
        ("GET", "/berth/v1/images") => "berth:ListImages",
        ("POST", "/berth/v1/images/pull") => "berth:PullImage",
        ("POST", "/berth/v1/images/import") => "berth:ImportImage",
        ("POST", "/berth/v1/images/remove") => "berth:RemoveImage",
        ("POST", "/berth/v1/images/prune") => "berth:PruneImages",
        ("POST", "/berth/v1/tasks/logs") => "berth:GetTaskLogs",
        ("POST", "/berth/v1/tasks/wait") => "berth:WaitTasks",
        ("POST", "/berth/v1/accounts") => "berth:CreateAccount",
        _ => return None,
    })
}

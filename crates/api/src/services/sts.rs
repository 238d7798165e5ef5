//! The STS subset berth serves, in STS's Query protocol: GetCallerIdentity (who the caller's
//! key says it is) and GetSessionToken (a temporary key with a session token, for the
//! caller's own principal).

use crate::ApiState;
use crate::auth::Caller;
use crate::protocol::query::{Params, QueryError};
use crate::protocol::xml::Xml;
use crate::services::BoxFuture;

/// STS's API version.
pub const VERSION: &str = "2011-06-15";
/// The `xmlns` of STS's answers.
pub const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// GetSessionToken's bounds for `DurationSeconds`, and its default: 15 minutes to 36 hours,
/// 12 hours unless asked.
const SESSION_SECONDS: std::ops::RangeInclusive<i32> = 900..=129_600;
const DEFAULT_SESSION_SECONDS: i32 = 43_200;

/// The registry's entry point ([`crate::services::QueryHandler`]).
pub fn serve<'a>(
    state: &'a ApiState,
    caller: &'a Caller,
    action: &'a str,
    params: &'a Params,
    out: &'a mut Xml,
) -> BoxFuture<'a, Result<(), QueryError>> {
    Box::pin(async move {
        match action {
            "GetCallerIdentity" => {
                get_caller_identity(caller, out);
                Ok(())
            }
            "GetSessionToken" => get_session_token(state, caller, params, out).await,
            other => Err(QueryError::invalid_action(other)),
        }
    })
}

fn get_caller_identity(caller: &Caller, out: &mut Xml) {
    let account = &caller.scope.account_id;
    let (user_id, arn) = match caller.identity.as_deref() {
        Some(identity) => (identity.user_id.clone(), identity.arn.clone()),
        // `--auth none`: every caller is the account's root.
        None => (account.clone(), format!("arn:aws:iam::{account}:root")),
    };
    out.text("UserId", &user_id)
        .text("Account", account)
        .text("Arn", &arn);
}

async fn get_session_token(
    state: &ApiState,
    caller: &Caller,
    params: &Params,
    out: &mut Xml,
) -> Result<(), QueryError> {
    let Some(identity) = caller.identity.as_deref() else {
        return Err(QueryError::new(
            "InvalidClientTokenId",
            "berth up --auth none issues no credentials: there is no key to make a session of.",
        ));
    };
    if identity.session.is_some() {
        let mut error = QueryError::new(
            "AccessDenied",
            "Cannot call GetSessionToken with session credentials",
        );
        error.status = axum::http::StatusCode::FORBIDDEN;
        return Err(error);
    }
    let seconds = params
        .integer("DurationSeconds")?
        .unwrap_or(DEFAULT_SESSION_SECONDS);
    if !SESSION_SECONDS.contains(&seconds) {
        return Err(QueryError::new(
            "ValidationError",
            format!(
                "1 validation error detected: Value '{seconds}' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 129600"
            ),
        ));
    }
    let session = state
        .iam
        .create_session(identity, i64::from(seconds))
        .await?;
    let expiration =
        berth_sigv4::AmzDate::from_epoch(session.expiration.as_millis() / 1000).iso8601();
    out.element("Credentials", |xml| {
        xml.text("AccessKeyId", &session.access_key_id)
            .text("SecretAccessKey", &session.secret_access_key)
            .text("SessionToken", &session.session_token)
            .text("Expiration", &expiration);
    });
    Ok(())
}

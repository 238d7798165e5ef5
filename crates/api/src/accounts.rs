//! berth's own `POST /berth/v1/accounts`: a new account with an access key for its root, for
//! `berth account create`. Only the first account's root may make accounts (as only an AWS
//! Organizations management account may), and each account sees nothing of another's.

use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Response};
use berth_control::iam::{IamError, Principal};
use serde::Deserialize;
use serde_json::json;

use crate::ApiState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorCode};

/// What a caller may ask for.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateAccountInput {
    /// The new account's 12-digit id; a fresh one when absent.
    #[serde(default)]
    pub account_id: Option<String>,
}

/// `POST /berth/v1/accounts`.
pub async fn create(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    body: axum::body::Bytes,
) -> Response {
    match create_account(&state, &caller, &body).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn create_account(
    state: &ApiState,
    caller: &Caller,
    body: &[u8],
) -> Result<Response, ApiError> {
    let may = match caller.identity.as_deref() {
        Some(identity) => identity.management_account && identity.principal == Principal::Root,
        None => false,
    };
    if !may {
        return Err(ApiError::new(
            ErrorCode::AccessDeniedException,
            "Only the root of berth's first account may create accounts (its key is in \
             DATA_DIR/credentials, profile berth).",
        ));
    }
    let input: CreateAccountInput = if body.is_empty() {
        CreateAccountInput::default()
    } else {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::new(
                ErrorCode::SerializationException,
                format!("Invalid request: {e}"),
            )
        })?
    };
    let key = state
        .iam
        .create_account(input.account_id.as_deref())
        .await
        .map_err(|error| match error {
            IamError::InvalidInput(message) => {
                ApiError::new(ErrorCode::InvalidParameterException, message)
            }
            IamError::EntityAlreadyExists(message) => {
                ApiError::new(ErrorCode::ResourceInUseException, message)
            }
            other => ApiError::server(&other),
        })?;
    let body = json!({
        "accountId": key.account_id,
        "accessKeyId": key.access_key_id,
        "secretAccessKey": key.secret_access_key,
    });
    let mut response = body.to_string().into_response();
    response.headers_mut().insert(
        "content-type",
        axum::http::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

//! The AWS JSON 1.1 protocol: `POST /` with `X-Amz-Target: SERVICE.Operation`, a JSON body
//! in, a JSON body out. This module turns bytes into typed requests and typed responses back
//! into bytes, so malformed input always gets an AWS-shaped error and never the framework's.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::error::{ApiError, ErrorCode};
use crate::{ApiState, MAX_BODY_BYTES, ec2, ecs};

const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// Handles one `POST /`.
pub async fn serve(State(state): State<ApiState>, headers: HeaderMap, body: Body) -> Response {
    let request_id = next_request_id();
    // EC2's Query protocol shares the endpoint: form-encoded, no target header.
    if ec2::is_query_request(&headers) {
        let mut response = ec2::serve(&state, &headers, body, request_id.clone()).await;
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert("x-amzn-requestid", value);
        }
        return response;
    }
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let span = tracing::debug_span!("request", %request_id, target = %target);
    let result = handle(&state, &headers, &target, body)
        .instrument(span)
        .await;
    let mut response = match result {
        Ok(bytes) => {
            let mut response = (StatusCode::OK, bytes).into_response();
            response
                .headers_mut()
                .insert("content-type", HeaderValue::from_static(CONTENT_TYPE));
            response
        }
        Err(error) => error.into_response(),
    };
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-amzn-requestid", value);
    }
    response
}

/// Any other method or path.
pub async fn not_an_operation() -> Response {
    ApiError::new(
        ErrorCode::UnknownOperationException,
        "berth serves AWS JSON 1.1: POST / with an X-Amz-Target header.",
    )
    .into_response()
}

async fn handle(
    state: &ApiState,
    headers: &HeaderMap,
    target: &str,
    body: Body,
) -> Result<Vec<u8>, ApiError> {
    let Some((service, operation)) = target.split_once('.') else {
        return Err(unknown_operation(target));
    };
    let caller = state.auth.authenticate(headers)?;
    let body = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                ErrorCode::RequestEntityTooLargeException,
                format!("The request body is larger than {MAX_BODY_BYTES} bytes."),
            )
        })?;
    match service {
        ecs::TARGET_PREFIX => ecs::dispatch(&state.ecs, &caller, operation, &body).await,
        _ => Err(unknown_operation(target)),
    }
}

pub fn unknown_operation(target: &str) -> ApiError {
    ApiError::new(
        ErrorCode::UnknownOperationException,
        format!("'{target}' is not an operation berth serves."),
    )
}

/// Decodes a request body into `T`. Syntax errors and wrong types are
/// `SerializationException`; a missing required member or an unknown enum value is an
/// `InvalidParameterException` naming the member.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    // SDKs send `{}` for an operation without input; some clients send nothing at all.
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        read_error(&error.into_inner(), &path)
    })?;
    deserializer.end().map_err(|error| read_error(&error, ""))?;
    Ok(value)
}

fn read_error(inner: &serde_json::Error, path: &str) -> ApiError {
    let text = inner.to_string();
    // serde_json reports all of these as "data" errors; only the wording tells a missing
    // member or a bad enum value (the caller's parameter is wrong) from a wrong type (the
    // document does not match the shape).
    let parameter_error = ["missing field", "unknown variant", "invalid value"]
        .iter()
        .any(|p| text.starts_with(p));
    let code = if inner.is_data() && parameter_error {
        ErrorCode::InvalidParameterException
    } else {
        ErrorCode::SerializationException
    };
    let at = if path == "." || path.is_empty() {
        String::new()
    } else {
        format!(" (at {path})")
    };
    ApiError::new(code, format!("Cannot read the request: {text}{at}"))
}

/// Encodes a response shape.
pub fn encode<T: Serialize>(response: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(response).map_err(|e| {
        tracing::error!(error = %e, "cannot encode a response");
        ApiError::new(
            ErrorCode::ServerException,
            "berth failed to encode its response.",
        )
    })
}

fn next_request_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static START: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let start = *START.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or_default()
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let hex = format!("{start:016x}{n:016x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecs::wire::{DescribeClustersRequest, RegisterTaskDefinitionRequest};

    #[test]
    fn decode_sorts_errors_into_aws_codes() {
        let code = |body: &str| {
            decode::<RegisterTaskDefinitionRequest>(body.as_bytes())
                .unwrap_err()
                .code
        };
        assert_eq!(code("{"), ErrorCode::SerializationException);
        assert_eq!(code("[]"), ErrorCode::SerializationException);
        assert_eq!(
            code(r#"{"family": 5, "containerDefinitions": []}"#),
            ErrorCode::SerializationException
        );
        assert_eq!(
            code(r#"{"containerDefinitions": []}"#),
            ErrorCode::InvalidParameterException
        );
        assert_eq!(
            code(r#"{"family": "f", "containerDefinitions": []} x"#),
            ErrorCode::SerializationException
        );
        let bad_enum = decode::<RegisterTaskDefinitionRequest>(
            br#"{"family": "f", "networkMode": "carrier-pigeon", "containerDefinitions": []}"#,
        )
        .unwrap_err();
        assert_eq!(bad_enum.code, ErrorCode::InvalidParameterException);
        assert!(
            bad_enum.message.contains("networkMode"),
            "{}",
            bad_enum.message
        );
        assert!(decode::<DescribeClustersRequest>(b"").is_ok());
    }
}

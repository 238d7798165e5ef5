//! The AWS JSON protocols (1.0 and 1.1): `POST /` with `X-Amz-Target: PREFIX.Operation`, a
//! JSON body in, a JSON body out. This module turns bytes into typed requests and typed
//! responses back into bytes, so malformed input always gets an AWS-shaped error and never
//! the framework's. It knows no service: the registry (`services`) maps the target's
//! prefix to one.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ErrorCode};

/// The protocol's two versions, which differ in content type only as far as berth is
/// concerned (1.0 also names errors by bare code, as 1.1 does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonVersion {
    /// `application/x-amz-json-1.0`.
    V1_0,
    /// `application/x-amz-json-1.1`.
    V1_1,
}

impl JsonVersion {
    /// The version a request's content type names (1.1 when it names none).
    pub fn of(headers: &HeaderMap) -> Self {
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if content_type.starts_with("application/x-amz-json-1.0") {
            Self::V1_0
        } else {
            Self::V1_1
        }
    }

    /// Its content type.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::V1_0 => "application/x-amz-json-1.0",
            Self::V1_1 => "application/x-amz-json-1.1",
        }
    }
}

/// berth's own API (`/berth/v1/...`) answers errors as AWS JSON 1.1 does.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error_response(JsonVersion::V1_1, &self)
    }
}

/// `X-Amz-Target: PREFIX.Operation`, split.
pub fn target(headers: &HeaderMap) -> Option<(&str, &str)> {
    headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())?
        .split_once('.')
}

/// Whether a request carries a target at all (an AWS JSON request, if a malformed one).
pub fn has_target(headers: &HeaderMap) -> bool {
    headers.contains_key("x-amz-target")
}

/// A successful answer.
pub fn response(version: JsonVersion, body: Vec<u8>) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(
        "content-type",
        HeaderValue::from_static(version.content_type()),
    );
    response
}

/// An error answer: `{"__type": CODE, "message": ...}` with the code's status.
pub fn error_response(version: JsonVersion, error: &ApiError) -> Response {
    let body = serde_json::json!({ "__type": error.code.as_str(), "message": error.message });
    let mut response = (error.code.status(), body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        "content-type",
        HeaderValue::from_static(version.content_type()),
    );
    headers.insert(
        "x-amzn-errortype",
        HeaderValue::from_static(error.code.as_str()),
    );
    response
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A request shape as the generated ones are: a required member, an enum, optionals.
    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)] // only decoded
    struct Register {
        family: String,
        network_mode: Option<Mode>,
        container_definitions: Vec<serde_json::Value>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Mode {
        Awsvpc,
    }

    #[derive(Debug, Default, serde::Deserialize)]
    #[allow(dead_code)] // only decoded
    struct Optional {
        clusters: Option<Vec<String>>,
    }

    #[test]
    fn decode_sorts_errors_into_aws_codes() {
        let code = |body: &str| decode::<Register>(body.as_bytes()).unwrap_err().code;
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
        let bad_enum = decode::<Register>(
            br#"{"family": "f", "networkMode": "carrier-pigeon", "containerDefinitions": []}"#,
        )
        .unwrap_err();
        assert_eq!(bad_enum.code, ErrorCode::InvalidParameterException);
        assert!(
            bad_enum.message.contains("networkMode"),
            "{}",
            bad_enum.message
        );
        assert!(decode::<Optional>(b"").is_ok());
    }

    #[test]
    fn the_version_follows_the_content_type() {
        let mut headers = HeaderMap::new();
        assert_eq!(JsonVersion::of(&headers), JsonVersion::V1_1);
        headers.insert(
            "content-type",
            "application/x-amz-json-1.0".parse().unwrap(),
        );
        assert_eq!(JsonVersion::of(&headers), JsonVersion::V1_0);
        headers.insert(
            "x-amz-target",
            "Logs_20140328.CreateLogGroup".parse().unwrap(),
        );
        assert_eq!(target(&headers), Some(("Logs_20140328", "CreateLogGroup")));
    }
}

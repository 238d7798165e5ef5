//! Smithy's RPC v2 CBOR protocol, which current botocore speaks first to the services whose
//! models list it (CloudWatch): `POST /service/SERVICE/operation/OPERATION` with the header
//! `smithy-protocol: rpc-v2-cbor`, CBOR bodies both ways, and errors as a CBOR map with
//! `__type` and `message`. It knows no service; a document service is served by its JSON code,
//! the bodies transcoded (`cbor.rs`).
//!
//! Known limit, for the first service served over it: transcoding from JSON cannot tell a
//! timestamp from a number or a blob from a string, and Smithy's protocol sends timestamps as
//! tag 1 and blobs as byte strings (botocore's parser takes values as they come: boto3 would
//! hand out a float and base64 text). Answers then need the output shape's timestamp and blob
//! members, from the service.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, ErrorCode};
use crate::protocol::cbor;

const CONTENT_TYPE: &str = "application/cbor";

/// Whether a request says it speaks this protocol.
pub fn is_request(headers: &HeaderMap) -> bool {
    headers
        .get("smithy-protocol")
        .is_some_and(|v| v.as_bytes() == b"rpc-v2-cbor")
}

/// `(service, operation)` from `/service/SERVICE/operation/OPERATION` (any prefix before
/// `/service/` is the endpoint's path, which this protocol allows).
pub fn route(path: &str) -> Option<(&str, &str)> {
    let at = path.rfind("/service/")?;
    let (service, rest) = path[at + "/service/".len()..].split_once('/')?;
    let operation = rest.strip_prefix("operation/")?;
    (!service.is_empty() && !operation.is_empty() && !operation.contains('/'))
        .then_some((service, operation))
}

/// The CBOR input as the JSON the service reads; an empty body is an empty input.
pub fn input_as_json(body: &[u8]) -> Result<Vec<u8>, ApiError> {
    if body.is_empty() {
        return Ok(b"{}".to_vec());
    }
    let value = cbor::decode(body).map_err(|error| {
        ApiError::new(
            ErrorCode::SerializationException,
            format!("Cannot read the request: {error}"),
        )
    })?;
    serde_json::to_vec(&value).map_err(|error| {
        ApiError::new(
            ErrorCode::SerializationException,
            format!("Cannot read the request: {error}"),
        )
    })
}

/// A successful answer, the service's JSON output as CBOR.
pub fn response(json: &[u8]) -> Response {
    match serde_json::from_slice::<serde_json::Value>(json) {
        Ok(value) => answer(StatusCode::OK, cbor::encode(&value)),
        Err(error) => {
            tracing::error!(%error, "a service answered with JSON that does not parse");
            error_response(&ApiError::new(
                ErrorCode::ServerException,
                "berth failed to encode its response.",
            ))
        }
    }
}

/// An error answer.
pub fn error_response(error: &ApiError) -> Response {
    let body = serde_json::json!({ "__type": error.code.as_str(), "message": error.message });
    answer(error.code.status(), cbor::encode(&body))
}

fn answer(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static(CONTENT_TYPE));
    headers.insert("smithy-protocol", HeaderValue::from_static("rpc-v2-cbor"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_name_a_service_and_an_operation() {
        assert_eq!(
            route("/service/GraniteServiceVersion20100801/operation/PutMetricData"),
            Some(("GraniteServiceVersion20100801", "PutMetricData"))
        );
        assert_eq!(route("/prefix/service/S/operation/Op"), Some(("S", "Op")));
        for bad in [
            "/",
            "/service/S",
            "/service//operation/Op",
            "/service/S/operation/",
            "/service/S/op/X",
        ] {
            assert_eq!(route(bad), None, "{bad}");
        }
    }

    #[test]
    fn input_is_read_as_json_and_bad_input_is_a_serialization_error() {
        assert_eq!(input_as_json(b"").unwrap(), b"{}");
        assert_eq!(
            input_as_json(&[0xa1, 0x61, 0x61, 0x01]).unwrap(),
            br#"{"a":1}"#
        );
        assert_eq!(
            input_as_json(&[0xa1]).unwrap_err().code,
            ErrorCode::SerializationException
        );
    }
}

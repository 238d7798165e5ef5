//! The wire protocols AWS services speak, each knowing no service: AWS JSON 1.0 and 1.1
//! (`aws_json`), the Query protocols with XML answers (`query`, `xml`), and Smithy's RPC v2
//! CBOR (`rpc_v2_cbor`, over `cbor`). Each reads its framing from a request and writes
//! answers and errors in its own shape; which service a request is for is the registry's
//! business (the `services` registry), and what an operation means is the service's. `body` reads
//! bodies for all of them.

pub mod aws_json;
pub mod body;
pub mod cbor;
pub mod query;
pub mod rpc_v2_cbor;
pub mod xml;

use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::HeaderMap;

use aws_json::JsonVersion;

/// Which protocol a request speaks, as far as its path and headers tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// AWS JSON: a target header (or nothing else recognizable: then it is answered as an
    /// unknown operation in this protocol, the one most clients speak).
    AwsJson(JsonVersion),
    /// A form-encoded `POST /`: the Query protocols.
    Query,
    /// `smithy-protocol: rpc-v2-cbor`.
    RpcV2Cbor,
    /// berth's own API, `/berth/v1/...` (JSON, errors as AWS JSON 1.1).
    Berth,
}

impl Framing {
    /// The protocol of a request to `path` with these headers.
    /// Like [`Framing::detect`], for the whole request line: a GET whose query names an
    /// `Action` (a presigned Query URL, `?Action=GetCallerIdentity&X-Amz-...`) is Query too.
    pub fn detect_uri(uri: &axum::http::Uri, headers: &HeaderMap) -> Self {
        let framing = Self::detect(uri.path(), headers);
        let presigned_query = !aws_json::has_target(headers)
            && framing == Self::AwsJson(JsonVersion::V1_1)
            && uri
                .query()
                .is_some_and(|q| q.split('&').any(|pair| pair.starts_with("Action=")));
        if presigned_query {
            Self::Query
        } else {
            framing
        }
    }

    /// The framing of a request to `path` with `headers`.
    pub fn detect(path: &str, headers: &HeaderMap) -> Self {
        if path.starts_with("/berth/") {
            Self::Berth
        } else if rpc_v2_cbor::is_request(headers) {
            Self::RpcV2Cbor
        } else if aws_json::has_target(headers) {
            Self::AwsJson(JsonVersion::of(headers))
        } else if query::is_request(headers) {
            Self::Query
        } else {
            Self::AwsJson(JsonVersion::V1_1)
        }
    }
}

/// A new request id, in the UUID form AWS returns in `x-amzn-RequestId`.
pub fn next_request_id() -> String {
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

    #[test]
    fn framing_is_read_from_path_and_headers() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.insert(*name, value.parse().unwrap());
            }
            map
        };
        let form = (
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        );
        let cases = [
            (
                "/",
                headers(&[("x-amz-target", "A.B")]),
                Framing::AwsJson(JsonVersion::V1_1),
            ),
            (
                "/",
                headers(&[
                    ("x-amz-target", "A.B"),
                    ("content-type", "application/x-amz-json-1.0"),
                ]),
                Framing::AwsJson(JsonVersion::V1_0),
            ),
            ("/", headers(&[form]), Framing::Query),
            (
                "/service/S/operation/O",
                headers(&[("smithy-protocol", "rpc-v2-cbor")]),
                Framing::RpcV2Cbor,
            ),
            ("/berth/v1/images", headers(&[form]), Framing::Berth),
            ("/", headers(&[]), Framing::AwsJson(JsonVersion::V1_1)),
        ];
        for (path, headers, framing) in cases {
            assert_eq!(
                Framing::detect(path, &headers),
                framing,
                "{path} {headers:?}"
            );
        }
    }
}

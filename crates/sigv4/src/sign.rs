//! Signing a request as AWS's SDKs do, for berth's own clients (the `berth` CLI, the tests):
//! `x-amz-date`, the session token, and the `Authorization` header over every header the
//! request carries but those a proxy or client library may change on the way.

use http::{HeaderMap, HeaderValue};

use crate::canonical::RequestParts;
use crate::{ALGORITHM, AmzDate, CanonicalRequest, PayloadHash, SigningKey, SigningScope, hex};

/// An access key, with its session token when it is a temporary one.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// `AKIA...` or `ASIA...`.
    pub access_key_id: String,
    /// The secret.
    pub secret_access_key: String,
    /// A temporary credential's token.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// Headers never signed: botocore leaves these out because something between client and
/// server may add or rewrite them.
const UNSIGNED_HEADERS: [&str; 7] = [
    "authorization",
    "user-agent",
    "expect",
    "x-amzn-trace-id",
    "connection",
    "content-length",
    "transfer-encoding",
];

/// Signs a request in place: adds `x-amz-date` (and `x-amz-security-token`), then
/// `authorization` over every header present but [`UNSIGNED_HEADERS`]. `headers` must
/// already hold `host`.
#[allow(clippy::too_many_arguments)]
pub fn sign_request(
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &mut HeaderMap,
    payload: &PayloadHash,
    credentials: &Credentials,
    region: &str,
    service: &str,
    now: AmzDate,
) {
    headers.remove("authorization");
    headers.insert("x-amz-date", header_value(&now.to_string()));
    if let Some(token) = &credentials.session_token {
        headers.insert("x-amz-security-token", header_value(token));
    }
    let mut signed: Vec<String> = headers
        .keys()
        .map(|name| name.as_str().to_owned())
        .filter(|name| !UNSIGNED_HEADERS.contains(&name.as_str()))
        .collect();
    signed.sort();
    signed.dedup();
    let scope = SigningScope {
        date: now.date_stamp(),
        region: region.to_owned(),
        service: service.to_owned(),
    };
    let parts = RequestParts {
        method,
        path,
        query,
        headers,
    };
    let canonical = CanonicalRequest::build(&parts, &signed, None, payload)
        .expect("every header signed is one of the request's own");
    let signature = SigningKey::derive(&credentials.secret_access_key, &scope)
        .sign(&canonical.string_to_sign(now, &scope));
    let authorization = format!(
        "{ALGORITHM} Credential={}/{}, SignedHeaders={}, Signature={}",
        credentials.access_key_id,
        scope.credential_scope(),
        signed.join(";"),
        hex(&signature)
    );
    headers.insert("authorization", header_value(&authorization));
}

/// A header value of text berth made itself; anything not visible ASCII is dropped rather
/// than sent (access key ids, dates and hex never have any).
fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| {
        let visible: String = text
            .chars()
            .filter(|c| c.is_ascii_graphic() || *c == ' ')
            .collect();
        HeaderValue::from_str(&visible).unwrap_or_else(|_| HeaderValue::from_static(""))
    })
}

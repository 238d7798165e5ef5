//! The canonical request and the string to sign: the one text both a signer and a verifier
//! build from a request, so that their HMACs agree exactly when the request is unchanged.

use http::HeaderMap;

use crate::encoding::{canonical_query, canonical_uri, trim_all};
use crate::{ALGORITHM, AmzDate, SigningScope, sha256_hex};

/// What a signature covers of the body: the text the canonical request carries in its last
/// line — the body's SHA-256 in hex, or `UNSIGNED-PAYLOAD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadHash(pub String);

/// A request as SigV4 reads it.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    /// The method, e.g. `POST`.
    pub method: &'a str,
    /// The path as sent, still percent-encoded.
    pub path: &'a str,
    /// The query string as sent, without `?`.
    pub query: Option<&'a str>,
    /// The headers.
    pub headers: &'a HeaderMap,
}

/// A canonical request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalRequest(String);

impl CanonicalRequest {
    /// The canonical request of `parts` over `signed_headers` (lower-case names, sorted), with
    /// the query parameter `skip_query` left out, and `payload`.
    pub fn build(
        parts: &RequestParts<'_>,
        signed_headers: &[String],
        skip_query: Option<&str>,
        payload: &PayloadHash,
    ) -> Self {
        let mut text = String::with_capacity(256);
        text.push_str(&parts.method.to_ascii_uppercase());
        text.push('\n');
        text.push_str(&canonical_uri(parts.path));
        text.push('\n');
        text.push_str(&canonical_query(parts.query.unwrap_or(""), skip_query));
        text.push('\n');
        for name in signed_headers {
            text.push_str(name);
            text.push(':');
            let values: Vec<String> = parts
                .headers
                .get_all(name.as_str())
                .iter()
                .map(|value| trim_all(&String::from_utf8_lossy(value.as_bytes())))
                .collect();
            text.push_str(&values.join(","));
            text.push('\n');
        }
        text.push('\n');
        text.push_str(&signed_headers.join(";"));
        text.push('\n');
        text.push_str(&payload.0);
        Self(text)
    }

    /// The text itself (what `aws --debug` prints as "CanonicalRequest").
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `AWS4-HMAC-SHA256\nDATE\nSCOPE\nhex(SHA-256(canonical request))`.
    pub fn string_to_sign(&self, date: AmzDate, scope: &SigningScope) -> String {
        format!(
            "{ALGORITHM}\n{date}\n{}\n{}",
            scope.credential_scope(),
            sha256_hex(self.0.as_bytes())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_canonical_request_has_aws_layout() {
        let mut headers = HeaderMap::new();
        headers.insert("host", "127.0.0.1:4566".parse().unwrap());
        headers.insert("x-amz-date", "20261202T041716Z".parse().unwrap());
        headers.append("x-amz-meta", " a   b ".parse().unwrap());
        headers.append("x-amz-meta", "c".parse().unwrap());
        let parts = RequestParts {
            method: "post",
            path: "/",
            query: Some("b=1&a=2"),
            headers: &headers,
        };
        let signed = [
            "host".to_owned(),
            "x-amz-date".to_owned(),
            "x-amz-meta".to_owned(),
        ];
        let request = CanonicalRequest::build(&parts, &signed, None, &PayloadHash("abc".into()));
        assert_eq!(
            request.as_str(),
            "POST\n/\na=2&b=1\nhost:127.0.0.1:4566\nx-amz-date:20261202T041716Z\nx-amz-meta:a b,c\n\nhost;x-amz-date;x-amz-meta\nabc"
        );
    }
}

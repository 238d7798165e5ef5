//! The canonical request and the string to sign: the one text both a signer and a verifier
//! build from a request, so that their HMACs agree exactly when the request is unchanged.

use http::HeaderMap;

use crate::encoding::{canonical_query, canonical_uri, push_trimmed};
use crate::hashing::push_hex;
use crate::{ALGORITHM, AmzDate, SigningScope, sha256};

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

/// A signed header the request does not carry: its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissingHeader<'a>(pub &'a str);

impl CanonicalRequest {
    /// The canonical request of `parts` over `signed_headers` (lower-case names, sorted), with
    /// the query parameter `skip_query` left out, and `payload`; or the first signed header
    /// the request does not carry.
    ///
    /// Written into one buffer, each header name looked up once: every verified request
    /// builds one, so its cost is the API's (see `verification_cost` in verify.rs).
    pub fn build<'n>(
        parts: &RequestParts<'_>,
        signed_headers: &'n [String],
        skip_query: Option<&str>,
        payload: &PayloadHash,
    ) -> Result<Self, MissingHeader<'n>> {
        let mut text = String::with_capacity(512);
        for c in parts.method.chars() {
            text.push(c.to_ascii_uppercase());
        }
        text.push('\n');
        if parts.path.is_empty() || parts.path == "/" {
            text.push('/');
        } else {
            text.push_str(&canonical_uri(parts.path));
        }
        text.push('\n');
        if let Some(query) = parts.query.filter(|query| !query.is_empty()) {
            text.push_str(&canonical_query(query, skip_query));
        }
        text.push('\n');
        for name in signed_headers {
            let mut values = parts.headers.get_all(name.as_str()).iter().peekable();
            if values.peek().is_none() {
                return Err(MissingHeader(name));
            }
            text.push_str(name);
            text.push(':');
            for (i, value) in values.enumerate() {
                if i > 0 {
                    text.push(',');
                }
                push_trimmed(&mut text, &String::from_utf8_lossy(value.as_bytes()));
            }
            text.push('\n');
        }
        text.push('\n');
        for (i, name) in signed_headers.iter().enumerate() {
            if i > 0 {
                text.push(';');
            }
            text.push_str(name);
        }
        text.push('\n');
        text.push_str(&payload.0);
        Ok(Self(text))
    }

    /// The text itself (what `aws --debug` prints as "CanonicalRequest").
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `AWS4-HMAC-SHA256\nDATE\nSCOPE\nhex(SHA-256(canonical request))`.
    pub fn string_to_sign(&self, date: AmzDate, scope: &SigningScope) -> String {
        let mut text = String::with_capacity(
            ALGORITHM.len() + 16 + scope.date.len() + scope.region.len() + scope.service.len() + 96,
        );
        text.push_str(ALGORITHM);
        text.push('\n');
        text.push_str(std::str::from_utf8(&date.compact()).unwrap_or_default());
        text.push('\n');
        for part in [&scope.date, &scope.region, &scope.service] {
            text.push_str(part);
            text.push('/');
        }
        text.push_str("aws4_request\n");
        push_hex(&mut text, &sha256(self.0.as_bytes()));
        text
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
        let request =
            CanonicalRequest::build(&parts, &signed, None, &PayloadHash("abc".into())).unwrap();
        assert_eq!(
            request.as_str(),
            "POST\n/\na=2&b=1\nhost:127.0.0.1:4566\nx-amz-date:20261202T041716Z\nx-amz-meta:a b,c\n\nhost;x-amz-date;x-amz-meta\nabc"
        );
    }
}

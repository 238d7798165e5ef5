//! Checking a [`Claim`] against the request it came with: its time, its payload hash, and
//! its signature under the signing key of the access key it names. Looking that key up —
//! and what an unknown key means — is the caller's business.

use crate::canonical::{MissingHeader, RequestParts};
use crate::hashing::{hex, unhex};
use crate::{AmzDate, CanonicalRequest, Claim, ClaimSource, MAX_CLOCK_SKEW_SECS, PayloadHash};
use crate::{SigV4Error, SigningKey, UNSIGNED_PAYLOAD};

/// What is known of the body when its signature is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// It was read whole: its SHA-256.
    Read([u8; 32]),
    /// It streams to its handler after the check.
    Streamed,
}

/// What a verified request still owes: a streamed body declared with a hash must hash to it
/// when it has been read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// The SHA-256 a streamed body must have, if the signature covers one.
    pub streamed_body_sha256: Option<[u8; 32]>,
}

/// The message AWS gives when a signature does not match.
pub const MISMATCH_MESSAGE: &str = "The request signature we calculated does not match the \
    signature you provided. Check your AWS Secret Access Key and signing method. Consult the \
    service documentation for details.";

/// Whether `claim` is within its time window at `now`: 15 minutes either way for a header
/// signature; for a presigned URL, from 15 minutes before its date to its expiry.
pub fn check_time(claim: &Claim, now: AmzDate) -> Result<(), SigV4Error> {
    let signed = claim.date.epoch_seconds;
    let now_secs = now.epoch_seconds;
    if claim.scope.date.as_bytes() != &claim.date.compact()[..8] {
        return Err(SigV4Error::Mismatch(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{}'.",
            claim.scope.date,
            claim.date.date_stamp(),
            claim.date_source
        )));
    }
    if signed > now_secs + MAX_CLOCK_SKEW_SECS {
        return Err(SigV4Error::Expired(format!(
            "Signature not yet current: {} is still later than {} ({now} + 15 min.)",
            claim.date,
            AmzDate::from_epoch(now_secs + MAX_CLOCK_SKEW_SECS)
        )));
    }
    match claim.source {
        ClaimSource::Header if signed < now_secs - MAX_CLOCK_SKEW_SECS => {
            Err(SigV4Error::Expired(format!(
                "Signature expired: {} is now earlier than {} ({now} - 15 min.)",
                claim.date,
                AmzDate::from_epoch(now_secs - MAX_CLOCK_SKEW_SECS)
            )))
        }
        ClaimSource::Query { expires_secs } if now_secs > signed + expires_secs => {
            Err(SigV4Error::Expired(format!(
                "Request has expired: it was signed at {} for {expires_secs} seconds.",
                claim.date
            )))
        }
        _ => Ok(()),
    }
}

/// The payload hash the signature covers: `x-amz-content-sha256` when given (which must then
/// be the body's hash, or `UNSIGNED-PAYLOAD`), else the body's own hash.
pub fn payload_hash(
    parts: &RequestParts<'_>,
    body: Body,
) -> Result<(PayloadHash, Verified), SigV4Error> {
    let declared = parts
        .headers
        .get("x-amz-content-sha256")
        .map(|v| v.to_str().unwrap_or_default());
    let nothing_owed = Verified {
        streamed_body_sha256: None,
    };
    match (declared, body) {
        (Some(UNSIGNED_PAYLOAD), _) => Ok((PayloadHash(UNSIGNED_PAYLOAD.into()), nothing_owed)),
        (Some(text), body) => {
            let Some(declared_hash) = unhex::<32>(text) else {
                return Err(SigV4Error::Incomplete(format!(
                    "x-amz-content-sha256 must be the body's SHA-256 in hex or {UNSIGNED_PAYLOAD}, not '{text}'."
                )));
            };
            let owed = match body {
                Body::Read(actual) if actual != declared_hash => {
                    return Err(SigV4Error::Mismatch(
                        "The provided 'x-amz-content-sha256' header does not match what was computed."
                            .into(),
                    ));
                }
                Body::Read(_) => nothing_owed,
                Body::Streamed => Verified {
                    streamed_body_sha256: Some(declared_hash),
                },
            };
            Ok((PayloadHash(text.to_ascii_lowercase()), owed))
        }
        (None, Body::Read(actual)) => Ok((PayloadHash(hex(&actual)), nothing_owed)),
        (None, Body::Streamed) => Err(SigV4Error::Incomplete(format!(
            "A streamed body must be declared in x-amz-content-sha256 (its SHA-256, or {UNSIGNED_PAYLOAD})."
        ))),
    }
}

/// Whether `claim`'s signature is `key`'s over `parts` (time checked apart, by [`check_time`]).
pub fn check_signature(
    claim: &Claim,
    parts: &RequestParts<'_>,
    body: Body,
    key: &SigningKey,
) -> Result<Verified, SigV4Error> {
    let (payload, verified) = payload_hash(parts, body)?;
    let skip = matches!(claim.source, ClaimSource::Query { .. }).then_some("X-Amz-Signature");
    let canonical = CanonicalRequest::build(parts, &claim.signed_headers, skip, &payload).map_err(
        |MissingHeader(name)| {
            SigV4Error::Mismatch(format!(
                "{MISMATCH_MESSAGE} The signed header '{name}' is not in the request."
            ))
        },
    )?;
    let string_to_sign = canonical.string_to_sign(claim.date, &claim.scope);
    if key.verifies(&string_to_sign, &claim.signature) {
        Ok(verified)
    } else {
        // As AWS does: what the server signed, so a client author can see where they differ.
        Err(SigV4Error::Mismatch(format!(
            "{MISMATCH_MESSAGE}\n\nThe Canonical String for this request should have been\n'{}'\n\nThe String-to-Sign should have been\n'{string_to_sign}'\n",
            canonical.as_str()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::{Credentials, sign_request};
    use crate::{SigningScope, parse_amz_date, parse_claim, sha256};
    use http::HeaderMap;

    const NOW: &str = "20261202T041716Z";

    fn signed(body: &[u8], token: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("host", "127.0.0.1:4566".parse().unwrap());
        headers.insert(
            "x-amz-target",
            "AmazonEC2ContainerServiceV20141113.ListClusters"
                .parse()
                .unwrap(),
        );
        let credentials = Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "secret".into(),
            session_token: token.map(str::to_owned),
        };
        sign_request(
            "POST",
            "/",
            None,
            &mut headers,
            &PayloadHash(crate::sha256_hex(body)),
            &credentials,
            "us-east-1",
            "ecs",
            parse_amz_date(NOW).unwrap(),
        );
        headers
    }

    fn verify(
        headers: &HeaderMap,
        body: &[u8],
        secret: &str,
        now: &str,
    ) -> Result<Verified, SigV4Error> {
        let claim = parse_claim(None, headers)?.expect("signed");
        check_time(&claim, parse_amz_date(now).unwrap())?;
        let parts = RequestParts {
            method: "POST",
            path: "/",
            query: None,
            headers,
        };
        let key = SigningKey::derive(secret, &claim.scope);
        check_signature(&claim, &parts, Body::Read(sha256(body)), &key)
    }

    #[test]
    fn what_berth_signs_it_verifies() {
        let headers = signed(b"{}", Some("token"));
        assert!(verify(&headers, b"{}", "secret", NOW).is_ok());
        assert_eq!(headers["x-amz-security-token"], "token");
    }

    #[test]
    fn each_tampering_is_refused() {
        let headers = signed(b"{}", None);
        assert!(matches!(
            verify(&headers, b"{}", "wrong", NOW),
            Err(SigV4Error::Mismatch(_))
        ));
        assert!(matches!(
            verify(&headers, b"{\"a\":1}", "secret", NOW),
            Err(SigV4Error::Mismatch(_))
        ));
        let mut other_target = headers.clone();
        other_target.insert(
            "x-amz-target",
            "AmazonEC2ContainerServiceV20141113.DeleteCluster"
                .parse()
                .unwrap(),
        );
        assert!(matches!(
            verify(&other_target, b"{}", "secret", NOW),
            Err(SigV4Error::Mismatch(_))
        ));
        let mut declared = headers.clone();
        declared.insert(
            "x-amz-content-sha256",
            crate::sha256_hex(b"other").parse().unwrap(),
        );
        assert!(
            matches!(verify(&declared, b"{}", "secret", NOW), Err(SigV4Error::Mismatch(m)) if m.contains("x-amz-content-sha256"))
        );
    }

    /// What one verification of a request as boto3 signs an ECS call costs (parse, time,
    /// payload, canonical request, HMAC), the signing key given. Not a timed test: run it with
    /// `cargo test --release -p berth-sigv4 verification_cost -- --ignored --nocapture`, or
    /// under `valgrind --tool=callgrind` for an instruction count (`VERIFICATIONS=1000`).
    #[test]
    #[ignore = "a measurement, not a check"]
    fn verification_cost() {
        let body = br#"{"taskDefinition": "web:1"}"#;
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("host", "127.0.0.1:4566"),
            ("accept-encoding", "identity"),
            (
                "x-amz-target",
                "AmazonEC2ContainerServiceV20141113.DescribeTaskDefinition",
            ),
            ("content-type", "application/x-amz-json-1.1"),
            (
                "user-agent",
                "aws-cli/1.46.3 md/Botocore#1.43.11 ua/2.1 os/linux#6.18 md/arch#x86_64 lang/python#3.11.7",
            ),
            (
                "amz-sdk-invocation-id",
                "3f1e1a6c-6c1e-4d0e-9a53-1b5f0f6d2b7e",
            ),
            ("amz-sdk-request", "attempt=1"),
            ("content-length", "27"),
        ] {
            headers.insert(name, value.parse().unwrap());
        }
        let credentials = Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "secret".into(),
            session_token: None,
        };
        sign_request(
            "POST",
            "/",
            None,
            &mut headers,
            &PayloadHash(crate::sha256_hex(body)),
            &credentials,
            "us-east-1",
            "ecs",
            parse_amz_date(NOW).unwrap(),
        );
        let now = parse_amz_date(NOW).unwrap();
        let body_hash = sha256(body);
        let key = {
            let claim = parse_claim(None, &headers).unwrap().unwrap();
            SigningKey::derive("secret", &claim.scope)
        };
        let parts = RequestParts {
            method: "POST",
            path: "/",
            query: None,
            headers: &headers,
        };
        let n: u32 = std::env::var("VERIFICATIONS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(100_000);
        let start = std::time::Instant::now();
        for _ in 0..n {
            let claim = parse_claim(None, &headers).unwrap().unwrap();
            check_time(&claim, now).unwrap();
            check_signature(&claim, &parts, Body::Read(body_hash), &key).unwrap();
        }
        eprintln!("{:?} per verification", start.elapsed() / n);
    }

    #[test]
    fn the_clock_window_is_fifteen_minutes_either_way() {
        let headers = signed(b"", None);
        assert!(verify(&headers, b"", "secret", "20261202T043216Z").is_ok());
        assert!(verify(&headers, b"", "secret", "20261202T040216Z").is_ok());
        let late = verify(&headers, b"", "secret", "20261202T043217Z").unwrap_err();
        assert_eq!(
            late.to_string(),
            "Signature expired: 20261202T041716Z is now earlier than 20261202T041717Z (20261202T043217Z - 15 min.)"
        );
        let early = verify(&headers, b"", "secret", "20261202T040215Z").unwrap_err();
        assert!(
            early.to_string().starts_with("Signature not yet current"),
            "{early}"
        );
    }

    #[test]
    fn a_scope_date_must_be_the_request_date() {
        let mut headers = signed(b"", None);
        let authorization = headers["authorization"]
            .to_str()
            .unwrap()
            .replace("/20261202/", "/20261201/");
        headers.insert("authorization", authorization.parse().unwrap());
        let error = verify(&headers, b"", "secret", NOW).unwrap_err();
        assert!(
            error.to_string().contains("'20261201' != '20261202'"),
            "{error}"
        );
    }

    #[test]
    fn streamed_bodies_are_declared() {
        let mut headers = HeaderMap::new();
        let parts = RequestParts {
            method: "POST",
            path: "/",
            query: None,
            headers: &headers,
        };
        assert!(payload_hash(&parts, Body::Streamed).is_err());
        headers.insert("x-amz-content-sha256", UNSIGNED_PAYLOAD.parse().unwrap());
        let parts = RequestParts {
            method: "POST",
            path: "/",
            query: None,
            headers: &headers,
        };
        let (hash, owed) = payload_hash(&parts, Body::Streamed).unwrap();
        assert_eq!(hash.0, UNSIGNED_PAYLOAD);
        assert_eq!(owed.streamed_body_sha256, None);
        headers.insert(
            "x-amz-content-sha256",
            crate::sha256_hex(b"x").parse().unwrap(),
        );
        let parts = RequestParts {
            method: "POST",
            path: "/",
            query: None,
            headers: &headers,
        };
        let (_, owed) = payload_hash(&parts, Body::Streamed).unwrap();
        assert_eq!(owed.streamed_body_sha256, Some(sha256(b"x")));
        let _ = SigningScope {
            date: String::new(),
            region: String::new(),
            service: String::new(),
        };
    }
}

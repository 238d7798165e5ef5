//! AWS Signature Version 4, both ways: berth's own clients sign with it ([`sign`]) and berth's
//! API verifies it ([`verify`]), from one canonical-request builder so the two can never
//! disagree.
//!
//! The rules are AWS's ("Create a signed AWS API request" in the IAM user guide) as botocore
//! and the AWS SDK for Rust apply them to every service but S3:
//! - the canonical URI is the path as sent, URI-encoded once more (so `%` becomes `%25`),
//!   with `.` and `..` segments resolved;
//! - the canonical query string is every parameter decoded, re-encoded with AWS's alphabet
//!   and sorted (a presigned URL's `X-Amz-Signature` left out);
//! - the canonical headers are the signed ones, lower-cased, their values trimmed and inner
//!   runs of spaces collapsed, repeated headers joined with `,`;
//! - the payload hash is `x-amz-content-sha256` when the request carries it
//!   (`UNSIGNED-PAYLOAD` included), else the SHA-256 of the body.
//!
//! Nothing here knows HTTP servers, AWS services or berth's accounts: the API looks up the
//! secret for a [`Claim`] and maps a [`SigV4Error`] to each protocol's error codes.

mod amz_date;
mod canonical;
mod claim;
mod encoding;
mod error;
mod hashing;
pub mod sign;
mod signing_key;
pub mod verify;

pub use amz_date::{AmzDate, parse_amz_date};
pub use canonical::{CanonicalRequest, PayloadHash, RequestParts};
pub use claim::{Claim, ClaimSource, parse_claim};
pub use error::SigV4Error;
pub use hashing::{hex, sha256, sha256_hex};
pub use signing_key::{SigningKey, SigningScope};

/// The one algorithm berth accepts, as it appears in `Authorization` and `X-Amz-Algorithm`.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// What `x-amz-content-sha256` says when the body is not part of the signature.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// How far a request's time may be from the server's, either way: AWS's 15 minutes.
pub const MAX_CLOCK_SKEW_SECS: i64 = 15 * 60;

/// The longest a presigned URL may live (`X-Amz-Expires`): AWS's seven days.
pub const MAX_PRESIGN_EXPIRES_SECS: i64 = 7 * 24 * 60 * 60;

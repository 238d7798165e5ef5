//! Who sent a request, and for which account and region.
//!
//! One layer in front of every route (`crate::endpoint`) hands an [`Authenticator`] the whole
//! request as SigV4 signs it — method, path, query, headers and the body's SHA-256 — and
//! answers a refusal in the request's own protocol. Two authenticators exist:
//! [`SigV4Authenticator`] (`sigv4.rs`, the default: every request signed with an access key
//! berth issued) and [`AcceptAnyCredentials`] (`berth up --auth none`: any credentials or
//! none, every caller its account's root).

mod sigv4;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::http::{HeaderMap, Method};
use berth_control::iam::KeyIdentity;
use berth_model::AccountRegion;

use crate::error::{ApiError, ErrorCode};

pub use sigv4::SigV4Authenticator;

/// The region used when an unsigned request (`--auth none`) names none.
pub const DEFAULT_REGION: &str = "us-east-1";

/// The signing name of berth's own routes (`/berth/v1/...`), as its clients scope them.
pub const BERTH_SIGNING_NAME: &str = "berth";

/// The authenticated caller of one request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The account and region the request acts in.
    pub scope: AccountRegion,
    /// The access key id it was signed with, if any.
    pub access_key_id: Option<String>,
    /// Who holds that key, when it was verified; `None` under `--auth none`, where every
    /// caller is its account's root.
    pub identity: Option<Arc<KeyIdentity>>,
}

/// What a signature covers of the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// The body was read whole: its SHA-256.
    Sha256([u8; 32]),
    /// A body streamed to its handler (an image archive): only what the request declares
    /// (`x-amz-content-sha256`, possibly `UNSIGNED-PAYLOAD`) is known up front.
    Streamed,
}

/// A request, as a signature sees it.
#[derive(Debug, Clone)]
pub struct AuthRequest<'a> {
    /// Its method.
    pub method: &'a Method,
    /// Its path, as sent.
    pub path: &'a str,
    /// Its query string, as sent (without `?`).
    pub query: Option<&'a str>,
    /// Its headers.
    pub headers: &'a HeaderMap,
    /// Its body.
    pub payload: Payload,
    /// The signing name of the service it is for (`ecs`, `ec2`, `berth`...), when known: a
    /// signature scoped to another service is refused.
    pub service: Option<&'a str>,
}

/// A boxed future, so an [`Authenticator`] can be a trait object.
pub type AuthFuture<'a> = Pin<Box<dyn Future<Output = Result<Caller, ApiError>> + Send + 'a>>;

/// Decides who a request comes from.
pub trait Authenticator: Send + Sync + 'static {
    /// The caller of `request`, or why it is refused.
    fn authenticate<'a>(&'a self, request: &'a AuthRequest<'a>) -> AuthFuture<'a>;
}

/// Accepts any (or no) credentials, all mapped to one account's root (`--auth none`).
pub struct AcceptAnyCredentials {
    account_id: String,
}

impl AcceptAnyCredentials {
    /// Every caller acts in `account_id`.
    pub fn new(account_id: impl Into<String>) -> Self {
        Self {
            account_id: account_id.into(),
        }
    }
}

impl Authenticator for AcceptAnyCredentials {
    fn authenticate<'a>(&'a self, request: &'a AuthRequest<'a>) -> AuthFuture<'a> {
        Box::pin(async move {
            let scope = request
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(credential_scope);
            let (access_key_id, region) = match scope {
                Some((key, region)) => (Some(key.to_owned()), region.to_owned()),
                None => (None, DEFAULT_REGION.to_owned()),
            };
            check_region(&region)?;
            Ok(Caller {
                scope: AccountRegion::new(self.account_id.clone(), region),
                access_key_id,
                identity: None,
            })
        })
    }
}

/// The service a request's SigV4 credential scope names (`.../REGION/SERVICE/aws4_request`).
pub fn signing_name(headers: &HeaderMap) -> Option<&str> {
    let authorization = headers.get("authorization")?.to_str().ok()?;
    credential(authorization)?.split('/').nth(3)
}

/// `(access key id, region)` from `AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request, ...`.
fn credential_scope(authorization: &str) -> Option<(&str, &str)> {
    let mut fields = credential(authorization)?.split('/');
    let access_key = fields.next()?;
    let _date = fields.next()?;
    let region = fields.next()?;
    Some((access_key, region))
}

/// The `Credential=` value of an Authorization header.
fn credential(authorization: &str) -> Option<&str> {
    authorization
        .split([',', ' '])
        .find_map(|part| part.trim().strip_prefix("Credential="))
}

/// A region must be a well-formed AWS region name before it reaches the store's key layout
/// (a request for `../x`, `local` or `Not A Region` must not get a default VPC written).
fn check_region(region: &str) -> Result<(), ApiError> {
    if berth_model::regions::is_well_formed(region) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidSignatureException,
            format!("Credential should be scoped to a valid region, not '{region}'."),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn caller(authorization: Option<&str>) -> Result<Caller, ApiError> {
        let mut headers = HeaderMap::new();
        if let Some(value) = authorization {
            headers.insert("authorization", value.parse().unwrap());
        }
        let request = AuthRequest {
            method: &Method::POST,
            path: "/",
            query: None,
            headers: &headers,
            payload: Payload::Sha256([0; 32]),
            service: None,
        };
        AcceptAnyCredentials::new("000000000000")
            .authenticate(&request)
            .await
    }

    #[tokio::test]
    async fn region_comes_from_the_credential_scope() {
        let signed = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261123/eu-west-3/ecs/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc";
        let c = caller(Some(signed)).await.unwrap();
        assert_eq!(c.scope, AccountRegion::new("000000000000", "eu-west-3"));
        assert_eq!(c.access_key_id.as_deref(), Some("AKIDEXAMPLE"));
        assert_eq!(caller(None).await.unwrap().scope.region, DEFAULT_REGION);
        for bad in ["..", "local", "us-east", "US-EAST-1"] {
            let scope = format!("AWS4-HMAC-SHA256 Credential=A/1/{bad}/ecs/aws4_request");
            assert!(caller(Some(&scope)).await.is_err(), "{bad}");
        }
        let mut headers = HeaderMap::new();
        headers.insert("authorization", signed.parse().unwrap());
        assert_eq!(signing_name(&headers), Some("ecs"));
    }
}

//! The authentication seam: who sent a request, and for which account and region.
//!
//! Today any credentials are accepted and only the region is read from the SigV4 credential
//! scope. Signature verification drops in behind [`Authenticator`] without touching the
//! protocol or operation code.

use axum::http::HeaderMap;
use berth_model::AccountRegion;

use crate::error::{ApiError, ErrorCode};

/// The region used when a request carries no SigV4 credential scope.
pub const DEFAULT_REGION: &str = "us-east-1";

/// The authenticated caller of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The account and region the request acts in.
    pub scope: AccountRegion,
    /// The access key id it was signed with, if any.
    pub access_key_id: Option<String>,
}

/// Decides who a request comes from.
pub trait Authenticator: Send + Sync + 'static {
    /// The caller of a request with these headers, or why it is refused.
    fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, ApiError>;
}

/// Accepts any (or no) credentials, all mapped to one account.
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
    fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        let scope = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(credential_scope);
        let (access_key_id, region) = match scope {
            Some((key, region)) => (Some(key.to_owned()), region.to_owned()),
            None => (None, DEFAULT_REGION.to_owned()),
        };
        if !is_region_name(&region) {
            return Err(ApiError::new(
                ErrorCode::InvalidSignatureException,
                format!("'{region}' in the credential scope is not a region name."),
            ));
        }
        Ok(Caller {
            scope: AccountRegion::new(self.account_id.clone(), region),
            access_key_id,
        })
    }
}

/// `(access key id, region)` from `AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request, ...`.
fn credential_scope(authorization: &str) -> Option<(&str, &str)> {
    let credential = authorization
        .split([',', ' '])
        .find_map(|part| part.trim().strip_prefix("Credential="))?;
    let mut fields = credential.split('/');
    let access_key = fields.next()?;
    let _date = fields.next()?;
    let region = fields.next()?;
    Some((access_key, region))
}

/// Region names are lower-case letters, digits and hyphens; anything else could not be a
/// region and must not reach the store's key layout.
fn is_region_name(region: &str) -> bool {
    !region.is_empty()
        && region.len() <= 32
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(authorization: Option<&str>) -> Result<Caller, ApiError> {
        let mut headers = HeaderMap::new();
        if let Some(value) = authorization {
            headers.insert("authorization", value.parse().unwrap());
        }
        AcceptAnyCredentials::new("000000000000").authenticate(&headers)
    }

    #[test]
    fn region_comes_from_the_credential_scope() {
        let signed = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261123/eu-west-3/ecs/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc";
        let c = caller(Some(signed)).unwrap();
        assert_eq!(c.scope, AccountRegion::new("000000000000", "eu-west-3"));
        assert_eq!(c.access_key_id.as_deref(), Some("AKIDEXAMPLE"));
        assert_eq!(caller(None).unwrap().scope.region, DEFAULT_REGION);
        assert!(caller(Some("AWS4-HMAC-SHA256 Credential=A/1/../ecs/aws4_request")).is_err());
    }
}

//! The default authenticator: every request signed with Signature Version 4 by an access key
//! berth issued (`berth_control::iam`), within AWS's 15-minute window, scoped to the service
//! it calls; a temporary key also carries its session token.
//!
//! Verified keys stay cached: the identity behind an access key id and the signing keys
//! derived for it (four HMACs each), so a client's next request costs one store-free lookup
//! and one HMAC. Any change under IAM's keys empties the cache (a store watch), so a deleted
//! key or a changed policy takes effect on the next request; a generation count keeps a
//! lookup that raced such a change from putting a stale identity back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use berth_control::iam::{Iam, KeyIdentity};
use berth_model::AccountRegion;
use berth_sigv4::verify::{self, Body};
use berth_sigv4::{AmzDate, Claim, RequestParts, SigV4Error, SigningKey, SigningScope};

use super::{AuthFuture, AuthRequest, Authenticator, Caller, Payload, check_region};
use crate::error::{ApiError, ErrorCode};

/// Signing keys kept per access key: a client signs for one or two services a day.
const SIGNING_KEYS_PER_ACCESS_KEY: usize = 8;

/// Verifies SigV4 signatures against berth's access keys.
pub struct SigV4Authenticator {
    iam: Arc<Iam>,
    cache: Arc<Cache>,
    now: fn() -> AmzDate,
}

#[derive(Default)]
struct Cache {
    /// Bumped by every IAM change, which also empties `keys`.
    generation: AtomicU64,
    /// Set when the watch that keeps the cache true has ended: from then on nothing is cached.
    blind: AtomicBool,
    keys: Mutex<HashMap<String, Arc<CachedKey>>>,
}

struct CachedKey {
    identity: Arc<KeyIdentity>,
    signing_keys: Mutex<Vec<(SigningScope, SigningKey)>>,
}

impl SigV4Authenticator {
    /// An authenticator over `iam`'s access keys. Spawns the watch that keeps its cache true,
    /// so it must be made inside the tokio runtime.
    pub async fn new(iam: Arc<Iam>) -> Result<Self, berth_control::iam::IamError> {
        let cache = Arc::new(Cache::default());
        let mut changes = iam.watch().await?;
        let watched = Arc::downgrade(&cache);
        tokio::spawn(async move {
            while changes.next().await.is_some() {
                let Some(cache) = watched.upgrade() else {
                    return;
                };
                cache.invalidate();
            }
            if let Some(cache) = watched.upgrade() {
                cache.blind.store(true, Ordering::SeqCst);
                cache.invalidate();
            }
        });
        Ok(Self {
            iam,
            cache,
            now: AmzDate::now,
        })
    }

    /// The same, with a clock of the caller's (tests of the time window).
    #[cfg(test)]
    fn with_clock(mut self, now: fn() -> AmzDate) -> Self {
        self.now = now;
        self
    }

    async fn verify(&self, request: &AuthRequest<'_>) -> Result<Caller, ApiError> {
        let claim = berth_sigv4::parse_claim(request.query, request.headers)
            .map_err(refusal)?
            .ok_or_else(missing_token)?;
        check_region(&claim.scope.region)?;
        if let Some(service) = request.service
            && claim.scope.service != service
        {
            return Err(ApiError::new(
                ErrorCode::InvalidSignatureException,
                format!(
                    "Credential should be scoped to correct service: '{service}', not '{}'.",
                    claim.scope.service
                ),
            ));
        }
        let now = (self.now)();
        verify::check_time(&claim, now).map_err(refusal)?;
        let key = self.key(&claim.access_key_id).await?;
        check_session(&key.identity, &claim, now)?;
        let signing_key = key.signing_key(&claim.scope);
        let parts = RequestParts {
            method: request.method.as_str(),
            path: request.path,
            query: request.query,
            headers: request.headers,
        };
        let body = match request.payload {
            Payload::Sha256(hash) => Body::Read(hash),
            Payload::Streamed => Body::Streamed,
        };
        let verified =
            verify::check_signature(&claim, &parts, body, &signing_key).map_err(refusal)?;
        if verified.streamed_body_sha256.is_some() {
            // A streamed body is checked against nothing before its handler consumes it.
            return Err(ApiError::new(
                ErrorCode::IncompleteSignatureException,
                "A streamed body (an image archive) must be sent with \
                 x-amz-content-sha256: UNSIGNED-PAYLOAD.",
            ));
        }
        Ok(Caller {
            scope: AccountRegion::new(key.identity.account_id.clone(), claim.scope.region),
            access_key_id: Some(claim.access_key_id),
            identity: Some(key.identity.clone()),
        })
    }

    /// The cached identity behind `access_key_id`, or one looked up now.
    async fn key(&self, access_key_id: &str) -> Result<Arc<CachedKey>, ApiError> {
        if let Some(cached) = self.cache.get(access_key_id) {
            return Ok(cached);
        }
        let generation = self.cache.generation.load(Ordering::SeqCst);
        let identity = self
            .iam
            .resolve(access_key_id)
            .await
            .map_err(|e| ApiError::server(&e))?
            .filter(|identity| identity.active)
            .ok_or_else(unknown_key)?;
        let cached = Arc::new(CachedKey {
            identity: Arc::new(identity),
            signing_keys: Mutex::new(Vec::new()),
        });
        self.cache.put(access_key_id, cached.clone(), generation);
        Ok(cached)
    }
}

impl Authenticator for SigV4Authenticator {
    fn authenticate<'a>(&'a self, request: &'a AuthRequest<'a>) -> AuthFuture<'a> {
        Box::pin(self.verify(request))
    }
}

impl Cache {
    fn get(&self, access_key_id: &str) -> Option<Arc<CachedKey>> {
        self.keys.lock().ok()?.get(access_key_id).cloned()
    }

    /// Keeps `key` unless IAM changed since `generation` (the lookup may have read the
    /// state before that change).
    fn put(&self, access_key_id: &str, key: Arc<CachedKey>, generation: u64) {
        if self.blind.load(Ordering::SeqCst) {
            return;
        }
        if let Ok(mut keys) = self.keys.lock()
            && self.generation.load(Ordering::SeqCst) == generation
        {
            keys.insert(access_key_id.to_owned(), key);
        }
    }

    fn invalidate(&self) {
        if let Ok(mut keys) = self.keys.lock() {
            self.generation.fetch_add(1, Ordering::SeqCst);
            keys.clear();
        }
    }
}

impl CachedKey {
    /// The signing key for `scope`, derived once.
    fn signing_key(&self, scope: &SigningScope) -> SigningKey {
        let Ok(mut keys) = self.signing_keys.lock() else {
            return SigningKey::derive(&self.identity.secret_access_key, scope);
        };
        if let Some((_, key)) = keys.iter().find(|(s, _)| s == scope) {
            return key.clone();
        }
        let key = SigningKey::derive(&self.identity.secret_access_key, scope);
        if keys.len() == SIGNING_KEYS_PER_ACCESS_KEY {
            keys.remove(0);
        }
        keys.push((scope.clone(), key.clone()));
        key
    }
}

/// A temporary key must come with its own session token, unexpired; a long-term key with none.
fn check_session(identity: &KeyIdentity, claim: &Claim, now: AmzDate) -> Result<(), ApiError> {
    match (&identity.session, &claim.security_token) {
        (None, None) => Ok(()),
        (Some((token_sha256, expiration)), Some(token)) => {
            if berth_sigv4::sha256(token.as_bytes()) != *token_sha256 {
                return Err(unknown_key());
            }
            if expiration.as_millis() / 1000 <= now.epoch_seconds {
                return Err(ApiError::new(
                    ErrorCode::ExpiredTokenException,
                    "The security token included in the request is expired",
                ));
            }
            Ok(())
        }
        _ => Err(unknown_key()),
    }
}

fn missing_token() -> ApiError {
    ApiError::new(
        ErrorCode::MissingAuthenticationTokenException,
        "Missing Authentication Token: sign requests with Signature Version 4 (berth up \
         wrote an access key to DATA_DIR/credentials, profile berth).",
    )
}

fn unknown_key() -> ApiError {
    ApiError::new(
        ErrorCode::UnrecognizedClientException,
        "The security token included in the request is invalid.",
    )
}

/// A SigV4 refusal as the API's error.
fn refusal(error: SigV4Error) -> ApiError {
    match error {
        SigV4Error::Incomplete(message) => {
            ApiError::new(ErrorCode::IncompleteSignatureException, message)
        }
        SigV4Error::Expired(message) => ApiError::new(ErrorCode::SignatureExpired, message),
        SigV4Error::Mismatch(message) => {
            ApiError::new(ErrorCode::InvalidSignatureException, message)
        }
    }
}

#[cfg(test)]
mod tests_support {
    pub use super::*;
    pub use axum::http::{HeaderMap, Method};
    pub use berth_control::sealing::Sealer;
    pub use berth_sigv4::PayloadHash;
    pub use berth_sigv4::sign::{Credentials, sign_request};

    const NOW: &str = "20261202T041716Z";

    pub fn now() -> AmzDate {
        berth_sigv4::parse_amz_date(NOW).unwrap()
    }

    pub async fn setup() -> (SigV4Authenticator, Credentials, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(berth_store::EmbeddedStore::open(&dir.path().join("db")).unwrap());
        let iam = Arc::new(Iam::new(
            store,
            Arc::new(Sealer::new(&Sealer::generate_key().unwrap())),
        ));
        let key = iam.bootstrap("111122223333").await.unwrap().unwrap();
        let credentials = Credentials {
            access_key_id: key.access_key_id,
            secret_access_key: key.secret_access_key,
            session_token: None,
        };
        let auth = SigV4Authenticator::new(iam).await.unwrap().with_clock(now);
        (auth, credentials, dir)
    }

    pub fn signed(credentials: &Credentials, body: &[u8], service: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("host", "127.0.0.1:4566".parse().unwrap());
        sign_request(
            "POST",
            "/",
            None,
            &mut headers,
            &PayloadHash(berth_sigv4::sha256_hex(body)),
            credentials,
            "eu-west-3",
            service,
            now(),
        );
        headers
    }

    pub async fn check(
        auth: &SigV4Authenticator,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Caller, ApiError> {
        let request = AuthRequest {
            method: &Method::POST,
            path: "/",
            query: None,
            headers,
            payload: Payload::Sha256(berth_sigv4::sha256(body)),
            service: Some("ecs"),
        };
        auth.authenticate(&request).await
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::*;

    #[tokio::test]
    async fn a_signed_request_names_its_account_and_region() {
        let (auth, credentials, _dir) = setup().await;
        let headers = signed(&credentials, b"{}", "ecs");
        let caller = check(&auth, &headers, b"{}").await.unwrap();
        assert_eq!(
            caller.scope,
            AccountRegion::new("111122223333", "eu-west-3")
        );
        assert_eq!(
            caller.identity.unwrap().arn,
            "arn:aws:iam::111122223333:root"
        );
        // Again, from the cache.
        assert!(check(&auth, &headers, b"{}").await.is_ok());
    }

    #[tokio::test]
    async fn each_failure_has_its_code() {
        let (auth, credentials, _dir) = setup().await;
        let code = |result: Result<Caller, ApiError>| result.unwrap_err().code;
        assert_eq!(
            code(check(&auth, &HeaderMap::new(), b"").await),
            ErrorCode::MissingAuthenticationTokenException
        );
        let wrong_secret = Credentials {
            secret_access_key: "wrong".into(),
            ..credentials.clone()
        };
        assert_eq!(
            code(check(&auth, &signed(&wrong_secret, b"", "ecs"), b"").await),
            ErrorCode::InvalidSignatureException
        );
        let unknown = Credentials {
            access_key_id: "AKIAUNKNOWNUNKNOWN00".into(),
            ..credentials.clone()
        };
        assert_eq!(
            code(check(&auth, &signed(&unknown, b"", "ecs"), b"").await),
            ErrorCode::UnrecognizedClientException
        );
        assert_eq!(
            code(check(&auth, &signed(&credentials, b"{}", "ecs"), b"{\"x\":1}").await),
            ErrorCode::InvalidSignatureException
        );
        assert_eq!(
            code(check(&auth, &signed(&credentials, b"", "ec2"), b"").await),
            ErrorCode::InvalidSignatureException
        );
        let with_token = Credentials {
            session_token: Some("not-a-session".into()),
            ..credentials.clone()
        };
        assert_eq!(
            code(check(&auth, &signed(&with_token, b"", "ecs"), b"").await),
            ErrorCode::UnrecognizedClientException
        );
        let mut partial = HeaderMap::new();
        partial.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=A/20261202/us-east-1/ecs/aws4_request"
                .parse()
                .unwrap(),
        );
        assert_eq!(
            code(check(&auth, &partial, b"").await),
            ErrorCode::IncompleteSignatureException
        );
    }

    #[tokio::test]
    async fn a_deleted_key_stops_working_at_once() {
        let (auth, credentials, _dir) = setup().await;
        let headers = signed(&credentials, b"", "ecs");
        assert!(check(&auth, &headers, b"").await.is_ok());
        auth.iam
            .delete_access_key("111122223333", None, &credentials.access_key_id)
            .await
            .unwrap();
        // The watch empties the cache; give its task a moment to run.
        for _ in 0..100 {
            if check(&auth, &headers, b"").await.is_err() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("a deleted key still verifies");
    }
}

#[cfg(test)]
mod cost {
    use super::tests_support::*;

    #[tokio::test]
    #[ignore = "a measurement, not a test: cargo test --release -p berth-api verify_cost -- --ignored --nocapture"]
    async fn verify_cost() {
        let (auth, credentials, _dir) = setup().await;
        let headers = signed(&credentials, b"{}", "ecs");
        let start = std::time::Instant::now();
        let n = 100_000;
        for _ in 0..n {
            check(&auth, &headers, b"{}").await.unwrap();
        }
        eprintln!("{:?} per verification", start.elapsed() / n);
    }
}

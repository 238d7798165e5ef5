//! A client for the OCI Distribution API: manifests and blobs over HTTP(S), the `Basic` and
//! `Bearer` token challenge flows, redirects to blob storage, mirrors, and retries with
//! backoff on transient faults.
//!
//! Registries on loopback speak plain HTTP, as Docker allows; every other registry speaks
//! HTTPS unless it is listed as insecure.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::credentials::{Challenge, Credentials};
use crate::digest::Digest;
use crate::manifest::ACCEPTED_MANIFESTS;
use crate::reference::DOCKER_HUB;

const ATTEMPTS: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for the next chunk of a blob before the download counts as stalled.
pub const BODY_STALL_TIMEOUT: Duration = Duration::from_secs(60);
const MAX_REDIRECTS: usize = 5;
const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// How berth reaches registries.
#[derive(Debug, Clone, Default)]
pub struct RegistryConfig {
    /// Credentials by registry.
    pub credentials: Credentials,
    /// Registries (`host[:port]`) reached over plain HTTP though not on loopback.
    pub insecure: Vec<String>,
    /// Mirrors by registry (`docker.io` → `http://127.0.0.1:5000`), tried before it.
    pub mirrors: BTreeMap<String, Vec<String>>,
}

/// Why a fetch from a registry failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// No connection, or it kept failing.
    #[error("registry {registry} is unreachable: {reason}")]
    Unreachable {
        /// Which.
        registry: String,
        /// What went wrong last.
        reason: String,
    },
    /// 404 with `NAME_UNKNOWN`: the registry has no such repository.
    #[error("repository {repository} not found")]
    RepositoryNotFound {
        /// `registry/repository`.
        repository: String,
    },
    /// 404 for a tag (`MANIFEST_UNKNOWN`): the repository is there, the tag is not. Said
    /// apart from a missing repository because the fix differs (a typo in the tag, a push
    /// that has not happened yet).
    #[error("tag {tag} not found in {repository}")]
    TagNotFound {
        /// `registry/repository`.
        repository: String,
        /// The tag asked for.
        tag: String,
    },
    /// 404 for a manifest asked for by digest.
    #[error("manifest {digest} not found in {repository}")]
    ManifestNotFound {
        /// `registry/repository`.
        repository: String,
        /// The digest asked for.
        digest: String,
    },
    /// 404 for a blob (`BLOB_UNKNOWN`): a manifest names content the registry does not have.
    #[error("blob {digest} not found in {repository}")]
    BlobNotFound {
        /// `registry/repository`.
        repository: String,
        /// The blob's digest.
        digest: String,
    },
    /// 401/403 after the auth flow.
    #[error("pull access denied for {repository} on {registry}: {detail}")]
    Unauthorized {
        /// Which registry.
        registry: String,
        /// Which repository.
        repository: String,
        /// Why.
        detail: String,
    },
    /// Any other refusal.
    #[error("registry {registry} answered {status}: {detail}")]
    Status {
        /// Which registry.
        registry: String,
        /// The HTTP status.
        status: u16,
        /// The registry's words.
        detail: String,
    },
    /// The registry spoke something else than the Distribution API.
    #[error("registry {registry} sent an invalid response: {detail}")]
    Protocol {
        /// Which registry.
        registry: String,
        /// What was wrong.
        detail: String,
    },
}

/// Where to fetch a registry's content from: the registry itself or one of its mirrors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `scheme://host[:port]`
    pub base: String,
    /// The host whose credentials apply.
    pub host: String,
}

/// What a GET asks for, so that a 404 can say which thing is missing.
#[derive(Debug, Clone, Copy)]
enum Target<'a> {
    /// A manifest, by tag or digest.
    Manifest(&'a str),
    /// A blob, by digest.
    Blob(&'a Digest),
    /// The repository's tag list: a 404 means no such repository.
    Tags,
}

/// A fetched manifest.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    /// Its bytes, exactly as served (their digest is the manifest's digest).
    pub bytes: Vec<u8>,
    /// The `Content-Type` the registry gave.
    pub content_type: Option<String>,
    /// Where it came from: fetch its blobs from there too.
    pub endpoint: Endpoint,
}

/// The OCI Distribution API client.
pub struct Registry {
    http: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    config: RegistryConfig,
    /// `Authorization` values by endpoint and scope, so a pull authenticates once.
    authorizations: Mutex<HashMap<(String, String), String>>,
}

impl Registry {
    /// A client with `config`. TLS trusts the system's root certificates.
    pub fn new(config: RegistryConfig) -> Self {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        http.set_nodelay(true);
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        // A machine without CA certificates can still pull from plain-HTTP registries.
        let builder = match hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(provider.clone())
        {
            Ok(with_roots) => with_roots,
            Err(error) => {
                tracing::warn!(%error, "no system root certificates: HTTPS registries will be refused");
                let tls = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map(|b| {
                        b.with_root_certificates(rustls::RootCertStore::empty())
                            .with_no_client_auth()
                    });
                match tls {
                    Ok(tls) => hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls),
                    Err(_) => hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(
                        rustls::ClientConfig::builder()
                            .with_root_certificates(rustls::RootCertStore::empty())
                            .with_no_client_auth(),
                    ),
                }
            }
        };
        let https = builder.https_or_http().enable_http1().wrap_connector(http);
        Self {
            http: Client::builder(TokioExecutor::new()).build(https),
            config,
            authorizations: Mutex::new(HashMap::new()),
        }
    }

    /// The endpoints to try for `registry`, mirrors first.
    pub fn endpoints(&self, registry: &str) -> Vec<Endpoint> {
        let mut endpoints: Vec<Endpoint> = self
            .config
            .mirrors
            .get(registry)
            .into_iter()
            .flatten()
            .map(|url| {
                let base = url.trim_end_matches('/').to_owned();
                let host = base.split("://").nth(1).unwrap_or(&base).to_owned();
                Endpoint { base, host }
            })
            .collect();
        let host = if registry == DOCKER_HUB {
            "registry-1.docker.io"
        } else {
            registry
        };
        let scheme = if is_loopback(registry) || self.config.insecure.iter().any(|h| h == registry)
        {
            "http"
        } else {
            "https"
        };
        endpoints.push(Endpoint {
            base: format!("{scheme}://{host}"),
            host: registry.to_owned(),
        });
        endpoints
    }

    /// Fetches the manifest `reference` (a tag or digest) of `repository`, trying each endpoint
    /// of `registry` in turn.
    pub async fn fetch_manifest(
        &self,
        registry: &str,
        repository: &str,
        reference: &str,
    ) -> Result<FetchedManifest, FetchError> {
        let mut last_error = None;
        for endpoint in self.endpoints(registry) {
            let path = format!("/v2/{repository}/manifests/{reference}");
            let attempt = async {
                let response = self
                    .get(
                        &endpoint,
                        repository,
                        &path,
                        Target::Manifest(reference),
                        Some(ACCEPTED_MANIFESTS),
                    )
                    .await?;
                let content_type = response
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let bytes = read_limited(response, &endpoint, MAX_MANIFEST_BYTES).await?;
                Ok(FetchedManifest {
                    bytes,
                    content_type,
                    endpoint: endpoint.clone(),
                })
            };
            match attempt.await {
                Ok(found) => return Ok(found),
                // Distribution registries answer MANIFEST_UNKNOWN for a tag of a repository
                // they do not have, too: its tag list tells the two apart.
                Err(FetchError::TagNotFound {
                    repository: name,
                    tag,
                }) if self.has_no_repository(&endpoint, repository).await => {
                    tracing::debug!(endpoint = %endpoint.base, %tag, "no such repository");
                    last_error = Some(FetchError::RepositoryNotFound { repository: name });
                }
                Err(error) => {
                    tracing::debug!(endpoint = %endpoint.base, %error, "manifest fetch failed");
                    last_error = Some(error);
                }
            }
        }
        Err(last_error.unwrap_or_else(|| FetchError::Unreachable {
            registry: registry.to_owned(),
            reason: "no endpoint".into(),
        }))
    }

    /// True when `endpoint` says it has no repository `repository` (its tag list is a 404);
    /// false when it has one, or says anything else.
    async fn has_no_repository(&self, endpoint: &Endpoint, repository: &str) -> bool {
        let path = format!("/v2/{repository}/tags/list");
        matches!(
            self.get(endpoint, repository, &path, Target::Tags, None)
                .await,
            Err(FetchError::RepositoryNotFound { .. })
        )
    }

    /// Starts downloading blob `digest` of `repository` from `endpoint`; read the body from
    /// the response.
    pub async fn fetch_blob(
        &self,
        endpoint: &Endpoint,
        repository: &str,
        digest: &Digest,
    ) -> Result<Response<Incoming>, FetchError> {
        let path = format!("/v2/{repository}/blobs/{digest}");
        self.get(endpoint, repository, &path, Target::Blob(digest), None)
            .await
    }

    /// GET with authentication, redirects and retries; returns a 2xx response or the error.
    async fn get(
        &self,
        endpoint: &Endpoint,
        repository: &str,
        path: &str,
        target: Target<'_>,
        accept: Option<&str>,
    ) -> Result<Response<Incoming>, FetchError> {
        let scope = format!("repository:{repository}:pull");
        let key = (endpoint.base.clone(), scope.clone());
        let mut url = format!("{}{path}", endpoint.base);
        let mut redirects = 0;
        let mut authenticated = false;
        let mut attempt = 0;
        loop {
            let authorization = self
                .authorizations
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&key)
                .cloned();
            // Credentials go only to the registry itself, never to a redirect target.
            let same_host = url.starts_with(&endpoint.base);
            let response = match self
                .send(&url, accept, authorization.filter(|_| same_host))
                .await
            {
                Ok(response) => response,
                Err(reason) => {
                    attempt += 1;
                    if attempt >= ATTEMPTS {
                        return Err(FetchError::Unreachable {
                            registry: endpoint.host.clone(),
                            reason,
                        });
                    }
                    backoff(attempt).await;
                    continue;
                }
            };
            let status = response.status();
            if status.is_success() {
                return Ok(response);
            }
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                redirects += 1;
                match location {
                    Some(location) if redirects <= MAX_REDIRECTS => {
                        url = if location.starts_with('/') {
                            format!("{}{location}", endpoint.base)
                        } else {
                            location
                        };
                        continue;
                    }
                    _ => {
                        return Err(FetchError::Protocol {
                            registry: endpoint.host.clone(),
                            detail: "too many or invalid redirects".into(),
                        });
                    }
                }
            }
            if status == StatusCode::UNAUTHORIZED && !authenticated && same_host {
                authenticated = true;
                let challenge = response
                    .headers()
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok())
                    .and_then(Challenge::parse);
                let value = self.answer(endpoint, challenge, &scope, repository).await?;
                self.authorizations
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(key.clone(), value);
                continue;
            }
            if (status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS)
                && attempt + 1 < ATTEMPTS
            {
                attempt += 1;
                backoff(attempt).await;
                continue;
            }
            let errors = error_detail(response).await;
            return Err(match status {
                StatusCode::NOT_FOUND => not_found(
                    format!("{}/{repository}", endpoint.host),
                    target,
                    &errors.codes,
                ),
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => FetchError::Unauthorized {
                    registry: endpoint.host.clone(),
                    repository: repository.to_owned(),
                    detail: errors.words,
                },
                _ => FetchError::Status {
                    registry: endpoint.host.clone(),
                    status: status.as_u16(),
                    detail: errors.words,
                },
            });
        }
    }

    /// The `Authorization` header value answering `challenge`.
    async fn answer(
        &self,
        endpoint: &Endpoint,
        challenge: Option<Challenge>,
        scope: &str,
        repository: &str,
    ) -> Result<String, FetchError> {
        let credential = self.config.credentials.get(&endpoint.host);
        let unauthorized = |detail: &str| FetchError::Unauthorized {
            registry: endpoint.host.clone(),
            repository: repository.to_owned(),
            detail: detail.to_owned(),
        };
        match challenge {
            Some(Challenge::Basic) => credential.map(|c| c.basic_header()).ok_or_else(|| {
                unauthorized(
                    "authentication required, and no credentials are configured for this registry",
                )
            }),
            Some(Challenge::Bearer {
                realm,
                service,
                scope: offered,
            }) => {
                let mut url = format!("{realm}?scope={}", offered.as_deref().unwrap_or(scope));
                if let Some(service) = service {
                    url.push_str(&format!("&service={service}"));
                }
                let response = self
                    .send(&url, None, credential.map(|c| c.basic_header()))
                    .await
                    .map_err(|reason| FetchError::Unreachable {
                        registry: realm.clone(),
                        reason,
                    })?;
                if !response.status().is_success() {
                    return Err(unauthorized(&format!(
                        "the token service {realm} answered {}",
                        response.status().as_u16()
                    )));
                }
                let body = read_limited(response, endpoint, 1024 * 1024).await?;
                #[derive(serde::Deserialize)]
                struct Token {
                    token: Option<String>,
                    access_token: Option<String>,
                }
                let token: Token =
                    serde_json::from_slice(&body).map_err(|e| FetchError::Protocol {
                        registry: realm.clone(),
                        detail: format!("token response: {e}"),
                    })?;
                token
                    .token
                    .or(token.access_token)
                    .map(|t| format!("Bearer {t}"))
                    .ok_or_else(|| unauthorized("the token service gave no token"))
            }
            None => Err(unauthorized("authentication required")),
        }
    }

    async fn send(
        &self,
        url: &str,
        accept: Option<&str>,
        authorization: Option<String>,
    ) -> Result<Response<Incoming>, String> {
        let mut request =
            Request::get(url).header("user-agent", concat!("berth/", env!("CARGO_PKG_VERSION")));
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        let request = request.body(Empty::new()).map_err(|e| e.to_string())?;
        match tokio::time::timeout(RESPONSE_TIMEOUT, self.http.request(request)).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(error)) => Err(describe(&error)),
            Err(_) => Err("timed out waiting for a response".into()),
        }
    }
}

async fn backoff(attempt: u32) {
    tokio::time::sleep(FIRST_BACKOFF * 2u32.pow(attempt - 1)).await;
}

/// The innermost cause of a client error, which says what happened ("connection refused").
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut innermost = error;
    while let Some(source) = innermost.source() {
        innermost = source;
    }
    innermost.to_string()
}

async fn read_limited(
    response: Response<Incoming>,
    endpoint: &Endpoint,
    limit: usize,
) -> Result<Vec<u8>, FetchError> {
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| FetchError::Unreachable {
            registry: endpoint.host.clone(),
            reason: describe(&e),
        })?;
        if let Some(data) = frame.data_ref() {
            bytes.extend_from_slice(data);
            if bytes.len() > limit {
                return Err(FetchError::Protocol {
                    registry: endpoint.host.clone(),
                    detail: format!("response larger than {limit} bytes"),
                });
            }
        }
    }
    Ok(bytes)
}

/// What a 404 means, in berth's words only: the registry's own message for these codes
/// ("manifest unknown") says less than the variant does, so it is not repeated.
fn not_found(repository: String, target: Target<'_>, codes: &[String]) -> FetchError {
    if codes.iter().any(|c| c == "NAME_UNKNOWN") {
        return FetchError::RepositoryNotFound { repository };
    }
    match target {
        // Tags cannot hold a ':', digests always do.
        Target::Manifest(digest) if digest.contains(':') => FetchError::ManifestNotFound {
            repository,
            digest: digest.to_owned(),
        },
        Target::Manifest(tag) => FetchError::TagNotFound {
            repository,
            tag: tag.to_owned(),
        },
        Target::Blob(digest) => FetchError::BlobNotFound {
            repository,
            digest: digest.to_string(),
        },
        Target::Tags => FetchError::RepositoryNotFound { repository },
    }
}

/// A registry's error body, read.
struct RegistryErrors {
    /// The Distribution API's error codes (`MANIFEST_UNKNOWN`, `NAME_UNKNOWN`, ...).
    codes: Vec<String>,
    /// The registry's own words, for errors whose code says too little.
    words: String,
}

/// The registry's own words from an error body (`{"errors":[{"code","message"}]}`).
async fn error_detail(response: Response<Incoming>) -> RegistryErrors {
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<ErrorItem>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorItem {
        code: Option<String>,
        message: Option<String>,
    }
    let words = match serde_json::from_slice::<Errors>(&body) {
        Ok(errors) if !errors.errors.is_empty() => {
            let codes = errors
                .errors
                .iter()
                .filter_map(|e| e.code.clone())
                .collect();
            let words = errors
                .errors
                .iter()
                .map(|e| {
                    let code = e
                        .code
                        .as_deref()
                        .unwrap_or("ERROR")
                        .to_ascii_lowercase()
                        .replace('_', " ");
                    match &e.message {
                        // "unauthorized: unauthorized" says it twice.
                        Some(m) if !m.is_empty() && !m.eq_ignore_ascii_case(&code) => {
                            format!("{code}: {m}")
                        }
                        _ => code,
                    }
                })
                .collect::<Vec<_>>()
                .join("; ");
            return RegistryErrors { codes, words };
        }
        _ => status
            .canonical_reason()
            .unwrap_or("error")
            .to_ascii_lowercase(),
    };
    RegistryErrors {
        codes: Vec::new(),
        words,
    }
}

/// True for registries on the loopback interface, which Docker reaches over plain HTTP.
pub fn is_loopback(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => registry.rsplit_once(':').map_or(registry, |(h, _)| h),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_404_says_what_is_missing_once() {
        let repository = || "127.0.0.1:5000/team/app".to_owned();
        let codes = |codes: &[&str]| codes.iter().map(|c| c.to_string()).collect::<Vec<_>>();
        let digest = Digest::of(b"");
        let cases = [
            (
                not_found(
                    repository(),
                    Target::Manifest("nope"),
                    &codes(&["MANIFEST_UNKNOWN"]),
                ),
                "tag nope not found in 127.0.0.1:5000/team/app".to_owned(),
            ),
            (
                not_found(
                    repository(),
                    Target::Manifest("nope"),
                    &codes(&["NAME_UNKNOWN"]),
                ),
                "repository 127.0.0.1:5000/team/app not found".to_owned(),
            ),
            (
                not_found(repository(), Target::Manifest(&digest.to_string()), &[]),
                format!("manifest {digest} not found in 127.0.0.1:5000/team/app"),
            ),
            (
                not_found(
                    repository(),
                    Target::Blob(&digest),
                    &codes(&["BLOB_UNKNOWN"]),
                ),
                format!("blob {digest} not found in 127.0.0.1:5000/team/app"),
            ),
            (
                not_found(repository(), Target::Tags, &[]),
                "repository 127.0.0.1:5000/team/app not found".to_owned(),
            ),
        ];
        for (error, words) in cases {
            assert_eq!(error.to_string(), words);
        }
    }

    #[test]
    fn loopback_registries_are_plain_http_others_https() {
        for (registry, loopback) in [
            ("localhost:5000", true),
            ("localhost", true),
            ("127.0.0.1:5000", true),
            ("127.1.2.3", true),
            ("[::1]:5000", true),
            ("registry.local:5000", false),
            ("10.0.0.1:5000", false),
            ("docker.io", false),
        ] {
            assert_eq!(is_loopback(registry), loopback, "{registry}");
        }
        let mut config = RegistryConfig::default();
        config.insecure.push("registry.local:5000".into());
        config
            .mirrors
            .insert("docker.io".into(), vec!["http://127.0.0.1:5000/".into()]);
        let registry = Registry::new(config);
        assert_eq!(
            registry.endpoints("registry.local:5000")[0].base,
            "http://registry.local:5000"
        );
        assert_eq!(registry.endpoints("ghcr.io")[0].base, "https://ghcr.io");
        let hub = registry.endpoints("docker.io");
        assert_eq!(hub[0].base, "http://127.0.0.1:5000");
        assert_eq!(hub[1].base, "https://registry-1.docker.io");
        assert_eq!(hub[1].host, "docker.io");
    }
}

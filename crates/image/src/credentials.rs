//! Registry credentials from a Docker-format `config.json` (`auths`), and the
//! `WWW-Authenticate` challenges registries answer with.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// A user name and password (or token) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// The user name.
    pub username: String,
    /// The password or identity token.
    pub password: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credential({}, <redacted>)", self.username)
    }
}

impl Credential {
    /// The value of an `Authorization: Basic ...` header.
    pub fn basic_header(&self) -> String {
        format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{}", self.username, self.password))
        )
    }
}

/// Credentials by registry host (`docker.io`, `registry.local:5000`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    by_registry: BTreeMap<String, Credential>,
}

/// Why a Docker config file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// Unreadable file.
    #[error("cannot read registry credentials from {path}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Not the JSON Docker writes.
    #[error("{path} is not a Docker config.json: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

impl Credentials {
    /// Reads the `auths` of a Docker `config.json`.
    pub fn from_docker_config(path: &Path) -> Result<Self, CredentialsError> {
        let text = std::fs::read(path).map_err(|source| CredentialsError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text).map_err(|reason| CredentialsError::Invalid {
            path: path.display().to_string(),
            reason,
        })
    }

    fn parse(text: &[u8]) -> Result<Self, String> {
        #[derive(serde::Deserialize)]
        struct Config {
            #[serde(default)]
            auths: BTreeMap<String, Entry>,
        }
        #[derive(serde::Deserialize)]
        struct Entry {
            auth: Option<String>,
            username: Option<String>,
            password: Option<String>,
            identitytoken: Option<String>,
        }
        let config: Config = serde_json::from_slice(text).map_err(|e| e.to_string())?;
        let mut by_registry = BTreeMap::new();
        for (key, entry) in config.auths {
            let credential = if let Some(auth) = entry.auth.filter(|a| !a.is_empty()) {
                let decoded = STANDARD
                    .decode(auth.trim())
                    .map_err(|_| format!("the auth of '{key}' is not base64"))?;
                let decoded = String::from_utf8(decoded)
                    .map_err(|_| format!("the auth of '{key}' is not text"))?;
                let (username, password) = decoded
                    .split_once(':')
                    .ok_or_else(|| format!("the auth of '{key}' is not user:password"))?;
                Credential {
                    username: username.to_owned(),
                    password: password.to_owned(),
                }
            } else if let Some(username) = entry.username {
                Credential {
                    username,
                    password: entry.password.or(entry.identitytoken).unwrap_or_default(),
                }
            } else {
                continue;
            };
            by_registry.insert(normalize_key(&key), credential);
        }
        Ok(Self { by_registry })
    }

    /// Adds or replaces the credential of `registry`.
    pub fn insert(&mut self, registry: &str, credential: Credential) {
        self.by_registry.insert(normalize_key(registry), credential);
    }

    /// The credential for `registry`, if any.
    pub fn get(&self, registry: &str) -> Option<&Credential> {
        self.by_registry.get(&normalize_key(registry))
    }
}

/// Docker writes Docker Hub as `https://index.docker.io/v1/` and others as bare hosts or URLs.
fn normalize_key(key: &str) -> String {
    let host = key
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default();
    match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            crate::reference::DOCKER_HUB.to_owned()
        }
        other => other.to_owned(),
    }
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic realm="..."`: send the credential directly.
    Basic,
    /// `Bearer realm="...",service="...",scope="..."`: fetch a token from `realm`.
    Bearer {
        /// The token endpoint.
        realm: String,
        /// The service parameter, if given.
        service: Option<String>,
        /// The scope parameter, if given.
        scope: Option<String>,
    },
}

impl Challenge {
    /// Parses a `WWW-Authenticate` header value.
    pub fn parse(header: &str) -> Option<Self> {
        let (scheme, params) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
        let params = parse_params(params);
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        if scheme.eq_ignore_ascii_case("basic") {
            Some(Self::Basic)
        } else if scheme.eq_ignore_ascii_case("bearer") {
            Some(Self::Bearer {
                realm: get("realm")?,
                service: get("service"),
                scope: get("scope"),
            })
        } else {
            None
        }
    }
}

/// `a="x",b="y, z",c=w` → pairs; quoted values may hold commas.
fn parse_params(text: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key.trim().trim_start_matches(',').trim().to_owned();
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (quoted[..end].to_owned(), &quoted[end + 1..]),
                None => (quoted.to_owned(), ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (after[..end].trim().to_owned(), &after[end..]),
                None => (after.trim().to_owned(), ""),
            }
        };
        pairs.push((key, value));
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_config_auths() {
        let config = br#"{"auths": {
            "https://index.docker.io/v1/": {"auth": "dXNlcjpwYXNz"},
            "127.0.0.1:5000": {"username": "u", "password": "p:w"},
            "ignored.example": {}
        }}"#;
        let creds = Credentials::parse(config).unwrap();
        assert_eq!(creds.get("docker.io").unwrap().username, "user");
        assert_eq!(creds.get("docker.io").unwrap().password, "pass");
        assert_eq!(creds.get("127.0.0.1:5000").unwrap().password, "p:w");
        assert!(creds.get("ignored.example").is_none());
        assert_eq!(
            creds.get("docker.io").unwrap().basic_header(),
            "Basic dXNlcjpwYXNz"
        );
        assert!(Credentials::parse(br#"{"auths": {"x": {"auth": "!!"}}}"#).is_err());
    }

    #[test]
    fn challenges() {
        assert_eq!(
            Challenge::parse(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(
            Challenge::parse(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull,push""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/nginx:pull,push".into()),
            })
        );
        assert_eq!(Challenge::parse("Bearer service=x"), None);
        assert_eq!(Challenge::parse("Negotiate"), None);
    }
}

//! Image references, normalized as Docker does: `nginx` is
//! `docker.io/library/nginx:latest`; `host:port/repo:tag`, `repo@sha256:...` and
//! `repo:tag@sha256:...` keep their registry, tag and digest.
//!
//! A name without a registry (a short name) has a second meaning, as in podman: images
//! imported from archives without a registry in their tag are stored under [`LOCAL`]
//! (`team/app:v3` → `localhost/team/app:v3`), and a short name names that local image when
//! one is stored, else Docker Hub's ([`Reference::local`] gives the local candidate; the
//! image store decides).

use std::fmt;

use crate::digest::{Digest, DigestError};

/// The registry an unqualified reference names.
pub const DOCKER_HUB: &str = "docker.io";
const DEFAULT_TAG: &str = "latest";
/// The registry of images that came from archives, not from a registry: no registry is asked
/// for them.
pub const LOCAL: &str = "localhost";

/// A normalized image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// `docker.io`, `registry.local:5000`, `123456789012.dkr.ecr.us-east-1.amazonaws.com`...
    pub registry: String,
    /// `library/nginx`, `team/app`...
    pub repository: String,
    /// The tag, `latest` when neither tag nor digest was given.
    pub tag: Option<String>,
    /// The digest, when pinned.
    pub digest: Option<Digest>,
}

/// Why a string is not an image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// Empty.
    #[error("an image reference must not be empty")]
    Empty,
    /// A path component outside `[a-z0-9]` separated by `.`, `_`, `__` or `-`.
    #[error(
        "invalid image reference '{0}': repository names are lowercase letters, digits and separators (. _ -)"
    )]
    InvalidRepository(String),
    /// A tag outside `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
    #[error("invalid image reference '{0}': tags are up to 128 letters, digits, '_', '.' and '-'")]
    InvalidTag(String),
    /// A bad registry host.
    #[error("invalid image reference '{0}': the registry host is not valid")]
    InvalidRegistry(String),
    /// A bad digest.
    #[error("invalid image reference '{reference}': {source}")]
    InvalidDigest {
        /// The reference.
        reference: String,
        /// The digest's fault.
        source: DigestError,
    },
}

impl Reference {
    /// Parses and normalizes a reference.
    pub fn parse(text: &str) -> Result<Self, ReferenceError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(ReferenceError::Empty);
        }
        let (name_and_tag, digest) = match text.split_once('@') {
            Some((name, digest)) => {
                let digest =
                    Digest::parse(digest).map_err(|source| ReferenceError::InvalidDigest {
                        reference: text.to_owned(),
                        source,
                    })?;
                (name, Some(digest))
            }
            None => (text, None),
        };
        // A ':' after the last '/' separates the tag; one before it belongs to host:port.
        let last_slash = name_and_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_and_tag[last_slash..].rfind(':') {
            Some(i) => (
                &name_and_tag[..last_slash + i],
                Some(&name_and_tag[last_slash + i + 1..]),
            ),
            None => (name_and_tag, None),
        };
        if let Some(tag) = tag
            && !is_valid_tag(tag)
        {
            return Err(ReferenceError::InvalidTag(text.to_owned()));
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest)) if is_registry_component(first) => {
                (first.to_owned(), rest.to_owned())
            }
            _ => (DOCKER_HUB.to_owned(), name.to_owned()),
        };
        let registry = match registry.as_str() {
            "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_owned(),
            _ => registry,
        };
        if !is_valid_registry(&registry) {
            return Err(ReferenceError::InvalidRegistry(text.to_owned()));
        }
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        if !repository.split('/').all(is_valid_component) {
            return Err(ReferenceError::InvalidRepository(text.to_owned()));
        }
        let tag = match (tag, &digest) {
            (Some(tag), _) => Some(tag.to_owned()),
            (None, None) => Some(DEFAULT_TAG.to_owned()),
            (None, Some(_)) => None,
        };
        Ok(Self {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// Parses `text` as the tag of an imported image: one without a registry is local
    /// (`team/app:v3` → `localhost/team/app:v3`, never `docker.io/...`), so it is never
    /// confused with, or replaced by, an image of the same name on Docker Hub.
    pub fn parse_local(text: &str) -> Result<Self, ReferenceError> {
        match Self::local(text)? {
            Some(local) => Ok(local),
            None => Self::parse(text),
        }
    }

    /// The local image (`localhost/...`) a short name (`team/app:v3`, no registry) may mean;
    /// `None` for a reference that names its registry.
    pub fn local(text: &str) -> Result<Option<Self>, ReferenceError> {
        let text = text.trim();
        if names_registry(text) {
            return Ok(None);
        }
        // Validated as given, so that errors quote what the user wrote.
        Self::parse(text)?;
        Self::parse(&format!("{LOCAL}/{text}")).map(Some)
    }

    /// What to ask the registry's manifest endpoint for: the digest when pinned, else the tag.
    pub fn manifest_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(digest), _) => digest.to_string(),
            (None, Some(tag)) => tag.clone(),
            (None, None) => DEFAULT_TAG.to_owned(),
        }
    }

    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Docker's rule: the first component is a registry host when it has a '.' or a ':' (a
/// port), or is `localhost`.
fn is_registry_component(first: &str) -> bool {
    first.contains('.') || first.contains(':') || first == LOCAL
}

/// True when `text` names its registry (`ghcr.io/...`, `localhost/...`, `host:5000/...`).
fn names_registry(text: &str) -> bool {
    text.split_once('/')
        .is_some_and(|(first, _)| is_registry_component(first))
}

fn is_valid_tag(tag: &str) -> bool {
    let mut bytes = tag.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphanumeric() || b == b'_')
        && tag.len() <= 128
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn is_valid_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    !bytes.is_empty()
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes.iter().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

fn is_valid_registry(registry: &str) -> bool {
    let (host, port) = match registry.strip_prefix('[') {
        // [::1]:5000
        Some(rest) => match rest.split_once(']') {
            Some((host, rest)) => (host, rest.strip_prefix(':')),
            None => return false,
        },
        None => match registry.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (registry, None),
        },
    };
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'))
        && port.is_none_or(|p| p.parse::<u16>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn normalization_table() {
        let digest_ref = format!("registry.local:5000/team/app@{D}");
        let both = format!("nginx:1.25@{D}");
        let cases: Vec<(&str, Option<String>)> = vec![
            ("nginx", Some("docker.io/library/nginx:latest".into())),
            ("nginx:1.25", Some("docker.io/library/nginx:1.25".into())),
            (
                "library/nginx",
                Some("docker.io/library/nginx:latest".into()),
            ),
            ("bitnami/redis:7", Some("docker.io/bitnami/redis:7".into())),
            (
                "docker.io/nginx",
                Some("docker.io/library/nginx:latest".into()),
            ),
            (
                "index.docker.io/library/nginx",
                Some("docker.io/library/nginx:latest".into()),
            ),
            ("localhost/app", Some("localhost/app:latest".into())),
            (
                "localhost:5000/app:v1",
                Some("localhost:5000/app:v1".into()),
            ),
            (
                "127.0.0.1:5000/a/b/c:tag",
                Some("127.0.0.1:5000/a/b/c:tag".into()),
            ),
            ("[::1]:5000/app", Some("[::1]:5000/app:latest".into())),
            (
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v3",
                Some("123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v3".into()),
            ),
            (&digest_ref, Some(digest_ref.clone())),
            (&both, Some(format!("docker.io/library/nginx:1.25@{D}"))),
            ("", None),
            ("Nginx", None),
            ("nginx:", None),
            ("nginx:-bad", None),
            ("nginx@sha256:abc", None),
            ("a//b", None),
            ("host:port/app", None),
        ];
        for (input, expected) in cases {
            assert_eq!(
                Reference::parse(input).ok().map(|r| r.to_string()),
                expected,
                "{input}"
            );
        }
    }

    #[test]
    fn short_names_have_a_local_meaning_and_qualified_ones_none() {
        let local = |text: &str| Reference::local(text).unwrap().map(|r| r.to_string());
        assert_eq!(
            local("team/app:v3").as_deref(),
            Some("localhost/team/app:v3")
        );
        assert_eq!(local("app").as_deref(), Some("localhost/app:latest"));
        assert_eq!(
            local(&format!("app@{D}")),
            Some(format!("localhost/app@{D}"))
        );
        for qualified in [
            "docker.io/team/app:v3",
            "localhost/team/app:v3",
            "127.0.0.1:5000/team/app",
            "ghcr.io/team/app",
        ] {
            assert_eq!(local(qualified), None, "{qualified}");
        }
        assert!(Reference::local("Team/App").is_err());
        assert_eq!(
            Reference::parse_local("team/app:v3").unwrap().to_string(),
            "localhost/team/app:v3"
        );
        assert_eq!(
            Reference::parse_local("docker.io/team/app:v3")
                .unwrap()
                .to_string(),
            "docker.io/team/app:v3"
        );
    }

    #[test]
    fn manifest_reference_prefers_the_digest() {
        let r = Reference::parse(&format!("nginx:1.25@{D}")).unwrap();
        assert_eq!(r.manifest_reference(), D);
        assert_eq!(
            Reference::parse("nginx").unwrap().manifest_reference(),
            "latest"
        );
        assert_eq!(r.name(), "docker.io/library/nginx");
    }
}

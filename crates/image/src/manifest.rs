//! The OCI and Docker image documents berth reads: indexes and manifest lists, manifests,
//! descriptors, platforms and image configs, plus the media types that tell them apart.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Docker manifest list (schema 2).
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image manifest (schema 2).
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// Every manifest type berth accepts, for the registry's `Accept` header.
pub const ACCEPTED_MANIFESTS: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// A pointer to content: its type, digest and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// What the content is.
    pub media_type: String,
    /// Its digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// For index entries: the platform the manifest is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Annotations (an OCI layout's `org.opencontainers.image.ref.name` among them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// An operating system and CPU architecture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// `amd64`, `arm64`, ...
    pub architecture: String,
    /// `linux`, ...
    pub os: String,
    /// `v7`, `v8`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// The platform of the machine berth runs on, named as OCI names it.
    pub fn host() -> Self {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "aarch64" => ("arm64", None),
            "arm" => ("arm", Some("v7")),
            "x86" => ("386", None),
            "powerpc64" => ("ppc64le", None),
            other => (other, None),
        };
        Self {
            architecture: architecture.to_owned(),
            os: std::env::consts::OS.to_owned(),
            variant: variant.map(str::to_owned),
        }
    }

    /// True when an image built for `candidate` runs here. An unspecified variant matches,
    /// and arm64's `v8` is its only variant.
    pub fn runs(&self, candidate: &Platform) -> bool {
        let normalize = |p: &Platform| match (p.architecture.as_str(), p.variant.as_deref()) {
            ("arm64", Some("v8")) => None,
            (_, variant) => variant.map(str::to_owned),
        };
        self.os == candidate.os
            && self.architecture == candidate.architecture
            && (normalize(candidate).is_none() || normalize(candidate) == normalize(self))
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

/// An OCI index or Docker manifest list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// Always 2.
    pub schema_version: u32,
    /// The index's own media type, when it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// One manifest per platform (or per tag, in an OCI layout).
    pub manifests: Vec<Descriptor>,
}

/// An OCI or Docker schema 2 image manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2.
    pub schema_version: u32,
    /// The manifest's own media type, when it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The image config.
    pub config: Descriptor,
    /// The layers, bottom first.
    pub layers: Vec<Descriptor>,
}

/// A manifest document as fetched: either an index to choose from or an image manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestDocument {
    /// Several manifests; pick one by platform.
    Index(Index),
    /// One image.
    Image(Manifest),
}

/// Why a manifest document cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// A media type berth does not pull (schema 1, artifacts, ...).
    #[error("unsupported manifest media type '{0}'")]
    UnsupportedMediaType(String),
    /// Not the JSON its media type promises.
    #[error("the manifest is not valid JSON for its media type: {0}")]
    Invalid(String),
}

impl ManifestDocument {
    /// Parses `bytes` as the media type the registry gave (or the document names).
    pub fn parse(content_type: Option<&str>, bytes: &[u8]) -> Result<Self, ManifestError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Probe {
            media_type: Option<String>,
            manifests: Option<serde_json::Value>,
        }
        let probe: Probe =
            serde_json::from_slice(bytes).map_err(|e| ManifestError::Invalid(e.to_string()))?;
        let media_type = content_type
            .map(|c| c.split(';').next().unwrap_or_default().trim().to_owned())
            .filter(|c| c.starts_with("application/vnd."))
            .or(probe.media_type)
            .unwrap_or_else(|| {
                // OCI documents may omit mediaType: an index has `manifests`.
                if probe.manifests.is_some() {
                    OCI_INDEX
                } else {
                    OCI_MANIFEST
                }
                .to_owned()
            });
        let invalid = |e: serde_json::Error| ManifestError::Invalid(e.to_string());
        match media_type.as_str() {
            OCI_INDEX | DOCKER_MANIFEST_LIST => {
                Ok(Self::Index(serde_json::from_slice(bytes).map_err(invalid)?))
            }
            OCI_MANIFEST | DOCKER_MANIFEST => {
                Ok(Self::Image(serde_json::from_slice(bytes).map_err(invalid)?))
            }
            other => Err(ManifestError::UnsupportedMediaType(other.to_owned())),
        }
    }
}

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip.
    Gzip,
    /// zstd.
    Zstd,
}

/// Why a layer cannot be unpacked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported layer media type '{0}'")]
pub struct UnsupportedLayer(pub String);

impl Compression {
    /// The compression a layer media type says.
    pub fn of_layer(media_type: &str) -> Result<Self, UnsupportedLayer> {
        let known = media_type.starts_with("application/vnd.oci.image.layer.")
            || media_type.starts_with("application/vnd.docker.image.rootfs.");
        if !known {
            return Err(UnsupportedLayer(media_type.to_owned()));
        }
        if media_type.ends_with("+gzip") || media_type.ends_with(".gzip") {
            Ok(Self::Gzip)
        } else if media_type.ends_with("+zstd") {
            Ok(Self::Zstd)
        } else if media_type.ends_with(".tar") || media_type.ends_with(".tar.v1") {
            Ok(Self::None)
        } else {
            Err(UnsupportedLayer(media_type.to_owned()))
        }
    }

    /// The compression the first bytes of a blob show (docker-save archives do not say).
    pub fn sniff(head: &[u8]) -> Self {
        match head {
            [0x1f, 0x8b, ..] => Self::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Self::Zstd,
            _ => Self::None,
        }
    }
}

/// The parts of an image config berth uses, named as the OCI image spec names them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// The image's CPU architecture.
    #[serde(default)]
    pub architecture: String,
    /// The image's OS.
    #[serde(default)]
    pub os: String,
    /// How containers from the image run.
    #[serde(default)]
    pub config: RunConfig,
    /// The uncompressed layer digests, bottom first.
    pub rootfs: RootFs,
}

/// The `config` part of an image config: what the runtime is handed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    /// `user`, `uid`, `user:group` or `uid:gid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `KEY=value` pairs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    /// The entrypoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// The default arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// The working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// `80/tcp` → `{}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    /// The signal that asks the process to stop (`SIGTERM` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// Labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
}

/// The `rootfs` part of an image config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Uncompressed layer digests, bottom first.
    #[serde(default)]
    pub diff_ids: Vec<Digest>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_media_types() {
        use Compression::*;
        let cases = [
            ("application/vnd.oci.image.layer.v1.tar", Some(None)),
            ("application/vnd.oci.image.layer.v1.tar+gzip", Some(Gzip)),
            ("application/vnd.oci.image.layer.v1.tar+zstd", Some(Zstd)),
            (
                "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
                Some(Gzip),
            ),
            (
                "application/vnd.docker.image.rootfs.diff.tar.gzip",
                Some(Gzip),
            ),
            (
                "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                Some(Gzip),
            ),
            ("application/vnd.oci.image.layer.v1.tar+bzip2", Option::None),
            ("application/octet-stream", Option::None),
        ];
        for (media_type, expected) in cases {
            assert_eq!(
                Compression::of_layer(media_type).ok(),
                expected,
                "{media_type}"
            );
        }
    }

    #[test]
    fn platform_matching() {
        let p = |arch: &str, variant: Option<&str>| Platform {
            architecture: arch.into(),
            os: "linux".into(),
            variant: variant.map(Into::into),
        };
        assert!(p("amd64", None).runs(&p("amd64", None)));
        assert!(!p("amd64", None).runs(&p("arm64", None)));
        assert!(p("arm64", None).runs(&p("arm64", Some("v8"))));
        assert!(!p("arm", Some("v7")).runs(&p("arm", Some("v6"))));
    }

    #[test]
    fn documents_are_told_apart_by_media_type_or_shape() {
        let index = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert!(matches!(
            ManifestDocument::parse(None, index),
            Ok(ManifestDocument::Index(_))
        ));
        let schema1 = br#"{"schemaVersion":1,"name":"x"}"#;
        assert!(matches!(
            ManifestDocument::parse(
                Some("application/vnd.docker.distribution.manifest.v1+prettyjws"),
                schema1
            ),
            Err(ManifestError::UnsupportedMediaType(_))
        ));
    }
}

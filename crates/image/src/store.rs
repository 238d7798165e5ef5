//! The content store under `<data-dir>/images`: what is on disk, and the image index.
//!
//! ```text
//! blobs/sha256/<hex>     manifests and configs, by digest
//! layers/<diff-id hex>/  one unpacked layer, shared by every image that has it
//! tmp/                   downloads and unpacks in progress; emptied at start
//! rootfs/<id>.json       a lease: which layers a mounted root filesystem uses
//! index.json             references → manifest, config and layers
//! ```
//!
//! Everything reaches its final path by an atomic rename after it is complete and verified,
//! so a crash leaves at worst garbage in `tmp/`, never a half-written layer under `layers/`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use berth_model::Timestamp;
use serde::{Deserialize, Serialize};

use crate::digest::Digest;

/// One stored image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageRecord {
    /// The normalized reference it was pulled or imported as.
    pub reference: String,
    /// The digest of its (platform-specific) manifest.
    pub manifest: Digest,
    /// The digest of its config.
    pub config: Digest,
    /// Its layers' diff ids, bottom first.
    pub layers: Vec<Digest>,
    /// Unpacked size of its layers, in bytes.
    pub size: u64,
    /// When it was stored.
    pub pulled_at: Timestamp,
    /// When a root filesystem last used it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<Timestamp>,
    /// Where it came from. Records written before berth kept this have none and read as
    /// pulled, which is what they were treated as.
    #[serde(default)]
    pub source: ImageSource,
}

/// Where a stored image came from, which decides whether a registry is ever asked for it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ImageSource {
    /// From its reference's registry: asked again as the pull behavior says.
    #[default]
    Pulled,
    /// From an archive: the stored copy is the image, and no registry is asked for it (a
    /// registry's image of the same name is another image).
    Imported,
}

/// The image index, as stored in `index.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Index {
    /// Records by normalized reference.
    pub images: BTreeMap<String, ImageRecord>,
    /// Uncompressed size of each stored layer, by diff id, for image sizes.
    #[serde(default)]
    pub layer_sizes: BTreeMap<Digest, u64>,
}

/// A mounted root filesystem's claim on layers, as stored in `rootfs/<id>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lease {
    /// The rootfs id (a container's).
    pub id: String,
    /// The image reference it was made from.
    pub reference: String,
    /// The layers it mounts.
    pub layers: Vec<Digest>,
    /// The merged mount point.
    pub target: PathBuf,
    /// The directory holding upper, work and the mount point.
    pub scratch: PathBuf,
}

/// The store's paths.
#[derive(Debug, Clone)]
pub struct Paths {
    root: PathBuf,
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl Paths {
    /// The layout under `root`, creating its directories and emptying `tmp/`.
    pub fn create(root: &Path) -> std::io::Result<Self> {
        let paths = Self {
            root: root.to_path_buf(),
        };
        let _ = std::fs::remove_dir_all(paths.tmp());
        for dir in [
            paths.root.join("blobs/sha256"),
            paths.layers(),
            paths.tmp(),
            paths.leases(),
        ] {
            std::fs::create_dir_all(dir)?;
        }
        Ok(paths)
    }

    /// A stored blob.
    pub fn blob(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    /// All blobs.
    pub fn blobs(&self) -> PathBuf {
        self.root.join("blobs/sha256")
    }

    /// All unpacked layers.
    pub fn layers(&self) -> PathBuf {
        self.root.join("layers")
    }

    /// One unpacked layer, by diff id.
    pub fn layer(&self, diff_id: &Digest) -> PathBuf {
        self.layers().join(diff_id.hex())
    }

    /// Work in progress.
    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// A fresh, unique path under `tmp/` (not created).
    pub fn tmp_path(&self, hint: &str) -> PathBuf {
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        self.tmp()
            .join(format!("{hint}-{}-{n}", std::process::id()))
    }

    /// Root filesystem leases.
    pub fn leases(&self) -> PathBuf {
        self.root.join("rootfs")
    }

    /// One lease.
    pub fn lease(&self, id: &str) -> PathBuf {
        self.leases().join(format!("{id}.json"))
    }

    /// The index file.
    pub fn index(&self) -> PathBuf {
        self.root.join("index.json")
    }
}

/// Writes `bytes` to `path` so that a crash leaves either the old file or the new one.
pub fn write_atomically(paths: &Paths, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = paths.tmp_path("write");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    if let Some(parent) = path.parent() {
        std::fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}

/// Replaces `path` with `bytes` atomically for readers and against a crash of berth (write a
/// temporary file, rename it over), without waiting for the disk: for records whose loss in a
/// power cut costs nothing (rootfs leases: no mount survives a reboot; last-used times).
pub fn replace_file(paths: &Paths, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = paths.tmp_path("write");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// Reads the index; a missing file is an empty index.
pub fn read_index(paths: &Paths) -> std::io::Result<Index> {
    match std::fs::read(paths.index()) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(std::io::Error::other),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Index::default()),
        Err(e) => Err(e),
    }
}

/// Writes the index durably.
pub fn write_index(paths: &Paths, index: &Index) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(index).map_err(std::io::Error::other)?;
    write_atomically(paths, &paths.index(), &bytes)
}

/// Every lease on disk.
pub fn read_leases(paths: &Paths) -> std::io::Result<Vec<Lease>> {
    let mut leases = Vec::new();
    for entry in std::fs::read_dir(paths.leases())? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            let bytes = std::fs::read(&path)?;
            match serde_json::from_slice(&bytes) {
                Ok(lease) => leases.push(lease),
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "ignoring an unreadable rootfs lease")
                }
            }
        }
    }
    Ok(leases)
}

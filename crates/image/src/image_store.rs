//! `ImageStore`: the node's images — pulls, listing, removal, pruning and root filesystems —
//! over the on-disk layout of `store.rs`. One per node, shared by every caller.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use berth_model::images::ImageSummary;
use berth_sys::Mounter;

use crate::digest::Digest;
use crate::reference::{Reference, ReferenceError};
use crate::registry::{Registry, RegistryConfig};
use crate::store::{self, ImageRecord, ImageSource, Index, Paths};

/// Why the image store could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the image store at {path}")]
pub struct OpenError {
    path: String,
    #[source]
    source: std::io::Error,
}

/// Why an image could not be removed or listed.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// Not a reference.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// No such image.
    #[error("no such image: {0}")]
    NotFound(String),
    /// A running container uses it.
    #[error("image {reference} is in use by {containers} container(s); stop them first")]
    InUse {
        /// The image.
        reference: String,
        /// How many root filesystems use it.
        containers: usize,
    },
    /// The disk failed.
    #[error("the image store could not be read or written")]
    Io(#[from] std::io::Error),
}

/// An image whose layers are stored, ready to be recorded.
pub(crate) struct StoredImage<'a> {
    pub reference: &'a Reference,
    pub manifest: &'a [u8],
    pub config_digest: &'a Digest,
    pub config: &'a [u8],
    pub layers: &'a [Digest],
    pub size: u64,
    pub source: ImageSource,
}

/// What a prune removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Layers removed.
    pub layers: usize,
    /// Blobs removed.
    pub blobs: usize,
    /// Bytes freed (apparent size).
    pub bytes: u64,
}

/// The node's images.
pub struct ImageStore {
    pub(crate) paths: Paths,
    pub(crate) registry: Registry,
    pub(crate) mounter: Arc<dyn Mounter>,
    /// The index, as on disk; the lock also orders index changes against leases and pruning.
    pub(crate) index: Mutex<Index>,
    /// One lock per layer (by diff id), so concurrent pulls of a layer share one download.
    pub(crate) layer_locks: Mutex<HashMap<Digest, Arc<tokio::sync::Mutex<()>>>>,
    /// Last-used times not yet on disk, and when [`touch`](Self::touch) last wrote them.
    pub(crate) last_used: Mutex<LastUsedWrites>,
    /// Scratch directories kept for the next root filesystems (see `rootfs.rs`), under `tmp/`,
    /// which is emptied at open.
    pub(crate) scratch_pool: Mutex<Vec<PathBuf>>,
}

#[derive(Default)]
pub(crate) struct LastUsedWrites {
    written_at: Option<std::time::Instant>,
    pending: bool,
}

/// Last-used times still pending reach the disk when the store closes.
impl Drop for ImageStore {
    fn drop(&mut self) {
        let pending = self.last_used.lock().is_ok_and(|l| l.pending);
        if pending {
            let index = self.lock_index();
            if let Ok(bytes) = serde_json::to_vec_pretty(&*index) {
                let _ = store::replace_file(&self.paths, &self.paths.index(), &bytes);
            }
        }
    }
}

/// How stale the last-used times on disk may get. Only prune's order reads them, and
/// rewriting the index for every task that ends would cost a file (and its inode) per task.
const LAST_USED_WRITE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

impl ImageStore {
    /// Opens the store under `root` (creating it), reaching registries as `registry` says and
    /// mounting with `mounter`.
    pub fn open(
        root: &Path,
        registry: RegistryConfig,
        mounter: Arc<dyn Mounter>,
    ) -> Result<Self, OpenError> {
        let open_error = |source| OpenError {
            path: root.display().to_string(),
            source,
        };
        let paths = Paths::create(root).map_err(open_error)?;
        let index = store::read_index(&paths).map_err(open_error)?;
        Ok(Self {
            paths,
            registry: Registry::new(registry),
            mounter,
            index: Mutex::new(index),
            layer_locks: Mutex::new(HashMap::new()),
            last_used: Mutex::new(LastUsedWrites::default()),
            scratch_pool: Mutex::new(Vec::new()),
        })
    }

    /// Every stored image, by reference.
    pub fn list(&self) -> Vec<ImageSummary> {
        self.lock_index().images.values().map(summary).collect()
    }

    /// The reference `text` names here: a short name (no registry: `team/app:v3`) names the
    /// local image (`localhost/team/app:v3`, what an import without a registry stores) when
    /// one is stored, else Docker Hub's (`docker.io/team/app:v3`), as podman resolves short
    /// names against local storage first. A reference naming its registry is itself.
    pub fn resolve(&self, text: &str) -> Result<Reference, ReferenceError> {
        if let Some(local) = Reference::local(text)?
            && self.lock_index().images.contains_key(&local.to_string())
        {
            return Ok(local);
        }
        Reference::parse(text)
    }

    /// One stored image, by a reference as [`resolve`](Self::resolve) reads it.
    pub fn get(&self, reference: &str) -> Result<ImageRecord, ImageError> {
        let reference = self.resolve(reference)?.to_string();
        self.lock_index()
            .images
            .get(&reference)
            .cloned()
            .ok_or(ImageError::NotFound(reference))
    }

    /// Removes an image's record, refusing while a root filesystem uses it; its layers and
    /// blobs stay until `prune`.
    pub fn remove(&self, reference: &str) -> Result<ImageSummary, ImageError> {
        let reference = self.resolve(reference)?.to_string();
        let mut index = self.lock_index();
        let Some(record) = index.images.get(&reference).cloned() else {
            return Err(ImageError::NotFound(reference));
        };
        let containers = store::read_leases(&self.paths)?
            .iter()
            .filter(|lease| lease.reference == reference)
            .count();
        if containers > 0 {
            return Err(ImageError::InUse {
                reference,
                containers,
            });
        }
        let mut updated = index.clone();
        updated.images.remove(&reference);
        store::write_index(&self.paths, &updated)?;
        *index = updated;
        Ok(summary(&record))
    }

    /// Removes every layer and blob no image refers to and no mounted root filesystem uses.
    pub fn prune(&self) -> Result<PruneReport, ImageError> {
        // Holding the index lock keeps pulls from recording, and leases from being taken,
        // while the sets below are computed and acted on.
        let index = self.lock_index();
        let mut keep_layers = std::collections::HashSet::new();
        let mut keep_blobs = std::collections::HashSet::new();
        for record in index.images.values() {
            keep_layers.extend(record.layers.iter().map(|d| d.hex().to_owned()));
            keep_blobs.insert(record.manifest.hex().to_owned());
            keep_blobs.insert(record.config.hex().to_owned());
        }
        for lease in store::read_leases(&self.paths)? {
            keep_layers.extend(lease.layers.iter().map(|d| d.hex().to_owned()));
        }
        // Layers being pulled right now hold their lock: leave them alone.
        let busy: Vec<String> = self
            .layer_locks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(_, lock)| lock.try_lock().is_err())
            .map(|(d, _)| d.hex().to_owned())
            .collect();
        keep_layers.extend(busy);

        let mut report = PruneReport::default();
        let mut pruned_layers = Vec::new();
        for entry in std::fs::read_dir(self.paths.layers())? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !keep_layers.contains(&name) {
                report.bytes += tree_size(&entry.path());
                std::fs::remove_dir_all(entry.path())?;
                report.layers += 1;
                pruned_layers.push(name);
            }
        }
        for entry in std::fs::read_dir(self.paths.blobs())? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !keep_blobs.contains(&name) {
                report.bytes += entry.metadata().map(|m| m.len()).unwrap_or(0);
                std::fs::remove_file(entry.path())?;
                report.blobs += 1;
            }
        }
        let mut index = index;
        if !pruned_layers.is_empty() {
            let mut updated = index.clone();
            updated
                .layer_sizes
                .retain(|d, _| !pruned_layers.iter().any(|p| p == d.hex()));
            store::write_index(&self.paths, &updated)?;
            *index = updated;
        }
        Ok(report)
    }

    /// Takes layer `diff_id`'s lock: whoever holds it is the one writing that layer, so a
    /// second pull or import of it waits and then finds it stored.
    pub(crate) async fn lock_layer(&self, diff_id: &Digest) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = self
            .layer_locks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(diff_id.clone())
            .or_default()
            .clone();
        lock.lock_owned().await
    }

    pub(crate) fn lock_index(&self) -> std::sync::MutexGuard<'_, Index> {
        // The index is replaced whole after a successful write, never left half-changed.
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The size of a stored layer, as noted when it was unpacked (0 if unknown).
    pub(crate) fn layer_size(&self, diff_id: &Digest) -> u64 {
        self.lock_index()
            .layer_sizes
            .get(diff_id)
            .copied()
            .unwrap_or(0)
    }

    /// Notes a freshly unpacked layer's size; it reaches the disk with the image's record.
    pub(crate) fn note_layer_size(&self, diff_id: &Digest, size: u64) {
        self.lock_index().layer_sizes.insert(diff_id.clone(), size);
    }

    /// Marks `reference` used now: at once in memory, on disk at most every
    /// [`LAST_USED_WRITE_INTERVAL`] (or with the index's next write).
    pub(crate) fn touch(&self, reference: &str) -> std::io::Result<()> {
        let mut index = self.lock_index();
        let Some(entry) = index.images.get_mut(reference) else {
            return Ok(());
        };
        entry.last_used_at = Some(berth_model::Timestamp::now());
        let mut last_used = self.last_used.lock().unwrap_or_else(|e| e.into_inner());
        if last_used
            .written_at
            .is_some_and(|at| at.elapsed() < LAST_USED_WRITE_INTERVAL)
        {
            last_used.pending = true;
            return Ok(());
        }
        // Only prune's order depends on it: not worth a disk sync.
        let bytes = serde_json::to_vec_pretty(&*index).map_err(std::io::Error::other)?;
        store::replace_file(&self.paths, &self.paths.index(), &bytes)?;
        *last_used = LastUsedWrites {
            written_at: Some(std::time::Instant::now()),
            pending: false,
        };
        Ok(())
    }

    /// Stores a pulled or imported image's manifest and config blobs, then records it (its
    /// layers are in place already): the last step of both paths.
    pub(crate) fn commit_image(&self, image: StoredImage<'_>) -> std::io::Result<ImageRecord> {
        let manifest_digest = Digest::of(image.manifest);
        self.store_blob(&manifest_digest, image.manifest)?;
        self.store_blob(image.config_digest, image.config)?;
        let record = ImageRecord {
            reference: image.reference.to_string(),
            manifest: manifest_digest,
            config: image.config_digest.clone(),
            layers: image.layers.to_vec(),
            size: image.size,
            pulled_at: berth_model::Timestamp::now(),
            last_used_at: None,
            source: image.source,
        };
        self.record(record.clone())?;
        Ok(record)
    }

    /// Records `record` in the index, durably.
    pub(crate) fn record(&self, record: ImageRecord) -> std::io::Result<()> {
        let mut index = self.lock_index();
        let mut updated = index.clone();
        updated.images.insert(record.reference.clone(), record);
        store::write_index(&self.paths, &updated)?;
        *index = updated;
        Ok(())
    }
}

/// What `image ls` shows of a record.
pub fn summary(record: &ImageRecord) -> ImageSummary {
    ImageSummary {
        reference: record.reference.clone(),
        digest: record.manifest.to_string(),
        size: record.size,
        pulled_at: record.pulled_at,
        last_used_at: record.last_used_at,
    }
}

fn tree_size(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path)
        .map(|entries| entries.flatten().map(|e| tree_size(&e.path())).sum())
        .unwrap_or(0)
}

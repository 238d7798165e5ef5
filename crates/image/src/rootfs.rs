//! Root filesystems for containers: an overlay of an image's layers (read-only lowers) under
//! an upper and work directory on the container's own scratch space, and the lease that keeps
//! those layers from being pruned while it is mounted.
//!
//! Mounting is a warm-start path: it touches only a few directories and one small file, never
//! the image's content, so its cost does not grow with the image. Even its directories are
//! mostly reused: a released root filesystem's scratch directory, once its writable layer is
//! removed, goes back (a rename) into a small pool under `tmp/` with the overlay's work
//! directory, and the next one takes it the same way and makes a fresh, empty upper in it —
//! nothing a container wrote or changed survives into another's. Every inode made and freed
//! on the data disk costs later (ext4 without a journal scans past recently freed inodes when
//! it allocates); this saves two of each per container.

use std::path::{Path, PathBuf};

use berth_model::Timestamp;
use berth_sys::{MountError, OverlayMount};

use crate::image_store::{ImageError, ImageStore};
use crate::manifest::{ImageConfig, RunConfig};
use crate::store::{self, Lease};

/// A mounted root filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rootfs {
    /// Its id (the container's).
    pub id: String,
    /// The merged directory: the container's `/`.
    pub path: PathBuf,
    /// What the image says about running it (Entrypoint, Cmd, Env, WorkingDir, User, ...).
    pub config: RunConfig,
    /// The digest of the image manifest it was made from.
    pub manifest: String,
}

/// Why a root filesystem could not be made or removed.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    /// The image is not stored (pull it first).
    #[error(transparent)]
    Image(#[from] ImageError),
    /// The id is not a plain name.
    #[error("'{0}' is not a valid rootfs id: use letters, digits, '-' and '_'")]
    InvalidId(String),
    /// One with this id is already mounted.
    #[error("a root filesystem with id {0} already exists")]
    Exists(String),
    /// The image's config blob is missing or unreadable.
    #[error("the config of image {0} cannot be read; pull it again")]
    Config(String),
    /// The kernel refused the mount.
    #[error(transparent)]
    Mount(#[from] MountError),
    /// Scratch directories or the lease could not be written.
    #[error("cannot prepare the root filesystem's directories")]
    Io(#[from] std::io::Error),
}

impl ImageStore {
    /// Mounts image `reference` as root filesystem `id`, with its writable layer under
    /// `scratch` (the task's ephemeral storage): `scratch/upper`, `scratch/work` and the mount
    /// point `scratch/rootfs`.
    pub fn mount_rootfs(
        &self,
        id: &str,
        reference: &str,
        scratch: &Path,
    ) -> Result<Rootfs, RootfsError> {
        let (rootfs, overlay) =
            self.prepare_rootfs(id, reference, scratch, &scratch.join("rootfs"))?;
        if let Err(error) = self.mounter.mount_overlay(&overlay) {
            let _ = std::fs::remove_file(self.paths.lease(id));
            let _ = std::fs::remove_dir_all(scratch);
            return Err(error.into());
        }
        Ok(rootfs)
    }

    /// Everything [`mount_rootfs`](Self::mount_rootfs) does but the mount itself: the lease
    /// and the directories (`scratch/upper`, `scratch/work` and the mount point `target`,
    /// which may be elsewhere — on a tmpfs, say), and the overlay to mount — for a caller
    /// that mounts it in a mount namespace of its own (a task's supervisor), where it
    /// vanishes with the task. [`unmount_rootfs`](Self::unmount_rootfs) releases it all the
    /// same.
    pub fn prepare_rootfs(
        &self,
        id: &str,
        reference: &str,
        scratch: &Path,
        target: &Path,
    ) -> Result<(Rootfs, OverlayMount), RootfsError> {
        if id.is_empty()
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(RootfsError::InvalidId(id.to_owned()));
        }
        let record = self.get(reference)?;
        let config: ImageConfig = std::fs::read(self.paths.blob(&record.config))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(|| RootfsError::Config(record.reference.clone()))?;
        let lease_path = self.paths.lease(id);
        if lease_path.exists() {
            return Err(RootfsError::Exists(id.to_owned()));
        }
        let overlay = OverlayMount {
            // overlayfs lists the topmost layer first; images list the bottom one first.
            lowers: record
                .layers
                .iter()
                .rev()
                .map(|d| self.paths.layer(d))
                .collect(),
            upper: scratch.join("upper"),
            work: scratch.join("work"),
            target: target.to_path_buf(),
        };
        self.reuse_scratch(scratch);
        for dir in [&overlay.upper, &overlay.work, &overlay.target] {
            std::fs::create_dir_all(dir)?;
        }
        let lease = Lease {
            id: id.to_owned(),
            reference: record.reference.clone(),
            layers: record.layers.clone(),
            target: overlay.target.clone(),
            scratch: scratch.to_path_buf(),
        };
        // The lease is written before the mount, under the index lock, so that a prune
        // running now already sees these layers as used, and a crash right after the mount
        // leaves a lease that start-up cleanup will find.
        {
            let mut index = self.lock_index();
            let bytes = serde_json::to_vec(&lease).map_err(std::io::Error::other)?;
            // Not synced to disk: a lease guards a mount, and no mount outlives a power cut.
            store::replace_file(&self.paths, &lease_path, &bytes)?;
            // Shown by `image ls` at once; written to disk when the rootfs is released, off
            // the task-start path.
            if let Some(entry) = index.images.get_mut(&record.reference) {
                entry.last_used_at = Some(Timestamp::now());
            }
        }
        let rootfs = Rootfs {
            id: id.to_owned(),
            path: overlay.target.clone(),
            config: config.config,
            manifest: record.manifest.to_string(),
        };
        Ok((rootfs, overlay))
    }

    /// Unmounts root filesystem `id` and removes its scratch space and lease. Removing one
    /// that does not exist is not an error.
    pub fn unmount_rootfs(&self, id: &str) -> Result<(), RootfsError> {
        let lease_path = self.paths.lease(id);
        let Ok(bytes) = std::fs::read(&lease_path) else {
            return Ok(());
        };
        let lease: Lease = serde_json::from_slice(&bytes).map_err(std::io::Error::other)?;
        self.release(&lease)
    }

    /// Removes every root filesystem whose id is not in `keep`: what a crash left behind.
    /// Returns the ids removed.
    pub fn cleanup_rootfs(&self, keep: &[String]) -> Result<Vec<String>, RootfsError> {
        let mut removed = Vec::new();
        for lease in store::read_leases(&self.paths)? {
            if !keep.contains(&lease.id) {
                self.release(&lease)?;
                removed.push(lease.id);
            }
        }
        Ok(removed)
    }

    fn release(&self, lease: &Lease) -> Result<(), RootfsError> {
        if self.mounter.is_mounted(&lease.target) {
            self.mounter.unmount(&lease.target)?;
        }
        if !self.recycle_scratch(&lease.scratch) {
            match std::fs::remove_dir_all(&lease.scratch) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        // A mount point outside the scratch space (gone already if it was inside).
        let _ = std::fs::remove_dir(&lease.target);
        // Last: while the lease exists, prune keeps the layers.
        std::fs::remove_file(self.paths.lease(&lease.id))?;
        self.touch(&lease.reference)?;
        Ok(())
    }

    /// Puts a pooled scratch directory at `scratch`, if there is one and nothing is there.
    fn reuse_scratch(&self, scratch: &Path) {
        if scratch.exists() {
            return;
        }
        let pooled = self
            .scratch_pool
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop();
        if let Some(pooled) = pooled
            && std::fs::rename(&pooled, scratch).is_err()
        {
            let _ = std::fs::remove_dir_all(&pooled);
        }
    }

    /// Keeps `scratch` for a later root filesystem when, its writable layer removed, it holds
    /// nothing but empty directories (the work directory and the overlay's `work/work`, a
    /// mount point) and the pool has room; whether it did.
    fn recycle_scratch(&self, scratch: &Path) -> bool {
        if std::fs::remove_dir_all(scratch.join("upper")).is_err()
            || !only_empty_directories(scratch, 2)
        {
            return false;
        }
        let mut pool = self.scratch_pool.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() >= SCRATCH_POOL {
            return false;
        }
        let place = self.paths.tmp_path("scratch");
        if std::fs::rename(scratch, &place).is_err() {
            return false;
        }
        pool.push(place);
        true
    }
}

/// How many scratch directories are kept for reuse.
const SCRATCH_POOL: usize = 16;

/// Whether `dir` is a directory holding only directories, `depth` levels deep, the last
/// level empty.
fn only_empty_directories(dir: &Path, depth: usize) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.into_iter().all(|entry| {
        entry.is_ok_and(|entry| {
            depth > 0
                && entry.file_type().is_ok_and(|t| t.is_dir())
                && only_empty_directories(&entry.path(), depth - 1)
        })
    })
}

//! Importing images from archives: an OCI archive (a tar of an OCI image layout, as
//! `skopeo copy ... oci-archive:` writes) or a `docker save` archive (`manifest.json` with
//! config and layer files). Layers are verified against the digests the archive names and
//! unpacked into the same shared store that pulls fill.

use std::io::BufReader;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::digest::{Digest, HashingReader};
use crate::image_store::{ImageStore, StoredImage};
use crate::manifest::{
    Compression, Descriptor, ImageConfig, Index, Manifest, ManifestDocument, Platform,
};
use crate::pull::chain;
use crate::reference::{Reference, ReferenceError};
use crate::store::{ImageRecord, ImageSource};
use crate::unpack::unpack_layer;

/// Why an archive could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The tag is not a reference.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// The upload is not a readable tar archive.
    #[error("the file is not a tar archive (an oci-archive or a docker save archive): {0}")]
    NotATar(String),
    /// Neither an OCI layout nor a docker-save archive.
    #[error(
        "the archive is neither an OCI archive (oci-layout, index.json) nor a docker save archive (manifest.json)"
    )]
    UnknownFormat,
    /// The archive's documents are inconsistent or unusable.
    #[error("the archive is invalid: {0}")]
    Invalid(String),
    /// Content whose bytes do not match their digest.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        /// Which content.
        what: String,
        /// As named.
        expected: Digest,
        /// As found.
        actual: Digest,
    },
    /// Reading the archive or writing the store failed.
    #[error("cannot import the archive: {0}")]
    Io(String),
}

impl From<std::io::Error> for ImportError {
    fn from(error: std::io::Error) -> Self {
        Self::Io(chain(&error))
    }
}

impl ImageStore {
    /// Imports an archive that arrives in `chunks` (an upload) as image `tag`: it is spooled
    /// to a temporary file first, since neither archive format can be read front to back.
    pub async fn import_upload(
        &self,
        mut chunks: tokio::sync::mpsc::Receiver<Result<hyper::body::Bytes, String>>,
        tag: &str,
    ) -> Result<ImageRecord, ImportError> {
        Reference::parse_local(tag)?;
        let spool = self.paths.tmp_path("upload");
        let result = async {
            let mut file = tokio::fs::File::create(&spool).await?;
            while let Some(chunk) = chunks.recv().await {
                let chunk =
                    chunk.map_err(|e| ImportError::Io(format!("the upload broke off: {e}")))?;
                tokio::io::AsyncWriteExt::write_all(&mut file, &chunk).await?;
            }
            tokio::io::AsyncWriteExt::flush(&mut file).await?;
            drop(file);
            self.import(&spool, tag).await
        }
        .await;
        let _ = std::fs::remove_file(&spool);
        result
    }

    /// Imports the archive at `archive` as image `tag`; returns its record. A tag without a
    /// registry is local (`team/app:v3` is stored as `localhost/team/app:v3`): an imported
    /// image did not come from Docker Hub and must never be mistaken for its namesake there.
    pub async fn import(&self, archive: &Path, tag: &str) -> Result<ImageRecord, ImportError> {
        let reference = Reference::parse_local(tag)?;
        let extracted = self.paths.tmp_path("import");
        let result = self.import_from(archive, &extracted, &reference).await;
        let _ = std::fs::remove_dir_all(&extracted);
        result
    }

    async fn import_from(
        &self,
        archive: &Path,
        extracted: &Path,
        reference: &Reference,
    ) -> Result<ImageRecord, ImportError> {
        let (archive, dir) = (archive.to_path_buf(), extracted.to_path_buf());
        tokio::task::spawn_blocking(move || -> Result<(), ImportError> {
            std::fs::create_dir_all(&dir)?;
            let file = std::fs::File::open(&archive)?;
            // tar's unpack refuses entries that leave `dir`. What fails here is the upload's
            // fault (not a tar archive, cut short), not the store's: the caller is told so.
            tar::Archive::new(BufReader::new(file))
                .unpack(&dir)
                .map_err(|error| match error.kind() {
                    std::io::ErrorKind::StorageFull
                    | std::io::ErrorKind::PermissionDenied
                    | std::io::ErrorKind::ReadOnlyFilesystem => ImportError::from(error),
                    _ => ImportError::NotATar(chain(&error)),
                })
        })
        .await
        .map_err(|e| ImportError::Io(e.to_string()))??;

        let (manifest, manifest_bytes, layer_files) = if extracted.join("index.json").exists() {
            read_oci_layout(extracted, reference)?
        } else if extracted.join("manifest.json").exists() {
            read_docker_save(extracted)?
        } else {
            return Err(ImportError::UnknownFormat);
        };
        let config_bytes = std::fs::read(blob_path(extracted, &manifest.config.digest))
            .or_else(|_| std::fs::read(&layer_files.config))?;
        verify(
            "the image config",
            &manifest.config.digest,
            &Digest::of(&config_bytes),
        )?;
        let config: ImageConfig = serde_json::from_slice(&config_bytes)
            .map_err(|e| ImportError::Invalid(format!("image config: {e}")))?;
        if config.rootfs.diff_ids.len() != manifest.layers.len() {
            return Err(ImportError::Invalid(
                "the config's diff ids do not match the layers".into(),
            ));
        }

        let mut size = 0;
        for (i, (descriptor, diff_id)) in manifest
            .layers
            .iter()
            .zip(&config.rootfs.diff_ids)
            .enumerate()
        {
            let file = layer_files
                .layers
                .get(i)
                .cloned()
                .unwrap_or_else(|| blob_path(extracted, &descriptor.digest));
            let lowers: Vec<PathBuf> = config.rootfs.diff_ids[..i]
                .iter()
                .rev()
                .map(|d| self.paths.layer(d))
                .collect();
            size += self
                .install_layer(&file, descriptor, diff_id, lowers)
                .await?;
        }
        let stored = StoredImage {
            reference,
            manifest: &manifest_bytes,
            config_digest: &manifest.config.digest,
            config: &config_bytes,
            layers: &config.rootfs.diff_ids,
            size,
            source: ImageSource::Imported,
        };
        let record = self.commit_image(stored)?;
        tracing::info!(image = %record.reference, "image imported");
        Ok(record)
    }

    /// Unpacks one layer file into the store unless it is there already.
    async fn install_layer(
        &self,
        file: &Path,
        descriptor: &Descriptor,
        diff_id: &Digest,
        lowers: Vec<PathBuf>,
    ) -> Result<u64, ImportError> {
        let _held = self.lock_layer(diff_id).await;
        let final_path = self.paths.layer(diff_id);
        if final_path.exists() {
            return Ok(self.layer_size(diff_id));
        }
        let tmp = self.paths.tmp_path("layer");
        let (file, dest, media_type) = (
            file.to_path_buf(),
            tmp.clone(),
            descriptor.media_type.clone(),
        );
        let unpacked = tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dest)?;
            let mut head = [0u8; 4];
            let mut probe = std::fs::File::open(&file)?;
            let n = std::io::Read::read(&mut probe, &mut head)?;
            // docker save does not say how layers are compressed: look.
            let compression = Compression::of_layer(&media_type)
                .unwrap_or_else(|_| Compression::sniff(&head[..n]));
            let reader = BufReader::with_capacity(1 << 20, std::fs::File::open(&file)?);
            unpack_layer(reader, compression, &dest, &lowers)
                .map_err(|e| std::io::Error::other(chain(&e)))
        })
        .await
        .map_err(|e| ImportError::Io(e.to_string()))?;
        let result = unpacked.map_err(ImportError::from).and_then(|unpacked| {
            verify(
                &format!("layer {}", descriptor.digest),
                &descriptor.digest,
                &unpacked.digest,
            )?;
            verify(
                &format!("the uncompressed layer {}", descriptor.digest),
                diff_id,
                &unpacked.diff_id,
            )?;
            std::fs::rename(&tmp, &final_path)?;
            self.note_layer_size(diff_id, unpacked.tar_size);
            Ok(unpacked.tar_size)
        });
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        result
    }
}

/// Where files of a docker-save archive are, since its blobs are not named by digest.
#[derive(Default)]
struct LayerFiles {
    config: PathBuf,
    layers: Vec<PathBuf>,
}

fn blob_path(layout: &Path, digest: &Digest) -> PathBuf {
    layout.join("blobs/sha256").join(digest.hex())
}

fn verify(what: &str, expected: &Digest, actual: &Digest) -> Result<(), ImportError> {
    if expected == actual {
        Ok(())
    } else {
        Err(ImportError::DigestMismatch {
            what: what.to_owned(),
            expected: expected.clone(),
            actual: actual.clone(),
        })
    }
}

fn read_json_blob(layout: &Path, descriptor: &Descriptor) -> Result<Vec<u8>, ImportError> {
    let bytes = std::fs::read(blob_path(layout, &descriptor.digest))
        .map_err(|_| ImportError::Invalid(format!("blob {} is missing", descriptor.digest)))?;
    verify(
        &format!("blob {}", descriptor.digest),
        &descriptor.digest,
        &Digest::of(&bytes),
    )?;
    Ok(bytes)
}

/// The image of an OCI layout: the entry tagged like `reference`, else the only one; an
/// index entry resolves to this machine's platform.
fn read_oci_layout(
    layout: &Path,
    reference: &Reference,
) -> Result<(Manifest, Vec<u8>, LayerFiles), ImportError> {
    let index: Index = serde_json::from_slice(&std::fs::read(layout.join("index.json"))?)
        .map_err(|e| ImportError::Invalid(format!("index.json: {e}")))?;
    let tag = reference.tag.as_deref().unwrap_or("latest");
    let named = |d: &&Descriptor| {
        d.annotations
            .as_ref()
            .and_then(|a| a.get("org.opencontainers.image.ref.name"))
            .is_some_and(|name| name == tag || name.ends_with(&format!(":{tag}")))
    };
    let mut descriptor = match index.manifests.iter().find(named) {
        Some(found) => found.clone(),
        None if index.manifests.len() == 1 => index.manifests[0].clone(),
        None => {
            return Err(ImportError::Invalid(format!(
                "the archive holds {} images and none is tagged '{tag}'",
                index.manifests.len()
            )));
        }
    };
    for _ in 0..4 {
        let bytes = read_json_blob(layout, &descriptor)?;
        match ManifestDocument::parse(Some(&descriptor.media_type), &bytes)
            .map_err(|e| ImportError::Invalid(e.to_string()))?
        {
            ManifestDocument::Image(manifest) => {
                return Ok((manifest, bytes, LayerFiles::default()));
            }
            ManifestDocument::Index(nested) => {
                let host = Platform::host();
                descriptor = nested
                    .manifests
                    .iter()
                    .find(|d| d.platform.as_ref().is_none_or(|p| host.runs(p)))
                    .cloned()
                    .ok_or_else(|| {
                        ImportError::Invalid(format!("no image for platform {host} in the archive"))
                    })?;
            }
        }
    }
    Err(ImportError::Invalid("indexes nested too deeply".into()))
}

/// The image of a `docker save` archive, described as the OCI manifest it amounts to.
fn read_docker_save(dir: &Path) -> Result<(Manifest, Vec<u8>, LayerFiles), ImportError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Entry {
        config: String,
        layers: Vec<String>,
    }
    let entries: Vec<Entry> = serde_json::from_slice(&std::fs::read(dir.join("manifest.json"))?)
        .map_err(|e| ImportError::Invalid(format!("manifest.json: {e}")))?;
    let entry = entries
        .into_iter()
        .next()
        .ok_or_else(|| ImportError::Invalid("manifest.json lists no image".into()))?;
    let inside = |name: &str| -> Result<PathBuf, ImportError> {
        if name.split('/').any(|part| part == "..") || name.starts_with('/') {
            return Err(ImportError::Invalid(format!(
                "'{name}' points outside the archive"
            )));
        }
        Ok(dir.join(name))
    };
    let config_path = inside(&entry.config)?;
    let config_bytes = std::fs::read(&config_path)?;
    let mut files = LayerFiles {
        config: config_path,
        layers: Vec::new(),
    };
    let mut layers = Vec::new();
    for name in &entry.layers {
        let path = inside(name)?;
        let mut reader = HashingReader::new(BufReader::with_capacity(
            1 << 20,
            std::fs::File::open(&path)?,
        ));
        std::io::copy(&mut reader, &mut std::io::sink())?;
        let (digest, size) = reader.finish();
        let mut head = [0u8; 4];
        let n = std::io::Read::read(&mut std::fs::File::open(&path)?, &mut head)?;
        let media_type = match Compression::sniff(&head[..n]) {
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
        };
        layers.push(Descriptor {
            media_type: media_type.to_owned(),
            digest,
            size,
            platform: None,
            annotations: None,
        });
        files.layers.push(path);
    }
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(crate::manifest::OCI_MANIFEST.to_owned()),
        config: Descriptor {
            media_type: crate::manifest::OCI_CONFIG.to_owned(),
            digest: Digest::of(&config_bytes),
            size: config_bytes.len() as u64,
            platform: None,
            annotations: None,
        },
        layers,
    };
    let bytes = serde_json::to_vec(&manifest).map_err(|e| ImportError::Io(e.to_string()))?;
    Ok((manifest, bytes, files))
}

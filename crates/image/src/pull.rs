//! Pulling an image: resolve the manifest (choosing the host's platform from an index), fetch
//! and verify the config, then download every missing layer in parallel, decompressing and
//! unpacking it while it streams and checking both its digest and its diff id before it is
//! moved into place. Concurrent pulls of one layer share one download.

use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::Arc;

use berth_model::images::{LayerInfo, PullEvent};
use http_body_util::BodyExt;
use hyper::body::Bytes;
use tokio::sync::mpsc;

use crate::digest::Digest;
use crate::image_store::{ImageStore, StoredImage, summary};
use crate::manifest::{
    Compression, Descriptor, ImageConfig, Manifest, ManifestDocument, ManifestError, Platform,
    UnsupportedLayer,
};
use crate::reference::{Reference, ReferenceError};
use crate::registry::{BODY_STALL_TIMEOUT, Endpoint, FetchError};
use crate::store::{self, ImageRecord, ImageSource};
use crate::unpack::{UnpackError, unpack_layer};

/// Attempts at one layer when the connection fails mid-download.
const LAYER_ATTEMPTS: u32 = 3;

/// A failed pull: `pull image REFERENCE: why`. ECS's error class for it
/// (`CannotPullContainerError`) is the node agent's to add, where a task fails because of it.
#[derive(Debug, thiserror::Error)]
#[error("pull image {reference}: {failure}")]
pub struct PullError {
    /// The image asked for.
    pub reference: String,
    /// What went wrong.
    pub failure: PullFailure,
}

/// What went wrong in a pull. Each message carries the registry's or the kernel's reason,
/// because it is what a user reads in `stoppedReason`.
#[derive(Debug, thiserror::Error)]
pub enum PullFailure {
    /// Not a reference.
    #[error("{0}")]
    Reference(#[from] ReferenceError),
    /// The registry refused or could not be reached.
    #[error("{0}")]
    Fetch(#[from] FetchError),
    /// A manifest berth cannot use.
    #[error("{0}")]
    Manifest(#[from] ManifestError),
    /// A layer type berth cannot unpack.
    #[error("{0}")]
    Layer(#[from] UnsupportedLayer),
    /// No manifest for this machine's platform.
    #[error("no image for platform {wanted} (the image has {available})")]
    Platform {
        /// This machine's.
        wanted: String,
        /// The index's.
        available: String,
    },
    /// Content whose bytes do not match their digest.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        /// Which content.
        what: String,
        /// Its digest as named.
        expected: String,
        /// The digest of what arrived.
        actual: String,
    },
    /// An unusable image config.
    #[error("invalid image config: {0}")]
    Config(String),
    /// A layer that would not unpack.
    #[error("layer {layer} could not be unpacked: {reason}")]
    Unpack {
        /// The layer.
        layer: String,
        /// Why, with its causes.
        reason: String,
    },
    /// The store could not be written.
    #[error("cannot store the image: {0}")]
    Store(String),
}

/// Receives pull progress.
pub type Progress = Arc<dyn Fn(PullEvent) + Send + Sync>;

impl ImageStore {
    /// Pulls `reference` and records it; returns its record.
    pub async fn pull(
        &self,
        reference: &str,
        progress: Progress,
    ) -> Result<ImageRecord, PullError> {
        let fail = |failure: PullFailure| PullError {
            reference: reference.to_owned(),
            failure,
        };
        let parsed = Reference::parse(reference).map_err(|e| fail(e.into()))?;
        let fail = |failure: PullFailure| PullError {
            reference: parsed.to_string(),
            failure,
        };
        let result = self.pull_parsed(&parsed, &progress).await.map_err(fail);
        if let Err(error) = &result {
            progress(PullEvent::Failed {
                message: error.to_string(),
            });
        }
        result
    }

    async fn pull_parsed(
        &self,
        reference: &Reference,
        progress: &Progress,
    ) -> Result<ImageRecord, PullFailure> {
        let fetched = self
            .registry
            .fetch_manifest(
                &reference.registry,
                &reference.repository,
                &reference.manifest_reference(),
            )
            .await?;
        let endpoint = fetched.endpoint.clone();
        let mut manifest_bytes = fetched.bytes;
        let mut manifest_digest = Digest::of(&manifest_bytes);
        if let Some(pinned) = &reference.digest {
            check_digest("the manifest", pinned, &manifest_digest)?;
        }
        let mut document =
            ManifestDocument::parse(fetched.content_type.as_deref(), &manifest_bytes)?;
        if let ManifestDocument::Index(index) = &document {
            let chosen = select_platform(&index.manifests)?;
            let again = self
                .registry
                .fetch_manifest(
                    &reference.registry,
                    &reference.repository,
                    &chosen.digest.to_string(),
                )
                .await?;
            let digest = Digest::of(&again.bytes);
            check_digest("the platform manifest", &chosen.digest, &digest)?;
            document = ManifestDocument::parse(again.content_type.as_deref(), &again.bytes)?;
            manifest_bytes = again.bytes;
            manifest_digest = digest;
        }
        let ManifestDocument::Image(manifest) = document else {
            return Err(ManifestError::Invalid("an index inside an index".into()).into());
        };
        progress(PullEvent::Resolved {
            reference: reference.to_string(),
            digest: manifest_digest.to_string(),
            layers: manifest
                .layers
                .iter()
                .map(|l| LayerInfo {
                    digest: l.digest.to_string(),
                    size: l.size,
                })
                .collect(),
        });

        // Up to date: the registry serves the manifest already stored under this reference,
        // whose layers are all in place. Nothing to fetch, nothing to write.
        if let Ok(stored) = self.get(&reference.to_string())
            && stored.manifest == manifest_digest
            && stored.layers.iter().all(|l| self.paths.layer(l).is_dir())
        {
            progress(PullEvent::Pulled {
                image: summary(&stored),
            });
            return Ok(stored);
        }
        let config_bytes = self
            .fetch_small_blob(&endpoint, &reference.repository, &manifest.config)
            .await?;
        let config: ImageConfig = serde_json::from_slice(&config_bytes)
            .map_err(|e| PullFailure::Config(e.to_string()))?;
        if config.rootfs.diff_ids.len() != manifest.layers.len() {
            return Err(PullFailure::Config(format!(
                "{} layers in the manifest but {} diff ids in the config",
                manifest.layers.len(),
                config.rootfs.diff_ids.len()
            )));
        }
        let size = self
            .fetch_layers(
                &endpoint,
                &reference.repository,
                &manifest,
                &config,
                progress,
            )
            .await?;

        let stored = StoredImage {
            reference,
            manifest: &manifest_bytes,
            config_digest: &manifest.config.digest,
            config: &config_bytes,
            layers: &config.rootfs.diff_ids,
            size,
            source: ImageSource::Pulled,
        };
        let record = self
            .commit_image(stored)
            .map_err(|e| PullFailure::Store(e.to_string()))?;
        progress(PullEvent::Pulled {
            image: summary(&record),
        });
        tracing::info!(image = %record.reference, digest = %record.manifest, "image pulled");
        Ok(record)
    }

    /// Downloads every layer not yet stored, in parallel; returns the image's unpacked size.
    async fn fetch_layers(
        &self,
        endpoint: &Endpoint,
        repository: &str,
        manifest: &Manifest,
        config: &ImageConfig,
        progress: &Progress,
    ) -> Result<u64, PullFailure> {
        let pairs: Vec<(Descriptor, Digest)> = manifest
            .layers
            .iter()
            .cloned()
            .zip(config.rootfs.diff_ids.iter().cloned())
            .collect();
        let first_pass = pairs.iter().map(|(descriptor, diff_id)| {
            self.ensure_layer(
                endpoint,
                repository,
                descriptor,
                diff_id,
                Vec::new(),
                progress,
            )
        });
        let results = join_all(first_pass).await;
        let mut size = 0;
        for (i, result) in results.into_iter().enumerate() {
            size += match result {
                Ok(bytes) => bytes,
                // A hard link into a lower layer: unpack again once the lower layers are in.
                Err(LayerFailure::NeedsLowers) => {
                    let lowers = pairs[..i]
                        .iter()
                        .rev()
                        .map(|(_, d)| self.paths.layer(d))
                        .collect();
                    let (descriptor, diff_id) = &pairs[i];
                    self.ensure_layer(endpoint, repository, descriptor, diff_id, lowers, progress)
                        .await
                        .map_err(LayerFailure::into_failure)?
                }
                Err(other) => return Err(other.into_failure()),
            };
        }
        Ok(size)
    }

    /// Makes sure the layer `diff_id` is unpacked, downloading it if needed. Returns its
    /// unpacked size.
    async fn ensure_layer(
        &self,
        endpoint: &Endpoint,
        repository: &str,
        descriptor: &Descriptor,
        diff_id: &Digest,
        lowers: Vec<PathBuf>,
        progress: &Progress,
    ) -> Result<u64, LayerFailure> {
        let _held = self.lock_layer(diff_id).await;
        let final_path = self.paths.layer(diff_id);
        if final_path.exists() {
            progress(PullEvent::LayerReady {
                layer: descriptor.digest.to_string(),
                cached: true,
            });
            return Ok(self.layer_size(diff_id));
        }
        let compression = Compression::of_layer(&descriptor.media_type)
            .map_err(|e| LayerFailure::Fatal(e.into()))?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let tmp = self.paths.tmp_path("layer");
            let result = self
                .download_and_unpack(
                    endpoint,
                    repository,
                    descriptor,
                    compression,
                    &tmp,
                    lowers.clone(),
                    progress,
                )
                .await;
            let outcome = result.and_then(|(unpacked_size, unpacked)| {
                check_digest(
                    &format!("layer {}", descriptor.digest),
                    &descriptor.digest,
                    &unpacked.digest,
                )
                .and_then(|()| {
                    check_digest(
                        &format!("the uncompressed layer {}", descriptor.digest),
                        diff_id,
                        &unpacked.diff_id,
                    )
                })
                .map_err(LayerFailure::Fatal)
                .map(|()| unpacked_size)
            });
            match outcome {
                Ok(unpacked_size) => {
                    std::fs::rename(&tmp, &final_path)
                        .map_err(|e| LayerFailure::Fatal(PullFailure::Store(e.to_string())))?;
                    self.note_layer_size(diff_id, unpacked_size);
                    progress(PullEvent::LayerReady {
                        layer: descriptor.digest.to_string(),
                        cached: false,
                    });
                    return Ok(unpacked_size);
                }
                Err(failure) => {
                    let _ = std::fs::remove_dir_all(&tmp);
                    match failure {
                        LayerFailure::Transient(error) if attempt < LAYER_ATTEMPTS => {
                            tracing::warn!(layer = %descriptor.digest, %error, attempt, "layer download broke off; retrying");
                            tokio::time::sleep(std::time::Duration::from_millis(
                                200 * u64::from(attempt),
                            ))
                            .await;
                        }
                        other => return Err(other),
                    }
                }
            }
        }
    }

    /// Streams the blob from the registry into the unpacker running on a blocking thread.
    #[allow(clippy::too_many_arguments)] // one call site; the pieces are all distinct
    async fn download_and_unpack(
        &self,
        endpoint: &Endpoint,
        repository: &str,
        descriptor: &Descriptor,
        compression: Compression,
        dest: &std::path::Path,
        lowers: Vec<PathBuf>,
        progress: &Progress,
    ) -> Result<(u64, crate::unpack::Unpacked), LayerFailure> {
        let response = self
            .registry
            .fetch_blob(endpoint, repository, &descriptor.digest)
            .await
            .map_err(|e| LayerFailure::Fatal(e.into()))?;
        std::fs::create_dir_all(dest)
            .map_err(|e| LayerFailure::Fatal(PullFailure::Store(e.to_string())))?;
        let (chunks, receiver) = mpsc::channel::<io::Result<Bytes>>(32);
        let unpack_dest = dest.to_path_buf();
        let unpacker = tokio::task::spawn_blocking(move || {
            unpack_layer(
                ChannelReader::new(receiver),
                compression,
                &unpack_dest,
                &lowers,
            )
        });

        let mut body = response.into_body();
        let mut received: u64 = 0;
        let mut network_error = None;
        let layer = descriptor.digest.to_string();
        loop {
            match tokio::time::timeout(BODY_STALL_TIMEOUT, body.frame()).await {
                Ok(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    received += data.len() as u64;
                    progress(PullEvent::Progress {
                        layer: layer.clone(),
                        done: received,
                        total: descriptor.size,
                    });
                    if chunks.send(Ok(data)).await.is_err() {
                        break; // the unpacker stopped early; its error says why
                    }
                }
                Ok(Some(Err(error))) => {
                    network_error = Some(error.to_string());
                    break;
                }
                Ok(None) => break,
                Err(_) => {
                    network_error = Some("the download stalled".to_owned());
                    break;
                }
            }
        }
        if let Some(reason) = &network_error {
            let _ = chunks.send(Err(io::Error::other(reason.clone()))).await;
        }
        drop(chunks);
        let unpacked = unpacker
            .await
            .map_err(|e| LayerFailure::Fatal(PullFailure::Store(e.to_string())))?;
        if let Some(reason) = network_error {
            return Err(LayerFailure::Transient(FetchError::Unreachable {
                registry: endpoint.host.clone(),
                reason,
            }));
        }
        match unpacked {
            Ok(unpacked) => Ok((unpacked.tar_size, unpacked)),
            Err(UnpackError::MissingLinkTarget { .. }) => Err(LayerFailure::NeedsLowers),
            Err(error) => Err(LayerFailure::Fatal(PullFailure::Unpack {
                layer: layer.clone(),
                reason: chain(&error),
            })),
        }
    }

    /// Fetches a small blob (a config) and checks its digest.
    async fn fetch_small_blob(
        &self,
        endpoint: &Endpoint,
        repository: &str,
        descriptor: &Descriptor,
    ) -> Result<Vec<u8>, PullFailure> {
        if let Ok(bytes) = std::fs::read(self.paths.blob(&descriptor.digest)) {
            return Ok(bytes);
        }
        let response = self
            .registry
            .fetch_blob(endpoint, repository, &descriptor.digest)
            .await?;
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| FetchError::Unreachable {
                registry: endpoint.host.clone(),
                reason: e.to_string(),
            })?
            .to_bytes();
        check_digest("the image config", &descriptor.digest, &Digest::of(&bytes))?;
        Ok(bytes.to_vec())
    }

    pub(crate) fn store_blob(&self, digest: &Digest, bytes: &[u8]) -> io::Result<()> {
        let path = self.paths.blob(digest);
        if path.exists() {
            return Ok(());
        }
        store::write_atomically(&self.paths, &path, bytes)
    }
}

/// How one layer's fetch ended badly.
enum LayerFailure {
    /// The connection broke: worth another attempt.
    Transient(FetchError),
    /// A hard link points into a lower layer that was not given.
    NeedsLowers,
    /// Anything else.
    Fatal(PullFailure),
}

impl LayerFailure {
    fn into_failure(self) -> PullFailure {
        match self {
            Self::Transient(e) => e.into(),
            Self::NeedsLowers => PullFailure::Unpack {
                layer: String::new(),
                reason: "a hard link points to a file that no layer has".into(),
            },
            Self::Fatal(f) => f,
        }
    }
}

fn check_digest(what: &str, expected: &Digest, actual: &Digest) -> Result<(), PullFailure> {
    if expected == actual {
        Ok(())
    } else {
        Err(PullFailure::DigestMismatch {
            what: what.to_owned(),
            expected: expected.to_string(),
            actual: actual.to_string(),
        })
    }
}

fn select_platform(manifests: &[Descriptor]) -> Result<&Descriptor, PullFailure> {
    let host = Platform::host();
    manifests
        .iter()
        .find(|d| d.platform.as_ref().is_some_and(|p| host.runs(p)))
        .ok_or_else(|| PullFailure::Platform {
            wanted: host.to_string(),
            available: manifests
                .iter()
                .filter_map(|d| d.platform.as_ref().map(ToString::to_string))
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// An error and its causes, for messages users read.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Awaits futures concurrently, keeping their order.
async fn join_all<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in pinned.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

/// A blocking `Read` over chunks sent from the async download.
struct ChannelReader {
    chunks: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl ChannelReader {
    fn new(chunks: mpsc::Receiver<io::Result<Bytes>>) -> Self {
        Self {
            chunks,
            current: Bytes::new(),
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(error)) => return Err(error),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

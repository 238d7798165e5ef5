//! What berth says about container images on a node: the summaries `berth image ls` shows
//! and the progress events a pull streams. Plain data shared by the image store that produces
//! them, the API that carries them and the CLI that shows them.

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// One stored image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageSummary {
    /// The normalized reference (`docker.io/library/nginx:latest`).
    pub reference: String,
    /// The manifest digest.
    pub digest: String,
    /// Unpacked size of its layers, in bytes.
    pub size: u64,
    /// When it was pulled or imported.
    pub pulled_at: Timestamp,
    /// When a container last used it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<Timestamp>,
}

/// A layer of an image being pulled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerInfo {
    /// The blob digest.
    pub digest: String,
    /// The blob size.
    pub size: u64,
}

/// One step of a pull, streamed to the client as it happens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "camelCase")]
pub enum PullEvent {
    /// The manifest is known: these layers will be fetched.
    #[serde(rename_all = "camelCase")]
    Resolved {
        /// The normalized reference.
        reference: String,
        /// The manifest digest.
        digest: String,
        /// The layers, bottom first.
        layers: Vec<LayerInfo>,
    },
    /// Bytes of one layer arrived.
    #[serde(rename_all = "camelCase")]
    Progress {
        /// The layer's digest.
        layer: String,
        /// Bytes received so far.
        done: u64,
        /// Bytes in all.
        total: u64,
    },
    /// A layer is unpacked (or already was).
    #[serde(rename_all = "camelCase")]
    LayerReady {
        /// The layer's digest.
        layer: String,
        /// True when it was already stored.
        cached: bool,
    },
    /// The pull finished.
    #[serde(rename_all = "camelCase")]
    Pulled {
        /// The stored image.
        image: ImageSummary,
    },
    /// The pull failed; `message` is in ECS's words (`CannotPullContainerError: ...`).
    #[serde(rename_all = "camelCase")]
    Failed {
        /// What went wrong.
        message: String,
    },
}

/// What `berth image prune` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PruneSummary {
    /// Unpacked layers removed.
    pub layers_removed: usize,
    /// Blobs (manifests, configs) removed.
    pub blobs_removed: usize,
    /// Bytes freed.
    pub bytes_reclaimed: u64,
}

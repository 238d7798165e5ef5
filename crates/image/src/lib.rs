//! OCI images for berth's node side: image references, pulls over the OCI Distribution API,
//! a content-addressed store where each layer is unpacked once and shared, archive import,
//! and overlay root filesystems for containers. Nothing here knows what a task is.

pub mod credentials;
pub mod digest;
mod image_store;
mod import;
pub mod manifest;
mod pull;
pub mod reference;
pub mod registry;
pub mod rootfs;
mod store;
pub mod unpack;

pub use digest::Digest;
pub use image_store::{ImageError, ImageStore, OpenError, PruneReport, summary};
pub use import::ImportError;
pub use pull::chain as error_chain;
pub use pull::{Progress, PullError, PullFailure};
pub use reference::Reference;
pub use rootfs::{Rootfs, RootfsError};
pub use store::{ImageRecord, ImageSource};

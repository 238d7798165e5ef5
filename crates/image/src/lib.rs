//! OCI images for berth's node side: image references, pulls over the OCI Distribution API,
//! a content-addressed store where each layer is unpacked once and shared, archive import,
//! and overlay root filesystems for containers. Nothing here knows what a task is.

pub mod credentials;
pub mod digest;
pub mod manifest;
pub mod reference;
pub mod registry;
pub mod unpack;

pub use digest::Digest;
pub use reference::Reference;

//! berth's state store interface, modelled on etcd's, and its embedded backend.
//!
//! The control plane keeps all desired and observed state here as bytes under keys. The
//! interface is etcd's in miniature — revisioned keys, ranges, compare-and-swap transactions,
//! watches that resume from a revision — so that the multi-node mode can put an etcd client
//! behind the same trait without touching the API or the controllers. This crate knows nothing
//! of tasks or clusters. With the `conformance` feature, `conformance` is the suite every
//! backend's tests run, so that all backends keep these semantics alike.

mod codec;
#[cfg(feature = "conformance")]
pub mod conformance;
mod embedded;
mod types;

pub use embedded::{EmbeddedStore, OpenError};
pub use types::*;

use std::future::Future;
use std::pin::Pin;

/// A boxed future, so `Store` can be used as a trait object (`Arc<dyn Store>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A revisioned key-value store with etcd's semantics.
pub trait Store: Send + Sync + 'static {
    /// Reads the keys in `range`, in key order, at most `limit` of them (all when `None`).
    fn range(
        &self,
        range: KeyRange,
        limit: Option<usize>,
    ) -> BoxFuture<'_, Result<RangeResult, StoreError>>;

    /// Evaluates `txn.compares` atomically against the latest state and applies `txn.success`
    /// if all hold, else `txn.failure`. The write is durable when this returns `Ok`.
    fn txn(&self, txn: Txn) -> BoxFuture<'_, Result<TxnResult, StoreError>>;

    /// Streams every change to keys in `range` from revision `from` on (inclusive). Fails with
    /// [`StoreError::Compacted`] when the history no longer reaches back that far: re-read the
    /// range and watch from its revision + 1.
    fn watch(&self, range: KeyRange, from: Revision) -> Result<Watcher, StoreError>;
}

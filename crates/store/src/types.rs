//! The store's vocabulary: key ranges, key-values with their revisions, transactions, events.

use std::sync::Arc;

/// A store-wide, monotonically increasing version: each successful writing transaction
/// creates exactly one new revision.
pub type Revision = i64;

/// A key and its value with etcd's bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The key.
    pub key: Vec<u8>,
    /// The value.
    pub value: Vec<u8>,
    /// The revision that created the key (since its last deletion).
    pub create_revision: Revision,
    /// The revision of the last write to the key.
    pub mod_revision: Revision,
    /// How many times the key was written since it was created (1 after creation).
    pub version: i64,
}

/// A half-open key interval `[start, end)`; `end: None` means the single key `start`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRange {
    /// First key (inclusive).
    pub start: Vec<u8>,
    /// End (exclusive), or `None` for exactly `start`.
    pub end: Option<Vec<u8>>,
}

impl KeyRange {
    /// Exactly one key.
    pub fn key(key: impl Into<Vec<u8>>) -> Self {
        Self {
            start: key.into(),
            end: None,
        }
    }

    /// Every key that starts with `prefix`.
    pub fn prefix(prefix: impl Into<Vec<u8>>) -> Self {
        let start = prefix.into();
        let end = prefix_end(&start);
        Self {
            start,
            end: Some(end),
        }
    }

    /// The keys of `prefix` strictly after `after` (for paging through a prefix).
    pub fn prefix_after(prefix: impl Into<Vec<u8>>, after: &[u8]) -> Self {
        let mut range = Self::prefix(prefix);
        let mut start = after.to_vec();
        start.push(0);
        if start > range.start {
            range.start = start;
        }
        range
    }

    /// True when `key` falls in the range.
    pub fn contains(&self, key: &[u8]) -> bool {
        match &self.end {
            None => key == self.start.as_slice(),
            Some(end) => key >= self.start.as_slice() && (end.is_empty() || key < end.as_slice()),
        }
    }
}

/// The smallest key greater than every key with `prefix`; empty means "to the end".
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    Vec::new()
}

/// What a range read returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeResult {
    /// The key-values, in key order.
    pub kvs: Vec<KeyValue>,
    /// True when `limit` cut the result short.
    pub more: bool,
    /// The store's revision at the time of the read.
    pub revision: Revision,
}

/// What a compare looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompareTarget {
    /// The key's version (0 when absent).
    Version(i64),
    /// The key's create revision (0 when absent).
    CreateRevision(Revision),
    /// The key's mod revision (0 when absent).
    ModRevision(Revision),
    /// The key's value (an absent key compares as not equal to anything).
    Value(Vec<u8>),
}

/// How a compare relates the key's actual value to the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// actual == target
    Equal,
    /// actual != target
    NotEqual,
    /// actual > target
    Greater,
    /// actual < target
    Less,
}

/// One condition of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compare {
    /// The key compared.
    pub key: Vec<u8>,
    /// The relation.
    pub op: CompareOp,
    /// What it is compared with.
    pub target: CompareTarget,
}

impl Compare {
    /// Holds when `key` does not exist.
    pub fn absent(key: impl Into<Vec<u8>>) -> Self {
        Self {
            key: key.into(),
            op: CompareOp::Equal,
            target: CompareTarget::CreateRevision(0),
        }
    }

    /// Holds when `key` was last written at `revision` (0: when it does not exist).
    pub fn unchanged_since(key: impl Into<Vec<u8>>, revision: Revision) -> Self {
        Self {
            key: key.into(),
            op: CompareOp::Equal,
            target: CompareTarget::ModRevision(revision),
        }
    }
}

/// A write inside a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Set `key` to `value`.
    Put {
        /// The key.
        key: Vec<u8>,
        /// The new value.
        value: Vec<u8>,
    },
    /// Remove `key` if present.
    Delete {
        /// The key.
        key: Vec<u8>,
    },
}

impl Op {
    /// A put.
    pub fn put(key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        Self::Put {
            key: key.into(),
            value: value.into(),
        }
    }

    /// The key written.
    pub fn key(&self) -> &[u8] {
        match self {
            Self::Put { key, .. } | Self::Delete { key } => key,
        }
    }
}

/// An atomic compare-and-swap transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Txn {
    /// Conditions, all of which must hold for `success` to apply.
    pub compares: Vec<Compare>,
    /// Writes applied when every compare holds.
    pub success: Vec<Op>,
    /// Writes applied otherwise.
    pub failure: Vec<Op>,
}

/// The outcome of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnResult {
    /// Whether the compares held (and `success` was applied).
    pub succeeded: bool,
    /// The store's revision after the transaction.
    pub revision: Revision,
}

/// A change seen by a watcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The key now has this value.
    Put(KeyValue),
    /// The key was deleted; `mod_revision` is the deleting revision.
    Delete(KeyValue),
}

impl Event {
    /// The key-value the event is about.
    pub fn kv(&self) -> &KeyValue {
        match self {
            Self::Put(kv) | Self::Delete(kv) => kv,
        }
    }
}

/// A stream of changes, in revision order.
pub struct Watcher {
    pub(crate) events: tokio::sync::mpsc::UnboundedReceiver<Event>,
}

impl Watcher {
    /// The next change, or `None` once the store has shut down.
    pub async fn next(&mut self) -> Option<Event> {
        self.events.recv().await
    }
}

/// Why a store operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The watch asked for history that is no longer kept.
    #[error("revision {requested} has been compacted; the oldest watchable revision is {oldest}")]
    Compacted {
        /// The revision asked for.
        requested: Revision,
        /// The oldest revision still kept.
        oldest: Revision,
    },
    /// The backend failed; nothing was written.
    #[error("the state store failed to read or write its database")]
    Backend(#[source] Arc<redb::Error>),
    /// The store is shutting down.
    #[error("the state store is shut down")]
    Closed,
}

//! One conformance suite for every [`Store`] backend, so the embedded store and etcd cannot
//! drift apart in what the control plane relies on.
//!
//! Each case pins one part of the semantics the trait documents (etcd's, in miniature): a
//! key's `create_revision`, `mod_revision` and `version`; one new revision per writing
//! transaction; key, prefix and interval ranges with limits; compare-and-swap; watches that
//! replay from a revision and then follow; the "compacted" refusal; concurrent writers. A
//! backend's tests stamp out one `#[test]` per case with
//! [`store_conformance_tests!`](crate::store_conformance_tests), so a failure names the rule
//! that broke.
//!
//! Cases never assume absolute revisions (a fresh etcd is at revision 1, the embedded store at
//! 0): they read the store's revision first and count from there. They do assume a store that
//! holds no keys and that nothing else writes to while the case runs, because they count
//! revisions and read whole prefixes. The suite needs no root and no network of its own.

pub mod compares;
pub mod concurrency;
pub mod keys;
pub mod ranges;
pub mod watches;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::{
    BoxFuture, Compare, CompareOp, CompareTarget, Event, KeyRange, KeyValue, Op, RangeResult,
    Revision, Store, StoreError, Txn, TxnResult, Watcher,
};

/// Stamps out one `#[test]` per conformance case for a backend.
///
/// `make_store` is an `async fn() -> S` (or any `FnOnce() -> impl Future<Output = S>`) with
/// `S: Store`, called afresh for every case; the store it returns must hold no keys and be
/// written by no one else. Wrap it in [`Guarded`](crate::conformance::Guarded) to keep
/// alive what it needs (a temporary directory, a server process). Invoke the macro inside a
/// module of its own so the cases' names cannot collide with the file's other tests.
///
/// Two optional arguments, in this order:
/// - `compact = f`, for a backend that does not compact its history on its own when written
///   to, with `f: for<'a> fn(&'a S, Revision) -> BoxFuture<'a, ()>`; see
///   [`Compact`](crate::conformance::Compact).
/// - `diverges = [case, ...]`: cases the backend is known to fail. Each still runs and must
///   still fail — so the list shrinks as soon as a divergence is fixed — and each must name a
///   case, so a typo cannot hide one.
///
/// ```ignore
/// async fn embedded_store() -> Guarded<EmbeddedStore, tempfile::TempDir> { /* ... */ }
/// mod conformance {
///     berth_store::store_conformance_tests!(super::embedded_store);
/// }
/// // etcd compacts only when asked:
/// mod etcd_conformance {
///     berth_store::store_conformance_tests!(super::etcd_store, compact = super::compact_etcd);
/// }
/// ```
#[macro_export]
macro_rules! store_conformance_tests {
    ($make_store:expr, compact = $compact:expr, diverges = [$($diverges:ident),* $(,)?] $(,)?) => {
        $crate::__store_conformance_cases! { ($make_store, $compact, [$($diverges),*]) }
    };
    ($make_store:expr, compact = $compact:expr $(,)?) => {
        $crate::__store_conformance_cases! { ($make_store, $compact, []) }
    };
    ($make_store:expr, diverges = [$($diverges:ident),* $(,)?] $(,)?) => {
        $crate::__store_conformance_cases! {
            ($make_store, $crate::conformance::compact_by_writing, [$($diverges),*])
        }
    };
    ($make_store:expr $(,)?) => {
        $crate::__store_conformance_cases! {
            ($make_store, $crate::conformance::compact_by_writing, [])
        }
    };
}

/// The expansion of [`store_conformance_tests!`]: one plain `#[test]` per case, so the caller
/// needs no tokio macros of its own ([`run`] builds the runtime).
#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_cases {
    (($make_store:expr, $compact:expr, [$($diverges:ident),*])) => {
        // Every `pub async fn` of the case modules is listed here once; a case left out is
        // simply never run, so add new ones here too.
        $crate::__store_conformance_cases! {
            ($make_store, $compact, [$($diverges),*])
            keys::put_creates_a_key_at_the_next_revision,
            keys::overwrite_keeps_create_revision_and_counts_versions,
            keys::delete_removes_the_key_at_a_new_revision,
            keys::delete_of_an_absent_key_makes_no_revision,
            keys::recreated_key_starts_over,
            keys::one_txn_makes_one_revision,
            keys::txn_without_writes_makes_no_revision,
            keys::empty_value_is_a_value,
            ranges::key_range_reads_exactly_one_key,
            ranges::prefix_range_reads_the_prefix_in_key_order,
            ranges::prefix_range_carries_over_ff_bytes,
            ranges::explicit_range_is_half_open,
            ranges::limit_cuts_the_result_and_sets_more,
            ranges::limit_zero_reads_no_keys,
            ranges::prefix_after_pages_through_a_prefix,
            ranges::range_reports_the_store_revision,
            compares::absent_compare_creates_only_once,
            compares::failure_ops_apply_when_a_compare_fails,
            compares::every_compare_must_hold,
            compares::version_compares,
            compares::create_revision_compares,
            compares::mod_revision_compares_detect_intervening_writes,
            compares::value_compares_order_bytes,
            compares::value_compares_on_an_absent_key_hold_only_for_not_equal,
            watches::watch_replays_history_then_follows,
            watches::watch_from_a_revision_is_inclusive,
            watches::watch_from_a_future_revision_starts_there,
            watches::watch_from_the_read_revision_plus_one_misses_nothing,
            watches::watch_of_a_key_sees_only_that_key,
            watches::watch_of_a_prefix_sees_only_that_prefix,
            watches::watch_events_carry_the_key_values,
            watches::watchers_are_independent,
            watches::watch_from_a_compacted_revision_is_refused,
            concurrency::concurrent_txns_each_commit_once,
            concurrency::concurrent_creates_of_one_key_have_one_winner,
            concurrency::concurrent_cas_increments_lose_no_update,
            concurrency::watch_sees_concurrent_writes_in_revision_order,
        }
    };
    (($make_store:expr, $compact:expr, [$($diverges:ident),*]) $($area:ident :: $case:ident),+ $(,)?) => {
        // The divergence list is a constant because a per-case expansion cannot repeat it.
        const __STORE_CONFORMANCE_DIVERGES: &[&str] = &[$(stringify!($diverges)),*];

        $(
            #[test]
            fn $case() {
                $crate::conformance::run(
                    stringify!($case),
                    __STORE_CONFORMANCE_DIVERGES,
                    $make_store,
                    $compact,
                    $crate::conformance::$area::$case,
                );
            }
        )+

        #[test]
        fn known_divergences_name_cases() {
            let cases = [$(stringify!($case)),+];
            for diverges in __STORE_CONFORMANCE_DIVERGES {
                assert!(cases.contains(diverges), "`diverges` names no case {diverges}");
            }
        }
    };
}

/// How a case's wait for a watch event gives up: a missing event fails the case instead of
/// hanging the test run.
const EVENT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one case may take in all, for the same reason (a transaction that never answers).
const CASE_TIMEOUT: Duration = Duration::from_secs(120);

/// Makes every revision up to and including `through` unwatchable: afterwards, a watch from
/// `through` or earlier must fail with [`StoreError::Compacted`]. It may write keys of its own
/// outside the cases' keys (the cases re-read the revision afterwards). etcd's `compact(rev)`
/// keeps `rev` itself watchable, so an etcd backend's hook compacts at `through + 1`.
pub type Compact<S> = for<'a> fn(&'a S, Revision) -> BoxFuture<'a, ()>;

/// Runs the case `name` against a fresh store from `make_store`, on a runtime of its own.
/// When `known_divergences` lists it, the case must fail (and its failure is swallowed).
///
/// The runtime has two worker threads so that the concurrency cases really interleave their
/// transactions, as the control plane's request handlers do.
pub fn run<F, Fut, S, C, CaseFut>(
    name: &str,
    known_divergences: &[&str],
    make_store: F,
    compact: Compact<S>,
    case: C,
) where
    F: FnOnce() -> Fut,
    Fut: Future<Output = S>,
    S: Store,
    C: FnOnce(Harness) -> CaseFut,
    CaseFut: Future<Output = ()>,
{
    let attempt = move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("the conformance suite cannot start a tokio runtime");
        runtime.block_on(async {
            let store = Arc::new(make_store().await);
            let harness = Harness::new(store, compact);
            if tokio::time::timeout(CASE_TIMEOUT, case(harness))
                .await
                .is_err()
            {
                panic!("the case did not finish within {CASE_TIMEOUT:?}");
            }
        });
    };
    if !known_divergences.contains(&name) {
        attempt();
        return;
    }
    // The case's own state is dropped with the runtime as the panic unwinds, and nothing of
    // it is used afterwards, so observing the panic cannot see a broken invariant.
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(attempt)).is_ok() {
        panic!("{name} is listed in `diverges` but passes now: take it off the list");
    }
}

/// What a case gets: the store under test and the backend's way to compact it.
#[derive(Clone)]
pub struct Harness {
    store: Arc<dyn Store>,
    compact: Arc<dyn Fn(Revision) -> BoxFuture<'static, ()> + Send + Sync>,
}

impl Harness {
    fn new<S: Store>(store: Arc<S>, compact: Compact<S>) -> Self {
        let compacting = store.clone();
        Self {
            store,
            compact: Arc::new(move |through| {
                let store = compacting.clone();
                Box::pin(async move { compact(&store, through).await })
            }),
        }
    }

    /// The store under test, as the control plane holds it.
    pub fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// The store, for tasks that outlive a borrow.
    pub fn shared(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// Compacts the history through `through` (see [`Compact`]).
    pub async fn compact(&self, through: Revision) {
        (self.compact)(through).await;
    }
}

/// A store together with what must outlive it (a temporary directory, a server process).
///
/// Fields drop in declaration order, so the store is closed before its guard goes: the
/// embedded store's file is closed before its directory is removed.
pub struct Guarded<S, G> {
    store: S,
    _guard: G,
}

impl<S, G> Guarded<S, G> {
    /// Keeps `guard` alive as long as `store`.
    pub fn new(store: S, guard: G) -> Self {
        Self {
            store,
            _guard: guard,
        }
    }

    /// The store itself, for a backend's [`Compact`] hook.
    pub fn store(&self) -> &S {
        &self.store
    }
}

impl<S: Store, G: Send + Sync + 'static> Store for Guarded<S, G> {
    fn range(
        &self,
        range: KeyRange,
        limit: Option<usize>,
    ) -> BoxFuture<'_, Result<RangeResult, StoreError>> {
        self.store.range(range, limit)
    }

    fn txn(&self, txn: Txn) -> BoxFuture<'_, Result<TxnResult, StoreError>> {
        self.store.txn(txn)
    }

    fn watch(&self, range: KeyRange, from: Revision) -> Result<Watcher, StoreError> {
        self.store.watch(range, from)
    }
}

/// Where [`compact_by_writing`] writes; no case uses this prefix.
const FILLER_PREFIX: &str = "conformance-filler/";
/// Keys overwritten per filler transaction: many events per revision keeps the number of
/// commits (each an fsync) small.
const FILLER_KEYS: usize = 500;
/// Filler transactions before giving up: 100,000 events, ten times the embedded store's
/// history.
const MAX_FILLER_TXNS: usize = 200;

/// The [`Compact`] hook for backends that compact on their own once their history grows (the
/// embedded store keeps a bounded number of events): writes filler until a watch from
/// `through` is refused, and fails the case if that never happens.
pub fn compact_by_writing<S: Store>(store: &S, through: Revision) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        // The probed key is never written, so a successful probe buffers no events.
        let probe = KeyRange::key(format!("{FILLER_PREFIX}probe"));
        for _ in 0..MAX_FILLER_TXNS {
            match store.watch(probe.clone(), through) {
                Err(StoreError::Compacted { .. }) => return,
                Err(error) => panic!("watching to probe for compaction failed: {error}"),
                Ok(_) => {}
            }
            let puts = (0..FILLER_KEYS)
                .map(|i| Op::put(format!("{FILLER_PREFIX}{i:04}"), "filler"))
                .collect();
            txn(
                store,
                Txn {
                    success: puts,
                    ..Txn::default()
                },
            )
            .await;
        }
        panic!(
            "revision {through} was still watchable after {} filler events; a backend that \
             does not compact on its own must pass `compact = ...` to store_conformance_tests!",
            MAX_FILLER_TXNS * FILLER_KEYS
        );
    })
}

// Helpers shared by the cases. They unwrap: a backend error fails the case where it happened.

async fn txn(store: &(impl Store + ?Sized), txn: Txn) -> TxnResult {
    store.txn(txn).await.expect("the transaction failed")
}

async fn put(store: &dyn Store, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> TxnResult {
    txn(
        store,
        Txn {
            success: vec![Op::put(key, value)],
            ..Txn::default()
        },
    )
    .await
}

async fn delete(store: &dyn Store, key: impl Into<Vec<u8>>) -> TxnResult {
    txn(
        store,
        Txn {
            success: vec![Op::Delete { key: key.into() }],
            ..Txn::default()
        },
    )
    .await
}

async fn range(store: &dyn Store, range: KeyRange, limit: Option<usize>) -> RangeResult {
    store.range(range, limit).await.expect("the range failed")
}

async fn get(store: &dyn Store, key: impl Into<Vec<u8>>) -> Option<KeyValue> {
    let mut result = range(store, KeyRange::key(key), None).await;
    assert!(
        result.kvs.len() <= 1,
        "a single-key range returned {:?}",
        names(&result)
    );
    result.kvs.pop()
}

/// The store's current revision, read without touching any key a case uses.
async fn revision(store: &dyn Store) -> Revision {
    range(store, KeyRange::key("conformance-revision-probe"), None)
        .await
        .revision
}

/// Whether `compare` holds, found by a transaction that writes nothing either way.
async fn holds(store: &dyn Store, compare: Compare) -> bool {
    let before = revision(store).await;
    let result = txn(
        store,
        Txn {
            compares: vec![compare],
            ..Txn::default()
        },
    )
    .await;
    assert_eq!(
        result.revision, before,
        "a transaction without writes made a revision"
    );
    result.succeeded
}

fn compare(key: &str, op: CompareOp, target: CompareTarget) -> Compare {
    Compare {
        key: key.into(),
        op,
        target,
    }
}

/// The keys of a range result, escaped so that non-UTF-8 keys stay distinct in messages.
fn names(result: &RangeResult) -> Vec<String> {
    result
        .kvs
        .iter()
        .map(|kv| kv.key.escape_ascii().to_string())
        .collect()
}

async fn next_event(watcher: &mut Watcher) -> Event {
    match tokio::time::timeout(EVENT_TIMEOUT, watcher.next()).await {
        Ok(Some(event)) => event,
        Ok(None) => panic!("the watch ended while an event was expected"),
        Err(_) => panic!("no watch event within {EVENT_TIMEOUT:?}"),
    }
}

/// An event reduced to what the trait promises about it, for readable comparisons. Deletes
/// carry only the key and the deleting revision: etcd's delete events have no value or
/// version, so nothing else may be relied on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Seen {
    Put {
        key: String,
        value: String,
        mod_revision: Revision,
    },
    Delete {
        key: String,
        mod_revision: Revision,
    },
}

fn seen(event: &Event) -> Seen {
    let text = |bytes: &[u8]| bytes.escape_ascii().to_string();
    match event {
        Event::Put(kv) => Seen::Put {
            key: text(&kv.key),
            value: text(&kv.value),
            mod_revision: kv.mod_revision,
        },
        Event::Delete(kv) => Seen::Delete {
            key: text(&kv.key),
            mod_revision: kv.mod_revision,
        },
    }
}

fn seen_put(key: &str, value: &str, mod_revision: Revision) -> Seen {
    Seen::Put {
        key: key.into(),
        value: value.into(),
        mod_revision,
    }
}

fn seen_delete(key: &str, mod_revision: Revision) -> Seen {
    Seen::Delete {
        key: key.into(),
        mod_revision,
    }
}

async fn next_seen(watcher: &mut Watcher) -> Seen {
    seen(&next_event(watcher).await)
}

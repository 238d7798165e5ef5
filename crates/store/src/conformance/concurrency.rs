//! Cases for concurrent writers: every transaction commits exactly once at its own revision,
//! compares see the transactions ordered before them (however a backend batches its commits),
//! and watchers see concurrent writes in revision order.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;

use super::{Harness, get, next_event, put, range, revision, txn};
use crate::{Compare, KeyRange, Op, Store, Txn, TxnResult};

/// How many writers run at once: enough that a backend has to queue, batch or interleave
/// their commits, few enough to stay quick on two cores.
const WRITERS: usize = 200;

/// Runs `count` writers at once, writer `i` being `writer(store, i)`, and returns their
/// results in writer order.
async fn spawn_all<F, Fut>(store: &Arc<dyn Store>, count: usize, writer: F) -> Vec<TxnResult>
where
    F: Fn(Arc<dyn Store>, usize) -> Fut,
    Fut: Future<Output = TxnResult> + Send + 'static,
{
    let tasks: Vec<_> = (0..count)
        .map(|i| tokio::spawn(writer(store.clone(), i)))
        .collect();
    let mut results = Vec::with_capacity(count);
    for task in tasks {
        results.push(task.await.expect("a writer panicked"));
    }
    results
}

fn create_only(key: String, value: String) -> Txn {
    Txn {
        compares: vec![Compare::absent(key.clone())],
        success: vec![Op::put(key, value)],
        failure: vec![],
    }
}

/// Concurrent transactions on distinct keys all succeed, each at a revision of its own: the
/// revisions are exactly the next `WRITERS` ones, none shared, none skipped.
pub async fn concurrent_txns_each_commit_once(h: Harness) {
    let store = h.store();
    let base = revision(store).await;
    let results = spawn_all(&h.shared(), WRITERS, |store, i| async move {
        txn(&*store, create_only(format!("c/{i:03}"), "x".into())).await
    })
    .await;
    assert!(results.iter().all(|r| r.succeeded));
    let mut revisions: Vec<_> = results.iter().map(|r| r.revision).collect();
    revisions.sort_unstable();
    let last = base + WRITERS as i64;
    assert_eq!(revisions, (base + 1..=last).collect::<Vec<_>>());
    let all = range(store, KeyRange::prefix("c/"), None).await;
    assert_eq!((all.kvs.len(), all.revision), (WRITERS, last));
}

/// Of many concurrent create-only writes to one key, exactly one wins, and its value is the
/// one stored.
pub async fn concurrent_creates_of_one_key_have_one_winner(h: Harness) {
    let store = h.store();
    let base = revision(store).await;
    let results = spawn_all(&h.shared(), 50, |store, i| async move {
        txn(&*store, create_only("lock".into(), i.to_string())).await
    })
    .await;
    let winners: Vec<_> = (0..results.len())
        .filter(|&i| results[i].succeeded)
        .collect();
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    let lock = get(store, "lock")
        .await
        .expect("the winner created the lock");
    assert_eq!(lock.value, winners[0].to_string().as_bytes());
    assert_eq!((lock.version, lock.mod_revision), (1, base + 1));
    assert_eq!(revision(store).await, base + 1);
}

/// Read-modify-write loops conditioned on the read's mod revision lose no update: each
/// increment lands exactly once.
pub async fn concurrent_cas_increments_lose_no_update(h: Harness) {
    const INCREMENTERS: usize = 16;
    let store = h.store();
    put(store, "counter", "0").await;
    spawn_all(&h.shared(), INCREMENTERS, |store, _| async move {
        loop {
            let current = get(&*store, "counter").await.expect("the counter exists");
            let n: u64 = std::str::from_utf8(&current.value)
                .ok()
                .and_then(|v| v.parse().ok())
                .expect("the counter holds a number");
            let increment = Txn {
                compares: vec![Compare::unchanged_since("counter", current.mod_revision)],
                success: vec![Op::put("counter", (n + 1).to_string())],
                failure: vec![],
            };
            let result = txn(&*store, increment).await;
            if result.succeeded {
                return result;
            }
        }
    })
    .await;
    let counter = get(store, "counter").await.expect("the counter exists");
    assert_eq!(counter.value, INCREMENTERS.to_string().as_bytes());
    assert_eq!(counter.version, INCREMENTERS as i64 + 1);
}

/// A watcher sees concurrent writes one revision at a time, in increasing order, each once.
pub async fn watch_sees_concurrent_writes_in_revision_order(h: Harness) {
    const PUTS: usize = 100;
    let store = h.store();
    let base = revision(store).await;
    let mut watcher = store
        .watch(KeyRange::prefix("o/"), base + 1)
        .expect("watch from the next revision");
    spawn_all(&h.shared(), PUTS, |store, i| async move {
        put(&*store, format!("o/{i:03}"), "x").await
    })
    .await;
    let mut keys = BTreeSet::new();
    for expected in base + 1..=base + PUTS as i64 {
        let event = next_event(&mut watcher).await;
        assert_eq!(event.kv().mod_revision, expected, "{event:?}");
        keys.insert(event.kv().key.clone());
    }
    assert_eq!(keys.len(), PUTS);
}

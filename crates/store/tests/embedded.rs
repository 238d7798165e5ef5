//! The embedded store against the `Store` contract: the backend-independent conformance
//! suite (`berth_store::conformance`, one test per case under `conformance::`), plus what only
//! the embedded store promises — its first revision, durability across reopen, and history
//! that does not survive a restart.

use berth_store::conformance::Guarded;
use berth_store::*;

fn open(dir: &tempfile::TempDir) -> EmbeddedStore {
    EmbeddedStore::open(&dir.path().join("state.redb")).unwrap()
}

/// A fresh store for each conformance case, in a directory removed after the store closes.
async fn conformance_store() -> Guarded<EmbeddedStore, tempfile::TempDir> {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    Guarded::new(store, dir)
}

// The embedded store compacts on its own once its history outgrows its bound, so the
// suite's compaction case drives it by writing (the default `compact` hook).
mod conformance {
    berth_store::store_conformance_tests!(super::conformance_store);
}

async fn put(store: &dyn Store, key: &str, value: &str) -> TxnResult {
    store
        .txn(Txn {
            success: vec![Op::put(key, value)],
            ..Txn::default()
        })
        .await
        .unwrap()
}

async fn get(store: &dyn Store, key: &str) -> Option<KeyValue> {
    store
        .range(KeyRange::key(key), None)
        .await
        .unwrap()
        .kvs
        .pop()
}

#[tokio::test]
async fn revisions_start_at_one() {
    // The suite counts from whatever revision a store starts at (etcd starts at 1 with no
    // keys); the embedded store starts at 0, so its first write is revision 1.
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    assert_eq!(store.revision(), 0);
    assert_eq!(put(&store, "a", "1").await.revision, 1);
}

#[tokio::test]
async fn writes_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(&dir);
        put(&store, "durable", "yes").await;
        put(&store, "gone", "soon").await;
        store
            .txn(Txn {
                success: vec![Op::Delete {
                    key: b"gone".to_vec(),
                }],
                ..Txn::default()
            })
            .await
            .unwrap();
    }
    let store = open(&dir);
    assert_eq!(store.revision(), 3);
    assert_eq!(get(&store, "durable").await.unwrap().value, b"yes");
    assert_eq!(get(&store, "gone").await, None);
    assert_eq!(put(&store, "next", "x").await.revision, 4);
}

#[tokio::test]
async fn watch_before_the_kept_history_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(&dir);
        put(&store, "a", "1").await;
    }
    // History is not kept across restarts: a watcher must re-read and watch from now on.
    let store = open(&dir);
    assert!(matches!(
        store.watch(KeyRange::prefix(""), 1),
        Err(StoreError::Compacted {
            requested: 1,
            oldest: 2
        })
    ));
    assert!(store.watch(KeyRange::prefix(""), 2).is_ok());
}

#[tokio::test]
async fn watch_ends_when_the_store_closes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let mut watcher = store.watch(KeyRange::prefix(""), 1).unwrap();
    put(&store, "a", "1").await;
    assert!(watcher.next().await.is_some());
    drop(store);
    assert_eq!(watcher.next().await, None);
}

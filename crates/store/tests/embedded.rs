//! The embedded store against the `Store` contract: ranges, compare-and-swap, revisions,
//! watches, durability across reopen, and concurrent writers sharing commits.

use std::sync::Arc;

use berth_store::*;

fn open(dir: &tempfile::TempDir) -> EmbeddedStore {
    EmbeddedStore::open(&dir.path().join("state.redb")).unwrap()
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
async fn revisions_versions_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    assert_eq!(put(&store, "a", "1").await.revision, 1);
    assert_eq!(put(&store, "a", "2").await.revision, 2);
    let kv = get(&store, "a").await.unwrap();
    assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (1, 2, 2));
    assert_eq!(kv.value, b"2");

    let deleted = store
        .txn(Txn {
            success: vec![Op::Delete { key: b"a".to_vec() }],
            ..Txn::default()
        })
        .await
        .unwrap();
    assert_eq!(deleted.revision, 3);
    assert_eq!(get(&store, "a").await, None);
    // Deleting what is not there writes nothing and makes no revision.
    let noop = store
        .txn(Txn {
            success: vec![Op::Delete { key: b"a".to_vec() }],
            ..Txn::default()
        })
        .await
        .unwrap();
    assert_eq!(noop.revision, 3);
}

#[tokio::test]
async fn prefix_ranges_page_in_key_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    for key in ["p/b", "p/a", "p/c", "q/a", "p"] {
        put(&store, key, "x").await;
    }
    let first = store.range(KeyRange::prefix("p/"), Some(2)).await.unwrap();
    let keys: Vec<_> = first.kvs.iter().map(|kv| kv.key.clone()).collect();
    assert_eq!(keys, vec![b"p/a".to_vec(), b"p/b".to_vec()]);
    assert!(first.more);
    let rest = store
        .range(KeyRange::prefix_after("p/", b"p/b"), Some(2))
        .await
        .unwrap();
    assert_eq!(rest.kvs.len(), 1);
    assert_eq!(rest.kvs[0].key, b"p/c");
    assert!(!rest.more);
}

#[tokio::test]
async fn compare_and_swap() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let create = |value: &str| Txn {
        compares: vec![Compare::absent("k")],
        success: vec![Op::put("k", value)],
        failure: vec![],
    };
    assert!(store.txn(create("first")).await.unwrap().succeeded);
    let second = store.txn(create("second")).await.unwrap();
    assert!(!second.succeeded);
    assert_eq!(get(&store, "k").await.unwrap().value, b"first");

    // The failure branch applies when a compare does not hold.
    let stale = Txn {
        compares: vec![Compare::unchanged_since("k", 99)],
        success: vec![Op::put("k", "won")],
        failure: vec![Op::put("conflicts", "1")],
    };
    assert!(!store.txn(stale).await.unwrap().succeeded);
    assert!(get(&store, "conflicts").await.is_some());
    assert_eq!(get(&store, "k").await.unwrap().value, b"first");

    let value_cmp = |op, value: &str| Txn {
        compares: vec![Compare {
            key: b"k".to_vec(),
            op,
            target: CompareTarget::Value(value.into()),
        }],
        ..Txn::default()
    };
    assert!(
        store
            .txn(value_cmp(CompareOp::Equal, "first"))
            .await
            .unwrap()
            .succeeded
    );
    assert!(
        store
            .txn(value_cmp(CompareOp::Greater, "a"))
            .await
            .unwrap()
            .succeeded
    );
    assert!(
        !store
            .txn(value_cmp(CompareOp::Less, "a"))
            .await
            .unwrap()
            .succeeded
    );
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
async fn watch_replays_history_then_follows() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    put(&store, "w/a", "1").await;
    put(&store, "other", "1").await;
    let mut watcher = store.watch(KeyRange::prefix("w/"), 1).unwrap();
    put(&store, "w/b", "2").await;
    store
        .txn(Txn {
            success: vec![Op::Delete {
                key: b"w/a".to_vec(),
            }],
            ..Txn::default()
        })
        .await
        .unwrap();

    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(watcher.next().await.unwrap());
    }
    assert!(matches!(&seen[0], Event::Put(kv) if kv.key == b"w/a" && kv.mod_revision == 1));
    assert!(matches!(&seen[1], Event::Put(kv) if kv.key == b"w/b" && kv.mod_revision == 3));
    assert!(matches!(&seen[2], Event::Delete(kv) if kv.key == b"w/a" && kv.mod_revision == 4));
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_each_get_their_own_revision() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(open(&dir));
    let mut tasks = Vec::new();
    for i in 0..200 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .txn(Txn {
                    compares: vec![Compare::absent(format!("c/{i}"))],
                    success: vec![Op::put(format!("c/{i}"), "x")],
                    failure: vec![],
                })
                .await
                .unwrap()
        }));
    }
    let mut revisions = Vec::new();
    for task in tasks {
        let result = task.await.unwrap();
        assert!(result.succeeded);
        revisions.push(result.revision);
    }
    revisions.sort_unstable();
    assert_eq!(revisions, (1..=200).collect::<Vec<_>>());
    let all = store.range(KeyRange::prefix("c/"), None).await.unwrap();
    assert_eq!((all.kvs.len(), all.revision), (200, 200));
}

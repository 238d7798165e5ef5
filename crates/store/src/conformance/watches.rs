//! Cases for watches: replay of the history from a revision (inclusive) followed by live
//! changes, the read-then-watch-from-revision-plus-one pattern the control plane uses, what a
//! key or prefix watch does not see, the contents of events, independent watchers, and the
//! "compacted" refusal with its recovery.
//!
//! "Sees nothing else" is checked with a sentinel rather than a timeout: events arrive in
//! revision order, so anything wrongly delivered would come before a sentinel written last.

use super::{
    Harness, delete, get, next_event, next_seen, put, range, revision, seen_delete, seen_put, txn,
};
use crate::{Event, KeyRange, KeyValue, Op, StoreError, Txn};

/// A watch from a past revision first replays the matching changes since then, deletes
/// included, in revision order, then follows live writes.
pub async fn watch_replays_history_then_follows(h: Harness) {
    let store = h.store();
    let base = revision(store).await;
    put(store, "w/a", "1").await;
    put(store, "other", "1").await;
    let mut watcher = store
        .watch(KeyRange::prefix("w/"), base + 1)
        .expect("watch from a kept revision");
    put(store, "w/b", "2").await;
    delete(store, "w/a").await;

    assert_eq!(
        next_seen(&mut watcher).await,
        seen_put("w/a", "1", base + 1)
    );
    assert_eq!(
        next_seen(&mut watcher).await,
        seen_put("w/b", "2", base + 3)
    );
    assert_eq!(next_seen(&mut watcher).await, seen_delete("w/a", base + 4));
}

/// `from` is inclusive: the change made at `from` is the first one delivered, earlier ones
/// are not.
pub async fn watch_from_a_revision_is_inclusive(h: Harness) {
    let store = h.store();
    let base = revision(store).await;
    for value in ["1", "2", "3"] {
        put(store, "k", value).await;
    }
    let mut watcher = store
        .watch(KeyRange::key("k"), base + 2)
        .expect("watch from a kept revision");
    assert_eq!(next_seen(&mut watcher).await, seen_put("k", "2", base + 2));
    assert_eq!(next_seen(&mut watcher).await, seen_put("k", "3", base + 3));
    put(store, "k", "4").await;
    assert_eq!(next_seen(&mut watcher).await, seen_put("k", "4", base + 4));
}

/// A watch from a revision the store has not reached yet (etcd accepts those) delivers
/// nothing before it: the first event is the change made at `from`.
pub async fn watch_from_a_future_revision_starts_there(h: Harness) {
    let store = h.store();
    let base = revision(store).await;
    let mut watcher = store
        .watch(KeyRange::key("k"), base + 3)
        .expect("watch from a future revision");
    for value in ["1", "2", "3"] {
        put(store, "k", value).await;
    }
    assert_eq!(next_seen(&mut watcher).await, seen_put("k", "3", base + 3));
}

/// Reading a range and then watching from its revision + 1 misses nothing written in between
/// and repeats nothing the read already returned — how a controller lists then watches.
pub async fn watch_from_the_read_revision_plus_one_misses_nothing(h: Harness) {
    let store = h.store();
    put(store, "r/a", "1").await;
    let read = range(store, KeyRange::prefix("r/"), None).await;
    // Written after the read but before the watch exists.
    put(store, "r/b", "2").await;
    let mut watcher = store
        .watch(KeyRange::prefix("r/"), read.revision + 1)
        .expect("watch from the next revision");
    assert_eq!(
        next_seen(&mut watcher).await,
        seen_put("r/b", "2", read.revision + 1)
    );
    put(store, "r/c", "3").await;
    assert_eq!(
        next_seen(&mut watcher).await,
        seen_put("r/c", "3", read.revision + 2)
    );
}

/// A single-key watch sees that key's puts and deletes, not keys it is a prefix of.
pub async fn watch_of_a_key_sees_only_that_key(h: Harness) {
    let store = h.store();
    let base = revision(store).await;
    let mut watcher = store
        .watch(KeyRange::key("k"), base + 1)
        .expect("watch from the next revision");
    for key in ["k2", "k/child", "j"] {
        put(store, key, "x").await;
    }
    put(store, "k", "v").await;
    delete(store, "k").await;
    assert_eq!(next_seen(&mut watcher).await, seen_put("k", "v", base + 4));
    assert_eq!(next_seen(&mut watcher).await, seen_delete("k", base + 5));
}

/// A prefix watch sees the keys under the prefix only — not the prefix's neighbours, nor the
/// prefix without its separator.
pub async fn watch_of_a_prefix_sees_only_that_prefix(h: Harness) {
    let store = h.store();
    let base = revision(store).await;
    let mut watcher = store
        .watch(KeyRange::prefix("w/"), base + 1)
        .expect("watch from the next revision");
    for key in ["w", "w/a", "w0", "v/x", "w/b/c", "x"] {
        put(store, key, "v").await;
    }
    let sentinel = put(store, "w/z", "sentinel").await.revision;
    assert_eq!(
        next_seen(&mut watcher).await,
        seen_put("w/a", "v", base + 2)
    );
    assert_eq!(
        next_seen(&mut watcher).await,
        seen_put("w/b/c", "v", base + 5)
    );
    assert_eq!(
        next_seen(&mut watcher).await,
        seen_put("w/z", "sentinel", sentinel)
    );
}

/// A put event carries the key-value exactly as a read would return it; a delete event names
/// the key and the deleting revision. One transaction's events share its revision.
pub async fn watch_events_carry_the_key_values(h: Harness) {
    let store = h.store();
    let base = revision(store).await;
    let mut watcher = store
        .watch(KeyRange::prefix("e/"), base + 1)
        .expect("watch from the next revision");
    put(store, "e/a", "1").await;
    put(store, "e/a", "2").await;
    let kv = |value: &str, create_revision, mod_revision, version| KeyValue {
        key: b"e/a".to_vec(),
        value: value.into(),
        create_revision,
        mod_revision,
        version,
    };
    assert_eq!(
        next_event(&mut watcher).await,
        Event::Put(kv("1", base + 1, base + 1, 1))
    );
    let second = next_event(&mut watcher).await;
    assert_eq!(second, Event::Put(kv("2", base + 1, base + 2, 2)));
    assert_eq!(Some(second.kv().clone()), get(store, "e/a").await);

    txn(
        store,
        Txn {
            success: vec![
                Op::put("e/b", "x"),
                Op::Delete {
                    key: b"e/a".to_vec(),
                },
            ],
            ..Txn::default()
        },
    )
    .await;
    // The order of one revision's events is not part of the contract.
    let mut same_revision = [
        next_event(&mut watcher).await,
        next_event(&mut watcher).await,
    ];
    same_revision.sort_by_key(|e| matches!(e, Event::Delete(_)));
    let [created, deleted] = same_revision;
    assert_eq!(
        created,
        Event::Put(KeyValue {
            key: b"e/b".to_vec(),
            value: b"x".to_vec(),
            create_revision: base + 3,
            mod_revision: base + 3,
            version: 1,
        })
    );
    assert_eq!(super::seen(&deleted), seen_delete("e/a", base + 3));
}

/// Watchers are independent: each gets every matching event, and dropping one neither ends
/// the others nor stops a later watch from replaying the same history.
pub async fn watchers_are_independent(h: Harness) {
    let store = h.store();
    let base = revision(store).await;
    let mut key = store.watch(KeyRange::key("k"), base + 1).expect("watch");
    let mut everything = store.watch(KeyRange::prefix(""), base + 1).expect("watch");
    put(store, "k", "1").await;
    assert_eq!(next_seen(&mut key).await, seen_put("k", "1", base + 1));
    assert_eq!(
        next_seen(&mut everything).await,
        seen_put("k", "1", base + 1)
    );
    drop(key);
    put(store, "k", "2").await;
    assert_eq!(
        next_seen(&mut everything).await,
        seen_put("k", "2", base + 2)
    );
    let mut later = store.watch(KeyRange::key("k"), base + 1).expect("watch");
    assert_eq!(next_seen(&mut later).await, seen_put("k", "1", base + 1));
    assert_eq!(next_seen(&mut later).await, seen_put("k", "2", base + 2));
}

/// Once history is compacted, a watch from a compacted revision is refused with
/// `Compacted { requested, oldest }`: `oldest` is the first revision still watchable. The
/// documented recovery — re-read, then watch from the read's revision + 1 — sees what follows.
pub async fn watch_from_a_compacted_revision_is_refused(h: Harness) {
    let store = h.store();
    let base = revision(store).await;
    put(store, "c/a", "1").await;
    put(store, "c/a", "2").await;
    h.compact(base + 2).await;

    let refused = |from| match store.watch(KeyRange::prefix("c/"), from) {
        Err(StoreError::Compacted { requested, oldest }) => {
            assert_eq!(requested, from, "the refusal names the revision asked for");
            oldest
        }
        Err(error) => panic!("watch from compacted revision {from}: {error}"),
        Ok(_) => panic!("watch from compacted revision {from} was accepted"),
    };
    let oldest = refused(base + 1);
    assert!(
        oldest > base + 2,
        "revision {} was compacted, yet oldest is {oldest}",
        base + 2
    );
    assert_eq!(refused(oldest - 1), oldest);
    assert!(
        store.watch(KeyRange::prefix("c/"), oldest).is_ok(),
        "the oldest kept revision {oldest} must be watchable"
    );

    let read = range(store, KeyRange::prefix("c/"), None).await;
    assert_eq!(super::names(&read), ["c/a"]);
    assert_eq!(read.kvs[0].value, b"2");
    let mut watcher = store
        .watch(KeyRange::prefix("c/"), read.revision + 1)
        .expect("watch from after the re-read");
    put(store, "c/a", "3").await;
    assert_eq!(
        next_seen(&mut watcher).await,
        seen_put("c/a", "3", read.revision + 1)
    );
}

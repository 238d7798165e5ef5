//! Cases for single keys and the store's revision: what a put, an overwrite and a delete do to
//! a key's `create_revision`, `mod_revision` and `version`, and when the revision advances
//! (once per transaction that writes, never for one that does not).

use super::{Harness, compare, delete, get, holds, put, range, revision, txn};
use crate::{Compare, CompareOp, CompareTarget, KeyRange, KeyValue, Op, Txn, TxnResult};

/// A put creates its key at the next revision: `create_revision == mod_revision` = that
/// revision, `version` 1, and the transaction answers with that revision.
pub async fn put_creates_a_key_at_the_next_revision(h: Harness) {
    let store = h.store();
    let base = revision(store).await;
    let result = put(store, "k", "v").await;
    assert_eq!(
        result,
        TxnResult {
            succeeded: true,
            revision: base + 1
        }
    );
    assert_eq!(
        get(store, "k").await,
        Some(KeyValue {
            key: b"k".to_vec(),
            value: b"v".to_vec(),
            create_revision: base + 1,
            mod_revision: base + 1,
            version: 1,
        })
    );
    assert_eq!(revision(store).await, base + 1);
}

/// Overwriting keeps the key's `create_revision`, moves its `mod_revision` to the writing
/// revision and counts `version` up; other keys keep their own bookkeeping.
pub async fn overwrite_keeps_create_revision_and_counts_versions(h: Harness) {
    let store = h.store();
    let base = revision(store).await;
    put(store, "k", "1").await;
    put(store, "other", "x").await;
    assert_eq!(put(store, "k", "2").await.revision, base + 3);

    let kv = get(store, "k").await.expect("k was written");
    assert_eq!(kv.value, b"2");
    assert_eq!(
        (kv.create_revision, kv.mod_revision, kv.version),
        (base + 1, base + 3, 2)
    );
    let other = get(store, "other").await.expect("other was written");
    assert_eq!(
        (other.create_revision, other.mod_revision, other.version),
        (base + 2, base + 2, 1)
    );
}

/// A delete is a write: it makes a revision of its own and the key is gone from reads.
pub async fn delete_removes_the_key_at_a_new_revision(h: Harness) {
    let store = h.store();
    let base = revision(store).await;
    put(store, "k", "v").await;
    put(store, "keep", "v").await;
    assert_eq!(
        delete(store, "k").await,
        TxnResult {
            succeeded: true,
            revision: base + 3
        }
    );
    assert_eq!(get(store, "k").await, None);
    let all = range(store, KeyRange::prefix(""), None).await;
    assert_eq!(super::names(&all), ["keep"]);
    assert_eq!(all.revision, base + 3);
}

/// Deleting what is not there writes nothing, so it makes no revision (as in etcd, where a
/// transaction without changes does not advance the store).
pub async fn delete_of_an_absent_key_makes_no_revision(h: Harness) {
    let store = h.store();
    let base = revision(store).await;
    put(store, "k", "v").await;
    assert_eq!(
        delete(store, "missing").await,
        TxnResult {
            succeeded: true,
            revision: base + 1
        }
    );
    delete(store, "k").await;
    assert_eq!(delete(store, "k").await.revision, base + 2);
    assert_eq!(revision(store).await, base + 2);
}

/// A key created again after a delete starts a new life: a new `create_revision` and
/// `version` 1 again.
pub async fn recreated_key_starts_over(h: Harness) {
    let store = h.store();
    let base = revision(store).await;
    put(store, "k", "a").await;
    put(store, "k", "b").await;
    delete(store, "k").await;
    put(store, "k", "c").await;
    let kv = get(store, "k").await.expect("k was recreated");
    assert_eq!(kv.value, b"c");
    assert_eq!(
        (kv.create_revision, kv.mod_revision, kv.version),
        (base + 4, base + 4, 1)
    );
}

/// All the writes of one transaction share one new revision, however many there are.
pub async fn one_txn_makes_one_revision(h: Harness) {
    let store = h.store();
    let base = revision(store).await;
    put(store, "gone", "v").await;
    let result = txn(
        store,
        Txn {
            success: vec![
                Op::put("a", "1"),
                Op::put("b", "2"),
                Op::Delete {
                    key: b"gone".to_vec(),
                },
            ],
            ..Txn::default()
        },
    )
    .await;
    assert_eq!(result.revision, base + 2);
    for key in ["a", "b"] {
        let kv = get(store, key).await.expect("written by the transaction");
        assert_eq!((kv.create_revision, kv.mod_revision), (base + 2, base + 2));
    }
    assert_eq!(get(store, "gone").await, None);
    assert_eq!(put(store, "c", "3").await.revision, base + 3);
}

/// A transaction that writes nothing — no ops, or a failed compare with no failure ops —
/// answers with the current revision and makes none; `succeeded` still says which branch
/// was taken.
pub async fn txn_without_writes_makes_no_revision(h: Harness) {
    let store = h.store();
    let base = revision(store).await;
    put(store, "k", "v").await;
    let now = TxnResult {
        succeeded: true,
        revision: base + 1,
    };
    assert_eq!(txn(store, Txn::default()).await, now);
    let failed = Txn {
        compares: vec![Compare::absent("k")],
        success: vec![Op::put("k", "overwritten")],
        failure: vec![],
    };
    assert_eq!(
        txn(store, failed).await,
        TxnResult {
            succeeded: false,
            ..now
        }
    );
    let held = Txn {
        compares: vec![Compare::absent("missing")],
        success: vec![],
        failure: vec![Op::put("k", "overwritten")],
    };
    assert_eq!(txn(store, held).await, now);
    let kv = get(store, "k").await.expect("k was written");
    assert_eq!(
        (kv.value.as_slice(), kv.mod_revision),
        (&b"v"[..], base + 1)
    );
}

/// An empty value is a value: the key exists, compares equal to `""`, and is not absent.
pub async fn empty_value_is_a_value(h: Harness) {
    let store = h.store();
    let base = revision(store).await;
    put(store, "k", "").await;
    let kv = get(store, "k")
        .await
        .expect("a key with an empty value exists");
    assert_eq!(
        (kv.value.len(), kv.create_revision, kv.version),
        (0, base + 1, 1)
    );
    assert!(
        holds(
            store,
            compare("k", CompareOp::Equal, CompareTarget::Value(vec![]))
        )
        .await
    );
    assert!(!holds(store, Compare::absent("k")).await);
}

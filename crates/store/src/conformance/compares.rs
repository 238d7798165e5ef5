//! Cases for transactions' compares: create-only writes, the failure branch, conjunction of
//! compares, each `CompareTarget` under each `CompareOp`, and what an absent key compares as.

use super::{Harness, compare, delete, get, holds, put, revision, txn};
use crate::{Compare, CompareOp, CompareTarget, Op, Txn};

use CompareOp::{Equal, Greater, Less, NotEqual};
use CompareTarget::{CreateRevision, ModRevision, Value, Version};

/// `Compare::absent` makes a create-only write: the first succeeds, the second fails and
/// leaves the value alone.
pub async fn absent_compare_creates_only_once(h: Harness) {
    let store = h.store();
    let create = |value: &str| Txn {
        compares: vec![Compare::absent("k")],
        success: vec![Op::put("k", value)],
        failure: vec![],
    };
    assert!(txn(store, create("first")).await.succeeded);
    assert!(!txn(store, create("second")).await.succeeded);
    assert_eq!(
        get(store, "k").await.expect("k was created").value,
        b"first"
    );
}

/// When a compare fails, the failure ops apply (at a new revision) and the success ops do not.
pub async fn failure_ops_apply_when_a_compare_fails(h: Harness) {
    let store = h.store();
    let base = revision(store).await;
    put(store, "k", "first").await;
    let stale = Txn {
        compares: vec![Compare::unchanged_since("k", base + 99)],
        success: vec![Op::put("k", "won")],
        failure: vec![Op::put("conflicts", "1")],
    };
    let result = txn(store, stale).await;
    assert!(!result.succeeded);
    assert_eq!(result.revision, base + 2);
    let conflicts = get(store, "conflicts")
        .await
        .expect("the failure op applied");
    assert_eq!(conflicts.mod_revision, base + 2);
    assert_eq!(
        get(store, "k").await.expect("k was written").value,
        b"first"
    );
}

/// The success branch needs every compare to hold; no compares at all hold trivially.
pub async fn every_compare_must_hold(h: Harness) {
    let store = h.store();
    put(store, "a", "1").await;
    put(store, "b", "1").await;
    let both = |b: &str| Txn {
        compares: vec![
            compare("a", Equal, Value(b"1".to_vec())),
            compare("b", Equal, Value(b.into())),
        ],
        success: vec![Op::put("branch", "success")],
        failure: vec![Op::put("branch", "failure")],
    };
    assert!(!txn(store, both("2")).await.succeeded);
    assert_eq!(
        get(store, "branch").await.expect("written").value,
        b"failure"
    );
    assert!(txn(store, both("1")).await.succeeded);
    assert_eq!(
        get(store, "branch").await.expect("written").value,
        b"success"
    );
    assert!(txn(store, Txn::default()).await.succeeded);
}

/// `Version` compares the number of writes since creation; an absent key's version is 0.
pub async fn version_compares(h: Harness) {
    let store = h.store();
    put(store, "k", "1").await;
    put(store, "k", "2").await;
    let cases = [
        ("k", Equal, 2, true),
        ("k", Equal, 1, false),
        ("k", NotEqual, 1, true),
        ("k", NotEqual, 2, false),
        ("k", Greater, 1, true),
        ("k", Greater, 2, false),
        ("k", Less, 3, true),
        ("k", Less, 2, false),
        ("missing", Equal, 0, true),
        ("missing", NotEqual, 0, false),
        ("missing", Greater, 0, false),
        ("missing", Less, 1, true),
    ];
    for (key, op, version, expected) in cases {
        let held = holds(store, compare(key, op, Version(version))).await;
        assert_eq!(held, expected, "version of {key} {op:?} {version}");
    }
}

/// `CreateRevision` compares the revision that created the key (0 when absent), which moves
/// when the key is deleted and created again.
pub async fn create_revision_compares(h: Harness) {
    let store = h.store();
    let base = revision(store).await;
    put(store, "k", "1").await;
    put(store, "k", "2").await;
    let created = base + 1;
    let cases = [
        ("k", Equal, created, true),
        ("k", Equal, base + 2, false),
        ("k", Less, base + 2, true),
        ("k", Greater, base, true),
        ("k", NotEqual, created, false),
        ("missing", Equal, 0, true),
        ("missing", Less, created, true),
    ];
    for (key, op, target, expected) in cases {
        let held = holds(store, compare(key, op, CreateRevision(target))).await;
        assert_eq!(held, expected, "create revision of {key} {op:?} {target}");
    }
    delete(store, "k").await;
    put(store, "k", "3").await;
    assert!(!holds(store, compare("k", Equal, CreateRevision(created))).await);
    assert!(holds(store, compare("k", Equal, CreateRevision(base + 4))).await);
}

/// `ModRevision` is optimistic concurrency: a write conditioned on the revision it read
/// succeeds once, and a second writer holding the same read loses. A deleted or absent key's
/// mod revision is 0.
pub async fn mod_revision_compares_detect_intervening_writes(h: Harness) {
    let store = h.store();
    let read = put(store, "k", "1").await.revision;
    let update = |value: &str| Txn {
        compares: vec![Compare::unchanged_since("k", read)],
        success: vec![Op::put("k", value)],
        failure: vec![],
    };
    let won = txn(store, update("2")).await;
    assert!(won.succeeded);
    assert!(!txn(store, update("3")).await.succeeded);
    assert_eq!(get(store, "k").await.expect("k was written").value, b"2");
    assert!(holds(store, compare("k", Greater, ModRevision(read))).await);
    assert!(!holds(store, compare("k", Less, ModRevision(won.revision))).await);
    assert!(holds(store, Compare::unchanged_since("missing", 0)).await);
    delete(store, "k").await;
    assert!(holds(store, Compare::unchanged_since("k", 0)).await);
}

/// `Value` compares bytes lexicographically, unsigned (`0xff` sorts after ASCII), a proper
/// prefix sorting first.
pub async fn value_compares_order_bytes(h: Harness) {
    let store = h.store();
    put(store, "k", "b").await;
    put(store, "high", &b"\xff"[..]).await;
    let cases: [(&str, CompareOp, &[u8], bool); 10] = [
        ("k", Equal, b"b", true),
        ("k", NotEqual, b"a", true),
        ("k", NotEqual, b"b", false),
        ("k", Greater, b"a", true),
        ("k", Greater, b"abc", true),
        ("k", Greater, b"b", false),
        ("k", Less, b"ba", true),
        ("k", Less, b"c", true),
        ("k", Less, b"b", false),
        ("high", Greater, b"z", true),
    ];
    for (key, op, value, expected) in cases {
        let held = holds(store, compare(key, op, Value(value.to_vec()))).await;
        assert_eq!(
            held,
            expected,
            "value of {key} {op:?} {}",
            value.escape_ascii()
        );
    }
}

/// An absent key has no value, so it is not equal to anything — not even `""` — and neither
/// greater nor less than anything: only `NotEqual` holds, as `CompareTarget::Value` documents.
/// (etcd itself fails every value compare on an absent key, `NotEqual` included; an etcd
/// backend has to bridge that.)
pub async fn value_compares_on_an_absent_key_hold_only_for_not_equal(h: Harness) {
    let store = h.store();
    put(store, "deleted", "v").await;
    delete(store, "deleted").await;
    for key in ["missing", "deleted"] {
        let cases: [(CompareOp, &[u8], bool); 5] = [
            (Equal, b"", false),
            (Equal, b"v", false),
            (Greater, b"", false),
            (Less, b"zzz", false),
            (NotEqual, b"v", true),
        ];
        for (op, value, expected) in cases {
            let held = holds(store, compare(key, op, Value(value.to_vec()))).await;
            assert_eq!(
                held,
                expected,
                "value of {key} {op:?} {}",
                value.escape_ascii()
            );
        }
    }
}

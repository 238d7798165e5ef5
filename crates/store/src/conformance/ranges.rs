//! Cases for range reads: a single key, a prefix (including prefixes ending in `0xff` bytes),
//! a half-open interval and "to the end", key order, `limit` with `more`, paging with
//! `KeyRange::prefix_after`, and the revision a read reports.

use super::{Harness, names, put, range, revision};
use crate::KeyRange;

/// `KeyRange::key` reads that key alone — not keys it is a prefix of — or nothing.
pub async fn key_range_reads_exactly_one_key(h: Harness) {
    let store = h.store();
    for key in ["j", "k", "k/child", "k2"] {
        put(store, key, "v").await;
    }
    let one = range(store, KeyRange::key("k"), None).await;
    assert_eq!(names(&one), ["k"]);
    assert!(!one.more);
    let none = range(store, KeyRange::key("missing"), None).await;
    assert!(none.kvs.is_empty() && !none.more, "{none:?}");
}

/// A prefix reads exactly the keys that start with it, in byte order of the keys, whatever
/// the order they were written in.
pub async fn prefix_range_reads_the_prefix_in_key_order(h: Harness) {
    let store = h.store();
    for key in ["p/b", "p/a", "q/a", "p/c/d", "p", "p0", "o", "p/"] {
        put(store, key, "v").await;
    }
    let result = range(store, KeyRange::prefix("p/"), None).await;
    assert_eq!(names(&result), ["p/", "p/a", "p/b", "p/c/d"]);
    assert!(!result.more);
}

/// A prefix's end carries over trailing `0xff` bytes (`a\xff` ends before `b`), and a prefix
/// of nothing but `0xff` bytes reaches to the end of the key space.
pub async fn prefix_range_carries_over_ff_bytes(h: Harness) {
    let store = h.store();
    let keys: [&[u8]; 7] = [
        b"a\xfe",
        b"a\xff",
        b"a\xff\x00",
        b"a\xff\xff",
        b"b",
        b"\xff",
        b"\xff\xff\x01",
    ];
    for key in keys {
        put(store, key, "v").await;
    }
    let result = range(store, KeyRange::prefix(&b"a\xff"[..]), None).await;
    assert_eq!(names(&result), [r"a\xff", r"a\xff\x00", r"a\xff\xff"]);
    let result = range(store, KeyRange::prefix(&b"\xff"[..]), None).await;
    assert_eq!(names(&result), [r"\xff", r"\xff\xff\x01"]);
}

/// An explicit range is `[start, end)`; an empty `end` means "to the end", and the prefix of
/// nothing is every key.
pub async fn explicit_range_is_half_open(h: Harness) {
    let store = h.store();
    for key in ["a", "b", "c", "d", "e"] {
        put(store, key, "v").await;
    }
    let between = KeyRange {
        start: b"b".to_vec(),
        end: Some(b"d".to_vec()),
    };
    assert_eq!(names(&range(store, between, None).await), ["b", "c"]);
    let to_the_end = KeyRange {
        start: b"c".to_vec(),
        end: Some(Vec::new()),
    };
    assert_eq!(
        names(&range(store, to_the_end, None).await),
        ["c", "d", "e"]
    );
    assert_eq!(
        names(&range(store, KeyRange::prefix(""), None).await),
        ["a", "b", "c", "d", "e"]
    );
}

/// `limit` returns the first keys in order and `more` says whether it cut anything off:
/// a limit equal to the number of keys cuts nothing.
pub async fn limit_cuts_the_result_and_sets_more(h: Harness) {
    let store = h.store();
    for key in ["l/3", "l/1", "l/2", "m"] {
        put(store, key, "v").await;
    }
    let prefix = || KeyRange::prefix("l/");
    let cases: [(Option<usize>, &[&str], bool); 5] = [
        (Some(1), &["l/1"], true),
        (Some(2), &["l/1", "l/2"], true),
        (Some(3), &["l/1", "l/2", "l/3"], false),
        (Some(10), &["l/1", "l/2", "l/3"], false),
        (None, &["l/1", "l/2", "l/3"], false),
    ];
    for (limit, keys, more) in cases {
        let result = range(store, prefix(), limit).await;
        assert_eq!(names(&result), keys, "limit {limit:?}");
        assert_eq!(result.more, more, "limit {limit:?}");
    }
}

/// `Some(0)` means at most zero keys, as the trait says — not "no limit", which is what a
/// limit of 0 means on etcd's wire, so an etcd backend must not pass it through.
pub async fn limit_zero_reads_no_keys(h: Harness) {
    let store = h.store();
    put(store, "z/1", "v").await;
    let cut = range(store, KeyRange::prefix("z/"), Some(0)).await;
    assert!(cut.kvs.is_empty() && cut.more, "{cut:?}");
    let empty = range(store, KeyRange::prefix("y/"), Some(0)).await;
    assert!(empty.kvs.is_empty() && !empty.more, "{empty:?}");
}

/// Paging with `prefix_after` from the last key of each page visits every key of the prefix
/// once, in order, and stops when `more` is false.
pub async fn prefix_after_pages_through_a_prefix(h: Harness) {
    let store = h.store();
    for key in [
        "page/05", "page/01", "page/03", "page/02", "page/04", "page0", "pag",
    ] {
        put(store, key, "v").await;
    }
    let mut pages = Vec::new();
    let mut next = KeyRange::prefix("page/");
    loop {
        let page = range(store, next, Some(2)).await;
        pages.push(names(&page));
        if !page.more {
            break;
        }
        let last = page.kvs.last().expect("a page with more has keys");
        next = KeyRange::prefix_after("page/", &last.key);
    }
    assert_eq!(
        pages,
        [
            vec!["page/01", "page/02"],
            vec!["page/03", "page/04"],
            vec!["page/05"]
        ]
    );
    // A key before the prefix does not widen it.
    let all = range(store, KeyRange::prefix_after("page/", b"a"), None).await;
    assert_eq!(names(&all).len(), 5);
}

/// A read reports the store's revision, not the revisions of the keys it returned, and does
/// so for an empty result too: it is where a watch resumes from.
pub async fn range_reports_the_store_revision(h: Harness) {
    let store = h.store();
    let base = revision(store).await;
    put(store, "x", "v").await;
    put(store, "y", "v").await;
    for read in [
        KeyRange::key("x"),
        KeyRange::key("missing"),
        KeyRange::prefix(""),
    ] {
        assert_eq!(range(store, read, Some(1)).await.revision, base + 2);
    }
}

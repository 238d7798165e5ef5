//! The controller runtime that ECS services, their deployments, autoscaling and scheduled
//! tasks are built on, modelled on kube-runtime's `Controller`.
//!
//! A controller watches the objects under one key prefix and calls `reconcile(key, object)`
//! for each: make the world match this object (or clean up after it, when it is `None`), then
//! say when to look again ([`Action`]). It is level-triggered: a reconcile is told only the
//! key and the object as it is now, never which change woke it, so changes that arrive
//! together are handled once, and a missed wake-up is healed by the next one. What it owns:
//!
//! - Resync: at start-up it lists the prefix and reconciles every object, then watches from
//!   the listing's revision + 1. When the store's history no longer reaches back that far
//!   (`StoreError::Compacted`), it lists again, and also reconciles, with `None`, the objects
//!   that vanished meanwhile.
//! - One reconcile per object at a time: an object changed while its reconcile runs is
//!   reconciled once more after it (however many changes came), with its newest state.
//!   Different objects are reconciled concurrently.
//! - Retries: a failed reconcile is reported (tracing) and retried after a delay that doubles
//!   with each failure in a row, up to a cap; a change to the object retries it at once.
//!
//! Dropping the future of [`Controller::run`] stops the controller and aborts reconciles in
//! flight; each must therefore be safe to stop at any await (as a compare-and-swap is).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use berth_store::{Event, KeyRange, KeyValue, Store, StoreError, Watcher};
use tokio::task::{Id, JoinError, JoinSet};
use tokio::time::Instant;

/// What a reconcile asks for next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing until the object changes.
    Done,
    /// Reconcile again after this long, changed or not (to poll what the store does not show,
    /// or to act on a schedule).
    Requeue(Duration),
}

/// The first delay after a failed reconcile, doubled with each further failure in a row...
const INITIAL_BACKOFF: Duration = Duration::from_millis(200);
/// ...up to this.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Watches the objects under a key prefix and reconciles each; see the module docs.
pub struct Controller<F> {
    store: Arc<dyn Store>,
    prefix: Vec<u8>,
    reconcile: Arc<F>,
    backoff: Backoff,
}

impl<F, Fut, E> Controller<F>
where
    F: Fn(String, Option<KeyValue>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Action, E>> + Send + 'static,
    E: std::error::Error + Send + 'static,
{
    /// A controller of the objects under `prefix`, reconciling each with `reconcile`, which is
    /// given the object's key and its key-value (`None` once it is deleted).
    pub fn new(store: Arc<dyn Store>, prefix: impl Into<Vec<u8>>, reconcile: F) -> Self {
        Self {
            store,
            prefix: prefix.into(),
            reconcile: Arc::new(reconcile),
            backoff: Backoff {
                initial: INITIAL_BACKOFF,
                max: MAX_BACKOFF,
            },
        }
    }

    /// Retries a failing reconcile after `initial`, doubling up to `max`.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff = Backoff { initial, max };
        self
    }

    /// Runs until the store shuts down (or the future is dropped).
    pub async fn run(self) {
        let mut state = State::default();
        let Some(mut watcher) = self.resync(&mut state).await else {
            return;
        };
        loop {
            self.start_due(&mut state);
            let next_due = state.queue.next_due();
            tokio::select! {
                event = watcher.next() => match event {
                    Some(event) => state.observe(event),
                    // The watch ends only when the store shuts down.
                    None => return,
                },
                Some(joined) = state.running.join_next_with_id() => self.finish(&mut state, joined),
                () = sleep_until(next_due), if next_due.is_some() => {}
            }
        }
    }

    /// Lists the prefix into the cache, queues every object (and every one that vanished since
    /// the last listing), and watches from the listing on; `None` once the store has shut down.
    /// A store that fails is tried again after the backoff.
    async fn resync(&self, state: &mut State<E>) -> Option<Watcher> {
        let range = KeyRange::prefix(self.prefix.clone());
        let mut failures: u32 = 0;
        loop {
            let listed = match self.store.range(range.clone(), None).await {
                Ok(listed) => listed,
                Err(StoreError::Closed) => return None,
                Err(error) => {
                    let delay = self.backoff.delay(failures);
                    failures = failures.saturating_add(1);
                    tracing::warn!(prefix = %lossy(&self.prefix), error = %chain(&error), retry_in = ?delay, "controller cannot list its objects");
                    tokio::time::sleep(delay).await;
                    continue;
                }
            };
            let fresh: BTreeMap<Vec<u8>, KeyValue> = listed
                .kvs
                .into_iter()
                .map(|kv| (kv.key.clone(), kv))
                .collect();
            let now = Instant::now();
            for key in state.cache.keys().chain(fresh.keys()) {
                state.queue.schedule(key, now);
            }
            state.cache = fresh;
            match self.store.watch(range.clone(), listed.revision + 1) {
                Ok(watcher) => return Some(watcher),
                Err(StoreError::Compacted { .. }) => {
                    // Writes went past the history between the listing and the watch.
                    tracing::debug!(prefix = %lossy(&self.prefix), "store history compacted; listing again");
                }
                Err(StoreError::Closed) => return None,
                Err(error) => {
                    let delay = self.backoff.delay(failures);
                    failures = failures.saturating_add(1);
                    tracing::warn!(prefix = %lossy(&self.prefix), error = %chain(&error), retry_in = ?delay, "controller cannot watch its objects");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// Starts a reconcile of each object that is due and not being reconciled; one that is
    /// gets another once its reconcile is over.
    fn start_due(&self, state: &mut State<E>) {
        for key in state.queue.pop_due(Instant::now()) {
            if state.busy.contains(&key) {
                state.again.insert(key);
                continue;
            }
            let object = state.cache.get(&key).cloned();
            let reconcile = self.reconcile.clone();
            let name = lossy(&key);
            let handle = state
                .running
                .spawn(async move { reconcile(name, object).await });
            state.busy.insert(key.clone());
            state.in_flight.insert(handle.id(), key);
        }
    }

    /// Queues an object again as its reconcile's outcome asks.
    fn finish(&self, state: &mut State<E>, joined: Result<(Id, Result<Action, E>), JoinError>) {
        let (id, outcome) = match joined {
            Ok((id, outcome)) => (id, Ok(outcome)),
            Err(error) => (error.id(), Err(error)),
        };
        let Some(key) = state.in_flight.remove(&id) else {
            return;
        };
        state.busy.remove(&key);
        let now = Instant::now();
        let mut next = match outcome {
            Ok(Ok(action)) => {
                state.failures.remove(&key);
                match action {
                    Action::Done => None,
                    Action::Requeue(after) => Some(now + after),
                }
            }
            Ok(Err(error)) => Some(now + self.failed(state, &key, &chain(&error))),
            // A panic (reported by the runtime) counts as a failure.
            Err(error) => Some(now + self.failed(state, &key, &chain(&error))),
        };
        if state.again.remove(&key) {
            next = Some(now);
        }
        if let Some(at) = next {
            state.queue.schedule(&key, at);
        }
    }

    /// Counts a failure of `key`'s reconcile, reports it, and says how long to wait.
    fn failed(&self, state: &mut State<E>, key: &[u8], error: &str) -> Duration {
        let failures = state.failures.entry(key.to_vec()).or_insert(0);
        let delay = self.backoff.delay(*failures);
        *failures = failures.saturating_add(1);
        tracing::warn!(key = %lossy(key), error, retry_in = ?delay, "reconcile failed");
        delay
    }
}

/// What a running controller knows.
struct State<E> {
    /// Every object under the prefix, as last seen.
    cache: BTreeMap<Vec<u8>, KeyValue>,
    /// When each object is next to be reconciled.
    queue: Queue,
    /// Reconciles running, and which object each is of.
    running: JoinSet<Result<Action, E>>,
    in_flight: HashMap<Id, Vec<u8>>,
    /// The objects being reconciled (`in_flight`'s values).
    busy: HashSet<Vec<u8>>,
    /// Objects that came due while being reconciled: once more right after.
    again: HashSet<Vec<u8>>,
    /// Failed reconciles in a row, per object.
    failures: HashMap<Vec<u8>, u32>,
}

impl<E: 'static> Default for State<E> {
    fn default() -> Self {
        Self {
            cache: BTreeMap::new(),
            queue: Queue::default(),
            running: JoinSet::new(),
            in_flight: HashMap::new(),
            busy: HashSet::new(),
            again: HashSet::new(),
            failures: HashMap::new(),
        }
    }
}

impl<E> State<E> {
    /// A change: the cache follows it and the object is due now.
    fn observe(&mut self, event: Event) {
        let key = event.kv().key.clone();
        match event {
            Event::Put(kv) => {
                self.cache.insert(key.clone(), kv);
            }
            Event::Delete(_) => {
                self.cache.remove(&key);
            }
        }
        self.queue.schedule(&key, Instant::now());
    }
}

/// Objects to reconcile and when, each at most once: the earliest time asked for wins.
#[derive(Default)]
struct Queue {
    by_time: BTreeSet<(Instant, Vec<u8>)>,
    by_key: HashMap<Vec<u8>, Instant>,
}

impl Queue {
    fn schedule(&mut self, key: &[u8], at: Instant) {
        if let Some(&queued) = self.by_key.get(key) {
            if queued <= at {
                return;
            }
            self.by_time.remove(&(queued, key.to_vec()));
        }
        self.by_key.insert(key.to_vec(), at);
        self.by_time.insert((at, key.to_vec()));
    }

    fn next_due(&self) -> Option<Instant> {
        self.by_time.first().map(|(at, _)| *at)
    }

    /// The objects due by `now`, taken off the queue.
    fn pop_due(&mut self, now: Instant) -> Vec<Vec<u8>> {
        let mut due = Vec::new();
        while let Some((at, _)) = self.by_time.first()
            && *at <= now
        {
            if let Some((_, key)) = self.by_time.pop_first() {
                self.by_key.remove(&key);
                due.push(key);
            }
        }
        due
    }
}

/// Delays between retries of a failing reconcile.
#[derive(Debug, Clone, Copy)]
struct Backoff {
    initial: Duration,
    max: Duration,
}

impl Backoff {
    /// The delay after `failures` earlier failures in a row (0 for the first failure).
    fn delay(&self, failures: u32) -> Duration {
        let factor = 2u32.saturating_pow(failures.min(31));
        self.initial.saturating_mul(factor).min(self.max)
    }
}

/// Sleeps until `at`; never wakes without one (the `select!` branch is then disabled).
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn lossy(key: &[u8]) -> String {
    String::from_utf8_lossy(key).into_owned()
}

/// An error and its sources, `outer: inner: ...`, as one line.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use berth_store::{BoxFuture, EmbeddedStore, Op, RangeResult, Revision, Txn, TxnResult};
    use tokio::sync::{Semaphore, mpsc};

    use super::*;
    use crate::testing;

    /// What a reconcile was given: the key and the object's value.
    type Call = (String, Option<String>);

    #[derive(Debug, thiserror::Error)]
    #[error("the reconcile failed on purpose")]
    struct Failed;

    const PATIENCE: Duration = Duration::from_secs(10);

    async fn put(store: &dyn Store, key: &str, value: &str) {
        store
            .txn(Txn {
                success: vec![Op::put(key, value)],
                ..Txn::default()
            })
            .await
            .unwrap();
    }

    async fn delete(store: &dyn Store, key: &str) {
        store
            .txn(Txn {
                success: vec![Op::Delete {
                    key: key.as_bytes().to_vec(),
                }],
                ..Txn::default()
            })
            .await
            .unwrap();
    }

    fn call(key: String, object: Option<KeyValue>) -> Call {
        (
            key,
            object.map(|kv| String::from_utf8_lossy(&kv.value).into_owned()),
        )
    }

    fn called(key: &str, value: Option<&str>) -> Call {
        (key.to_owned(), value.map(str::to_owned))
    }

    /// The next call, failing the test if none comes.
    async fn next(calls: &mut mpsc::UnboundedReceiver<Call>) -> Call {
        tokio::time::timeout(PATIENCE, calls.recv())
            .await
            .expect("a reconcile in time")
            .expect("the controller running")
    }

    /// No call for a while.
    async fn quiet(calls: &mut mpsc::UnboundedReceiver<Call>) {
        let more = tokio::time::timeout(Duration::from_millis(300), calls.recv()).await;
        assert!(more.is_err(), "an unexpected reconcile: {more:?}");
    }

    /// A controller of `/svc/` that reports every call and is done with every object.
    fn reporting(
        store: Arc<dyn Store>,
    ) -> (tokio::task::JoinHandle<()>, mpsc::UnboundedReceiver<Call>) {
        let (sender, calls) = mpsc::unbounded_channel();
        let controller = Controller::new(store, "/svc/", move |key, object| {
            let sender = sender.clone();
            async move {
                let _ = sender.send(call(key, object));
                Ok::<_, Failed>(Action::Done)
            }
        });
        (tokio::spawn(controller.run()), calls)
    }

    #[tokio::test]
    async fn every_object_is_reconciled_at_start_up() {
        let (_dir, store) = testing::store();
        put(&*store, "/svc/a", "1").await;
        put(&*store, "/svc/b", "2").await;
        put(&*store, "/other/x", "3").await;
        let (running, mut calls) = reporting(store);
        let mut seen = vec![next(&mut calls).await, next(&mut calls).await];
        seen.sort();
        assert_eq!(
            seen,
            [called("/svc/a", Some("1")), called("/svc/b", Some("2"))]
        );
        quiet(&mut calls).await;
        running.abort();
    }

    #[tokio::test]
    async fn writes_and_deletes_are_reconciled() {
        let (_dir, store) = testing::store();
        let (running, mut calls) = reporting(store.clone());
        put(&*store, "/svc/a", "1").await;
        assert_eq!(next(&mut calls).await, called("/svc/a", Some("1")));
        put(&*store, "/other/x", "1").await;
        put(&*store, "/svc/a", "2").await;
        assert_eq!(next(&mut calls).await, called("/svc/a", Some("2")));
        delete(&*store, "/svc/a").await;
        assert_eq!(next(&mut calls).await, called("/svc/a", None));
        quiet(&mut calls).await;
        running.abort();
    }

    #[tokio::test]
    async fn a_requeue_reconciles_again_unchanged() {
        let (_dir, store) = testing::store();
        put(&*store, "/svc/a", "1").await;
        let (sender, mut calls) = mpsc::unbounded_channel();
        let count = Arc::new(AtomicUsize::new(0));
        let controller = Controller::new(store, "/svc/", move |key, object| {
            let (sender, count) = (sender.clone(), count.clone());
            async move {
                let _ = sender.send(call(key, object));
                // Three times "later", then done.
                Ok::<_, Failed>(if count.fetch_add(1, Ordering::SeqCst) < 3 {
                    Action::Requeue(Duration::from_millis(20))
                } else {
                    Action::Done
                })
            }
        });
        let running = tokio::spawn(controller.run());
        for _ in 0..4 {
            assert_eq!(next(&mut calls).await, called("/svc/a", Some("1")));
        }
        quiet(&mut calls).await;
        running.abort();
    }

    #[tokio::test]
    async fn one_reconcile_per_object_at_a_time_and_once_more_after_changes() {
        let (_dir, store) = testing::store();
        let (sender, mut calls) = mpsc::unbounded_channel();
        let release = Arc::new(Semaphore::new(0));
        let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let controller = Controller::new(store.clone(), "/svc/", {
            let (release, now, most) = (release.clone(), now.clone(), most.clone());
            move |key: String, object| {
                let (sender, release) = (sender.clone(), release.clone());
                let (now, most) = (now.clone(), most.clone());
                async move {
                    let is_a = key == "/svc/a";
                    let running = if is_a {
                        now.fetch_add(1, Ordering::SeqCst) + 1
                    } else {
                        0
                    };
                    most.fetch_max(running, Ordering::SeqCst);
                    let first = object.as_ref().is_some_and(|kv| kv.value == b"v1");
                    let _ = sender.send(call(key, object));
                    if first {
                        // Held until the test lets it go.
                        let _ = release.acquire().await;
                    }
                    if is_a {
                        now.fetch_sub(1, Ordering::SeqCst);
                    }
                    Ok::<_, Failed>(Action::Done)
                }
            }
        });
        let running = tokio::spawn(controller.run());
        put(&*store, "/svc/a", "v1").await;
        assert_eq!(next(&mut calls).await, called("/svc/a", Some("v1")));
        for value in ["v2", "v3", "v4", "v5"] {
            put(&*store, "/svc/a", value).await;
        }
        // Another object is not held up by the one in flight.
        put(&*store, "/svc/b", "x").await;
        assert_eq!(next(&mut calls).await, called("/svc/b", Some("x")));
        // (The controller has seen every change to a by now: they came before b's.)
        quiet(&mut calls).await;
        release.add_permits(1);
        assert_eq!(next(&mut calls).await, called("/svc/a", Some("v5")));
        quiet(&mut calls).await;
        assert_eq!(most.load(Ordering::SeqCst), 1);
        running.abort();
    }

    #[tokio::test]
    async fn failures_are_retried_later_and_later() {
        let (_dir, store) = testing::store();
        put(&*store, "/svc/a", "1").await;
        let (sender, mut calls) = mpsc::unbounded_channel();
        let count = Arc::new(AtomicUsize::new(0));
        let controller = Controller::new(store, "/svc/", move |key, object| {
            let (sender, count) = (sender.clone(), count.clone());
            async move {
                let _ = sender.send(call(key, object));
                if count.fetch_add(1, Ordering::SeqCst) < 4 {
                    Err(Failed)
                } else {
                    Ok(Action::Done)
                }
            }
        })
        .backoff(Duration::from_millis(40), Duration::from_millis(120));
        let running = tokio::spawn(controller.run());
        let mut at = Vec::new();
        for _ in 0..5 {
            next(&mut calls).await;
            at.push(Instant::now());
        }
        let gaps: Vec<Duration> = at.windows(2).map(|w| w[1] - w[0]).collect();
        // 40, 80, then 120 (capped) twice; sleeps never end early.
        for (gap, least) in gaps.iter().zip([40, 80, 120, 120]) {
            assert!(*gap >= Duration::from_millis(least), "{gaps:?}");
        }
        // Succeeded: no more retries.
        quiet(&mut calls).await;
        running.abort();
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let backoff = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        let delays: Vec<u128> = (0..6).map(|n| backoff.delay(n).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(backoff.delay(u32::MAX), Duration::from_secs(1));
    }

    /// A store whose history is compacted past the first listing: its first watch fails, and
    /// an object is deleted before the second listing.
    struct CompactedOnce {
        inner: Arc<EmbeddedStore>,
        ranges: AtomicUsize,
        watches: AtomicUsize,
        deleted_meanwhile: String,
    }

    impl Store for CompactedOnce {
        fn range(
            &self,
            range: KeyRange,
            limit: Option<usize>,
        ) -> BoxFuture<'_, Result<RangeResult, StoreError>> {
            Box::pin(async move {
                if self.ranges.fetch_add(1, Ordering::SeqCst) == 1 {
                    delete(&*self.inner, &self.deleted_meanwhile).await;
                }
                self.inner.range(range, limit).await
            })
        }

        fn txn(&self, txn: Txn) -> BoxFuture<'_, Result<TxnResult, StoreError>> {
            self.inner.txn(txn)
        }

        fn watch(&self, range: KeyRange, from: Revision) -> Result<Watcher, StoreError> {
            if self.watches.fetch_add(1, Ordering::SeqCst) == 0 {
                return Err(StoreError::Compacted {
                    requested: from,
                    oldest: from + 1,
                });
            }
            self.inner.watch(range, from)
        }
    }

    #[tokio::test]
    async fn a_compacted_history_is_listed_again() {
        let (_dir, inner) = testing::store();
        put(&*inner, "/svc/kept", "1").await;
        put(&*inner, "/svc/gone", "1").await;
        let store = Arc::new(CompactedOnce {
            inner: inner.clone(),
            ranges: AtomicUsize::new(0),
            watches: AtomicUsize::new(0),
            deleted_meanwhile: "/svc/gone".into(),
        });
        let (running, mut calls) = reporting(store.clone());
        let mut seen = vec![next(&mut calls).await, next(&mut calls).await];
        seen.sort();
        assert_eq!(
            seen,
            [called("/svc/gone", None), called("/svc/kept", Some("1"))]
        );
        // Watching after all.
        put(&*inner, "/svc/new", "1").await;
        assert_eq!(next(&mut calls).await, called("/svc/new", Some("1")));
        assert_eq!(store.watches.load(Ordering::SeqCst), 2);
        running.abort();
    }

    /// A controller keeping `/pods/NAME/...` at the count `/svc/NAME` asks for, one pod
    /// per step; `gate` (if given) lets each step go only when the test says so.
    fn replicas(
        store: Arc<dyn Store>,
        gate: Option<Arc<Semaphore>>,
        generation: &'static str,
    ) -> tokio::task::JoinHandle<()> {
        let made = Arc::new(AtomicUsize::new(0));
        let writes = store.clone();
        let controller = Controller::new(store, "/svc/", move |key, object| {
            let (store, gate, made) = (writes.clone(), gate.clone(), made.clone());
            async move {
                let name = key.trim_start_matches("/svc/").to_owned();
                let want: usize = object
                    .map(|kv| String::from_utf8_lossy(&kv.value).parse().unwrap_or(0))
                    .unwrap_or(0);
                let pods = format!("/pods/{name}/");
                loop {
                    // Level-triggered: what exists decides, never what this process did.
                    let have = store
                        .range(KeyRange::prefix(pods.clone()), None)
                        .await
                        .unwrap()
                        .kvs;
                    if have.len() == want {
                        return Ok::<_, Failed>(Action::Done);
                    }
                    if let Some(gate) = &gate {
                        gate.acquire().await.unwrap().forget();
                    }
                    if have.len() < want {
                        let n = made.fetch_add(1, Ordering::SeqCst);
                        put(&*store, &format!("{pods}{generation}-{n}"), "pod").await;
                    } else {
                        let extra = String::from_utf8_lossy(&have[0].key).into_owned();
                        delete(&*store, &extra).await;
                    }
                }
            }
        });
        tokio::spawn(controller.run())
    }

    /// `berth up` killed in the middle of a reconcile (its task aborted after two of five
    /// pods): the next one, knowing nothing of it, converges to exactly the count asked for —
    /// no pod made twice, none left over — and keeps it when the count changes.
    #[tokio::test]
    async fn a_controller_killed_mid_work_converges_when_it_starts_again() {
        let (_dir, store) = testing::store();
        put(&*store, "/svc/web", "5").await;
        let pods = |store: Arc<EmbeddedStore>| async move {
            store
                .range(KeyRange::prefix("/pods/web/"), None)
                .await
                .unwrap()
                .kvs
                .len()
        };
        let gate = Arc::new(Semaphore::new(2));
        let first = replicas(store.clone(), Some(gate.clone()), "first");
        let deadline = Instant::now() + PATIENCE;
        while pods(store.clone()).await < 2 {
            assert!(
                Instant::now() < deadline,
                "the first controller made no pods"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        first.abort();
        let _ = first.await;
        assert_eq!(pods(store.clone()).await, 2);

        let second = replicas(store.clone(), None, "second");
        let converged = |want: usize| {
            let store = store.clone();
            async move {
                let deadline = Instant::now() + PATIENCE;
                while pods(store.clone()).await != want {
                    assert!(Instant::now() < deadline, "never reached {want} pods");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                // And stays there.
                tokio::time::sleep(Duration::from_millis(200)).await;
                assert_eq!(pods(store.clone()).await, want);
            }
        };
        converged(5).await;
        put(&*store, "/svc/web", "3").await;
        converged(3).await;
        second.abort();
    }
}

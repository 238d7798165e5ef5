//! The embedded backend: all keys in memory for reads, every write made durable in a redb
//! database before it is acknowledged.
//!
//! One writer thread owns the database. It takes whatever transactions are queued, evaluates
//! them one after another against the latest state, writes all their changes in one redb
//! transaction and fsyncs once (group commit), then publishes the changes to readers and
//! watchers and answers each caller. Readers never touch the disk: they read the in-memory
//! map under a read lock, which is what etcd does with its in-memory index over bbolt.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::path::Path;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard, mpsc};
use std::thread::JoinHandle;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::{mpsc as tokio_mpsc, oneshot};

use crate::codec;
use crate::types::*;
use crate::{BoxFuture, Store};

const KV: TableDefinition<&[u8], &[u8]> = TableDefinition::new("kv");
const META: TableDefinition<&str, i64> = TableDefinition::new("meta");
const REVISION_KEY: &str = "revision";
/// Transactions committed together at most; bounds one batch's latency.
const MAX_BATCH: usize = 512;
/// Events kept for watchers that resume from an older revision.
const HISTORY_EVENTS: usize = 10_000;

/// Why the embedded store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The database file could not be created, opened or read.
    #[error("cannot open the state database {path}")]
    Database {
        /// The database file.
        path: String,
        /// What redb said.
        #[source]
        source: redb::Error,
    },
    /// A record in the database is not one berth wrote.
    #[error("the state database {0} holds a record berth cannot read; restore it from a backup")]
    Corrupt(String),
    /// The writer thread could not be started.
    #[error("cannot start the state store's writer thread")]
    Thread(#[source] std::io::Error),
}

/// The embedded, durable store used by `berth up`.
pub struct EmbeddedStore {
    shared: Arc<Shared>,
    writes: Option<mpsc::Sender<WriteRequest>>,
    writer: Option<JoinHandle<()>>,
}

struct Shared {
    state: RwLock<State>,
}

struct State {
    kvs: BTreeMap<Vec<u8>, KeyValue>,
    revision: Revision,
    history: VecDeque<Event>,
    /// Every revision up to and including this one is no longer in `history`.
    compacted: Revision,
    /// Each watcher's range, the revision it watches from (a watch may start past the
    /// current revision: nothing before it is sent) and its channel.
    watchers: Vec<(KeyRange, Revision, tokio_mpsc::UnboundedSender<Event>)>,
}

struct WriteRequest {
    txn: Txn,
    reply: oneshot::Sender<Result<TxnResult, StoreError>>,
}

impl EmbeddedStore {
    /// Opens (or creates) the database at `path` and loads it.
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        let database_error = |source: redb::Error| OpenError::Database {
            path: path.display().to_string(),
            source,
        };
        let db = Database::create(path).map_err(|e| database_error(e.into()))?;
        let (kvs, revision) = load(&db, path).map_err(|e| match e {
            LoadError::Redb(e) => database_error(e),
            LoadError::Corrupt => OpenError::Corrupt(path.display().to_string()),
        })?;
        let shared = Arc::new(Shared {
            state: RwLock::new(State {
                kvs,
                revision,
                history: VecDeque::new(),
                compacted: revision,
                watchers: Vec::new(),
            }),
        });
        let (writes, queue) = mpsc::channel();
        let writer = std::thread::Builder::new()
            .name("berth-store-writer".into())
            .spawn({
                let shared = shared.clone();
                move || write_loop(&db, &shared, &queue)
            })
            .map_err(OpenError::Thread)?;
        Ok(Self {
            shared,
            writes: Some(writes),
            writer: Some(writer),
        })
    }

    /// The latest revision.
    pub fn revision(&self) -> Revision {
        self.shared.read().revision
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        // Closing the queue ends the writer after it has committed what was queued; joining it
        // closes the database file before anyone can open it again.
        self.writes.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

impl Store for EmbeddedStore {
    fn range(
        &self,
        range: KeyRange,
        limit: Option<usize>,
    ) -> BoxFuture<'_, Result<RangeResult, StoreError>> {
        let state = self.shared.read();
        let limit = limit.unwrap_or(usize::MAX);
        let mut kvs = Vec::new();
        let mut more = false;
        for kv in select(&state.kvs, &range) {
            if kvs.len() == limit {
                more = true;
                break;
            }
            kvs.push(kv.clone());
        }
        let result = RangeResult {
            kvs,
            more,
            revision: state.revision,
        };
        Box::pin(std::future::ready(Ok(result)))
    }

    fn txn(&self, txn: Txn) -> BoxFuture<'_, Result<TxnResult, StoreError>> {
        let (reply, answer) = oneshot::channel();
        let queued = self
            .writes
            .as_ref()
            .is_some_and(|w| w.send(WriteRequest { txn, reply }).is_ok());
        Box::pin(async move {
            if !queued {
                return Err(StoreError::Closed);
            }
            answer.await.unwrap_or(Err(StoreError::Closed))
        })
    }

    fn watch(&self, range: KeyRange, from: Revision) -> Result<Watcher, StoreError> {
        let mut state = self.shared.write();
        if from <= state.compacted {
            return Err(StoreError::Compacted {
                requested: from,
                oldest: state.compacted + 1,
            });
        }
        let (sender, events) = tokio_mpsc::unbounded_channel();
        for event in &state.history {
            if event.kv().mod_revision >= from && range.contains(&event.kv().key) {
                let _ = sender.send(event.clone());
            }
        }
        state.watchers.push((range, from, sender));
        Ok(Watcher { events })
    }
}

impl Shared {
    fn read(&self) -> RwLockReadGuard<'_, State> {
        // A panic while holding the lock cannot leave `State` half-updated: the writer builds
        // each batch aside and swaps it in with infallible map operations.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }
}

fn select<'a>(
    kvs: &'a BTreeMap<Vec<u8>, KeyValue>,
    range: &KeyRange,
) -> Box<dyn Iterator<Item = &'a KeyValue> + 'a> {
    match &range.end {
        None => Box::new(kvs.get(&range.start).into_iter()),
        Some(end) => {
            let upper = if end.is_empty() {
                Bound::Unbounded
            } else {
                Bound::Excluded(end.clone())
            };
            Box::new(
                kvs.range((Bound::Included(range.start.clone()), upper))
                    .map(|(_, kv)| kv),
            )
        }
    }
}

enum LoadError {
    Redb(redb::Error),
    Corrupt,
}

impl<E: Into<redb::Error>> From<E> for LoadError {
    fn from(e: E) -> Self {
        Self::Redb(e.into())
    }
}

fn load(db: &Database, _path: &Path) -> Result<(BTreeMap<Vec<u8>, KeyValue>, Revision), LoadError> {
    // Create the tables on first open so that reads below always find them.
    let init = db.begin_write()?;
    init.open_table(KV)?;
    init.open_table(META)?;
    init.commit()?;

    let read = db.begin_read()?;
    let revision = read
        .open_table(META)?
        .get(REVISION_KEY)?
        .map(|v| v.value())
        .unwrap_or(0);
    let mut kvs = BTreeMap::new();
    for entry in read.open_table(KV)?.iter()? {
        let (key, value) = entry?;
        let kv = codec::decode(key.value(), value.value()).ok_or(LoadError::Corrupt)?;
        kvs.insert(kv.key.clone(), kv);
    }
    Ok((kvs, revision))
}

fn write_loop(db: &Database, shared: &Shared, queue: &mpsc::Receiver<WriteRequest>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        commit_batch(db, shared, batch);
    }
}

/// What a batch changes, built aside from the published state.
struct BatchChanges {
    /// Latest value per touched key; `None` when deleted.
    keys: BTreeMap<Vec<u8>, Option<KeyValue>>,
    events: Vec<Event>,
    revision: Revision,
}

fn commit_batch(db: &Database, shared: &Shared, batch: Vec<WriteRequest>) {
    let mut outcomes = Vec::with_capacity(batch.len());
    let changes = {
        let state = shared.read();
        let mut changes = BatchChanges {
            keys: BTreeMap::new(),
            events: Vec::new(),
            revision: state.revision,
        };
        for request in &batch {
            outcomes.push(evaluate(&state, &mut changes, &request.txn));
        }
        changes
    };

    if !changes.keys.is_empty()
        && let Err(error) = persist(db, &changes)
    {
        tracing::error!(%error, "state store commit failed; the batch's writes are refused");
        let error = StoreError::Backend(Arc::new(error));
        for request in batch {
            let _ = request.reply.send(Err(error.clone()));
        }
        return;
    }

    publish(&mut shared.write(), changes);
    for (request, outcome) in batch.into_iter().zip(outcomes) {
        let _ = request.reply.send(Ok(outcome));
    }
}

fn evaluate(state: &State, changes: &mut BatchChanges, txn: &Txn) -> TxnResult {
    let current = |changes: &BatchChanges, key: &[u8]| -> Option<KeyValue> {
        match changes.keys.get(key) {
            Some(pending) => pending.clone(),
            None => state.kvs.get(key).cloned(),
        }
    };
    let succeeded = txn
        .compares
        .iter()
        .all(|c| holds(c, current(changes, &c.key).as_ref()));
    let ops = if succeeded {
        &txn.success
    } else {
        &txn.failure
    };
    let revision = changes.revision + 1;
    let mut wrote = false;
    for op in ops {
        let existing = current(changes, op.key());
        match op {
            Op::Put { key, value } => {
                let kv = KeyValue {
                    key: key.clone(),
                    value: value.clone(),
                    create_revision: existing.as_ref().map_or(revision, |e| e.create_revision),
                    mod_revision: revision,
                    version: existing.as_ref().map_or(1, |e| e.version + 1),
                };
                changes.events.push(Event::Put(kv.clone()));
                changes.keys.insert(key.clone(), Some(kv));
                wrote = true;
            }
            Op::Delete { key } => {
                if let Some(mut kv) = existing {
                    kv.mod_revision = revision;
                    changes.events.push(Event::Delete(kv));
                    changes.keys.insert(key.clone(), None);
                    wrote = true;
                }
            }
        }
    }
    if wrote {
        changes.revision = revision;
    }
    TxnResult {
        succeeded,
        revision: changes.revision,
    }
}

fn holds(compare: &Compare, kv: Option<&KeyValue>) -> bool {
    use std::cmp::Ordering;
    let ordering = match &compare.target {
        CompareTarget::Version(v) => kv.map_or(0, |kv| kv.version).cmp(v),
        CompareTarget::CreateRevision(r) => kv.map_or(0, |kv| kv.create_revision).cmp(r),
        CompareTarget::ModRevision(r) => kv.map_or(0, |kv| kv.mod_revision).cmp(r),
        CompareTarget::Value(v) => match kv {
            Some(kv) => kv.value.cmp(v),
            // An absent key has no value: only NotEqual holds.
            None => return compare.op == CompareOp::NotEqual,
        },
    };
    match compare.op {
        CompareOp::Equal => ordering == Ordering::Equal,
        CompareOp::NotEqual => ordering != Ordering::Equal,
        CompareOp::Greater => ordering == Ordering::Greater,
        CompareOp::Less => ordering == Ordering::Less,
    }
}

fn persist(db: &Database, changes: &BatchChanges) -> Result<(), redb::Error> {
    let txn = db.begin_write()?;
    {
        let mut kv = txn.open_table(KV)?;
        for (key, value) in &changes.keys {
            match value {
                Some(value) => {
                    kv.insert(key.as_slice(), codec::encode(value).as_slice())?;
                }
                None => {
                    kv.remove(key.as_slice())?;
                }
            }
        }
        txn.open_table(META)?
            .insert(REVISION_KEY, changes.revision)?;
    }
    // redb's default durability fsyncs on commit: once this returns, the batch survives a
    // crash of the process or the machine.
    txn.commit()?;
    Ok(())
}

fn publish(state: &mut State, changes: BatchChanges) {
    for (key, value) in changes.keys {
        match value {
            Some(kv) => {
                state.kvs.insert(key, kv);
            }
            None => {
                state.kvs.remove(&key);
            }
        }
    }
    state.revision = changes.revision;
    state.watchers.retain(|(range, from, sender)| {
        changes
            .events
            .iter()
            .filter(|e| e.kv().mod_revision >= *from && range.contains(&e.kv().key))
            .all(|e| sender.send(e.clone()).is_ok())
    });
    state.history.extend(changes.events);
    while state.history.len() > HISTORY_EVENTS {
        let Some(dropped) = state.history.pop_front() else {
            break;
        };
        // A revision is watchable only while all of its events are kept.
        let revision = dropped.kv().mod_revision;
        state.compacted = state.compacted.max(revision);
        while state
            .history
            .front()
            .is_some_and(|e| e.kv().mod_revision <= revision)
        {
            state.history.pop_front();
        }
    }
}

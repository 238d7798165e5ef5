//! What the crate's tests share: a control plane over an embedded store in a temporary
//! directory, the requests the tests make, and a store that lets a test run one request in
//! the middle of another (between its reads and its transaction).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use berth_model::AccountRegion;
use berth_model::shapes::{AwsVpcConfiguration, NetworkConfiguration, TaskDefinition};
use berth_store::{
    BoxFuture, EmbeddedStore, KeyRange, RangeResult, Revision, Store, StoreError, Txn, TxnResult,
    Watcher,
};

use crate::Ecs;
use crate::clusters::NewCluster;
use crate::network::NetworkConfig;
use crate::tasks::RunTaskInput;

/// A store in a temporary directory (kept as long as the directory is).
pub fn store() -> (tempfile::TempDir, Arc<EmbeddedStore>) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = EmbeddedStore::open(&dir.path().join("state.redb")).expect("an embedded store");
    (dir, Arc::new(store))
}

pub fn scope() -> AccountRegion {
    AccountRegion {
        account_id: "123456789012".into(),
        region: "us-east-1".into(),
    }
}

/// The `default` cluster and task definition `web` (awsvpc, Fargate), made through `ecs`.
pub async fn cluster_and_definition(ecs: &Ecs) {
    ecs.create_cluster(&scope(), NewCluster::default())
        .await
        .expect("the default cluster");
    let definition: TaskDefinition = serde_json::from_value(serde_json::json!({
        "family": "web",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [{"name": "app", "image": "nginx", "essential": true}],
    }))
    .expect("a task definition");
    ecs.register_task_definition(&scope(), definition, vec![])
        .await
        .expect("task definition web");
}

/// RunTask of `web` in `subnet`, in `groups`.
pub fn run_web(subnet: &str, groups: &[&str]) -> RunTaskInput {
    RunTaskInput {
        task_definition: "web".into(),
        network_configuration: Some(NetworkConfiguration {
            awsvpc_configuration: Some(AwsVpcConfiguration {
                subnets: vec![subnet.to_owned()],
                security_groups: Some(groups.iter().map(|g| g.to_string()).collect()),
                assign_public_ip: None,
            }),
        }),
        ..RunTaskInput::default()
    }
}

/// Two control planes on one store: `inner` writes straight to it, `outer` through an
/// [`Interleaving`] store, so a test can make `inner` act in the middle of an `outer` request.
pub struct TwoPlanes {
    pub _dir: tempfile::TempDir,
    pub inner: Arc<Ecs>,
    pub outer: Ecs,
    pub between: Arc<Interleaving>,
}

pub fn two_planes(outer_network: NetworkConfig) -> TwoPlanes {
    let (dir, store) = store();
    let between = Arc::new(Interleaving {
        inner: store.clone(),
        hook: Mutex::new(None),
        txns: AtomicUsize::new(0),
    });
    TwoPlanes {
        _dir: dir,
        inner: Arc::new(Ecs::new(store)),
        outer: Ecs::with_network(between.clone(), outer_network),
        between,
    }
}

type Matches = Box<dyn Fn(&Txn) -> bool + Send>;
type Action = Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send>;

/// A store that, before the first transaction `matches` picks, runs `action` to completion.
pub struct Interleaving {
    inner: Arc<EmbeddedStore>,
    hook: Mutex<Option<(Matches, Action)>>,
    /// Transactions submitted through this store: how a test sees a request retry.
    txns: AtomicUsize,
}

impl Interleaving {
    /// Before the first transaction that `matches`, `action` runs.
    pub fn before(
        &self,
        matches: impl Fn(&Txn) -> bool + Send + 'static,
        action: impl FnOnce() -> BoxFuture<'static, ()> + Send + 'static,
    ) {
        *self.hook.lock().expect("the hook") = Some((Box::new(matches), Box::new(action)));
    }

    /// Whether the action has run.
    pub fn ran(&self) -> bool {
        self.hook.lock().expect("the hook").is_none()
    }

    /// How many transactions went through this store so far.
    pub fn txns(&self) -> usize {
        self.txns.load(Ordering::SeqCst)
    }
}

impl Store for Interleaving {
    fn range(
        &self,
        range: KeyRange,
        limit: Option<usize>,
    ) -> BoxFuture<'_, Result<RangeResult, StoreError>> {
        self.inner.range(range, limit)
    }

    fn txn(&self, txn: Txn) -> BoxFuture<'_, Result<TxnResult, StoreError>> {
        self.txns.fetch_add(1, Ordering::SeqCst);
        let action = {
            let mut hook = self.hook.lock().expect("the hook");
            match hook.as_ref() {
                Some((matches, _)) if matches(&txn) => hook.take().map(|(_, action)| action),
                _ => None,
            }
        };
        Box::pin(async move {
            if let Some(action) = action {
                action().await;
            }
            self.inner.txn(txn).await
        })
    }

    fn watch(&self, range: KeyRange, from: Revision) -> Result<Watcher, StoreError> {
        self.inner.watch(range, from)
    }
}

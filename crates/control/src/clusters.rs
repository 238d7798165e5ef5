//! Clusters: CreateCluster, DescribeClusters, ListClusters, DeleteCluster, UpdateCluster,
//! UpdateClusterSettings and PutClusterCapacityProviders.
//!
//! A deleted cluster stays in the store as INACTIVE, as in ECS: DescribeClusters still shows
//! it, ListClusters does not, and CreateCluster with its name makes a fresh ACTIVE one.

use berth_model::AccountRegion;
use berth_model::names::{self, cluster_name_in};
use berth_model::shapes::{
    CapacityProviderStrategyItem, Cluster, ClusterConfiguration, ClusterServiceConnectDefaults,
    ClusterSetting, ClusterSettingName, Failure, KeyValuePair, Tag,
};
use berth_model::tags::{self, TagError};
use berth_store::{Compare, KeyRange, Op, StoreError, Txn};

use crate::Ecs;
use crate::cas::{Attempt, retry_cas};
use crate::keys;
use crate::paging::{Page, PageError, PageRequest};
use crate::records::{self, ClusterRecord, CorruptRecord};

const ACTIVE: &str = "ACTIVE";
const INACTIVE: &str = "INACTIVE";
/// The capacity providers every berth cluster can use.
pub const CAPACITY_PROVIDERS: [&str; 2] = ["FARGATE", "FARGATE_SPOT"];
const LIST_LIMIT: usize = 100;
const DESCRIBE_LIMIT: usize = 100;

/// Why a cluster operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClusterError {
    /// Name outside the ECS alphabet.
    #[error(
        "Cluster name '{0}' is invalid: up to 255 letters (uppercase and lowercase), numbers, hyphens, and underscores are allowed."
    )]
    InvalidName(String),
    /// No ACTIVE cluster by that name or ARN.
    #[error("Cluster not found.")]
    NotFound(String),
    /// A setting that is not `containerInsights` = enabled|disabled|enhanced.
    #[error("Invalid cluster setting: {0}")]
    InvalidSetting(String),
    /// A capacity provider berth does not have, or a bad strategy.
    #[error("{0}")]
    InvalidCapacityProviders(String),
    /// Bad tags.
    #[error(transparent)]
    Tags(#[from] TagError),
    /// More clusters asked for than one call describes.
    #[error("DescribeClusters takes at most 100 clusters; {0} were given.")]
    TooManyClusters(usize),
    /// Bad paging parameters.
    #[error(transparent)]
    Page(#[from] PageError),
    /// The record kept changing under concurrent updates.
    #[error("The cluster is being updated by other requests; try again.")]
    Contended,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored record is unreadable.
    #[error(transparent)]
    Corrupt(#[from] CorruptRecord),
}

/// The optional parts of DescribeClusters' answer (`include`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ClusterInclude {
    /// ATTACHMENTS
    pub attachments: bool,
    /// CONFIGURATIONS
    pub configurations: bool,
    /// SETTINGS
    pub settings: bool,
    /// STATISTICS
    pub statistics: bool,
    /// TAGS
    pub tags: bool,
}

/// What UpdateCluster and its siblings change; `None` leaves a part as it is.
#[derive(Debug, Clone, Default)]
pub struct ClusterUpdate {
    /// Settings to set (merged by name).
    pub settings: Option<Vec<ClusterSetting>>,
    /// The new configuration.
    pub configuration: Option<ClusterConfiguration>,
    /// The new Service Connect defaults.
    pub service_connect_defaults: Option<ClusterServiceConnectDefaults>,
    /// Capacity providers and default strategy, replaced together.
    pub capacity_providers: Option<(Vec<String>, Vec<CapacityProviderStrategyItem>)>,
}

/// What CreateCluster asks for.
#[derive(Debug, Clone, Default)]
pub struct NewCluster {
    /// Name; `default` when absent.
    pub name: Option<String>,
    /// Tags.
    pub tags: Vec<Tag>,
    /// The rest, applied as an update to a new cluster.
    pub update: ClusterUpdate,
}

impl Ecs {
    /// CreateCluster: a new ACTIVE cluster, or the existing ACTIVE one of that name unchanged.
    pub async fn create_cluster(
        &self,
        scope: &AccountRegion,
        spec: NewCluster,
    ) -> Result<Cluster, ClusterError> {
        let name = spec.name.unwrap_or_else(|| "default".to_owned());
        if !names::is_valid_name(&name) {
            return Err(ClusterError::InvalidName(name));
        }
        tags::validate(&spec.tags)?;
        if spec.tags.len() > tags::MAX_TAGS {
            return Err(TagError::TooMany(spec.tags.len()).into());
        }
        let mut cluster = Cluster {
            cluster_arn: Some(scope.cluster_arn(&name)),
            cluster_name: Some(name.clone()),
            status: Some(ACTIVE.to_owned()),
            registered_container_instances_count: Some(0),
            running_tasks_count: Some(0),
            pending_tasks_count: Some(0),
            active_services_count: Some(0),
            statistics: Some(vec![]),
            tags: Some(spec.tags),
            settings: Some(vec![ClusterSetting {
                name: Some(ClusterSettingName::ContainerInsights),
                value: Some("disabled".to_owned()),
            }]),
            capacity_providers: Some(vec![]),
            default_capacity_provider_strategy: Some(vec![]),
            ..Cluster::default()
        };
        apply_update(&mut cluster, spec.update)?;

        let key = keys::cluster(scope, &name);
        retry_cas(
            || async {
                let existing = self.store.range(KeyRange::key(key.as_str()), None).await?;
                let existing = existing.kvs.into_iter().next();
                let mod_revision = match &existing {
                    Some(kv) => {
                        let current: ClusterRecord = records::decode(kv)?;
                        if current.status.as_deref() == Some(ACTIVE) {
                            return Ok(Attempt::Done(current));
                        }
                        kv.mod_revision
                    }
                    None => 0,
                };
                let txn = Txn {
                    compares: vec![Compare::unchanged_since(key.as_str(), mod_revision)],
                    success: vec![Op::put(key.as_str(), records::encode(&cluster))],
                    failure: vec![],
                };
                if !self.store.txn(txn).await?.succeeded {
                    return Ok(Attempt::Lost);
                }
                tracing::info!(cluster = %name, "cluster created");
                Ok(Attempt::Done(cluster.clone()))
            },
            ClusterError::Contended,
        )
        .await
    }

    /// DescribeClusters: the named clusters (default: `default`), with `failures` for the
    /// ones that do not exist.
    pub async fn describe_clusters(
        &self,
        scope: &AccountRegion,
        references: Vec<String>,
        include: ClusterInclude,
    ) -> Result<(Vec<Cluster>, Vec<Failure>), ClusterError> {
        let references = if references.is_empty() {
            vec!["default".to_owned()]
        } else {
            references
        };
        if references.len() > DESCRIBE_LIMIT {
            return Err(ClusterError::TooManyClusters(references.len()));
        }
        let mut clusters = Vec::new();
        let mut failures = Vec::new();
        for reference in references {
            match self.read_cluster(scope, &reference).await? {
                Some((cluster, _)) => clusters.push(shape_for_describe(cluster, include)),
                None => failures.push(Failure {
                    arn: Some(failure_arn(scope, &reference)),
                    reason: Some("MISSING".to_owned()),
                    detail: None,
                }),
            }
        }
        Ok((clusters, failures))
    }

    /// ListClusters: ARNs of ACTIVE clusters in name order.
    pub async fn list_clusters(
        &self,
        scope: &AccountRegion,
        page: &PageRequest,
    ) -> Result<Page<String>, ClusterError> {
        let all = self
            .store
            .range(KeyRange::prefix(keys::clusters(scope)), None)
            .await?;
        let mut active = Vec::new();
        for kv in &all.kvs {
            let cluster: ClusterRecord = records::decode(kv)?;
            if cluster.status.as_deref() == Some(ACTIVE) {
                active.push((kv.key.clone(), cluster.cluster_arn.unwrap_or_default()));
            }
        }
        let page = page.apply(active, |(key, _)| key, false, LIST_LIMIT)?;
        Ok(Page {
            items: page.items.into_iter().map(|(_, arn)| arn).collect(),
            next_token: page.next_token,
        })
    }

    /// DeleteCluster: marks the cluster INACTIVE and returns it.
    pub async fn delete_cluster(
        &self,
        scope: &AccountRegion,
        reference: &str,
    ) -> Result<Cluster, ClusterError> {
        self.modify_cluster(scope, reference, |cluster| {
            cluster.status = Some(INACTIVE.to_owned());
            Ok(())
        })
        .await
        .inspect(|c| tracing::info!(cluster = ?c.cluster_name, "cluster deleted"))
    }

    /// UpdateCluster, UpdateClusterSettings and PutClusterCapacityProviders.
    pub async fn update_cluster(
        &self,
        scope: &AccountRegion,
        reference: &str,
        update: ClusterUpdate,
    ) -> Result<Cluster, ClusterError> {
        self.modify_cluster(scope, reference, |cluster| {
            apply_update(cluster, update.clone())
        })
        .await
    }

    /// Replaces a cluster's tags (TagResource/UntagResource go through here).
    pub(crate) async fn modify_cluster_tags(
        &self,
        scope: &AccountRegion,
        name: &str,
        change: impl Fn(&[Tag]) -> Result<Vec<Tag>, TagError>,
    ) -> Result<(), ClusterError> {
        self.modify_cluster(scope, name, |cluster| {
            cluster.tags = Some(change(cluster.tags.as_deref().unwrap_or_default())?);
            Ok(())
        })
        .await
        .map(|_| ())
    }

    /// An ACTIVE cluster's record and its mod revision, by name or ARN.
    pub(crate) async fn read_cluster(
        &self,
        scope: &AccountRegion,
        reference: &str,
    ) -> Result<Option<(Cluster, i64)>, ClusterError> {
        let Some(name) = cluster_name_in(scope, reference) else {
            return Ok(None);
        };
        if !names::is_valid_name(&name) {
            return Ok(None);
        }
        let found = self
            .store
            .range(KeyRange::key(keys::cluster(scope, &name)), None)
            .await?;
        let Some(kv) = found.kvs.first() else {
            return Ok(None);
        };
        let cluster: ClusterRecord = records::decode(kv)?;
        Ok((cluster.status.as_deref() == Some(ACTIVE)).then_some((cluster, kv.mod_revision)))
    }

    /// Read, change and compare-and-swap an ACTIVE cluster, retrying on concurrent writes.
    async fn modify_cluster(
        &self,
        scope: &AccountRegion,
        reference: &str,
        change: impl Fn(&mut Cluster) -> Result<(), ClusterError>,
    ) -> Result<Cluster, ClusterError> {
        retry_cas(
            || async {
                let Some((mut cluster, mod_revision)) = self.read_cluster(scope, reference).await?
                else {
                    return Err(ClusterError::NotFound(reference.to_owned()));
                };
                change(&mut cluster)?;
                let key = keys::cluster(scope, cluster.cluster_name.as_deref().unwrap_or_default());
                let txn = Txn {
                    compares: vec![Compare::unchanged_since(key.as_str(), mod_revision)],
                    success: vec![Op::put(key, records::encode(&cluster))],
                    failure: vec![],
                };
                let committed = self.store.txn(txn).await?.succeeded;
                Ok(Attempt::committed(committed, cluster))
            },
            ClusterError::Contended,
        )
        .await
    }
}

fn failure_arn(scope: &AccountRegion, reference: &str) -> String {
    if reference.starts_with("arn:") {
        reference.to_owned()
    } else {
        scope.cluster_arn(reference)
    }
}

fn shape_for_describe(mut cluster: Cluster, include: ClusterInclude) -> Cluster {
    if !include.tags {
        cluster.tags = Some(vec![]);
    }
    if !include.settings {
        cluster.settings = Some(vec![]);
    }
    if !include.configurations {
        cluster.configuration = None;
    }
    if !include.attachments {
        cluster.attachments = None;
    }
    cluster.statistics = Some(if include.statistics {
        statistics()
    } else {
        vec![]
    });
    cluster
}

/// The per-launch-type counts ECS reports under STATISTICS. berth runs no tasks yet, so every
/// count is zero; the task issue fills them in.
fn statistics() -> Vec<KeyValuePair> {
    [
        "runningEC2TasksCount",
        "runningFargateTasksCount",
        "pendingEC2TasksCount",
        "pendingFargateTasksCount",
        "runningExternalTasksCount",
        "pendingExternalTasksCount",
        "activeEC2ServiceCount",
        "activeFargateServiceCount",
        "drainingEC2ServiceCount",
        "drainingFargateServiceCount",
        "activeExternalServiceCount",
        "drainingExternalServiceCount",
    ]
    .into_iter()
    .map(|name| KeyValuePair {
        name: Some(name.to_owned()),
        value: Some("0".to_owned()),
    })
    .collect()
}

fn apply_update(cluster: &mut Cluster, update: ClusterUpdate) -> Result<(), ClusterError> {
    if let Some(settings) = update.settings {
        let merged = cluster.settings.get_or_insert_with(Vec::new);
        for setting in settings {
            check_setting(&setting)?;
            match merged.iter_mut().find(|s| s.name == setting.name) {
                Some(slot) => slot.value = setting.value,
                None => merged.push(setting),
            }
        }
    }
    if let Some(configuration) = update.configuration {
        cluster.configuration = Some(configuration);
    }
    if let Some(defaults) = update.service_connect_defaults {
        cluster.service_connect_defaults = Some(defaults);
    }
    if let Some((providers, strategy)) = update.capacity_providers {
        check_capacity_providers(&providers, &strategy)?;
        cluster.capacity_providers = Some(providers);
        cluster.default_capacity_provider_strategy = Some(strategy);
    }
    Ok(())
}

fn check_setting(setting: &ClusterSetting) -> Result<(), ClusterError> {
    let value = setting.value.as_deref().unwrap_or_default();
    match setting.name {
        Some(ClusterSettingName::ContainerInsights)
            if matches!(value, "enabled" | "disabled" | "enhanced") =>
        {
            Ok(())
        }
        Some(ClusterSettingName::ContainerInsights) => Err(ClusterError::InvalidSetting(format!(
            "containerInsights must be 'enabled', 'disabled' or 'enhanced', not '{value}'."
        ))),
        None => Err(ClusterError::InvalidSetting(
            "every setting needs a name (containerInsights).".to_owned(),
        )),
    }
}

fn check_capacity_providers(
    providers: &[String],
    strategy: &[CapacityProviderStrategyItem],
) -> Result<(), ClusterError> {
    let invalid = |m: String| Err(ClusterError::InvalidCapacityProviders(m));
    for provider in providers {
        if !CAPACITY_PROVIDERS.contains(&provider.as_str()) {
            return invalid(format!(
                "The capacity provider '{provider}' does not exist. berth clusters can use FARGATE and FARGATE_SPOT."
            ));
        }
    }
    let mut with_base = 0;
    for item in strategy {
        if !providers.contains(&item.capacity_provider) {
            return invalid(format!(
                "The capacity provider strategy names '{}', which is not among the cluster's capacity providers.",
                item.capacity_provider
            ));
        }
        if item.weight.is_some_and(|w| !(0..=1000).contains(&w)) {
            return invalid(
                "A capacity provider strategy weight must be between 0 and 1000.".into(),
            );
        }
        match item.base {
            Some(b) if !(0..=100_000).contains(&b) => {
                return invalid(
                    "A capacity provider strategy base must be between 0 and 100000.".into(),
                );
            }
            Some(b) if b > 0 => with_base += 1,
            _ => {}
        }
    }
    if with_base > 1 {
        return invalid("Only one capacity provider in a strategy can have a base defined.".into());
    }
    Ok(())
}

//! The cluster operations: wire shapes in, control-plane calls, wire shapes out.

use berth_control::{ClusterInclude, ClusterUpdate, Ecs, NewCluster, PageRequest};
use berth_model::AccountRegion;
use berth_model::shapes::{
    ClusterField, ClusterServiceConnectDefaults, ClusterServiceConnectDefaultsRequest,
};

use super::wire::*;
use crate::error::ApiError;

fn service_connect(
    request: Option<ClusterServiceConnectDefaultsRequest>,
) -> Option<ClusterServiceConnectDefaults> {
    request.map(|r| ClusterServiceConnectDefaults {
        namespace: Some(r.namespace),
    })
}

pub async fn create(
    ecs: &Ecs,
    scope: &AccountRegion,
    r: CreateClusterRequest,
) -> Result<CreateClusterResponse, ApiError> {
    let capacity_providers = match (r.capacity_providers, r.default_capacity_provider_strategy) {
        (None, None) => None,
        (providers, strategy) => {
            Some((providers.unwrap_or_default(), strategy.unwrap_or_default()))
        }
    };
    let spec = NewCluster {
        name: r.cluster_name,
        tags: r.tags.unwrap_or_default(),
        update: ClusterUpdate {
            settings: r.settings,
            configuration: r.configuration,
            service_connect_defaults: service_connect(r.service_connect_defaults),
            capacity_providers,
        },
    };
    let cluster = ecs.create_cluster(scope, spec).await?;
    Ok(CreateClusterResponse {
        cluster: Some(cluster),
    })
}

pub async fn describe(
    ecs: &Ecs,
    scope: &AccountRegion,
    r: DescribeClustersRequest,
) -> Result<DescribeClustersResponse, ApiError> {
    let mut include = ClusterInclude::default();
    for field in r.include.unwrap_or_default() {
        match field {
            ClusterField::Attachments => include.attachments = true,
            ClusterField::Configurations => include.configurations = true,
            ClusterField::Settings => include.settings = true,
            ClusterField::Statistics => include.statistics = true,
            ClusterField::Tags => include.tags = true,
        }
    }
    let (clusters, failures) = ecs
        .describe_clusters(scope, r.clusters.unwrap_or_default(), include)
        .await?;
    Ok(DescribeClustersResponse {
        clusters: Some(clusters),
        failures: Some(failures),
    })
}

pub async fn list(
    ecs: &Ecs,
    scope: &AccountRegion,
    r: ListClustersRequest,
) -> Result<ListClustersResponse, ApiError> {
    let page = PageRequest::new(r.next_token, r.max_results);
    let page = ecs.list_clusters(scope, &page).await?;
    Ok(ListClustersResponse {
        cluster_arns: Some(page.items),
        next_token: page.next_token,
    })
}

pub async fn delete(
    ecs: &Ecs,
    scope: &AccountRegion,
    r: DeleteClusterRequest,
) -> Result<DeleteClusterResponse, ApiError> {
    let cluster = ecs.delete_cluster(scope, &r.cluster).await?;
    Ok(DeleteClusterResponse {
        cluster: Some(cluster),
    })
}

pub async fn update(
    ecs: &Ecs,
    scope: &AccountRegion,
    r: UpdateClusterRequest,
) -> Result<UpdateClusterResponse, ApiError> {
    let update = ClusterUpdate {
        settings: r.settings,
        configuration: r.configuration,
        service_connect_defaults: service_connect(r.service_connect_defaults),
        capacity_providers: None,
    };
    let cluster = ecs.update_cluster(scope, &r.cluster, update).await?;
    Ok(UpdateClusterResponse {
        cluster: Some(cluster),
    })
}

pub async fn update_settings(
    ecs: &Ecs,
    scope: &AccountRegion,
    r: UpdateClusterSettingsRequest,
) -> Result<UpdateClusterSettingsResponse, ApiError> {
    let update = ClusterUpdate {
        settings: Some(r.settings),
        ..ClusterUpdate::default()
    };
    let cluster = ecs.update_cluster(scope, &r.cluster, update).await?;
    Ok(UpdateClusterSettingsResponse {
        cluster: Some(cluster),
    })
}

pub async fn put_capacity_providers(
    ecs: &Ecs,
    scope: &AccountRegion,
    r: PutClusterCapacityProvidersRequest,
) -> Result<PutClusterCapacityProvidersResponse, ApiError> {
    let update = ClusterUpdate {
        capacity_providers: Some((r.capacity_providers, r.default_capacity_provider_strategy)),
        ..ClusterUpdate::default()
    };
    let cluster = ecs.update_cluster(scope, &r.cluster, update).await?;
    Ok(PutClusterCapacityProvidersResponse {
        cluster: Some(cluster),
    })
}

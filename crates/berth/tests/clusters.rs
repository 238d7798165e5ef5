//! Cluster operations through the AWS SDK for Rust against a real `berth up`.

use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_sdk_ecs::types::{
    CapacityProviderStrategyItem, ClusterField, ClusterSetting, ClusterSettingName, Tag,
};
use berth_testsupport::Berth;

fn berth() -> Berth {
    Berth::start(env!("CARGO_BIN_EXE_berth"))
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

#[tokio::test]
async fn create_describe_list_delete() {
    let berth = berth();
    let ecs = berth.ecs();
    let created = ecs
        .create_cluster()
        .cluster_name("web")
        .tags(tag("team", "a"))
        .send()
        .await
        .unwrap();
    let cluster = created.cluster.unwrap();
    assert_eq!(
        cluster.cluster_arn(),
        Some("arn:aws:ecs:us-east-1:000000000000:cluster/web")
    );
    assert_eq!(cluster.status(), Some("ACTIVE"));
    assert_eq!(cluster.running_tasks_count(), 0);

    // Creating an existing ACTIVE cluster returns it unchanged.
    let again = ecs
        .create_cluster()
        .cluster_name("web")
        .send()
        .await
        .unwrap();
    assert_eq!(again.cluster.unwrap().tags().len(), 1);

    let described = ecs
        .describe_clusters()
        .clusters("web")
        .clusters("arn:aws:ecs:us-east-1:000000000000:cluster/web")
        .clusters("ghost")
        .include(ClusterField::Tags)
        .send()
        .await
        .unwrap();
    assert_eq!(described.clusters().len(), 2);
    assert_eq!(described.clusters()[0].tags()[0].value(), Some("a"));
    let failure = &described.failures()[0];
    assert_eq!(failure.reason(), Some("MISSING"));
    assert_eq!(
        failure.arn(),
        Some("arn:aws:ecs:us-east-1:000000000000:cluster/ghost")
    );

    // Without include, tags are left out.
    let plain = ecs
        .describe_clusters()
        .clusters("web")
        .send()
        .await
        .unwrap();
    assert!(plain.clusters()[0].tags().is_empty());

    let listed = ecs.list_clusters().send().await.unwrap();
    assert_eq!(
        listed.cluster_arns(),
        ["arn:aws:ecs:us-east-1:000000000000:cluster/web"]
    );

    let deleted = ecs.delete_cluster().cluster("web").send().await.unwrap();
    assert_eq!(deleted.cluster.unwrap().status(), Some("INACTIVE"));
    assert!(
        ecs.list_clusters()
            .send()
            .await
            .unwrap()
            .cluster_arns()
            .is_empty()
    );
    let gone = ecs
        .describe_clusters()
        .clusters("web")
        .send()
        .await
        .unwrap();
    assert_eq!(gone.failures()[0].reason(), Some("MISSING"));

    let err = ecs
        .delete_cluster()
        .cluster("web")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_cluster_not_found_exception());
}

#[tokio::test]
async fn default_cluster_and_statistics() {
    let berth = berth();
    let ecs = berth.ecs();
    let created = ecs.create_cluster().send().await.unwrap();
    assert_eq!(created.cluster.unwrap().cluster_name(), Some("default"));
    let described = ecs
        .describe_clusters()
        .include(ClusterField::Statistics)
        .include(ClusterField::Settings)
        .send()
        .await
        .unwrap();
    let cluster = &described.clusters()[0];
    assert_eq!(cluster.cluster_name(), Some("default"));
    assert!(
        cluster
            .statistics()
            .iter()
            .any(|s| s.name() == Some("runningFargateTasksCount") && s.value() == Some("0"))
    );
    assert_eq!(cluster.settings()[0].value(), Some("disabled"));
}

#[tokio::test]
async fn list_clusters_paginates() {
    let berth = berth();
    let ecs = berth.ecs();
    for i in 0..7 {
        ecs.create_cluster()
            .cluster_name(format!("c{i}"))
            .send()
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page = ecs
            .list_clusters()
            .max_results(3)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        assert!(page.cluster_arns().len() <= 3);
        seen.extend(page.cluster_arns().iter().cloned());
        token = page.next_token;
        if token.is_none() {
            break;
        }
    }
    let names: Vec<_> = seen
        .iter()
        .map(|a| a.rsplit('/').next().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["c0", "c1", "c2", "c3", "c4", "c5", "c6"]);

    // The SDK's paginator walks the same pages.
    let all: Vec<_> = ecs
        .list_clusters()
        .max_results(2)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(all.len(), 7);

    for bad in [0, 101] {
        let err = ecs
            .list_clusters()
            .max_results(bad)
            .send()
            .await
            .unwrap_err();
        assert!(err.into_service_error().is_invalid_parameter_exception());
    }
    let err = ecs
        .list_clusters()
        .next_token("not-a-token")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_invalid_parameter_exception());
}

#[tokio::test]
async fn updates_settings_and_capacity_providers() {
    let berth = berth();
    let ecs = berth.ecs();
    ecs.create_cluster().cluster_name("c").send().await.unwrap();
    let insights = |value: &str| {
        ClusterSetting::builder()
            .name(ClusterSettingName::ContainerInsights)
            .value(value)
            .build()
    };
    let updated = ecs
        .update_cluster_settings()
        .cluster("c")
        .settings(insights("enabled"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        updated.cluster.unwrap().settings()[0].value(),
        Some("enabled")
    );
    let err = ecs
        .update_cluster()
        .cluster("c")
        .settings(insights("sometimes"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_parameter_exception(), "{err:?}");

    let strategy = |provider: &str, base: i32| {
        CapacityProviderStrategyItem::builder()
            .capacity_provider(provider)
            .weight(1)
            .base(base)
            .build()
            .unwrap()
    };
    let put = ecs
        .put_cluster_capacity_providers()
        .cluster("c")
        .capacity_providers("FARGATE")
        .capacity_providers("FARGATE_SPOT")
        .default_capacity_provider_strategy(strategy("FARGATE", 1))
        .default_capacity_provider_strategy(strategy("FARGATE_SPOT", 0))
        .send()
        .await
        .unwrap();
    let cluster = put.cluster.unwrap();
    assert_eq!(cluster.capacity_providers(), ["FARGATE", "FARGATE_SPOT"]);
    assert_eq!(cluster.default_capacity_provider_strategy().len(), 2);

    for (providers, strategy_items) in [
        (vec!["EC2_SPOT"], vec![]),
        (vec!["FARGATE"], vec![strategy("FARGATE_SPOT", 0)]),
        (
            vec!["FARGATE", "FARGATE_SPOT"],
            vec![strategy("FARGATE", 1), strategy("FARGATE_SPOT", 2)],
        ),
    ] {
        let err = ecs
            .put_cluster_capacity_providers()
            .cluster("c")
            .set_capacity_providers(Some(providers.iter().map(|s| s.to_string()).collect()))
            .set_default_capacity_provider_strategy(Some(strategy_items))
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert!(
            err.is_invalid_parameter_exception(),
            "{providers:?}: {err:?}"
        );
    }
    let err = ecs
        .put_cluster_capacity_providers()
        .cluster("ghost")
        .capacity_providers("FARGATE")
        .set_default_capacity_provider_strategy(Some(vec![]))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_cluster_not_found_exception());
}

#[tokio::test]
async fn regions_do_not_see_each_other() {
    let berth = berth();
    berth
        .ecs_in("eu-west-3")
        .create_cluster()
        .cluster_name("paris")
        .send()
        .await
        .unwrap();
    let virginia = berth.ecs().list_clusters().send().await.unwrap();
    assert!(virginia.cluster_arns().is_empty());
    let paris = berth
        .ecs_in("eu-west-3")
        .list_clusters()
        .send()
        .await
        .unwrap();
    assert_eq!(
        paris.cluster_arns(),
        ["arn:aws:ecs:eu-west-3:000000000000:cluster/paris"]
    );
}

#[tokio::test]
async fn invalid_cluster_names_and_tags() {
    let berth = berth();
    let ecs = berth.ecs();
    let err = ecs
        .create_cluster()
        .cluster_name("no spaces")
        .send()
        .await
        .unwrap_err();
    let err = err.into_service_error();
    assert!(err.is_invalid_parameter_exception());
    assert!(err.message().unwrap().contains("no spaces"));
    let err = ecs
        .create_cluster()
        .cluster_name("ok")
        .tags(tag("aws:reserved", "x"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_parameter_exception());
    // Nothing was written by the refused requests.
    assert!(
        ecs.list_clusters()
            .send()
            .await
            .unwrap()
            .cluster_arns()
            .is_empty()
    );
}

//! TagResource, UntagResource and ListTagsForResource on clusters and task definitions.

use aws_sdk_ecs::types::Tag;
use berth_testsupport::{Berth, register_fargate};

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

#[tokio::test]
async fn tags_on_clusters_and_task_definitions() {
    let berth = Berth::start(env!("CARGO_BIN_EXE_berth"));
    let ecs = berth.ecs();
    let cluster_arn = ecs
        .create_cluster()
        .cluster_name("tagged")
        .tags(tag("a", "1"))
        .send()
        .await
        .unwrap()
        .cluster
        .unwrap()
        .cluster_arn
        .unwrap();
    let td_arn = register_fargate(&ecs, "tagged")
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap()
        .task_definition_arn
        .unwrap();

    for arn in [&cluster_arn, &td_arn] {
        ecs.tag_resource()
            .resource_arn(arn)
            .tags(tag("a", "2"))
            .tags(tag("b", "3"))
            .send()
            .await
            .unwrap();
        ecs.untag_resource()
            .resource_arn(arn)
            .tag_keys("b")
            .send()
            .await
            .unwrap();
        let tags = ecs
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .unwrap();
        let pairs: Vec<_> = tags
            .tags()
            .iter()
            .map(|t| (t.key().unwrap(), t.value().unwrap()))
            .collect();
        assert_eq!(pairs, [("a", "2")], "{arn}");
    }

    let too_many: Vec<Tag> = (0..51).map(|i| tag(&format!("k{i}"), "v")).collect();
    let err = ecs
        .tag_resource()
        .resource_arn(&cluster_arn)
        .set_tags(Some(too_many))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_parameter_exception(), "{err:?}");

    let err = ecs
        .list_tags_for_resource()
        .resource_arn("arn:aws:ecs:us-east-1:000000000000:cluster/ghost")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_cluster_not_found_exception(), "{err:?}");
    let err = ecs
        .tag_resource()
        .resource_arn("arn:aws:ecs:us-east-1:000000000000:task-definition/ghost:1")
        .tags(tag("a", "b"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    let err = ecs
        .list_tags_for_resource()
        .resource_arn("not-an-arn")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_parameter_exception(), "{err:?}");
}

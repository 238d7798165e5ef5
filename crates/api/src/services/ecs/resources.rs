//! The resources an ECS operation acts on, as IAM policies name them (the resource types of
//! ECS in AWS's service authorization reference): clusters, tasks and task definitions by
//! ARN, whether the request gave a name, an id or an ARN. An operation whose resource IAM
//! does not scope (ListClusters, RegisterTaskDefinition...) acts on `*`.

use berth_model::AccountRegion;
use serde_json::Value;

/// The ARNs `operation` with `input` acts on; `*` when IAM scopes it to no resource.
pub fn resources(scope: &AccountRegion, operation: &str, input: &Value) -> Vec<String> {
    let text = |name: &str| input.get(name).and_then(Value::as_str);
    let list = |name: &str| -> Vec<&str> {
        input
            .get(name)
            .and_then(Value::as_array)
            .map(|items| items.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    };
    let cluster = || cluster_arn(scope, text("cluster").unwrap_or("default"));
    let found = match operation {
        "CreateCluster" => vec![cluster_arn(scope, text("clusterName").unwrap_or("default"))],
        "DeleteCluster"
        | "UpdateCluster"
        | "UpdateClusterSettings"
        | "PutClusterCapacityProviders" => vec![cluster()],
        "DescribeClusters" => {
            let names = list("clusters");
            if names.is_empty() {
                vec![cluster_arn(scope, "default")]
            } else {
                names.into_iter().map(|c| cluster_arn(scope, c)).collect()
            }
        }
        "DescribeTasks" => {
            let cluster = text("cluster").unwrap_or("default");
            list("tasks")
                .into_iter()
                .map(|task| task_arn(scope, cluster, task))
                .collect()
        }
        "StopTask" => text("task")
            .map(|task| task_arn(scope, text("cluster").unwrap_or("default"), task))
            .into_iter()
            .collect(),
        "RunTask" | "DescribeTaskDefinition" | "DeregisterTaskDefinition" => text("taskDefinition")
            .map(|reference| task_definition_arn(scope, reference))
            .into_iter()
            .collect(),
        "DeleteTaskDefinitions" => list("taskDefinitions")
            .into_iter()
            .map(|reference| task_definition_arn(scope, reference))
            .collect(),
        "TagResource" | "UntagResource" | "ListTagsForResource" => {
            text("resourceArn").map(str::to_owned).into_iter().collect()
        }
        _ => Vec::new(),
    };
    if found.is_empty() {
        vec!["*".to_owned()]
    } else {
        found
    }
}

fn cluster_arn(scope: &AccountRegion, cluster: &str) -> String {
    if cluster.starts_with("arn:") {
        cluster.to_owned()
    } else {
        scope.cluster_arn(cluster)
    }
}

fn task_arn(scope: &AccountRegion, cluster: &str, task: &str) -> String {
    if task.starts_with("arn:") {
        return task.to_owned();
    }
    let cluster = cluster.rsplit('/').next().unwrap_or(cluster);
    format!(
        "arn:aws:ecs:{}:{}:task/{cluster}/{task}",
        scope.region, scope.account_id
    )
}

/// `family` alone stands for any of its revisions (`family:*`), as IAM policies write it.
fn task_definition_arn(scope: &AccountRegion, reference: &str) -> String {
    if reference.starts_with("arn:") {
        return reference.to_owned();
    }
    let reference = if reference.contains(':') {
        reference.to_owned()
    } else {
        format!("{reference}:*")
    };
    format!(
        "arn:aws:ecs:{}:{}:task-definition/{reference}",
        scope.region, scope.account_id
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_operation_names_its_resources() {
        let scope = AccountRegion::new("111122223333", "eu-west-3");
        let arn = |rest: &str| format!("arn:aws:ecs:eu-west-3:111122223333:{rest}");
        for (operation, input, expected) in [
            (
                "CreateCluster",
                json!({"clusterName": "prod"}),
                vec![arn("cluster/prod")],
            ),
            ("DeleteCluster", json!({}), vec![arn("cluster/default")]),
            (
                "DescribeClusters",
                json!({"clusters": ["a", arn("cluster/b")]}),
                vec![arn("cluster/a"), arn("cluster/b")],
            ),
            (
                "StopTask",
                json!({"cluster": "prod", "task": "abc"}),
                vec![arn("task/prod/abc")],
            ),
            (
                "DescribeTasks",
                json!({"cluster": arn("cluster/prod"), "tasks": ["abc"]}),
                vec![arn("task/prod/abc")],
            ),
            (
                "RunTask",
                json!({"taskDefinition": "web"}),
                vec![arn("task-definition/web:*")],
            ),
            (
                "RunTask",
                json!({"taskDefinition": "web:3"}),
                vec![arn("task-definition/web:3")],
            ),
            (
                "TagResource",
                json!({"resourceArn": arn("cluster/x")}),
                vec![arn("cluster/x")],
            ),
            ("ListClusters", json!({}), vec!["*".to_owned()]),
        ] {
            assert_eq!(
                resources(&scope, operation, &input),
                expected,
                "{operation}"
            );
        }
    }
}

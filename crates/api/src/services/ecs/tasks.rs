//! The task operations: wire shapes in, control-plane calls, wire shapes out.

use berth_control::{Ecs, ListTasksQuery, PageRequest, RunTaskInput};
use berth_model::AccountRegion;
use berth_model::lifecycle::DesiredStatus;
use berth_model::shapes::{DesiredStatus as WireDesiredStatus, TaskField};

use super::wire::*;
use crate::error::ApiError;

pub async fn run(
    ecs: &Ecs,
    scope: &AccountRegion,
    r: RunTaskRequest,
) -> Result<RunTaskResponse, ApiError> {
    let input = RunTaskInput {
        cluster: r.cluster,
        task_definition: r.task_definition,
        count: r.count,
        launch_type: r.launch_type,
        capacity_provider_strategy: r.capacity_provider_strategy,
        network_configuration: r.network_configuration,
        overrides: r.overrides,
        started_by: r.started_by,
        group: r.group,
        tags: r.tags.unwrap_or_default(),
        propagate_tags: r.propagate_tags,
        enable_execute_command: r.enable_execute_command,
    };
    let (tasks, failures) = ecs.run_task(scope, input).await?;
    Ok(RunTaskResponse {
        tasks: Some(tasks),
        failures: Some(failures),
    })
}

pub async fn describe(
    ecs: &Ecs,
    scope: &AccountRegion,
    r: DescribeTasksRequest,
) -> Result<DescribeTasksResponse, ApiError> {
    let include_tags = r.include.unwrap_or_default().contains(&TaskField::Tags);
    let (tasks, failures) = ecs
        .describe_tasks(scope, r.cluster.as_deref(), &r.tasks, include_tags)
        .await?;
    Ok(DescribeTasksResponse {
        tasks: Some(tasks),
        failures: Some(failures),
    })
}

pub async fn list(
    ecs: &Ecs,
    scope: &AccountRegion,
    r: ListTasksRequest,
) -> Result<ListTasksResponse, ApiError> {
    let query = ListTasksQuery {
        cluster: r.cluster,
        family: r.family,
        desired_status: r.desired_status.map(|d| match d {
            WireDesiredStatus::Running | WireDesiredStatus::Pending => DesiredStatus::Running,
            WireDesiredStatus::Stopped => DesiredStatus::Stopped,
        }),
        started_by: r.started_by,
    };
    let page = ecs
        .list_tasks(
            scope,
            &query,
            &PageRequest::new(r.next_token, r.max_results),
        )
        .await?;
    Ok(ListTasksResponse {
        task_arns: Some(page.items),
        next_token: page.next_token,
    })
}

pub async fn stop(
    ecs: &Ecs,
    scope: &AccountRegion,
    r: StopTaskRequest,
) -> Result<StopTaskResponse, ApiError> {
    let task = ecs
        .stop_task(scope, r.cluster.as_deref(), &r.task, r.reason.as_deref())
        .await?;
    Ok(StopTaskResponse { task: Some(task) })
}

//! Many tasks at once: RunTask's `count` of 10, and fifty tasks running side by side, each
//! with its own supervisor, sandbox and cgroup, all cleaned up afterwards.

use std::time::Duration;

use berth_testsupport::tasks::{
    TaskSetup, assert_released, register, run_many, task_id, wait_for_all,
};

#[tokio::test]
async fn count_10_starts_ten_tasks_and_fifty_run_at_once() {
    let setup = TaskSetup::start(env!("CARGO_BIN_EXE_berth"), &[]).await;
    let ecs = setup.berth.ecs();
    register(&ecs, "quick", setup.shell("app", "exit 0").build()).await;
    let ten = run_many(&ecs, "quick", 10, None).await;
    assert_eq!(ten.len(), 10);
    let stopped = wait_for_all(&ecs, &ten, "STOPPED", Duration::from_secs(120)).await;
    for task in &stopped {
        assert_eq!(task.containers()[0].exit_code(), Some(0), "{task:?}");
    }

    // Fifty long-lived tasks, all RUNNING at the same moment, then stopped together.
    register(
        &ecs,
        "idle",
        setup
            .shell("app", "trap 'exit 0' TERM; while :; do sleep 1; done")
            .build(),
    )
    .await;
    let mut fifty = Vec::new();
    for _ in 0..5 {
        fifty.extend(run_many(&ecs, "idle", 10, None).await);
    }
    let running = wait_for_all(&ecs, &fifty, "RUNNING", Duration::from_secs(240)).await;
    let mut pids: Vec<&str> = running
        .iter()
        .map(|t| t.containers()[0].runtime_id().unwrap())
        .collect();
    pids.sort();
    pids.dedup();
    assert_eq!(pids.len(), 50, "every task has its own container process");
    // Their root filesystems are mounted in their supervisors' namespaces, not the host's.
    let host_mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(fifty.iter().all(|arn| !host_mounts.contains(task_id(arn))));
    for arn in &fifty {
        ecs.stop_task().task(arn).send().await.unwrap();
    }
    let stopped = wait_for_all(&ecs, &fifty, "STOPPED", Duration::from_secs(120)).await;
    for task in &stopped {
        assert_eq!(task.containers()[0].exit_code(), Some(0), "{task:?}");
    }
    for arn in ten.iter().chain(&fifty) {
        assert_released(task_id(arn));
    }
}

//! Wiring: the node agent's `ControlPlane` implemented in-process over the control plane —
//! assignments from the store's watch of task records (each read with what was observed of
//! the task, `Ecs::assignment_of`), reports applied through `Ecs::report_task`. A remote
//! agent will implement the same trait over the network.

use std::sync::Arc;

use berth_agent::{Assignment, BoxFuture, ControlPlane, ControlPlaneError};
use berth_control::{Ecs, LOCAL_NODE};
use berth_model::lifecycle::TaskReport;
use berth_model::security_groups::GroupIngress;
use tokio::sync::mpsc;

/// How long the first retry of a failed assignment read waits (then 4x, up to the last).
const READ_RETRY_FIRST: std::time::Duration = std::time::Duration::from_millis(50);
/// The longest wait: a read still failing after it is given up on, and said so.
const READ_RETRY_LAST: std::time::Duration = std::time::Duration::from_millis(800);

/// The control plane in this process, as the local node's agent sees it.
pub struct LocalControl {
    pub ecs: Arc<Ecs>,
}

fn convert(assignment: berth_control::Assignment) -> Assignment {
    Assignment {
        key: assignment.key,
        task: assignment.task,
        definition: assignment.definition,
        network: assignment.network,
    }
}

impl ControlPlane for LocalControl {
    fn assignments(&self) -> BoxFuture<'_, Result<mpsc::Receiver<Assignment>, ControlPlaneError>> {
        Box::pin(async move {
            let error = |e: &dyn std::fmt::Display| ControlPlaneError(e.to_string());
            let (current, revision) = self
                .ecs
                .node_assignments(LOCAL_NODE)
                .await
                .map_err(|e| error(&e))?;
            let mut watcher = self.ecs.watch_tasks(revision + 1).map_err(|e| error(&e))?;
            let (sender, receiver) = mpsc::channel(1024);
            for assignment in current {
                let _ = sender.send(convert(assignment)).await;
            }
            let ecs = self.ecs.clone();
            tokio::spawn(async move {
                while let Some(event) = watcher.next().await {
                    // A failed read is tried again before the change is given up on: a
                    // StopTask missed here would not be heard of again until a restart.
                    let mut delay = READ_RETRY_FIRST;
                    let read = loop {
                        match ecs.assignment_of(&event, LOCAL_NODE).await {
                            Err(e) if delay <= READ_RETRY_LAST => {
                                tracing::warn!(error = %e, "cannot read a task assignment; trying again");
                                tokio::time::sleep(delay).await;
                                delay *= 4;
                            }
                            read => break read,
                        }
                    };
                    match read {
                        Ok(Some(assignment)) => {
                            if sender.send(convert(assignment)).await.is_err() {
                                break;
                            }
                        }
                        Ok(None) => {}
                        // One unreadable task must not stop the node from hearing of others.
                        Err(e) => tracing::error!(error = %e, "cannot read a task assignment"),
                    }
                }
            });
            Ok(receiver)
        })
    }

    fn report(
        &self,
        key: String,
        reports: Vec<TaskReport>,
    ) -> BoxFuture<'_, Result<(), ControlPlaneError>> {
        Box::pin(async move {
            self.ecs
                .report_task(&key, &reports)
                .await
                .map(|_| ())
                .map_err(|e| ControlPlaneError(e.to_string()))
        })
    }

    fn security_groups(
        &self,
    ) -> BoxFuture<'_, Result<mpsc::Receiver<Vec<GroupIngress>>, ControlPlaneError>> {
        Box::pin(async move {
            let error = |e: &dyn std::fmt::Display| ControlPlaneError(e.to_string());
            let (current, revision) = self.ecs.all_group_ingress().await.map_err(|e| error(&e))?;
            let mut watcher = self.ecs.watch_ec2(revision + 1).map_err(|e| error(&e))?;
            let (sender, receiver) = mpsc::channel(16);
            let _ = sender.send(current).await;
            let ecs = self.ecs.clone();
            tokio::spawn(async move {
                while let Some(event) = watcher.next().await {
                    if !Ecs::is_security_group_change(&event) {
                        continue;
                    }
                    // One read for a run of changes: whatever else queued is folded in.
                    while let Ok(Some(_)) =
                        tokio::time::timeout(std::time::Duration::ZERO, watcher.next()).await
                    {
                    }
                    match ecs.all_group_ingress().await {
                        Ok((groups, _)) => {
                            if sender.send(groups).await.is_err() {
                                break;
                            }
                        }
                        Err(e) => tracing::error!(error = %e, "cannot read security groups"),
                    }
                }
            });
            Ok(receiver)
        })
    }
}

//! Giving back what a task held on this node, whatever state it was left in: processes left
//! in its cgroups (killed) and the cgroups, its root filesystems, its task-scoped volumes, its
//! supervisor's mount points, bundles and socket, and its place in the node's firewall; and the root filesystems of a plan
//! that will not run. Each step tolerates what was never made, so one teardown fits every way a
//! task can end.

use std::path::Path;
use std::sync::Arc;

use berth_image::ImageStore;
use berth_model::shapes::{ContainerDefinition, TaskDefinition};
use berth_runtime::cgroups;
use berth_shim::ShimFiles;

use super::plan::exited_marker;
use super::volumes::volumes_dir;
use crate::AgentConfig;
use crate::firewall::Firewall;

/// Removes what task `id` held on this node: processes still in its cgroups (under the cgroup
/// mounts at `cgroup_root`, killed), its cgroups, root filesystems and task-scoped volumes
/// (its namespaces went with its supervisor; its logs stay). Log followers are told its containers are done. Blocking.
pub fn release_task_resources(
    images: &ImageStore,
    config: &AgentConfig,
    cgroup_root: &Path,
    id: &str,
    definition: &TaskDefinition,
) {
    let left = cgroups::kill_and_remove(cgroup_root, &format!("{}/{id}", config.cgroup_parent));
    if !left.is_empty() {
        tracing::warn!(task = %id, ?left, "task cgroups could not be removed");
    }
    let scratch = config.tasks_dir.join(id);
    let _ = std::fs::create_dir_all(scratch.join("logs"));
    for container in definition
        .container_definitions
        .as_deref()
        .unwrap_or_default()
    {
        let name = container.name.as_deref().unwrap_or_default();
        if let Err(error) = images.unmount_rootfs(&format!("{id}-{name}")) {
            tracing::warn!(%error, task = %id, "cannot remove a root filesystem");
        }
        // Also when preparing it failed before its lease was written.
        let _ = std::fs::remove_dir_all(scratch.join(format!("rootfs-{name}")));
        let _ = std::fs::write(exited_marker(&scratch, name), b"");
    }
    // Every container is gone, and with them their mount namespaces: nothing is mounted on
    // the volumes any more. (Host volumes are the host's, not the task's: never removed.)
    let _ = std::fs::remove_dir_all(volumes_dir(&scratch));
    let supervisor_dir = config.supervisor_dir(id);
    let _ = std::fs::remove_dir_all(supervisor_dir.join("rootfs"));
    let _ = std::fs::remove_dir_all(supervisor_dir.join("bundles"));
    let _ = std::fs::remove_file(ShimFiles::new(&supervisor_dir).socket);
}

/// [`release_task_resources`] on a blocking thread.
pub async fn release(
    images: &Arc<ImageStore>,
    config: &AgentConfig,
    cgroup_root: &Path,
    id: &str,
    definition: &TaskDefinition,
) {
    let images = images.clone();
    let config = config.clone();
    let cgroup_root = cgroup_root.to_path_buf();
    let id = id.to_owned();
    let definition = definition.clone();
    let _ = tokio::task::spawn_blocking(move || {
        release_task_resources(&images, &config, &cgroup_root, &id, &definition)
    })
    .await;
}

/// Gives back whatever root filesystems a plan that will not run made (from images the
/// registry has since replaced, or half-way before it failed).
pub async fn discard(images: &Arc<ImageStore>, id: &str, definitions: &[ContainerDefinition]) {
    let images = images.clone();
    let ids: Vec<String> = definitions
        .iter()
        .map(|d| format!("{id}-{}", d.name.as_deref().unwrap_or_default()))
        .collect();
    let id = id.to_owned();
    let _ = tokio::task::spawn_blocking(move || {
        for rootfs in ids {
            if let Err(error) = images.unmount_rootfs(&rootfs) {
                tracing::warn!(%error, task = %id, "cannot remove a root filesystem");
            }
        }
    })
    .await;
}

/// Takes the task's address out of the firewall and waits until that is in force: STOPPED
/// frees the address for another task, which must not inherit this one's place in its
/// security groups.
pub async fn unguard(firewall: Option<&(Arc<Firewall>, u64)>, key: &str) {
    if let Some((firewall, _)) = firewall {
        let generation = firewall.remove_task(key);
        firewall.in_force(key, generation).await;
    }
}

//! The cgroup directories berth creates around its containers' own: one per task under a
//! parent (`berth`), in every v1 hierarchy and in the unified (v2) one. libcontainer removes
//! each container's cgroup when it deletes the container; the task's directory is ours to
//! remove once its containers are gone.

use std::path::{Path, PathBuf};

/// Where cgroup filesystems are mounted.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Every existing directory for `relative` (e.g. `berth/TASK`) under the cgroup mounts at
/// `root`: one per v1 hierarchy, the unified one, or `root` itself on a pure v2 host.
pub fn directories(root: &Path, relative: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let direct = root.join(relative);
    if direct.is_dir() {
        found.push(direct);
    }
    if let Ok(entries) = std::fs::read_dir(root) {
        for entry in entries.flatten() {
            let candidate = entry.path().join(relative);
            if candidate.is_dir() && !found.contains(&candidate) {
                found.push(candidate);
            }
        }
    }
    found
}

/// Removes the (empty) directories for `relative` under `root`; returns those that could
/// not be removed (still holding processes or children).
pub fn remove(root: &Path, relative: &str) -> Vec<PathBuf> {
    directories(root, relative)
        .into_iter()
        .filter(|dir| std::fs::remove_dir(dir).is_err())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_and_removes_per_hierarchy_directories() {
        let root = tempfile::tempdir().unwrap();
        for hierarchy in ["memory", "cpu", "unified"] {
            std::fs::create_dir_all(root.path().join(hierarchy).join("berth/t1")).unwrap();
        }
        std::fs::create_dir_all(root.path().join("pids")).unwrap();
        assert_eq!(directories(root.path(), "berth/t1").len(), 3);
        // A directory with something inside stands for a cgroup still in use.
        std::fs::create_dir(root.path().join("cpu/berth/t1/busy")).unwrap();
        let left = remove(root.path(), "berth/t1");
        assert_eq!(left, vec![root.path().join("cpu/berth/t1")]);
        assert_eq!(directories(root.path(), "berth/t1").len(), 1);
    }
}

//! The cgroups berth manages around its containers' own: one per task under a parent
//! (`berth`), holding the task's CPU quota, memory and pids limits, in the v1 hierarchies or
//! the unified (v2) one. libcontainer makes and removes each container's cgroup inside it; the
//! task's is ours to remove (with anything left in it) once its containers are gone. Also: a
//! container's OOM counter, and starting the kernel's cgroup-migration grace period early.

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

/// The limits of a task's cgroup, which its containers' cgroups sit under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskLimits {
    /// CFS quota per period, microseconds (task cpu units / 1024 × period).
    pub cpu_quota: i64,
    /// CFS period, microseconds.
    pub cpu_period: u64,
    /// Hard memory limit, bytes.
    pub memory: i64,
    /// Most processes at once, over all the task's containers.
    pub pids: i64,
}

/// Creates the cgroup `relative` under `root` with `limits`: in the cpu, memory and pids v1
/// hierarchies, or in the unified hierarchy (with those controllers enabled for it and its
/// children) on a pure cgroup v2 host.
pub fn create_task_cgroup(root: &Path, relative: &str, limits: TaskLimits) -> std::io::Result<()> {
    let write = |dir: &Path, file: &str, value: String| {
        std::fs::write(dir.join(file), value).map_err(|error| {
            std::io::Error::new(
                error.kind(),
                format!("cannot write {}: {error}", dir.join(file).display()),
            )
        })
    };
    if root.join("cgroup.controllers").exists() {
        let dir = root.join(relative);
        std::fs::create_dir_all(&dir)?;
        // Each level hands the controllers down to the next; the task's own level hands
        // them to its containers. A controller the host lacks is left out, not fatal.
        let mut level = root.to_path_buf();
        for part in std::iter::once("").chain(relative.split('/')) {
            level = level.join(part);
            for controller in ["+cpu", "+memory", "+pids"] {
                let _ = std::fs::write(level.join("cgroup.subtree_control"), controller);
            }
        }
        write(
            &dir,
            "cpu.max",
            format!("{} {}", limits.cpu_quota, limits.cpu_period),
        )?;
        write(&dir, "memory.max", limits.memory.to_string())?;
        write(&dir, "pids.max", limits.pids.to_string())?;
        return Ok(());
    }
    let hierarchy = |controller: &str| {
        let dir = root.join(controller);
        dir.is_dir().then(|| dir.join(relative))
    };
    if let Some(dir) = hierarchy("cpu") {
        std::fs::create_dir_all(&dir)?;
        write(&dir, "cpu.cfs_period_us", limits.cpu_period.to_string())?;
        write(&dir, "cpu.cfs_quota_us", limits.cpu_quota.to_string())?;
    }
    if let Some(dir) = hierarchy("memory") {
        std::fs::create_dir_all(&dir)?;
        write(&dir, "memory.limit_in_bytes", limits.memory.to_string())?;
    }
    if let Some(dir) = hierarchy("pids") {
        std::fs::create_dir_all(&dir)?;
        write(&dir, "pids.max", limits.pids.to_string())?;
    }
    Ok(())
}

/// Moves this process into the cgroup it is already in (a no-op move) so that the kernel
/// begins the RCU grace period any cgroup migration waits for when none happened lately
/// (`cgroup_threadgroup_rwsem`, ~10–20 ms). Called as a task starts being prepared, the wait
/// overlaps the preparation instead of delaying the container's own move into its cgroup,
/// which then finds the lock warm. Blocking for that grace period: run it on a spare thread.
/// Errors are ignored: it only ever saves time.
pub fn begin_migration_grace_period(root: &Path) {
    let Ok(membership) = std::fs::read_to_string("/proc/self/cgroup") else {
        return;
    };
    // `ID:CONTROLLERS:PATH`; the first hierarchy listed is as good as any.
    let Some((controllers, path)) = membership.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let _id = parts.next()?;
        Some((parts.next()?.to_owned(), parts.next()?.to_owned()))
    }) else {
        return;
    };
    let hierarchy = match controllers.split(',').next() {
        Some("") | None => root.to_path_buf(),
        Some(name) => root.join(name.trim_start_matches("name=")),
    };
    let procs = hierarchy
        .join(path.trim_start_matches('/'))
        .join("cgroup.procs");
    let _ = std::fs::write(procs, std::process::id().to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: TaskLimits = TaskLimits {
        cpu_quota: 25_000,
        cpu_period: 100_000,
        memory: 512 << 20,
        pids: 100,
    };

    #[test]
    fn task_limits_go_to_each_v1_hierarchy() {
        let root = tempfile::tempdir().unwrap();
        for hierarchy in ["cpu", "memory", "pids", "unified"] {
            std::fs::create_dir(root.path().join(hierarchy)).unwrap();
        }
        create_task_cgroup(root.path(), "berth/t1", LIMITS).unwrap();
        let read = |file: &str| std::fs::read_to_string(root.path().join(file)).unwrap();
        assert_eq!(read("cpu/berth/t1/cpu.cfs_quota_us"), "25000");
        assert_eq!(read("cpu/berth/t1/cpu.cfs_period_us"), "100000");
        assert_eq!(read("memory/berth/t1/memory.limit_in_bytes"), "536870912");
        assert_eq!(read("pids/berth/t1/pids.max"), "100");
        assert!(!root.path().join("unified/berth").exists());
    }

    #[test]
    fn task_limits_go_to_the_unified_hierarchy_on_v2() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("cgroup.controllers"), "cpu memory pids").unwrap();
        create_task_cgroup(root.path(), "berth/t1", LIMITS).unwrap();
        let read = |file: &str| std::fs::read_to_string(root.path().join(file)).unwrap();
        assert_eq!(read("berth/t1/cpu.max"), "25000 100000");
        assert_eq!(read("berth/t1/memory.max"), "536870912");
        assert_eq!(read("berth/t1/pids.max"), "100");
        // A plain directory stands in for cgroupfs: the last enabling write is what is left.
        assert_eq!(read("berth/cgroup.subtree_control"), "+pids");
    }

    #[test]
    fn finds_per_hierarchy_directories() {
        let root = tempfile::tempdir().unwrap();
        for hierarchy in ["memory", "cpu", "unified"] {
            std::fs::create_dir_all(root.path().join(hierarchy).join("berth/t1")).unwrap();
        }
        std::fs::create_dir_all(root.path().join("pids")).unwrap();
        assert_eq!(directories(root.path(), "berth/t1").len(), 3);
        assert!(directories(root.path(), "berth/t2").is_empty());
    }
}

/// True when the kernel's OOM killer killed a process of the cgroup `relative` under `root`
/// (v1: `memory.oom_control`'s `oom_kill`; v2: `memory.events`' `oom_kill`). Read it after the
/// container exited and before it is deleted.
pub fn oom_killed(root: &Path, relative: &str) -> bool {
    let candidates = [
        root.join("memory")
            .join(relative)
            .join("memory.oom_control"),
        root.join(relative).join("memory.events"),
        root.join("unified").join(relative).join("memory.events"),
    ];
    candidates.iter().any(|file| {
        std::fs::read_to_string(file).is_ok_and(|text| {
            text.lines().any(|line| {
                line.strip_prefix("oom_kill ")
                    .and_then(|n| n.trim().parse::<u64>().ok())
                    .is_some_and(|n| n > 0)
            })
        })
    })
}

#[cfg(test)]
mod oom_tests {
    use super::*;

    #[test]
    fn reads_v1_and_v2_counters() {
        let root = tempfile::tempdir().unwrap();
        let v1 = root.path().join("memory/berth/t/c");
        std::fs::create_dir_all(&v1).unwrap();
        std::fs::write(
            v1.join("memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
        )
        .unwrap();
        assert!(!oom_killed(root.path(), "berth/t/c"));
        std::fs::write(
            v1.join("memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
        )
        .unwrap();
        assert!(oom_killed(root.path(), "berth/t/c"));
        let v2 = root.path().join("berth/t/d");
        std::fs::create_dir_all(&v2).unwrap();
        std::fs::write(
            v2.join("memory.events"),
            "low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\n",
        )
        .unwrap();
        assert!(oom_killed(root.path(), "berth/t/d"));
    }
}

/// Kills every process in the cgroup `relative` and its children under `root` (SIGKILL, in
/// every hierarchy), then removes the emptied directories, deepest first. For containers an
/// earlier berth process started and nobody supervises any more. Returns the directories that
/// could not be removed.
pub fn kill_and_remove(root: &Path, relative: &str) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for top in directories(root, relative) {
        collect_dirs(&top, &mut dirs);
    }
    for dir in &dirs {
        if let Ok(procs) = std::fs::read_to_string(dir.join("cgroup.procs")) {
            for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                }
            }
        }
    }
    // Killed processes leave their cgroups once their new parent has reaped them (a zombie
    // still counts in the pids controller): retry for a while. Deepest directories go first.
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut left = Vec::new();
    for dir in dirs {
        while std::fs::remove_dir(&dir).is_err() && dir.exists() {
            if std::time::Instant::now() > deadline {
                left.push(dir.clone());
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    left
}

fn collect_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    out.push(dir.to_path_buf());
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                collect_dirs(&entry.path(), out);
            }
        }
    }
}

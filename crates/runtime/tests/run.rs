//! Real containers through libcontainer, as root, from a busybox-static root filesystem.

use std::path::{Path, PathBuf};

use berth_runtime::executor;
use berth_runtime::process::User;
use berth_runtime::spec::{ContainerConfig, generate};

/// A minimal root filesystem: busybox-static and the applets the tests call.
fn busybox_rootfs(dir: &Path) -> PathBuf {
    let rootfs = dir.join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    for dir in ["proc", "dev", "sys", "tmp", "etc"] {
        std::fs::create_dir_all(rootfs.join(dir)).unwrap();
    }
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox"))
        .expect("busybox-static is installed by scripts/install-deps --test");
    for applet in ["sh", "cat", "echo", "sleep", "true"] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
    }
    rootfs
}

fn config(rootfs: &Path, script: &str, id: &str) -> ContainerConfig {
    ContainerConfig {
        rootfs: rootfs.to_path_buf(),
        args: vec!["/bin/sh".into(), "-c".into(), script.into()],
        env: vec!["PATH=/bin".into()],
        cwd: "/".into(),
        user: User {
            uid: 0,
            gid: 0,
            additional_gids: vec![],
            home: "/".into(),
        },
        hostname: "test".into(),
        readonly_rootfs: false,
        cgroups_path: format!("/berth-test-{}/{id}", std::process::id()).into(),
        cpu_shares: Some(512),
        cpu_quota: Some((50_000, 100_000)),
        memory_limit: Some(64 << 20),
        memory_reservation: None,
        pids_limit: Some(64),
        rlimits: vec![],
        shared: Default::default(),
        init: None,
    }
}

fn run(dir: &Path, script: &str, id: &str) -> i32 {
    let rootfs = busybox_rootfs(&dir.join(id));
    let spec = generate(&config(&rootfs, script, id)).unwrap();
    let started =
        executor::start(id, &dir.join("state"), &dir.join(id).join("bundle"), &spec).unwrap();
    let code = started.wait().unwrap();
    started.delete().unwrap();
    code
}

/// The cgroup directories a container of `parent` could have used, on v1, hybrid and v2
/// hosts alike.
fn cgroup_dirs(parent: &str) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let candidate = entry.path().join(parent);
        if candidate.exists() {
            dirs.push(candidate);
        }
    }
    let unified = Path::new("/sys/fs/cgroup").join(parent);
    if unified.exists() && !dirs.contains(&unified) {
        dirs.push(unified);
    }
    dirs
}

#[test]
fn exit_codes_come_back_and_no_cgroup_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let parent = format!("berth-test-{}", std::process::id());
    let id = |n: &str| format!("rt-{}-{n}", std::process::id());
    assert_eq!(run(dir.path(), "exit 0", &id("zero")), 0);
    assert_eq!(run(dir.path(), "exit 3", &id("three")), 3);
    // The process sees its own PID namespace and hostname.
    assert_eq!(
        run(
            dir.path(),
            "test $$ -eq 1 && test $(cat /proc/sys/kernel/hostname) = test",
            &id("ns")
        ),
        0
    );

    // Deleting a container removes its own cgroup; only the (now empty) parents remain,
    // which whoever created the parent removes.
    let parents = cgroup_dirs(&parent);
    assert!(
        !parents.is_empty(),
        "the containers ran in cgroups under {parent}"
    );
    for parent_dir in parents {
        let children: Vec<_> = std::fs::read_dir(&parent_dir)
            .unwrap()
            .flatten()
            .filter(|e| e.path().is_dir())
            .collect();
        assert!(
            children.is_empty(),
            "leaked cgroups under {}: {children:?}",
            parent_dir.display()
        );
        std::fs::remove_dir(&parent_dir).unwrap();
    }
}

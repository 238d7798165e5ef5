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
        cgroups_path: format!("/berth-test/{id}").into(),
        cpu_shares: Some(512),
        cpu_quota: Some((50_000, 100_000)),
        memory_limit: Some(64 << 20),
        memory_reservation: None,
        pids_limit: Some(64),
        rlimits: vec![],
        shared: None,
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

#[test]
fn exit_codes_come_back() {
    let dir = tempfile::tempdir().unwrap();
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
}

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
    for applet in [
        "sh", "cat", "echo", "sleep", "true", "unshare", "grep", "su", "kill", "linux32", "touch",
    ] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
    }
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
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
        capabilities: Default::default(),
        privileged: false,
        sysctls: Default::default(),
        volumes: vec![],
    }
}

fn run(dir: &Path, script: &str, id: &str) -> i32 {
    let rootfs = busybox_rootfs(&dir.join(id));
    run_spec(dir, id, &generate(&config(&rootfs, script, id)).unwrap())
}

/// Runs `script` in a container whose config `change` has changed, in a cgroup parent of its
/// own (removed after it: the test above counts what is left in its parent); its exit code.
fn run_with(dir: &Path, script: &str, id: &str, change: impl FnOnce(&mut ContainerConfig)) -> i32 {
    let parent = format!("berth-test-{id}");
    let rootfs = busybox_rootfs(&dir.join(id));
    let mut config = config(&rootfs, script, id);
    config.cgroups_path = format!("/{parent}/{id}").into();
    change(&mut config);
    let code = run_spec(dir, id, &generate(&config).unwrap());
    for parent_dir in cgroup_dirs(&parent) {
        let _ = std::fs::remove_dir(parent_dir);
    }
    code
}

fn run_spec(dir: &Path, id: &str, spec: &berth_runtime::spec::OciSpec) -> i32 {
    let started =
        executor::start(id, &dir.join("state"), &dir.join(id).join("bundle"), spec).unwrap();
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

/// Exits 0 when `command` fails with "Operation not permitted", 1 when it succeeds, 2 when it
/// fails otherwise.
fn refused(command: &str) -> String {
    format!(
        "out=$({command} 2>&1) && exit 1; echo \"$out\" | grep -q 'Operation not permitted' || exit 2"
    )
}

#[test]
fn seccomp_refuses_what_dockers_profile_refuses_and_programs_still_run() {
    let dir = tempfile::tempdir().unwrap();
    let id = |n: &str| format!("rt-{}-sc-{n}", std::process::id());
    // A new user namespace needs no capability: only the filter refuses it.
    assert_eq!(
        run_with(
            dir.path(),
            &refused("unshare -U true"),
            &id("userns"),
            |_| {}
        ),
        0
    );
    // Processes still fork (clone without namespace flags), in pipelines and subshells too,
    // and run 32-bit personalities the profile allows.
    assert_eq!(
        run_with(
            dir.path(),
            "test \"$(echo forked | cat)\" = forked && (sleep 0 & wait) && linux32 true",
            &id("fork"),
            |_| {}
        ),
        0
    );
    // The same unshare with the filter off (privileged) works: the refusal was the filter's.
    assert_eq!(
        run_with(dir.path(), "unshare -U true", &id("privileged"), |c| {
            c.privileged = true
        }),
        0
    );
    // CAP_SYS_ADMIN opens unshare (and clone with namespace flags), as Docker's profile says.
    assert_eq!(
        run_with(dir.path(), "unshare -U true", &id("admin"), |c| {
            c.capabilities.add = vec!["SYS_ADMIN".into()]
        }),
        0
    );
}

#[test]
fn sys_ptrace_lets_root_read_another_users_process() {
    let dir = tempfile::tempdir().unwrap();
    let id = |n: &str| format!("rt-{}-pt-{n}", std::process::id());
    // /proc/PID/environ of a process of another user needs CAP_SYS_PTRACE.
    let script = "su nobody -c 'exec sleep 30' & pid=$!; sleep 0.3; \
                  cat /proc/$pid/environ >/dev/null; code=$?; kill $pid; exit $code";
    assert_ne!(run_with(dir.path(), script, &id("without"), |_| {}), 0);
    assert_eq!(
        run_with(dir.path(), script, &id("with"), |c| {
            c.capabilities.add = vec!["SYS_PTRACE".into()]
        }),
        0
    );
}

#[test]
fn volumes_are_shared_and_read_only_ones_refuse_writes() {
    let dir = tempfile::tempdir().unwrap();
    let id = |n: &str| format!("rt-{}-vol-{n}", std::process::id());
    let volume = dir.path().join("volume");
    std::fs::create_dir_all(&volume).unwrap();
    let mount = |readonly| berth_runtime::spec::VolumeMount {
        source: volume.clone(),
        destination: "/shared".into(),
        readonly,
    };
    assert_eq!(
        run_with(
            dir.path(),
            "echo hello > /shared/note",
            &id("writer"),
            |c| { c.volumes = vec![mount(false)] }
        ),
        0
    );
    assert_eq!(
        std::fs::read_to_string(volume.join("note")).unwrap(),
        "hello\n"
    );
    assert_eq!(
        run_with(
            dir.path(),
            "test \"$(cat /shared/note)\" = hello && ! touch /shared/other",
            &id("reader"),
            |c| c.volumes = vec![mount(true)]
        ),
        0
    );
    // A read-only root refuses writes anywhere but in its volumes.
    assert_eq!(
        run_with(
            dir.path(),
            "! touch /file && touch /shared/ok",
            &id("readonly-root"),
            |c| {
                c.readonly_rootfs = true;
                c.volumes = vec![mount(false)];
            }
        ),
        0
    );
}

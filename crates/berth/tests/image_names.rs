//! What image names mean, against a real `berth up`: an import whose tag names no registry is
//! a local image (`localhost/...`), a short name runs it, and an imported image runs with no
//! registry asked — not Docker Hub for a short name, not the registry its tag names — whatever
//! the pull behavior. A listener stands in for every registry and counts who knocks.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_ecs::types::ContainerDefinition;
use berth_testsupport::Berth;
use berth_testsupport::oci::busybox_image;
use berth_testsupport::tasks::{register, run, wait_for};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A port on loopback that accepts and at once drops every connection, counting them: a
/// registry that would make any pull fail, and tells whether one was tried.
struct Knocks {
    address: String,
    count: Arc<AtomicUsize>,
}

impl Knocks {
    fn listen() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let count = Arc::new(AtomicUsize::new(0));
        let counted = count.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                counted.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        Self { address, count }
    }

    fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

/// Imports busybox through the CLI as `tag`; returns what berth says it stored it as.
fn import(berth: &Berth, tag: &str) -> String {
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("app.tar");
    berth_testsupport::oci::write_docker_archive(&busybox_image(), "app:v3", &archive);
    let out = berth.cli(&["image", "import", archive.to_str().unwrap(), "--tag", tag]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let stored = stdout
        .strip_prefix("Imported ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("{stdout}"));
    stored.to_owned()
}

/// Runs a task of one busybox container from `image`, which exits with 7.
async fn run_exit_7(berth: &Berth, family: &str, image: &str) {
    let ecs = berth.ecs();
    register(
        &ecs,
        family,
        ContainerDefinition::builder()
            .name("app")
            .image(image)
            .command("sh")
            .command("-c")
            .command("exit 7")
            .build(),
    )
    .await;
    let arn = run(&ecs, family, None).await;
    let task = wait_for(&ecs, &arn, "STOPPED", Duration::from_secs(60)).await;
    assert_eq!(
        task.containers()[0].exit_code(),
        Some(7),
        "{image}: {task:?}"
    );
}

#[tokio::test]
async fn imported_images_are_local_and_run_with_no_registry_asked() {
    // Docker Hub's mirror is the listener: a short name looked up on Docker Hub knocks.
    let hub = Knocks::listen();
    let other = Knocks::listen();
    for behavior in ["default", "always"] {
        let mirror = format!("docker.io=http://{}", hub.address);
        let berth = Berth::start_with(
            env!("CARGO_BIN_EXE_berth"),
            &[
                "--registry-mirror",
                &mirror,
                "--image-pull-behavior",
                behavior,
            ],
        );
        berth.ecs().create_cluster().send().await.unwrap();

        // No registry in the tag: local, shown as such.
        assert_eq!(import(&berth, "team/app:v3"), "localhost/team/app:v3");
        let listed = text(&berth.cli(&["image", "ls"]).stdout);
        assert!(listed.contains("localhost/team/app:v3"), "{listed}");
        assert!(!listed.contains("docker.io/team/app"), "{listed}");
        // A registry in the tag is kept, and never asked either.
        let named = format!("{}/team/app:v3", other.address);
        assert_eq!(import(&berth, &named), named);

        // Each runs; that no registry was asked, the counts below say (how long a start
        // takes is bench/'s business).
        for (family, image) in [
            ("short", "team/app:v3"),
            ("local", "localhost/team/app:v3"),
            ("named", named.as_str()),
        ] {
            run_exit_7(&berth, family, image).await;
        }
        let out = berth.cli(&[
            "run",
            "--rm",
            "team/app:v3",
            "--",
            "sh",
            "-c",
            "echo hi; exit 3",
        ]);
        assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
        assert!(text(&out.stdout).contains("hi"), "{}", text(&out.stdout));
        assert_eq!(hub.count(), 0, "{behavior}: Docker Hub was asked");
        assert_eq!(other.count(), 0, "{behavior}: {named}'s registry was asked");

        // The short name is removed as it runs: the local image.
        // Root filesystems are released just after their task is reported STOPPED.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let removed = berth.cli(&["image", "rm", "team/app:v3"]);
            if removed.status.success() {
                break;
            }
            let stderr = text(&removed.stderr);
            assert!(
                stderr.contains("image localhost/team/app:v3 is in use")
                    && Instant::now() < deadline,
                "{stderr}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let listed = text(&berth.cli(&["image", "ls"]).stdout);
        assert!(!listed.contains("localhost/team/app:v3"), "{listed}");
    }

    // With no local image, a short name is Docker Hub's again: its mirror is asked.
    let berth = Berth::start_with(
        env!("CARGO_BIN_EXE_berth"),
        &[
            "--registry-mirror",
            &format!("docker.io=http://{}", hub.address),
        ],
    );
    let out = berth.cli(&["image", "pull", "team/app:v3"]);
    assert!(!out.status.success());
    assert!(
        hub.count() > 0,
        "the mirror of Docker Hub was not asked: {}",
        text(&out.stderr)
    );
}

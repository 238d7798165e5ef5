//! Pulls from a real registry (Debian's docker-registry on loopback) of images the tests build
//! and push with skopeo, into a real content store, and root filesystems mounted from them.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use berth_image::registry::{FetchError, RegistryConfig};
use berth_image::{ImageError, ImageStore, Progress, PullFailure};
use berth_model::images::PullEvent;
use berth_sys::LinuxMounter;
use berth_testsupport::oci::{Compression, Image, Layer, Layout};
use berth_testsupport::registry::{Front, TestRegistry};

fn store(dir: &Path, config: RegistryConfig) -> ImageStore {
    ImageStore::open(&dir.join("images"), config, Arc::new(LinuxMounter)).unwrap()
}

fn quiet() -> Progress {
    Arc::new(|_| {})
}

/// Two layers: the second deletes a file of the first (whiteout) and replaces a directory's
/// content (opaque). Each compression gets its own content: skopeo would otherwise reuse a
/// blob it already pushed in another compression.
fn layered_image(compression: Compression) -> Image {
    let marker = format!("{compression:?}");
    Image::new(vec![
        Layer::new()
            .compression(compression)
            .file("compression", marker.clone())
            .dir("etc")
            .file("etc/hostname", "base")
            .file("etc/removed", "gone soon")
            .dir("data")
            .file("data/old", "old")
            .file_mode("bin/tool", "#!/bin/sh\n", 0o755)
            .symlink("bin/sh", "tool"),
        Layer::new()
            .compression(compression)
            .file("compression-top", marker)
            .whiteout("etc/removed")
            .opaque("data")
            .file("data/new", "new")
            .file("etc/hostname", "top"),
    ])
}

fn push(registry: &TestRegistry, repository: &str, tag: &str, image: &Image) {
    let dir = tempfile::tempdir().unwrap();
    let mut layout = Layout::new(dir.path());
    layout.tag_image(tag, image);
    registry.push(layout.dir(), tag, repository);
}

fn assert_merged_view(root: &Path) {
    assert_eq!(
        std::fs::read_to_string(root.join("etc/hostname")).unwrap(),
        "top"
    );
    assert!(
        !root.join("etc/removed").exists(),
        "whiteout hides the lower file"
    );
    assert!(
        !root.join("data/old").exists(),
        "opaque directory hides the lower content"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("data/new")).unwrap(),
        "new"
    );
    assert_eq!(
        std::fs::read_link(root.join("bin/sh")).unwrap(),
        Path::new("tool")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_gzip_and_zstd_images_by_tag_and_digest_and_mounts_the_merged_view() {
    let registry = TestRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let images = store(dir.path(), RegistryConfig::default());
    // Plain-tar layers cannot be pushed as such with skopeo (it gzips them); the unpack
    // tests and the docker-save import cover them.
    for (tag, compression) in [("gzip", Compression::Gzip), ("zstd", Compression::Zstd)] {
        push(&registry, "app", tag, &layered_image(compression));
        let reference = format!("{}/app:{tag}", registry.address());
        let record = images.pull(&reference, quiet()).await.unwrap();
        assert_eq!(record.layers.len(), 2);
        // skopeo may re-serialize the manifest on push: pin what the registry serves.
        let digest = record.manifest.to_string();
        let manifest = std::fs::read_to_string(
            dir.path()
                .join("images/blobs/sha256")
                .join(record.manifest.hex()),
        )
        .unwrap();
        let expected_media_type = match compression {
            Compression::Gzip => "tar+gzip",
            Compression::Zstd => "tar+zstd",
            Compression::None => unreachable!("not pushed"),
        };
        assert!(manifest.contains(expected_media_type), "{tag}: {manifest}");

        let by_digest = format!("{}/app@{digest}", registry.address());
        let pinned = images.pull(&by_digest, quiet()).await.unwrap();
        assert_eq!(pinned.manifest, record.manifest);
        // Its layers were stored already, and its size still counts them.
        assert!(record.size > 0);
        assert_eq!(pinned.size, record.size);

        let scratch = dir.path().join(format!("task-{tag}"));
        let rootfs = images
            .mount_rootfs(&format!("c-{tag}"), &reference, &scratch)
            .unwrap();
        assert_merged_view(&rootfs.path);
        assert_eq!(
            rootfs.config.cmd.as_deref(),
            Some(&["/bin/sh".to_owned()][..])
        );
        // Writes go to the container's own upper layer, not to the shared layers.
        std::fs::write(rootfs.path.join("etc/hostname"), "mine").unwrap();
        images.unmount_rootfs(&format!("c-{tag}")).unwrap();
        assert!(!scratch.exists());
        let again = images
            .mount_rootfs("again", &reference, &dir.path().join("again"))
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(again.path.join("etc/hostname")).unwrap(),
            "top"
        );
        images.unmount_rootfs("again").unwrap();
    }
    let listed = images.list();
    assert_eq!(listed.len(), 4);
    assert!(
        listed.iter().filter(|i| i.last_used_at.is_some()).count() == 2,
        "{listed:?}"
    );
    // Last use is kept across a restart of the store.
    drop(images);
    let reopened = store(dir.path(), RegistryConfig::default());
    assert_eq!(
        reopened
            .list()
            .iter()
            .filter(|i| i.last_used_at.is_some())
            .count(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_platform_index_resolves_to_this_machines_platform() {
    let registry = TestRegistry::start();
    let layout_dir = tempfile::tempdir().unwrap();
    let mut layout = Layout::new(layout_dir.path());
    let native = Image::new(vec![Layer::new().file("arch", "native")]);
    let foreign_arch = if berth_testsupport::oci::host_architecture() == "arm64" {
        "amd64"
    } else {
        "arm64"
    };
    let foreign =
        Image::new(vec![Layer::new().file("arch", "foreign")]).for_architecture(foreign_arch);
    layout.tag_index("multi", &[foreign.clone(), native]);
    layout.tag_index("foreign-only", &[foreign]);
    registry.push(layout.dir(), "multi", "app");
    registry.push(layout.dir(), "foreign-only", "app");

    let dir = tempfile::tempdir().unwrap();
    let images = store(dir.path(), RegistryConfig::default());
    let reference = format!("{}/app:multi", registry.address());
    images.pull(&reference, quiet()).await.unwrap();
    let rootfs = images
        .mount_rootfs("multi", &reference, &dir.path().join("multi"))
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(rootfs.path.join("arch")).unwrap(),
        "native"
    );
    images.unmount_rootfs("multi").unwrap();

    let err = images
        .pull(&format!("{}/app:foreign-only", registry.address()), quiet())
        .await
        .unwrap_err();
    assert!(matches!(err.failure, PullFailure::Platform { .. }), "{err}");
    let message = err.to_string();
    assert!(message.starts_with("pull image "), "{message}");
    assert!(
        message.contains(&format!("linux/{foreign_arch}")),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn htpasswd_registries_need_credentials() {
    let registry = TestRegistry::start_with_htpasswd("berth", "s3cret");
    push(
        &registry,
        "private",
        "v1",
        &layered_image(Compression::Gzip),
    );
    let reference = format!("{}/private:v1", registry.address());

    let dir = tempfile::tempdir().unwrap();
    let anonymous = store(dir.path(), RegistryConfig::default());
    let err = anonymous.pull(&reference, quiet()).await.unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("pull image {reference}: ")),
        "{message}"
    );
    assert!(message.contains("pull access denied"), "{message}");

    let config_path = dir.path().join("config.json");
    std::fs::write(
        &config_path,
        format!(
            r#"{{"auths": {{"{}": {{"auth": "YmVydGg6czNjcmV0"}}}}}}"#,
            registry.address()
        ),
    )
    .unwrap();
    let config = RegistryConfig {
        credentials: berth_image::credentials::Credentials::from_docker_config(&config_path)
            .unwrap(),
        ..RegistryConfig::default()
    };
    let dir2 = tempfile::tempdir().unwrap();
    let authenticated = store(dir2.path(), config);
    authenticated.pull(&reference, quiet()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bearer_token_flow() {
    let registry = TestRegistry::start();
    push(&registry, "test", "v1", &layered_image(Compression::Gzip));
    let front = Front::bearer(registry.address());
    let dir = tempfile::tempdir().unwrap();
    let images = store(dir.path(), RegistryConfig::default());
    images
        .pull(&format!("{}/test:v1", front.address()), quiet())
        .await
        .unwrap();
    // One token serves the whole pull.
    assert_eq!(front.count.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried() {
    let registry = TestRegistry::start();
    push(&registry, "test", "v1", &layered_image(Compression::Gzip));
    // Two 503s in a row: the first request is retried with backoff until it gets through.
    let front = Front::flaky(registry.address(), 2);
    let dir = tempfile::tempdir().unwrap();
    let images = store(dir.path(), RegistryConfig::default());
    images
        .pull(&format!("{}/test:v1", front.address()), quiet())
        .await
        .unwrap();
    assert!(front.count.load(std::sync::atomic::Ordering::SeqCst) > 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_serves_docker_hub_names() {
    let registry = TestRegistry::start();
    push(
        &registry,
        "library/nginx",
        "latest",
        &layered_image(Compression::Gzip),
    );
    let config = RegistryConfig {
        mirrors: BTreeMap::from([(
            "docker.io".to_owned(),
            vec![format!("http://{}", registry.address())],
        )]),
        ..RegistryConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let images = store(dir.path(), config);
    let record = images.pull("nginx", quiet()).await.unwrap();
    assert_eq!(record.reference, "docker.io/library/nginx:latest");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_content_and_missing_images_are_refused_and_nothing_is_kept() {
    let registry = TestRegistry::start();
    let image = layered_image(Compression::Gzip);
    let layout_dir = tempfile::tempdir().unwrap();
    let mut layout = Layout::new(layout_dir.path());
    let descriptor = layout.add_image(&image);
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            layout_dir
                .path()
                .join("blobs/sha256")
                .join(&descriptor["digest"].as_str().unwrap()[7..]),
        )
        .unwrap(),
    )
    .unwrap();
    layout.tag_image("v1", &image);
    registry.push(layout.dir(), "v1", "corrupt");
    registry.corrupt_blob(manifest["layers"][1]["digest"].as_str().unwrap());

    let dir = tempfile::tempdir().unwrap();
    let images = store(dir.path(), RegistryConfig::default());
    let err = images
        .pull(&format!("{}/corrupt:v1", registry.address()), quiet())
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("digest mismatch") || message.contains("could not be unpacked"),
        "{message}"
    );
    assert!(images.list().is_empty());
    let layers: Vec<_> = std::fs::read_dir(dir.path().join("images/layers"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        layers.len() <= 1,
        "only the intact layer may be kept: {layers:?}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("images/tmp"))
            .unwrap()
            .count(),
        0
    );

    // A missing repository and a missing tag are told apart, each said once.
    let address = registry.address();
    let err = images
        .pull(&format!("{address}/nothing:here"), quiet())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("pull image {address}/nothing:here: repository {address}/nothing not found")
    );
    assert!(
        matches!(
            err.failure,
            PullFailure::Fetch(FetchError::RepositoryNotFound { .. })
        ),
        "{err:?}"
    );
    push(
        &registry,
        "team/app",
        "v1",
        &layered_image(Compression::Gzip),
    );
    let err = images
        .pull(&format!("{address}/team/app:nope"), quiet())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("pull image {address}/team/app:nope: tag nope not found in {address}/team/app")
    );
    let absent = format!("sha256:{}", "0".repeat(64));
    let err = images
        .pull(&format!("{address}/team/app@{absent}"), quiet())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "pull image {address}/team/app@{absent}: manifest {absent} not found in {address}/team/app"
        )
    );

    let err = images
        .pull("127.0.0.1:9/unreachable:v1", quiet())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unreachable"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_going_away_mid_pull_leaves_nothing_behind() {
    let registry = Arc::new(Mutex::new(TestRegistry::start()));
    // Incompressible bytes, so the layer takes many chunks to arrive.
    let noise = berth_testsupport::oci::noise(32 * 1024 * 1024);
    let image = Image::new(vec![
        Layer::new()
            .compression(Compression::None)
            .file("noise", noise),
    ]);
    let address = registry.lock().unwrap().address().to_owned();
    push(&registry.lock().unwrap(), "big", "v1", &image);

    let dir = tempfile::tempdir().unwrap();
    let images = store(dir.path(), RegistryConfig::default());
    let killer = registry.clone();
    let progress: Progress = Arc::new(move |event| {
        if let PullEvent::Progress { done, .. } = event
            && done > 1024 * 1024
        {
            killer.lock().unwrap().stop();
        }
    });
    let err = images
        .pull(&format!("{address}/big:v1"), progress)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unreachable"), "{err}");
    assert!(images.list().is_empty());
    assert_eq!(
        std::fs::read_dir(dir.path().join("images/layers"))
            .unwrap()
            .count(),
        0
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("images/tmp"))
            .unwrap()
            .count(),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_pulls_share_one_download_per_layer() {
    let registry = TestRegistry::start();
    push(&registry, "shared", "v1", &layered_image(Compression::Gzip));
    let dir = tempfile::tempdir().unwrap();
    let images = Arc::new(store(dir.path(), RegistryConfig::default()));
    let downloads = Arc::new(Mutex::new(0));
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (images, downloads) = (images.clone(), downloads.clone());
        let reference = format!("{}/shared:v1", registry.address());
        tasks.push(tokio::spawn(async move {
            let progress: Progress = Arc::new(move |event| {
                if let PullEvent::LayerReady { cached: false, .. } = event {
                    *downloads.lock().unwrap() += 1;
                }
            });
            images.pull(&reference, progress).await.unwrap()
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(
        *downloads.lock().unwrap(),
        2,
        "each of the 2 layers downloaded once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_never_removes_what_a_mounted_rootfs_uses() {
    let registry = TestRegistry::start();
    push(&registry, "app", "v1", &layered_image(Compression::Gzip));
    let reference = format!("{}/app:v1", registry.address());
    let dir = tempfile::tempdir().unwrap();
    let images = store(dir.path(), RegistryConfig::default());
    images.pull(&reference, quiet()).await.unwrap();
    let rootfs = images
        .mount_rootfs("busy", &reference, &dir.path().join("busy"))
        .unwrap();

    assert!(matches!(
        images.remove(&reference),
        Err(ImageError::InUse { containers: 1, .. })
    ));
    let report = images.prune().unwrap();
    assert_eq!(report.layers, 0);
    assert_merged_view(&rootfs.path);

    images.unmount_rootfs("busy").unwrap();
    images.remove(&reference).unwrap();
    let report = images.prune().unwrap();
    assert_eq!((report.layers, report.blobs), (2, 2));
    assert!(images.list().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_released_scratch_directory_is_reused_with_nothing_of_its_last_container() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let registry = TestRegistry::start();
    push(&registry, "app", "v1", &layered_image(Compression::Gzip));
    let reference = format!("{}/app:v1", registry.address());
    let dir = tempfile::tempdir().unwrap();
    let images = store(dir.path(), RegistryConfig::default());
    images.pull(&reference, quiet()).await.unwrap();

    let first = dir.path().join("first");
    let rootfs = images.mount_rootfs("first", &reference, &first).unwrap();
    let root_mode = std::fs::metadata(&rootfs.path)
        .unwrap()
        .permissions()
        .mode();
    let work = std::fs::metadata(first.join("work")).unwrap().ino();
    // What a container leaves: a directory, a file, a changed root.
    std::fs::create_dir(rootfs.path.join("left-behind")).unwrap();
    std::fs::write(rootfs.path.join("etc/hostname"), "mine").unwrap();
    std::fs::set_permissions(&rootfs.path, std::fs::Permissions::from_mode(0o700)).unwrap();
    images.unmount_rootfs("first").unwrap();
    assert!(!first.exists());

    let second = dir.path().join("second");
    let rootfs = images.mount_rootfs("second", &reference, &second).unwrap();
    // The same directories (no inodes made), none of the first container's changes.
    assert_eq!(std::fs::metadata(second.join("work")).unwrap().ino(), work);
    assert!(!rootfs.path.join("left-behind").exists());
    assert_eq!(
        std::fs::read_to_string(rootfs.path.join("etc/hostname")).unwrap(),
        "top"
    );
    assert_eq!(
        std::fs::metadata(&rootfs.path)
            .unwrap()
            .permissions()
            .mode(),
        root_mode
    );
    assert_merged_view(&rootfs.path);
    images.unmount_rootfs("second").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leftover_root_filesystems_are_cleaned_up() {
    let registry = TestRegistry::start();
    push(&registry, "app", "v1", &layered_image(Compression::Gzip));
    let reference = format!("{}/app:v1", registry.address());
    let dir = tempfile::tempdir().unwrap();
    {
        let images = store(dir.path(), RegistryConfig::default());
        images.pull(&reference, quiet()).await.unwrap();
        images
            .mount_rootfs("kept", &reference, &dir.path().join("kept"))
            .unwrap();
        images
            .mount_rootfs("stale", &reference, &dir.path().join("stale"))
            .unwrap();
        // The store is dropped without unmounting, as a crash would leave it.
    }
    let images = store(dir.path(), RegistryConfig::default());
    let removed = images.cleanup_rootfs(&["kept".to_owned()]).unwrap();
    assert_eq!(removed, ["stale"]);
    assert!(!dir.path().join("stale").exists());
    assert!(dir.path().join("kept/rootfs/etc/hostname").exists());
    images.cleanup_rootfs(&[]).unwrap();
    assert!(!dir.path().join("kept").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_schema_2_manifests_and_manifest_lists() {
    let registry = TestRegistry::start();
    let layout_dir = tempfile::tempdir().unwrap();
    let mut layout = Layout::new(layout_dir.path());
    layout.tag_image("single", &layered_image(Compression::Gzip));
    let foreign_arch = if berth_testsupport::oci::host_architecture() == "arm64" {
        "amd64"
    } else {
        "arm64"
    };
    let native = Image::new(vec![Layer::new().file("arch", "native-docker")]);
    let foreign = Image::new(vec![Layer::new().file("arch", "foreign-docker")])
        .for_architecture(foreign_arch);
    layout.tag_index("list", &[foreign, native]);
    registry.push_docker_format(layout.dir(), "single", "docker");
    registry.push_docker_format(layout.dir(), "list", "docker");

    let dir = tempfile::tempdir().unwrap();
    let images = store(dir.path(), RegistryConfig::default());
    for tag in ["single", "list"] {
        let reference = format!("{}/docker:{tag}", registry.address());
        let record = images.pull(&reference, quiet()).await.unwrap();
        let manifest = std::fs::read_to_string(
            dir.path()
                .join("images/blobs/sha256")
                .join(record.manifest.hex()),
        )
        .unwrap();
        assert!(
            manifest.contains("application/vnd.docker.distribution.manifest.v2+json"),
            "{tag}: {manifest}"
        );
    }
    let rootfs = images
        .mount_rootfs(
            "list",
            &format!("{}/docker:list", registry.address()),
            &dir.path().join("list"),
        )
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(rootfs.path.join("arch")).unwrap(),
        "native-docker"
    );
    images.unmount_rootfs("list").unwrap();
}

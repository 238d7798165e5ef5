//! `berth image ...` against a real `berth up` and a real registry: pull with progress,
//! import of both archive kinds, ls, rm, prune, credentials and mirrors given to `berth up`.

use berth_testsupport::Berth;
use berth_testsupport::oci::{Compression, Image, Layer, Layout, write_docker_archive};
use berth_testsupport::registry::TestRegistry;

fn image(marker: &str) -> Image {
    Image::new(vec![
        Layer::new()
            .file("etc/marker", marker.to_owned())
            .file("etc/old", "x"),
        Layer::new().whiteout("etc/old").file("app", "v1"),
    ])
}

fn push(registry: &TestRegistry, repository: &str, tag: &str, image: &Image) {
    let dir = tempfile::tempdir().unwrap();
    let mut layout = Layout::new(dir.path());
    layout.tag_image(tag, image);
    registry.push(layout.dir(), tag, repository);
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn pull_ls_rm_prune_through_the_cli() {
    let registry = TestRegistry::start();
    push(&registry, "team/app", "v1", &image("pulled"));
    let berth = Berth::start(env!("CARGO_BIN_EXE_berth"));
    let reference = format!("{}/team/app:v1", registry.address());

    let pulled = berth.cli(&["image", "pull", &reference]);
    assert!(pulled.status.success(), "{}", text(&pulled.stderr));
    let stdout = text(&pulled.stdout);
    assert!(
        stdout.contains(&format!("Pulled {reference} (sha256:")),
        "{stdout}"
    );
    assert!(stdout.contains(": done"), "per-layer progress: {stdout}");

    let listed = text(&berth.cli(&["image", "ls"]).stdout);
    assert!(listed.contains(&reference), "{listed}");
    assert!(listed.contains("never"), "{listed}");

    let missing_reference = format!("{}/team/missing:v1", registry.address());
    let missing = berth.cli(&["image", "pull", &missing_reference]);
    assert!(!missing.status.success());
    // Plain words: ECS's error class is for tasks that fail to pull.
    let stderr = text(&missing.stderr);
    assert!(
        stderr.contains(&format!("pull image {missing_reference}: ")),
        "{stderr}"
    );
    assert!(!stderr.contains("CannotPullContainerError"), "{stderr}");
    assert!(stderr.contains("not found"), "{stderr}");

    let removed = berth.cli(&["image", "rm", &reference]);
    assert!(removed.status.success(), "{}", text(&removed.stderr));
    let again = berth.cli(&["image", "rm", &reference]);
    assert!(
        text(&again.stderr).contains("ImageNotFoundException"),
        "{}",
        text(&again.stderr)
    );
    let pruned = text(&berth.cli(&["image", "prune"]).stdout);
    assert!(pruned.contains("Removed 2 layers and 2 blobs"), "{pruned}");
}

#[test]
fn imports_both_archive_kinds_through_the_cli() {
    let berth = Berth::start(env!("CARGO_BIN_EXE_berth"));
    let work = tempfile::tempdir().unwrap();
    let mut layout = Layout::new(&work.path().join("layout"));
    layout.tag_image("v1", &image("oci"));
    let oci_archive = work.path().join("oci.tar");
    layout.write_oci_archive(&oci_archive);
    let docker_archive = work.path().join("docker.tar");
    write_docker_archive(&image("docker"), "app:v1", &docker_archive);

    for (archive, tag) in [
        (&oci_archive, "local/oci:v1"),
        (&docker_archive, "local/docker:v1"),
    ] {
        let out = berth.cli(&["image", "import", archive.to_str().unwrap(), "--tag", tag]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(
            text(&out.stdout).contains(&format!("Imported localhost/{tag}")),
            "{}",
            text(&out.stdout)
        );
    }
    let listed = text(&berth.cli(&["image", "ls"]).stdout);
    assert!(
        listed.contains("localhost/local/oci:v1") && listed.contains("localhost/local/docker:v1"),
        "{listed}"
    );

    let junk = work.path().join("junk.tar");
    std::fs::write(&junk, vec![0u8; 4096]).unwrap();
    let out = berth.cli(&["image", "import", junk.to_str().unwrap(), "--tag", "x:1"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("InvalidParameterException"),
        "{}",
        text(&out.stderr)
    );
    // A file that is no tar at all: the caller's mistake (400), said as such, not a server
    // failure.
    let text_file = work.path().join("notes.txt");
    std::fs::write(&text_file, "this is not an archive\n".repeat(10)).unwrap();
    let out = berth.cli(&[
        "image",
        "import",
        text_file.to_str().unwrap(),
        "--tag",
        "x:1",
    ]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("InvalidParameterException") && stderr.contains("not a tar archive"),
        "{stderr}"
    );
}

#[test]
fn berth_up_takes_registry_credentials_and_mirrors() {
    let private = TestRegistry::start_with_htpasswd("berth", "s3cret");
    push(&private, "secret/app", "v1", &image("private"));
    let mirror = TestRegistry::start();
    push(&mirror, "library/nginx", "latest", &image("mirrored"));

    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("config.json");
    std::fs::write(
        &config,
        format!(
            r#"{{"auths": {{"{}": {{"username": "berth", "password": "s3cret"}}}}}}"#,
            private.address()
        ),
    )
    .unwrap();
    let mirror_flag = format!("docker.io=http://{}", mirror.address());
    let berth = Berth::start_with(
        env!("CARGO_BIN_EXE_berth"),
        &[
            "--registry-config",
            config.to_str().unwrap(),
            "--registry-mirror",
            &mirror_flag,
        ],
    );
    let out = berth.cli(&[
        "image",
        "pull",
        &format!("{}/secret/app:v1", private.address()),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = berth.cli(&["image", "pull", "nginx"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("Pulled docker.io/library/nginx:latest"),
        "{}",
        text(&out.stdout)
    );

    // DOCKER_CONFIG is honoured as Docker honours it.
    let docker_config = Berth::start_with_env(
        env!("CARGO_BIN_EXE_berth"),
        &[],
        &[("DOCKER_CONFIG", work.path().to_str().unwrap())],
    );
    let out = docker_config.cli(&[
        "image",
        "pull",
        &format!("{}/secret/app:v1", private.address()),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // Without the credentials the private registry refuses, and says so.
    let plain = Berth::start_with_env(
        env!("CARGO_BIN_EXE_berth"),
        &[],
        &[("HOME", "/nonexistent")],
    );
    let out = plain.cli(&[
        "image",
        "pull",
        &format!("{}/secret/app:v1", private.address()),
    ]);
    assert!(
        text(&out.stderr).contains("pull image "),
        "{}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("pull access denied"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn kill_9_mid_pull_leaves_no_half_written_layer() {
    let registry = TestRegistry::start();
    // Incompressible, so the download takes many chunks.
    let noise = berth_testsupport::oci::noise(24 * 1024 * 1024);
    // Uncompressed here (gzip in a debug build is slow); skopeo compresses it.
    let layer = Layer::new()
        .compression(Compression::None)
        .file("noise", noise);
    push(&registry, "big", "v1", &Image::new(vec![layer]));
    let reference = format!("{}/big:v1", registry.address());
    let mut berth = Berth::start(env!("CARGO_BIN_EXE_berth"));
    let images = berth.data_dir().join("images");

    let mut pull = berth
        .cli_command()
        .args(["image", "pull", &reference])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the unpack has started writing, then crash the server.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::fs::read_dir(images.join("tmp"))
        .map(|d| d.count())
        .unwrap_or(0)
        == 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the pull never started unpacking"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    berth.kill9();
    let _ = pull.wait();
    let finished_layers = std::fs::read_dir(images.join("layers")).unwrap().count();

    berth.restart();
    assert_eq!(
        std::fs::read_dir(images.join("tmp")).unwrap().count(),
        0,
        "leftovers are removed at start"
    );
    let listed = text(&berth.cli(&["image", "ls"]).stdout);
    if finished_layers == 0 {
        assert!(!listed.contains(&reference), "{listed}");
    }
    let out = berth.cli(&["image", "pull", &reference]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

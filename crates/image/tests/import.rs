//! Importing OCI archives and `docker save` archives into the content store.

use std::path::Path;
use std::sync::Arc;

use berth_image::registry::RegistryConfig;
use berth_image::{ImageError, ImageSource, ImageStore, ImportError};
use berth_sys::LinuxMounter;
use berth_testsupport::oci::{Compression, Image, Layer, Layout, write_docker_archive};

fn image() -> Image {
    Image::new(vec![
        Layer::new()
            .compression(Compression::Zstd)
            .file("etc/os", "base")
            .file("etc/gone", "x"),
        Layer::new()
            .compression(Compression::None)
            .whiteout("etc/gone")
            .file("app", "v2"),
    ])
}

fn store(dir: &Path) -> ImageStore {
    ImageStore::open(
        &dir.join("images"),
        RegistryConfig::default(),
        Arc::new(LinuxMounter),
    )
    .unwrap()
}

fn check_rootfs(images: &ImageStore, reference: &str, dir: &Path) {
    let rootfs = images
        .mount_rootfs("check", reference, &dir.join("check"))
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(rootfs.path.join("etc/os")).unwrap(),
        "base"
    );
    assert_eq!(
        std::fs::read_to_string(rootfs.path.join("app")).unwrap(),
        "v2"
    );
    assert!(!rootfs.path.join("etc/gone").exists());
    images.unmount_rootfs("check").unwrap();
}

#[tokio::test]
async fn an_oci_archive() {
    let work = tempfile::tempdir().unwrap();
    let mut layout = Layout::new(&work.path().join("layout"));
    layout.tag_image("v1", &image());
    layout.tag_image("other", &Image::new(vec![Layer::new().file("x", "y")]));
    let archive = work.path().join("image.tar");
    layout.write_oci_archive(&archive);

    let images = store(work.path());
    let record = images.import(&archive, "team/app:v1").await.unwrap();
    // No registry in the tag: a local image, never Docker Hub's namesake.
    assert_eq!(record.reference, "localhost/team/app:v1");
    assert_eq!(record.source, ImageSource::Imported);
    check_rootfs(&images, "team/app:v1", work.path());
    check_rootfs(&images, "localhost/team/app:v1", work.path());
    assert!(matches!(
        images.get("docker.io/team/app:v1"),
        Err(ImageError::NotFound(_))
    ));
    // The short name resolves to the local image while there is one, to Docker Hub's after.
    assert_eq!(
        images.resolve("team/app:v1").unwrap().to_string(),
        "localhost/team/app:v1"
    );
    images.remove("team/app:v1").unwrap();
    assert_eq!(
        images.resolve("team/app:v1").unwrap().to_string(),
        "docker.io/team/app:v1"
    );
}

#[tokio::test]
async fn a_tag_naming_a_registry_keeps_it_and_old_index_entries_read_as_pulled() {
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("saved.tar");
    write_docker_archive(&image(), "app:v1", &archive);
    let images = store(work.path());
    let record = images
        .import(&archive, "registry.example:5000/team/app:v1")
        .await
        .unwrap();
    assert_eq!(record.reference, "registry.example:5000/team/app:v1");
    assert_eq!(record.source, ImageSource::Imported);
    drop(images);

    // An index written before records had a source: its records were pulled.
    let index_path = work.path().join("images/index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    let entry = &mut index["images"]["registry.example:5000/team/app:v1"];
    assert_eq!(entry["source"], "imported");
    entry.as_object_mut().unwrap().remove("source");
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    let images = store(work.path());
    assert_eq!(
        images
            .get("registry.example:5000/team/app:v1")
            .unwrap()
            .source,
        ImageSource::Pulled
    );
}

#[tokio::test]
async fn a_docker_save_archive() {
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("saved.tar");
    write_docker_archive(&image(), "app:v1", &archive);
    let images = store(work.path());
    let record = images.import(&archive, "localhost/app:v1").await.unwrap();
    assert_eq!(record.layers.len(), 2);
    check_rootfs(&images, "localhost/app:v1", work.path());
}

#[tokio::test]
async fn bad_archives_are_refused_and_leave_nothing() {
    let work = tempfile::tempdir().unwrap();
    let images = store(work.path());

    let not_an_image = work.path().join("random.tar");
    let mut builder = tar::Builder::new(std::fs::File::create(&not_an_image).unwrap());
    let mut header = tar::Header::new_gnu();
    header.set_size(5);
    builder
        .append_data(&mut header, "hello.txt", b"hello".as_slice())
        .unwrap();
    builder.finish().unwrap();
    assert!(matches!(
        images.import(&not_an_image, "x:1").await,
        Err(ImportError::UnknownFormat)
    ));

    let mut layout = Layout::new(&work.path().join("layout"));
    layout.tag_image("v1", &image());
    // Flip a byte of the largest blob (a layer) without renaming it.
    let blobs = work.path().join("layout/blobs/sha256");
    let largest = std::fs::read_dir(&blobs)
        .unwrap()
        .flatten()
        .max_by_key(|e| e.metadata().unwrap().len())
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&largest).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&largest, bytes).unwrap();
    let archive = work.path().join("corrupt.tar");
    layout.write_oci_archive(&archive);
    let err = images.import(&archive, "x:1").await.unwrap_err();
    assert!(
        matches!(err, ImportError::DigestMismatch { .. } | ImportError::Io(_)),
        "{err}"
    );
    assert!(images.list().is_empty());
    assert_eq!(
        std::fs::read_dir(work.path().join("images/tmp"))
            .unwrap()
            .count(),
        0
    );
}

//! Test images built by the tests themselves: layers from a few lines of description, packed
//! as an OCI image layout on disk (the format `skopeo copy oci:DIR:TAG ...` reads), with a
//! choice of compression and platform, and as archives (`oci-archive` and `docker save`).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::json;
use sha2::{Digest as _, Sha256};

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip.
    Gzip,
    /// zstd.
    Zstd,
}

/// One layer's content.
#[derive(Debug, Clone)]
pub struct Layer {
    builder_entries: Vec<Entry>,
    compression: Compression,
}

#[derive(Debug, Clone)]
enum Entry {
    Dir(String),
    File(String, Vec<u8>, u32),
    Symlink(String, String),
    HardLink(String, String),
}

impl Layer {
    /// An empty gzip layer.
    pub fn new() -> Self {
        Self {
            builder_entries: Vec::new(),
            compression: Compression::Gzip,
        }
    }

    /// Compressed with `compression`.
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// A directory.
    pub fn dir(mut self, path: &str) -> Self {
        self.builder_entries.push(Entry::Dir(path.into()));
        self
    }

    /// A regular file with mode 0644.
    pub fn file(self, path: &str, content: impl Into<Vec<u8>>) -> Self {
        self.file_mode(path, content, 0o644)
    }

    /// A regular file.
    pub fn file_mode(mut self, path: &str, content: impl Into<Vec<u8>>, mode: u32) -> Self {
        self.builder_entries
            .push(Entry::File(path.into(), content.into(), mode));
        self
    }

    /// A symlink.
    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        self.builder_entries
            .push(Entry::Symlink(path.into(), target.into()));
        self
    }

    /// A hard link to an earlier entry.
    pub fn hard_link(mut self, path: &str, target: &str) -> Self {
        self.builder_entries
            .push(Entry::HardLink(path.into(), target.into()));
        self
    }

    /// An OCI whiteout: `path` is deleted from the layers below.
    pub fn whiteout(self, path: &str) -> Self {
        let (dir, name) = path.rsplit_once('/').map_or(("", path), |(d, n)| (d, n));
        let marker = if dir.is_empty() {
            format!(".wh.{name}")
        } else {
            format!("{dir}/.wh.{name}")
        };
        self.file(&marker, Vec::new())
    }

    /// An opaque directory: its content in the layers below is hidden.
    pub fn opaque(self, dir: &str) -> Self {
        self.file(&format!("{dir}/.wh..wh..opq"), Vec::new())
    }

    /// The uncompressed tar.
    pub fn tar(&self) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for entry in &self.builder_entries {
            let mut header = tar::Header::new_gnu();
            header.set_mtime(1_700_000_000);
            header.set_uid(0);
            header.set_gid(0);
            match entry {
                Entry::Dir(path) => {
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_mode(0o755);
                    header.set_size(0);
                    builder
                        .append_data(&mut header, path, std::io::empty())
                        .unwrap();
                }
                Entry::File(path, content, mode) => {
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_mode(*mode);
                    header.set_size(content.len() as u64);
                    builder
                        .append_data(&mut header, path, content.as_slice())
                        .unwrap();
                }
                Entry::Symlink(path, target) | Entry::HardLink(path, target) => {
                    let kind = if matches!(entry, Entry::Symlink(..)) {
                        tar::EntryType::Symlink
                    } else {
                        tar::EntryType::Link
                    };
                    header.set_entry_type(kind);
                    header.set_mode(0o777);
                    header.set_size(0);
                    builder.append_link(&mut header, path, target).unwrap();
                }
            }
        }
        builder.into_inner().unwrap()
    }

    fn blob(&self) -> (Vec<u8>, &'static str) {
        let tar = self.tar();
        match self.compression {
            Compression::None => (tar, "application/vnd.oci.image.layer.v1.tar"),
            Compression::Gzip => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(&tar).unwrap();
                (
                    e.finish().unwrap(),
                    "application/vnd.oci.image.layer.v1.tar+gzip",
                )
            }
            Compression::Zstd => (
                zstd::stream::encode_all(tar.as_slice(), 3).unwrap(),
                "application/vnd.oci.image.layer.v1.tar+zstd",
            ),
        }
    }
}

impl Default for Layer {
    fn default() -> Self {
        Self::new()
    }
}

/// An image: layers (bottom first), a platform and a run config.
#[derive(Debug, Clone)]
pub struct Image {
    /// Layers, bottom first.
    pub layers: Vec<Layer>,
    /// `amd64`, `arm64`...
    pub architecture: String,
    /// The image config's `config` object (Cmd, Env, ...).
    pub config: serde_json::Value,
}

impl Image {
    /// An image for this machine's architecture.
    pub fn new(layers: Vec<Layer>) -> Self {
        Self {
            layers,
            architecture: host_architecture().to_owned(),
            config: json!({"Cmd": ["/bin/sh"], "Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]}),
        }
    }

    /// The image config document for layers with `diff_ids`.
    fn config_json(&self, diff_ids: &[String]) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "architecture": self.architecture,
            "os": "linux",
            "config": self.config,
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }))
        .unwrap()
    }

    /// The same image for another architecture.
    pub fn for_architecture(mut self, architecture: &str) -> Self {
        self.architecture = architecture.into();
        self
    }
}

/// An image holding Debian's busybox-static as /bin/busybox and its common applets, with
/// `Cmd ["/bin/sh"]`: small, and enough to run real processes in tests.
pub fn busybox_image() -> Image {
    let busybox = std::fs::read("/bin/busybox")
        .expect("busybox-static is installed by scripts/install-deps --test");
    let mut layer = Layer::new()
        .dir("bin")
        .dir("etc")
        .dir("tmp")
        .dir("proc")
        .dir("sys")
        .dir("dev")
        .file_mode("bin/busybox", busybox, 0o755)
        .file(
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        )
        .file("etc/group", "root:x:0:\nnogroup:x:65534:\n");
    for applet in [
        "sh", "echo", "sleep", "cat", "true", "false", "env", "id", "ls", "wget", "nc", "hostname",
        "head", "yes", "tr",
    ] {
        layer = layer.symlink(&format!("bin/{applet}"), "busybox");
    }
    Image::new(vec![layer])
}

/// `len` incompressible bytes (xorshift), for layers that must take many chunks to arrive.
pub fn noise(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// The OCI name of this machine's architecture.
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// sha256 digest string of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut text = String::from("sha256:");
    for byte in hash.iter() {
        text.push_str(&format!("{byte:02x}"));
    }
    text
}

/// An OCI image layout directory being written.
pub struct Layout {
    dir: PathBuf,
    index: Vec<serde_json::Value>,
}

impl Layout {
    /// Starts a layout in `dir` (created).
    pub fn new(dir: &Path) -> Self {
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        Self {
            dir: dir.to_path_buf(),
            index: Vec::new(),
        }
    }

    /// The layout's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn write_blob(&self, bytes: &[u8]) -> String {
        let d = digest(bytes);
        std::fs::write(self.dir.join("blobs/sha256").join(&d[7..]), bytes).unwrap();
        d
    }

    /// Writes `image`'s blobs and returns its manifest descriptor (not yet tagged).
    pub fn add_image(&mut self, image: &Image) -> serde_json::Value {
        let mut layers = Vec::new();
        let mut diff_ids = Vec::new();
        for layer in &image.layers {
            let (blob, media_type) = layer.blob();
            diff_ids.push(digest(&layer.tar()));
            let size = blob.len();
            layers.push(
                json!({"mediaType": media_type, "digest": self.write_blob(&blob), "size": size}),
            );
        }
        let config_bytes = image.config_json(&diff_ids);
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": self.write_blob(&config_bytes),
                "size": config_bytes.len(),
            },
            "layers": layers,
        });
        let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
        json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": self.write_blob(&manifest_bytes),
            "size": manifest_bytes.len(),
            "platform": {"architecture": image.architecture, "os": "linux"},
        })
    }

    /// Adds `image` under `tag`; returns its manifest digest.
    pub fn tag_image(&mut self, tag: &str, image: &Image) -> String {
        let mut descriptor = self.add_image(image);
        descriptor["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
        let digest = descriptor["digest"].as_str().unwrap().to_owned();
        self.index.push(descriptor);
        self.write_index();
        digest
    }

    /// Adds a multi-platform index of `images` under `tag`; returns the index digest.
    pub fn tag_index(&mut self, tag: &str, images: &[Image]) -> String {
        let manifests: Vec<_> = images.iter().map(|i| self.add_image(i)).collect();
        let index = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        });
        let bytes = serde_json::to_vec(&index).unwrap();
        let digest = self.write_blob(&bytes);
        self.index.push(json!({
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": digest,
            "size": bytes.len(),
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }));
        self.write_index();
        digest
    }

    fn write_index(&self) {
        let index = json!({"schemaVersion": 2, "manifests": self.index});
        std::fs::write(
            self.dir.join("index.json"),
            serde_json::to_vec(&index).unwrap(),
        )
        .unwrap();
    }

    /// Packs the layout as an `oci-archive` (a tar of the layout directory) at `path`.
    pub fn write_oci_archive(&self, path: &Path) {
        let file = std::fs::File::create(path).unwrap();
        let mut builder = tar::Builder::new(file);
        builder.append_dir_all(".", &self.dir).unwrap();
        builder.finish().unwrap();
    }
}

/// Writes `image` as a `docker save` archive tagged `repo_tag` at `path`.
pub fn write_docker_archive(image: &Image, repo_tag: &str, path: &Path) {
    let file = std::fs::File::create(path).unwrap();
    let mut builder = tar::Builder::new(file);
    fn append(builder: &mut tar::Builder<std::fs::File>, name: &str, bytes: &[u8]) {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        builder.append_data(&mut header, name, bytes).unwrap();
    }
    let mut layer_names = Vec::new();
    let mut diff_ids = Vec::new();
    for layer in &image.layers {
        // docker save stores layers uncompressed, one directory each.
        let tar = layer.tar();
        let d = digest(&tar);
        let name = format!("{}/layer.tar", &d[7..]);
        append(&mut builder, &name, &tar);
        layer_names.push(name);
        diff_ids.push(d);
    }
    let config_bytes = image.config_json(&diff_ids);
    let config_name = format!("{}.json", &digest(&config_bytes)[7..]);
    append(&mut builder, &config_name, &config_bytes);
    let manifest = json!([{"Config": config_name, "RepoTags": [repo_tag], "Layers": layer_names}]);
    append(
        &mut builder,
        "manifest.json",
        &serde_json::to_vec(&manifest).unwrap(),
    );
    builder.finish().unwrap();
}

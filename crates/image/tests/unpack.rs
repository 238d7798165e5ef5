//! Unpacking layer tars into overlay-ready directories, on the real filesystem (as root: device
//! nodes, ownership and trusted.* xattrs need it, and CI runs as root).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use berth_image::Digest;
use berth_image::manifest::Compression;
use berth_image::unpack::{UnpackError, unpack_layer};

/// Builds a tar with `f` and returns its bytes.
fn tar(f: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    f(&mut builder);
    builder.into_inner().unwrap()
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_uid(1000);
    h.set_gid(1001);
    h.set_mtime(1_600_000_000);
    h
}

fn file(b: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32, content: &[u8]) {
    let mut h = header(tar::EntryType::Regular, mode, content.len() as u64);
    b.append_data(&mut h, path, content).unwrap();
}

fn dir(b: &mut tar::Builder<Vec<u8>>, path: &str) {
    let mut h = header(tar::EntryType::Directory, 0o750, 0);
    b.append_data(&mut h, path, std::io::empty()).unwrap();
}

fn link(b: &mut tar::Builder<Vec<u8>>, kind: tar::EntryType, path: &str, target: &str) {
    let mut h = header(kind, 0o777, 0);
    b.append_link(&mut h, path, target).unwrap();
}

fn compress(bytes: &[u8], compression: Compression) -> Vec<u8> {
    match compression {
        Compression::None => bytes.to_vec(),
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(bytes).unwrap();
            e.finish().unwrap()
        }
        Compression::Zstd => zstd::stream::encode_all(bytes, 3).unwrap(),
    }
}

fn base_layer() -> Vec<u8> {
    tar(|b| {
        dir(b, "etc/");
        file(b, "etc/hostname", 0o644, b"berth\n");
        file(b, "bin/tool", 0o4755, b"#!/bin/sh\n");
        link(b, tar::EntryType::Symlink, "bin/sh", "/bin/busybox");
        link(b, tar::EntryType::Link, "bin/tool-again", "bin/tool");
        dir(b, "var/cache/");
        file(b, "var/cache/old", 0o600, b"stale");
        let mut dev = header(tar::EntryType::Char, 0o666, 0);
        dev.set_device_major(1).unwrap();
        dev.set_device_minor(3).unwrap();
        b.append_data(&mut dev, "dev/null", std::io::empty())
            .unwrap();
        // An xattr carried in a PAX header.
        let mut h = header(tar::EntryType::Regular, 0o644, 1);
        b.append_pax_extensions([("SCHILY.xattr.user.origin", b"layer0".as_slice())])
            .unwrap();
        b.append_data(&mut h, "etc/tagged", b"x".as_slice())
            .unwrap();
    })
}

#[test]
fn keeps_files_modes_owners_links_devices_and_xattrs_in_every_compression() {
    let layer = base_layer();
    let diff_id = Digest::of(&layer);
    for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
        let blob = compress(&layer, compression);
        let dest = tempfile::tempdir().unwrap();
        let unpacked = unpack_layer(blob.as_slice(), compression, dest.path(), &[]).unwrap();
        assert_eq!(unpacked.diff_id, diff_id, "{compression:?}");
        assert_eq!(unpacked.digest, Digest::of(&blob));
        assert_eq!(unpacked.size, blob.len() as u64);

        let root = dest.path();
        assert_eq!(fs::read(root.join("etc/hostname")).unwrap(), b"berth\n");
        let tool = fs::metadata(root.join("bin/tool")).unwrap();
        assert_eq!(
            tool.permissions().mode() & 0o7777,
            0o4755,
            "setuid kept after chown"
        );
        assert_eq!((tool.uid(), tool.gid()), (1000, 1001));
        assert_eq!(tool.mtime(), 1_600_000_000);
        assert_eq!(
            tool.ino(),
            fs::metadata(root.join("bin/tool-again")).unwrap().ino()
        );
        assert_eq!(
            fs::read_link(root.join("bin/sh")).unwrap(),
            Path::new("/bin/busybox")
        );
        let etc = fs::metadata(root.join("etc")).unwrap();
        assert_eq!(
            (etc.permissions().mode() & 0o7777, etc.mtime()),
            (0o750, 1_600_000_000)
        );
        let null = fs::metadata(root.join("dev/null")).unwrap();
        assert!(null.file_type().is_char_device());
        assert_eq!(null.rdev(), rustix::fs::makedev(1, 3));
        let origin = xattr(&root.join("etc/tagged"), "user.origin");
        assert_eq!(origin.as_deref(), Some(b"layer0".as_slice()));
    }
}

#[test]
fn whiteouts_and_opaque_directories_become_overlay_markers() {
    let layer = tar(|b| {
        file(b, "etc/.wh.hostname", 0o644, b"");
        dir(b, "var/cache/");
        file(b, "var/cache/.wh..wh..opq", 0o644, b"");
        file(b, "var/cache/new", 0o644, b"fresh");
    });
    let dest = tempfile::tempdir().unwrap();
    unpack_layer(layer.as_slice(), Compression::None, dest.path(), &[]).unwrap();
    let whiteout = fs::symlink_metadata(dest.path().join("etc/hostname")).unwrap();
    assert!(whiteout.file_type().is_char_device());
    assert_eq!(whiteout.rdev(), 0);
    assert!(!dest.path().join("etc/.wh.hostname").exists());
    assert_eq!(
        xattr(&dest.path().join("var/cache"), "trusted.overlay.opaque").as_deref(),
        Some(b"y".as_slice())
    );
    assert!(!dest.path().join("var/cache/.wh..wh..opq").exists());
}

#[test]
fn a_hard_link_into_a_lower_layer_gets_a_copy() {
    let lower = tempfile::tempdir().unwrap();
    unpack_layer(
        base_layer().as_slice(),
        Compression::None,
        lower.path(),
        &[],
    )
    .unwrap();
    let layer = tar(|b| link(b, tar::EntryType::Link, "etc/hostname-link", "etc/hostname"));
    let dest = tempfile::tempdir().unwrap();
    unpack_layer(
        layer.as_slice(),
        Compression::None,
        dest.path(),
        &[lower.path().to_path_buf()],
    )
    .unwrap();
    assert_eq!(
        fs::read(dest.path().join("etc/hostname-link")).unwrap(),
        b"berth\n"
    );

    let dangling = tar(|b| link(b, tar::EntryType::Link, "x", "nowhere"));
    let dest = tempfile::tempdir().unwrap();
    let err = unpack_layer(dangling.as_slice(), Compression::None, dest.path(), &[]).unwrap_err();
    assert!(
        matches!(err, UnpackError::MissingLinkTarget { .. }),
        "{err}"
    );
}

#[test]
fn entries_cannot_escape_the_layer() {
    let outside = tempfile::tempdir().unwrap();
    let through_symlink = tar(|b| {
        link(
            b,
            tar::EntryType::Symlink,
            "evil",
            outside.path().to_str().unwrap(),
        );
        file(b, "evil/planted", 0o644, b"gotcha");
    });
    let dest = tempfile::tempdir().unwrap();
    let err = unpack_layer(
        through_symlink.as_slice(),
        Compression::None,
        dest.path(),
        &[],
    )
    .unwrap_err();
    assert!(matches!(err, UnpackError::ThroughSymlink(_)), "{err}");
    assert!(!outside.path().join("planted").exists());

    // `..` cannot even be written with tar::Builder's safe API: craft the header by hand.
    let mut h = header(tar::EntryType::Regular, 0o644, 1);
    h.as_gnu_mut().unwrap().name[..12].copy_from_slice(b"../escapee\0\0");
    h.set_cksum();
    let mut raw = h.as_bytes().to_vec();
    raw.extend_from_slice(&[b'x'; 512]);
    raw.extend_from_slice(&[0; 1024]);
    let dest = tempfile::tempdir().unwrap();
    let err = unpack_layer(raw.as_slice(), Compression::None, dest.path(), &[]).unwrap_err();
    assert!(matches!(err, UnpackError::Escapes(_)), "{err}");
}

#[test]
fn a_truncated_stream_is_an_error() {
    let blob = compress(&base_layer(), Compression::Gzip);
    let cut = &blob[..blob.len() / 2];
    let dest = tempfile::tempdir().unwrap();
    assert!(matches!(
        unpack_layer(cut, Compression::Gzip, dest.path(), &[]),
        Err(UnpackError::Read(_))
    ));
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    let n = rustix::fs::lgetxattr(path, name, &mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

//! Unpacking one layer blob into its own directory, in the form overlayfs reads as a lower
//! layer: OCI whiteouts (`.wh.NAME`) become 0:0 character devices and opaque markers
//! (`.wh..wh..opq`) become the `trusted.overlay.opaque=y` xattr, as containerd's and Docker's
//! overlay snapshotters store them.
//!
//! The blob is decompressed and unpacked while it streams in; the compressed digest and the
//! uncompressed digest (the diff id) are computed on the way, so the caller can refuse a layer
//! whose bytes do not match before anyone uses it. Modes, ownership, timestamps, symlinks, hard
//! links, device nodes and xattrs are kept. Entries may not escape the layer directory, neither
//! by `..` nor by writing through a symlink the layer itself created.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, CWD, FileType, Mode, Timespec, Timestamps};

use crate::digest::{Digest, HashingReader};
use crate::manifest::Compression;

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// What unpacking a layer found out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpacked {
    /// The digest of the blob as it arrived (compressed).
    pub digest: Digest,
    /// Its size.
    pub size: u64,
    /// The digest of the uncompressed tar: the layer's diff id.
    pub diff_id: Digest,
    /// The uncompressed tar's size.
    pub tar_size: u64,
}

/// Why a layer could not be unpacked.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The stream is not a valid (compressed) tar, or it broke off.
    #[error("the layer is not a readable tar stream")]
    Read(#[source] io::Error),
    /// An entry names a path outside the layer (`..`).
    #[error("layer entry '{0}' points outside the layer")]
    Escapes(PathBuf),
    /// An entry would be written through a symlink.
    #[error("layer entry '{0}' would be written through a symlink")]
    ThroughSymlink(PathBuf),
    /// A hard link to nothing in this layer or below.
    #[error("layer entry '{path}' is a hard link to '{target}', which does not exist")]
    MissingLinkTarget {
        /// The link.
        path: PathBuf,
        /// Its target.
        target: PathBuf,
    },
    /// The filesystem refused a write.
    #[error("cannot write '{path}' while unpacking a layer")]
    Write {
        /// The path written.
        path: PathBuf,
        /// What the kernel said.
        #[source]
        source: io::Error,
    },
}

/// Unpacks the layer blob read from `blob` into the empty directory `dest`. `lowers` are the
/// already unpacked layers below it, nearest first, where hard links may point.
pub fn unpack_layer(
    blob: impl Read,
    compression: Compression,
    dest: &Path,
    lowers: &[PathBuf],
) -> Result<Unpacked, UnpackError> {
    let mut compressed = HashingReader::new(blob);
    let (diff_id, tar_size) = {
        let decoder: Box<dyn Read + '_> = match compression {
            Compression::None => Box::new(&mut compressed),
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(&mut compressed)),
            Compression::Zstd => Box::new(
                zstd::stream::read::Decoder::new(&mut compressed).map_err(UnpackError::Read)?,
            ),
        };
        let mut uncompressed = HashingReader::new(decoder);
        let mut unpacker = Unpacker {
            root: dest.to_path_buf(),
            lowers,
            safe_dirs: HashSet::new(),
            directories: Vec::new(),
        };
        unpacker.run(&mut uncompressed)?;
        // Past the tar's end-of-archive blocks there may be padding: it is part of the blob.
        io::copy(&mut uncompressed, &mut io::sink()).map_err(UnpackError::Read)?;
        uncompressed.finish()
    };
    io::copy(&mut compressed, &mut io::sink()).map_err(UnpackError::Read)?;
    let (digest, size) = compressed.finish();
    Ok(Unpacked {
        digest,
        size,
        diff_id,
        tar_size,
    })
}

struct Unpacker<'a> {
    root: PathBuf,
    lowers: &'a [PathBuf],
    /// Directories known to be real directories inside the layer.
    safe_dirs: HashSet<PathBuf>,
    /// Directory metadata, applied last so that creating children does not undo mtimes.
    directories: Vec<(PathBuf, Metadata)>,
}

#[derive(Clone, Copy)]
struct Metadata {
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
}

impl Unpacker<'_> {
    fn run(&mut self, tar_stream: &mut dyn Read) -> Result<(), UnpackError> {
        let mut archive = tar::Archive::new(tar_stream);
        for entry in archive.entries().map_err(UnpackError::Read)? {
            let mut entry = entry.map_err(UnpackError::Read)?;
            self.apply(&mut entry)?;
        }
        for (path, meta) in self.directories.drain(..).rev() {
            set_metadata(&path, meta, false)?;
        }
        Ok(())
    }

    fn apply(&mut self, entry: &mut tar::Entry<'_, &mut dyn Read>) -> Result<(), UnpackError> {
        let raw_path = entry.path().map_err(UnpackError::Read)?.into_owned();
        let Some(relative) = clean(&raw_path)? else {
            return Ok(()); // the root itself ("./")
        };
        let header = entry.header();
        let kind = header.entry_type();
        let mut meta = Metadata {
            mode: header.mode().map_err(UnpackError::Read)?,
            uid: header.uid().map_err(UnpackError::Read)?,
            gid: header.gid().map_err(UnpackError::Read)?,
            mtime: header.mtime().map_err(UnpackError::Read)?,
        };
        let device = (
            header.device_major().ok().flatten().unwrap_or(0),
            header.device_minor().ok().flatten().unwrap_or(0),
        );
        let link = entry
            .link_name()
            .map_err(UnpackError::Read)?
            .map(|l| l.into_owned());
        let mut xattrs = Vec::new();
        if let Some(extensions) = entry.pax_extensions().map_err(UnpackError::Read)? {
            for extension in extensions {
                let extension = extension.map_err(UnpackError::Read)?;
                let key = extension.key_bytes();
                if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                    xattrs.push((name.to_vec(), extension.value_bytes().to_vec()));
                } else if key == b"uid" || key == b"gid" {
                    let value = std::str::from_utf8(extension.value_bytes())
                        .ok()
                        .and_then(|v| v.parse().ok());
                    match (key, value) {
                        (b"uid", Some(v)) => meta.uid = v,
                        (b"gid", Some(v)) => meta.gid = v,
                        _ => {}
                    }
                }
            }
        }

        let name = relative.file_name().unwrap_or_default();
        let parent = relative.parent().unwrap_or(Path::new(""));
        self.ensure_dir(parent)?;
        if name == OsStr::new(OPAQUE_MARKER) {
            let dir = self.root.join(parent);
            return set_xattr(&dir, OPAQUE_XATTR.as_bytes(), b"y");
        }
        if let Some(hidden) = name.as_bytes().strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
            if hidden.starts_with(WHITEOUT_PREFIX.as_bytes()) {
                return Ok(()); // other AUFS metadata (.wh..wh.plnk ...)
            }
            let target = self.root.join(parent).join(OsStr::from_bytes(hidden));
            self.remove_existing(&target)?;
            return mknod(&target, FileType::CharacterDevice, 0, (0, 0));
        }

        let target = self.root.join(&relative);
        match kind {
            tar::EntryType::Directory => {
                match fs::symlink_metadata(&target) {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => {
                        self.remove_existing(&target)?;
                        create_dir(&target)?;
                    }
                    Err(_) => create_dir(&target)?,
                }
                self.safe_dirs.insert(relative.clone());
                for (key, value) in &xattrs {
                    set_xattr(&target, key, value)?;
                }
                self.directories.push((target, meta));
                return Ok(());
            }
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                self.remove_existing(&target)?;
                let mut file = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&target)
                    .map_err(write_error(&target))?;
                io::copy(entry, &mut file).map_err(UnpackError::Read)?;
            }
            tar::EntryType::Symlink => {
                self.remove_existing(&target)?;
                let link = link.unwrap_or_default();
                std::os::unix::fs::symlink(&link, &target).map_err(write_error(&target))?;
            }
            tar::EntryType::Link => {
                let link = link.unwrap_or_default();
                let link_relative = clean(&link)?.unwrap_or_default();
                self.remove_existing(&target)?;
                self.hard_link(&link_relative, &target)?;
                // A hard link shares its target's metadata; nothing more to set.
                return Ok(());
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                self.remove_existing(&target)?;
                let file_type = match kind {
                    tar::EntryType::Char => FileType::CharacterDevice,
                    tar::EntryType::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                mknod(&target, file_type, meta.mode, device)?;
            }
            // PAX and GNU long-name headers are consumed by the tar reader; anything else
            // (sockets cannot be archived) carries no file.
            _ => return Ok(()),
        }
        for (key, value) in &xattrs {
            set_xattr(&target, key, value)?;
        }
        set_metadata(&target, meta, kind == tar::EntryType::Symlink)
    }

    /// Makes sure every component of `relative` is a real directory of this layer, creating
    /// missing ones; refuses symlinks so nothing is written outside the layer.
    fn ensure_dir(&mut self, relative: &Path) -> Result<(), UnpackError> {
        let mut current = PathBuf::new();
        for component in relative.components() {
            current.push(component);
            if self.safe_dirs.contains(&current) {
                continue;
            }
            let full = self.root.join(&current);
            match fs::symlink_metadata(&full) {
                Ok(m) if m.is_dir() => {}
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(UnpackError::ThroughSymlink(current));
                }
                Ok(_) => {
                    // A file in the way of a directory: the later entry wins, as in Docker.
                    fs::remove_file(&full).map_err(write_error(&full))?;
                    create_dir(&full)?;
                }
                Err(_) => create_dir(&full)?,
            }
            self.safe_dirs.insert(current.clone());
        }
        Ok(())
    }

    fn remove_existing(&mut self, target: &Path) -> Result<(), UnpackError> {
        match fs::symlink_metadata(target) {
            Ok(m) if m.is_dir() => {
                fs::remove_dir_all(target).map_err(write_error(target))?;
                // Directories below it are gone too.
                self.safe_dirs.clear();
                Ok(())
            }
            Ok(_) => fs::remove_file(target).map_err(write_error(target)),
            Err(_) => Ok(()),
        }
    }

    fn hard_link(&self, link_relative: &Path, target: &Path) -> Result<(), UnpackError> {
        let in_layer = self.root.join(link_relative);
        if fs::symlink_metadata(&in_layer).is_ok() {
            return fs::hard_link(&in_layer, target).map_err(write_error(target));
        }
        // A link to a file of a lower layer: this layer gets its own copy, which is what the
        // merged view shows.
        for lower in self.lowers {
            let source = lower.join(link_relative);
            if let Ok(m) = fs::symlink_metadata(&source)
                && m.is_file()
            {
                fs::copy(&source, target).map_err(write_error(target))?;
                let meta = Metadata {
                    mode: m.permissions().mode(),
                    uid: u64::from(std::os::unix::fs::MetadataExt::uid(&m)),
                    gid: u64::from(std::os::unix::fs::MetadataExt::gid(&m)),
                    mtime: std::os::unix::fs::MetadataExt::mtime(&m).max(0) as u64,
                };
                return set_metadata(target, meta, false);
            }
        }
        Err(UnpackError::MissingLinkTarget {
            path: target
                .strip_prefix(&self.root)
                .unwrap_or(target)
                .to_path_buf(),
            target: link_relative.to_path_buf(),
        })
    }
}

/// `path` relative to the layer root without `.`; `None` for the root; an error for `..`
/// or anything else that leaves the root.
fn clean(path: &Path) -> Result<Option<PathBuf>, UnpackError> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(UnpackError::Escapes(path.to_path_buf()));
            }
        }
    }
    Ok((!out.as_os_str().is_empty()).then_some(out))
}

fn write_error(path: &Path) -> impl FnOnce(io::Error) -> UnpackError + '_ {
    move |source| UnpackError::Write {
        path: path.to_path_buf(),
        source,
    }
}

fn create_dir(path: &Path) -> Result<(), UnpackError> {
    fs::create_dir(path).map_err(write_error(path))
}

fn mknod(
    path: &Path,
    file_type: FileType,
    mode: u32,
    (major, minor): (u32, u32),
) -> Result<(), UnpackError> {
    rustix::fs::mknodat(
        CWD,
        path,
        file_type,
        Mode::from_raw_mode(mode & 0o7777),
        rustix::fs::makedev(major, minor),
    )
    .map_err(|e| write_error(path)(e.into()))
}

fn set_xattr(path: &Path, name: &[u8], value: &[u8]) -> Result<(), UnpackError> {
    let name = OsStr::from_bytes(name);
    rustix::fs::lsetxattr(path, name, value, rustix::fs::XattrFlags::empty())
        .map_err(|e| write_error(path)(e.into()))
}

fn set_metadata(path: &Path, meta: Metadata, is_symlink: bool) -> Result<(), UnpackError> {
    let to_id = |id: u64| u32::try_from(id).unwrap_or(u32::MAX);
    std::os::unix::fs::lchown(path, Some(to_id(meta.uid)), Some(to_id(meta.gid)))
        .map_err(write_error(path))?;
    if !is_symlink {
        // After chown, which clears setuid/setgid bits.
        fs::set_permissions(path, fs::Permissions::from_mode(meta.mode & 0o7777))
            .map_err(write_error(path))?;
    }
    let time = Timespec {
        tv_sec: i64::try_from(meta.mtime).unwrap_or(i64::MAX),
        tv_nsec: 0,
    };
    let times = Timestamps {
        last_access: time,
        last_modification: time,
    };
    rustix::fs::utimensat(CWD, path, &times, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| write_error(path)(e.into()))
}

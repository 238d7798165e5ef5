//! Mounting and unmounting overlay filesystems.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// An overlay mount: read-only lower layers (topmost first) under a writable upper layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverlayMount {
    /// Lower directories, topmost first (overlayfs's `lowerdir` order).
    pub lowers: Vec<PathBuf>,
    /// The writable layer.
    pub upper: PathBuf,
    /// overlayfs's scratch directory, on the same filesystem as `upper`.
    pub work: PathBuf,
    /// Where the merged view appears.
    pub target: PathBuf,
}

/// Why a mount or unmount failed.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    /// The overlay could not be mounted.
    #[error("cannot mount an overlay on {target}")]
    Mount {
        /// The mount point.
        target: PathBuf,
        /// What the kernel said.
        #[source]
        source: std::io::Error,
    },
    /// The option string is longer than the kernel takes (one page).
    #[error(
        "the overlay on {target} needs {len} bytes of mount options; the kernel takes at most 4095"
    )]
    OptionsTooLong {
        /// The mount point.
        target: PathBuf,
        /// How long they were.
        len: usize,
    },
    /// The mount could not be removed.
    #[error("cannot unmount {target}")]
    Unmount {
        /// The mount point.
        target: PathBuf,
        /// What the kernel said.
        #[source]
        source: std::io::Error,
    },
}

/// Mounts and unmounts.
pub trait Mounter: Send + Sync + 'static {
    /// Mounts `overlay`.
    fn mount_overlay(&self, overlay: &OverlayMount) -> Result<(), MountError>;
    /// Unmounts whatever is mounted on `target` (lazily if it is busy).
    fn unmount(&self, target: &Path) -> Result<(), MountError>;
    /// True when something is mounted on `target`.
    fn is_mounted(&self, target: &Path) -> bool;
}

/// The real kernel.
#[derive(Debug, Default, Clone, Copy)]
pub struct LinuxMounter;

impl Mounter for LinuxMounter {
    fn mount_overlay(&self, overlay: &OverlayMount) -> Result<(), MountError> {
        let lowers: Vec<String> = overlay
            .lowers
            .iter()
            .map(|p| escape_option(&p.to_string_lossy()))
            .collect();
        let options = format!(
            "lowerdir={},upperdir={},workdir={}",
            lowers.join(":"),
            escape_option(&overlay.upper.to_string_lossy()),
            escape_option(&overlay.work.to_string_lossy()),
        );
        if options.len() >= 4096 {
            return Err(MountError::OptionsTooLong {
                target: overlay.target.clone(),
                len: options.len(),
            });
        }
        let options = std::ffi::CString::new(options).map_err(|e| MountError::Mount {
            target: overlay.target.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e),
        })?;
        rustix::mount::mount(
            "overlay",
            &overlay.target,
            "overlay",
            rustix::mount::MountFlags::empty(),
            Some(options.as_c_str()),
        )
        .map_err(|e| MountError::Mount {
            target: overlay.target.clone(),
            source: e.into(),
        })
    }

    fn unmount(&self, target: &Path) -> Result<(), MountError> {
        match rustix::mount::unmount(target, rustix::mount::UnmountFlags::empty()) {
            Ok(()) => Ok(()),
            Err(rustix::io::Errno::BUSY) => {
                // Something still holds it open: detach now, the kernel frees it when released.
                rustix::mount::unmount(target, rustix::mount::UnmountFlags::DETACH).map_err(|e| {
                    MountError::Unmount {
                        target: target.to_path_buf(),
                        source: e.into(),
                    }
                })
            }
            Err(e) => Err(MountError::Unmount {
                target: target.to_path_buf(),
                source: e.into(),
            }),
        }
    }

    fn is_mounted(&self, target: &Path) -> bool {
        let Ok(mounts) = std::fs::read_to_string("/proc/self/mountinfo") else {
            return false;
        };
        let target = target.to_string_lossy();
        mounts
            .lines()
            .filter_map(|line| line.split(' ').nth(4))
            .any(|mount_point| unescape_mountinfo(mount_point) == target)
    }
}

/// overlayfs splits options on ',' and lower dirs on ':'; both must be escaped in paths.
fn escape_option(path: &str) -> String {
    path.replace('\\', "\\\\")
        .replace(':', "\\:")
        .replace(',', "\\,")
}

/// /proc/self/mountinfo writes space, tab, newline and backslash as octal escapes.
fn unescape_mountinfo(field: &str) -> String {
    field
        .replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// One call a [`RecordingMounter`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordedMount {
    /// `mount_overlay`.
    Mount(OverlayMount),
    /// `unmount`.
    Unmount(PathBuf),
}

/// Records calls and keeps a table of what is "mounted"; for unit tests without root.
#[derive(Debug, Default)]
pub struct RecordingMounter {
    calls: Mutex<Vec<RecordedMount>>,
    fail_mounts: bool,
}

impl RecordingMounter {
    /// A recorder whose mounts fail, to test rollback.
    pub fn failing() -> Self {
        Self {
            calls: Mutex::new(Vec::new()),
            fail_mounts: true,
        }
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<RecordedMount> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Mounter for RecordingMounter {
    fn mount_overlay(&self, overlay: &OverlayMount) -> Result<(), MountError> {
        if self.fail_mounts {
            return Err(MountError::Mount {
                target: overlay.target.clone(),
                source: std::io::Error::other("recorded failure"),
            });
        }
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(RecordedMount::Mount(overlay.clone()));
        Ok(())
    }

    fn unmount(&self, target: &Path) -> Result<(), MountError> {
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(RecordedMount::Unmount(target.to_path_buf()));
        Ok(())
    }

    fn is_mounted(&self, target: &Path) -> bool {
        let calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        let mut mounted = false;
        for call in calls.iter() {
            match call {
                RecordedMount::Mount(m) if m.target == target => mounted = true,
                RecordedMount::Unmount(t) if t == target => mounted = false,
                _ => {}
            }
        }
        mounted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_escaped() {
        assert_eq!(escape_option("/a:b,c\\d"), "/a\\:b\\,c\\\\d");
        assert_eq!(unescape_mountinfo("/x\\040y"), "/x y");
    }

    /// The real kernel, as root: an overlay of two lowers shows the top one's files first,
    /// writes land in upper, and unmount leaves nothing mounted.
    #[test]
    fn linux_overlay_mounts_and_unmounts() {
        let dir = tempfile::tempdir().unwrap();
        let path = |p: &str| dir.path().join(p);
        for d in ["low1", "low2", "upper", "work", "merged"] {
            std::fs::create_dir(path(d)).unwrap();
        }
        std::fs::write(path("low1/f"), "top").unwrap();
        std::fs::write(path("low2/f"), "bottom").unwrap();
        std::fs::write(path("low2/g"), "only-bottom").unwrap();
        let overlay = OverlayMount {
            lowers: vec![path("low1"), path("low2")],
            upper: path("upper"),
            work: path("work"),
            target: path("merged"),
        };
        let mounter = LinuxMounter;
        mounter.mount_overlay(&overlay).unwrap();
        assert!(mounter.is_mounted(&path("merged")));
        assert_eq!(std::fs::read_to_string(path("merged/f")).unwrap(), "top");
        assert_eq!(
            std::fs::read_to_string(path("merged/g")).unwrap(),
            "only-bottom"
        );
        std::fs::write(path("merged/new"), "written").unwrap();
        mounter.unmount(&path("merged")).unwrap();
        assert!(!mounter.is_mounted(&path("merged")));
        assert_eq!(
            std::fs::read_to_string(path("upper/new")).unwrap(),
            "written"
        );
    }
}

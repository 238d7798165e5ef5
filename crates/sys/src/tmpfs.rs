//! A tmpfs for state that must outlive a process but not the machine: files made and removed
//! for every task (plans, states, sockets, OCI bundles) cost nothing to allocate there, unlike
//! on a disk filesystem (ext4 without a journal scans past every recently freed inode).

use std::path::Path;

use crate::MountError;

/// What statfs(2) calls a tmpfs.
const TMPFS_MAGIC: i64 = 0x0102_1994;

/// Makes sure `dir` is on a tmpfs: mounts one of at most `size_mib` MiB (mode 0700) there
/// unless it already is one. Returns whether it mounted one.
pub fn ensure_tmpfs(dir: &Path, size_mib: u64) -> Result<bool, MountError> {
    let failed = |source: std::io::Error| MountError::Mount {
        target: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(failed)?;
    if is_tmpfs(dir) {
        return Ok(false);
    }
    let options = std::ffi::CString::new(format!("size={size_mib}m,mode=0700"))
        .map_err(|e| failed(std::io::Error::new(std::io::ErrorKind::InvalidInput, e)))?;
    rustix::mount::mount(
        "tmpfs",
        dir,
        "tmpfs",
        rustix::mount::MountFlags::NOSUID | rustix::mount::MountFlags::NODEV,
        Some(options.as_c_str()),
    )
    .map_err(|e| failed(e.into()))?;
    Ok(true)
}

/// True when `dir` is on a tmpfs.
// statfs's f_type is an i64 on x86-64 but narrower elsewhere: the conversion is for those.
#[allow(clippy::useless_conversion)]
pub fn is_tmpfs(dir: &Path) -> bool {
    rustix::fs::statfs(dir).is_ok_and(|stat| i64::from(stat.f_type) == TMPFS_MAGIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_disk_directory_is_not_a_tmpfs_and_dev_shm_is() {
        assert!(!is_tmpfs(Path::new(env!("CARGO_MANIFEST_DIR"))) || is_tmpfs(Path::new("/")));
        if Path::new("/dev/shm").is_dir() {
            assert!(is_tmpfs(Path::new("/dev/shm")));
        }
    }
}

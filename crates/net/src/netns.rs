//! Named network namespaces (`/run/netns/NAME`), created and removed with iproute2.

use std::path::PathBuf;
use std::process::Command;

/// Where iproute2 keeps named network namespaces.
const NETNS_DIR: &str = "/run/netns";

/// A named network namespace with its loopback interface up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkNamespace {
    name: String,
}

/// Why a namespace could not be created or removed.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    /// The name would not be a single path component.
    #[error("'{0}' is not a valid network namespace name")]
    InvalidName(String),
    /// `ip` is missing or failed.
    #[error("`ip {args}` failed: {reason}")]
    Command {
        /// The arguments.
        args: String,
        /// What it said.
        reason: String,
    },
}

impl NetworkNamespace {
    /// Creates namespace `name` and brings its loopback up; an existing one of that name is
    /// reused (a task being started again after a crash).
    pub fn create(name: &str) -> Result<Self, NetnsError> {
        if name.is_empty()
            || name.len() > 64
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(NetnsError::InvalidName(name.to_owned()));
        }
        let namespace = Self {
            name: name.to_owned(),
        };
        if !namespace.path().exists() {
            ip(&["netns", "add", name])?;
        }
        ip(&["-n", name, "link", "set", "lo", "up"])?;
        Ok(namespace)
    }

    /// The namespace file containers join.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(NETNS_DIR).join(&self.name)
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Removes the namespace; removing one that is gone is not an error.
    pub fn remove(self) -> Result<(), NetnsError> {
        if self.path().exists() {
            ip(&["netns", "delete", &self.name])?;
        }
        Ok(())
    }
}

fn ip(args: &[&str]) -> Result<(), NetnsError> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| NetnsError::Command {
            args: args.join(" "),
            reason: format!("cannot run ip (install iproute2): {e}"),
        })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(NetnsError::Command {
            args: args.join(" "),
            reason: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As root: create, find loopback up inside, remove, leave nothing.
    #[test]
    fn create_and_remove() {
        let name = format!("berth-test-{}", std::process::id());
        let namespace = NetworkNamespace::create(&name).unwrap();
        assert!(namespace.path().exists());
        let output = Command::new("ip")
            .args(["-n", &name, "-o", "link", "show", "lo"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(text.contains("UP") || text.contains("LOWER_UP"), "{text}");
        // Creating it again reuses it.
        NetworkNamespace::create(&name).unwrap();
        namespace.clone().remove().unwrap();
        assert!(!namespace.path().exists());
        namespace.remove().unwrap();
        assert!(matches!(
            NetworkNamespace::create("../x"),
            Err(NetnsError::InvalidName(_))
        ));
    }
}

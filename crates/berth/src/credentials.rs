//! Access keys on disk, in the aws CLI's shared-credentials format: the administrator key
//! `berth up` writes at first start (`DATA_DIR/credentials`, profile `berth`, mode 0600), and
//! the chain the `berth` CLI signs with — the environment, then the shared credentials file
//! (`$AWS_SHARED_CREDENTIALS_FILE` or `~/.aws/credentials`, profile `$AWS_PROFILE` or
//! `default`), then the server's own file when it is readable.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use berth_control::iam::NewAccessKey;
use berth_sigv4::sign::Credentials;

/// The file `berth up` writes its administrator key to, in its data directory.
pub const CREDENTIALS_FILE: &str = "credentials";

/// The profile that key is under.
pub const PROFILE: &str = "berth";

/// Writes `key` to `path` under [`PROFILE`], mode 0600, replacing the file whole (written
/// beside it, then renamed, so a crash leaves the old file or the new one, never half).
pub fn write(path: &Path, key: &NewAccessKey) -> anyhow::Result<()> {
    let text = format!(
        "# The administrator access key of berth's account {}, made by `berth up` at its first\n\
         # start. Use it with: export AWS_SHARED_CREDENTIALS_FILE={} AWS_PROFILE={PROFILE}\n\
         [{PROFILE}]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
        key.account_id,
        path.display(),
        key.access_key_id,
        key.secret_access_key
    );
    let temporary = path.with_extension("new");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// The keys of `profile` in the shared-credentials text `text`, if it has them.
pub fn parse_profile(text: &str, profile: &str) -> Option<Credentials> {
    let mut in_profile = false;
    let (mut key, mut secret, mut token) = (None, None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_profile = name.trim() == profile;
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        if !in_profile {
            continue;
        }
        let value = Some(value.trim().to_owned());
        match name.trim() {
            "aws_access_key_id" => key = value,
            "aws_secret_access_key" => secret = value,
            "aws_session_token" => token = value,
            _ => {}
        }
    }
    Some(Credentials {
        access_key_id: key?,
        secret_access_key: secret?,
        session_token: token,
    })
}

/// Where the CLI finds its credentials, as the AWS SDKs look.
pub struct Chain<'a> {
    /// Reads an environment variable (empty counts as unset).
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// The server's data directory, whose credentials file comes last.
    pub server_data_dir: Option<PathBuf>,
}

impl Chain<'_> {
    /// The first credentials found, or `None` (requests then go unsigned, and a server that
    /// wants signatures says so).
    pub fn resolve(&self) -> Option<Credentials> {
        let env = self.env;
        if let (Some(access_key_id), Some(secret_access_key)) =
            (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"))
        {
            return Some(Credentials {
                access_key_id,
                secret_access_key,
                session_token: env("AWS_SESSION_TOKEN"),
            });
        }
        let shared = env("AWS_SHARED_CREDENTIALS_FILE")
            .map(PathBuf::from)
            .or_else(|| env("HOME").map(|home| Path::new(&home).join(".aws/credentials")));
        let profile = env("AWS_PROFILE").unwrap_or_else(|| "default".to_owned());
        let from_shared = shared
            .and_then(|path| std::fs::read_to_string(path).ok())
            .and_then(|text| parse_profile(&text, &profile));
        from_shared.or_else(|| {
            let path = self.server_data_dir.as_ref()?.join(CREDENTIALS_FILE);
            parse_profile(&std::fs::read_to_string(path).ok()?, PROFILE)
        })
    }
}

/// The key berth seals secrets at rest with (`DATA_DIR/sealing.key`, 32 bytes, mode 0600),
/// made at first start.
pub fn sealing_key(data_dir: &Path) -> anyhow::Result<[u8; berth_control::sealing::KEY_BYTES]> {
    let path = data_dir.join("sealing.key");
    match std::fs::read(&path) {
        Ok(bytes) => bytes.try_into().map_err(|bytes: Vec<u8>| {
            anyhow::anyhow!(
                "{} holds {} bytes, not a {}-byte key: it is damaged; without it the access \
                 keys and secrets in the store cannot be read",
                path.display(),
                bytes.len(),
                berth_control::sealing::KEY_BYTES
            )
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let key = berth_control::sealing::Sealer::generate_key()?;
            let temporary = path.with_extension("new");
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&temporary)
                .with_context(|| format!("cannot write {}", temporary.display()))?;
            file.write_all(&key)?;
            file.sync_all()?;
            std::fs::rename(&temporary, &path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(key)
        }
        Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn profiles_are_read_as_the_aws_cli_writes_them() {
        let text = "[default]\naws_access_key_id=AKIADEFAULT\naws_secret_access_key = s1\n\
                    # comment\n[berth]\naws_access_key_id = AKIABERTH\n\
                    aws_secret_access_key = s2\naws_session_token = t\n[half]\naws_access_key_id = X\n";
        let berth = parse_profile(text, "berth").unwrap();
        assert_eq!(berth.access_key_id, "AKIABERTH");
        assert_eq!(berth.session_token.as_deref(), Some("t"));
        assert_eq!(
            parse_profile(text, "default").unwrap().secret_access_key,
            "s1"
        );
        assert!(parse_profile(text, "half").is_none());
        assert!(parse_profile(text, "missing").is_none());
    }

    #[test]
    fn the_chain_takes_the_environment_then_the_shared_file_then_the_servers() {
        let dir = tempfile::tempdir().unwrap();
        let key = NewAccessKey {
            account_id: "111122223333".into(),
            user_name: None,
            access_key_id: "AKIASERVER".into(),
            secret_access_key: "secret".into(),
            create_date: berth_model::Timestamp::now(),
        };
        write(&dir.path().join(CREDENTIALS_FILE), &key).unwrap();
        let mode = std::fs::metadata(dir.path().join(CREDENTIALS_FILE)).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
            0o600
        );
        let resolve = |vars: &[(&str, &str)]| {
            let vars: HashMap<String, String> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let env = move |name: &str| vars.get(name).cloned();
            Chain {
                env: &env,
                server_data_dir: Some(dir.path().to_owned()),
            }
            .resolve()
            .map(|c| c.access_key_id)
        };
        assert_eq!(resolve(&[]).as_deref(), Some("AKIASERVER"));
        assert_eq!(
            resolve(&[
                ("AWS_ACCESS_KEY_ID", "AKIAENV"),
                ("AWS_SECRET_ACCESS_KEY", "x")
            ])
            .as_deref(),
            Some("AKIAENV")
        );
        let shared = dir.path().join("shared");
        std::fs::write(
            &shared,
            "[team]\naws_access_key_id=AKIATEAM\naws_secret_access_key=y\n",
        )
        .unwrap();
        let shared = shared.to_str().unwrap();
        assert_eq!(
            resolve(&[
                ("AWS_SHARED_CREDENTIALS_FILE", shared),
                ("AWS_PROFILE", "team")
            ])
            .as_deref(),
            Some("AKIATEAM")
        );
        // A shared file without the profile falls through to the server's.
        assert_eq!(
            resolve(&[("AWS_SHARED_CREDENTIALS_FILE", shared)]).as_deref(),
            Some("AKIASERVER")
        );
    }
}

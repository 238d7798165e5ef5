//! What runs in a container, decided as Docker decides it: the command line from the image's
//! Entrypoint/Cmd and the task definition's entryPoint/command, the environment from the image,
//! the task definition and the overrides, the working directory, and the user resolved
//! against the container's own `/etc/passwd` and `/etc/group`.

/// Docker's default PATH, set when the image has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Why a container's process cannot be decided.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcessError {
    /// Neither the image nor the task definition says what to run.
    #[error(
        "no command specified: the image has no Entrypoint or Cmd and the container definition no entryPoint or command"
    )]
    NoCommand,
    /// A user name the image's /etc/passwd does not have.
    #[error("unable to find user {0}: no matching entries in passwd file")]
    UnknownUser(String),
    /// A group name the image's /etc/group does not have.
    #[error("unable to find group {0}: no matching entries in group file")]
    UnknownGroup(String),
}

/// The command line: Docker's rule is that an entrypoint given by the container definition
/// replaces the image's Entrypoint *and* drops the image's Cmd; a command given by the
/// container definition replaces the image's Cmd only.
pub fn command_line(
    image_entrypoint: Option<&[String]>,
    image_cmd: Option<&[String]>,
    entry_point: Option<&[String]>,
    command: Option<&[String]>,
) -> Result<Vec<String>, ProcessError> {
    let (entrypoint, cmd) = match entry_point {
        Some(entry_point) => (entry_point, command.unwrap_or_default()),
        None => (
            image_entrypoint.unwrap_or_default(),
            command.or(image_cmd).unwrap_or_default(),
        ),
    };
    let args: Vec<String> = entrypoint.iter().chain(cmd).cloned().collect();
    if args.is_empty() {
        return Err(ProcessError::NoCommand);
    }
    Ok(args)
}

/// The environment: the image's, then each later layer (task definition, then overrides)
/// replacing variables by name and adding new ones, with Docker's PATH when none is set and
/// HOSTNAME set to the container's hostname.
pub fn environment(
    image: &[String],
    layers: &[&[(String, String)]],
    hostname: &str,
) -> Vec<String> {
    let mut vars: Vec<(String, String)> = image
        .iter()
        .map(|entry| match entry.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (entry.clone(), String::new()),
        })
        .collect();
    let mut set = |key: &str, value: &str| match vars.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = value.to_owned(),
        None => vars.push((key.to_owned(), value.to_owned())),
    };
    for layer in layers {
        for (key, value) in *layer {
            set(key, value);
        }
    }
    if !vars.iter().any(|(k, _)| k == "PATH") {
        vars.insert(0, ("PATH".to_owned(), DEFAULT_PATH.to_owned()));
    }
    if !vars.iter().any(|(k, _)| k == "HOSTNAME") {
        vars.push(("HOSTNAME".to_owned(), hostname.to_owned()));
    }
    vars.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// A resolved user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The uid.
    pub uid: u32,
    /// The primary gid.
    pub gid: u32,
    /// Supplementary groups from /etc/group.
    pub additional_gids: Vec<u32>,
    /// The home directory (for HOME), `/` when unknown.
    pub home: String,
}

/// Resolves `spec` (`""`, `name`, `uid`, `name:group`, `uid:gid`, ...) against the contents of
/// the container's /etc/passwd and /etc/group (empty when the files do not exist). Numeric
/// ids need no entry, as in Docker.
pub fn resolve_user(spec: &str, passwd: &str, group: &str) -> Result<User, ProcessError> {
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user_part = if user_part.is_empty() { "0" } else { user_part };
    let entries: Vec<Vec<&str>> = passwd
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 7)
        .collect();
    let entry = entries
        .iter()
        .find(|f| f[0] == user_part || (user_part.parse::<u32>().is_ok() && f[2] == user_part));
    let (uid, mut gid, home, name) = match (entry, user_part.parse::<u32>()) {
        (Some(f), _) => (
            f[2].parse().unwrap_or(0),
            f[3].parse().unwrap_or(0),
            f[5].to_owned(),
            Some(f[0].to_owned()),
        ),
        (None, Ok(uid)) => (uid, uid, "/".to_owned(), None),
        (None, Err(_)) => return Err(ProcessError::UnknownUser(user_part.to_owned())),
    };
    let groups: Vec<Vec<&str>> = group
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 3)
        .collect();
    if let Some(group_part) = group_part.filter(|g| !g.is_empty()) {
        gid = match groups.iter().find(|f| f[0] == group_part) {
            Some(f) => f[2].parse().unwrap_or(0),
            None => group_part
                .parse()
                .map_err(|_| ProcessError::UnknownGroup(group_part.to_owned()))?,
        };
    }
    let additional_gids = match &name {
        Some(name) => groups
            .iter()
            .filter(|f| f.len() >= 4 && f[3].split(',').any(|member| member == name))
            .filter_map(|f| f[2].parse().ok())
            .filter(|g| *g != gid)
            .collect(),
        None => Vec::new(),
    };
    Ok(User {
        uid,
        gid,
        additional_gids,
        home: if home.is_empty() {
            "/".to_owned()
        } else {
            home
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn docker_command_rules() {
        let ep = v(&["/entry"]);
        let cmd = v(&["default", "args"]);
        let def_ep = v(&["/override"]);
        let def_cmd = v(&["given"]);
        // (image Entrypoint, image Cmd, definition entryPoint, definition command, result)
        type Args<'a> = Option<&'a [String]>;
        type Case<'a> = (Args<'a>, Args<'a>, Args<'a>, Args<'a>, Option<Vec<String>>);
        let cases: Vec<Case> = vec![
            (
                Some(&ep),
                Some(&cmd),
                None,
                None,
                Some(v(&["/entry", "default", "args"])),
            ),
            (
                Some(&ep),
                Some(&cmd),
                None,
                Some(&def_cmd),
                Some(v(&["/entry", "given"])),
            ),
            (
                Some(&ep),
                Some(&cmd),
                Some(&def_ep),
                None,
                Some(v(&["/override"])),
            ),
            (
                Some(&ep),
                Some(&cmd),
                Some(&def_ep),
                Some(&def_cmd),
                Some(v(&["/override", "given"])),
            ),
            (None, Some(&cmd), None, None, Some(v(&["default", "args"]))),
            (None, None, None, Some(&def_cmd), Some(v(&["given"]))),
            (None, None, None, None, None),
        ];
        for (i, (iep, icmd, dep, dcmd, expected)) in cases.into_iter().enumerate() {
            assert_eq!(
                command_line(iep, icmd, dep, dcmd).ok(),
                expected,
                "case {i}"
            );
        }
    }

    #[test]
    fn environment_layers_override_by_name() {
        let image = v(&["PATH=/bin", "LANG=C", "EMPTY"]);
        let definition = vec![
            ("LANG".to_owned(), "en_US.UTF-8".to_owned()),
            ("APP".to_owned(), "1".to_owned()),
        ];
        let overrides = vec![("APP".to_owned(), "2".to_owned())];
        assert_eq!(
            environment(&image, &[&definition, &overrides], "web-1"),
            v(&[
                "PATH=/bin",
                "LANG=en_US.UTF-8",
                "EMPTY=",
                "APP=2",
                "HOSTNAME=web-1"
            ])
        );
        assert_eq!(
            environment(&[], &[], "h")[0],
            format!("PATH={DEFAULT_PATH}")
        );
    }

    #[test]
    fn users_resolve_like_docker() {
        let passwd =
            "root:x:0:0:root:/root:/bin/sh\nnginx:x:101:101:nginx:/var/cache/nginx:/sbin/nologin\n";
        let group = "root:x:0:\nnginx:x:101:\nadm:x:4:nginx\n";
        let user = |spec: &str| resolve_user(spec, passwd, group);
        assert_eq!(
            user("").unwrap(),
            User {
                uid: 0,
                gid: 0,
                additional_gids: vec![],
                home: "/root".into()
            }
        );
        assert_eq!(
            user("nginx").unwrap(),
            User {
                uid: 101,
                gid: 101,
                additional_gids: vec![4],
                home: "/var/cache/nginx".into()
            }
        );
        assert_eq!(user("101:adm").unwrap().gid, 4);
        assert_eq!(
            user("1000:1000").unwrap(),
            User {
                uid: 1000,
                gid: 1000,
                additional_gids: vec![],
                home: "/".into()
            }
        );
        assert_eq!(
            user("ghost"),
            Err(ProcessError::UnknownUser("ghost".into()))
        );
        assert_eq!(
            user("nginx:nogroup"),
            Err(ProcessError::UnknownGroup("nogroup".into()))
        );
        assert_eq!(resolve_user("5", "", "").unwrap().uid, 5);
    }
}

//! The names this server answers to, as a `Host` header or an `Origin` carries them.
//!
//! DNS rebinding points a name the attacker owns at berth's address, so a web page at that
//! name may call berth as its own origin; what gives it away is the `Host` header, which
//! names the attacker's domain. So berth answers IP literals (rebinding needs a name: a page
//! at `http://127.0.0.1:4580` already *is* berth's origin), `localhost`, and the names its
//! operator listed with `berth up --api-host NAME` — nothing else.

/// The names `berth up` was told it is reached by, beyond addresses and `localhost`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerNames {
    /// Lower case, without a trailing dot.
    names: Vec<String>,
}

/// A name given to `--api-host` that is no host name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{0}' is not a host name: give letters, digits, '-' and '.' only, without a scheme or port"
)]
pub struct InvalidName(pub String);

impl ServerNames {
    /// Only loopback names and IP literals.
    pub fn loopback() -> Self {
        Self::default()
    }

    /// Loopback names, IP literals and `names`.
    pub fn with_names<I, S>(names: I) -> Result<Self, InvalidName>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut listed = Vec::new();
        for name in names {
            let name = name.as_ref();
            let normal = normalize(name);
            if !is_host_name(normal) {
                return Err(InvalidName(name.to_owned()));
            }
            listed.push(normal.to_ascii_lowercase());
        }
        Ok(Self { names: listed })
    }

    /// Whether `host` (a `Host` header's host part, `[...]` around an IPv6 address) is one of
    /// this server's.
    pub fn allows(&self, host: &str) -> bool {
        if is_ip_literal(host) {
            return true;
        }
        let host = normalize(host);
        host.eq_ignore_ascii_case("localhost")
            || self.names.iter().any(|n| n.eq_ignore_ascii_case(host))
    }
}

/// `host[:port]` split, IPv6 addresses keeping their brackets; `None` when it is no
/// authority at all (user info, an empty host, a port that is not a number, stray
/// characters).
pub fn split_authority(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']')? + 1;
        let (host, rest) = authority.split_at(end);
        match rest {
            "" => (host, None),
            _ => (host, Some(rest.strip_prefix(':')?)),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        // An empty port is the default one (RFC 3986 § 3.2.3).
        Some("") | None => None,
        Some(port) if port.bytes().all(|b| b.is_ascii_digit()) => Some(port.parse().ok()?),
        Some(_) => return None,
    };
    (is_ip_literal(host) || is_host_name(normalize(host))).then_some((host, port))
}

/// The same name however it is written: one trailing dot (a fully qualified name) is the
/// same name without it.
fn normalize(host: &str) -> &str {
    host.strip_suffix('.').unwrap_or(host)
}

/// An IPv4 address in dotted-quad form or an IPv6 address in brackets.
fn is_ip_literal(host: &str) -> bool {
    match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => host.parse::<std::net::Ipv4Addr>().is_ok(),
    }
}

/// Labels of letters, digits, '-' and '_' (which some private zones use) joined by dots.
fn is_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_localhost_and_listed_names_are_this_servers() {
        let names = ServerNames::with_names(["Berth.Example.", "ops"]).unwrap();
        let cases = [
            ("127.0.0.1", true),
            ("127.8.9.10", true),
            ("[::1]", true),
            // Rebinding needs a name: any address is fine.
            ("10.0.0.5", true),
            ("[2001:db8::1]", true),
            ("localhost", true),
            ("LOCALHOST", true),
            ("localhost.", true),
            ("berth.example", true),
            ("BERTH.EXAMPLE.", true),
            ("ops", true),
            ("evil.example", false),
            ("localhost.evil.example", false),
            ("evil.localhost", false),
            ("berth.example.evil", false),
            // Not a dotted quad: a name, and not one of ours.
            ("2130706433", false),
            ("127.1", false),
            ("::1", false),
            ("", false),
        ];
        for (host, allowed) in cases {
            assert_eq!(names.allows(host), allowed, "{host}");
        }
        assert!(!ServerNames::loopback().allows("berth.example"));
    }

    #[test]
    fn authorities_split_into_host_and_port() {
        let cases = [
            ("localhost", Some(("localhost", None))),
            ("localhost:4580", Some(("localhost", Some(4580)))),
            ("localhost:", Some(("localhost", None))),
            ("127.0.0.1:80", Some(("127.0.0.1", Some(80)))),
            ("[::1]:4580", Some(("[::1]", Some(4580)))),
            ("[::1]", Some(("[::1]", None))),
            ("example.com.", Some(("example.com.", None))),
            ("user@localhost", None),
            ("localhost:http", None),
            ("localhost:99999", None),
            ("::1", None),
            ("[::1]x", None),
            ("[nonsense]:1", None),
            ("a b", None),
            ("", None),
            (":4580", None),
        ];
        for (authority, split) in cases {
            assert_eq!(split_authority(authority), split, "{authority}");
        }
    }

    #[test]
    fn listed_names_must_be_host_names() {
        for bad in [
            "",
            "http://berth.example",
            "berth.example:4580",
            "a..b",
            "*",
        ] {
            assert_eq!(
                ServerNames::with_names([bad]),
                Err(InvalidName(bad.to_owned())),
                "{bad}"
            );
        }
        assert!(ServerNames::with_names(["berth-1.internal", "10.0.0.5"]).is_ok());
    }
}

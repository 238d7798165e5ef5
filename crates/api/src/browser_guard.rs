//! The layer that keeps web browsers from being turned against the API, in front of the
//! authentication layer on every route. berth serves programs (the AWS CLI and SDKs, the
//! berth CLI), never pages, so whatever a browser would only send on a page's behalf is
//! refused — before the body is read, in the request's own protocol:
//!
//! - **DNS rebinding**: a `Host` that is not one of this server's names ([`ServerNames`]); an
//!   HTTP/1.1 request without one.
//! - **Cross-site requests**: an `Origin` other than the request's own `http(s)://Host`
//!   (`Origin: null` included), or `Sec-Fetch-Site` saying another site sent it. CORS
//!   preflights carry an `Origin`, so they are refused too and nothing ever grants one.
//! - **Forms**: the three content types a page may send anywhere without asking
//!   (`application/x-www-form-urlencoded`, `multipart/form-data`, `text/plain`) only where a
//!   protocol needs one — the Query protocols' form bodies — and only signed (an
//!   `Authorization` header, which no page can put on a cross-site post). Checked whatever
//!   the authenticator accepts, so a form post runs nothing even when any credentials do.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Uri, Version, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::ApiState;
use crate::endpoint;
use crate::error::{ApiError, ErrorCode};
use crate::protocol::{Framing, next_request_id};
use crate::server_names::{ServerNames, split_authority};

/// The most of a header's value a refusal repeats.
const QUOTED_CHARS: usize = 100;

/// The layer: passes a request on, or refuses it in its protocol's error shape.
pub async fn guard(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let Err(refusal) = check(
        &state.names,
        request.version(),
        request.uri(),
        request.headers(),
    ) else {
        return next.run(request).await;
    };
    let request_id = next_request_id();
    // The caller is told why; at info a page looping on berth would flood the log.
    tracing::debug!(%request_id, reason = %refusal, "refused a request a browser could have been made to send");
    let framing = Framing::detect_uri(request.uri(), request.headers());
    // The body is not read here: only a presigned URL's query can name the Query service.
    let params = crate::protocol::query::Params::of_request(request.uri().query(), b"");
    let response = endpoint::refuse(
        framing,
        request.headers(),
        &params,
        refusal.into(),
        &request_id,
    );
    endpoint::with_request_id(response, &request_id)
}

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// HTTP/1.1 without a `Host`.
    #[error("The request has no Host header; HTTP/1.1 requires one.")]
    NoHost,
    /// A `Host` (or request target) that is no authority, or several of them.
    #[error("Host '{0}' is not a host name or address with an optional port.")]
    BadHost(String),
    /// A name this server was not told it has.
    #[error(
        "Host '{0}' is not one of this server's names; start berth up with --api-host {0} to allow it."
    )]
    ForeignHost(String),
    /// An `Origin` other than the request's own.
    #[error(
        "Origin '{origin}' is not this server's (http://{host}): berth serves no web pages, and refuses requests another site's page sends."
    )]
    ForeignOrigin {
        /// The `Origin` sent.
        origin: String,
        /// The `Host` sent.
        host: String,
    },
    /// `Sec-Fetch-Site` says a page of another site sent it.
    #[error(
        "The browser marks this request as sent by another site (Sec-Fetch-Site: {0}); berth refuses those."
    )]
    CrossSite(String),
    /// A content type only a page needs, where no protocol takes it.
    #[error(
        "Content-Type {0} is not taken here: it is what a web page may send to any site unasked. AWS JSON takes application/x-amz-json-1.0 or 1.1, berth's own API application/json, the Query protocols a signed form."
    )]
    PageContentType(String),
    /// A form body without a signature.
    #[error(
        "A form-encoded request must be signed (an Authorization header): any web page can post a form to any site, but cannot sign it."
    )]
    UnsignedForm,
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        ApiError::new(ErrorCode::AccessDeniedException, refusal.to_string())
    }
}

/// Whether a request may go on, by its version, target and headers alone.
pub fn check(
    names: &ServerNames,
    version: Version,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<(), Refusal> {
    let host = host(names, version, uri, headers)?;
    origin(headers, host)?;
    fetch_site(headers)?;
    content_type(uri.path(), headers)
}

/// The `Host` header's value once it is known to be this server's (`None`: an HTTP/1.0
/// request without one, which no browser sends).
fn host<'a>(
    names: &ServerNames,
    version: Version,
    uri: &Uri,
    headers: &'a HeaderMap,
) -> Result<Option<&'a str>, Refusal> {
    // A request target in absolute form (`POST http://name/ HTTP/1.1`) names a host too.
    if let Some(authority) = uri.authority() {
        allowed(names, authority.as_str())?;
    }
    let mut values = headers.get_all(header::HOST).iter();
    let (value, more) = (values.next(), values.next());
    match (value, more) {
        (Some(value), None) => {
            let value = value.to_str().map_err(|_| Refusal::BadHost(quote(value)))?;
            allowed(names, value)?;
            Ok(Some(value))
        }
        (Some(value), Some(_)) => Err(Refusal::BadHost(quote(value))),
        (None, _) if version <= Version::HTTP_10 && uri.authority().is_none() => Ok(None),
        (None, _) => Err(Refusal::NoHost),
    }
}

fn allowed(names: &ServerNames, authority: &str) -> Result<(), Refusal> {
    let (host, _) =
        split_authority(authority).ok_or_else(|| Refusal::BadHost(shorten(authority)))?;
    if names.allows(host) {
        Ok(())
    } else {
        Err(Refusal::ForeignHost(host.to_owned()))
    }
}

/// Every `Origin` must be the request's own: its host and port those of `Host`.
fn origin(headers: &HeaderMap, host: Option<&str>) -> Result<(), Refusal> {
    for value in headers.get_all(header::ORIGIN) {
        let foreign = || Refusal::ForeignOrigin {
            origin: quote(value),
            host: host.map(shorten).unwrap_or_default(),
        };
        let origin = value.to_str().map_err(|_| foreign())?;
        let host = host.ok_or_else(foreign)?;
        if !same_origin(origin, host) {
            return Err(foreign());
        }
    }
    Ok(())
}

/// Whether `origin` (`scheme://host[:port]`) names the server at `host` (a `Host` value).
fn same_origin(origin: &str, host: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        // `null`, among others: an opaque origin is nobody's.
        return false;
    };
    let default_port = if scheme.eq_ignore_ascii_case("http") {
        80
    } else if scheme.eq_ignore_ascii_case("https") {
        // berth behind a TLS proxy that keeps the Host header.
        443
    } else {
        return false;
    };
    let (Some((origin_host, origin_port)), Some((host, port))) =
        (split_authority(authority), split_authority(host))
    else {
        return false;
    };
    trim_dot(origin_host).eq_ignore_ascii_case(trim_dot(host))
        && origin_port.unwrap_or(default_port) == port.unwrap_or(default_port)
}

fn trim_dot(host: &str) -> &str {
    host.strip_suffix('.').unwrap_or(host)
}

/// Fetch metadata: browsers say which site made them send a request; only the server's own
/// pages (`same-origin`) and the user (`none`: typed in the address bar) may.
fn fetch_site(headers: &HeaderMap) -> Result<(), Refusal> {
    match headers.get("sec-fetch-site") {
        None => Ok(()),
        Some(value) => match value.to_str() {
            Ok(site) if site.eq_ignore_ascii_case("same-origin") => Ok(()),
            Ok(site) if site.eq_ignore_ascii_case("none") => Ok(()),
            _ => Err(Refusal::CrossSite(quote(value))),
        },
    }
}

/// The content types a page may send cross-site without a preflight, only where a protocol
/// needs one: a signed form to the Query protocols.
fn content_type(path: &str, headers: &HeaderMap) -> Result<(), Refusal> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let essence = value
        .to_str()
        .map_err(|_| Refusal::PageContentType(quote(value)))?
        .split(';')
        .next()
        .unwrap_or_default()
        .trim();
    let is = |name: &str| essence.eq_ignore_ascii_case(name);
    if is("application/x-www-form-urlencoded") {
        if Framing::detect(path, headers) != Framing::Query {
            Err(Refusal::PageContentType(shorten(essence)))
        } else if headers
            .get(header::AUTHORIZATION)
            .is_none_or(|v| v.is_empty())
        {
            Err(Refusal::UnsignedForm)
        } else {
            Ok(())
        }
    } else if is("multipart/form-data") || is("text/plain") {
        Err(Refusal::PageContentType(shorten(essence)))
    } else {
        Ok(())
    }
}

/// A header's value as a refusal repeats it: visible ASCII, at most [`QUOTED_CHARS`].
fn quote(value: &HeaderValue) -> String {
    value
        .to_str()
        .map_or_else(|_| "(not ASCII)".to_owned(), shorten)
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(QUOTED_CHARS) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGNED: &str = "AWS4-HMAC-SHA256 Credential=AKID/20261123/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0";
    const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

    /// A header of a case: name, value.
    type Header<'a> = (&'static str, &'a str);

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn names() -> ServerNames {
        ServerNames::with_names(["berth.internal"]).unwrap()
    }

    fn at(path: &str, pairs: &[(&'static str, &str)]) -> Result<(), Refusal> {
        check(
            &names(),
            Version::HTTP_11,
            &path.parse().unwrap(),
            &headers(pairs),
        )
    }

    #[test]
    fn only_this_servers_names_are_answered() {
        let cases: &[(&[Header], Result<(), Refusal>)] = &[
            (&[("host", "127.0.0.1:4580")], Ok(())),
            (&[("host", "127.3.4.5")], Ok(())),
            (&[("host", "[::1]:4580")], Ok(())),
            (&[("host", "localhost:4580")], Ok(())),
            (&[("host", "LocalHost")], Ok(())),
            (&[("host", "192.0.2.7:4580")], Ok(())),
            (&[("host", "berth.internal:4580")], Ok(())),
            (
                &[("host", "evil.example:4580")],
                Err(Refusal::ForeignHost("evil.example".into())),
            ),
            (
                &[("host", "localhost.evil.example")],
                Err(Refusal::ForeignHost("localhost.evil.example".into())),
            ),
            (&[], Err(Refusal::NoHost)),
            (
                &[("host", "localhost:http")],
                Err(Refusal::BadHost("localhost:http".into())),
            ),
            (
                &[("host", "user@localhost")],
                Err(Refusal::BadHost("user@localhost".into())),
            ),
            (&[("host", "")], Err(Refusal::BadHost(String::new()))),
            (
                &[("host", "localhost"), ("host", "evil.example")],
                Err(Refusal::BadHost("localhost".into())),
            ),
        ];
        for (pairs, expected) in cases {
            assert_eq!(&at("/", pairs), expected, "{pairs:?}");
        }
    }

    #[test]
    fn the_request_target_and_the_version_count_too() {
        let localhost = headers(&[("host", "localhost")]);
        let absolute: Uri = "http://evil.example/".parse().unwrap();
        assert_eq!(
            check(&names(), Version::HTTP_11, &absolute, &localhost),
            Err(Refusal::ForeignHost("evil.example".into()))
        );
        let own: Uri = "http://localhost:4580/".parse().unwrap();
        assert_eq!(check(&names(), Version::HTTP_11, &own, &localhost), Ok(()));
        // No browser speaks HTTP/1.0; without a Host it is still answered.
        let none = HeaderMap::new();
        let root: Uri = "/".parse().unwrap();
        assert_eq!(check(&names(), Version::HTTP_10, &root, &none), Ok(()));
        assert_eq!(
            check(&names(), Version::HTTP_11, &root, &none),
            Err(Refusal::NoHost)
        );
    }

    #[test]
    fn only_the_servers_own_origin_may_send() {
        let host = "localhost:4580";
        let foreign = |origin: &str| {
            Err(Refusal::ForeignOrigin {
                origin: origin.into(),
                host: host.into(),
            })
        };
        let cases = [
            ("http://localhost:4580", Ok(())),
            ("HTTP://LOCALHOST:4580", Ok(())),
            ("http://evil.example", foreign("http://evil.example")),
            (
                "http://evil.example:4580",
                foreign("http://evil.example:4580"),
            ),
            // An address passes the Host rule, but a page served from one is another site.
            ("http://192.0.2.7:4580", foreign("http://192.0.2.7:4580")),
            ("http://127.0.0.1:4580", foreign("http://127.0.0.1:4580")),
            // Another port on the same host is another origin (a local dev server's page).
            ("http://localhost:3000", foreign("http://localhost:3000")),
            ("http://localhost", foreign("http://localhost")),
            ("null", foreign("null")),
            ("file://", foreign("file://")),
            ("ftp://localhost:4580", foreign("ftp://localhost:4580")),
        ];
        for (origin, expected) in cases {
            assert_eq!(
                at("/", &[("host", host), ("origin", origin)]),
                expected,
                "{origin}"
            );
        }
        // Default ports count as written.
        assert_eq!(
            at(
                "/",
                &[("host", "localhost"), ("origin", "http://localhost:80")]
            ),
            Ok(())
        );
        assert_eq!(
            at(
                "/",
                &[
                    ("host", "berth.internal"),
                    ("origin", "https://berth.internal")
                ]
            ),
            Ok(())
        );
        // Every Origin must pass, and a preflight is refused like anything else.
        assert!(
            at(
                "/",
                &[
                    ("host", host),
                    ("origin", "http://localhost:4580"),
                    ("origin", "http://evil.example")
                ]
            )
            .is_err()
        );
    }

    #[test]
    fn only_pages_of_the_server_itself_or_the_user_may_send() {
        let cases = [
            ("same-origin", Ok(())),
            ("none", Ok(())),
            ("same-site", Err(Refusal::CrossSite("same-site".into()))),
            ("cross-site", Err(Refusal::CrossSite("cross-site".into()))),
            ("whatever", Err(Refusal::CrossSite("whatever".into()))),
        ];
        for (site, expected) in cases {
            assert_eq!(
                at("/", &[("host", "localhost"), ("sec-fetch-site", site)]),
                expected,
                "{site}"
            );
        }
    }

    #[test]
    fn forms_and_plain_text_only_where_a_signed_query_request_needs_them() {
        let page = |essence: &str| Err(Refusal::PageContentType(essence.into()));
        let target = (
            "x-amz-target",
            "AmazonEC2ContainerServiceV20141113.ListClusters",
        );
        let cases: &[(&str, &[Header], Result<(), Refusal>)] = &[
            // The Query protocols, signed.
            (
                "/",
                &[("content-type", FORM), ("authorization", SIGNED)],
                Ok(()),
            ),
            // Read as no protocol (the Query protocols' framing is a lower-case type), so
            // refused as any page's form.
            (
                "/",
                &[
                    ("content-type", "Application/X-WWW-Form-URLEncoded"),
                    ("authorization", SIGNED),
                ],
                page("Application/X-WWW-Form-URLEncoded"),
            ),
            // A browser's form post: no signature.
            ("/", &[("content-type", FORM)], Err(Refusal::UnsignedForm)),
            (
                "/",
                &[("content-type", FORM), ("authorization", "")],
                Err(Refusal::UnsignedForm),
            ),
            // A form where no protocol takes one.
            (
                "/berth/v1/images/pull",
                &[("content-type", FORM), ("authorization", SIGNED)],
                page("application/x-www-form-urlencoded"),
            ),
            (
                "/",
                &[("content-type", FORM), ("authorization", SIGNED), target],
                page("application/x-www-form-urlencoded"),
            ),
            // What nothing takes.
            (
                "/",
                &[("content-type", "text/plain"), target],
                page("text/plain"),
            ),
            (
                "/",
                &[
                    ("content-type", "text/plain;charset=UTF-8"),
                    ("authorization", SIGNED),
                ],
                page("text/plain"),
            ),
            (
                "/berth/v1/images/pull",
                &[("content-type", "text/plain")],
                page("text/plain"),
            ),
            (
                "/berth/v1/images/import",
                &[("content-type", "TEXT/PLAIN")],
                page("TEXT/PLAIN"),
            ),
            (
                "/berth/v1/images/import",
                &[("content-type", "multipart/form-data; boundary=x")],
                page("multipart/form-data"),
            ),
            // What the protocols and berth's clients send.
            (
                "/",
                &[("content-type", "application/x-amz-json-1.1"), target],
                Ok(()),
            ),
            (
                "/service/S/operation/O",
                &[
                    ("content-type", "application/cbor"),
                    ("smithy-protocol", "rpc-v2-cbor"),
                ],
                Ok(()),
            ),
            (
                "/berth/v1/images/pull",
                &[("content-type", "application/json")],
                Ok(()),
            ),
            (
                "/berth/v1/images/import",
                &[("content-type", "application/x-tar")],
                Ok(()),
            ),
            ("/berth/v1/images/prune", &[], Ok(())),
        ];
        for (path, pairs, expected) in cases {
            let mut pairs = pairs.to_vec();
            pairs.push(("host", "localhost"));
            assert_eq!(&at(path, &pairs), expected, "{path} {pairs:?}");
        }
    }

    #[test]
    fn refusals_quote_little_and_say_what_to_do() {
        let long = "a".repeat(300);
        let refusal = at("/", &[("host", &format!("{long}.example"))]).unwrap_err();
        assert!(refusal.to_string().len() < 300 + 150, "{refusal}");
        let refusal = at("/", &[("host", "evil.example")]).unwrap_err();
        assert_eq!(
            refusal.to_string(),
            "Host 'evil.example' is not one of this server's names; start berth up with \
             --api-host evil.example to allow it."
        );
        let error = ApiError::from(refusal);
        assert_eq!(error.code, ErrorCode::AccessDeniedException);
        assert_eq!(error.code.status(), axum::http::StatusCode::FORBIDDEN);
    }
}

//! SigV4's URI encoding: every byte but the unreserved `A-Z a-z 0-9 - _ . ~` as `%XY` in upper
//! case (a space is `%20`, never `+`), and the canonical forms of a path and a query built
//! with it.

/// `bytes` URI-encoded with AWS's alphabet; `/` kept when `keep_slash`.
pub(crate) fn uri_encode(bytes: &[u8], keep_slash: bool) -> String {
    const UPPER_HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(bytes.len());
    for &byte in bytes {
        let unreserved = byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~');
        if unreserved || (keep_slash && byte == b'/') {
            out.push(byte as char);
        } else {
            out.push('%');
            out.push(UPPER_HEX[usize::from(byte >> 4)] as char);
            out.push(UPPER_HEX[usize::from(byte & 0xf)] as char);
        }
    }
    out
}

/// `text` with its `%XY` escapes decoded; a `%` not followed by two hex digits stays as it is
/// (`+` is not a space here: SigV4 clients encode a space as `%20`).
pub(crate) fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    out
}

/// The canonical URI of `path` as sent: `.`/`..` segments and empty segments resolved (as
/// botocore does before signing), then encoded once more, `/` kept.
pub(crate) fn canonical_uri(path: &str) -> String {
    if path.is_empty() || path == "/" {
        return "/".to_owned();
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let mut normalized = String::with_capacity(path.len());
    if path.starts_with('/') {
        normalized.push('/');
    }
    normalized.push_str(&segments.join("/"));
    if path.ends_with('/') && !segments.is_empty() {
        normalized.push('/');
    }
    uri_encode(normalized.as_bytes(), true)
}

/// The canonical query string of `query` as sent (without `?`): each parameter decoded and
/// re-encoded, sorted by name then value; `skip` names a parameter left out (a presigned
/// URL's `X-Amz-Signature`).
pub(crate) fn canonical_query(query: &str, skip: Option<&str>) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = percent_decode(name);
            if skip.is_some_and(|skip| skip.as_bytes() == name.as_slice()) {
                return None;
            }
            Some((
                uri_encode(&name, false),
                uri_encode(&percent_decode(value), false),
            ))
        })
        .collect();
    pairs.sort();
    let mut out = String::with_capacity(query.len());
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// Appends a header value as SigV4 signs it: trimmed, inner runs of whitespace collapsed to
/// one space (as botocore's `' '.join(value.split())`, so Unicode whitespace too).
pub(crate) fn push_trimmed(out: &mut String, value: &str) {
    for (i, word) in value.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(word);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_keeps_only_the_unreserved_alphabet() {
        assert_eq!(uri_encode(b"a-_.~Z9", false), "a-_.~Z9");
        assert_eq!(uri_encode(b"a b+c/d=e*", false), "a%20b%2Bc%2Fd%3De%2A");
        assert_eq!(uri_encode("é/".as_bytes(), true), "%C3%A9/");
        assert_eq!(percent_decode("a%20b%2fc%zz%4"), b"a b/c%zz%4");
    }

    #[test]
    fn paths_are_normalized_then_encoded_again() {
        for (path, canonical) in [
            ("", "/"),
            ("/", "/"),
            (
                "/service/Granite/operation/GetMetricData",
                "/service/Granite/operation/GetMetricData",
            ),
            ("/a/./b/../c", "/a/c"),
            ("//a//b/", "/a/b/"),
            ("/a%20b", "/a%2520b"),
            ("/berth/v1/tasks/abc/logs", "/berth/v1/tasks/abc/logs"),
        ] {
            assert_eq!(canonical_uri(path), canonical, "{path}");
        }
    }

    #[test]
    fn queries_are_decoded_reencoded_and_sorted() {
        assert_eq!(canonical_query("", None), "");
        assert_eq!(
            canonical_query("b=2&a=1&a=0&c&Action=Describe%20It", None),
            "Action=Describe%20It&a=0&a=1&b=2&c="
        );
        assert_eq!(
            canonical_query(
                "X-Amz-Signature=abc&X-Amz-Date=1&key=a%2fb",
                Some("X-Amz-Signature")
            ),
            "X-Amz-Date=1&key=a%2Fb"
        );
        let mut trimmed = String::new();
        push_trimmed(&mut trimmed, "  a   b \t c ");
        assert_eq!(trimmed, "a b c");
    }
}

//! What a request claims about its signature: the access key, scope, signed headers, time
//! and signature, read from the `Authorization` header or from a presigned URL's query.

use http::HeaderMap;

use crate::amz_date::parse_http_date;
use crate::encoding::percent_decode;
use crate::hashing::unhex;
use crate::{ALGORITHM, AmzDate, SigV4Error, SigningScope, parse_amz_date};

/// Where the signature was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimSource {
    /// The `Authorization` header.
    Header,
    /// A presigned URL, valid for `expires_secs` from its date.
    Query {
        /// `X-Amz-Expires`.
        expires_secs: i64,
    },
}

/// A request's signature claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The access key id it names.
    pub access_key_id: String,
    /// The scope it is signed in.
    pub scope: SigningScope,
    /// The headers it covers, lower-case, in the order given.
    pub signed_headers: Vec<String>,
    /// The signature.
    pub signature: [u8; 32],
    /// When it was signed.
    pub date: AmzDate,
    /// Where the date came from, as AWS's messages name it (`X-Amz-Date` or `Date`).
    pub date_source: &'static str,
    /// A temporary credential's session token, if any.
    pub security_token: Option<String>,
    /// Header or presigned URL.
    pub source: ClaimSource,
}

/// The signature claim of a request, `Ok(None)` when it carries none at all, or why what it
/// carries is not a SigV4 signature.
pub fn parse_claim(query: Option<&str>, headers: &HeaderMap) -> Result<Option<Claim>, SigV4Error> {
    if let Some(authorization) = headers.get(http::header::AUTHORIZATION) {
        let authorization = authorization
            .to_str()
            .map_err(|_| SigV4Error::Incomplete("The Authorization header is not ASCII.".into()))?;
        return from_header(authorization, headers).map(Some);
    }
    let params = query_params(query.unwrap_or(""));
    let has = |name: &str| params.iter().any(|(n, _)| n == name);
    if has("X-Amz-Algorithm") || has("X-Amz-Signature") || has("X-Amz-Credential") {
        return from_query(&params).map(Some);
    }
    Ok(None)
}

fn from_header(authorization: &str, headers: &HeaderMap) -> Result<Claim, SigV4Error> {
    let Some(fields) = authorization
        .strip_prefix(ALGORITHM)
        .filter(|rest| rest.starts_with(' '))
    else {
        return Err(SigV4Error::Incomplete(format!(
            "Authorization header is not '{ALGORITHM} Credential=..., SignedHeaders=..., Signature=...': berth accepts Signature Version 4 only."
        )));
    };
    // One pass over the fields; the first of each name counts.
    let mut found: [Option<&str>; 3] = [None; 3];
    const NAMES: [&str; 3] = ["Credential", "Signature", "SignedHeaders"];
    for part in fields.split(',') {
        let Some((name, value)) = part.trim().split_once('=') else {
            continue;
        };
        if let Some(i) = NAMES.iter().position(|n| *n == name) {
            found[i].get_or_insert(value);
        }
    }
    let field = |name: &str| NAMES.iter().position(|n| *n == name).and_then(|i| found[i]);
    let mut missing = Vec::new();
    for name in NAMES {
        if field(name).is_none() {
            missing.push(format!("Authorization header requires '{name}' parameter."));
        }
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let date = match (header("x-amz-date"), header("date")) {
        (Some(text), _) => Some((text, "X-Amz-Date", parse_amz_date(text))),
        (None, Some(text)) => Some((text, "Date", parse_http_date(text))),
        (None, None) => {
            missing.push(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
                    .into(),
            );
            None
        }
    };
    if !missing.is_empty() {
        missing.push(format!("Authorization={authorization}"));
        return Err(SigV4Error::Incomplete(missing.join(" ")));
    }
    let (date_text, date_source, date) = date.expect("checked above");
    let date = date.ok_or_else(|| {
        SigV4Error::Incomplete(format!("'{date_text}' in {date_source} is not a date."))
    })?;
    let (access_key_id, scope) = credential(field("Credential").unwrap_or_default())?;
    Ok(Claim {
        access_key_id,
        scope,
        signed_headers: signed_headers(field("SignedHeaders").unwrap_or_default())?,
        signature: signature(field("Signature").unwrap_or_default())?,
        date,
        date_source,
        security_token: header("x-amz-security-token").map(str::to_owned),
        source: ClaimSource::Header,
    })
}

fn from_query(params: &[(String, String)]) -> Result<Claim, SigV4Error> {
    let param = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let required = [
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Signature",
        "X-Amz-Date",
        "X-Amz-SignedHeaders",
    ];
    if required.iter().any(|name| param(name).is_none()) {
        return Err(SigV4Error::Incomplete(
            "AWS query-string parameters must include 'X-Amz-Algorithm', 'X-Amz-Credential', \
             'X-Amz-Signature', 'X-Amz-Date', 'X-Amz-SignedHeaders', 'X-Amz-Expires'. \
             Re-examine the query-string parameters."
                .into(),
        ));
    }
    if param("X-Amz-Algorithm") != Some(ALGORITHM) {
        return Err(SigV4Error::Incomplete(format!(
            "X-Amz-Algorithm only supports '{ALGORITHM}'."
        )));
    }
    let date_text = param("X-Amz-Date").unwrap_or_default();
    let date = parse_amz_date(date_text).ok_or_else(|| {
        SigV4Error::Incomplete(format!("'{date_text}' in X-Amz-Date is not a date."))
    })?;
    let expires_secs = param("X-Amz-Expires")
        .and_then(|text| text.parse::<i64>().ok())
        .filter(|secs| (1..=crate::MAX_PRESIGN_EXPIRES_SECS).contains(secs))
        .ok_or_else(|| {
            SigV4Error::Incomplete(format!(
                "X-Amz-Expires must be a number of seconds from 1 to {}.",
                crate::MAX_PRESIGN_EXPIRES_SECS
            ))
        })?;
    let (access_key_id, scope) = credential(param("X-Amz-Credential").unwrap_or_default())?;
    Ok(Claim {
        access_key_id,
        scope,
        signed_headers: signed_headers(param("X-Amz-SignedHeaders").unwrap_or_default())?,
        signature: signature(param("X-Amz-Signature").unwrap_or_default())?,
        date,
        date_source: "X-Amz-Date",
        security_token: param("X-Amz-Security-Token").map(str::to_owned),
        source: ClaimSource::Query { expires_secs },
    })
}

/// The decoded parameters of a query string, in order.
fn query_params(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (
                String::from_utf8_lossy(&percent_decode(name)).into_owned(),
                String::from_utf8_lossy(&percent_decode(value)).into_owned(),
            )
        })
        .collect()
}

/// `AKID/DATE/REGION/SERVICE/aws4_request`.
fn credential(text: &str) -> Result<(String, SigningScope), SigV4Error> {
    let mut parts = [""; 5];
    let mut count = 0;
    for part in text.splitn(6, '/') {
        if count == parts.len() {
            count += 1;
            break;
        }
        parts[count] = part;
        count += 1;
    }
    let malformed = |why: &str| {
        SigV4Error::Incomplete(format!(
            "Credential '{text}' is malformed: {why}. It must be ACCESS_KEY_ID/YYYYMMDD/REGION/SERVICE/aws4_request."
        ))
    };
    if count != parts.len() {
        return Err(malformed("it does not have five parts"));
    }
    let [access_key_id, date, region, service, terminator] = parts;
    if access_key_id.is_empty() {
        return Err(malformed("the access key id is empty"));
    }
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed("the date is not YYYYMMDD"));
    }
    if region.is_empty() || service.is_empty() {
        return Err(malformed("the region or service is empty"));
    }
    if terminator != "aws4_request" {
        return Err(malformed("it must end in 'aws4_request'"));
    }
    Ok((
        access_key_id.to_owned(),
        SigningScope {
            date: date.to_owned(),
            region: region.to_owned(),
            service: service.to_owned(),
        },
    ))
}

/// `host;x-amz-date;...`: lower-case names; `host` must be among them.
fn signed_headers(text: &str) -> Result<Vec<String>, SigV4Error> {
    let names: Vec<String> = text.split(';').map(str::to_owned).collect();
    let well_formed = names.iter().all(|n| {
        !n.is_empty()
            && n.bytes()
                .all(|b| b.is_ascii_graphic() && !b.is_ascii_uppercase())
    });
    if !well_formed {
        return Err(SigV4Error::Incomplete(format!(
            "SignedHeaders '{text}' must be lower-case header names separated by ';'."
        )));
    }
    if !names.iter().any(|n| n == "host") {
        return Err(SigV4Error::Incomplete(
            "The 'host' header must be among the SignedHeaders.".into(),
        ));
    }
    Ok(names)
}

fn signature(text: &str) -> Result<[u8; 32], SigV4Error> {
    unhex::<32>(text).ok_or_else(|| {
        SigV4Error::Incomplete(format!("Signature '{text}' is not 64 hexadecimal digits."))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGNATURE: &str = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn a_header_claim_is_read_whole() {
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261202/eu-west-3/ecs/aws4_request, SignedHeaders=host;x-amz-date, Signature={SIGNATURE}"
        );
        let map = headers(&[
            ("authorization", &authorization),
            ("x-amz-date", "20261202T041716Z"),
            ("x-amz-security-token", "tok"),
        ]);
        let claim = parse_claim(None, &map).unwrap().unwrap();
        assert_eq!(claim.access_key_id, "AKIDEXAMPLE");
        assert_eq!(claim.scope.region, "eu-west-3");
        assert_eq!(claim.scope.service, "ecs");
        assert_eq!(claim.signed_headers, ["host", "x-amz-date"]);
        assert_eq!(claim.date.to_string(), "20261202T041716Z");
        assert_eq!(claim.security_token.as_deref(), Some("tok"));
        assert_eq!(claim.source, ClaimSource::Header);
        assert_eq!(parse_claim(None, &HeaderMap::new()).unwrap(), None);
    }

    #[test]
    fn an_incomplete_header_says_what_is_missing() {
        for (authorization, date, needle) in [
            (
                "AWS4-HMAC-SHA256 Credential=A/20261202/us-east-1/ecs/aws4_request, SignedHeaders=host",
                true,
                "requires 'Signature'",
            ),
            (
                "AWS4-HMAC-SHA256 Signature=00",
                true,
                "requires 'Credential'",
            ),
            ("AWS AKID:sig", true, "Signature Version 4 only"),
            (
                "AWS4-HMAC-SHA256 Credential=A/20261202/us-east-1/ecs/aws4_request, SignedHeaders=host, Signature=00",
                false,
                "'X-Amz-Date' or a 'Date'",
            ),
            (
                "AWS4-HMAC-SHA256 Credential=A/20261202/us-east-1/ecs/aws4_request, SignedHeaders=host, Signature=00",
                true,
                "64 hexadecimal",
            ),
            (
                "AWS4-HMAC-SHA256 Credential=A/2026/us-east-1/ecs/aws4_request, SignedHeaders=host, Signature=00",
                true,
                "YYYYMMDD",
            ),
            (
                "AWS4-HMAC-SHA256 Credential=A/20261202/us-east-1/ecs, SignedHeaders=host, Signature=00",
                true,
                "five parts",
            ),
            (
                "AWS4-HMAC-SHA256 Credential=A/20261202/us-east-1/ecs/aws4_request, SignedHeaders=x-amz-date, Signature=00",
                true,
                "'host' header",
            ),
        ] {
            let mut map = headers(&[("authorization", authorization)]);
            if date {
                map.insert("x-amz-date", "20261202T041716Z".parse().unwrap());
            }
            let error = parse_claim(None, &map).unwrap_err();
            assert!(
                matches!(&error, SigV4Error::Incomplete(m) if m.contains(needle)),
                "{authorization}: {error:?}"
            );
        }
    }

    #[test]
    fn a_presigned_claim_is_read_from_the_query() {
        let query = format!(
            "Action=GetCallerIdentity&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20261202%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Date=20261202T041716Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Signature={SIGNATURE}"
        );
        let claim = parse_claim(Some(&query), &HeaderMap::new())
            .unwrap()
            .unwrap();
        assert_eq!(claim.access_key_id, "AKID");
        assert_eq!(claim.scope.service, "sts");
        assert_eq!(claim.source, ClaimSource::Query { expires_secs: 300 });
        let without_expiry = query.replace("X-Amz-Expires=300&", "");
        assert!(parse_claim(Some(&without_expiry), &HeaderMap::new()).is_err());
        let too_long = query.replace("X-Amz-Expires=300", "X-Amz-Expires=604801");
        assert!(parse_claim(Some(&too_long), &HeaderMap::new()).is_err());
        assert_eq!(
            parse_claim(Some("Action=X"), &HeaderMap::new()).unwrap(),
            None
        );
    }
}

//! The Query protocols (botocore's `query` and `ec2`), reading side: `POST /` with a
//! form-encoded body (`Action=DescribeVpcs&Version=2016-11-15&VpcId.1=vpc-1&...`) read as a
//! map from parameter name to value, with the accessors flattened lists need; and the error a
//! Query service answers with ([`QueryError`]). `Version` names the service (each has its own
//! API version); answers are XML (`xml.rs`).

use std::collections::BTreeMap;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

pub use crate::error::QueryError;
use crate::protocol::xml::{self, XmlFlavor};

/// Whether a request is form-encoded, as Query requests are.
pub fn is_request(headers: &HeaderMap) -> bool {
    headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// A Query answer: the document, or the error in the service's flavour.
pub fn response(
    flavor: XmlFlavor,
    result: Result<String, QueryError>,
    request_id: &str,
) -> Response {
    let (status, body) = match result {
        Ok(document) => (StatusCode::OK, document),
        Err(error) => (
            error.status,
            xml::error(
                flavor,
                error.code,
                &error.message,
                error.is_sender_fault(),
                request_id,
            ),
        ),
    };
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/xml;charset=UTF-8"),
    );
    response
}

/// A request's parameters.
#[derive(Debug, Default)]
pub struct Params {
    values: BTreeMap<String, String>,
}

impl Params {
    /// Decodes a form body; a parameter given twice keeps its last value.
    pub fn parse(body: &[u8]) -> Self {
        Self {
            values: form_urlencoded::parse(body).into_owned().collect(),
        }
    }

    /// The parameters of a request: those of its URL's query (a presigned URL carries them
    /// there), then its form body's, the body's winning where both give one.
    pub fn of_request(query: Option<&str>, body: &[u8]) -> Self {
        let mut values: BTreeMap<String, String> = query
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        values.extend(form_urlencoded::parse(body).into_owned());
        Self { values }
    }

    /// One value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// A required value.
    pub fn required(&self, name: &str) -> Result<&str, QueryError> {
        self.get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| QueryError::missing(name))
    }

    /// An integer value.
    pub fn integer(&self, name: &str) -> Result<Option<i32>, QueryError> {
        self.get(name)
            .map(|v| {
                v.parse().map_err(|_| {
                    QueryError::invalid(format!("Invalid value '{v}' for {name}: not an integer"))
                })
            })
            .transpose()
    }

    /// A flattened list: `NAME.1`, `NAME.2`, ... in index order.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.indexes(name)
            .into_iter()
            .filter_map(|n| self.get(&format!("{name}.{n}")).map(str::to_owned))
            .collect()
    }

    /// The indexes `N` for which some `NAME.N` or `NAME.N.*` is present, ascending.
    pub fn indexes(&self, name: &str) -> Vec<u32> {
        let prefix = format!("{name}.");
        let mut found: Vec<u32> = self
            .values
            .keys()
            .filter_map(|key| {
                let rest = key.strip_prefix(&prefix)?;
                rest.split('.').next()?.parse().ok()
            })
            .collect();
        found.sort_unstable();
        found.dedup();
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattened_lists_are_read_in_index_order() {
        let params = Params::parse(
            b"Action=DescribeVpcs&VpcId.2=vpc-b&VpcId.1=vpc-a&VpcId.10=vpc-j\
              &Filter.1.Name=vpc-id&Filter.1.Value.1=x&Filter.1.Value.2=y&Filter.2.Name=state",
        );
        assert_eq!(params.list("VpcId"), ["vpc-a", "vpc-b", "vpc-j"]);
        assert_eq!(params.indexes("Filter"), [1, 2]);
        assert_eq!(params.list("Filter.1.Value"), ["x", "y"]);
        assert!(params.required("Filter.2.Value.1").is_err());
    }
}

//! The AWS services berth knows, and the registry the front door finds them in.
//!
//! Each service is one module (`ecs`, `ec2`; Logs, CloudWatch, Application Auto Scaling,
//! ELBv2, EventBridge, Cloud Map, STS, IAM, Secrets Manager and SSM next) holding its
//! operations and errors and no protocol code. Its entry in [`SERVICES`] says how its botocore
//! model addresses it — the `X-Amz-Target` prefix of AWS JSON (and the rpc-v2-cbor service name,
//! the same string), or the Query protocol's `Version` — and, once berth serves it, its
//! handler. A service listed without a handler is still recognized, so a request for it gets
//! that service's own "unknown operation" answer in its own protocol, not another service's.
//! Adding a service is one module and one entry here; no protocol code changes.

pub mod ec2;
pub mod ecs;
pub mod iam;
pub mod sts;

use std::future::Future;
use std::pin::Pin;

use berth_model::AccountRegion;

use crate::ApiState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::protocol::aws_json::JsonVersion;
use crate::protocol::query::{Params, QueryError};
use crate::protocol::xml::{Xml, XmlFlavor};

/// A boxed future borrowing the request.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Serves one operation of a JSON-document service: the operation's name and its input as
/// JSON; the output as JSON. Reached over AWS JSON, and over rpc-v2-cbor by transcoding.
pub type JsonHandler = for<'a> fn(
    &'a ApiState,
    &'a Caller,
    &'a str,
    &'a [u8],
) -> BoxFuture<'a, Result<Vec<u8>, ApiError>>;

/// Serves one action of a Query service, writing its answer into the document begun for it.
pub type QueryHandler = for<'a> fn(
    &'a ApiState,
    &'a Caller,
    &'a str,
    &'a Params,
    &'a mut Xml,
) -> BoxFuture<'a, Result<(), QueryError>>;

/// How a service's requests are served.
#[derive(Clone, Copy)]
pub enum Handler {
    /// JSON documents in and out.
    Json(JsonHandler),
    /// Query parameters in, XML out.
    Query(QueryHandler),
    /// Known, not served yet: every operation is unknown.
    NotServed,
}

/// How AWS JSON (and rpc-v2-cbor, where the model lists it) addresses a service.
#[derive(Debug, Clone, Copy)]
pub struct JsonBinding {
    /// `X-Amz-Target: PREFIX.Operation`; also the service in rpc-v2-cbor's
    /// `/service/PREFIX/operation/Operation`.
    pub target_prefix: &'static str,
    /// The model's `jsonVersion`.
    pub version: JsonVersion,
    /// Whether the model lists `smithy-rpc-v2-cbor`.
    pub cbor: bool,
}

/// How the Query protocol addresses a service.
#[derive(Debug, Clone, Copy)]
pub struct QueryBinding {
    /// The `Version` parameter: the model's `apiVersion`.
    pub version: &'static str,
    /// The answers' `xmlns`.
    pub namespace: &'static str,
    /// EC2's documents or the Query protocol's.
    pub flavor: XmlFlavor,
}

/// What an operation of a service acts on, for authorization.
#[derive(Clone, Copy)]
pub enum Resources {
    /// Every operation acts on `*`.
    Any,
    /// The ARNs a JSON operation acts on, from its input.
    Json(fn(&AccountRegion, &str, &serde_json::Value) -> Vec<String>),
    /// The ARNs a Query action acts on, from its parameters.
    Query(fn(&AccountRegion, &str, &Params) -> Vec<String>),
}

/// One AWS service.
pub struct Service {
    /// Its SigV4 signing name (`ecs`, `ec2`, `monitoring`, ...).
    pub signing_name: &'static str,
    /// Its AWS JSON binding, if its model lists one.
    pub json: Option<JsonBinding>,
    /// Its Query binding, if its model lists one.
    pub query: Option<QueryBinding>,
    /// What serves it.
    pub handler: Handler,
    /// The prefix of its actions in IAM policies (`ecs`, `cloudwatch`, ...).
    pub action_prefix: &'static str,
    /// What its operations act on.
    pub resources: Resources,
}

const fn json(target_prefix: &'static str, version: JsonVersion) -> Option<JsonBinding> {
    Some(JsonBinding {
        target_prefix,
        version,
        cbor: false,
    })
}

const fn query(
    version: &'static str,
    namespace: &'static str,
    flavor: XmlFlavor,
) -> Option<QueryBinding> {
    Some(QueryBinding {
        version,
        namespace,
        flavor,
    })
}

/// Every service berth knows, with the bindings of its botocore model (`metadata`).
pub static SERVICES: &[Service] = &[
    Service {
        signing_name: "ecs",
        json: json(ecs::TARGET_PREFIX, JsonVersion::V1_1),
        query: None,
        handler: Handler::Json(ecs::serve),
        action_prefix: "ecs",
        resources: Resources::Json(ecs::resources::resources),
    },
    Service {
        signing_name: "ec2",
        json: None,
        query: query(ec2::VERSION, ec2::NAMESPACE, XmlFlavor::Ec2),
        handler: Handler::Query(ec2::serve),
        action_prefix: "ec2",
        resources: Resources::Any,
    },
    Service {
        signing_name: "logs",
        json: json("Logs_20140328", JsonVersion::V1_1),
        query: None,
        handler: Handler::NotServed,
        action_prefix: "logs",
        resources: Resources::Any,
    },
    Service {
        // CloudWatch: botocore speaks rpc-v2-cbor to it first, then JSON 1.0, then Query.
        signing_name: "monitoring",
        json: Some(JsonBinding {
            target_prefix: "GraniteServiceVersion20100801",
            version: JsonVersion::V1_0,
            cbor: true,
        }),
        query: query(
            "2010-08-01",
            "http://monitoring.amazonaws.com/doc/2010-08-01/",
            XmlFlavor::Query,
        ),
        handler: Handler::NotServed,
        action_prefix: "cloudwatch",
        resources: Resources::Any,
    },
    Service {
        signing_name: "application-autoscaling",
        json: json("AnyScaleFrontendService", JsonVersion::V1_1),
        query: None,
        handler: Handler::NotServed,
        action_prefix: "application-autoscaling",
        resources: Resources::Any,
    },
    Service {
        signing_name: "elasticloadbalancing",
        json: None,
        query: query(
            "2015-12-01",
            "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/",
            XmlFlavor::Query,
        ),
        handler: Handler::NotServed,
        action_prefix: "elasticloadbalancing",
        resources: Resources::Any,
    },
    Service {
        signing_name: "events",
        json: json("AWSEvents", JsonVersion::V1_1),
        query: None,
        handler: Handler::NotServed,
        action_prefix: "events",
        resources: Resources::Any,
    },
    Service {
        signing_name: "servicediscovery",
        json: json("Route53AutoNaming_v20170314", JsonVersion::V1_1),
        query: None,
        handler: Handler::NotServed,
        action_prefix: "servicediscovery",
        resources: Resources::Any,
    },
    Service {
        signing_name: "sts",
        json: None,
        query: query(sts::VERSION, sts::NAMESPACE, XmlFlavor::Query),
        handler: Handler::Query(sts::serve),
        action_prefix: "sts",
        resources: Resources::Any,
    },
    Service {
        signing_name: "iam",
        json: None,
        query: query(iam::VERSION, iam::NAMESPACE, XmlFlavor::Query),
        handler: Handler::Query(iam::serve),
        action_prefix: "iam",
        resources: Resources::Query(iam::resources),
    },
    Service {
        signing_name: "secretsmanager",
        json: json("secretsmanager", JsonVersion::V1_1),
        query: None,
        handler: Handler::NotServed,
        action_prefix: "secretsmanager",
        resources: Resources::Any,
    },
    Service {
        signing_name: "ssm",
        json: json("AmazonSSM", JsonVersion::V1_1),
        query: None,
        handler: Handler::NotServed,
        action_prefix: "ssm",
        resources: Resources::Any,
    },
];

/// The service an `X-Amz-Target` prefix names.
pub fn by_target_prefix(prefix: &str) -> Option<&'static Service> {
    SERVICES
        .iter()
        .find(|s| s.json.is_some_and(|j| j.target_prefix == prefix))
}

/// The service rpc-v2-cbor's `/service/NAME/...` names, if its model speaks that protocol.
pub fn by_cbor_name(name: &str) -> Option<&'static Service> {
    SERVICES
        .iter()
        .find(|s| s.json.is_some_and(|j| j.cbor && j.target_prefix == name))
}

/// The Query service a request addresses: by its `Version`, else by the service its
/// signature's credential scope names. EC2 when neither says (it was the first one here, and
/// clients probing without a version expect its answers).
pub fn by_query_version(version: Option<&str>, signing_name: Option<&str>) -> &'static Service {
    let with_query = || SERVICES.iter().filter(|s| s.query.is_some());
    version
        .and_then(|v| with_query().find(|s| s.query.is_some_and(|q| q.version == v)))
        .or_else(|| signing_name.and_then(|n| with_query().find(|s| s.signing_name == n)))
        .unwrap_or(&SERVICES[EC2])
}

/// Where EC2 is in [`SERVICES`] (a test holds it there).
const EC2: usize = 1;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_is_found_by_what_its_model_names() {
        assert_eq!(
            by_target_prefix("AmazonEC2ContainerServiceV20141113")
                .unwrap()
                .signing_name,
            "ecs"
        );
        assert_eq!(
            by_target_prefix("Logs_20140328").unwrap().signing_name,
            "logs"
        );
        assert!(by_target_prefix("Nope_2020").is_none());
        assert_eq!(
            by_cbor_name("GraniteServiceVersion20100801")
                .unwrap()
                .signing_name,
            "monitoring"
        );
        assert!(by_cbor_name("AmazonEC2ContainerServiceV20141113").is_none());
        assert_eq!(
            by_query_version(Some("2016-11-15"), None).signing_name,
            "ec2"
        );
        assert_eq!(
            by_query_version(Some("2015-12-01"), None).signing_name,
            "elasticloadbalancing"
        );
        assert_eq!(by_query_version(None, Some("sts")).signing_name, "sts");
        assert_eq!(by_query_version(None, None).signing_name, "ec2");
        assert_eq!(SERVICES[EC2].signing_name, "ec2");
        // Every binding is unique: no two services answer to one name.
        for (i, a) in SERVICES.iter().enumerate() {
            for b in &SERVICES[i + 1..] {
                assert_ne!(a.signing_name, b.signing_name);
                if let (Some(x), Some(y)) = (a.json, b.json) {
                    assert_ne!(x.target_prefix, y.target_prefix);
                }
                if let (Some(x), Some(y)) = (a.query, b.query) {
                    assert_ne!(x.version, y.version);
                }
            }
        }
    }
}

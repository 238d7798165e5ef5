//! The client side of the `berth` CLI: finding the server (`--endpoint`, then
//! `BERTH_ENDPOINT`, then `AWS_ENDPOINT_URL`, then the default) and calling its API — the ECS
//! API as any AWS JSON client does, and berth's own image API.

use std::pin::Pin;
use std::task::{Context, Poll};

use anyhow::{Context as _, bail};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;

use crate::output::{outln, plural};

/// Where `berth up` listens unless told otherwise.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:4580";

/// A plain-HTTP berth endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `host:port`, as dialled and sent in the Host header.
    pub authority: String,
}

impl Endpoint {
    fn parse(url: &str) -> anyhow::Result<Self> {
        let Some(rest) = url.strip_prefix("http://") else {
            bail!("endpoint {url}: berth serves plain HTTP, give http://HOST:PORT");
        };
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') {
            bail!("endpoint {url}: expected http://HOST:PORT");
        }
        let authority = if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        Ok(Self { authority })
    }
}

/// The first endpoint given, in the order flag, `BERTH_ENDPOINT`, `AWS_ENDPOINT_URL`.
pub fn resolve_endpoint(
    flag: Option<&str>,
    berth_env: Option<&str>,
    aws_env: Option<&str>,
) -> anyhow::Result<Endpoint> {
    Endpoint::parse(flag.or(berth_env).or(aws_env).unwrap_or(DEFAULT_ENDPOINT))
}

/// A request body: in memory, or streamed from chunks.
pub type RequestBody = BoxBody<Bytes, std::io::Error>;

/// A body held in memory.
pub fn full(bytes: impl Into<Bytes>) -> RequestBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A body streamed from `chunks`.
pub fn streamed(chunks: mpsc::Receiver<std::io::Result<Bytes>>) -> RequestBody {
    ChunkBody { chunks }.boxed()
}

struct ChunkBody {
    chunks: mpsc::Receiver<std::io::Result<Bytes>>,
}

impl http_body::Body for ChunkBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        self.chunks
            .poll_recv(cx)
            .map(|chunk| chunk.map(|c| c.map(http_body::Frame::data)))
    }
}

/// Sends one request to berth and returns the response (any status).
pub async fn send(
    endpoint: &Endpoint,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: RequestBody,
) -> anyhow::Result<hyper::Response<Incoming>> {
    let stream = tokio::net::TcpStream::connect(&endpoint.authority)
        .await
        .with_context(|| {
            format!(
                "cannot reach berth at http://{}: is `berth up` running?",
                endpoint.authority
            )
        })?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", &endpoint.authority);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    Ok(sender.send_request(request.body(body)?).await?)
}

/// An error the server answered with: its AWS code and message.
#[derive(Debug)]
pub struct ApiFailure {
    /// The error's `__type`.
    pub code: String,
    /// Its message.
    pub message: String,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiFailure {}

/// Whether `error` is the server's answer with this code.
pub fn is_api_error(error: &anyhow::Error, code: &str) -> bool {
    error
        .downcast_ref::<ApiFailure>()
        .is_some_and(|failure| failure.code == code)
}

/// Reads a whole JSON response; a non-2xx answer becomes an [`ApiFailure`].
pub async fn json_response(
    endpoint: &Endpoint,
    response: hyper::Response<Incoming>,
) -> anyhow::Result<serde_json::Value> {
    let status = response.status();
    let bytes = response.into_body().collect().await?.to_bytes();
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("http://{} did not answer as berth does", endpoint.authority))?;
    if !status.is_success() {
        return Err(ApiFailure {
            code: value["__type"].as_str().unwrap_or("error").to_owned(),
            message: value["message"].as_str().unwrap_or_default().to_owned(),
        }
        .into());
    }
    Ok(value)
}

/// Calls one ECS operation and returns the decoded JSON answer, or the AWS error as text.
pub async fn call_ecs(
    endpoint: &Endpoint,
    operation: &str,
    body: serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let headers = [
        ("content-type", "application/x-amz-json-1.1".to_owned()),
        (
            "x-amz-target",
            format!("AmazonEC2ContainerServiceV20141113.{operation}"),
        ),
    ];
    let response = send(endpoint, "POST", "/", &headers, full(body.to_string())).await?;
    json_response(endpoint, response).await
}

/// The `Authorization` of the CLI's Query calls. berth refuses form bodies that carry none
/// (any web page can post a form, none can add this header to it); the CLI holds no
/// credentials to sign with, so it says in SigV4's shape what it would sign: EC2 in the
/// default region, the one its unsigned JSON calls act in.
const UNSIGNED_QUERY: &str = "AWS4-HMAC-SHA256 \
    Credential=berth-cli/19700101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=none";

/// The default subnet of the caller's default VPC, asked of berth's EC2 API as `aws ec2
/// describe-subnets --filters Name=default-for-az,Values=true` would.
pub async fn default_subnet(endpoint: &Endpoint) -> anyhow::Result<String> {
    let headers = [
        (
            "content-type",
            "application/x-www-form-urlencoded".to_owned(),
        ),
        ("authorization", UNSIGNED_QUERY.to_owned()),
    ];
    let form = "Action=DescribeSubnets&Version=2016-11-15\
                &Filter.1.Name=default-for-az&Filter.1.Value.1=true";
    let response = send(endpoint, "POST", "/", &headers, full(form)).await?;
    let status = response.status();
    let bytes = response.into_body().collect().await?.to_bytes();
    let xml = String::from_utf8_lossy(&bytes);
    // berth's own answer, so the first element of each name is the one meant.
    let element = |name: &str| {
        let open = format!("<{name}>");
        let start = xml.find(&open)? + open.len();
        let end = xml[start..].find(&format!("</{name}>"))?;
        Some(xml[start..start + end].to_owned())
    };
    if !status.is_success() {
        bail!(
            "{}: {}",
            element("Code").unwrap_or_else(|| "error".into()),
            element("Message").unwrap_or_default()
        );
    }
    element("subnetId").with_context(|| {
        format!(
            "berth at http://{} has no default subnet",
            endpoint.authority
        )
    })
}

/// A runtime for one CLI command.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Every page of a paginated ECS list operation: the strings under `field`.
pub async fn list_all(
    endpoint: &Endpoint,
    operation: &str,
    request: serde_json::Value,
    field: &str,
) -> anyhow::Result<Vec<String>> {
    let mut items = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = request.clone();
        if let Some(token) = &token {
            body["nextToken"] = token.clone().into();
        }
        let page = call_ecs(endpoint, operation, body).await?;
        items.extend(
            page[field]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|item| item.as_str().map(str::to_owned)),
        );
        token = page["nextToken"].as_str().map(str::to_owned);
        if token.is_none() {
            return Ok(items);
        }
    }
}

/// `berth status`: whether the server answers, its clusters and the tasks meant to run in
/// them (counted here: ECS's `runningTasksCount` is not kept by berth), and this client's
/// version. The server says nothing through its API of its own version, data directory or
/// firewall backend, so neither does this.
pub fn status(endpoint: &anyhow::Result<Endpoint>) -> anyhow::Result<()> {
    let endpoint = endpoint.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let (clusters, [running, starting, stopping]) = runtime()?.block_on(async {
        let clusters = list_all(
            endpoint,
            "ListClusters",
            serde_json::json!({}),
            "clusterArns",
        )
        .await?;
        // Running, on their way to it, on their way out (their containers have exited).
        let mut counts = [0; 3];
        for cluster in &clusters {
            let tasks = list_all(
                endpoint,
                "ListTasks",
                serde_json::json!({ "cluster": cluster, "desiredStatus": "RUNNING" }),
                "taskArns",
            )
            .await?;
            for chunk in tasks.chunks(100) {
                let described = call_ecs(
                    endpoint,
                    "DescribeTasks",
                    serde_json::json!({ "cluster": cluster, "tasks": chunk }),
                )
                .await?;
                for task in described["tasks"].as_array().into_iter().flatten() {
                    let phase = match task["lastStatus"].as_str() {
                        Some("RUNNING") => 0,
                        Some("PROVISIONING" | "PENDING" | "ACTIVATING") => 1,
                        _ => 2,
                    };
                    counts[phase] += 1;
                }
            }
        }
        anyhow::Ok((clusters.len(), counts))
    })?;
    let mut tasks = plural(running, "task") + " running";
    for (count, doing) in [(starting, "starting"), (stopping, "stopping")] {
        if count > 0 {
            tasks.push_str(&format!(", {count} {doing}"));
        }
    }
    outln!(
        "berth at http://{} is up: {}, {tasks}",
        endpoint.authority,
        plural(clusters, "cluster"),
    )?;
    // What the server says of itself (a server from before this route has nothing to say).
    let info = runtime()?.block_on(async {
        let response = send(endpoint, "GET", "/berth/v1/info", &[], full(Bytes::new())).await?;
        json_response(endpoint, response).await
    });
    if let Ok(info) = info {
        let text = |field: &str| info[field].as_str().unwrap_or("?").to_owned();
        outln!(
            "server: berth {}, data in {}, account {}",
            text("version"),
            text("dataDirectory"),
            text("accountId")
        )?;
        outln!(
            "network: bridge {}, VPC {}, security groups enforced by {}",
            text("bridge"),
            text("vpcCidr"),
            text("firewall")
        )?;
    }
    outln!("client: berth {}", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_precedence_flag_then_berth_then_aws_then_default() {
        let authority = |f, b, a| resolve_endpoint(f, b, a).unwrap().authority;
        let (f, b, a) = (Some("http://f:1"), Some("http://b:2"), Some("http://a:3/"));
        assert_eq!(authority(f, b, a), "f:1");
        assert_eq!(authority(None, b, a), "b:2");
        assert_eq!(authority(None, None, a), "a:3");
        assert_eq!(authority(None, None, None), "127.0.0.1:4580");
        assert_eq!(
            authority(Some("http://localhost"), None, None),
            "localhost:80"
        );
        assert!(resolve_endpoint(Some("https://x:1"), None, None).is_err());
        assert!(resolve_endpoint(Some("http://x:1/path"), None, None).is_err());
    }
}

//! The front door, the one module that knows both protocols and services. Every request
//! passes [`authenticate`], a layer in front of every route (`/berth/v1/...` included): it
//! reads the body (berth's limit, told apart from a broken body), hands the whole request to
//! the [`Authenticator`](crate::Authenticator) and answers a refusal in the request's own
//! protocol. AWS requests then reach [`serve`], which reads the framing (`protocol`), finds
//! the service in the registry (`services`) and has the protocol write the service's answer.

use axum::body::{Body, Bytes};
use axum::extract::{Extension, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use tracing::Instrument;

use crate::auth::{AuthRequest, BERTH_SIGNING_NAME, Caller, Payload, signing_name};
use crate::authorize;
use crate::error::{ApiError, ErrorCode, query_error};
use crate::protocol::aws_json;
use crate::protocol::query::{self, Params, QueryError};
use crate::protocol::xml::{Xml, XmlFlavor};
use crate::protocol::{Framing, body, next_request_id, rpc_v2_cbor};
use crate::services::{self, Handler, Resources, Service};
use crate::{ApiState, MAX_BODY_BYTES};

/// The one route whose body streams to its handler instead of being read first: image
/// archives are far larger than any API document.
pub const STREAMED_PATH: &str = "/berth/v1/images/import";

/// This request's id, as returned in `x-amzn-RequestId`.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The layer in front of every route: body, authentication, request id.
pub async fn authenticate(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let request_id = next_request_id();
    let span = tracing::debug_span!("request", %request_id, path = %request.uri().path());
    let response = async {
        let (mut parts, body) = request.into_parts();
        let framing = Framing::detect_uri(&parts.uri, &parts.headers);
        let (payload, body, read) = if parts.uri.path() == STREAMED_PATH {
            (Payload::Streamed, body, None)
        } else {
            match body::read(body, MAX_BODY_BYTES).await {
                Ok(bytes) => (
                    Payload::Sha256(Sha256::digest(&bytes).into()),
                    Body::from(bytes.clone()),
                    Some(bytes),
                ),
                Err(error) => {
                    return refuse(
                        framing,
                        &parts.headers,
                        &Params::default(),
                        error.into(),
                        &request_id,
                    );
                }
            }
        };
        // Only a Query request names its service in its body.
        let params = match (framing, read.as_deref()) {
            (Framing::Query, Some(body)) => Params::of_request(parts.uri.query(), body),
            _ => Params::default(),
        };
        let service = signed_service(framing, parts.uri.path(), &parts.headers, &params);
        let signed = AuthRequest {
            method: &parts.method,
            path: parts.uri.path(),
            query: parts.uri.query(),
            headers: &parts.headers,
            payload,
            service,
        };
        match state.auth.authenticate(&signed).await {
            Ok(caller) => {
                if framing == Framing::Berth
                    && let Some(action) =
                        authorize::berth_action(parts.method.as_str(), parts.uri.path())
                    && let Err(error) = authorize::authorize(&caller, action, &["*".to_owned()])
                {
                    return refuse(framing, &parts.headers, &params, error, &request_id);
                }
                parts.extensions.insert(caller);
                parts.extensions.insert(RequestId(request_id.clone()));
                next.run(Request::from_parts(parts, body)).await
            }
            Err(error) => refuse(framing, &parts.headers, &params, error, &request_id),
        }
    }
    .instrument(span)
    .await;
    with_request_id(response, &request_id)
}

/// The signing name of the service a request is for — a signature scoped to another service
/// is refused — or `None` when the request names no service berth knows (it is still
/// authenticated, then refused as an unknown operation).
fn signed_service(
    framing: Framing,
    path: &str,
    headers: &HeaderMap,
    params: &Params,
) -> Option<&'static str> {
    match framing {
        Framing::AwsJson(_) => aws_json::target(headers)
            .and_then(|(prefix, _)| services::by_target_prefix(prefix))
            .map(|s| s.signing_name),
        Framing::RpcV2Cbor => rpc_v2_cbor::route(path)
            .and_then(|(name, _)| services::by_cbor_name(name))
            .map(|s| s.signing_name),
        Framing::Query => Some(query_service(params, headers).signing_name),
        Framing::Berth => Some(BERTH_SIGNING_NAME),
    }
}

/// An error met before any service ran, in the request's protocol.
pub(crate) fn refuse(
    framing: Framing,
    headers: &HeaderMap,
    params: &Params,
    error: ApiError,
    request_id: &str,
) -> Response {
    match framing {
        Framing::AwsJson(version) => aws_json::error_response(version, &error),
        Framing::RpcV2Cbor => rpc_v2_cbor::error_response(&error),
        Framing::Berth => error.into_response(),
        Framing::Query => {
            let service = query_service(params, headers);
            let flavor = query_flavor(service);
            query::response(
                flavor,
                Err(query_error(error, flavor == XmlFlavor::Ec2)),
                request_id,
            )
        }
    }
}

pub(crate) fn with_request_id(mut response: Response, request_id: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert("x-amzn-requestid", value);
    }
    response
}

/// Every AWS request (anything but `/berth/v1/...`): to its service, in its protocol.
pub async fn serve(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let framing = Framing::detect_uri(&uri, &headers);
    // AWS requests are POSTs, but for a presigned Query URL, which is a GET.
    let allowed = method == Method::POST || (framing == Framing::Query && method == Method::GET);
    if framing != Framing::Berth && !allowed {
        return refuse(
            framing,
            &headers,
            &Params::default(),
            not_an_operation(),
            &request_id,
        );
    }
    match framing {
        Framing::AwsJson(version) => {
            let result = serve_json(&state, &caller, uri.path(), &headers, &body).await;
            match result {
                Ok(output) => aws_json::response(version, output),
                Err(error) => aws_json::error_response(version, &error),
            }
        }
        Framing::RpcV2Cbor => match serve_cbor(&state, &caller, uri.path(), &body).await {
            Ok(output) => rpc_v2_cbor::response(&output),
            Err(error) => rpc_v2_cbor::error_response(&error),
        },
        Framing::Query => {
            let params = Params::of_request(uri.query(), &body);
            serve_query(&state, &caller, &headers, params, &request_id).await
        }
        Framing::Berth => ApiError::new(
            ErrorCode::UnknownOperationException,
            format!("{} is not a route of berth's API.", uri.path()),
        )
        .into_response(),
    }
}

/// Anything that is no operation of any protocol.
fn not_an_operation() -> ApiError {
    ApiError::new(
        ErrorCode::UnknownOperationException,
        "berth serves AWS JSON (POST / with an X-Amz-Target header), the Query protocol \
         (a form-encoded POST /) and rpc-v2-cbor (POST /service/S/operation/O).",
    )
}

async fn serve_json(
    state: &ApiState,
    caller: &Caller,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<u8>, ApiError> {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some((prefix, operation)) = aws_json::target(headers).filter(|_| path == "/") else {
        return Err(aws_json::unknown_operation(target));
    };
    let service = services::by_target_prefix(prefix);
    match service.map(|s| s.handler) {
        Some(Handler::Json(handler)) => {
            authorize_json(caller, service.expect("matched above"), operation, body)?;
            let span = tracing::debug_span!("operation", %target);
            handler(state, caller, operation, body)
                .instrument(span)
                .await
        }
        _ => Err(aws_json::unknown_operation(target)),
    }
}

async fn serve_cbor(
    state: &ApiState,
    caller: &Caller,
    path: &str,
    body: &[u8],
) -> Result<Vec<u8>, ApiError> {
    let Some((name, operation)) = rpc_v2_cbor::route(path) else {
        return Err(not_an_operation());
    };
    let target = format!("{name}.{operation}");
    let service = services::by_cbor_name(name);
    match service.map(|s| s.handler) {
        Some(Handler::Json(handler)) => {
            let input = rpc_v2_cbor::input_as_json(body)?;
            authorize_json(caller, service.expect("matched above"), operation, &input)?;
            let span = tracing::debug_span!("operation", %target);
            handler(state, caller, operation, &input)
                .instrument(span)
                .await
        }
        _ => Err(aws_json::unknown_operation(&target)),
    }
}

async fn serve_query(
    state: &ApiState,
    caller: &Caller,
    headers: &HeaderMap,
    params: Params,
    request_id: &str,
) -> Response {
    let service = query_service(&params, headers);
    let flavor = query_flavor(service);
    let result = async {
        let action = params.required("Action").map_err(|_| {
            QueryError::new(
                "MissingAction",
                "The request must contain the parameter Action",
            )
        })?;
        let (Handler::Query(handler), Some(binding)) = (service.handler, service.query) else {
            return Err(QueryError::invalid_action(action));
        };
        if authorize::needs_check(caller) {
            let resources = match service.resources {
                Resources::Query(resources) => resources(&caller.scope, action, &params),
                _ => vec!["*".to_owned()],
            };
            let iam_action = format!("{}:{action}", service.action_prefix);
            authorize::authorize(caller, &iam_action, &resources)
                .map_err(|error| query_error(error, flavor == XmlFlavor::Ec2))?;
        }
        let mut out = Xml::response(action, binding.namespace, flavor, request_id);
        let span = tracing::debug_span!("operation", service = service.signing_name, %action);
        handler(state, caller, action, &params, &mut out)
            .instrument(span)
            .await?;
        Ok(out.finish())
    }
    .await;
    query::response(flavor, result, request_id)
}

/// Authorizes a JSON operation of `service`: its action on the resources its input names.
fn authorize_json(
    caller: &Caller,
    service: &Service,
    operation: &str,
    input: &[u8],
) -> Result<(), ApiError> {
    if !authorize::needs_check(caller) {
        return Ok(());
    }
    let resources = match service.resources {
        Resources::Json(resources) => {
            let input = serde_json::from_slice(input).unwrap_or(serde_json::Value::Null);
            resources(&caller.scope, operation, &input)
        }
        _ => vec!["*".to_owned()],
    };
    authorize::authorize(
        caller,
        &format!("{}:{operation}", service.action_prefix),
        &resources,
    )
}

/// The Query service a request is for: by `Version`, else its signature's service.
fn query_service(params: &Params, headers: &HeaderMap) -> &'static Service {
    services::by_query_version(params.get("Version"), signing_name(headers))
}

fn query_flavor(service: &Service) -> XmlFlavor {
    service.query.map_or(XmlFlavor::Ec2, |q| q.flavor)
}

/// A `/berth/v1` path asked with a method it is not served with: in berth's error shape,
/// not the framework's empty 405.
pub async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    ApiError::new(
        ErrorCode::MethodNotAllowedException,
        format!("{} is not served for {method}.", uri.path()),
    )
    .into_response()
}

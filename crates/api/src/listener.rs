//! berth's accept loop, in place of `axum::serve`, so that slow or idle clients cannot hold
//! the server: HTTP/1.1 through hyper with
//!
//! - a **header timeout** ([`HEADER_TIMEOUT`]): a request's head must be in that long after
//!   the connection opened or its previous answer was written. hyper starts the clock as a
//!   kept-alive connection goes idle, so the same timeout closes **idle keep-alive**
//!   connections;
//! - a **body timeout** ([`BODY_TIMEOUT`], `timed_body`): at most that long without bytes,
//!   and for bodies read whole (all but image archives) that long in all;
//! - a **connection limit** ([`MAX_CONNECTIONS`]): beyond it the loop stops accepting, and
//!   new connections wait in the kernel's accept queue until one ends. Waiting costs berth
//!   nothing (no file descriptor, no task) and serves the client as soon as a slot frees —
//!   which the timeouts guarantee happens — where closing them would turn away the honest
//!   client together with the flood; the limit keeps berth's file descriptors for its store,
//!   images and tasks;
//! - **graceful shutdown**: on the signal it stops accepting, lets each connection finish its
//!   request in flight (idle ones close at once) and returns once all have closed, as
//!   `axum::serve` did — but waits [`SHUTDOWN_GRACE`] at most, so that a followed log, a long
//!   poll or a client halfway through a head cannot keep berth from stopping.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::Service;

use crate::endpoint::STREAMED_PATH;
use crate::timed_body::TimedBody;

/// How long a request's head may take, counted from the connection's start or its previous
/// answer (so also how long a kept-alive connection may sit idle). Every client berth serves
/// sends its head in one write; ten seconds is plenty across any network.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a body may go without bytes, and a body read whole (at most
/// [`MAX_BODY_BYTES`](crate::MAX_BODY_BYTES)) may take in all: a megabyte in thirty seconds
/// asks 35 KB/s of a client. Image imports stream for as long as they need, but never stall
/// for longer.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// How many connections are served at once. Half of the usual 1024 open files, so that a
/// flood of connections leaves berth the files it needs; a client pool rarely keeps more
/// than a few dozen.
pub const MAX_CONNECTIONS: usize = 512;

/// How long a stop waits for requests in flight. Every API call takes milliseconds; what runs
/// longer is a long poll or a stream (a followed log, a pull's progress), which would hold the
/// server up for as long as its client likes.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How long the loop waits before accepting again after the system refused (out of file
/// descriptors, most often): the condition passes only as files close.
const ACCEPT_RETRY: Duration = Duration::from_secs(1);

/// The limits a server runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// See [`HEADER_TIMEOUT`].
    pub header_timeout: Duration,
    /// See [`BODY_TIMEOUT`].
    pub body_timeout: Duration,
    /// See [`MAX_CONNECTIONS`].
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_timeout: HEADER_TIMEOUT,
            body_timeout: BODY_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then until every connection has
/// closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()>,
) {
    let max = u32::try_from(limits.max_connections)
        .unwrap_or(u32::MAX)
        .max(1);
    let slots = Arc::new(Semaphore::new(max as usize));
    let (phase, phases) = watch::channel(Phase::Serving);
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // A slot first: past the limit, connections wait in the accept queue.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    if !is_connection_error(&error) {
                        tracing::error!(%error, "cannot accept connections; retrying");
                        tokio::select! {
                            () = tokio::time::sleep(ACCEPT_RETRY) => {}
                            () = &mut shutdown => break,
                        }
                    }
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let router = router.clone();
        let body_timeout = limits.body_timeout;
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let whole = request.uri().path() != STREAMED_PATH;
            let request = request.map(|body| TimedBody::new(body, body_timeout, whole));
            // The router is always ready, and a clone is a reference count.
            router.clone().call(request)
        });
        let connection = http.serve_connection(TokioIo::new(stream), service);
        let mut phase = phases.clone();
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => Some(result),
                () = reached(&mut phase, Phase::Draining) => {
                    connection.as_mut().graceful_shutdown();
                    tokio::select! {
                        result = connection.as_mut() => Some(result),
                        () = reached(&mut phase, Phase::Closing) => None,
                    }
                }
            };
            if let Some(Err(error)) = result {
                // Timeouts, resets and malformed requests: the client's doing, not berth's.
                tracing::debug!(%error, "connection ended");
            }
            drop(slot);
        });
    }
    drop(listener);
    let _ = phase.send(Phase::Draining);
    // Every connection holds a slot: all of them back means every connection has closed.
    if tokio::time::timeout(SHUTDOWN_GRACE, slots.acquire_many(max))
        .await
        .is_err()
    {
        tracing::warn!(
            open = max as usize - slots.available_permits(),
            "closing the connections still busy {} s after the stop signal",
            SHUTDOWN_GRACE.as_secs()
        );
        let _ = phase.send(Phase::Closing);
        let _ = slots.acquire_many(max).await;
    }
}

/// Where the server is in its life, as every connection follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    /// Serving requests.
    Serving,
    /// Stopped accepting: finish the request in flight, then close.
    Draining,
    /// Close now.
    Closing,
}

/// Resolves once the server has reached `phase` (or is gone).
async fn reached(phases: &mut watch::Receiver<Phase>, phase: Phase) {
    let _ = phases.wait_for(|now| *now >= phase).await;
}

/// Errors of one connection that never reached berth, not of the listener.
fn is_connection_error(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

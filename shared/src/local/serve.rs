//! The local server's HTTP/1 loop: the router on hyper with the read timeouts that
//! `axum::serve` cannot set, so a client that stalls sending a request's head or body is
//! dropped instead of holding a connection (and a task) for ever. On Lambda there is no
//! such loop: API Gateway and function URLs read the whole request first.

use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::serve::Listener;
use futures::FutureExt;
use http_body::{Frame, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::sync::watch;
use tokio::time::Sleep;

use crate::handlers::ApiError;

/// How long a request's head (request line and headers) may take to arrive, counted from
/// when the server waits for it, also on an idle kept-alive connection. Clients send a head
/// in one go; hyper's own default, generous for slow links.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a request's whole body may take to arrive once its head is read: bodies here
/// are a few KiB (at most 2 MiB), so a minute is ample on a slow link, and a trickle that
/// never ends is cut off too.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// The local server's read timeouts ([`HEADER_READ_TIMEOUT`], [`BODY_READ_TIMEOUT`]
/// unless set; tests shorten them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadTimeouts {
    pub header: Duration,
    pub body: Duration,
}

impl Default for ReadTimeouts {
    fn default() -> Self {
        ReadTimeouts {
            header: HEADER_READ_TIMEOUT,
            body: BODY_READ_TIMEOUT,
        }
    }
}

/// Serves `router` on `listener` until `stopped` turns true, then lets the requests in
/// flight finish and returns once every connection is closed.
pub(super) async fn run(
    mut listener: tokio::net::TcpListener,
    router: Router,
    timeouts: ReadTimeouts,
    mut stopped: watch::Receiver<bool>,
) {
    let router = router.layer(axum::middleware::from_fn_with_state(
        timeouts.body,
        body_deadline,
    ));
    // Each connection holds a receiver; `closed()` below waits for the last to go.
    let (open_tx, open_rx) = watch::channel(());
    loop {
        let (io, _peer) = tokio::select! {
            // axum's accept: retries on errors (EMFILE: after a pause) instead of failing.
            accepted = Listener::accept(&mut listener) => accepted,
            _ = stopped.wait_for(|stop| *stop) => break,
        };
        let service = TowerToHyperService::new(router.clone());
        let (stopped, open) = (stopped.clone(), open_rx.clone());
        tokio::spawn(async move {
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(timeouts.header);
            let mut conn = pin!(builder.serve_connection(TokioIo::new(io), service));
            let mut stopping = pin!(stopped_signal(stopped).fuse());
            loop {
                tokio::select! {
                    served = conn.as_mut() => {
                        if let Err(e) = served {
                            tracing::debug!(error = %e, "connection closed");
                        }
                        break;
                    }
                    () = &mut stopping => conn.as_mut().graceful_shutdown(),
                }
            }
            drop(open);
        });
    }
    drop(open_rx);
    open_tx.closed().await;
}

/// Resolves once `stopped` turns true (fused by the caller, so it fires once).
async fn stopped_signal(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// Middleware: the request's body must arrive within `limit` of its head. Past that its
/// reads fail, and whatever the handler made of that is replaced by a JSON 408 that closes
/// the connection.
async fn body_deadline(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    let expired = Arc::new(AtomicBool::new(false));
    let request = request.map(|inner| {
        Body::new(DeadlineBody {
            inner,
            deadline: Box::pin(tokio::time::sleep(limit)),
            expired: expired.clone(),
        })
    });
    let response = next.run(request).await;
    if !expired.load(Ordering::Relaxed) {
        return response;
    }
    let detail = format!(
        "the request body did not arrive within {} s",
        limit.as_secs_f64()
    );
    let mut response = ApiError::from_status(StatusCode::REQUEST_TIMEOUT, detail).into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
struct BodyTimedOut;

/// A request body that fails once its deadline passes while it waits for more.
struct DeadlineBody {
    inner: Body,
    deadline: Pin<Box<Sleep>>,
    expired: Arc<AtomicBool>,
}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        if self.deadline.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.expired.store(true, Ordering::Relaxed);
        Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut))))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

//! The Lambda Runtime API one function instance talks to (`AWS_LAMBDA_RUNTIME_API`): the
//! runtime long-polls `next` for an event, then posts its response or error. Init errors
//! are recorded; the instance's process exits after reporting one.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::{Mutex, mpsc, oneshot, watch};

const API: &str = "/2018-06-01/runtime";

/// An event handed to the runtime and the channel its outcome goes back on.
pub struct Pending {
    pub request_id: String,
    pub payload: Bytes,
    pub deadline: SystemTime,
    pub function_arn: String,
    pub outcome: oneshot::Sender<Outcome>,
}

/// What the runtime reported for one event.
#[derive(Debug)]
pub enum Outcome {
    Response(Bytes),
    /// `errorType` / `errorMessage` as the runtime posted them.
    Error {
        error_type: String,
        message: String,
    },
}

struct InstanceState {
    events: Mutex<mpsc::Receiver<Pending>>,
    current: Mutex<Option<(String, oneshot::Sender<Outcome>)>>,
    /// Set on the first `next`: the runtime has finished its init.
    ready: watch::Sender<bool>,
    init_error: Mutex<Option<String>>,
}

/// A running Runtime API endpoint for one instance.
pub struct RuntimeApi {
    pub addr: SocketAddr,
    pub events: mpsc::Sender<Pending>,
    pub ready: watch::Receiver<bool>,
    state: Arc<InstanceState>,
    server: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    pub async fn start() -> std::io::Result<Self> {
        let (events, receiver) = mpsc::channel(1);
        let (ready_tx, ready) = watch::channel(false);
        let state = Arc::new(InstanceState {
            events: Mutex::new(receiver),
            current: Mutex::new(None),
            ready: ready_tx,
            init_error: Mutex::new(None),
        });
        let router = Router::new()
            .route(&format!("{API}/invocation/next"), get(next))
            .route(&format!("{API}/invocation/{{id}}/response"), post(response))
            .route(&format!("{API}/invocation/{{id}}/error"), post(error))
            .route(&format!("{API}/init/error"), post(init_error))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::warn!(error = %e, "runtime API stopped");
            }
        });
        Ok(RuntimeApi {
            addr,
            events,
            ready,
            state,
            server,
        })
    }

    /// The error the runtime reported during init, if any.
    pub async fn init_error(&self) -> Option<String> {
        self.state.init_error.lock().await.clone()
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn next(State(state): State<Arc<InstanceState>>) -> Response {
    state.ready.send_replace(true);
    let Some(pending) = state.events.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let deadline_ms = pending
        .deadline
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    put("lambda-runtime-aws-request-id", &pending.request_id);
    put("lambda-runtime-deadline-ms", &deadline_ms.to_string());
    put("lambda-runtime-invoked-function-arn", &pending.function_arn);
    put(
        "lambda-runtime-trace-id",
        &format!("Root=1-{:08x}-{}", deadline_ms / 1000, pending.request_id),
    );
    put("content-type", "application/json");
    *state.current.lock().await = Some((pending.request_id, pending.outcome));
    (headers, pending.payload).into_response()
}

async fn settle(state: &InstanceState, id: &str, outcome: Outcome) -> Response {
    let mut current = state.current.lock().await;
    match current.take() {
        Some((expected, sender)) if expected == id => {
            // The invoker may have given up (timeout); the outcome then has no reader.
            let _ = sender.send(outcome);
            (
                StatusCode::ACCEPTED,
                axum::Json(serde_json::json!({"status": "OK"})),
            )
                .into_response()
        }
        other => {
            *current = other;
            (
                StatusCode::BAD_REQUEST,
                axum::Json(serde_json::json!({
                    "errorType": "InvalidRequestID",
                    "errorMessage": format!("unknown request id {id}")
                })),
            )
                .into_response()
        }
    }
}

async fn response(
    State(state): State<Arc<InstanceState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    settle(&state, &id, Outcome::Response(body)).await
}

async fn error(
    State(state): State<Arc<InstanceState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let (error_type, message) = parse_error(&body);
    settle(
        &state,
        &id,
        Outcome::Error {
            error_type,
            message,
        },
    )
    .await
}

async fn init_error(State(state): State<Arc<InstanceState>>, body: Bytes) -> Response {
    let (error_type, message) = parse_error(&body);
    *state.init_error.lock().await = Some(format!("{error_type}: {message}"));
    (
        StatusCode::ACCEPTED,
        axum::Json(serde_json::json!({"status": "OK"})),
    )
        .into_response()
}

/// The runtime's error document: `{"errorType": ..., "errorMessage": ...}`.
fn parse_error(body: &[u8]) -> (String, String) {
    let doc: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let field = |name: &str| doc[name].as_str().unwrap_or_default().to_string();
    (field("errorType"), field("errorMessage"))
}

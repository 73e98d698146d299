//! Scripted outages and the request log: answers queued per app that stand in for the next
//! requests before any handler runs, and every request logged with its answer so a test can
//! assert the exact calls made and when.

use std::time::Instant;

use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::http::{api_key, error};
use super::{Apps, KeapMock};

/// An answer the mock gives instead of serving a request (see [`KeapMock::fail_next`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptedFailure {
    /// This 5xx status, with Keap's error body.
    ServerError(u16),
    /// 429 with `Retry-After` in seconds and the body Keap's gateway sends.
    RateLimited { retry_after_secs: u64 },
}

impl IntoResponse for ScriptedFailure {
    fn into_response(self) -> Response {
        match self {
            ScriptedFailure::ServerError(code) => {
                let status = StatusCode::from_u16(code)
                    .ok()
                    .filter(StatusCode::is_server_error)
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                error(status, "Scripted outage").into_response()
            }
            ScriptedFailure::RateLimited { retry_after_secs } => (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", retry_after_secs.to_string())],
                axum::Json(json!({
                    "code": "429", "message": "Quota Exceeded", "status": "Request Throttled"
                })),
            )
                .into_response(),
        }
    }
}

/// A request the mock received, and its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    /// The decoded query pairs, in order.
    pub query: Vec<(String, String)>,
    pub status: u16,
    /// When the answer was ready.
    pub at: Instant,
}

impl KeapMock {
    /// Answers the app's next requests with `failures`, one each, in order (after any
    /// failures already queued).
    pub fn fail_next(&self, api_key: &str, failures: &[ScriptedFailure]) {
        self.with_app(api_key, |app| {
            app.scripted.extend(failures.iter().map(|f| (None, *f)));
        });
    }

    /// Takes the app down (every request answers 503, as Keap does in an outage) or brings
    /// it back up.
    pub fn set_down(&self, api_key: &str, down: bool) {
        self.with_app(api_key, |app| app.down = down);
    }

    /// As [`fail_next`](Self::fail_next), for requests with this method and path only
    /// (`POST`, `/crm/rest/v2/automations/goals/achieve`).
    pub fn fail_next_on(
        &self,
        api_key: &str,
        method: &str,
        path: &str,
        failures: &[ScriptedFailure],
    ) {
        let route = (method.to_string(), path.to_string());
        self.with_app(api_key, |app| {
            app.scripted
                .extend(failures.iter().map(|f| (Some(route.clone()), *f)));
        });
    }

    /// Every request made with `api_key` so far, oldest first.
    pub fn requests(&self, api_key: &str) -> Vec<LoggedRequest> {
        self.with_app(api_key, |app| app.requests.clone())
    }
}

/// Answers a scripted failure instead of the request when one is queued for its app, and
/// logs the request with its answer.
pub(super) async fn script_and_log(
    State(apps): State<Apps>,
    request: Request,
    next: Next,
) -> Response {
    let key = api_key(request.headers()).to_string();
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let query = Query::<Vec<(String, String)>>::try_from_uri(request.uri())
        .map(|q| q.0)
        .unwrap_or_default();
    let scripted = {
        let mut apps = apps.lock().unwrap_or_else(|p| p.into_inner());
        apps.get_mut(&key).and_then(|app| {
            let applies = |route: &Option<(String, String)>| {
                route
                    .as_ref()
                    .is_none_or(|(m, p)| *m == method && *p == path)
            };
            if app.down {
                return Some(ScriptedFailure::ServerError(503));
            }
            let index = app.scripted.iter().position(|(route, _)| applies(route))?;
            app.scripted.remove(index).map(|(_, failure)| failure)
        })
    };
    let response = match scripted {
        Some(failure) => failure.into_response(),
        None => next.run(request).await,
    };
    let mut apps = apps.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(app) = apps.get_mut(&key) {
        app.requests.push(LoggedRequest {
            method,
            path,
            query,
            status: response.status().as_u16(),
            at: Instant::now(),
        });
    }
    response
}

//! Twilio's phone-number resources as `smsflow numbers` calls them ([`NumberResources`]):
//! every request is checked against Twilio's OpenAPI definition ([`openapi`]) and answered
//! with the documented JSON shapes and Twilio's error body `{code, message, more_info,
//! status}`. The tests run them as a server of their own ([`TwilioNumbersMock`]); the stack
//! runner's Twilio stand-in serves them beside `Messages.json` (`stack/src/twilio.rs`).
//!
//! It holds numbers on offer (AvailablePhoneNumbers) and numbers owned per Twilio account
//! (IncomingPhoneNumbers); a purchase moves one from the first to the second. Credentials
//! are HTTP Basic as Twilio takes them (account SID and auth token, or API key); others are
//! Twilio's 401 (20003). A test can make the next call of an operation fail with any
//! Twilio error ([`TwilioNumbersMock::fail_next`]).
//!
//! A request the definition does not allow is answered with the reason (404 for a path it
//! does not have, else 400) and recorded; the tests' mock fails the test when dropped (it
//! panics there unless the test already is).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use smsflow_shared::domain::TwilioCredentials;

pub mod openapi;
mod resources;

use openapi::{Matched, Request, Spec};
pub use resources::{Offer, Owned};

/// A Twilio error the mock answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub http_status: u16,
    pub code: u32,
    pub message: String,
}

impl Failure {
    pub fn new(http_status: u16, code: u32, message: impl Into<String>) -> Self {
        Failure {
            http_status,
            code,
            message: message.into(),
        }
    }

    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.http_status).unwrap_or(StatusCode::BAD_REQUEST);
        let body = json!({
            "code": self.code,
            "message": self.message,
            "more_info": format!("https://www.twilio.com/docs/errors/{}", self.code),
            "status": self.http_status,
        });
        (status, axum::Json(body)).into_response()
    }
}

/// What the mock holds.
#[derive(Default)]
struct State {
    /// The `Authorization` header each Twilio account SID accepts.
    credentials: HashMap<String, Vec<String>>,
    offered: Vec<Offer>,
    owned: Vec<Owned>,
    /// Operation id → the error its next call answers.
    failures: HashMap<String, Failure>,
    /// Operation ids of the calls, in order.
    calls: Vec<String>,
    /// Requests Twilio's definition does not allow, and why.
    violations: Vec<String>,
    next_sid: u64,
}

/// The number resources of a set of Twilio accounts, shared by the server that serves them
/// and whoever sets them up.
#[derive(Clone)]
pub struct NumberResources {
    state: Arc<Mutex<State>>,
    spec: Arc<Spec>,
}

impl NumberResources {
    /// For these Twilio accounts (the only credentials accepted), with nothing on offer or
    /// owned.
    pub fn new(accounts: &[TwilioCredentials]) -> Self {
        let mut state = State::default();
        for account in accounts {
            state
                .credentials
                .entry(account.account_sid.clone())
                .or_default()
                .push(authorization(account));
        }
        NumberResources {
            state: Arc::new(Mutex::new(state)),
            spec: Arc::new(Spec::load()),
        }
    }

    /// Serves every request it gets as one of Twilio's number resources.
    pub fn router(&self) -> Router {
        Router::new()
            .fallback(answer)
            .with_state((self.state.clone(), self.spec.clone()))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Puts a number on offer.
    pub fn offer(&self, offer: Offer) {
        self.state().offered.push(offer);
    }

    /// Gives Twilio account `account_sid` the number, as it is set up in Twilio; its SID.
    pub fn own(&self, owned: Owned) -> String {
        let mut state = self.state();
        let mut owned = owned;
        if owned.sid.is_empty() {
            owned.sid = new_sid(&mut state);
        }
        let sid = owned.sid.clone();
        state.owned.push(owned);
        sid
    }

    /// Takes `number` from Twilio account `account_sid` (released, or moved elsewhere).
    pub fn disown(&self, account_sid: &str, number: &str) {
        (self.state().owned).retain(|o| !(o.account_sid == account_sid && o.number == number));
    }

    /// The numbers Twilio account `account_sid` owns.
    pub fn owned_by(&self, account_sid: &str) -> Vec<Owned> {
        (self.state().owned.iter())
            .filter(|o| o.account_sid == account_sid)
            .cloned()
            .collect()
    }

    /// Makes the next call of `operation_id` (e.g. `CreateIncomingPhoneNumber`) fail.
    pub fn fail_next(&self, operation_id: &str, failure: Failure) {
        self.state()
            .failures
            .insert(operation_id.to_string(), failure);
    }

    /// The operation ids called, in order.
    pub fn calls(&self) -> Vec<String> {
        self.state().calls.clone()
    }

    /// The requests Twilio's definition does not allow, with the reason.
    pub fn violations(&self) -> Vec<String> {
        self.state().violations.clone()
    }
}

/// The tests' mock: [`NumberResources`] on a server of their own; it stops when dropped,
/// and fails the test if any request broke Twilio's definition.
pub struct TwilioNumbersMock {
    addr: SocketAddr,
    resources: NumberResources,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TwilioNumbersMock {
    fn drop(&mut self) {
        self.task.abort();
        let violations = self.violations();
        if !violations.is_empty() && !std::thread::panicking() {
            panic!(
                "requests broke Twilio's OpenAPI definition:\n{}",
                violations.join("\n")
            );
        }
    }
}

impl Deref for TwilioNumbersMock {
    type Target = NumberResources;

    fn deref(&self) -> &NumberResources {
        &self.resources
    }
}

impl TwilioNumbersMock {
    /// Starts the mock for these Twilio accounts (the only credentials it accepts).
    pub async fn start(accounts: &[TwilioCredentials]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        let resources = NumberResources::new(accounts);
        let app = resources.router();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TwilioNumbersMock {
            addr,
            resources,
            task,
        }
    }

    /// Twilio's API origin for the client (`--twilio-api-url`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// `Basic base64(user:password)` as smsflow's adapter authenticates (API key when given).
fn authorization(account: &TwilioCredentials) -> String {
    let pair = match &account.api_key {
        Some(key) => format!("{}:{}", key.sid, key.secret.expose()),
        None => format!("{}:{}", account.account_sid, account.auth_token.expose()),
    };
    format!("Basic {}", BASE64.encode(pair))
}

fn new_sid(state: &mut State) -> String {
    state.next_sid += 1;
    format!("PN{:032x}", state.next_sid)
}

type Shared = (Arc<Mutex<State>>, Arc<Spec>);

async fn answer(
    axum::extract::State((state, spec)): axum::extract::State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let request = Request {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query(),
        content_type: text(header::CONTENT_TYPE),
        authorization: text(header::AUTHORIZATION),
        body: &body,
    };
    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
    let matched = match spec.check(&request) {
        Ok(matched) => matched,
        Err(reason) => {
            let line = format!("{method} {}: {reason}", uri.path());
            state.violations.push(line.clone());
            // Twilio's 404 for a resource it does not have; 400 for a request it refuses.
            let status = if reason.starts_with(openapi::NO_PATH) {
                404
            } else {
                400
            };
            let code = if status == 404 { 20404 } else { 0 };
            return Failure::new(status, code, format!("mock: {line}")).into_response();
        }
    };
    state.calls.push(matched.operation_id.clone());
    let account_sid = path_param(&matched, "AccountSid");
    let accepted = state.credentials.get(&account_sid);
    if !accepted.is_some_and(|ok| {
        request
            .authorization
            .is_some_and(|h| ok.iter().any(|a| a == h))
    }) {
        return Failure::new(401, 20003, "Authenticate").into_response();
    }
    if let Some(failure) = state.failures.remove(&matched.operation_id) {
        return failure.into_response();
    }
    let query = form(request.query.unwrap_or_default().as_bytes());
    let body = form(&body);
    resources::serve(&mut state, &matched, &account_sid, &query, &body)
}

fn path_param(matched: &Matched, name: &str) -> String {
    (matched.path_params.iter())
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

fn form(bytes: &[u8]) -> HashMap<String, String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(bytes)
        .unwrap_or_default()
        .into_iter()
        .collect()
}

/// JSON with the status.
fn reply(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

//! Instasent's stand-in: a real HTTP server speaking Instasent's Transactional API as
//! smsflow's adapter (`shared/src/adapters/instasent.rs`) calls it — `POST {base}/sms`
//! and `GET {base}/sms?page=N&per_page=M` under `/transactional/v1` — in front of local
//! mode's sandbox carrier playing Instasent (`shared/src/adapters/embedded/carrier.rs`),
//! which keeps what it accepted and posts the JSON delivery reports (`sent`, then
//! `delivered`, `failed` or `stop`) to the account's callback URL, as Instasent posts to
//! the URL pasted into the API token.
//!
//! What it adds is Instasent's HTTP side: `Authorization: Bearer` with a configured token
//! (else 401), a JSON body with `from`, `to` (E.164) and `text` (else 400
//! `{"message": …}`), `201 {"entity": {"id", …}}`, and the message list, newest first.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::{Value, json};
use smsflow_shared::adapters::embedded::carrier::{
    CallbackRoute, CarrierMessage, SandboxCarrier, instasent_account_key,
};
use smsflow_shared::adapters::embedded::{DbError, EmbeddedDb};
use smsflow_shared::domain::{InstasentCredentials, PhoneNumber, ProviderCredentials};
use smsflow_shared::ports::{OutboundSms, Sender, SmsError, SmsProvider, SystemClock, UlidIds};
use tokio::net::TcpListener;

/// Where the API lives on the stand-in, as on Instasent's host.
pub const BASE_PATH: &str = "/transactional/v1";

/// One account the stand-in serves: its credentials and the callback URL its token has.
#[derive(Debug, Clone)]
pub struct InstasentAccount {
    pub credentials: InstasentCredentials,
    pub callback_url: String,
}

/// The stand-in's listener, bound before the configuration is derived so accounts can
/// name its URL.
pub struct InstasentSeat {
    listener: TcpListener,
    /// The base URL accounts are given (`http://127.0.0.1:PORT/transactional/v1`).
    pub base_url: String,
}

impl InstasentSeat {
    pub async fn bind(port: u16) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let base_url = format!("http://{}{BASE_PATH}", listener.local_addr()?);
        Ok(InstasentSeat { listener, base_url })
    }

    /// Starts the stand-in for `accounts`; reports to `callback_route`'s public origin go
    /// to its local one.
    pub async fn start(
        self,
        accounts: Vec<InstasentAccount>,
        callback_route: Option<CallbackRoute>,
    ) -> Result<InstasentStandIn, InstasentStandInError> {
        InstasentStandIn::start_on(self.listener, accounts, callback_route)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InstasentStandInError {
    #[error("cannot listen on a loopback port: {0}")]
    Listen(#[from] std::io::Error),
    #[error("cannot open the sandbox carrier's store: {0}")]
    Carrier(#[from] DbError),
    #[error("cannot build the HTTP client for delivery reports: {0}")]
    Http(#[from] reqwest::Error),
}

/// A running Instasent stand-in on `127.0.0.1`; it stops when dropped.
pub struct InstasentStandIn {
    addr: SocketAddr,
    carrier: Arc<SandboxCarrier>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for InstasentStandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Service {
    /// By API token.
    accounts: HashMap<String, InstasentAccount>,
    carrier: Arc<SandboxCarrier>,
}

impl InstasentStandIn {
    pub async fn start(
        accounts: Vec<InstasentAccount>,
        callback_route: Option<CallbackRoute>,
    ) -> Result<Self, InstasentStandInError> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        Self::start_on(listener, accounts, callback_route)
    }

    fn start_on(
        listener: TcpListener,
        accounts: Vec<InstasentAccount>,
        callback_route: Option<CallbackRoute>,
    ) -> Result<Self, InstasentStandInError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        let mut carrier = SandboxCarrier::new(
            EmbeddedDb::in_memory()?,
            http,
            Arc::new(SystemClock),
            Arc::new(UlidIds::default()),
        );
        if let Some(route) = callback_route {
            carrier = carrier.with_callback_route(route);
        }
        let addr = listener.local_addr()?;
        let carrier = Arc::new(carrier);
        let service = Arc::new(Service {
            accounts: (accounts.into_iter())
                .map(|a| (a.credentials.api_token.expose().to_string(), a))
                .collect(),
            carrier: carrier.clone(),
        });
        let router = Router::new()
            .route(&format!("{BASE_PATH}/sms"), post(create).get(list))
            .with_state(service);
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::warn!(error = %e, "Instasent stand-in stopped");
            }
        });
        Ok(InstasentStandIn {
            addr,
            carrier,
            task,
        })
    }

    /// The base URL accounts are given.
    pub fn base_url(&self) -> String {
        format!("http://{}{BASE_PATH}", self.addr)
    }

    /// The messages the carrier accepted, newest first (what `/_sandbox/messages` lists).
    pub async fn messages(&self, limit: usize) -> Result<Vec<CarrierMessage>, DbError> {
        self.carrier.messages(limit).await
    }
}

/// Instasent's error answer: the status and `{"message": …}`.
fn failure(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "message": message }))).into_response()
}

/// The account whose token the request carries.
fn authenticated<'a>(service: &'a Service, headers: &HeaderMap) -> Option<&'a InstasentAccount> {
    let token = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?;
    service.accounts.get(token)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SmsRequest {
    from: String,
    to: String,
    text: String,
    client_id: Option<String>,
}

async fn create(State(service): State<Arc<Service>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(account) = authenticated(&service, &headers) else {
        return failure(StatusCode::UNAUTHORIZED, "Unauthorized");
    };
    let Ok(request) = serde_json::from_slice::<SmsRequest>(&body) else {
        return failure(StatusCode::BAD_REQUEST, "Problems parsing JSON");
    };
    let Ok(to) = PhoneNumber::parse_e164(&request.to) else {
        return failure(StatusCode::BAD_REQUEST, "to: not a valid phone number");
    };
    let sender = match PhoneNumber::parse_e164(&request.from) {
        Ok(number) => Sender::Number(number),
        Err(_) => Sender::Alphanumeric(request.from.clone()),
    };
    let sms = OutboundSms {
        to,
        sender,
        body: request.text,
        media_urls: vec![],
        status_callback: Some(account.callback_url.clone()),
        client_id: request.client_id.clone(),
    };
    let credentials = ProviderCredentials::Instasent(&account.credentials);
    match service.carrier.send(credentials, &sms).await {
        Ok(accepted) => {
            let entity = json!({
                "id": accepted.sid.as_str(),
                "clientId": request.client_id,
                "status": "enqueued",
            });
            (StatusCode::CREATED, axum::Json(json!({ "entity": entity }))).into_response()
        }
        Err(SmsError::Rejected { message, .. }) => failure(StatusCode::BAD_REQUEST, &message),
        Err(SmsError::RateLimited { .. }) => StatusCode::TOO_MANY_REQUESTS.into_response(),
        Err(e) => failure(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// The token's messages, newest first, one page of `per_page` (Instasent's default 10).
async fn list(
    State(service): State<Arc<Service>>,
    Query(paging): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let Some(account) = authenticated(&service, &headers) else {
        return failure(StatusCode::UNAUTHORIZED, "Unauthorized");
    };
    let number = |name: &str, default: usize| {
        (paging.get(name).and_then(|v| v.parse::<usize>().ok()))
            .unwrap_or(default)
            .max(1)
    };
    let (page, per_page) = (number("page", 1), number("per_page", 10).min(100));
    let key = instasent_account_key(&account.credentials);
    let stored = match service
        .carrier
        .messages_where(usize::MAX, move |m| m.account_sid == key)
        .await
    {
        Ok(stored) => stored,
        Err(e) => return failure(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let entities: Vec<Value> = stored
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|m| {
            let created = jiff::Timestamp::from_millisecond(m.accepted_at.as_millis())
                .map(|t| t.to_string())
                .unwrap_or_default();
            json!({
                "id": m.sid, "clientId": m.client_id, "from": m.from, "to": m.to,
                "text": m.body, "status": "enqueued", "createdAt": created,
            })
        })
        .collect();
    axum::Json(json!({ "entities": entities })).into_response()
}

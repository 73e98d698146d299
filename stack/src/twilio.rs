//! Twilio's stand-in: a real HTTP server speaking Twilio's REST
//! `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` as smsflow's adapter
//! (`shared/src/adapters/twilio.rs`) calls it, in front of local mode's sandbox carrier
//! (`shared/src/adapters/embedded/carrier.rs`). The carrier is the one implementation of
//! the magic test numbers, the accepted-message store and the signed status callbacks
//! (`sent` → `delivered`, or `undelivered` 30006 for its landline); this module only adds
//! what Twilio's HTTP side does:
//!
//! - **Authentication**: HTTP Basic with `AccountSid:AuthToken` or, when the account has
//!   one, `ApiKeySid:ApiKeySecret`, for the account named in the path. Anything else is
//!   Twilio's 401 (`20003 Authenticate`).
//! - **Required fields**, checked in this order with Twilio's codes: `To` (21604, and
//!   21211 when it is not an E.164 number), a sender `From` or `MessagingServiceSid`
//!   (21603; a `From` starting with `+` that is not E.164 is 21212, any other `From` is an
//!   alphanumeric sender), content `Body` or `MediaUrl` (21602). A body that is not a form
//!   has none of these fields, so it is refused with 21604, as Twilio refuses JSON.
//! - **Listing**: `GET …/Messages.json` with `To`, `From` and `PageSize` filters, newest
//!   first, as smsflow asks when it resolves a send whose answer was lost.
//! - **Answers**: `201` with Twilio's Message resource, or Twilio's error JSON with the
//!   HTTP status our adapter turns back into the carrier's [`SmsError`] (see
//!   [`TwilioFailure::from_sms_error`]).
//!
//! - **Phone numbers**: every other path is one of Twilio's number resources
//!   (`AvailablePhoneNumbers`, `IncomingPhoneNumbers`) as `smsflow numbers` calls them,
//!   held to Twilio's OpenAPI definition ([`NumberResources`]); a path Twilio does not have
//!   is its 404 (`20404`).
//!
//! Not checked, as the sandbox carrier does not check them either: that `From` or the
//! Messaging Service belongs to the account, body length (21617), media count and sizes.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::twilio_numbers::NumberResources;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use smsflow_shared::adapters::embedded::carrier::{CallbackRoute, CarrierMessage, SandboxCarrier};
use smsflow_shared::adapters::embedded::{DbError, EmbeddedDb};
use smsflow_shared::domain::MessageSid;
use smsflow_shared::domain::segments::count_segments;
use smsflow_shared::domain::twilio_errors::{ErrorClass, classify_error_code};
use smsflow_shared::domain::{MessageStatus, PhoneNumber, ProviderCredentials, TwilioCredentials};
use smsflow_shared::ports::{
    OutboundSms, ProviderAccepted, Sender, SmsError, SmsProvider, SystemClock, UlidIds,
};

/// Twilio's REST concurrency code, answered with HTTP 429.
const TOO_MANY_REQUESTS: u32 = 20429;
/// Twilio's code for a full sender queue, answered with HTTP 400.
const SENDER_QUEUE_FULL: u32 = 21611;

/// Why the stand-in could not start.
#[derive(Debug, thiserror::Error)]
pub enum TwilioStandInError {
    #[error("cannot listen on a loopback port: {0}")]
    Listen(#[from] std::io::Error),
    #[error("cannot open the sandbox carrier's store: {0}")]
    Carrier(#[from] DbError),
    #[error("cannot build the HTTP client for status callbacks: {0}")]
    Http(#[from] reqwest::Error),
}

/// A running Twilio stand-in on `127.0.0.1`; it stops when dropped.
pub struct TwilioStandIn {
    addr: SocketAddr,
    carrier: Arc<SandboxCarrier>,
    numbers: NumberResources,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TwilioStandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the request handler needs.
struct Service {
    /// By account SID.
    accounts: HashMap<String, TwilioCredentials>,
    carrier: Arc<SandboxCarrier>,
}

impl TwilioStandIn {
    /// Starts the stand-in for `accounts` (the only credentials it accepts) with a sandbox
    /// carrier kept in memory. `callback_route` sends status callbacks for the API's
    /// public origin to the API front's local address (see [`CallbackRoute`]).
    pub async fn start(
        accounts: Vec<TwilioCredentials>,
        callback_route: Option<CallbackRoute>,
    ) -> Result<Self, TwilioStandInError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        Self::start_on(listener, accounts, callback_route).await
    }

    /// As [`start`](Self::start), on a listener bound earlier (the runner binds it before
    /// the stack exists, to give the template its URL).
    pub async fn start_on(
        listener: tokio::net::TcpListener,
        accounts: Vec<TwilioCredentials>,
        callback_route: Option<CallbackRoute>,
    ) -> Result<Self, TwilioStandInError> {
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
        Self::serve(listener, accounts, carrier)
    }

    /// As [`start`](Self::start), in front of a carrier set up by the caller.
    pub async fn start_with_carrier(
        accounts: Vec<TwilioCredentials>,
        carrier: SandboxCarrier,
    ) -> Result<Self, TwilioStandInError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        Self::serve(listener, accounts, carrier)
    }

    fn serve(
        listener: tokio::net::TcpListener,
        accounts: Vec<TwilioCredentials>,
        carrier: SandboxCarrier,
    ) -> Result<Self, TwilioStandInError> {
        let addr = listener.local_addr()?;
        let carrier = Arc::new(carrier);
        let numbers = NumberResources::new(&accounts);
        let service = Arc::new(Service {
            accounts: accounts
                .into_iter()
                .map(|a| (a.account_sid.clone(), a))
                .collect(),
            carrier: carrier.clone(),
        });
        let numbers_served = numbers.clone();
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router(service, &numbers_served)).await {
                tracing::warn!(error = %e, "Twilio stand-in stopped");
            }
        });
        Ok(TwilioStandIn {
            addr,
            carrier,
            numbers,
            task,
        })
    }

    /// Its phone numbers: on offer, and owned by each account (`smsflow numbers`).
    pub fn numbers(&self) -> &NumberResources {
        &self.numbers
    }

    /// The base URL to give the functions (`SMSFLOW_TWILIO_API_BASE_URL`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The messages the carrier accepted, newest first (what `/_sandbox/messages` lists).
    pub async fn messages(&self, limit: usize) -> Result<Vec<CarrierMessage>, DbError> {
        self.carrier.messages(limit).await
    }
}

fn router(service: Arc<Service>, numbers: &NumberResources) -> Router {
    Router::new()
        .route(
            "/2010-04-01/Accounts/{account_sid}/Messages.json",
            post(create_message).get(list_messages),
        )
        .fallback_service(numbers.router())
        .with_state(service)
}

async fn create_message(
    State(service): State<Arc<Service>>,
    Path(account_sid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match accept(&service, &account_sid, &headers, &body).await {
        Ok(created) => (StatusCode::CREATED, axum::Json(created)).into_response(),
        Err(failure) => failure.into_response(),
    }
}

/// Twilio's message list: the account's messages matching the `To` and `From` filters,
/// newest first, one page of at most `PageSize` (Twilio's default 50).
async fn list_messages(
    State(service): State<Arc<Service>>,
    Path(account_sid): Path<String>,
    Query(filters): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Err(failure) = authenticate(&service.accounts, &account_sid, &headers) {
        return failure.into_response();
    }
    let page_size = filters
        .get("PageSize")
        .and_then(|size| size.parse::<usize>().ok())
        .unwrap_or(50)
        .clamp(1, 1000);
    let wanted = |value: &str, filter: &str| filters.get(filter).is_none_or(|f| f == value);
    let stored = match service.carrier.messages(usize::MAX).await {
        Ok(stored) => stored,
        Err(e) => {
            return TwilioFailure::from_sms_error(SmsError::Unavailable(e.to_string()))
                .into_response();
        }
    };
    let messages: Vec<Value> = stored
        .iter()
        .filter(|m| m.account_sid == account_sid && wanted(&m.to, "To") && wanted(&m.from, "From"))
        .take(page_size)
        .filter_map(listed_resource)
        .collect();
    let uri = format!("/2010-04-01/Accounts/{account_sid}/Messages.json");
    let page = json!({
        "end": messages.len().saturating_sub(1),
        "first_page_uri": uri,
        "next_page_uri": null,
        "page": 0,
        "page_size": page_size,
        "previous_page_uri": null,
        "start": 0,
        "uri": uri,
        "messages": messages,
    });
    axum::Json(page).into_response()
}

/// A stored message as a Message resource of the list (`queued`: the carrier keeps no
/// later status).
fn listed_resource(message: &CarrierMessage) -> Option<Value> {
    let sender = if message.from.starts_with("MG") {
        Sender::MessagingService(message.from.clone())
    } else {
        sender_from(&message.from).ok()?
    };
    let sms = OutboundSms {
        to: PhoneNumber::parse_e164(&message.to).ok()?,
        sender,
        body: message.body.clone(),
        media_urls: message.media_urls.clone(),
        status_callback: message.status_callback.clone(),
        client_id: None,
    };
    let accepted = ProviderAccepted {
        sid: MessageSid::new(message.sid.clone()),
        status: MessageStatus::Queued,
        segments: None,
    };
    let created = jiff::Timestamp::from_millisecond(message.accepted_at.as_millis()).ok()?;
    Some(message_resource(
        &message.account_sid,
        &sms,
        &accepted,
        created,
    ))
}

/// Authenticates, validates and hands the message to the carrier; Twilio's Message resource
/// when the carrier accepts it.
async fn accept(
    service: &Service,
    account_sid: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, TwilioFailure> {
    let credentials = authenticate(&service.accounts, account_sid, headers)?;
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let sms = outbound_sms(&form)?;
    let accepted = service
        .carrier
        .send(ProviderCredentials::Twilio(credentials), &sms)
        .await
        .map_err(TwilioFailure::from_sms_error)?;
    Ok(message_resource(
        account_sid,
        &sms,
        &accepted,
        jiff::Timestamp::now(),
    ))
}

/// The account of the path, when the request's Basic credentials are its auth token or
/// its API key.
fn authenticate<'a>(
    accounts: &'a HashMap<String, TwilioCredentials>,
    account_sid: &str,
    headers: &HeaderMap,
) -> Result<&'a TwilioCredentials, TwilioFailure> {
    let (user, password) = basic_credentials(headers).ok_or_else(TwilioFailure::authenticate)?;
    let account = accounts
        .get(account_sid)
        .ok_or_else(TwilioFailure::authenticate)?;
    let by_token = user == account.account_sid && password == account.auth_token.expose();
    let by_key = account
        .api_key
        .as_ref()
        .is_some_and(|key| user == key.sid && password == key.secret.expose());
    if by_token || by_key {
        Ok(account)
    } else {
        Err(TwilioFailure::authenticate())
    }
}

/// User and password of an `Authorization: Basic …` header.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(BASE64.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// The message a create request asks for, or Twilio's refusal of a missing or malformed
/// field.
fn outbound_sms(form: &[(String, String)]) -> Result<OutboundSms, TwilioFailure> {
    let first = |name: &str| {
        form.iter()
            .find(|(key, value)| key == name && !value.is_empty())
            .map(|(_, value)| value.as_str())
    };
    let to = first("To").ok_or_else(|| {
        TwilioFailure::bad_request(21604, "A 'To' phone number is required.".into())
    })?;
    let to = PhoneNumber::parse_e164(to).map_err(|_| {
        TwilioFailure::bad_request(
            21211,
            format!("The 'To' number {to} is not a valid phone number."),
        )
    })?;
    let sender = match (first("From"), first("MessagingServiceSid")) {
        (Some(from), _) => sender_from(from)?,
        (None, Some(service)) => Sender::MessagingService(service.to_string()),
        (None, None) => {
            return Err(TwilioFailure::bad_request(
                21603,
                "A 'From' phone number is required.".into(),
            ));
        }
    };
    let media_urls: Vec<String> = form
        .iter()
        .filter(|(key, value)| key == "MediaUrl" && !value.is_empty())
        .map(|(_, value)| value.clone())
        .collect();
    let body = first("Body").unwrap_or_default().to_string();
    if body.is_empty() && media_urls.is_empty() {
        return Err(TwilioFailure::bad_request(
            21602,
            "Message body is required.".into(),
        ));
    }
    Ok(OutboundSms {
        to,
        sender,
        body,
        media_urls,
        status_callback: first("StatusCallback").map(str::to_string),
        client_id: None,
    })
}

/// A `From`: a phone number when it starts with `+`, else an alphanumeric sender id.
fn sender_from(from: &str) -> Result<Sender, TwilioFailure> {
    if !from.starts_with('+') {
        return Ok(Sender::Alphanumeric(from.to_string()));
    }
    PhoneNumber::parse_e164(from)
        .map(Sender::Number)
        .map_err(|_| {
            TwilioFailure::bad_request(
                21212,
                format!("The 'From' number {from} is not a valid phone number, shortcode, or alphanumeric sender ID."),
            )
        })
}

/// Twilio's Message resource for a message just accepted. Counts are strings, as Twilio
/// sends them; with a Messaging Service `from` is null and `num_segments` is `"0"` until
/// Twilio picks a sender. `status` is the carrier's (`queued`), also with a Messaging
/// Service, where Twilio answers `accepted`: both shapes then record the same status.
fn message_resource(
    account_sid: &str,
    sms: &OutboundSms,
    accepted: &ProviderAccepted,
    created: jiff::Timestamp,
) -> Value {
    let (from, service) = match &sms.sender {
        Sender::MessagingService(sid) => (None, Some(sid.as_str())),
        other => (Some(other.as_str()), None),
    };
    let segments = match service {
        Some(_) => 0,
        None => count_segments(&sms.body).segments,
    };
    let now = rfc2822(created);
    let uri = format!(
        "/2010-04-01/Accounts/{account_sid}/Messages/{}",
        accepted.sid
    );
    json!({
        "account_sid": account_sid,
        "api_version": "2010-04-01",
        "body": sms.body,
        "date_created": now,
        "date_sent": null,
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": null,
        "error_message": null,
        "from": from,
        "messaging_service_sid": service,
        "num_media": sms.media_urls.len().to_string(),
        "num_segments": segments.to_string(),
        "price": null,
        "price_unit": "USD",
        "sid": accepted.sid,
        "status": accepted.status.as_str(),
        "subresource_uris": { "media": format!("{uri}/Media.json") },
        "to": sms.to.as_str(),
        "uri": format!("{uri}.json"),
    })
}

/// A time as Twilio writes dates (`Thu, 30 Jul 2015 20:12:31 +0000`); null if it cannot
/// be written.
fn rfc2822(at: jiff::Timestamp) -> Option<String> {
    jiff::fmt::rfc2822::to_string(&at.to_zoned(jiff::tz::TimeZone::UTC)).ok()
}

/// An error answer in Twilio's shape: `{code, message, more_info, status}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Twilio error {code} (HTTP {status}): {message}")]
pub struct TwilioFailure {
    status: StatusCode,
    code: u32,
    message: String,
    retry_after: Option<Duration>,
}

impl TwilioFailure {
    fn new(status: StatusCode, code: u32, message: String) -> Self {
        TwilioFailure {
            status,
            code,
            message,
            retry_after: None,
        }
    }

    fn bad_request(code: u32, message: String) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// Wrong, missing or unknown credentials.
    fn authenticate() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, 20003, "Authenticate".into())
    }

    /// The answer that our adapter (`shared/src/adapters/twilio.rs`, `error_from_response`)
    /// turns back into `error`:
    /// - `Rejected` keeps its code, message and HTTP status (400 when that is not a 4xx).
    /// - `RateLimited` keeps its code and `Retry-After`; it is sent with 429 for 20429 (and
    ///   codes the adapter does not class as rate or queue, which only a 429 makes
    ///   `RateLimited`), and with 400 for the others, as Twilio sends 21611.
    /// - `Unavailable` is a 500 (`20500`) carrying its text: the adapter's error is
    ///   `Unavailable` again, its text prefixed with the HTTP status.
    /// - `OutcomeUnknown`, which the sandbox carrier never returns, is answered the same.
    pub fn from_sms_error(error: SmsError) -> Self {
        match error {
            SmsError::Rejected {
                code,
                message,
                http_status,
                ..
            } => {
                let status = StatusCode::from_u16(http_status)
                    .ok()
                    .filter(StatusCode::is_client_error)
                    .unwrap_or(StatusCode::BAD_REQUEST);
                Self::new(status, code, message)
            }
            SmsError::RateLimited { code, retry_after } => TwilioFailure {
                retry_after,
                ..rate_limited(code)
            },
            SmsError::Unavailable(detail) | SmsError::OutcomeUnknown(detail) => {
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, 20500, detail)
            }
        }
    }
}

/// Twilio's answer for a rate or queue limit with this code.
fn rate_limited(code: u32) -> TwilioFailure {
    let queue_code =
        code != TOO_MANY_REQUESTS && classify_error_code(code) == ErrorClass::RateOrQueue;
    if queue_code {
        let message = if code == SENDER_QUEUE_FULL {
            "This 'From' number has exceeded the maximum number of queued messages"
        } else {
            "Queue overflow"
        };
        TwilioFailure::bad_request(code, message.into())
    } else {
        TwilioFailure::new(
            StatusCode::TOO_MANY_REQUESTS,
            code,
            "Too Many Requests".into(),
        )
    }
}

impl IntoResponse for TwilioFailure {
    fn into_response(self) -> Response {
        let body = json!({
            "code": self.code,
            "message": self.message,
            "more_info": format!("https://www.twilio.com/docs/errors/{}", self.code),
            "status": self.status.as_u16(),
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(after) = self.retry_after {
            let seconds = after.as_secs() + u64::from(after.subsec_nanos() > 0);
            headers.insert(header::RETRY_AFTER, seconds.into());
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Basic realm=\"Twilio API\""),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests;

//! What every route of the stand-in does alike: open the app of the request's API key, refuse
//! with Keap's v2 `Error` body, read JSON bodies, path ids and list queries strictly.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;

use axum::body::Bytes;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use smsflow_shared::ports::crm::CrmError;

use super::{App, Apps};

/// A refusal, answered with Keap's v2 `Error` body.
#[derive(Debug)]
pub(super) struct KeapError {
    status: StatusCode,
    message: String,
}

pub(super) fn error(status: StatusCode, message: impl Into<String>) -> KeapError {
    KeapError {
        status,
        message: message.into(),
    }
}

impl IntoResponse for KeapError {
    fn into_response(self) -> Response {
        let body = json!({
            "code": self.status.as_u16(),
            "message": self.message,
            "status": self
                .status
                .canonical_reason()
                .unwrap_or_default()
                .to_uppercase()
                .replace(' ', "_"),
            "details": []
        });
        (self.status, axum::Json(body)).into_response()
    }
}

/// A refusal of the mock as the port's error: a 404 names what is missing.
impl From<KeapError> for CrmError {
    fn from(refusal: KeapError) -> Self {
        if refusal.status == StatusCode::NOT_FOUND {
            CrmError::NotFound(refusal.message)
        } else {
            CrmError::Rejected(refusal.message)
        }
    }
}

/// A successful answer: status and JSON body.
pub(super) type Reply = (StatusCode, Value);

pub(super) fn answer(status: StatusCode, body: Value) -> Reply {
    (status, body)
}

pub(super) type Outcome = Result<Reply, KeapError>;

/// The API key a request opens its app with (`X-Keap-API-Key`); empty without one.
pub(super) fn api_key(headers: &HeaderMap) -> &str {
    headers
        .get("x-keap-api-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// The caller of a route: the app its API key opens, if any. Every route answers through
/// [`Caller::answer`].
pub(super) struct Caller {
    apps: Apps,
    api_key: String,
}

impl FromRequestParts<Apps> for Caller {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, apps: &Apps) -> Result<Self, Infallible> {
        Ok(Caller {
            apps: apps.clone(),
            api_key: api_key(&parts.headers).to_string(),
        })
    }
}

impl Caller {
    /// Answers a `GET` of one stored record of `kind` (`Contact`, `Note`): the record of
    /// `records` the path's `raw_id` names, as stored.
    pub(super) fn answer_record(
        &self,
        kind: &str,
        raw_id: &str,
        records: fn(&App) -> &BTreeMap<u64, Value>,
    ) -> Response {
        self.answer(|app| {
            let (_, found) = path_record(records(app), kind, raw_id)?;
            Ok(answer(StatusCode::OK, found.clone()))
        })
    }

    /// Runs `f` on the caller's app (401 without a known key) and answers its outcome.
    pub(super) fn answer(&self, f: impl FnOnce(&mut App) -> Outcome) -> Response {
        let mut apps = self.apps.lock().unwrap_or_else(|p| p.into_inner());
        let outcome = match apps.get_mut(&self.api_key) {
            Some(app) => f(app),
            None => Err(error(StatusCode::UNAUTHORIZED, "Invalid API key")),
        };
        match outcome {
            Ok((status, body)) => (status, axum::Json(body)).into_response(),
            Err(refusal) => refusal.into_response(),
        }
    }
}

pub(super) fn json_object(body: &Bytes) -> Result<Map<String, Value>, KeapError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(error(
            StatusCode::BAD_REQUEST,
            "request body must be a JSON object",
        )),
    }
}

/// The request body: a JSON object of `known` properties only.
pub(super) fn json_body(body: &Bytes, known: &[&str]) -> Result<Map<String, Value>, KeapError> {
    let body = json_object(body)?;
    only_known_properties(&body, known)?;
    Ok(body)
}

pub(super) fn only_known_properties(
    body: &Map<String, Value>,
    known: &[&str],
) -> Result<(), KeapError> {
    only_known(body.keys(), known, "field")
}

/// Record `id` of `records` (contacts, notes...), or Keap's 404 for it (`Contact 7 not
/// found`).
pub(super) fn record<'a, T>(
    records: &'a BTreeMap<u64, T>,
    kind: &str,
    id: u64,
) -> Result<&'a T, KeapError> {
    records.get(&id).ok_or_else(|| not_found(kind, id))
}

/// [`record`], to change it.
pub(super) fn record_mut<'a, T>(
    records: &'a mut BTreeMap<u64, T>,
    kind: &str,
    id: u64,
) -> Result<&'a mut T, KeapError> {
    records.get_mut(&id).ok_or_else(|| not_found(kind, id))
}

pub(super) fn not_found(kind: &str, id: u64) -> KeapError {
    error(StatusCode::NOT_FOUND, format!("{kind} {id} not found"))
}

/// The record of `kind` whose id is the path's `raw` id, with that id: Keap's 400 for an id
/// that is no number, its 404 for one not stored.
pub(super) fn path_record<'a, T>(
    records: &'a BTreeMap<u64, T>,
    kind: &str,
    raw: &str,
) -> Result<(u64, &'a T), KeapError> {
    let id = path_id(raw, &kind.to_lowercase())?;
    Ok((id, record(records, kind, id)?))
}

pub(super) fn path_id(raw: &str, what: &str) -> Result<u64, KeapError> {
    raw.parse().map_err(|_| {
        error(
            StatusCode::BAD_REQUEST,
            format!("invalid {what} id '{raw}'"),
        )
    })
}

/// `key==value` conditions of a v2 `filter`, split on `;`.
pub(super) fn filter_conditions(
    filter: Option<&String>,
) -> Result<HashMap<String, String>, KeapError> {
    let mut conditions = HashMap::new();
    for condition in filter.map(String::as_str).unwrap_or_default().split(';') {
        if condition.is_empty() {
            continue;
        }
        let (key, value) = condition.split_once("==").ok_or_else(|| {
            error(
                StatusCode::BAD_REQUEST,
                format!("unsupported filter '{condition}'"),
            )
        })?;
        conditions.insert(key.to_string(), value.to_string());
    }
    Ok(conditions)
}

/// Refuses the first of `keys` not `known`, as Keap refuses an unknown `what` (`field`,
/// `query parameter`).
pub(super) fn only_known<'a>(
    mut keys: impl Iterator<Item = &'a String>,
    known: &[&str],
    what: &str,
) -> Result<(), KeapError> {
    match keys.find(|k| !known.contains(&k.as_str())) {
        Some(unknown) => Err(error(
            StatusCode::BAD_REQUEST,
            format!("Unrecognized {what} \"{unknown}\""),
        )),
        None => Ok(()),
    }
}

pub(super) fn page_size(query: &HashMap<String, String>) -> Result<usize, KeapError> {
    match query.get("page_size") {
        None => Ok(1000),
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if n <= 1000 => Ok(if n == 0 { 1000 } else { n }),
            _ => Err(error(
                StatusCode::BAD_REQUEST,
                format!("invalid page_size '{raw}'"),
            )),
        },
    }
}

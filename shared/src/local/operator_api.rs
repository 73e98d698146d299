//! `/_local/...`: the operator's read commands, served by `smsflow serve` to the CLI, which
//! cannot open the database while the server holds it (`smsflow conversations list|show`
//! and `smsflow dlq list` then ask the server instead). Only `smsflow serve` has these
//! routes; on AWS the CLI reads the table and the queues.
//!
//! Unlike `/_sandbox`, they show every account's data, so each request must carry the
//! server's operator token (`Authorization: Bearer <token>`): a random token made when the
//! server starts and written, readable by its owner only, with the server's URL to
//! `<data_dir>/serve.json`, which the CLI reads. Whoever can read the data directory could
//! open the database anyway; nobody else gets in, even with `--allow-remote`.

use std::path::Path;
use std::sync::Arc;

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use super::LocalRuntime;
use super::sandbox::stored_account;
use super::sandbox_api::{
    OPERATOR_CONVERSATIONS_PATH, OPERATOR_DEAD_LETTERS_PATH, OPERATOR_THREAD_PATH, backend, invalid,
};
use crate::handlers::ApiError;
use crate::ports::QueueName;
use crate::usecases::{conversations, dead_letters};

/// The file in the data directory that tells the CLI where the server is and its token.
pub const SERVE_FILE: &str = "serve.json";

/// What `serve.json` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServeFile {
    /// The server's base URL (`http://127.0.0.1:8080`).
    pub url: String,
    pub token: String,
}

impl ServeFile {
    /// Writes it to `dir`, readable and writable by its owner only.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        use std::io::Write;
        let path = dir.join(SERVE_FILE);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&path)?;
        file.write_all(&serde_json::to_vec(self).map_err(std::io::Error::other)?)
    }

    /// The file in `dir`, if a server wrote one.
    pub fn read(dir: &Path) -> Option<ServeFile> {
        let text = std::fs::read(dir.join(SERVE_FILE)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    pub fn remove(dir: &Path) {
        let _ = std::fs::remove_file(dir.join(SERVE_FILE));
    }
}

/// A new operator token: 32 random bytes, hex.
pub fn new_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

pub fn router(runtime: Arc<LocalRuntime>) -> Router {
    Router::new()
        .route(OPERATOR_CONVERSATIONS_PATH, get(recent))
        .route(OPERATOR_THREAD_PATH, get(thread))
        .route(OPERATOR_DEAD_LETTERS_PATH, get(dead_letter_list))
        .with_state(runtime)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Limit {
    limit: Option<usize>,
}

/// 401 without the token, 403 with another.
fn authorised(rt: &LocalRuntime, headers: &HeaderMap) -> Result<(), ApiError> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing_token",
            "send the server's operator token (data directory's serve.json) as Authorization: Bearer <token>",
        )),
        Some(token) if bool::from(token.as_bytes().ct_eq(rt.operator_token.as_bytes())) => Ok(()),
        Some(_) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "invalid_token",
            "not this server's operator token",
        )),
    }
}

/// The account's recent conversations, as `smsflow conversations list --json` prints them.
async fn recent(
    State(rt): State<Arc<LocalRuntime>>,
    UrlPath(account): UrlPath<String>,
    Query(limit): Query<Limit>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authorised(&rt, &headers)?;
    let account = stored_account(&rt, &account).await?;
    let listed = conversations::recent(&*rt.app.store, &account.id, limit.limit.unwrap_or(20))
        .await
        .map_err(backend)?;
    Ok(Json(json!({ "conversations": listed })))
}

/// One contact's thread, as `smsflow conversations show --json` prints it.
async fn thread(
    State(rt): State<Arc<LocalRuntime>>,
    UrlPath((account, phone)): UrlPath<(String, String)>,
    Query(limit): Query<Limit>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authorised(&rt, &headers)?;
    let account = stored_account(&rt, &account).await?;
    let phone = account
        .parse_phone(&phone)
        .map_err(|e| invalid("phone", e))?;
    let thread = conversations::thread(&*rt.app.store, &account, &phone, limit.limit.unwrap_or(50))
        .await
        .map_err(backend)?;
    match thread {
        Some(thread) => Ok(Json(json!(thread))),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("account {} has no messages with {phone}", account.id),
        )),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Max {
    max: Option<usize>,
}

/// A queue's dead letters, as `smsflow dlq list --json` prints them.
async fn dead_letter_list(
    State(rt): State<Arc<LocalRuntime>>,
    UrlPath(queue): UrlPath<String>,
    Query(max): Query<Max>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authorised(&rt, &headers)?;
    let queue: QueueName = queue.parse().map_err(|e| invalid("queue", e))?;
    let now = rt.app.clock.now();
    let store = &*rt.app.store;
    let jobs = dead_letters::list(&*rt.queue, store, queue, max.max.unwrap_or(100), now)
        .await
        .map_err(backend)?;
    Ok(Json(json!({ "jobs": jobs })))
}

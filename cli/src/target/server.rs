//! `smsflow serve`'s operator API (`shared/src/local/operator_api.rs`), for read commands run
//! while the server holds the local database.

use serde::de::DeserializeOwned;
use smsflow_shared::local::operator_api::ServeFile;

use crate::output::{CliError, CliResult, ErrorKind};

pub struct RunningServer {
    file: ServeFile,
    http: reqwest::Client,
}

impl RunningServer {
    pub fn new(file: ServeFile) -> Self {
        RunningServer {
            file,
            http: reqwest::Client::new(),
        }
    }

    /// GETs `path` (already encoded) from the server: its JSON answer, or its
    /// `{error, detail}` as the command's error.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> CliResult<T> {
        let url = format!("{}{path}", self.file.url);
        let unreachable = |e: reqwest::Error| {
            CliError::new(ErrorKind::Backend, format!("{url}: {e}")).with_hint(
                "the database is in use by `smsflow serve`, which did not answer: is it still running?",
            )
        };
        let answer = self
            .http
            .get(&url)
            .bearer_auth(&self.file.token)
            .send()
            .await
            .map_err(unreachable)?;
        let status = answer.status();
        let body: serde_json::Value = answer.json().await.map_err(unreachable)?;
        if status.is_success() {
            return serde_json::from_value(body).map_err(|e| {
                CliError::new(
                    ErrorKind::Internal,
                    format!("{url} answered what this CLI cannot read: {e}"),
                )
            });
        }
        let detail = body["detail"].as_str().unwrap_or("no detail").to_string();
        let kind = match status.as_u16() {
            404 => ErrorKind::NotFound,
            400 => ErrorKind::InvalidInput,
            _ => ErrorKind::Backend,
        };
        Err(CliError::new(kind, detail))
    }
}

/// `text` as one path segment.
pub fn segment(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

//! One Keap request, done right: paced per token, authenticated (API key or OAuth bearer),
//! 429s with a short `Retry-After` waited out, and every other answer mapped to a
//! `CrmError`.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{ACCEPT, HeaderMap};
use reqwest::{Method, Response, StatusCode, Url};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::errors::{error_message, transport_error};
use super::oauth::{OAuthClient, OAuthSessions};
use super::rate_limit::RateLimiter;
use super::{KEAP_API_BASE_URL, KeapSettings};
use crate::adapters::http_retry::retry_after;
use crate::domain::{Account, CrmConnection, KeapAuth, Secret};
use crate::ports::credentials::CredentialStore;
use crate::ports::crm::{CrmError, CrmResult};

/// The header Keap reads personal access tokens and service account keys from.
pub(super) const API_KEY_HEADER: &str = "X-Keap-API-Key";

/// A request to make: path below the base URL (`/rest/v2/...`), query, JSON body, and
/// what it is about (named in `NotFound`).
#[derive(Debug, Clone)]
pub(super) struct Call {
    method: Method,
    path: String,
    query: Vec<(&'static str, String)>,
    body: Option<serde_json::Value>,
    subject: String,
}

impl Call {
    fn new(method: Method, path: String, subject: String) -> Self {
        Call {
            method,
            path,
            query: Vec::new(),
            body: None,
            subject,
        }
    }

    pub(super) fn get(path: String, subject: String) -> Self {
        Call::new(Method::GET, path, subject)
    }

    pub(super) fn post(path: String, subject: String, body: serde_json::Value) -> Self {
        Call::new(Method::POST, path, subject).json(body)
    }

    pub(super) fn patch(path: String, subject: String, body: serde_json::Value) -> Self {
        Call::new(Method::PATCH, path, subject).json(body)
    }

    pub(super) fn query(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.query.push((name, value.into()));
        self
    }

    fn json(mut self, body: serde_json::Value) -> Self {
        self.body = Some(body);
        self
    }
}

/// What authenticates one request.
enum Credential {
    ApiKey(Secret),
    Bearer(Secret),
}

pub(super) struct KeapClient {
    http: reqwest::Client,
    settings: KeapSettings,
    rate_limiter: RateLimiter,
    oauth: OAuthSessions,
}

impl KeapClient {
    pub(super) fn new(
        http: reqwest::Client,
        settings: KeapSettings,
        credentials: Arc<dyn CredentialStore>,
    ) -> Self {
        KeapClient {
            rate_limiter: RateLimiter::new(&settings.rate_limit),
            oauth: OAuthSessions::new(
                settings.token_url.clone(),
                settings.token_refresh_margin,
                credentials,
            ),
            http,
            settings,
        }
    }

    #[cfg(test)]
    pub(super) fn rate_limiter(&self) -> &RateLimiter {
        &self.rate_limiter
    }

    /// Sends `call` and decodes Keap's JSON answer.
    pub(super) async fn json<T: DeserializeOwned>(
        &self,
        account: &Account,
        call: &Call,
    ) -> CrmResult<T> {
        let body = self.send(account, call).await?;
        serde_json::from_slice(&body).map_err(|e| {
            CrmError::Unavailable(format!(
                "unexpected Keap answer to {} {}: {e}",
                call.method, call.path
            ))
        })
    }

    /// Sends `call` and returns the body of a 2xx answer.
    pub(super) async fn send(&self, account: &Account, call: &Call) -> CrmResult<Vec<u8>> {
        let (base_url, auth) = keap_connection(account)?;
        let url = request_url(base_url, call)?;
        let rate_limit_key = rate_limit_key(account, auth);
        let mut rate_limited_retries = 0;
        let mut token_renewed = false;
        loop {
            self.rate_limiter.acquire(&rate_limit_key).await?;
            let credential = self.credential(account, auth).await?;
            let response = self
                .request(call, &url, &credential)
                .send()
                .await
                .map_err(transport_error)?;
            let status = response.status();
            if status == StatusCode::TOO_MANY_REQUESTS {
                self.wait_out_rate_limit(account, response.headers(), &mut rate_limited_retries)
                    .await?;
                continue;
            }
            if status == StatusCode::UNAUTHORIZED
                && !token_renewed
                && self.forget_refused_token(account, auth, &credential).await
            {
                // The access token was revoked or expired early: renew it once.
                token_renewed = true;
                continue;
            }
            return answer(account, call, response).await;
        }
    }

    fn request(&self, call: &Call, url: &Url, credential: &Credential) -> reqwest::RequestBuilder {
        let mut request = self
            .http
            .request(call.method.clone(), url.clone())
            .header(ACCEPT, "application/json");
        if let Some(body) = &call.body {
            request = request.json(body);
        }
        match credential {
            Credential::ApiKey(key) => request.header(API_KEY_HEADER, key.expose()),
            Credential::Bearer(token) => request.bearer_auth(token.expose()),
        }
    }

    /// After a 429: waits the answer's `Retry-After` out (`Ok`, send again) while it is
    /// short and the retry budget lasts, else defers the call to the job queue.
    async fn wait_out_rate_limit(
        &self,
        account: &Account,
        headers: &HeaderMap,
        retries: &mut u32,
    ) -> CrmResult<()> {
        let retry_after = retry_after(headers);
        // Keap asks for backoff; without a Retry-After, back off 1 s, then 2 s.
        let wait = retry_after.unwrap_or(Duration::from_secs(1 << *retries));
        if *retries < self.settings.max_rate_limit_retries
            && wait <= self.settings.max_inline_retry_after
        {
            *retries += 1;
            tracing::warn!(
                account = %account.id,
                wait_ms = wait.as_millis() as u64,
                attempt = *retries,
                "Keap answered 429; waiting before retrying"
            );
            tokio::time::sleep(wait).await;
            return Ok(());
        }
        tracing::warn!(account = %account.id, retry_after_secs = retry_after.map(|d| d.as_secs()), "Keap answered 429; deferring the call");
        Err(CrmError::RateLimited { retry_after })
    }

    /// After a 401 to an OAuth bearer token: drops the cached access token so the next
    /// attempt gets a new one (`true`); an API key has nothing to renew (`false`).
    async fn forget_refused_token(
        &self,
        account: &Account,
        auth: &KeapAuth,
        credential: &Credential,
    ) -> bool {
        let (Credential::Bearer(_), KeapAuth::OAuth { refresh_token, .. }) = (credential, auth)
        else {
            return false;
        };
        self.oauth
            .forget_access_token(&account.id, refresh_token)
            .await;
        true
    }

    async fn credential(&self, account: &Account, auth: &KeapAuth) -> CrmResult<Credential> {
        match auth {
            KeapAuth::ApiKey { key } => Ok(Credential::ApiKey(key.clone())),
            KeapAuth::OAuth {
                client_id,
                client_secret,
                refresh_token,
            } => {
                let client = OAuthClient {
                    client_id,
                    client_secret,
                    configured_refresh_token: refresh_token,
                };
                self.oauth
                    .access_token(&self.http, &account.id, &client)
                    .await
                    .map(Credential::Bearer)
            }
        }
    }
}

/// The body of a 2xx answer, or the error a non-2xx, non-429 answer means.
async fn answer(account: &Account, call: &Call, response: Response) -> CrmResult<Vec<u8>> {
    let status = response.status();
    let body = response.bytes().await.map_err(|e| {
        CrmError::Unavailable(format!("Keap answer unreadable (HTTP {status}): {e}"))
    })?;
    if status.is_success() {
        return Ok(body.to_vec());
    }
    let error = error_for_status(status, &body, &call.subject);
    tracing::debug!(account = %account.id, method = %call.method, path = %call.path, %status, "Keap refused a call");
    Err(error)
}

/// The account's Keap base URL (without a trailing `/`) and credentials.
fn keap_connection(account: &Account) -> CrmResult<(&str, &KeapAuth)> {
    match &account.crm {
        CrmConnection::Keap { base_url, auth } => Ok((
            base_url
                .as_deref()
                .unwrap_or(KEAP_API_BASE_URL)
                .trim_end_matches('/'),
            auth,
        )),
        _ => Err(CrmError::Unsupported(format!(
            "account {} does not use Keap",
            account.id
        ))),
    }
}

fn request_url(base_url: &str, call: &Call) -> CrmResult<Url> {
    let mut url = Url::parse(&format!("{base_url}{}", call.path)).map_err(|e| {
        CrmError::Rejected(format!(
            "Keap base URL '{base_url}' does not make a URL: {e}"
        ))
    })?;
    if !call.query.is_empty() {
        let mut pairs = url.query_pairs_mut();
        for (name, value) in &call.query {
            pairs.append_pair(name, value);
        }
    }
    Ok(url)
}

/// Keap's limits are per token: accounts sharing an API key share its budget. OAuth
/// tokens are per account. The key is a hash, so no credential sits in the rate_limiter.
pub(super) fn rate_limit_key(account: &Account, auth: &KeapAuth) -> String {
    match auth {
        KeapAuth::ApiKey { key } => {
            let digest = Sha256::digest(key.expose().as_bytes());
            format!("api-key:{}", hex::encode(&digest[..8]))
        }
        KeapAuth::OAuth { .. } => format!("oauth:{}", account.id),
    }
}

/// Maps a non-2xx, non-429 answer.
fn error_for_status(status: StatusCode, body: &[u8], subject: &str) -> CrmError {
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            CrmError::Unauthorized(format!("HTTP {status}: {}", error_message(body)))
        }
        StatusCode::NOT_FOUND => CrmError::NotFound(subject.to_string()),
        StatusCode::REQUEST_TIMEOUT => CrmError::Unavailable(format!("HTTP {status}")),
        s if s.is_server_error() => {
            CrmError::Unavailable(format!("HTTP {status}: {}", error_message(body)))
        }
        _ => CrmError::Rejected(format!("HTTP {status}: {}", error_message(body))),
    }
}

//! OAuth2 access tokens for Keap accounts that authorise with a refresh token.
//!
//! Keap rotates refresh tokens: every `grant_type=refresh_token` exchange at the token
//! endpoint answers a new access token *and* a new refresh token, and the one just used
//! stops working. So each account has one session, behind an async mutex held across
//! the exchange: two concurrent calls never spend the same refresh token, and the second
//! one uses the access token the first one got.
//!
//! The rotated refresh token lives in this process's memory only. When the process ends
//! (a Lambda instance is recycled), the next one starts again from the refresh token in
//! the account's configuration, which Keap has already invalidated if any exchange
//! happened: the account then fails with `Unauthorized` until an operator re-authorises
//! it. Persisting the rotated token (a conditional write per account in the store, read
//! before the configured one) is the follow-up that makes OAuth accounts survive
//! restarts; until then, prefer a personal access token or service account key
//! (`X-Keap-API-Key`), which does not rotate.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use tokio::time::Instant;

use super::client::{error_message, retry_after, transport_error};
use super::wire::TokenResponse;
use crate::domain::{AccountId, Secret};
use crate::ports::crm::{CrmError, CrmResult};

/// When Keap leaves `expires_in` out: its access tokens last 24 h, assume one.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// The OAuth credentials of one account, as configured.
pub(super) struct OAuthClient<'a> {
    pub client_id: &'a str,
    pub client_secret: &'a Secret,
    pub configured_refresh_token: &'a Secret,
}

#[derive(Debug)]
struct Session {
    /// The configured refresh token this session started from: a different one in the
    /// configuration means an operator re-authorised the account, so start over.
    configured: Secret,
    /// The refresh token to spend next (the configured one, or the latest rotation).
    refresh_token: Secret,
    access: Option<AccessToken>,
}

#[derive(Debug, Clone)]
struct AccessToken {
    token: Secret,
    /// When to stop using it: Keap's expiry less the refresh margin.
    use_until: Instant,
}

/// Per-account OAuth sessions of one process.
#[derive(Debug)]
pub(super) struct OAuthSessions {
    token_url: String,
    refresh_margin: Duration,
    sessions: Mutex<HashMap<AccountId, Arc<tokio::sync::Mutex<Session>>>>,
}

impl OAuthSessions {
    pub(super) fn new(token_url: String, refresh_margin: Duration) -> Self {
        OAuthSessions {
            token_url,
            refresh_margin,
            sessions: Mutex::new(HashMap::new()),
        }
    }

    fn session(
        &self,
        account: &AccountId,
        configured: &Secret,
    ) -> Arc<tokio::sync::Mutex<Session>> {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions
            .entry(account.clone())
            .or_insert_with(|| {
                Arc::new(tokio::sync::Mutex::new(Session {
                    configured: configured.clone(),
                    refresh_token: configured.clone(),
                    access: None,
                }))
            })
            .clone()
    }

    /// A usable access token for `account`: the cached one while it is fresh, otherwise
    /// one from exchanging the current refresh token.
    pub(super) async fn access_token(
        &self,
        http: &reqwest::Client,
        account: &AccountId,
        client: &OAuthClient<'_>,
    ) -> CrmResult<Secret> {
        let session = self.session(account, client.configured_refresh_token);
        let mut session = session.lock().await;
        if &session.configured != client.configured_refresh_token {
            tracing::info!(%account, "Keap refresh token changed in the configuration; starting a new OAuth session");
            *session = Session {
                configured: client.configured_refresh_token.clone(),
                refresh_token: client.configured_refresh_token.clone(),
                access: None,
            };
        }
        if let Some(access) = &session.access
            && Instant::now() < access.use_until
        {
            return Ok(access.token.clone());
        }
        let granted = self
            .exchange(http, client, &session.refresh_token)
            .await
            .inspect_err(|e| tracing::warn!(%account, error = %e, "Keap token exchange failed"))?;
        if let Some(rotated) = granted.refresh_token.filter(|t| !t.is_empty()) {
            session.refresh_token = Secret::new(rotated);
        }
        let lifetime = granted
            .expires_in
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_TOKEN_LIFETIME);
        let token = Secret::new(granted.access_token);
        session.access = Some(AccessToken {
            token: token.clone(),
            use_until: Instant::now() + lifetime.saturating_sub(self.refresh_margin),
        });
        tracing::debug!(%account, lifetime_s = lifetime.as_secs(), "Keap access token obtained");
        Ok(token)
    }

    /// Drops the cached access token (Keap refused it), keeping the refresh token.
    pub(super) async fn forget_access_token(&self, account: &AccountId, configured: &Secret) {
        let session = self.session(account, configured);
        session.lock().await.access = None;
    }

    /// `POST <token_url>` with `grant_type=refresh_token`, client credentials in HTTP
    /// Basic auth (as Keap's developer docs show).
    async fn exchange(
        &self,
        http: &reqwest::Client,
        client: &OAuthClient<'_>,
        refresh_token: &Secret,
    ) -> CrmResult<TokenResponse> {
        let response = http
            .post(&self.token_url)
            .basic_auth(client.client_id, Some(client.client_secret.expose()))
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token.expose()),
            ])
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        let retry = retry_after(response.headers());
        let body = response
            .bytes()
            .await
            .map_err(|e| CrmError::Unavailable(format!("Keap token response unreadable: {e}")))?;
        match status {
            s if s.is_success() => serde_json::from_slice(&body).map_err(|e| {
                CrmError::Unavailable(format!("Keap token response is not a token: {e}"))
            }),
            StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Err(CrmError::Unauthorized(format!(
                    "Keap refused the OAuth refresh token or client credentials ({}); \
                     re-authorise the account and update its refresh token",
                    error_message(&body)
                )))
            }
            StatusCode::TOO_MANY_REQUESTS => Err(CrmError::RateLimited { retry_after: retry }),
            s if s.is_server_error() => Err(CrmError::Unavailable(format!(
                "Keap token endpoint answered HTTP {s}"
            ))),
            s => Err(CrmError::Rejected(format!(
                "Keap token endpoint answered HTTP {s}: {}",
                error_message(&body)
            ))),
        }
    }
}

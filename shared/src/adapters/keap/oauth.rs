//! OAuth2 access tokens for Keap accounts that authorise with a refresh token.
//!
//! Keap rotates refresh tokens: every `grant_type=refresh_token` exchange at the token
//! endpoint answers a new access token *and* a new refresh token, and the one just used
//! stops working. So:
//! - the newest refresh token lives in the [`CredentialStore`], shared by every process
//!   (Lambda instances come and go): an exchange reads it first and saves the rotated
//!   one right after, compare-and-set on the version it read, so two processes refreshing
//!   at once cannot overwrite a newer token with an older one (the first save wins; the
//!   other process keeps using its access token and reads the store next time);
//! - a refused refresh token is read again from the store once: another process may have
//!   spent it a moment before, and saved the one to use;
//! - inside one process, each account has one session behind an async mutex held across
//!   the exchange: two concurrent calls never spend the same refresh token, and the second
//!   one uses the access token the first one got. The access token stays in memory only
//!   (it lasts a day; a new process gets its own).
//!
//! The configured refresh token is where a chain of rotations starts: it is used while the
//! store has nothing for the account, or when the stored token descends from another
//! configured token (an operator re-authorised the account and configured the new token).
//! If a rotated token cannot be saved (the store is down), this process keeps it in memory
//! and spends it next, saving the token that exchange returns; a restart before then needs
//! the account re-authorised.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use tokio::time::Instant;

use super::errors::{error_message, transport_error};
use super::wire::TokenResponse;
use crate::adapters::http_retry::retry_after;
use crate::domain::{AccountId, Secret};
use crate::ports::credentials::{CredentialStore, TokenRotation, token_origin};
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
    /// configuration starts a new session.
    configured: Secret,
    /// A rotated refresh token the store refused to take (it was down): the newest there
    /// is, so it is spent next. The version is the stored one it replaces.
    unsaved: Option<(Secret, Option<u64>)>,
    access: Option<AccessToken>,
}

impl Session {
    fn new(configured: &Secret) -> Self {
        Session {
            configured: configured.clone(),
            unsaved: None,
            access: None,
        }
    }
}

#[derive(Debug, Clone)]
struct AccessToken {
    token: Secret,
    /// When to stop using it: Keap's expiry less the refresh margin.
    use_until: Instant,
}

/// The refresh token to spend, and the stored version a save after spending it replaces.
#[derive(Debug, Clone)]
struct Spendable {
    token: Secret,
    version: Option<u64>,
}

/// Per-account OAuth sessions of one process, over the shared credential store.
pub(super) struct OAuthSessions {
    token_url: String,
    refresh_margin: Duration,
    credentials: Arc<dyn CredentialStore>,
    sessions: Mutex<HashMap<AccountId, Arc<tokio::sync::Mutex<Session>>>>,
}

impl OAuthSessions {
    pub(super) fn new(
        token_url: String,
        refresh_margin: Duration,
        credentials: Arc<dyn CredentialStore>,
    ) -> Self {
        OAuthSessions {
            token_url,
            refresh_margin,
            credentials,
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
            .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(Session::new(configured))))
            .clone()
    }

    /// A usable access token for `account`: the cached one while it is fresh, otherwise
    /// one from exchanging the newest refresh token.
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
            *session = Session::new(client.configured_refresh_token);
        }
        if let Some(access) = &session.access
            && Instant::now() < access.use_until
        {
            return Ok(access.token.clone());
        }
        let origin = token_origin(client.configured_refresh_token);
        let (mut granted, spent) = self
            .spend_refresh_token(http, account, client, &mut session, &origin)
            .await?;
        session.unsaved = None;
        if let Some(rotated) = granted.refresh_token.take().filter(|t| !t.is_empty()) {
            self.save_rotated(account, &mut session, Secret::new(rotated), &spent, &origin)
                .await;
        }
        Ok(self.keep_access_token(account, &mut session, granted))
    }

    /// Exchanges the newest refresh token (the session's unsaved one first), and once more
    /// with the stored one when Keap refuses it. Returns the grant and the token spent.
    async fn spend_refresh_token(
        &self,
        http: &reqwest::Client,
        account: &AccountId,
        client: &OAuthClient<'_>,
        session: &mut Session,
        origin: &str,
    ) -> CrmResult<(TokenResponse, Spendable)> {
        let mut spent = match session.unsaved.clone() {
            Some((token, version)) => Spendable { token, version },
            None => self.newest_refresh_token(account, client, origin).await?,
        };
        let exchanged = match self.exchange(http, client, &spent.token).await {
            Err(CrmError::Unauthorized(why)) => {
                // Another process may have spent this token a moment ago and saved the
                // one that replaced it.
                let newest = self.newest_refresh_token(account, client, origin).await?;
                if newest.version == spent.version {
                    Err(CrmError::Unauthorized(why))
                } else {
                    spent = newest;
                    self.exchange(http, client, &spent.token).await
                }
            }
            other => other,
        };
        match exchanged {
            Ok(granted) => Ok((granted, spent)),
            Err(e @ CrmError::Unauthorized(_)) => {
                // Keap refused every refresh token we have: none is worth keeping, and
                // only re-authorising the account helps.
                session.unsaved = None;
                tracing::error!(%account, error = %e, "Keap refused the OAuth refresh token");
                Err(e)
            }
            Err(e) => {
                tracing::warn!(%account, error = %e, "Keap token exchange failed");
                Err(e)
            }
        }
    }

    /// Saves the refresh token Keap rotated in over the one `spent`; one the store cannot
    /// take stays in the session, to be spent next.
    async fn save_rotated(
        &self,
        account: &AccountId,
        session: &mut Session,
        rotated: Secret,
        spent: &Spendable,
        origin: &str,
    ) {
        let rotation = TokenRotation {
            replaces: spent.version,
            token: rotated,
            origin: origin.to_string(),
        };
        match self
            .credentials
            .save_refresh_token(account, &rotation)
            .await
        {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                %account,
                "another process saved a Keap refresh token first; keeping its token for the next exchange"
            ),
            Err(e) => {
                tracing::error!(
                    %account, error = %e,
                    "cannot save the rotated Keap refresh token; this process keeps it and will save the next one"
                );
                session.unsaved = Some((rotation.token, spent.version));
            }
        }
    }

    /// Keeps the granted access token in the session until the refresh margin before it
    /// expires, and returns it.
    fn keep_access_token(
        &self,
        account: &AccountId,
        session: &mut Session,
        granted: TokenResponse,
    ) -> Secret {
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
        token
    }

    /// The stored refresh token when it descends from the configured one, else the
    /// configured one (nothing stored yet, or an operator re-authorised the account).
    async fn newest_refresh_token(
        &self,
        account: &AccountId,
        client: &OAuthClient<'_>,
        origin: &str,
    ) -> CrmResult<Spendable> {
        let stored = self.credentials.refresh_token(account).await.map_err(|e| {
            // Spending a token we might not be able to replace is worse than waiting.
            CrmError::Unavailable(format!("cannot read the stored Keap refresh token: {e}"))
        })?;
        Ok(match stored {
            Some(stored) if stored.origin == origin => Spendable {
                token: stored.token,
                version: Some(stored.version),
            },
            other => Spendable {
                token: client.configured_refresh_token.clone(),
                version: other.map(|s| s.version),
            },
        })
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

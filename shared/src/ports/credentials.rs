//! Credentials that change while smsflow runs and must outlive the process: the OAuth
//! refresh token of an account's CRM connection. Keap answers every refresh with a new
//! refresh token and voids the one spent, so the newest one lives here, not only in one
//! Lambda instance's memory: a cold start after a rotation must not fall back to the
//! (already voided) token of the configuration.
//!
//! Saves are compare-and-set on a version: when two processes refresh at once, the first
//! save wins and the other learns it lost instead of overwriting a newer token.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::store::StoreResult;
use crate::domain::{AccountId, KeyHash, Secret};

/// The newest refresh token of one account's CRM connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRefreshToken {
    pub token: Secret,
    /// 1 for the first save, one more with each save after it.
    pub version: u64,
    /// [`token_origin`] of the configured refresh token this one descends from. A
    /// configuration holding another token means an operator re-authorised the account:
    /// the configured token then wins over this one.
    pub origin: String,
}

/// What ties a stored token to the configured one it descends from: the configured
/// token's SHA-256 (hex), so the store never holds the configured token itself.
pub fn token_origin(configured: &Secret) -> String {
    KeyHash::of(configured.expose()).as_hex().to_string()
}

/// A refresh token to store as the successor of the version its writer read: the save is a
/// compare-and-set on that version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRotation {
    /// The stored version this token replaces; `None`: nothing was stored.
    pub replaces: Option<u64>,
    pub token: Secret,
    /// [`token_origin`] of the configured token it descends from.
    pub origin: String,
}

impl TokenRotation {
    /// The token as stored once the save succeeds: one version past the one it replaces.
    pub fn stored(&self) -> StoredRefreshToken {
        StoredRefreshToken {
            token: self.token.clone(),
            version: self.replaces.map_or(1, |v| v + 1),
            origin: self.origin.clone(),
        }
    }
}

#[async_trait]
pub trait CredentialStore: Send + Sync {
    /// The account's newest stored refresh token, if any was saved.
    async fn refresh_token(&self, account: &AccountId) -> StoreResult<Option<StoredRefreshToken>>;
    /// Stores the rotation's token as the account's newest refresh token if the stored
    /// version is still the one it replaces. Returns whether it was stored; `false` means
    /// another process saved first and nothing changed.
    async fn save_refresh_token(
        &self,
        account: &AccountId,
        rotation: &TokenRotation,
    ) -> StoreResult<bool>;
}

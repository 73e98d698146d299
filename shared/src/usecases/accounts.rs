//! Accounts as a CRM-facing request meets them: the account the URL names, authenticated
//! by its secret key.

use crate::domain::account::AccountIdError;
use crate::domain::{Account, AccountId};
use crate::ports::{AccountStore, StoreError};

/// Why a CRM-facing request was not let in.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The URL's account is not an account id.
    #[error("{0}")]
    InvalidAccount(#[from] AccountIdError),
    #[error("no account {0}")]
    UnknownAccount(AccountId),
    #[error("give the account's key as ?key=... in the URL or as a key form field")]
    MissingKey,
    #[error("the key does not match this account's key")]
    InvalidKey,
    #[error("account lookup failed: {0}")]
    Backend(#[from] StoreError),
}

/// The account `account` names, if `key` is its secret key (given by the CRM as `key=` in
/// the query string or as a form field; Keap's HTTP Post cannot set headers). Only the
/// key's hash is stored; the comparison is constant-time. An unknown account is told apart
/// before a missing or wrong key.
pub async fn authenticate(
    store: &dyn AccountStore,
    account: &str,
    key: Option<&str>,
) -> Result<Account, AuthError> {
    let id = AccountId::parse(account)?;
    let account = store
        .account(&id)
        .await?
        .ok_or(AuthError::UnknownAccount(id))?;
    let key = key.ok_or(AuthError::MissingKey)?;
    if !account.send_key_hash.matches(key) {
        return Err(AuthError::InvalidKey);
    }
    Ok(account)
}

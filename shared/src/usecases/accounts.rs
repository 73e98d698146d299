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

/// `account` as it is to be stored: an Instasent account whose configuration gives no
/// callback secret keeps the one `stored` has, or gets a fresh random one, so its callback
/// URL (pasted once into Instasent) stays the same across pushes and restarts.
pub fn with_callback_secret(mut account: Account, stored: Option<&Account>) -> Account {
    let Some(instasent) = account.instasent.as_mut() else {
        return account;
    };
    if instasent.callback_secret.is_none() {
        let kept = stored
            .and_then(|s| s.instasent.as_ref())
            .and_then(|s| s.callback_secret.clone());
        instasent.callback_secret =
            Some(kept.unwrap_or_else(|| crate::domain::Secret::new(crate::domain::generate_key())));
    }
    account
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{InstasentCredentials, Secret, fixtures};

    fn on_instasent(secret: Option<&str>) -> Account {
        Account {
            instasent: Some(InstasentCredentials {
                api_token: Secret::new("token"),
                base_url: None,
                callback_secret: secret.map(Secret::new),
            }),
            ..fixtures::account()
        }
    }

    fn secret_of(account: &Account) -> Option<String> {
        let instasent = account.instasent.as_ref()?;
        Some(instasent.callback_secret.as_ref()?.expose().to_string())
    }

    #[test]
    fn a_callback_secret_is_given_kept_or_generated() {
        let stored = on_instasent(Some("stored-secret-0123456"));
        // (the file's secret, the stored account, the secret it gets (None: fresh))
        let cases = [
            (
                Some("file-secret-012345678"),
                Some(&stored),
                Some("file-secret-012345678"),
            ),
            (None, Some(&stored), Some("stored-secret-0123456")),
            (None, None, None),
        ];
        for (file, stored, want) in cases {
            let account = with_callback_secret(on_instasent(file), stored);
            let got = secret_of(&account).expect("a secret");
            match want {
                Some(want) => assert_eq!(got, want),
                None => assert!(got.len() >= 32, "{got}"),
            }
        }
        let twilio_only = with_callback_secret(fixtures::account(), None);
        assert_eq!(twilio_only.instasent, None);
    }
}

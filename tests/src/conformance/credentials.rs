//! Credential store conformance: what every [`CredentialStore`] must do. The newest OAuth
//! refresh token of an account is saved compare-and-set on its version, so two processes
//! that rotate it at once cannot overwrite each other.
//!
//! ```ignore
//! smsflow_tests::credential_conformance!(dynamodb, dynamo_credentials());
//! ```

use futures::future::join_all;
use smsflow_shared::domain::Secret;
use smsflow_shared::ports::{CredentialStore, StoredRefreshToken, TokenRotation, token_origin};

use crate::fixtures::account_id;

fn origin(configured: &str) -> String {
    token_origin(&Secret::new(configured))
}

async fn stored(store: &dyn CredentialStore, account: &str) -> Option<StoredRefreshToken> {
    store
        .refresh_token(&account_id(account))
        .await
        .expect("refresh_token")
}

async fn save(
    store: &dyn CredentialStore,
    account: &str,
    expected: Option<u64>,
    token: &str,
) -> bool {
    store
        .save_refresh_token(
            &account_id(account),
            &TokenRotation {
                replaces: expected,
                token: Secret::new(token),
                origin: origin("configured-1"),
            },
        )
        .await
        .expect("save_refresh_token")
}

fn token(token: &str, version: u64) -> Option<StoredRefreshToken> {
    Some(StoredRefreshToken {
        token: Secret::new(token),
        version,
        origin: origin("configured-1"),
    })
}

pub async fn refresh_tokens_are_saved_in_versions(store: &dyn CredentialStore) {
    assert_eq!(stored(store, "acme").await, None);
    assert!(save(store, "acme", None, "refresh-2").await);
    assert_eq!(stored(store, "acme").await, token("refresh-2", 1));
    assert!(save(store, "acme", Some(1), "refresh-3").await);
    assert_eq!(stored(store, "acme").await, token("refresh-3", 2));
}

pub async fn a_stale_version_changes_nothing(store: &dyn CredentialStore) {
    assert!(!save(store, "acme", Some(1), "from-nowhere").await);
    assert_eq!(stored(store, "acme").await, None, "nothing to replace");
    assert!(save(store, "acme", None, "refresh-2").await);
    assert!(save(store, "acme", Some(1), "refresh-3").await);
    for (expected, what) in [
        (None, "a first save"),
        (Some(1), "version 1"),
        (Some(3), "version 3"),
    ] {
        assert!(!save(store, "acme", expected, "stale").await, "{what}");
    }
    assert_eq!(stored(store, "acme").await, token("refresh-3", 2));
}

pub async fn accounts_keep_their_own_tokens(store: &dyn CredentialStore) {
    assert!(save(store, "acme", None, "acme-2").await);
    assert!(save(store, "globex", None, "globex-2").await);
    assert!(save(store, "globex", Some(1), "globex-3").await);
    assert_eq!(stored(store, "acme").await, token("acme-2", 1));
    assert_eq!(stored(store, "globex").await, token("globex-3", 2));
}

pub async fn one_of_concurrent_saves_wins(store: &dyn CredentialStore) {
    assert!(save(store, "acme", None, "refresh-2").await);
    // Eight processes rotated version 1 at once: exactly one save may land.
    let attempts = (0..8).map(|i| async move {
        let token = format!("rotation-{i}");
        (save(store, "acme", Some(1), &token).await, token)
    });
    let results = join_all(attempts).await;
    let winners: Vec<&String> = results
        .iter()
        .filter(|(won, _)| *won)
        .map(|(_, t)| t)
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    assert_eq!(stored(store, "acme").await, token(winners[0], 2));
}

/// `credential_conformance!(module_name, factory)` adds a module with one test per case;
/// `factory` is an expression whose `.await` yields something that derefs to a
/// `dyn CredentialStore`.
#[macro_export]
macro_rules! credential_conformance {
    ($name:ident, $factory:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            $crate::credential_conformance!(@cases $factory;
                refresh_tokens_are_saved_in_versions,
                a_stale_version_changes_nothing,
                accounts_keep_their_own_tokens,
                one_of_concurrent_saves_wins,
            );
        }
    };
    (@cases $factory:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let store = $factory.await;
                $crate::conformance::credentials::$case(&*store).await;
            }
        )*
    };
}

//! The configuration file's accounts, stored when the local server starts.
//!
//! The file is where accounts begin, but operators also edit stored accounts with the CLI
//! (`smsflow accounts set-limit`, `numbers add`...). So an account is stored from the file
//! only when its entry there is new or has changed since the last start (compared by a
//! digest kept in the database); otherwise the stored account, with its CLI edits, stays.

use redb::TableDefinition;
use sha2::{Digest, Sha256};

use super::LocalError;
use crate::adapters::embedded::{DbError, EmbeddedDb, open_read_table};
use crate::domain::Account;
use crate::ports::{AccountStore, StoreError};
use crate::usecases::accounts::with_callback_secret;

/// Account id → digest of the account as the configuration file last gave it.
const FILE_DIGESTS: TableDefinition<&str, &str> = TableDefinition::new("local_config_accounts");

/// What became of one configured account at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loaded {
    /// Stored from the file: new, or its entry in the file changed.
    FromFile,
    /// The file's entry is as it was: the stored account (with any CLI edits) is kept.
    Kept,
}

/// Stores the accounts of the file that are new or changed there; see the module docs.
pub async fn load(
    db: &EmbeddedDb,
    store: &dyn AccountStore,
    accounts: &[Account],
) -> Result<Vec<Loaded>, LocalError> {
    let mut loaded = Vec::with_capacity(accounts.len());
    for account in accounts {
        let failed = |source: StoreError| LocalError::Account {
            account: account.id.to_string(),
            source,
        };
        let digest = digest(account).map_err(failed)?;
        let previous = file_digest(db, account.id.as_str()).await.map_err(failed)?;
        let stored = store.account(&account.id).await.map_err(failed)?;
        if stored.is_some() && previous.as_deref() == Some(digest.as_str()) {
            loaded.push(Loaded::Kept);
            continue;
        }
        if stored
            .as_ref()
            .is_some_and(|s| !same_but_secret(s, account))
        {
            tracing::info!(account = %account.id, "the configuration file's entry for the account changed: it replaces the stored account (including edits made with the CLI)");
        }
        let account = with_callback_secret(account.clone(), stored.as_ref());
        store.put_account(&account).await.map_err(failed)?;
        remember_digest(db, account.id.as_str(), &digest)
            .await
            .map_err(failed)?;
        loaded.push(Loaded::FromFile);
    }
    Ok(loaded)
}

/// Whether the stored account is the file's, the callback secret it was given aside.
fn same_but_secret(stored: &Account, file: &Account) -> bool {
    &with_callback_secret(file.clone(), Some(stored)) == stored
}

fn digest(account: &Account) -> Result<String, StoreError> {
    let json = serde_json::to_vec(account).map_err(|e| StoreError::Corrupt {
        key: format!("account {}", account.id),
        detail: e.to_string(),
    })?;
    Ok(hex::encode(Sha256::digest(json)))
}

async fn file_digest(db: &EmbeddedDb, id: &str) -> Result<Option<String>, StoreError> {
    let id = id.to_string();
    db.read(move |tx| {
        let Some(table) = open_read_table(tx, FILE_DIGESTS)? else {
            return Ok(None);
        };
        let found = table.get(id.as_str()).map_err(DbError::from)?;
        Ok(found.map(|v| v.value().to_string()))
    })
    .await
}

async fn remember_digest(db: &EmbeddedDb, id: &str, digest: &str) -> Result<(), StoreError> {
    let (id, digest) = (id.to_string(), digest.to_string());
    db.write(move |tx| {
        let mut table = tx.open_table(FILE_DIGESTS).map_err(DbError::from)?;
        table
            .insert(id.as_str(), digest.as_str())
            .map_err(DbError::from)?;
        Ok(())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::embedded::EmbeddedStore;
    use crate::domain::fixtures;

    #[tokio::test]
    async fn cli_edits_survive_a_restart_until_the_file_changes() {
        let db = EmbeddedDb::in_memory().expect("in-memory database");
        let store = EmbeddedStore::new(db.clone());
        let file = fixtures::account();
        let stored_limit = |store: &EmbeddedStore| {
            let store = store.clone();
            let id = file.id.clone();
            async move {
                let account = store.account(&id).await.expect("read").expect("stored");
                account.limits.queue_limit
            }
        };

        // First start: stored from the file.
        let first = load(&db, &store, std::slice::from_ref(&file)).await;
        assert_eq!(first.expect("load"), vec![Loaded::FromFile]);

        // An operator edits the stored account; a restart with the same file keeps it.
        let mut edited = file.clone();
        edited.limits.queue_limit = 7;
        store.put_account(&edited).await.expect("edit");
        let restart = load(&db, &store, std::slice::from_ref(&file)).await;
        assert_eq!(restart.expect("load"), vec![Loaded::Kept]);
        assert_eq!(stored_limit(&store).await, 7);

        // The file changes: its entry replaces the stored account.
        let mut changed = file.clone();
        changed.name = "Renamed".into();
        let after_change = load(&db, &store, std::slice::from_ref(&changed)).await;
        assert_eq!(after_change.expect("load"), vec![Loaded::FromFile]);
        let stored = store
            .account(&file.id)
            .await
            .expect("read")
            .expect("stored");
        assert_eq!(stored, changed);

        // A stored account deleted behind the file's back is stored again.
        let fresh_db = EmbeddedDb::in_memory().expect("in-memory database");
        let fresh_store = EmbeddedStore::new(fresh_db.clone());
        remember_digest(&fresh_db, file.id.as_str(), &digest(&file).expect("digest"))
            .await
            .expect("digest stored");
        let missing = load(&fresh_db, &fresh_store, std::slice::from_ref(&file)).await;
        assert_eq!(missing.expect("load"), vec![Loaded::FromFile]);
    }
}

//! [`CredentialStore`] on the embedded database: one JSON row per account. The version
//! check and the write happen in one write transaction, which redb runs one at a time.

use async_trait::async_trait;
use redb::TableDefinition;

use super::{EmbeddedStore, encode, get_json};
use crate::adapters::embedded::open_read_table;
use crate::domain::AccountId;
use crate::ports::credentials::{CredentialStore, StoredRefreshToken, TokenRotation};
use crate::ports::store::StoreResult;

/// account id → `StoredRefreshToken` (JSON).
const REFRESH_TOKENS: TableDefinition<&str, &[u8]> =
    TableDefinition::new("store_crm_refresh_tokens");

#[async_trait]
impl CredentialStore for EmbeddedStore {
    async fn refresh_token(&self, account: &AccountId) -> StoreResult<Option<StoredRefreshToken>> {
        let key = account.to_string();
        self.db
            .read(move |tx| {
                let Some(table) = open_read_table(tx, REFRESH_TOKENS)? else {
                    return Ok(None);
                };
                get_json(&table, &key)
            })
            .await
    }

    async fn save_refresh_token(
        &self,
        account: &AccountId,
        rotation: &TokenRotation,
    ) -> StoreResult<bool> {
        let key = account.to_string();
        let (next, expected_version) = (rotation.stored(), rotation.replaces);
        self.db
            .write(move |tx| {
                let mut table = tx.open_table(REFRESH_TOKENS)?;
                let current: Option<StoredRefreshToken> = get_json(&table, &key)?;
                if current.map(|c| c.version) != expected_version {
                    return Ok(false);
                }
                table.insert(key.as_str(), encode(&key, &next)?.as_slice())?;
                Ok(true)
            })
            .await
    }
}

//! [`CredentialStore`] on the DynamoDB table: one item per account, beside the account
//! item in its partition.
//!
//! | Item | `pk` | `sk` | Attributes |
//! |---|---|---|---|
//! | CRM refresh token | `ACCOUNT#<id>` | `CRM_REFRESH_TOKEN` | `token`, `version` (N), `origin` |
//!
//! A save is one conditional `PutItem`: `attribute_not_exists(pk)` for the first, else
//! `version = :expected`; a failed condition means another process saved first.

use async_trait::async_trait;

use super::DynamoStore;
use super::errors::condition_failed;
use super::item::{Key, item_with, n, number_attr, s, string_attr};
use crate::domain::{AccountId, Secret};
use crate::ports::credentials::{CredentialStore, StoredRefreshToken, TokenRotation};
use crate::ports::store::{StoreError, StoreResult};

fn refresh_token_key(account: &AccountId) -> Key {
    Key::new(format!("ACCOUNT#{account}"), "CRM_REFRESH_TOKEN")
}

#[async_trait]
impl CredentialStore for DynamoStore {
    async fn refresh_token(&self, account: &AccountId) -> StoreResult<Option<StoredRefreshToken>> {
        let Some(item) = self.get(&refresh_token_key(account), true).await? else {
            return Ok(None);
        };
        let version = number_attr(&item, "version")?;
        Ok(Some(StoredRefreshToken {
            token: Secret::new(string_attr(&item, "token")?),
            version: u64::try_from(version).map_err(|_| StoreError::Corrupt {
                key: refresh_token_key(account).to_string(),
                detail: format!("version {version} is negative"),
            })?,
            origin: string_attr(&item, "origin")?.to_string(),
        }))
    }

    async fn save_refresh_token(
        &self,
        account: &AccountId,
        rotation: &TokenRotation,
    ) -> StoreResult<bool> {
        let key = refresh_token_key(account);
        let stored = rotation.stored();
        let item = item_with(
            &key,
            [
                ("token", s(stored.token.expose())),
                ("version", n(stored.version)),
                ("origin", s(&stored.origin)),
            ],
        );
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        let request = match rotation.replaces {
            None => request.condition_expression("attribute_not_exists(pk)"),
            Some(version) => request
                .condition_expression("version = :expected")
                .expression_attribute_values(":expected", n(version)),
        };
        match request.send().await {
            Ok(_) => Ok(true),
            Err(err) => condition_failed(&format!("PutItem {key}"), err).map(|_| false),
        }
    }
}

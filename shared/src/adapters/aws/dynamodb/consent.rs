//! Consent on DynamoDB: one item per (account, phone) holding its latest change; a change
//! is written only over an older one, so changes arriving out of order keep the newest.
//! The item's layout, and the opt-out index it feeds, are in `optout`.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::TransactWriteItem;

use super::DynamoStore;
use super::errors::condition_failed;
use super::item::{Key, decode, n};
use super::optout;
use crate::domain::{AccountId, PhoneNumber};
use crate::ports::store::{ConsentRecord, ConsentStore, StoreResult};

/// A consent change is written over none or an older one only.
const OLDER_CHANGE_ONLY: &str = "attribute_not_exists(pk) OR changed_at < :changed_at";

impl DynamoStore {
    /// `set_consent`'s write as a transaction item, under the same condition.
    pub(super) fn consent_put(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        record: &ConsentRecord,
    ) -> StoreResult<TransactWriteItem> {
        self.transact_put_with(
            optout::consent_item(account, phone, record)?,
            OLDER_CHANGE_ONLY,
            (":changed_at", n(record.changed_at.as_millis())),
        )
    }
}

#[async_trait]
impl ConsentStore for DynamoStore {
    async fn set_consent(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        record: &ConsentRecord,
    ) -> StoreResult<bool> {
        let key = Key::consent(account, phone);
        let item = optout::consent_item(account, phone, record)?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(OLDER_CHANGE_ONLY)
            .expression_attribute_values(":changed_at", n(record.changed_at.as_millis()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) => condition_failed(&format!("PutItem {key}"), err).map(|_| false),
        }
    }

    async fn consent(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
    ) -> StoreResult<Option<ConsentRecord>> {
        self.get(&Key::consent(account, phone), true)
            .await?
            .map(|item| decode(&item))
            .transpose()
    }
}

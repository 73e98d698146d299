//! The refusal log on redb: `account \0 phone \0 message id` → `Refusal` (JSON), so one
//! conversation's refusals are one key range, in message id order.

use async_trait::async_trait;

use super::{EmbeddedStore, JsonTable, message_prefix};
use crate::domain::MessageId;
use crate::domain::{AccountId, PhoneNumber};
use crate::ports::store::{Refusal, RefusalLog, StoreResult};

const REFUSAL_LOG: JsonTable = redb::TableDefinition::new("store_refusal_log");

#[async_trait]
impl RefusalLog for EmbeddedStore {
    async fn record_refusal(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        refusal: &Refusal,
    ) -> StoreResult<()> {
        let key = format!("{}{}", message_prefix(account, phone), refusal.message_id);
        self.write_json(REFUSAL_LOG, key, refusal.clone()).await
    }

    async fn refusals(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        from_message_id: &MessageId,
    ) -> StoreResult<Vec<Refusal>> {
        self.conversation_log(REFUSAL_LOG, account, phone, from_message_id)
            .await
    }
}

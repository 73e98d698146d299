//! The refusal log on DynamoDB: one item per refused request in the conversation's
//! partition, `sk = REFUSED#<message id>`, so one Query reads a thread's refusals in order.

use async_trait::async_trait;

use super::DynamoStore;
use super::item::{Key, conversation_pk, decode, encode, item_with};
use crate::domain::MessageId;
use crate::domain::{AccountId, PhoneNumber};
use crate::ports::store::{Refusal, RefusalLog, StoreResult};

const REFUSED_PREFIX: &str = "REFUSED#";
/// Sorts right after every `REFUSED#...` key (`$` follows `#`).
const REFUSED_END: &str = "REFUSED$";

#[async_trait]
impl RefusalLog for DynamoStore {
    async fn record_refusal(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        refusal: &Refusal,
    ) -> StoreResult<()> {
        let key = Key::new(
            conversation_pk(account, phone),
            format!("{REFUSED_PREFIX}{}", refusal.message_id),
        );
        self.put(item_with(&key, [("data", encode(refusal, &key)?)]))
            .await
    }

    async fn refusals(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        from_message_id: &MessageId,
    ) -> StoreResult<Vec<Refusal>> {
        let pk = conversation_pk(account, phone);
        let from = format!("{REFUSED_PREFIX}{from_message_id}");
        let items = self.query_sort_range(&pk, &from, REFUSED_END).await?;
        items.iter().map(decode).collect()
    }
}

//! The goal log on DynamoDB: one item per message and goal in the conversation's partition,
//! `sk = FIRED#<message id>#<goal>`, so one Query reads a thread's goals in message order.

use async_trait::async_trait;

use super::DynamoStore;
use super::item::{Key, conversation_pk, decode, encode, item_with};
use crate::domain::MessageId;
use crate::domain::{AccountId, PhoneNumber};
use crate::ports::store::{GoalLog, GoalRecord, StoreResult};

const FIRED_PREFIX: &str = "FIRED#";
/// Sorts right after every `FIRED#...` key (`$` follows `#`).
const FIRED_END: &str = "FIRED$";

#[async_trait]
impl GoalLog for DynamoStore {
    async fn record_goal(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        record: &GoalRecord,
    ) -> StoreResult<()> {
        let key = Key::new(
            conversation_pk(account, phone),
            format!("{FIRED_PREFIX}{}#{}", record.message_id, record.goal),
        );
        self.put(item_with(&key, [("data", encode(record, &key)?)]))
            .await
    }

    async fn goals_fired(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        from_message_id: &MessageId,
    ) -> StoreResult<Vec<GoalRecord>> {
        let pk = conversation_pk(account, phone);
        let from = format!("{FIRED_PREFIX}{from_message_id}");
        let items = self.query_sort_range(&pk, &from, FIRED_END).await?;
        items.iter().map(decode).collect()
    }
}

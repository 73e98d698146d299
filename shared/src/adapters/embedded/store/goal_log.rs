//! The goal log on redb: `account \0 phone \0 message id \0 goal` → `GoalRecord` (JSON), so
//! one conversation's records are one key range, in message id order.

use async_trait::async_trait;

use super::{EmbeddedStore, JsonTable, message_prefix};
use crate::domain::MessageId;
use crate::domain::{AccountId, PhoneNumber};
use crate::ports::store::{GoalLog, GoalRecord, StoreResult};

const GOAL_LOG: JsonTable = redb::TableDefinition::new("store_goal_log");

#[async_trait]
impl GoalLog for EmbeddedStore {
    async fn record_goal(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        record: &GoalRecord,
    ) -> StoreResult<()> {
        let key = format!(
            "{}{}\0{}",
            message_prefix(account, phone),
            record.message_id,
            record.goal
        );
        self.write_json(GOAL_LOG, key, record.clone()).await
    }

    async fn goals_fired(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        from_message_id: &MessageId,
    ) -> StoreResult<Vec<GoalRecord>> {
        self.conversation_log(GOAL_LOG, account, phone, from_message_id)
            .await
    }
}

//! The goal log on redb: `account \0 phone \0 message id \0 goal` → `GoalRecord` (JSON), so
//! one conversation's records are one key range, in message id order.

use async_trait::async_trait;

use super::{EmbeddedStore, JsonTable, decode, encode, message_prefix};
use crate::adapters::embedded::open_read_table;
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
        let record = record.clone();
        self.db
            .write(move |tx| {
                tx.open_table(GOAL_LOG)?
                    .insert(key.as_str(), encode(&key, &record)?.as_slice())?;
                Ok(())
            })
            .await
    }

    async fn goals_fired(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        from_message_id: &MessageId,
    ) -> StoreResult<Vec<GoalRecord>> {
        let prefix = message_prefix(account, phone);
        let start = format!("{prefix}{from_message_id}");
        // The prefix ends in \0; the same prefix ending in \x01 bounds it above.
        let end = format!("{}\u{1}", &prefix[..prefix.len() - 1]);
        self.db
            .read(move |tx| {
                let Some(table) = open_read_table(tx, GOAL_LOG)? else {
                    return Ok(vec![]);
                };
                let mut records = Vec::new();
                for entry in table.range(start.as_str()..end.as_str())? {
                    let (key, value) = entry?;
                    records.push(decode(key.value(), value.value())?);
                }
                Ok(records)
            })
            .await
    }
}

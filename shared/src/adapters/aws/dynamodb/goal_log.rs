//! The goal log on DynamoDB: one item per message and goal in the conversation's partition,
//! `sk = FIRED#<message id>#<goal>`, so one Query reads a thread's goals in message order.

use async_trait::async_trait;

use super::DynamoStore;
use super::errors::backend;
use super::item::{Key, conversation_pk, decode, encode, item_with, s};
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
        let mut records = Vec::new();
        let mut start_key = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
                .expression_attribute_values(":pk", s(&pk))
                .expression_attribute_values(":from", s(format!("{FIRED_PREFIX}{from_message_id}")))
                .expression_attribute_values(":to", s(FIRED_END))
                .consistent_read(true)
                .set_exclusive_start_key(start_key.take())
                .send()
                .await
                .map_err(|e| backend(&format!("Query {pk} goals"), &e))?;
            for item in out.items.unwrap_or_default() {
                records.push(decode(&item)?);
            }
            match out.last_evaluated_key {
                Some(next) if !next.is_empty() => start_key = Some(next),
                _ => return Ok(records),
            }
        }
    }
}

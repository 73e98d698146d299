//! The refusal log on DynamoDB: one item per refused request in the conversation's
//! partition, `sk = REFUSED#<message id>`, so one Query reads a thread's refusals in order.

use async_trait::async_trait;

use super::DynamoStore;
use super::errors::backend;
use super::item::{Key, conversation_pk, decode, encode, item_with, s};
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
        let mut refusals = Vec::new();
        let mut start_key = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
                .expression_attribute_values(":pk", s(&pk))
                .expression_attribute_values(
                    ":from",
                    s(format!("{REFUSED_PREFIX}{from_message_id}")),
                )
                .expression_attribute_values(":to", s(REFUSED_END))
                .consistent_read(true)
                .set_exclusive_start_key(start_key.take())
                .send()
                .await
                .map_err(|e| backend(&format!("Query {pk} refusals"), &e))?;
            for item in out.items.unwrap_or_default() {
                refusals.push(decode(&item)?);
            }
            match out.last_evaluated_key {
                Some(next) if !next.is_empty() => start_key = Some(next),
                _ => return Ok(refusals),
            }
        }
    }
}

//! A conversation's newest messages in a time window on DynamoDB: one Query of the
//! conversation's partition, newest first, from the window's first message id, `Limit`ed,
//! so its cost does not grow with the conversation.

use async_trait::async_trait;

use super::DynamoStore;
use super::item::{MESSAGE_PREFIX, conversation_pk, s};
use super::messages::decode_message;
use crate::domain::{AccountId, PhoneNumber, Timestamp};
use crate::ports::store::{MessageHistory, MessageWindow, StoreResult, first_message_id_for};

/// Sorts right after every `MSG#...` key (`$` follows `#`).
const MESSAGE_END: &str = "MSG$";

#[async_trait]
impl MessageHistory for DynamoStore {
    async fn messages_since(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        since: Option<Timestamp>,
        limit: usize,
    ) -> StoreResult<MessageWindow> {
        let pk = conversation_pk(account, phone);
        let from = format!(
            "{MESSAGE_PREFIX}{}",
            since.map(first_message_id_for).unwrap_or_default()
        );
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(&pk))
            .expression_attribute_values(":from", s(&from))
            .expression_attribute_values(":to", s(MESSAGE_END))
            .scan_index_forward(false)
            .limit(i32::try_from(limit + 1).unwrap_or(i32::MAX))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| super::errors::backend(&format!("Query {pk}"), &e))?;
        // One more than asked for, so a window of exactly `limit` messages reads as complete.
        let mut messages = out
            .items
            .unwrap_or_default()
            .iter()
            .map(decode_message)
            .collect::<StoreResult<Vec<_>>>()?;
        let complete =
            messages.len() <= limit && out.last_evaluated_key.is_none_or(|k| k.is_empty());
        messages.truncate(limit);
        Ok(MessageWindow { messages, complete })
    }
}

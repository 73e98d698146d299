//! The conversation list on DynamoDB: one summary item per (account, phone), `pk =
//! CONVLAST#<account>#<phone>`, holding the conversation's newest message. It carries
//! `gsi1pk = CONVS#<account>` and `gsi1sk = <last message ms, 16 digits>#<phone>`, so an
//! account's conversations, most recent first, are one descending Query on `gsi1`.
//!
//! `record_message` writes the summary in the same transaction as the message, on the
//! condition that it holds nothing newer; a message recorded out of order fails only that
//! condition and is then recorded without touching the summary.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};

use super::errors::{backend, build_error};
use super::item::{Item, Key, decode, encode, item_with, n, s};
use super::{DynamoStore, GSI1};
use crate::domain::{AccountId, MessageRecord};
use crate::ports::store::{ConversationIndex, ConversationSummary, StoreResult};

fn summary_key(message: &MessageRecord) -> Key {
    Key::new(
        format!(
            "CONVLAST#{}#{}",
            message.account,
            message.contact_phone.as_str()
        ),
        "CONVLAST",
    )
}

fn recent_partition(account: &AccountId) -> String {
    format!("CONVS#{account}")
}

/// Sorts like the time for every non-negative epoch millisecond.
fn recent_sort_key(message: &MessageRecord) -> String {
    format!(
        "{:016}#{}",
        message.created_at.as_millis().max(0),
        message.contact_phone.as_str()
    )
}

impl DynamoStore {
    /// The transaction item that makes `message` its conversation's newest, unless a newer
    /// one is recorded.
    pub(super) fn conversation_summary_put(
        &self,
        message: &MessageRecord,
    ) -> StoreResult<TransactWriteItem> {
        let key = summary_key(message);
        let summary = ConversationSummary {
            phone: message.contact_phone.clone(),
            last_message_id: message.id.clone(),
            last_message_at: message.created_at,
            last_direction: message.direction,
        };
        let item = item_with(
            &key,
            [
                ("data", encode(&summary, &key)?),
                ("last_at", n(message.created_at.as_millis())),
                ("gsi1pk", s(recent_partition(&message.account))),
                ("gsi1sk", s(recent_sort_key(message))),
            ],
        );
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR last_at <= :at")
            .expression_attribute_values(":at", n(message.created_at.as_millis()))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }
}

#[async_trait]
impl ConversationIndex for DynamoStore {
    async fn recent_conversations(
        &self,
        account: &AccountId,
        limit: usize,
    ) -> StoreResult<Vec<ConversationSummary>> {
        let partition = recent_partition(account);
        let mut out = Vec::new();
        let mut start_key: Option<Item> = None;
        while out.len() < limit {
            let remaining = i32::try_from(limit - out.len()).unwrap_or(i32::MAX);
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI1)
                .key_condition_expression("gsi1pk = :pk")
                .expression_attribute_values(":pk", s(&partition))
                .scan_index_forward(false)
                .limit(remaining)
                .set_exclusive_start_key(start_key.take())
                .send()
                .await
                .map_err(|e| backend(&format!("Query {GSI1} {partition}"), &e))?;
            for item in page.items.unwrap_or_default() {
                out.push(decode(&item)?);
            }
            match page.last_evaluated_key {
                Some(next) if !next.is_empty() => start_key = Some(next),
                _ => break,
            }
        }
        out.truncate(limit);
        Ok(out)
    }
}

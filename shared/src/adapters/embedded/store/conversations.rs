//! The conversation list on redb, kept inside `record_message`'s write transaction:
//! - `store_conversation_latest`: `account \0 phone` → `ConversationSummary` (JSON), the
//!   newest message of each conversation;
//! - `store_conversation_recent`: `(account, last message ms, phone)` → nothing, the same
//!   conversations in time order, so "most recent first" is one reverse range scan.

use async_trait::async_trait;
use redb::TableDefinition;

use super::{EmbeddedStore, JsonTable, encode, get_json, pair_key};
use crate::adapters::embedded::open_read_table;
use crate::domain::{AccountId, MessageRecord};
use crate::ports::store::{ConversationIndex, ConversationSummary, StoreError, StoreResult};

const LATEST: JsonTable = TableDefinition::new("store_conversation_latest");
const RECENT: TableDefinition<(&str, i64, &str), ()> =
    TableDefinition::new("store_conversation_recent");

/// Makes `message` its conversation's latest unless a newer one is already indexed (a
/// message recorded out of order).
pub(super) fn index_message(
    tx: &redb::WriteTransaction,
    message: &MessageRecord,
) -> StoreResult<()> {
    let account = message.account.as_str();
    let phone = message.contact_phone.as_str();
    let key = pair_key(&message.account, phone);
    let mut latest = tx.open_table(LATEST)?;
    let mut recent = tx.open_table(RECENT)?;
    let current: Option<ConversationSummary> = get_json(&latest, &key)?;
    if let Some(current) = &current {
        // As on DynamoDB: the later-recorded of two messages at the same time wins.
        if current.last_message_at > message.created_at {
            return Ok(());
        }
        recent.remove((account, current.last_message_at.as_millis(), phone))?;
    }
    let summary = ConversationSummary {
        phone: message.contact_phone.clone(),
        last_message_id: message.id.clone(),
        last_message_at: message.created_at,
        last_direction: message.direction,
    };
    latest.insert(key.as_str(), encode(&key, &summary)?.as_slice())?;
    recent.insert((account, message.created_at.as_millis(), phone), ())?;
    Ok(())
}

#[async_trait]
impl ConversationIndex for EmbeddedStore {
    async fn recent_conversations(
        &self,
        account: &AccountId,
        limit: usize,
    ) -> StoreResult<Vec<ConversationSummary>> {
        let account = account.clone();
        self.db
            .read(move |tx| {
                let (Some(recent), Some(latest)) =
                    (open_read_table(tx, RECENT)?, open_read_table(tx, LATEST)?)
                else {
                    return Ok(vec![]);
                };
                let id = account.as_str();
                let mut out = Vec::new();
                for row in recent
                    .range((id, i64::MIN, "")..=(id, i64::MAX, "\u{10FFFF}"))?
                    .rev()
                {
                    if out.len() >= limit {
                        break;
                    }
                    let (key, _) = row?;
                    let (_, _, phone) = key.value();
                    let item_key = pair_key(&account, phone);
                    let summary: ConversationSummary =
                        get_json(&latest, &item_key)?.ok_or_else(|| StoreError::Corrupt {
                            key: item_key.clone(),
                            detail: "indexed conversation has no summary".into(),
                        })?;
                    out.push(summary);
                }
                Ok(out)
            })
            .await
    }
}

//! A conversation's newest messages in a time window in the embedded database: one range
//! of the conversation's keys, read backwards from its end and stopped at `limit`.

use async_trait::async_trait;

use super::{EmbeddedStore, MESSAGES, decode, message_prefix, prefix_end};
use crate::adapters::embedded::open_read_table;
use crate::domain::{AccountId, PhoneNumber, Timestamp};
use crate::ports::store::{MessageHistory, MessageWindow, StoreResult, first_message_id_for};

#[async_trait]
impl MessageHistory for EmbeddedStore {
    async fn messages_since(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        since: Option<Timestamp>,
        limit: usize,
    ) -> StoreResult<MessageWindow> {
        let prefix = message_prefix(account, phone);
        let start = format!(
            "{prefix}{}",
            since.map(first_message_id_for).unwrap_or_default()
        );
        let end = prefix_end(&prefix);
        self.db
            .read(move |tx| {
                let Some(table) = open_read_table(tx, MESSAGES)? else {
                    return Ok(MessageWindow {
                        messages: vec![],
                        complete: true,
                    });
                };
                let mut messages = Vec::new();
                for entry in table.range(start.as_str()..end.as_str())?.rev() {
                    if messages.len() == limit {
                        return Ok(MessageWindow {
                            messages,
                            complete: false,
                        });
                    }
                    let (key, value) = entry?;
                    messages.push(decode(key.value(), value.value())?);
                }
                Ok(MessageWindow {
                    messages,
                    complete: true,
                })
            })
            .await
    }
}

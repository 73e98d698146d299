//! The refusal log on redb: `account \0 phone \0 message id` → `Refusal` (JSON), so one
//! conversation's refusals are one key range, in message id order.

use async_trait::async_trait;

use super::{EmbeddedStore, JsonTable, decode, encode, message_prefix};
use crate::adapters::embedded::open_read_table;
use crate::domain::MessageId;
use crate::domain::{AccountId, PhoneNumber};
use crate::ports::store::{Refusal, RefusalLog, StoreResult};

const REFUSAL_LOG: JsonTable = redb::TableDefinition::new("store_refusal_log");

#[async_trait]
impl RefusalLog for EmbeddedStore {
    async fn record_refusal(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        refusal: &Refusal,
    ) -> StoreResult<()> {
        let key = format!("{}{}", message_prefix(account, phone), refusal.message_id);
        let refusal = refusal.clone();
        self.db
            .write(move |tx| {
                tx.open_table(REFUSAL_LOG)?
                    .insert(key.as_str(), encode(&key, &refusal)?.as_slice())?;
                Ok(())
            })
            .await
    }

    async fn refusals(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        from_message_id: &MessageId,
    ) -> StoreResult<Vec<Refusal>> {
        let prefix = message_prefix(account, phone);
        let start = format!("{prefix}{from_message_id}");
        // The prefix ends in \0; the same prefix ending in \x01 bounds it above.
        let end = format!("{}\u{1}", &prefix[..prefix.len() - 1]);
        self.db
            .read(move |tx| {
                let Some(table) = open_read_table(tx, REFUSAL_LOG)? else {
                    return Ok(vec![]);
                };
                let mut refusals = Vec::new();
                for entry in table.range(start.as_str()..end.as_str())? {
                    let (key, value) = entry?;
                    refusals.push(decode(key.value(), value.value())?);
                }
                Ok(refusals)
            })
            .await
    }
}

//! Sequence definitions and their contact notes on redb. Definitions are keyed
//! `account \0 name`, so one account's are a key range in name order; a note id is keyed
//! `account \0 contact \0 sequence` and written once (checked inside the write
//! transaction, which redb runs one at a time).

use async_trait::async_trait;
use redb::{ReadableTable, TableDefinition};

use super::{EmbeddedStore, pair_key, prefix_end};
use crate::adapters::embedded::open_read_table;
use crate::domain::AccountId;
use crate::domain::ContactId;
use crate::domain::sequence::Sequence;
use crate::ports::store::{
    SequenceStore, StoreResult, StoredSequence, decode_sequence, encode_sequence,
};

/// `account \0 name` → the definition's JSON.
const SEQUENCES: TextTable = TableDefinition::new("store_sequences");
/// `account \0 contact id \0 sequence` → the CRM note id.
const SEQUENCE_NOTES: TextTable = TableDefinition::new("store_sequence_notes");

/// The key range of one account's sequences: its prefix ends in \\0, the same prefix
/// ending in \\x01 bounds it above.
fn account_range(account: &AccountId) -> (String, String) {
    let prefix = pair_key(account, "");
    let end = prefix_end(&prefix);
    (prefix, end)
}

fn note_key(account: &AccountId, contact_id: &str, sequence: &str) -> String {
    format!("{account}\0{contact_id}\0{sequence}")
}

#[async_trait]
impl SequenceStore for EmbeddedStore {
    async fn put_sequence(&self, sequence: &Sequence) -> StoreResult<()> {
        let key = pair_key(sequence.account(), sequence.name());
        let json = encode_sequence(sequence)?;
        self.db
            .write(move |tx| {
                tx.open_table(SEQUENCES)?
                    .insert(key.as_str(), json.as_str())?;
                Ok(())
            })
            .await
    }

    async fn sequence(
        &self,
        account: &AccountId,
        name: &str,
    ) -> StoreResult<Option<StoredSequence>> {
        let key = pair_key(account, name);
        let json = self.read_text(SEQUENCES, key).await?;
        Ok(json.map(|json| decode_sequence(account, name, &json)))
    }

    async fn sequences(&self, account: &AccountId) -> StoreResult<Vec<StoredSequence>> {
        let stored = self.stored(account).await?;
        Ok(stored
            .into_iter()
            .map(|(name, json)| decode_sequence(account, &name, &json))
            .collect())
    }

    async fn sequence_names(&self, account: &AccountId) -> StoreResult<Vec<String>> {
        let stored = self.stored(account).await?;
        Ok(stored.into_iter().map(|(name, _)| name).collect())
    }

    async fn delete_sequence(&self, account: &AccountId, name: &str) -> StoreResult<bool> {
        let key = pair_key(account, name);
        self.db
            .write(move |tx| {
                let removed = tx.open_table(SEQUENCES)?.remove(key.as_str())?.is_some();
                Ok(removed)
            })
            .await
    }

    async fn sequence_note(
        &self,
        account: &AccountId,
        contact_id: &ContactId,
        sequence: &str,
    ) -> StoreResult<Option<String>> {
        self.read_text(
            SEQUENCE_NOTES,
            note_key(account, contact_id.as_str(), sequence),
        )
        .await
    }

    async fn remember_sequence_note(
        &self,
        account: &AccountId,
        contact_id: &ContactId,
        sequence: &str,
        note_id: &str,
    ) -> StoreResult<String> {
        let key = note_key(account, contact_id.as_str(), sequence);
        let note_id = note_id.to_string();
        self.db
            .write(move |tx| {
                let mut table = tx.open_table(SEQUENCE_NOTES)?;
                if let Some(existing) = table.get(key.as_str())? {
                    return Ok(existing.value().to_string());
                }
                table.insert(key.as_str(), note_id.as_str())?;
                Ok(note_id)
            })
            .await
    }
}

type TextTable = TableDefinition<'static, &'static str, &'static str>;

impl EmbeddedStore {
    async fn read_text(&self, table: TextTable, key: String) -> StoreResult<Option<String>> {
        self.db
            .read(move |tx| -> StoreResult<Option<String>> {
                match open_read_table(tx, table)? {
                    Some(t) => Ok(t.get(key.as_str())?.map(|v| v.value().to_string())),
                    None => Ok(None),
                }
            })
            .await
    }

    /// The account's (name, JSON) pairs in name order.
    async fn stored(&self, account: &AccountId) -> StoreResult<Vec<(String, String)>> {
        let (prefix, end) = account_range(account);
        self.db
            .read(move |tx| {
                let Some(table) = open_read_table(tx, SEQUENCES)? else {
                    return Ok(Vec::new());
                };
                let mut out = Vec::new();
                for entry in table.range(prefix.as_str()..end.as_str())? {
                    let (key, value) = entry?;
                    out.push((
                        key.value()[prefix.len()..].to_string(),
                        value.value().to_string(),
                    ));
                }
                Ok(out)
            })
            .await
    }
}

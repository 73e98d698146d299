//! Sequence definitions and their contact notes on DynamoDB.
//!
//! A definition lives in its account's partition (`ACCOUNT#<id>` / `SEQUENCE#<name>`), so
//! the account's sequences are one strongly consistent Query in name order. The note id of
//! (account, contact, sequence) is written once, with `attribute_not_exists`: two runs that
//! both created a note agree on the first one recorded.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;

use super::DynamoStore;
use super::errors::condition_failed;
use super::item::{Item, Key, item_with, s, string_attr};
use crate::domain::AccountId;
use crate::domain::ContactId;
use crate::domain::sequence::Sequence;
use crate::ports::store::{
    SequenceStore, StoreError, StoreResult, StoredSequence, decode_sequence, encode_sequence,
};

const SEQUENCE_PREFIX: &str = "SEQUENCE#";

fn sequence_key(account: &AccountId, name: &str) -> Key {
    Key::new(
        format!("ACCOUNT#{account}"),
        format!("{SEQUENCE_PREFIX}{name}"),
    )
}

fn note_key(account: &AccountId, contact_id: &str, sequence: &str) -> Key {
    Key::new(
        format!("SEQNOTE#{account}#{contact_id}"),
        format!("{SEQUENCE_PREFIX}{sequence}"),
    )
}

/// The sequence's name and its stored JSON.
fn stored_parts(item: &Item) -> StoreResult<(&str, &str)> {
    Ok((string_attr(item, "name")?, string_attr(item, "data")?))
}

#[async_trait]
impl SequenceStore for DynamoStore {
    async fn put_sequence(&self, sequence: &Sequence) -> StoreResult<()> {
        let key = sequence_key(sequence.account(), sequence.name());
        let json = encode_sequence(sequence)?;
        self.put(item_with(
            &key,
            [("data", s(json)), ("name", s(sequence.name()))],
        ))
        .await
    }

    async fn sequence(
        &self,
        account: &AccountId,
        name: &str,
    ) -> StoreResult<Option<StoredSequence>> {
        let Some(item) = self.get(&sequence_key(account, name), true).await? else {
            return Ok(None);
        };
        let (_, json) = stored_parts(&item)?;
        Ok(Some(decode_sequence(account, name, json)))
    }

    async fn sequences(&self, account: &AccountId) -> StoreResult<Vec<StoredSequence>> {
        let items = self
            .query_partition(&format!("ACCOUNT#{account}"), Some(SEQUENCE_PREFIX))
            .await?;
        items
            .iter()
            .map(|item| {
                let (name, json) = stored_parts(item)?;
                Ok(decode_sequence(account, name, json))
            })
            .collect()
    }

    async fn sequence_names(&self, account: &AccountId) -> StoreResult<Vec<String>> {
        let items = self
            .query_partition(&format!("ACCOUNT#{account}"), Some(SEQUENCE_PREFIX))
            .await?;
        items
            .iter()
            .map(|item| string_attr(item, "name").map(str::to_string))
            .collect()
    }

    async fn delete_sequence(&self, account: &AccountId, name: &str) -> StoreResult<bool> {
        Ok(self.delete(&sequence_key(account, name)).await?.is_some())
    }

    async fn sequence_note(
        &self,
        account: &AccountId,
        contact_id: &ContactId,
        sequence: &str,
    ) -> StoreResult<Option<String>> {
        match self
            .get(&note_key(account, contact_id.as_str(), sequence), true)
            .await?
        {
            Some(item) => Ok(Some(string_attr(&item, "note_id")?.to_string())),
            None => Ok(None),
        }
    }

    async fn remember_sequence_note(
        &self,
        account: &AccountId,
        contact_id: &ContactId,
        sequence: &str,
        note_id: &str,
    ) -> StoreResult<String> {
        let key = note_key(account, contact_id.as_str(), sequence);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item_with(&key, [("note_id", s(note_id))])))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(note_id.to_string()),
            Err(err) => err,
        };
        let holder = match condition_failed(&format!("PutItem {key}"), err)? {
            Some(holder) => holder,
            None => self.get(&key, true).await?.ok_or_else(|| {
                StoreError::Backend(format!("{key} refused the write but is gone"))
            })?,
        };
        Ok(string_attr(&holder, "note_id")?.to_string())
    }
}

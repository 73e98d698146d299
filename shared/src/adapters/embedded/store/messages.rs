//! Messages in the embedded database: keyed `account \0 phone \0 id` (ULIDs, so a
//! conversation reads in time order), with a row per provider SID pointing at its message.

use async_trait::async_trait;
use redb::{ReadableTable, WriteTransaction};

use super::{
    EmbeddedStore, MESSAGES, SIDS, decode, encode, get_json, message_prefix, modify_json, pair_key,
    prefix_end,
};
use crate::adapters::embedded::open_read_table;
use crate::domain::routing::RoutingDecision;
use crate::domain::{AccountId, MessageRecord, MessageStatus, PhoneNumber, Timestamp};
use crate::domain::{MessageId, MessageSid};
use crate::ports::store::{
    ConsentRecord, ConversationStore, Recorded, StatusUpdate, StoreError, StoreResult,
};

/// `record_message` inside the caller's write transaction.
pub(super) fn insert_message(
    tx: &WriteTransaction,
    message: &MessageRecord,
) -> StoreResult<Recorded> {
    let key = format!(
        "{}{}",
        message_prefix(&message.account, &message.contact_phone),
        message.id
    );
    let mut messages = tx.open_table(MESSAGES)?;
    let mut sids = tx.open_table(SIDS)?;
    if messages.get(key.as_str())?.is_some() {
        return Ok(Recorded::Duplicate);
    }
    if let Some(sid) = &message.provider_sid {
        if sids.get(sid.as_str())?.is_some() {
            return Ok(Recorded::Duplicate);
        }
        sids.insert(sid.as_str(), key.as_str())?;
    }
    messages.insert(key.as_str(), encode(&key, message)?.as_slice())?;
    super::conversations::index_message(tx, message)?;
    Ok(Recorded::New)
}

/// `attach_provider_sid` to the message at `key`, inside the caller's write transaction.
pub(super) fn attach_sid_in(tx: &WriteTransaction, key: &str, sid: &MessageSid) -> StoreResult<()> {
    let mut messages = tx.open_table(MESSAGES)?;
    let mut sids = tx.open_table(SIDS)?;
    let Some(mut message): Option<MessageRecord> = get_json(&messages, key)? else {
        return Err(StoreError::NotFound(format!("message {key}")));
    };
    if let Some(existing) = sids.get(sid.as_str())? {
        if existing.value() == key {
            return Ok(());
        }
        return Err(StoreError::Corrupt {
            key: sid.to_string(),
            detail: "provider SID already attached to another message".into(),
        });
    }
    message.provider_sid = Some(sid.clone());
    sids.insert(sid.as_str(), key)?;
    messages.insert(key, encode(key, &message)?.as_slice())?;
    Ok(())
}

#[async_trait]
impl ConversationStore for EmbeddedStore {
    async fn record_message(&self, message: &MessageRecord) -> StoreResult<Recorded> {
        let message = message.clone();
        self.db.write(move |tx| insert_message(tx, &message)).await
    }

    async fn record_message_with_consent(
        &self,
        message: &MessageRecord,
        consent: &ConsentRecord,
    ) -> StoreResult<Recorded> {
        let (message, consent) = (message.clone(), consent.clone());
        self.db
            .write(move |tx| {
                let recorded = insert_message(tx, &message)?;
                if recorded == Recorded::New {
                    let key = pair_key(&message.account, message.contact_phone.as_str());
                    super::consent::write_consent(tx, &key, &consent)?;
                }
                Ok(recorded)
            })
            .await
    }

    async fn conversation(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        limit: usize,
    ) -> StoreResult<Vec<MessageRecord>> {
        let prefix = message_prefix(account, phone);
        self.db
            .read(move |tx| {
                let Some(messages) = open_read_table(tx, MESSAGES)? else {
                    return Ok(vec![]);
                };
                // The prefix ends in \0; the same prefix ending in \x01 bounds it above.
                let end = prefix_end(&prefix);
                let mut out = Vec::new();
                for entry in messages.range(prefix.as_str()..end.as_str())?.rev() {
                    if out.len() >= limit {
                        break;
                    }
                    let (key, value) = entry?;
                    out.push(decode(key.value(), value.value())?);
                }
                Ok(out)
            })
            .await
    }

    async fn message_by_sid(
        &self,
        provider_sid: &MessageSid,
    ) -> StoreResult<Option<MessageRecord>> {
        let sid = provider_sid.clone();
        self.db
            .read(move |tx| {
                let (Some(sids), Some(messages)) =
                    (open_read_table(tx, SIDS)?, open_read_table(tx, MESSAGES)?)
                else {
                    return Ok(None);
                };
                let Some(key) = sids.get(sid.as_str())? else {
                    return Ok(None);
                };
                get_json(&messages, key.value())
            })
            .await
    }

    async fn message(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        message_id: &MessageId,
    ) -> StoreResult<Option<MessageRecord>> {
        let key = format!("{}{message_id}", message_prefix(account, phone));
        self.read_json(MESSAGES, key).await
    }

    async fn attach_provider_sid(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        message_id: &MessageId,
        provider_sid: &MessageSid,
    ) -> StoreResult<()> {
        let key = format!("{}{message_id}", message_prefix(account, phone));
        let sid = provider_sid.clone();
        self.db.write(move |tx| attach_sid_in(tx, &key, &sid)).await
    }

    async fn record_routing(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        message_id: &MessageId,
        routing: &RoutingDecision,
    ) -> StoreResult<()> {
        let key = format!("{}{message_id}", message_prefix(account, phone));
        let routing = routing.clone();
        self.db
            .write(move |tx| {
                modify_json(
                    &mut tx.open_table(MESSAGES)?,
                    &key,
                    || format!("message {key}"),
                    |message: &mut MessageRecord| message.routing = Some(routing),
                )
            })
            .await
    }

    async fn apply_status_by_id(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        message_id: &MessageId,
        status: MessageStatus,
        error_code: Option<u32>,
        at: Timestamp,
    ) -> StoreResult<StatusUpdate> {
        let key = format!("{}{message_id}", message_prefix(account, phone));
        self.db
            .write(move |tx| {
                let mut messages = tx.open_table(MESSAGES)?;
                let Some(message): Option<MessageRecord> = get_json(&messages, &key)? else {
                    return Ok(StatusUpdate::UnknownSid);
                };
                apply_status_to(&mut messages, &key, message, status, error_code, at)
            })
            .await
    }

    async fn apply_status(
        &self,
        provider_sid: &MessageSid,
        status: MessageStatus,
        error_code: Option<u32>,
        at: Timestamp,
    ) -> StoreResult<StatusUpdate> {
        let sid = provider_sid.to_string();
        self.db
            .write(move |tx| {
                let sids = tx.open_table(SIDS)?;
                let Some(key) = sids.get(sid.as_str())?.map(|k| k.value().to_string()) else {
                    return Ok(StatusUpdate::UnknownSid);
                };
                let mut messages = tx.open_table(MESSAGES)?;
                let Some(message): Option<MessageRecord> = get_json(&messages, &key)? else {
                    return Err(StoreError::Corrupt {
                        key: sid.clone(),
                        detail: "SID points at a missing message".into(),
                    });
                };
                apply_status_to(&mut messages, &key, message, status, error_code, at)
            })
            .await
    }
}

/// Moves a stored message's status forward (never back) and keeps its first error code;
/// a callback that is not progress records a code only on a failure without one.
fn apply_status_to(
    messages: &mut redb::Table<&str, &[u8]>,
    key: &str,
    mut message: MessageRecord,
    status: MessageStatus,
    error_code: Option<u32>,
    at: Timestamp,
) -> StoreResult<StatusUpdate> {
    let advanced = message.status.advances_to(status);
    let gains_error = message.error_code.is_none()
        && error_code.is_some()
        && (advanced || message.status.takes_late_error_code());
    if advanced {
        message.status = status;
    }
    if gains_error {
        message.error_code = error_code;
    }
    if advanced || gains_error {
        message.updated_at = at;
        messages.insert(key, encode(key, &message)?.as_slice())?;
    }
    Ok(if advanced {
        StatusUpdate::Advanced(message)
    } else {
        StatusUpdate::Unchanged(message)
    })
}

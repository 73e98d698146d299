//! Messages on DynamoDB: one item per message in its conversation's partition (`CONV#`,
//! sort key `MSG#<ulid>`, so a conversation reads newest first), and a pointer item per
//! provider SID. The fields status callbacks change (status, error code, provider SID,
//! routing) are attributes of their own, laid over the JSON in `data` on reads.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

use super::DynamoStore;
use super::errors::{
    CONDITION_FAILED, backend, build_error, cancellation_reasons, cancelled_error,
    condition_failed, reason_is,
};
use super::item::{
    Item, Key, MESSAGE_PREFIX, conversation_pk, corrupt, decode, encode, item_with, n,
    optional_number_attr, optional_string_attr, s, string_attr, timestamp_attr,
};
use crate::domain::routing::RoutingDecision;
use crate::domain::{AccountId, MessageRecord, MessageStatus, PhoneNumber, Timestamp};
use crate::domain::{MessageId, MessageSid};
use crate::ports::store::{
    ConsentRecord, ConversationStore, Recorded, StatusUpdate, StoreError, StoreResult,
};

pub(super) fn message_item(message: &MessageRecord) -> StoreResult<Item> {
    let key = Key::message(
        &message.account,
        &message.contact_phone,
        message.id.as_str(),
    );
    let mut item = item_with(
        &key,
        [
            ("data", encode(message, &key)?),
            ("status", s(message.status.as_str())),
            ("status_rank", n(message.status.rank())),
            ("updated_at", n(message.updated_at.as_millis())),
        ],
    );
    if let Some(sid) = &message.provider_sid {
        item.insert("provider_sid".into(), s(sid.as_str()));
    }
    if let Some(code) = message.error_code {
        item.insert("error_code".into(), n(code));
    }
    Ok(item)
}

/// A message as stored: `data`, with the attributes conditional updates change laid over it.
pub(super) fn decode_message(item: &Item) -> StoreResult<MessageRecord> {
    let mut message: MessageRecord = decode(item)?;
    let status = string_attr(item, "status")?;
    message.status = status
        .parse::<MessageStatus>()
        .map_err(|e| corrupt(item, e.to_string()))?;
    message.updated_at = timestamp_attr(item, "updated_at")?;
    message.provider_sid = optional_string_attr(item, "provider_sid")?.map(MessageSid::from);
    if let Some(routing) = optional_string_attr(item, "routing")? {
        message.routing =
            Some(serde_json::from_str(routing).map_err(|e| corrupt(item, e.to_string()))?);
    }
    message.error_code = optional_number_attr(item, "error_code")?
        .map(|code| {
            u32::try_from(code)
                .map_err(|_| corrupt(item, format!("error_code {code} out of range")))
        })
        .transpose()?;
    Ok(message)
}

fn sid_pointer_item(provider_sid: &str, message: &Key) -> Item {
    item_with(
        &Key::sid(provider_sid),
        [("msg_pk", s(&message.pk)), ("msg_sk", s(&message.sk))],
    )
}

impl DynamoStore {
    /// Writes the message and its SID pointer, refusing a duplicate of either, in one
    /// transaction with `consent_change` (if any) and the conversation summary. Those two
    /// are written only where their own condition holds (no newer change, no newer
    /// message): one whose condition fails is dropped and the rest written again, so it
    /// never refuses the message. At most three attempts.
    async fn record_message_with(
        &self,
        message: &MessageRecord,
        consent_change: Option<TransactWriteItem>,
    ) -> StoreResult<Recorded> {
        let key = Key::message(
            &message.account,
            &message.contact_phone,
            message.id.as_str(),
        );
        let mut items =
            vec![self.transact_put(message_item(message)?, "attribute_not_exists(pk)")?];
        if let Some(sid) = &message.provider_sid {
            items.push(self.transact_put(
                sid_pointer_item(sid.as_str(), &key),
                "attribute_not_exists(pk)",
            )?);
        }
        let message_items = items.len();
        items.extend(consent_change);
        items.push(self.conversation_summary_put(message)?);
        let context = format!("TransactWriteItems record_message {key}");
        loop {
            let err = match self.transact(items.clone()).await {
                Ok(()) => return Ok(Recorded::New),
                Err(err) => err,
            };
            let reasons = cancellation_reasons(&context, err)?;
            if (0..message_items).any(|i| reason_is(&reasons, i, CONDITION_FAILED)) {
                return Ok(Recorded::Duplicate);
            }
            let refused: Vec<usize> = (message_items..items.len())
                .filter(|&i| reason_is(&reasons, i, CONDITION_FAILED))
                .collect();
            if refused.is_empty() {
                return Err(cancelled_error(&context, &reasons));
            }
            for i in refused.into_iter().rev() {
                items.remove(i);
            }
        }
    }

    /// The key of the message a provider SID points at.
    async fn message_key_by_sid(&self, provider_sid: &str) -> StoreResult<Option<Key>> {
        let Some(pointer) = self.get(&Key::sid(provider_sid), true).await? else {
            return Ok(None);
        };
        Ok(Some(Key::new(
            string_attr(&pointer, "msg_pk")?,
            string_attr(&pointer, "msg_sk")?,
        )))
    }

    /// The two writes that attach `provider_sid` to the message at `key`: its pointer (which
    /// may already exist only for this very message: a repeated attach) and the message's
    /// attribute (the message must exist).
    pub(super) fn sid_items(
        &self,
        key: &Key,
        provider_sid: &MessageSid,
    ) -> StoreResult<[TransactWriteItem; 2]> {
        let pointer = Put::builder()
            .table_name(&self.table)
            .set_item(Some(sid_pointer_item(provider_sid.as_str(), key)))
            .condition_expression(
                "attribute_not_exists(pk) OR (msg_pk = :msg_pk AND msg_sk = :msg_sk)",
            )
            .expression_attribute_values(":msg_pk", s(&key.pk))
            .expression_attribute_values(":msg_sk", s(&key.sk))
            .build()
            .map_err(build_error)?;
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key.item()))
            .update_expression("SET provider_sid = :sid")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":sid", s(provider_sid.as_str()))
            .build()
            .map_err(build_error)?;
        Ok([
            TransactWriteItem::builder().put(pointer).build(),
            TransactWriteItem::builder().update(update).build(),
        ])
    }

    /// Sets an error code the message does not have yet (status unchanged).
    async fn keep_first_error_code(&self, message: &Key, error_code: u32) -> StoreResult<Item> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(message.item()))
            .update_expression("SET error_code = if_not_exists(error_code, :ec)")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":ec", n(error_code))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| backend(&format!("UpdateItem {message}"), &e))?;
        out.attributes
            .ok_or_else(|| StoreError::Backend(format!("UpdateItem {message} returned no item")))
    }
}

#[async_trait]
impl ConversationStore for DynamoStore {
    async fn record_message(&self, message: &MessageRecord) -> StoreResult<Recorded> {
        self.record_message_with(message, None).await
    }

    async fn record_message_with_consent(
        &self,
        message: &MessageRecord,
        consent: &ConsentRecord,
    ) -> StoreResult<Recorded> {
        let change = self.consent_put(&message.account, &message.contact_phone, consent)?;
        self.record_message_with(message, Some(change)).await
    }

    async fn conversation(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        limit: usize,
    ) -> StoreResult<Vec<MessageRecord>> {
        let pk = conversation_pk(account, phone);
        let mut messages = Vec::new();
        let mut start_key: Option<Item> = None;
        // A page can stop short of `Limit` (1 MB cap), so keep going until enough are read.
        while messages.len() < limit {
            let remaining = i32::try_from(limit - messages.len()).unwrap_or(i32::MAX);
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(&pk))
                .expression_attribute_values(":prefix", s(MESSAGE_PREFIX))
                .scan_index_forward(false)
                .limit(remaining)
                .consistent_read(true)
                .set_exclusive_start_key(start_key.take())
                .send()
                .await
                .map_err(|e| backend(&format!("Query {pk}"), &e))?;
            for item in out.items.unwrap_or_default() {
                messages.push(decode_message(&item)?);
            }
            match out.last_evaluated_key {
                Some(next) if !next.is_empty() => start_key = Some(next),
                _ => break,
            }
        }
        messages.truncate(limit);
        Ok(messages)
    }

    async fn message_by_sid(
        &self,
        provider_sid: &MessageSid,
    ) -> StoreResult<Option<MessageRecord>> {
        let Some(key) = self.message_key_by_sid(provider_sid.as_str()).await? else {
            return Ok(None);
        };
        match self.get(&key, true).await? {
            Some(item) => decode_message(&item).map(Some),
            None => Err(StoreError::Corrupt {
                key: Key::sid(provider_sid.as_str()).to_string(),
                detail: format!("points at missing message {key}"),
            }),
        }
    }

    async fn message(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        message_id: &MessageId,
    ) -> StoreResult<Option<MessageRecord>> {
        let key = Key::message(account, phone, message_id.as_str());
        self.get(&key, true)
            .await?
            .map(|item| decode_message(&item))
            .transpose()
    }

    async fn attach_provider_sid(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        message_id: &MessageId,
        provider_sid: &MessageSid,
    ) -> StoreResult<()> {
        let key = Key::message(account, phone, message_id.as_str());
        let items = self.sid_items(&key, provider_sid)?.to_vec();
        let err = match self.transact(items).await {
            Ok(()) => return Ok(()),
            Err(err) => err,
        };
        let context = format!("TransactWriteItems attach_provider_sid {key}");
        let reasons = cancellation_reasons(&context, err)?;
        if reason_is(&reasons, 1, CONDITION_FAILED) {
            Err(StoreError::NotFound(format!("message {message_id}")))
        } else if reason_is(&reasons, 0, CONDITION_FAILED) {
            // Provider SIDs are unique per message: this is an inconsistency, not a retry case.
            Err(StoreError::Backend(format!(
                "provider SID {provider_sid} already belongs to another message than {key}"
            )))
        } else {
            Err(cancelled_error(&context, &reasons))
        }
    }

    async fn record_routing(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        message_id: &MessageId,
        routing: &RoutingDecision,
    ) -> StoreResult<()> {
        let key = Key::message(account, phone, message_id.as_str());
        let json = serde_json::to_string(routing).map_err(|e| StoreError::Corrupt {
            key: key.to_string(),
            detail: e.to_string(),
        })?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key.item()))
            // A separate attribute, laid over `data` on reads like the status.
            .update_expression("SET routing = :routing")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":routing", s(&json))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => {
                // Only a failed condition (no such message) gets past this line.
                condition_failed(&format!("UpdateItem {key}"), err)?;
                Err(StoreError::NotFound(format!("message {message_id}")))
            }
        }
    }

    async fn apply_status(
        &self,
        provider_sid: &MessageSid,
        status: MessageStatus,
        error_code: Option<u32>,
        at: Timestamp,
    ) -> StoreResult<StatusUpdate> {
        let Some(key) = self.message_key_by_sid(provider_sid.as_str()).await? else {
            return Ok(StatusUpdate::UnknownSid);
        };
        self.apply_status_at(&key, status, error_code, at)
            .await?
            .ok_or_else(|| StoreError::Corrupt {
                key: Key::sid(provider_sid.as_str()).to_string(),
                detail: format!("points at missing message {key}"),
            })
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
        let key = Key::message(account, phone, message_id.as_str());
        Ok(self
            .apply_status_at(&key, status, error_code, at)
            .await?
            .unwrap_or(StatusUpdate::UnknownSid))
    }
}

/// `:end0`...: the statuses nothing follows ([`MessageStatus::ENDS`]), in a condition.
const END_PLACEHOLDERS: [&str; MessageStatus::ENDS.len()] =
    [":end0", ":end1", ":end2", ":end3", ":end4"];

impl DynamoStore {
    /// Moves the message at `key` forward (never back) and keeps its first error code;
    /// `None` when there is no message there.
    async fn apply_status_at(
        &self,
        key: &Key,
        status: MessageStatus,
        error_code: Option<u32>,
        at: Timestamp,
    ) -> StoreResult<Option<StatusUpdate>> {
        let mut update =
            String::from("SET #status = :status, status_rank = :rank, updated_at = :at");
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key.item()))
            .condition_expression(format!(
                "attribute_exists(pk) AND status_rank < :rank AND NOT (#status IN ({}))",
                END_PLACEHOLDERS.join(", ")
            ))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(status.as_str()))
            .expression_attribute_values(":rank", n(status.rank()))
            .expression_attribute_values(":at", n(at.as_millis()))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (placeholder, end) in END_PLACEHOLDERS.iter().zip(MessageStatus::ENDS) {
            request = request.expression_attribute_values(*placeholder, s(end.as_str()));
        }
        if let Some(code) = error_code {
            update.push_str(", error_code = if_not_exists(error_code, :ec)");
            request = request.expression_attribute_values(":ec", n(code));
        }
        let context = format!("UpdateItem {key}");
        match request.update_expression(update).send().await {
            Ok(out) => {
                let item = out
                    .attributes
                    .ok_or_else(|| StoreError::Backend(format!("{context} returned no item")))?;
                Ok(Some(StatusUpdate::Advanced(decode_message(&item)?)))
            }
            Err(err) => {
                let seen = match condition_failed(&context, err)? {
                    Some(item) => item,
                    None => match self.get(key, true).await? {
                        Some(item) => item,
                        None => return Ok(None),
                    },
                };
                self.not_progress(key, &seen, error_code).await.map(Some)
            }
        }
    }

    /// A status that is not progress for the message `seen` at `key`: nothing changes,
    /// except that a failure without an error code keeps this one (failures are ends, so
    /// the status cannot change under this write).
    async fn not_progress(
        &self,
        key: &Key,
        seen: &Item,
        error_code: Option<u32>,
    ) -> StoreResult<StatusUpdate> {
        let seen = decode_message(seen)?;
        let current = match error_code {
            Some(code) if seen.error_code.is_none() && seen.status.takes_late_error_code() => {
                decode_message(&self.keep_first_error_code(key, code).await?)?
            }
            _ => seen,
        };
        Ok(StatusUpdate::Unchanged(current))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Timestamp;

    #[test]
    fn decodes_message_attributes_over_data() {
        let message = MessageRecord {
            id: "01J00000000000000000000001".into(),
            account: AccountId::parse("acme").expect("valid id"),
            contact_phone: PhoneNumber::parse_e164("+14155552671").expect("valid phone"),
            our_sender: "+14155552672".into(),
            direction: crate::domain::Direction::Outbound,
            body: "hi".into(),
            media_urls: vec![],
            status: MessageStatus::Queued,
            provider_sid: None,
            error_code: None,
            user_id: None,
            campaign: None,
            kind: None,
            created_at: Timestamp::from_millis(1),
            updated_at: Timestamp::from_millis(1),
            contact_id: None,
            routing: None,
        };
        let mut item = message_item(&message).expect("encodes");
        item.insert("status".into(), s("delivered"));
        item.insert("error_code".into(), n(30003));
        item.insert("provider_sid".into(), s("SM1"));
        item.insert("updated_at".into(), n(9));
        let decoded = decode_message(&item).expect("decodes");
        assert_eq!(decoded.status, MessageStatus::Delivered);
        assert_eq!(decoded.error_code, Some(30003));
        assert_eq!(decoded.provider_sid, Some(MessageSid::new("SM1")));
        assert_eq!(decoded.updated_at, Timestamp::from_millis(9));

        item.insert("status".into(), s("lost"));
        assert!(matches!(
            decode_message(&item),
            Err(StoreError::Corrupt { .. })
        ));
    }
}

//! Claims on DynamoDB: idempotency keys with leases, send attempts, and admission slots.
//! Every check-and-write is one conditional write or one transaction, so concurrent
//! claimants (two workers with one redelivered job, a CRM retry racing its first request)
//! see exactly one winner.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{ConditionCheck, Delete, TransactWriteItem, Update};

use super::errors::{
    CONDITION_FAILED, build_error, cancellation_reasons, cancelled_error, condition_failed,
    reason_is,
};
use super::item::{
    Item, Key, corrupt, expiry_attributes, item_with, n, optional_number_attr,
    optional_string_attr, s, timestamp_attr,
};
use super::optout::OPTED_OUT_JSON;
use super::{DynamoStore, MAX_RACE_RETRIES};
use crate::domain::{AccountId, PhoneNumber, Timestamp};
use crate::domain::{IdempotencyKey, MessageId};
use crate::ports::store::{
    ATTEMPT_KEEP, AdmissionStore, AttemptStart, AttemptState, Claim, ClaimTerms, IdempotencyRecord,
    IdempotencyStore, SendAttemptStore, StoreError, StoreResult,
};

pub(super) fn decode_idempotency(item: &Item) -> StoreResult<IdempotencyRecord> {
    Ok(IdempotencyRecord {
        response: optional_string_attr(item, "response_body")?.map(str::to_string),
        created_at: timestamp_attr(item, "created_at_ms")?,
        expires_at: timestamp_attr(item, "expires_at_ms")?,
        lease_until: optional_number_attr(item, "lease_until_ms")?.map(Timestamp::from_millis),
    })
}

/// Finishing an attempt: the first outcome stays, a late repeat changes nothing.
const FINISH_EXPRESSION: &str = "SET response_body = if_not_exists(response_body, :response)";

/// A send attempt is an idempotency item under this key (as before attempts had states).
pub(super) fn attempt_key(message_id: &MessageId) -> Key {
    Key::idempotency(IdempotencyKey::send_attempt(message_id).as_str())
}

impl DynamoStore {
    /// Writes a claim's answer with `expression` (naming it `:response`); `NotFound(what)`
    /// when the claim is gone.
    async fn set_response(
        &self,
        key: &Key,
        expression: &str,
        response: &str,
        what: impl FnOnce() -> String,
    ) -> StoreResult<()> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key.item()))
            .update_expression(expression)
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":response", s(response))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => {
                condition_failed(&format!("UpdateItem {key}"), err)?;
                Err(StoreError::NotFound(what()))
            }
        }
    }

    /// Takes over `lapsed`, an unanswered claim whose lease ran out: one conditional write,
    /// so of several claimants exactly one wins. `None` when another got there first.
    async fn take_over(
        &self,
        key: &Key,
        lapsed: &IdempotencyRecord,
        terms: ClaimTerms,
        now: Timestamp,
    ) -> StoreResult<Option<Claim>> {
        let [(_, expires_ms), (_, expires_s)] = expiry_attributes(now.plus(terms.keep));
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key.item()))
            .update_expression(
                "SET lease_until_ms = :lease, expires_at_ms = :expires_ms, expires_at = :expires_s",
            )
            .condition_expression(
                "attribute_not_exists(response_body) AND created_at_ms = :created \
                 AND (attribute_not_exists(lease_until_ms) OR lease_until_ms <= :now)",
            )
            .expression_attribute_values(":lease", n(now.plus(terms.lease).as_millis()))
            .expression_attribute_values(":expires_ms", expires_ms)
            .expression_attribute_values(":expires_s", expires_s)
            .expression_attribute_values(":created", n(lapsed.created_at.as_millis()))
            .expression_attribute_values(":now", n(now.as_millis()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Some(Claim::New {
                first_claimed_at: lapsed.created_at,
            })),
            Err(err) => condition_failed(&format!("UpdateItem {key}"), err).map(|_| None),
        }
    }
}

#[async_trait]
impl IdempotencyStore for DynamoStore {
    async fn claim(
        &self,
        key: &IdempotencyKey,
        terms: ClaimTerms,
        now: Timestamp,
    ) -> StoreResult<Claim> {
        let item_key = Key::idempotency(key.as_str());
        for _ in 0..MAX_RACE_RETRIES {
            let [expires_ms, expires_s] = expiry_attributes(now.plus(terms.keep));
            let item = item_with(
                &item_key,
                [
                    ("created_at_ms", n(now.as_millis())),
                    ("lease_until_ms", n(now.plus(terms.lease).as_millis())),
                    expires_ms,
                    expires_s,
                ],
            );
            let Some(existing) = self.put_unless_live(&item_key, item, now).await? else {
                return Ok(Claim::New {
                    first_claimed_at: now,
                });
            };
            let record = decode_idempotency(&existing)?;
            if !record.lease_lapsed(now) {
                return Ok(Claim::Existing(record));
            }
            if let Some(taken) = self.take_over(&item_key, &record, terms, now).await? {
                return Ok(taken);
            }
            // Another claimant took it over, answered or released it first: look again.
        }
        Err(StoreError::Backend(format!(
            "claim {item_key}: still racing after {MAX_RACE_RETRIES} tries"
        )))
    }

    async fn complete(&self, key: &IdempotencyKey, response: &str) -> StoreResult<()> {
        let what = || format!("idempotency key {key}");
        self.set_response(
            &Key::idempotency(key.as_str()),
            "SET response_body = :response",
            response,
            what,
        )
        .await
    }

    async fn release(&self, key: &IdempotencyKey) -> StoreResult<()> {
        self.delete(&Key::idempotency(key.as_str()))
            .await
            .map(|_| ())
    }
}

impl DynamoStore {
    /// The transaction of `begin_attempt`: the attempt's write (new, or replacing the
    /// unfinished one begun at `replacing`), then the check that the phone has not opted out.
    pub(super) fn attempt_items(
        &self,
        key: &Key,
        account: &AccountId,
        phone: &PhoneNumber,
        replacing: Option<Timestamp>,
        now: Timestamp,
    ) -> StoreResult<Vec<TransactWriteItem>> {
        let [expires_ms, expires_s] = expiry_attributes(now.plus(ATTEMPT_KEEP));
        let item = item_with(
            key,
            [("created_at_ms", n(now.as_millis())), expires_ms, expires_s],
        );
        let put = match replacing {
            None => self.transact_put(item, "attribute_not_exists(pk)")?,
            Some(at) => self.transact_put_with(
                item,
                "attribute_not_exists(response_body) AND created_at_ms = :replacing",
                (":replacing", n(at.as_millis())),
            )?,
        };
        let consent = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(Key::consent(account, phone).item()))
            .condition_expression("attribute_not_exists(pk) OR NOT contains(#data, :opted_out)")
            .expression_attribute_names("#data", "data")
            .expression_attribute_values(":opted_out", s(OPTED_OUT_JSON))
            .build()
            .map_err(build_error)?;
        Ok(vec![
            put,
            TransactWriteItem::builder()
                .condition_check(consent)
                .build(),
        ])
    }
}

#[async_trait]
impl SendAttemptStore for DynamoStore {
    async fn send_attempt(&self, message_id: &MessageId) -> StoreResult<Option<AttemptState>> {
        let Some(item) = self.get(&attempt_key(message_id), true).await? else {
            return Ok(None);
        };
        Ok(Some(AttemptState::from(decode_idempotency(&item)?)))
    }

    /// A transaction of the attempt's write and a condition check on the phone's consent
    /// item: a STOP stored before it makes it fail, one stored after finds it recorded.
    async fn begin_attempt(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        message_id: &MessageId,
        replacing: Option<Timestamp>,
        now: Timestamp,
    ) -> StoreResult<AttemptStart> {
        let key = attempt_key(message_id);
        for _ in 0..MAX_RACE_RETRIES {
            let items = self.attempt_items(&key, account, phone, replacing, now)?;
            let context = format!("TransactWriteItems {key}");
            let reasons = match self.transact(items).await {
                Ok(()) => return Ok(AttemptStart::Begun),
                Err(err) => cancellation_reasons(&context, err)?,
            };
            if reason_is(&reasons, 0, CONDITION_FAILED) {
                match self.send_attempt(message_id).await? {
                    Some(earlier) => return Ok(AttemptStart::Earlier(earlier)),
                    None => continue, // withdrawn meanwhile: try again
                }
            }
            if reason_is(&reasons, 1, CONDITION_FAILED) {
                return Ok(AttemptStart::OptedOut);
            }
            if !reasons
                .iter()
                .any(|r| r.as_deref() == Some("TransactionConflict"))
            {
                return Err(cancelled_error(&context, &reasons));
            }
        }
        Err(StoreError::Backend(format!(
            "send attempt {key}: still racing after {MAX_RACE_RETRIES} tries"
        )))
    }

    async fn finish_attempt(&self, message_id: &MessageId, outcome: &str) -> StoreResult<()> {
        let what = || format!("send attempt {message_id}");
        self.set_response(&attempt_key(message_id), FINISH_EXPRESSION, outcome, what)
            .await
    }

    async fn withdraw_attempt(
        &self,
        message_id: &MessageId,
        attempted_at: Timestamp,
    ) -> StoreResult<()> {
        let key = attempt_key(message_id);
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key.item()))
            .condition_expression("attribute_not_exists(response_body) AND created_at_ms = :at")
            .expression_attribute_values(":at", n(attempted_at.as_millis()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Finished, replaced or gone: not ours to withdraw.
            Err(err) => condition_failed(&format!("DeleteItem {key}"), err).map(|_| ()),
        }
    }
}

impl DynamoStore {
    /// The writes that give `message_id`'s admission slot back: the slot's item (which must
    /// exist, so a second release fails its condition) and the counter (never below zero).
    pub(super) fn release_items(
        &self,
        account: &AccountId,
        message_id: &MessageId,
    ) -> StoreResult<[TransactWriteItem; 2]> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(Key::admitted(account, message_id.as_str()).item()))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(build_error)?;
        Ok([
            TransactWriteItem::builder().delete(delete).build(),
            self.counter_update(account, -1, "n > :zero", (":zero", 0))?,
        ])
    }

    /// The write of `finish_attempt`: the attempt's first outcome stays.
    pub(super) fn finish_item(
        &self,
        message_id: &MessageId,
        outcome: &str,
    ) -> StoreResult<TransactWriteItem> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(attempt_key(message_id).item()))
            .update_expression(FINISH_EXPRESSION)
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":response", s(outcome))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    pub(super) fn counter_update(
        &self,
        account: &AccountId,
        by: i64,
        condition: &str,
        bound: (&str, i64),
    ) -> StoreResult<TransactWriteItem> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Key::pending(account).item()))
            .update_expression("ADD n :by")
            .condition_expression(condition)
            .expression_attribute_values(":by", n(by))
            .expression_attribute_values(bound.0, n(bound.1))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}

#[async_trait]
impl AdmissionStore for DynamoStore {
    /// The slot's own item and the counter in one transaction: the item makes a repeat
    /// count nothing, the counter's condition keeps the limit.
    async fn try_admit(
        &self,
        account: &AccountId,
        message_id: &MessageId,
        limit: u32,
    ) -> StoreResult<bool> {
        if limit == 0 {
            return Ok(false);
        }
        let slot = Key::admitted(account, message_id.as_str());
        let items = vec![
            self.transact_put(slot.item(), "attribute_not_exists(pk)")?,
            self.counter_update(
                account,
                1,
                "attribute_not_exists(n) OR n < :limit",
                (":limit", i64::from(limit)),
            )?,
        ];
        let context = format!("TransactWriteItems {slot}");
        let reasons = match self.transact(items).await {
            Ok(()) => return Ok(true),
            Err(err) => cancellation_reasons(&context, err)?,
        };
        if reason_is(&reasons, 0, CONDITION_FAILED) {
            return Ok(true); // admitted before
        }
        if reason_is(&reasons, 1, CONDITION_FAILED) {
            return Ok(false);
        }
        Err(cancelled_error(&context, &reasons))
    }

    async fn release_admission(
        &self,
        account: &AccountId,
        message_id: &MessageId,
    ) -> StoreResult<()> {
        let slot = Key::admitted(account, message_id.as_str());
        let items = self.release_items(account, message_id)?.to_vec();
        let context = format!("TransactWriteItems {slot}");
        let reasons = match self.transact(items).await {
            Ok(()) => return Ok(()),
            Err(err) => cancellation_reasons(&context, err)?,
        };
        if reason_is(&reasons, 0, CONDITION_FAILED) {
            return Ok(()); // released before
        }
        if reason_is(&reasons, 1, CONDITION_FAILED) {
            // The counter is already zero: only the slot's item is left to remove.
            return self.delete(&slot).await.map(|_| ());
        }
        Err(cancelled_error(&context, &reasons))
    }

    async fn pending_sends(&self, account: &AccountId) -> StoreResult<u32> {
        let Some(item) = self.get(&Key::pending(account), true).await? else {
            return Ok(0);
        };
        let count = optional_number_attr(&item, "n")?.unwrap_or(0);
        u32::try_from(count).map_err(|_| corrupt(&item, format!("pending count {count}")))
    }
}

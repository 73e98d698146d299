//! The send path's combined reads and writes on DynamoDB (`SendPathStore`): one
//! BatchGetItem for what a request or a send reads first, one TransactWriteItems for each
//! group of writes that belong together. Each write keeps the conditions of the narrow
//! writes it combines (`claims.rs`, `messages.rs`, `conversations.rs`); a rare case the
//! combined write cannot decide (a slot admitted before, a message stored before) is
//! retried without the part already done.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};

use super::claims::{attempt_key, decode_idempotency};
use super::errors::{
    CONDITION_FAILED, build_error, cancellation_reasons, cancelled_error, lost_race, reason_is,
};
use super::item::{Key, decode, expiry_attributes, is_live, item_with, n, timestamp_attr};
use super::messages::message_item;
use super::phone::{phone_key, standing_in};
use super::{DynamoStore, MAX_RACE_RETRIES};
use crate::domain::Timestamp;
use crate::domain::{AccountId, IdempotencyKey, MessageId, MessageRecord, PhoneNumber};
use crate::ports::store::{
    AdmissionStore, AttemptStart, AttemptState, CachedContact, ClaimAndAdmit, ClaimToTake,
    ConversationStore, DeliveryView, RequestView, SendAttemptStore, SendPathStore, SettledSend,
    StoreError, StoreResult,
};

impl DynamoStore {
    /// The claim's write: a new record unless a live one holds the key (as `claim`), or the
    /// takeover of the lapsed record read (as `claims.rs::take_over`).
    fn claim_write(&self, claim: &ClaimToTake<'_>) -> StoreResult<TransactWriteItem> {
        let key = Key::idempotency(claim.key.as_str());
        let lease = (
            "lease_until_ms",
            n(claim.now.plus(claim.terms.lease).as_millis()),
        );
        let [expires_ms, expires_s] = expiry_attributes(claim.now.plus(claim.terms.keep));
        let Some(lapsed) = claim.lapsed else {
            let created = ("created_at_ms", n(claim.now.as_millis()));
            let item = item_with(&key, [created, lease, expires_ms, expires_s]);
            return self.transact_put_with(
                item,
                "attribute_not_exists(pk) OR expires_at_ms <= :now",
                (":now", n(claim.now.as_millis())),
            );
        };
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key.item()))
            .update_expression(
                "SET lease_until_ms = :lease, expires_at_ms = :expires_ms, expires_at = :expires_s",
            )
            .condition_expression(
                "attribute_not_exists(response_body) AND created_at_ms = :created \
                 AND (attribute_not_exists(lease_until_ms) OR lease_until_ms <= :now)",
            )
            .expression_attribute_values(":lease", lease.1)
            .expression_attribute_values(":expires_ms", expires_ms.1)
            .expression_attribute_values(":expires_s", expires_s.1)
            .expression_attribute_values(":created", n(lapsed.created_at.as_millis()))
            .expression_attribute_values(":now", n(claim.now.as_millis()))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The admission writes of `try_admit`: the message's slot and the counter under `limit`.
    fn admission_items(
        &self,
        account: &AccountId,
        message_id: &MessageId,
        limit: u32,
    ) -> StoreResult<[TransactWriteItem; 2]> {
        let slot = Key::admitted(account, message_id.as_str());
        Ok([
            self.transact_put(slot.item(), "attribute_not_exists(pk)")?,
            self.counter_update(
                account,
                1,
                "attribute_not_exists(n) OR n < :limit",
                (":limit", i64::from(limit)),
            )?,
        ])
    }

    /// The writes of `begin_send`: the attempt against the opt-out (`attempt_items`), then,
    /// while `message_parts` says so, the message (new) and the conversation's summary.
    fn begin_send_items(
        &self,
        message: &MessageRecord,
        replacing: Option<Timestamp>,
        now: Timestamp,
        message_parts: usize,
    ) -> StoreResult<Vec<TransactWriteItem>> {
        let key = attempt_key(&message.id);
        let (account, phone) = (&message.account, &message.contact_phone);
        let mut items = self.attempt_items(&key, account, phone, replacing, now)?;
        if message_parts >= 1 {
            items.push(self.transact_put(message_item(message)?, "attribute_not_exists(pk)")?);
        }
        if message_parts >= 2 {
            items.push(self.conversation_summary_put(message)?);
        }
        Ok(items)
    }

    /// The combined write of `settle_send`.
    fn settle_items(&self, send: &SettledSend<'_>) -> StoreResult<Vec<TransactWriteItem>> {
        let mut items = Vec::with_capacity(5);
        if let Some(sid) = send.provider_sid {
            let key = Key::message(send.account, send.phone, send.message_id.as_str());
            items.extend(self.sid_items(&key, sid)?);
        }
        items.extend(self.release_items(send.account, send.message_id)?);
        items.push(self.finish_item(send.message_id, send.outcome)?);
        Ok(items)
    }

    /// `settle_send` one part at a time, each with its own answer to a repeat: for the rare
    /// send whose combined write failed a condition (its slot released before, its SID
    /// attached by a status callback).
    async fn settle_in_parts(&self, send: &SettledSend<'_>) -> StoreResult<()> {
        if let Some(sid) = send.provider_sid {
            self.attach_provider_sid(send.account, send.phone, send.message_id, sid)
                .await?;
        }
        self.release_admission(send.account, send.message_id)
            .await?;
        self.finish_attempt(send.message_id, send.outcome).await
    }
}

#[async_trait]
impl SendPathStore for DynamoStore {
    async fn request_view(
        &self,
        key: &IdempotencyKey,
        account: &AccountId,
        phone: Option<&PhoneNumber>,
        with_contact: bool,
        now: Timestamp,
    ) -> StoreResult<RequestView> {
        let claim_key = Key::idempotency(key.as_str());
        let mut keys = vec![claim_key.clone()];
        if let Some(phone) = phone {
            keys.extend([Key::consent(account, phone), phone_key(account, phone)]);
            if with_contact {
                keys.push(Key::contact(account, phone));
            }
        }
        let mut items = self.batch_get(&keys.iter().collect::<Vec<_>>()).await?;
        let claim = match items.remove(&claim_key.pair()) {
            Some(item) if is_live(&item, now)? => Some(decode_idempotency(&item)?),
            _ => None,
        };
        let Some(phone) = phone else {
            return Ok(RequestView {
                claim,
                ..RequestView::default()
            });
        };
        let standing = Some(standing_in(&mut items, account, phone)?);
        let contact = match items.remove(&Key::contact(account, phone).pair()) {
            Some(item) if is_live(&item, now)? => Some(CachedContact {
                contact: decode(&item)?,
                expires_at: timestamp_attr(&item, "expires_at_ms")?,
            }),
            _ => None,
        };
        Ok(RequestView {
            claim,
            standing,
            contact,
        })
    }

    async fn claim_and_admit(
        &self,
        claim: &ClaimToTake<'_>,
        account: &AccountId,
        message_id: &MessageId,
        limit: u32,
    ) -> StoreResult<ClaimAndAdmit> {
        if limit == 0 {
            return Ok(ClaimAndAdmit::QueueFull);
        }
        let context = format!("TransactWriteItems claim {} and admit", claim.key);
        // Without the admission's writes once the slot is found taken: admitted before.
        let mut admit = true;
        for _ in 0..MAX_RACE_RETRIES {
            let mut items = vec![self.claim_write(claim)?];
            if admit {
                items.extend(self.admission_items(account, message_id, limit)?);
            }
            let reasons = match self.transact(items).await {
                Ok(()) => return Ok(ClaimAndAdmit::Admitted),
                Err(err) => cancellation_reasons(&context, err)?,
            };
            if reason_is(&reasons, 0, CONDITION_FAILED) {
                return Ok(ClaimAndAdmit::ClaimTaken);
            }
            if admit && reason_is(&reasons, 1, CONDITION_FAILED) {
                admit = false;
                continue;
            }
            if admit && reason_is(&reasons, 2, CONDITION_FAILED) {
                return Ok(ClaimAndAdmit::QueueFull);
            }
            if !lost_race(&reasons) {
                return Err(cancelled_error(&context, &reasons));
            }
        }
        Err(StoreError::Backend(format!(
            "{context}: still racing after {MAX_RACE_RETRIES} tries"
        )))
    }

    async fn delivery_view(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        message_id: &MessageId,
    ) -> StoreResult<DeliveryView> {
        let attempt = attempt_key(message_id);
        let keys = [
            &attempt,
            &Key::consent(account, phone),
            &phone_key(account, phone),
        ];
        let mut items = self.batch_get(&keys).await?;
        let attempt = items
            .remove(&attempt.pair())
            .map(|item| decode_idempotency(&item))
            .transpose()?
            .map(AttemptState::from);
        Ok(DeliveryView {
            attempt,
            standing: standing_in(&mut items, account, phone)?,
        })
    }

    /// As `begin_attempt` (`claims.rs`), with the message's own writes as `record_message`
    /// makes them: a message stored before (a replacing attempt) or a conversation whose
    /// summary is newer is retried without that part.
    async fn begin_send(
        &self,
        message: &MessageRecord,
        replacing: Option<Timestamp>,
        now: Timestamp,
    ) -> StoreResult<AttemptStart> {
        let context = format!("TransactWriteItems begin_send {}", message.id);
        let mut message_parts = 2;
        for _ in 0..MAX_RACE_RETRIES {
            let items = self.begin_send_items(message, replacing, now, message_parts)?;
            let reasons = match self.transact(items).await {
                Ok(()) => return Ok(AttemptStart::Begun),
                Err(err) => cancellation_reasons(&context, err)?,
            };
            if reason_is(&reasons, 0, CONDITION_FAILED) {
                match self.send_attempt(&message.id).await? {
                    Some(earlier) => return Ok(AttemptStart::Earlier(earlier)),
                    None => continue, // withdrawn meanwhile: try again
                }
            }
            if reason_is(&reasons, 1, CONDITION_FAILED) {
                return Ok(AttemptStart::OptedOut);
            }
            if reason_is(&reasons, 2, CONDITION_FAILED) {
                message_parts = 0;
            } else if reason_is(&reasons, 3, CONDITION_FAILED) {
                message_parts = 1;
            } else if !lost_race(&reasons) {
                return Err(cancelled_error(&context, &reasons));
            }
        }
        Err(StoreError::Backend(format!(
            "{context}: still racing after {MAX_RACE_RETRIES} tries"
        )))
    }

    async fn settle_send(&self, send: &SettledSend<'_>) -> StoreResult<()> {
        let context = format!("TransactWriteItems settle_send {}", send.message_id);
        let reasons = match self.transact(self.settle_items(send)?).await {
            Ok(()) => return Ok(()),
            Err(err) => cancellation_reasons(&context, err)?,
        };
        if lost_race(&reasons) {
            return self.settle_in_parts(send).await;
        }
        Err(cancelled_error(&context, &reasons))
    }
}

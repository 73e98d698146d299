//! The send path's combined reads and writes on redb (`SendPathStore`): each read is one
//! read transaction and each write one write transaction made of the narrow writes'
//! own steps (`claims.rs`, `messages.rs`), so it does all of them or none.

use async_trait::async_trait;
use redb::WriteTransaction;

use super::claims::{IDEMPOTENCY, admit_in, attempt_key, begin_in, finish_in, release_in};
use super::messages::{attach_sid_in, insert_message};
use super::phone::standing_in;
use super::{CONTACTS, EmbeddedStore, encode, get_json, message_prefix, pair_key};
use crate::adapters::embedded::open_read_table;
use crate::domain::Timestamp;
use crate::domain::{AccountId, IdempotencyKey, MessageId, MessageRecord, PhoneNumber};
use crate::ports::store::{
    AttemptStart, AttemptState, CachedContact, ClaimAndAdmit, ClaimToTake, DeliveryView,
    IdempotencyRecord, RequestView, SendPathStore, SettledSend, StoreResult,
};

/// Whether the claim's key is still as the request read it: free, or the same lapsed claim.
fn claim_as_read(tx: &WriteTransaction, claim: &ClaimToTake<'_>) -> StoreResult<bool> {
    let table = tx.open_table(IDEMPOTENCY)?;
    let current: Option<IdempotencyRecord> = get_json(&table, claim.key.as_str())?;
    Ok(
        match (current.filter(|c| c.expires_at > claim.now), claim.lapsed) {
            (None, None) => true,
            (Some(current), Some(lapsed)) => {
                current.created_at == lapsed.created_at && current.lease_lapsed(claim.now)
            }
            _ => false,
        },
    )
}

/// Writes the claim, leased to its new holder.
fn write_claim(tx: &WriteTransaction, claim: &ClaimToTake<'_>) -> StoreResult<()> {
    let key = claim.key.as_str();
    let record = IdempotencyRecord {
        response: None,
        created_at: claim.first_claimed_at(),
        expires_at: claim.now.plus(claim.terms.keep),
        lease_until: Some(claim.now.plus(claim.terms.lease)),
    };
    tx.open_table(IDEMPOTENCY)?
        .insert(key, encode(key, &record)?.as_slice())?;
    Ok(())
}

#[async_trait]
impl SendPathStore for EmbeddedStore {
    async fn request_view(
        &self,
        key: &IdempotencyKey,
        account: &AccountId,
        phone: Option<&PhoneNumber>,
        with_contact: bool,
        now: Timestamp,
    ) -> StoreResult<RequestView> {
        let key = key.to_string();
        let phone_key = phone.map(|phone| pair_key(account, phone.as_str()));
        self.db
            .read(move |tx| {
                let claim: Option<IdempotencyRecord> = match open_read_table(tx, IDEMPOTENCY)? {
                    Some(table) => get_json(&table, &key)?,
                    None => None,
                };
                let Some(phone_key) = phone_key else {
                    let claim = claim.filter(|c| c.expires_at > now);
                    return Ok(RequestView {
                        claim,
                        ..RequestView::default()
                    });
                };
                let contact: Option<CachedContact> = match open_read_table(tx, CONTACTS)? {
                    Some(table) if with_contact => get_json(&table, &phone_key)?,
                    _ => None,
                };
                Ok(RequestView {
                    claim: claim.filter(|c| c.expires_at > now),
                    standing: Some(standing_in(tx, &phone_key)?),
                    contact: contact.filter(|c| c.expires_at > now),
                })
            })
            .await
    }

    async fn claim_and_admit(
        &self,
        claim: &ClaimToTake<'_>,
        account: &AccountId,
        message_id: &MessageId,
        limit: u32,
    ) -> StoreResult<ClaimAndAdmit> {
        let (key, terms, now) = (claim.key.clone(), claim.terms, claim.now);
        let lapsed = claim.lapsed.cloned();
        let (account, message_id) = (account.clone(), message_id.clone());
        self.db
            .write(move |tx| {
                let claim = ClaimToTake {
                    key: &key,
                    terms,
                    now,
                    lapsed: lapsed.as_ref(),
                };
                // Checked before anything is written: a refusal writes nothing.
                if !claim_as_read(tx, &claim)? {
                    return Ok(ClaimAndAdmit::ClaimTaken);
                }
                if !admit_in(tx, &account, &message_id, limit)? {
                    return Ok(ClaimAndAdmit::QueueFull);
                }
                write_claim(tx, &claim)?;
                Ok(ClaimAndAdmit::Admitted)
            })
            .await
    }

    async fn delivery_view(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        message_id: &MessageId,
    ) -> StoreResult<DeliveryView> {
        let key = attempt_key(message_id);
        let phone_key = pair_key(account, phone.as_str());
        self.db
            .read(move |tx| {
                let attempt: Option<IdempotencyRecord> = match open_read_table(tx, IDEMPOTENCY)? {
                    Some(table) => get_json(&table, &key)?,
                    None => None,
                };
                Ok(DeliveryView {
                    attempt: attempt.map(AttemptState::from),
                    standing: standing_in(tx, &phone_key)?,
                })
            })
            .await
    }

    async fn begin_send(
        &self,
        message: &MessageRecord,
        replacing: Option<Timestamp>,
        now: Timestamp,
    ) -> StoreResult<AttemptStart> {
        let message = message.clone();
        self.db
            .write(move |tx| {
                let (account, phone) = (&message.account, &message.contact_phone);
                let started = begin_in(tx, account, phone, &message.id, replacing, now)?;
                if started == AttemptStart::Begun {
                    // A message stored before (a replacing attempt) stays as it is.
                    insert_message(tx, &message)?;
                }
                Ok(started)
            })
            .await
    }

    async fn settle_send(&self, send: &SettledSend<'_>) -> StoreResult<()> {
        let message_key = format!(
            "{}{}",
            message_prefix(send.account, send.phone),
            send.message_id
        );
        let (account, message_id) = (send.account.clone(), send.message_id.clone());
        let (sid, outcome) = (send.provider_sid.cloned(), send.outcome.to_string());
        self.db
            .write(move |tx| {
                if let Some(sid) = &sid {
                    attach_sid_in(tx, &message_key, sid)?;
                }
                release_in(tx, &account, &message_id)?;
                finish_in(tx, &message_id, outcome)
            })
            .await
    }
}

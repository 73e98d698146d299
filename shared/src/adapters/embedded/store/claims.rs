//! Claims on redb: idempotency keys with leases, send attempts, and admission slots. Each
//! check-and-write is one write transaction (redb runs them one at a time), which gives
//! the same guarantees DynamoDB's condition expressions give the AWS adapter.

use async_trait::async_trait;
use redb::{ReadableTable, TableDefinition, WriteTransaction};

use super::{CONSENT, EmbeddedStore, JsonTable, encode, get_json, modify_json, pair_key};
use crate::adapters::embedded::open_read_table;
use crate::domain::{AccountId, PhoneNumber, Timestamp};
use crate::domain::{IdempotencyKey, MessageId};
use crate::ports::store::{
    ATTEMPT_KEEP, AdmissionStore, AttemptStart, AttemptState, Claim, ClaimTerms, ConsentRecord,
    IdempotencyRecord, IdempotencyStore, SendAttemptStore, StoreResult,
};

pub(super) const IDEMPOTENCY: JsonTable = TableDefinition::new("store_idempotency");
/// Account → its number of admitted sends not yet released.
const PENDING: TableDefinition<&str, u64> = TableDefinition::new("store_pending");
/// `account \0 message id` → nothing: the sends counted in [`PENDING`].
const ADMITTED: TableDefinition<&str, ()> = TableDefinition::new("store_admitted");

/// A send attempt is an idempotency record under this key (as before attempts had states).
pub(super) fn attempt_key(message_id: &MessageId) -> String {
    IdempotencyKey::send_attempt(message_id).to_string()
}

/// `begin_attempt` inside the caller's write transaction.
pub(super) fn begin_in(
    tx: &WriteTransaction,
    account: &AccountId,
    phone: &PhoneNumber,
    message_id: &MessageId,
    replacing: Option<Timestamp>,
    now: Timestamp,
) -> StoreResult<AttemptStart> {
    let key = attempt_key(message_id);
    let mut table = tx.open_table(IDEMPOTENCY)?;
    let current: Option<IdempotencyRecord> = get_json(&table, &key)?;
    if let Some(earlier) = current.map(AttemptState::from) {
        let replaceable = matches!(
            (&earlier, replacing),
            (AttemptState::Unresolved { attempted_at }, Some(at)) if *attempted_at == at
        );
        if !replaceable {
            return Ok(AttemptStart::Earlier(earlier));
        }
    }
    let consent_key = pair_key(account, phone.as_str());
    let consent: Option<ConsentRecord> = get_json(&tx.open_table(CONSENT)?, &consent_key)?;
    if consent.is_some_and(|c| c.opted_out) {
        return Ok(AttemptStart::OptedOut);
    }
    let record = IdempotencyRecord {
        response: None,
        created_at: now,
        expires_at: now.plus(ATTEMPT_KEEP),
        lease_until: None,
    };
    table.insert(key.as_str(), encode(&key, &record)?.as_slice())?;
    Ok(AttemptStart::Begun)
}

/// `finish_attempt` inside the caller's write transaction: the first outcome stays.
pub(super) fn finish_in(
    tx: &WriteTransaction,
    message_id: &MessageId,
    outcome: String,
) -> StoreResult<()> {
    let key = attempt_key(message_id);
    modify_json(
        &mut tx.open_table(IDEMPOTENCY)?,
        &key,
        || format!("send attempt {key}"),
        |record: &mut IdempotencyRecord| {
            record.response.get_or_insert(outcome);
        },
    )
}

/// `try_admit` inside the caller's write transaction.
pub(super) fn admit_in(
    tx: &WriteTransaction,
    account: &AccountId,
    message_id: &MessageId,
    limit: u32,
) -> StoreResult<bool> {
    let admitted_key = pair_key(account, message_id.as_str());
    let mut admitted = tx.open_table(ADMITTED)?;
    if admitted.get(admitted_key.as_str())?.is_some() {
        return Ok(true);
    }
    let mut table = tx.open_table(PENDING)?;
    let pending = table.get(account.as_str())?.map(|v| v.value()).unwrap_or(0);
    if pending >= u64::from(limit) {
        return Ok(false);
    }
    table.insert(account.as_str(), pending + 1)?;
    admitted.insert(admitted_key.as_str(), ())?;
    Ok(true)
}

/// `release_admission` inside the caller's write transaction: a second release changes
/// nothing.
pub(super) fn release_in(
    tx: &WriteTransaction,
    account: &AccountId,
    message_id: &MessageId,
) -> StoreResult<()> {
    let admitted_key = pair_key(account, message_id.as_str());
    if tx
        .open_table(ADMITTED)?
        .remove(admitted_key.as_str())?
        .is_none()
    {
        return Ok(());
    }
    let mut table = tx.open_table(PENDING)?;
    let pending = table.get(account.as_str())?.map(|v| v.value()).unwrap_or(0);
    table.insert(account.as_str(), pending.saturating_sub(1))?;
    Ok(())
}

#[async_trait]
impl IdempotencyStore for EmbeddedStore {
    async fn claim(
        &self,
        key: &IdempotencyKey,
        terms: ClaimTerms,
        now: Timestamp,
    ) -> StoreResult<Claim> {
        let key = key.to_string();
        self.db
            .write(move |tx| {
                let mut table = tx.open_table(IDEMPOTENCY)?;
                let current: Option<IdempotencyRecord> = get_json(&table, &key)?;
                let first_claimed_at = match current.filter(|c| c.expires_at > now) {
                    Some(held) if !held.lease_lapsed(now) => return Ok(Claim::Existing(held)),
                    Some(lapsed) => lapsed.created_at,
                    None => now,
                };
                let record = IdempotencyRecord {
                    response: None,
                    created_at: first_claimed_at,
                    expires_at: now.plus(terms.keep),
                    lease_until: Some(now.plus(terms.lease)),
                };
                table.insert(key.as_str(), encode(&key, &record)?.as_slice())?;
                Ok(Claim::New { first_claimed_at })
            })
            .await
    }

    async fn complete(&self, key: &IdempotencyKey, response: &str) -> StoreResult<()> {
        let key = key.to_string();
        let response = response.to_string();
        self.db
            .write(move |tx| {
                modify_json(
                    &mut tx.open_table(IDEMPOTENCY)?,
                    &key,
                    || format!("idempotency claim {key}"),
                    |record: &mut IdempotencyRecord| record.response = Some(response),
                )
            })
            .await
    }

    async fn release(&self, key: &IdempotencyKey) -> StoreResult<()> {
        let key = key.to_string();
        self.db
            .write(move |tx| {
                tx.open_table(IDEMPOTENCY)?.remove(key.as_str())?;
                Ok(())
            })
            .await
    }
}

#[async_trait]
impl SendAttemptStore for EmbeddedStore {
    async fn send_attempt(&self, message_id: &MessageId) -> StoreResult<Option<AttemptState>> {
        let key = attempt_key(message_id);
        let record: Option<IdempotencyRecord> = self.read_json(IDEMPOTENCY, key).await?;
        Ok(record.map(AttemptState::from))
    }

    async fn begin_attempt(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        message_id: &MessageId,
        replacing: Option<Timestamp>,
        now: Timestamp,
    ) -> StoreResult<AttemptStart> {
        let (account, phone, message_id) = (account.clone(), phone.clone(), message_id.clone());
        self.db
            .write(move |tx| begin_in(tx, &account, &phone, &message_id, replacing, now))
            .await
    }

    async fn finish_attempt(&self, message_id: &MessageId, outcome: &str) -> StoreResult<()> {
        let (message_id, outcome) = (message_id.clone(), outcome.to_string());
        self.db
            .write(move |tx| finish_in(tx, &message_id, outcome))
            .await
    }

    async fn withdraw_attempt(
        &self,
        message_id: &MessageId,
        attempted_at: Timestamp,
    ) -> StoreResult<()> {
        let key = attempt_key(message_id);
        self.db
            .write(move |tx| {
                let mut table = tx.open_table(IDEMPOTENCY)?;
                let current: Option<IdempotencyRecord> = get_json(&table, &key)?;
                if current.is_some_and(|c| c.response.is_none() && c.created_at == attempted_at) {
                    table.remove(key.as_str())?;
                }
                Ok(())
            })
            .await
    }
}

#[async_trait]
impl AdmissionStore for EmbeddedStore {
    async fn try_admit(
        &self,
        account: &AccountId,
        message_id: &MessageId,
        limit: u32,
    ) -> StoreResult<bool> {
        let (account, message_id) = (account.clone(), message_id.clone());
        self.db
            .write(move |tx| admit_in(tx, &account, &message_id, limit))
            .await
    }

    async fn release_admission(
        &self,
        account: &AccountId,
        message_id: &MessageId,
    ) -> StoreResult<()> {
        let (account, message_id) = (account.clone(), message_id.clone());
        self.db
            .write(move |tx| release_in(tx, &account, &message_id))
            .await
    }

    async fn pending_sends(&self, account: &AccountId) -> StoreResult<u32> {
        let key = account.to_string();
        self.db
            .read(move |tx| {
                let pending = match open_read_table(tx, PENDING)? {
                    Some(t) => t.get(key.as_str())?.map(|v| v.value()).unwrap_or(0),
                    None => 0,
                };
                Ok(u32::try_from(pending).unwrap_or(u32::MAX))
            })
            .await
    }
}

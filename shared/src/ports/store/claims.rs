//! Idempotency claims and send attempts: the records that make a retry or a takeover safe.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::{AccountId, IdempotencyKey, MessageId, PhoneNumber, Timestamp};

use super::StoreResult;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    /// The answer given the first time, once there is one.
    pub response: Option<String>,
    /// When the key was first claimed (kept when a claim is taken over).
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// Until when an unanswered claim is its holder's (see [`ClaimTerms::lease`]). Records
    /// written before leases existed have none: they can be taken over at once.
    #[serde(default)]
    pub lease_until: Option<Timestamp>,
}

impl IdempotencyRecord {
    /// Whether an unanswered claim's holder is taken to have died: its lease ran out.
    pub fn lease_lapsed(&self, now: Timestamp) -> bool {
        self.response.is_none() && self.lease_until.is_none_or(|until| until <= now)
    }
}

/// How long a claim holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimTerms {
    /// How long the key (and its answer) is remembered.
    pub keep: Duration,
    /// How long an unanswered claim stays its holder's. A holder that neither answers nor
    /// gives the claim back within it is taken to have died (a crash, a function timeout),
    /// and the next claimant takes the work over. Longer than the work can take.
    pub lease: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Ours: the first claim of the key (or its earlier record expired), or one taken over
    /// from a holder whose lease lapsed. `first_claimed_at` is when the key was first
    /// claimed, kept across takeovers so what is derived from it (ids) comes out the same.
    New { first_claimed_at: Timestamp },
    /// Seen before and unexpired, answered or still leased: do not repeat the work.
    Existing(IdempotencyRecord),
}

#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Atomically claims `key` on `terms`: a new key, an expired one, or an unanswered one
    /// whose lease lapsed (taken over, exactly one claimant wins).
    async fn claim(
        &self,
        key: &IdempotencyKey,
        terms: ClaimTerms,
        now: Timestamp,
    ) -> StoreResult<Claim>;
    /// Stores the answer for a claimed key (for repeats to return).
    async fn complete(&self, key: &IdempotencyKey, response: &str) -> StoreResult<()>;
    /// Gives a claim back after the work failed, so a retry can do it.
    async fn release(&self, key: &IdempotencyKey) -> StoreResult<()>;
}

/// How long a send attempt is remembered (longer than any SQS redelivery).
pub const ATTEMPT_KEEP: Duration = Duration::from_secs(14 * 24 * 3600);

/// An attempt to send a message, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptState {
    /// Recorded right before the provider call, with no outcome since: the process may
    /// have died anywhere in the call. Resolved, never dropped: by the provider's SID on
    /// the message (a status callback), else by asking the provider.
    Unresolved { attempted_at: Timestamp },
    /// What came of the attempt made at `attempted_at`.
    Finished {
        attempted_at: Timestamp,
        outcome: String,
    },
}

impl From<IdempotencyRecord> for AttemptState {
    /// An attempt's record: finished once it holds an outcome, made when first claimed.
    fn from(record: IdempotencyRecord) -> Self {
        match record.response {
            Some(outcome) => AttemptState::Finished {
                attempted_at: record.created_at,
                outcome,
            },
            None => AttemptState::Unresolved {
                attempted_at: record.created_at,
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptStart {
    /// Recorded: call the provider now.
    Begun,
    /// The phone opted out of the account before the attempt could be recorded: STOP wins.
    OptedOut,
    /// Another attempt is on record (a redelivered or concurrent job).
    Earlier(AttemptState),
}

#[async_trait]
pub trait SendAttemptStore: Send + Sync {
    async fn send_attempt(&self, message_id: &MessageId) -> StoreResult<Option<AttemptState>>;
    /// Records an attempt to send `message_id` to `phone`, in one conditional write against
    /// the phone's opt-out state: no attempt is recorded after a STOP is. Refused when
    /// another attempt is on record, except the unresolved one made at `replacing`, which
    /// the provider said it never received.
    async fn begin_attempt(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        message_id: &MessageId,
        replacing: Option<Timestamp>,
        now: Timestamp,
    ) -> StoreResult<AttemptStart>;
    /// Records what came of the attempt (once; a later call changes nothing).
    async fn finish_attempt(&self, message_id: &MessageId, outcome: &str) -> StoreResult<()>;
    /// Forgets the unresolved attempt made at `attempted_at` (the provider surely did not
    /// take the message), so a retry records a new one.
    async fn withdraw_attempt(
        &self,
        message_id: &MessageId,
        attempted_at: Timestamp,
    ) -> StoreResult<()>;
}

//! The send path's combined reads and writes: each does, in one round trip, what the narrow
//! traits do in several (BENCHMARKS.md, "AWS calls per send request and per send"). Every
//! write here is still one conditional transaction: the invariants of the narrow traits
//! (one claim per key, the admission limit, no attempt after a STOP) hold unchanged.

use async_trait::async_trait;

use crate::domain::{AccountId, IdempotencyKey, MessageId, MessageRecord, MessageSid};
use crate::domain::{PhoneNumber, Timestamp};

use super::{
    AttemptStart, AttemptState, CachedContact, ClaimTerms, IdempotencyRecord, PhoneStanding,
    StoreResult,
};

/// What a send request reads before it writes anything.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RequestView {
    /// The live (unexpired) record on the request's key, if any.
    pub claim: Option<IdempotencyRecord>,
    /// The recipient's opt-out and health, when the phone was known.
    pub standing: Option<PhoneStanding>,
    /// The cached CRM contact of the phone, when asked for and cached (unexpired).
    pub contact: Option<CachedContact>,
}

/// A claim the request is about to take, as its read found the key: free, or held by a
/// handler whose lease lapsed (taken over).
#[derive(Debug, Clone, Copy)]
pub struct ClaimToTake<'a> {
    pub key: &'a IdempotencyKey,
    pub terms: ClaimTerms,
    pub now: Timestamp,
    pub lapsed: Option<&'a IdempotencyRecord>,
}

impl ClaimToTake<'_> {
    /// The claim's first time once taken (kept across takeovers, as `Claim::New` says).
    pub fn first_claimed_at(&self) -> Timestamp {
        self.lapsed.map_or(self.now, |record| record.created_at)
    }
}

/// What [`SendPathStore::claim_and_admit`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimAndAdmit {
    /// The claim is ours and the message holds an admission slot.
    Admitted,
    /// The account's queue is full: nothing was written.
    QueueFull,
    /// The key is no longer as read (another claimant, an answer, a release): nothing was
    /// written.
    ClaimTaken,
}

/// What the send worker reads before it sends.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeliveryView {
    pub attempt: Option<AttemptState>,
    pub standing: PhoneStanding,
}

/// How a send ended, written at once by [`SendPathStore::settle_send`].
#[derive(Debug, Clone, Copy)]
pub struct SettledSend<'a> {
    pub account: &'a AccountId,
    pub phone: &'a PhoneNumber,
    pub message_id: &'a MessageId,
    /// The provider's SID of a send it took, attached to the message.
    pub provider_sid: Option<&'a MessageSid>,
    /// The attempt's outcome (`sent as <sid>`, `rejected <code>`).
    pub outcome: &'a str,
}

#[async_trait]
pub trait SendPathStore: Send + Sync {
    /// In one read: the live record on `key`; with `phone`, its standing for `account`;
    /// with `phone` and `with_contact`, its cached contact (live at `now`).
    async fn request_view(
        &self,
        key: &IdempotencyKey,
        account: &AccountId,
        phone: Option<&PhoneNumber>,
        with_contact: bool,
        now: Timestamp,
    ) -> StoreResult<RequestView>;
    /// `IdempotencyStore::claim` of `claim` (a new key, or the takeover of `claim.lapsed`)
    /// and `AdmissionStore::try_admit`, in one atomic write: both or neither. A message
    /// admitted before (a takeover of a handler that died) is admitted once.
    async fn claim_and_admit(
        &self,
        claim: &ClaimToTake<'_>,
        account: &AccountId,
        message_id: &MessageId,
        limit: u32,
    ) -> StoreResult<ClaimAndAdmit>;
    /// In one read: the message's send attempt and the phone's standing.
    async fn delivery_view(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        message_id: &MessageId,
    ) -> StoreResult<DeliveryView>;
    /// `SendAttemptStore::begin_attempt` for `message`, and the message stored as given
    /// unless it is stored already, in one atomic write: a message is on its conversation
    /// whenever an attempt to send it is on record.
    async fn begin_send(
        &self,
        message: &MessageRecord,
        replacing: Option<Timestamp>,
        now: Timestamp,
    ) -> StoreResult<AttemptStart>;
    /// The end of a send in one atomic write: the provider's SID attached (as
    /// `ConversationStore::attach_provider_sid`), the admission slot given back (as
    /// `AdmissionStore::release_admission`) and the attempt finished (as
    /// `SendAttemptStore::finish_attempt`). Each part is idempotent, so a repeat changes
    /// nothing.
    async fn settle_send(&self, send: &SettledSend<'_>) -> StoreResult<()>;
}

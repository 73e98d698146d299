//! Storage port: the access patterns listed in docs/storage.md, one narrow trait per concern,
//! so a use case names exactly what it touches. Every invariant (dedupe, admission, one
//! active session per contact, forward-only status) is carried by the backend's own
//! conditional write or transaction, never by read-then-write in the caller.
//!
//! Items that expire carry `expires_at`; every read checks it, because DynamoDB's TTL
//! deletes lazily (and moto never does).

use std::collections::BTreeSet;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::consent::{BouncePolicy, PhoneEvent, PhoneHealth};
use crate::domain::phone::mask_numbers;
use crate::domain::routing::RoutingDecision;
use crate::domain::sequence::{DefinitionError, FileFormat, Sequence};
use crate::domain::{
    Account, AccountId, Direction, MessageRecord, MessageStatus, PhoneNumber, Timestamp,
};
use crate::ports::queue::QueueName;

/// Store keys hold contacts' numbers (`acme\0+14155550103\0…`), and the texts below quote
/// keys: they are shown with every number masked, as everything that reaches a log is.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An inbound number is already owned by another account.
    #[error("number {number} already belongs to account {owner}")]
    NumberTaken {
        number: PhoneNumber,
        owner: AccountId,
    },
    /// A Messaging Service (`service`, in canonical form) is already another account's.
    #[error("Messaging Service {service} already belongs to account {owner}")]
    ServiceTaken { service: String, owner: AccountId },
    /// The account changes more number and Messaging Service claims than the backend writes
    /// in one atomic step (DynamoDB: 100 items per transaction, 2 of them the account's).
    #[error(
        "account {account} would write {claims} number and Messaging Service claims at once; at most {limit} fit in one write"
    )]
    TooManyClaims {
        account: AccountId,
        claims: usize,
        limit: usize,
    },
    /// The addressed item does not exist (e.g. ending a session that is not there).
    #[error("{} not found", mask_numbers(.0))]
    NotFound(String),
    /// A stored item could not be decoded: a bug or a schema drift, never user input.
    #[error("stored item {} is corrupt: {}", mask_numbers(.key), mask_numbers(.detail))]
    Corrupt { key: String, detail: String },
    /// The backend failed (network, throttling, I/O). Safe to retry.
    #[error("storage backend failed: {}", mask_numbers(.0))]
    Backend(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

// ---------------------------------------------------------------- accounts

#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Creates or replaces an account and claims its inbound numbers and its Messaging
    /// Services (by [`canonical_service_sid`](crate::domain::canonical_service_sid), so
    /// case does not matter) atomically. Fails, changing nothing, with `NumberTaken` or
    /// `ServiceTaken` if another account owns one of them (numbers are checked first);
    /// numbers and services the account no longer lists are released.
    async fn put_account(&self, account: &Account) -> StoreResult<()>;
    async fn account(&self, id: &AccountId) -> StoreResult<Option<Account>>;
    async fn account_by_number(&self, number: &PhoneNumber) -> StoreResult<Option<Account>>;
    /// The account that lists the Messaging Service `service_sid` (any ASCII case), read
    /// through the claims `put_account` keeps: a constant number of reads, however many
    /// accounts there are. Accounts stored by versions before this index have no claims: the
    /// first lookup that misses indexes them all once (see the backends), so they are found
    /// without an operator step.
    async fn account_by_messaging_service(&self, service_sid: &str)
    -> StoreResult<Option<Account>>;
    /// All account ids, sorted.
    async fn account_ids(&self) -> StoreResult<Vec<AccountId>>;
}

// ---------------------------------------------------------------- conversations

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    New,
    /// A message with this id or provider SID was already stored; nothing changed.
    Duplicate,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StatusUpdate {
    /// The status moved forward; the message as it now is.
    Advanced(MessageRecord),
    /// Not progress (duplicate or out of order); the message as it is. An error code the
    /// message did not have yet is still kept.
    Unchanged(MessageRecord),
    /// No message has this SID.
    UnknownSid,
}

#[async_trait]
pub trait ConversationStore: Send + Sync {
    /// Stores a message once: duplicate `id`s and duplicate `provider_sid`s are refused
    /// atomically (Twilio retries webhooks with the same `MessageSid`).
    async fn record_message(&self, message: &MessageRecord) -> StoreResult<Recorded>;
    /// The conversation between an account and a phone, newest first.
    async fn conversation(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        limit: usize,
    ) -> StoreResult<Vec<MessageRecord>>;
    async fn message_by_sid(&self, provider_sid: &str) -> StoreResult<Option<MessageRecord>>;
    /// One message of a conversation, by our id.
    async fn message(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        message_id: &str,
    ) -> StoreResult<Option<MessageRecord>>;
    /// Attaches the provider SID to a stored outbound message (after the provider accepted
    /// it), so status callbacks can find it. Idempotent for the same SID.
    async fn attach_provider_sid(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        message_id: &str,
        provider_sid: &str,
    ) -> StoreResult<()>;
    /// Records on an inbound message who it was routed to and why.
    async fn record_routing(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        message_id: &str,
        routing: &RoutingDecision,
    ) -> StoreResult<()>;
    /// As [`ConversationStore::apply_status`], for a message addressed by our id: a send
    /// the provider refused outright has no SID. `UnknownSid` means no such message.
    async fn apply_status_by_id(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        message_id: &str,
        status: MessageStatus,
        error_code: Option<u32>,
        at: Timestamp,
    ) -> StoreResult<StatusUpdate>;
    /// Applies a delivery status forward-only and keeps the first error code.
    async fn apply_status(
        &self,
        provider_sid: &str,
        status: MessageStatus,
        error_code: Option<u32>,
        at: Timestamp,
    ) -> StoreResult<StatusUpdate>;
}

// ---------------------------------------------------------------- consent

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRecord {
    pub opted_out: bool,
    /// When the keyword or event happened; older events never overwrite newer ones.
    pub changed_at: Timestamp,
    /// What caused it (`STOP keyword`, `21610 from Twilio`, `operator`...).
    pub source: String,
}

#[async_trait]
pub trait ConsentStore: Send + Sync {
    /// Records an opt-out/opt-in unless a newer change is already stored. Returns whether it
    /// was applied.
    async fn set_consent(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        record: &ConsentRecord,
    ) -> StoreResult<bool>;
    async fn consent(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
    ) -> StoreResult<Option<ConsentRecord>>;
}

// ---------------------------------------------------------------- opt-out lists

/// One phone on an account's opt-out list, as imported and exported by operators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptOut {
    pub phone: PhoneNumber,
    /// When the contact opted out.
    pub changed_at: Timestamp,
    /// What caused it (`STOP keyword`, `import optouts.csv`...).
    pub source: String,
}

/// What importing one opt-out did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptOutImport {
    /// Stored: the phone is opted out now.
    Added,
    /// The phone was already opted out; nothing changed (so re-running an import adds
    /// nothing).
    AlreadyOptedOut,
    /// A newer opt-in is stored (the contact re-subscribed after this opt-out); kept.
    NewerOptIn,
}

#[async_trait]
pub trait OptOutStore: Send + Sync {
    /// Opts each phone out, each atomically and independently: a phone already opted out is
    /// left as it is, and a newer opt-in wins as in [`ConsentStore::set_consent`]. Returns
    /// one outcome per entry, in order.
    async fn import_opt_outs(
        &self,
        account: &AccountId,
        opt_outs: &[OptOut],
    ) -> StoreResult<Vec<OptOutImport>>;
    /// The account's opted-out phones in E.164 order, starting after `after`, at most
    /// `limit` (page through with the last phone returned). Opt-outs stored before this
    /// list existed (DynamoDB items written by older versions) are not listed until the
    /// phone's consent changes again or is imported.
    async fn opt_outs(
        &self,
        account: &AccountId,
        after: Option<&PhoneNumber>,
        limit: usize,
    ) -> StoreResult<Vec<OptOut>>;
}

// ---------------------------------------------------------------- conversation list

/// An account's conversation with one phone, as of its newest message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationSummary {
    pub phone: PhoneNumber,
    pub last_message_id: String,
    pub last_message_at: Timestamp,
    pub last_direction: Direction,
}

#[async_trait]
pub trait ConversationIndex: Send + Sync {
    /// The account's conversations, most recent first, at most `limit`. Kept by
    /// [`ConversationStore::record_message`]: conversations whose last message was stored
    /// before the index existed are not listed until their next message.
    async fn recent_conversations(
        &self,
        account: &AccountId,
        limit: usize,
    ) -> StoreResult<Vec<ConversationSummary>>;
}

// ---------------------------------------------------------------- queue job failures

/// Why a queue message failed the last time it was handled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobFailure {
    pub error: String,
    pub failed_at: Timestamp,
}

/// How long a job failure is kept: as long as a dead-letter queue keeps the message
/// (SQS's longest retention, 14 days).
pub const JOB_FAILURE_RETENTION: Duration = Duration::from_secs(14 * 24 * 3600);

#[async_trait]
pub trait JobFailureStore: Send + Sync {
    /// Remembers why a queue message failed (the latest failure replaces earlier ones) for
    /// [`JOB_FAILURE_RETENTION`]. Queue message ids survive the move to the dead-letter
    /// queue, so `dlq list` can show it.
    async fn record_job_failure(
        &self,
        queue: QueueName,
        message_id: &str,
        failure: &JobFailure,
    ) -> StoreResult<()>;
    /// The last failure of a queue message, unless expired at `now`.
    async fn job_failure(
        &self,
        queue: QueueName,
        message_id: &str,
        now: Timestamp,
    ) -> StoreResult<Option<JobFailure>>;
}

// ---------------------------------------------------------------- phone health

/// What decides whether a phone may be texted: its opt-out record and its delivery health.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PhoneStanding {
    pub consent: Option<ConsentRecord>,
    pub health: PhoneHealth,
}

impl PhoneStanding {
    pub fn opted_out(&self) -> bool {
        self.consent.as_ref().is_some_and(|c| c.opted_out)
    }
}

#[async_trait]
pub trait PhoneStore: Send + Sync {
    /// The phone's delivery health for this account; `PhoneHealth::default()` (active, no
    /// failures) when nothing is stored.
    async fn phone_health(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
    ) -> StoreResult<PhoneHealth>;
    /// The phone's opt-out record and health together, in one read: what every send asks
    /// before it goes out (twice: when requested and when sent).
    async fn phone_standing(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
    ) -> StoreResult<PhoneStanding>;
    /// Applies `event` with `phone_status_after` atomically (no lost update when callbacks
    /// race) and returns the new health.
    async fn record_phone_event(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        event: PhoneEvent,
        policy: BouncePolicy,
    ) -> StoreResult<PhoneHealth>;
}

// ---------------------------------------------------------------- sequence sessions

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub session_id: String,
    pub sequence: String,
    /// Opaque state owned by the sequence engine.
    pub state: serde_json::Value,
    pub started_at: Timestamp,
    pub expires_at: Timestamp,
    /// 0 when started, one more on each update: `update_session` writes revision n + 1
    /// only over revision n, so two writers that read the same session cannot both win.
    #[serde(default)]
    pub revision: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SessionStart {
    Started,
    /// Another unexpired session holds the lock for this contact.
    AlreadyActive(SessionRecord),
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Starts a session unless an unexpired one exists for (account, phone).
    async fn start_session(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        session: &SessionRecord,
        now: Timestamp,
    ) -> StoreResult<SessionStart>;
    async fn active_session(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        now: Timestamp,
    ) -> StoreResult<Option<SessionRecord>>;
    /// Replaces the session's state and expiry if `session.session_id` is still the stored
    /// one at revision `session.revision - 1` (the caller read revision n and writes n + 1);
    /// returns false otherwise (another writer got there first, or the session ended).
    async fn update_session(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        session: &SessionRecord,
    ) -> StoreResult<bool>;
    /// Ends the session if it is still `session_id`; returns whether it did.
    async fn end_session(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        session_id: &str,
    ) -> StoreResult<bool>;
}

// ---------------------------------------------------------------- sequence definitions

/// A stored sequence as read back: validated again on every read, so a definition that a
/// newer smsflow no longer accepts is reported (and not run) instead of misbehaving.
pub type StoredSequence = Result<Sequence, DefinitionError>;

/// How a store keeps a sequence: the JSON of its definition as written.
pub fn encode_sequence(sequence: &Sequence) -> StoreResult<String> {
    serde_json::to_string(sequence.definition()).map_err(|e| StoreError::Corrupt {
        key: format!("{}/{}", sequence.account(), sequence.name()),
        detail: format!("cannot encode the definition: {e}"),
    })
}

/// Reads back what [`encode_sequence`] stored for `account`/`name`, validating it again.
pub fn decode_sequence(account: &AccountId, name: &str, json: &str) -> StoredSequence {
    Sequence::parse(
        &format!("stored sequence {account}/{name}"),
        json,
        FileFormat::Json,
    )
}

#[async_trait]
pub trait SequenceStore: Send + Sync {
    /// Creates or replaces the sequence under its account and name.
    async fn put_sequence(&self, sequence: &Sequence) -> StoreResult<()>;
    async fn sequence(
        &self,
        account: &AccountId,
        name: &str,
    ) -> StoreResult<Option<StoredSequence>>;
    /// Every sequence of the account, in name order.
    async fn sequences(&self, account: &AccountId) -> StoreResult<Vec<StoredSequence>>;
    /// The names of the account's sequences, sorted.
    async fn sequence_names(&self, account: &AccountId) -> StoreResult<Vec<String>>;
    /// Removes the sequence; returns whether there was one. Runs in progress keep their
    /// session and end at their next event (the engine finds no step to continue from).
    async fn delete_sequence(&self, account: &AccountId, name: &str) -> StoreResult<bool>;
    /// The CRM note that keeps a contact's conversation with a sequence, once created.
    async fn sequence_note(
        &self,
        account: &AccountId,
        contact_id: &str,
        sequence: &str,
    ) -> StoreResult<Option<String>>;
    /// Records `note_id` as that note unless one is recorded already (atomically); returns
    /// the note id on record afterwards: `note_id`, or the one that was there first.
    async fn remember_sequence_note(
        &self,
        account: &AccountId,
        contact_id: &str,
        sequence: &str,
        note_id: &str,
    ) -> StoreResult<String>;
}

// ---------------------------------------------------------------- idempotency

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
    async fn claim(&self, key: &str, terms: ClaimTerms, now: Timestamp) -> StoreResult<Claim>;
    /// Stores the answer for a claimed key (for repeats to return).
    async fn complete(&self, key: &str, response: &str) -> StoreResult<()>;
    /// Gives a claim back after the work failed, so a retry can do it.
    async fn release(&self, key: &str) -> StoreResult<()>;
}

// ---------------------------------------------------------------- send attempts

/// How long a send attempt is remembered (longer than any SQS redelivery).
pub const ATTEMPT_KEEP: Duration = Duration::from_secs(14 * 24 * 3600);

/// The claim key of a message's send attempt: an idempotency record, as attempts were
/// before they had states (the other keys are in `jobs::keys`).
pub fn send_attempt_key(message_id: &str) -> String {
    format!("send:{message_id}")
}

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
    async fn send_attempt(&self, message_id: &str) -> StoreResult<Option<AttemptState>>;
    /// Records an attempt to send `message_id` to `phone`, in one conditional write against
    /// the phone's opt-out state: no attempt is recorded after a STOP is. Refused when
    /// another attempt is on record, except the unresolved one made at `replacing`, which
    /// the provider said it never received.
    async fn begin_attempt(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        message_id: &str,
        replacing: Option<Timestamp>,
        now: Timestamp,
    ) -> StoreResult<AttemptStart>;
    /// Records what came of the attempt (once; a later call changes nothing).
    async fn finish_attempt(&self, message_id: &str, outcome: &str) -> StoreResult<()>;
    /// Forgets the unresolved attempt made at `attempted_at` (the provider surely did not
    /// take the message), so a retry records a new one.
    async fn withdraw_attempt(&self, message_id: &str, attempted_at: Timestamp) -> StoreResult<()>;
}

// ---------------------------------------------------------------- admission and pacing

/// An account's sends waiting to go out, each counted once under its message id.
#[async_trait]
pub trait AdmissionStore: Send + Sync {
    /// Admits `message_id` if the account has fewer than `limit` pending sends; exact under
    /// concurrency. A message already admitted stays admitted (true) and is counted once.
    async fn try_admit(
        &self,
        account: &AccountId,
        message_id: &str,
        limit: u32,
    ) -> StoreResult<bool>;
    /// Gives `message_id`'s slot back (it was sent, or will never be): exactly once, however
    /// often it is called.
    async fn release_admission(&self, account: &AccountId, message_id: &str) -> StoreResult<()>;
    async fn pending_sends(&self, account: &AccountId) -> StoreResult<u32>;
}

#[async_trait]
pub trait RateStore: Send + Sync {
    /// Reserves `cost` of a sender's capacity (cost = segments / rate) and returns the time at
    /// which the caller may send: `max(now, sender's next free time)`. The next free time
    /// then moves `cost` further. Concurrent reservations never overlap.
    async fn reserve_send_slot(
        &self,
        sender: &str,
        cost: Duration,
        now: Timestamp,
    ) -> StoreResult<Timestamp>;
}

// ---------------------------------------------------------------- CRM support

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedContact {
    /// The CRM's contact, as the CRM adapter serialised it.
    pub contact: serde_json::Value,
    pub expires_at: Timestamp,
}

#[async_trait]
pub trait GoalStore: Send + Sync {
    /// Remembers that the CRM has no goal `call_name` configured for this account.
    async fn disable_goal(&self, account: &AccountId, call_name: &str) -> StoreResult<()>;
    async fn disabled_goals(&self, account: &AccountId) -> StoreResult<BTreeSet<String>>;
    /// Forgets every disabled goal of the account; returns how many there were.
    async fn reset_disabled_goals(&self, account: &AccountId) -> StoreResult<usize>;
}

// ---------------------------------------------------------------- goal log

/// What became of one goal smsflow fired about a message (or about a send request it
/// refused, under the id the request was given).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoalRecord {
    /// Our id of the message or refused request the goal is about.
    pub message_id: String,
    /// The goal's call name (`GoodNumber`, `Inbound19523142318`...).
    pub goal: String,
    pub outcome: GoalResult,
    pub at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GoalResult {
    /// The CRM achieved it.
    Achieved,
    /// Not called: the CRM said before that the goal is not configured.
    Disabled,
    /// The CRM says the goal is not configured; it is disabled until reset.
    NotConfigured,
    /// The CRM refused the call for good (not retried).
    Failed,
}

/// The goals fired per conversation, so an operator can read them next to the messages
/// (`smsflow conversations show`).
#[async_trait]
pub trait GoalLog: Send + Sync {
    /// Records what became of a goal; one record per message and goal (a repeat of the
    /// same goal job replaces it, so retries never list a goal twice).
    async fn record_goal(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        record: &GoalRecord,
    ) -> StoreResult<()>;
    /// The goals recorded in the conversation with `phone` about messages whose id is
    /// `from_message_id` or later (ids are ULIDs: later means newer), by message id then
    /// goal name.
    async fn goals_fired(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        from_message_id: &str,
    ) -> StoreResult<Vec<GoalRecord>>;
}

#[async_trait]
pub trait ContactCache: Send + Sync {
    async fn cache_contact(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        contact: &CachedContact,
    ) -> StoreResult<()>;
    async fn cached_contact(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        now: Timestamp,
    ) -> StoreResult<Option<CachedContact>>;
    async fn forget_contact(&self, account: &AccountId, phone: &PhoneNumber) -> StoreResult<()>;
}

/// Everything a backend provides; use cases take the narrow traits above.
pub trait Store:
    AccountStore
    + ConversationStore
    + ConsentStore
    + OptOutStore
    + ConversationIndex
    + JobFailureStore
    + PhoneStore
    + SessionStore
    + SequenceStore
    + IdempotencyStore
    + SendAttemptStore
    + AdmissionStore
    + RateStore
    + GoalStore
    + GoalLog
    + ContactCache
{
}

impl<T> Store for T where
    T: AccountStore
        + ConversationStore
        + ConsentStore
        + OptOutStore
        + ConversationIndex
        + JobFailureStore
        + PhoneStore
        + SessionStore
        + SequenceStore
        + IdempotencyStore
        + SendAttemptStore
        + AdmissionStore
        + RateStore
        + GoalStore
        + GoalLog
        + ContactCache
{
}

//! Conversations: each message with its status, and the per-account list of conversations.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::routing::RoutingDecision;
use crate::domain::{
    AccountId, Direction, MessageId, MessageRecord, MessageSid, MessageStatus, PhoneNumber,
    Timestamp,
};

use super::StoreResult;

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
    /// Stores a text that changes its sender's consent (STOP, START) as `record_message`
    /// does and, when it is new, that change as
    /// [`ConsentStore::set_consent`](super::ConsentStore::set_consent) does, for the
    /// message's account and contact phone, atomically: both or neither. A newer change
    /// already stored is kept and does not refuse the message. A duplicate records neither
    /// (the caller dates the change by the message stored first).
    async fn record_message_with_consent(
        &self,
        message: &MessageRecord,
        consent: &super::ConsentRecord,
    ) -> StoreResult<Recorded>;
    /// The conversation between an account and a phone, newest first.
    async fn conversation(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        limit: usize,
    ) -> StoreResult<Vec<MessageRecord>>;
    async fn message_by_sid(&self, provider_sid: &MessageSid)
    -> StoreResult<Option<MessageRecord>>;
    /// One message of a conversation, by our id.
    async fn message(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        message_id: &MessageId,
    ) -> StoreResult<Option<MessageRecord>>;
    /// Attaches the provider SID to a stored outbound message (after the provider accepted
    /// it), so status callbacks can find it. Idempotent for the same SID.
    async fn attach_provider_sid(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        message_id: &MessageId,
        provider_sid: &MessageSid,
    ) -> StoreResult<()>;
    /// Records on an inbound message who it was routed to and why.
    async fn record_routing(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        message_id: &MessageId,
        routing: &RoutingDecision,
    ) -> StoreResult<()>;
    /// As [`ConversationStore::apply_status`], for a message addressed by our id: a send
    /// the provider refused outright has no SID. `UnknownSid` means no such message.
    async fn apply_status_by_id(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        message_id: &MessageId,
        status: MessageStatus,
        error_code: Option<u32>,
        at: Timestamp,
    ) -> StoreResult<StatusUpdate>;
    /// Applies a delivery status forward-only and keeps the first error code.
    async fn apply_status(
        &self,
        provider_sid: &MessageSid,
        status: MessageStatus,
        error_code: Option<u32>,
        at: Timestamp,
    ) -> StoreResult<StatusUpdate>;
}

/// An account's conversation with one phone, as of its newest message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationSummary {
    pub phone: PhoneNumber,
    pub last_message_id: MessageId,
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

pub use crate::domain::received::MessageWindow;

/// How long a send can wait between its id being made (when it is requested) and its
/// message being stored (when it is sent): quiet hours hold bulk messages overnight and
/// pacing spreads a backlog. A window's read starts this much before its first instant, so
/// a message stored inside the window is found whatever its id's time.
pub const LONGEST_SEND_WAIT: std::time::Duration = std::time::Duration::from_secs(2 * 24 * 3600);

/// The smallest message id made at `at`: where a read of messages since `at` starts, less
/// [`LONGEST_SEND_WAIT`].
pub fn first_message_id_for(at: Timestamp) -> String {
    let start = at.as_millis() - LONGEST_SEND_WAIT.as_millis() as i64;
    ulid::Ulid::from_parts(u64::try_from(start).unwrap_or(0), 0).to_string()
}

#[async_trait]
pub trait MessageHistory: Send + Sync {
    /// The conversation's messages created at or after `since` (every one when `None`),
    /// newest first, at most `limit`, in one bounded read (one Query on DynamoDB). Messages
    /// whose ids were made up to [`LONGEST_SEND_WAIT`] before `since` may be among them;
    /// the caller filters on `created_at`.
    async fn messages_since(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        since: Option<Timestamp>,
        limit: usize,
    ) -> StoreResult<MessageWindow>;
}

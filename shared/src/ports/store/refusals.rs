//! Refusals per conversation: why a send request or a queued send sent nothing (opted out,
//! not subscribed, queue full...), so an operator reads the reason next to the thread
//! (`smsflow conversations show`). A sent message's story is its `MessageRecord`; a refused
//! one has no message, only this.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::{AccountId, MessageId, PhoneNumber, Timestamp};

use super::StoreResult;

/// Why the request or send with this message id sent nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// Our id of the refused request (or of the queued message refused at send time).
    pub message_id: MessageId,
    /// The stable code the request was answered with (`opted_out`, `queue_full`...).
    pub code: String,
    /// The reason in words.
    pub detail: String,
    pub at: Timestamp,
}

#[async_trait]
pub trait RefusalLog: Send + Sync {
    /// Records the refusal in the conversation with `phone`; a repeat for the same message
    /// id replaces it (a retried request is refused under the same id).
    async fn record_refusal(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        refusal: &Refusal,
    ) -> StoreResult<()>;
    /// The refusals in the conversation with `phone` whose message id is `from_message_id`
    /// or later, in message id order.
    async fn refusals(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        from_message_id: &MessageId,
    ) -> StoreResult<Vec<Refusal>>;
}

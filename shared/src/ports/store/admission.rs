//! Admission (the per-account queue limit) and sender pacing.

use std::time::Duration;

use async_trait::async_trait;

use crate::domain::{AccountId, MessageId, Timestamp};

use super::StoreResult;

/// An account's sends waiting to go out, each counted once under its message id.
#[async_trait]
pub trait AdmissionStore: Send + Sync {
    /// Admits `message_id` if the account has fewer than `limit` pending sends; exact under
    /// concurrency. A message already admitted stays admitted (true) and is counted once.
    async fn try_admit(
        &self,
        account: &AccountId,
        message_id: &MessageId,
        limit: u32,
    ) -> StoreResult<bool>;
    /// Gives `message_id`'s slot back (it was sent, or will never be): exactly once, however
    /// often it is called.
    async fn release_admission(
        &self,
        account: &AccountId,
        message_id: &MessageId,
    ) -> StoreResult<()>;
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

//! Delivery event port: where an account's delivery events go (its event webhook).

use async_trait::async_trait;

use crate::domain::EventWebhook;
use crate::domain::delivery::DeliveryEvent;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// Timeout, connection failure, 408, 429 or 5xx: worth retrying later.
    #[error("event receiver unavailable: {0}")]
    Unavailable(String),
    /// The receiver refused the event (another 4xx): retrying cannot help.
    #[error("event receiver refused the event: {0}")]
    Rejected(String),
}

#[async_trait]
pub trait EventPublisher: Send + Sync {
    /// Delivers one event to `webhook`. Receivers can see an event more than once (the
    /// job queue retries), so they deduplicate on `message_id` + `type`.
    async fn publish(
        &self,
        webhook: &EventWebhook,
        event: &DeliveryEvent,
    ) -> Result<(), EventError>;
}

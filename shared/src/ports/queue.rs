//! Queue port: SQS semantics (delay, visibility timeout, redelivery, dead-letter after N
//! receives). Producers only `enqueue`; the local runtime and the tests also receive,
//! delete and inspect dead letters through the same trait.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// The queues smsflow uses. Each has a dead-letter queue beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueName {
    /// Admitted send requests, consumed by the paced send worker.
    Send,
    /// Slow side effects (CRM goals, notes, tags, e-mail forwards), consumed by the
    /// automation worker.
    Automation,
}

impl QueueName {
    pub const ALL: [QueueName; 2] = [QueueName::Send, QueueName::Automation];

    pub fn as_str(self) -> &'static str {
        match self {
            QueueName::Send => "send",
            QueueName::Automation => "automation",
        }
    }
}

impl fmt::Display for QueueName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for QueueName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        QueueName::ALL
            .into_iter()
            .find(|q| q.as_str() == s)
            .ok_or_else(|| format!("unknown queue '{s}' (expected send or automation)"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    pub body: String,
    /// Hidden from consumers for this long after enqueueing (SQS allows up to 15 minutes).
    pub delay: Duration,
}

impl OutgoingMessage {
    pub fn now(body: impl Into<String>) -> Self {
        OutgoingMessage {
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    pub fn delayed(body: impl Into<String>, delay: Duration) -> Self {
        OutgoingMessage {
            body: body.into(),
            delay,
        }
    }

    /// `job` as a JSON body SQS accepts whatever text it carries, delayed by `delay`: a
    /// character SQS refuses in a body (U+FFFE and U+FFFF; JSON already escapes control
    /// characters) can only stand inside a JSON string, where it is written as its `\uXXXX`
    /// escape, so the body decodes to the same job.
    pub fn job<T: Serialize>(job: &T, delay: Duration) -> Result<Self, serde_json::Error> {
        let json = serde_json::to_string(job)?;
        let body = if json.chars().all(allowed_in_body) {
            json
        } else {
            json.chars()
                .map(|c| match c {
                    c if allowed_in_body(c) => c.to_string(),
                    c => format!("\\u{:04x}", u32::from(c)),
                })
                .collect()
        };
        Ok(OutgoingMessage::delayed(body, delay))
    }
}

/// SQS accepts only these characters in a body (`#x9 | #xA | #xD | #x20-#xD7FF |
/// #xE000-#xFFFD | #x10000-#x10FFFF`).
pub fn allowed_in_body(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | ' '..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    pub message_id: String,
    /// Handle for delete / change-visibility; valid for this receive only.
    pub receipt: String,
    pub body: String,
    /// How many times the message has been received, this time included.
    pub receive_count: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("message rejected by queue {queue}: {detail}")]
    Rejected { queue: QueueName, detail: String },
    #[error("receipt handle is no longer valid: {0}")]
    StaleReceipt(String),
    #[error("queue backend failed: {0}")]
    Backend(String),
}

pub type QueueResult<T> = Result<T, QueueError>;

/// SQS's longest delay; the in-process queue enforces the same bound.
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);

/// A queue jobs are sent to; its consumers also settle what they received (a failed job's
/// retry backoff), hence the receiving side.
#[async_trait]
pub trait JobQueue: QueueReceiver + Send + Sync {
    /// Durably enqueues a message; returns its id.
    async fn enqueue(&self, queue: QueueName, message: OutgoingMessage) -> QueueResult<String>;
    /// Durably enqueues several messages in as few calls as the backend allows (SQS: one
    /// per 10); returns their ids in order. Every message is checked before any is sent.
    /// An error may leave some of them enqueued, so callers send messages that are
    /// harmless twice (jobs with derived ids) and enqueue them all again.
    async fn enqueue_batch(
        &self,
        queue: QueueName,
        messages: Vec<OutgoingMessage>,
    ) -> QueueResult<Vec<String>>;
}

/// Receiving side, used by the local runtime's pollers and by tests (on Lambda, SQS
/// itself feeds the consumers).
#[async_trait]
pub trait QueueReceiver: Send + Sync {
    /// Receives up to `max` visible messages, hiding them for `visibility`. Waits up to
    /// `wait` for one to arrive. A message received more often than the queue's maximum is
    /// moved to the dead-letter queue instead of being returned.
    async fn receive(
        &self,
        queue: QueueName,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> QueueResult<Vec<ReceivedMessage>>;
    /// Acknowledges a message: it is gone.
    async fn delete(&self, queue: QueueName, receipt: &str) -> QueueResult<()>;
    /// Makes a received message visible again after `timeout` (zero: now).
    async fn change_visibility(
        &self,
        queue: QueueName,
        receipt: &str,
        timeout: Duration,
    ) -> QueueResult<()>;
    /// Messages in the queue's dead-letter queue (received and hidden for `visibility`).
    async fn receive_dead_letters(
        &self,
        queue: QueueName,
        max: usize,
        visibility: Duration,
    ) -> QueueResult<Vec<ReceivedMessage>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_body_is_accepted_by_sqs_whatever_text_it_carries() {
        let texts = [
            "hi\u{FFFF}",
            "\u{FFFE}x\u{FFFF}",
            "new\nline \"quoted\" 😀",
            "plain",
        ];
        for text in texts {
            let message =
                OutgoingMessage::job(&serde_json::json!({ "body": text }), Duration::ZERO)
                    .expect("serialises");
            assert!(
                message.body.chars().all(allowed_in_body),
                "{text:?}: {}",
                message.body
            );
            let back: serde_json::Value = serde_json::from_str(&message.body).expect("JSON");
            assert_eq!(back["body"], text, "{text:?} round-trips");
        }
    }
}

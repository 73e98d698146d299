//! The send queue's job: one admitted message, on its way to the provider.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::GoalSubject;
use crate::app::App;
use crate::domain::consent::SendKind;
use crate::domain::{AccountId, ContactId, MessageId, PhoneNumber, Timestamp};
use crate::ports::{OutgoingMessage, QueueName, QueueResult, Sender};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendJob {
    /// Our message id (a ULID): the idempotency key of the send.
    pub message_id: MessageId,
    pub account: AccountId,
    pub to: PhoneNumber,
    pub sender: Sender,
    pub body: String,
    #[serde(default)]
    pub media_urls: Vec<String>,
    /// The account user replies route to: the manual sender or the campaign's reply-to.
    pub user_id: Option<String>,
    pub campaign: Option<String>,
    /// The CRM contact, for goals and the SMS note.
    #[serde(default)]
    pub contact_id: Option<ContactId>,
    /// Sent by a user by hand (`SendManual`), not by a campaign (`SendAuto`).
    #[serde(default)]
    pub manual: bool,
    #[serde(default = "transactional")]
    pub kind: SendKind,
    /// The slot reserved in the sender's calendar, once reserved.
    #[serde(default)]
    pub not_before: Option<Timestamp>,
    /// The slot reserved among the sender's actual sends, once reserved.
    #[serde(default)]
    pub send_slot: Option<Timestamp>,
    /// The recipient's time zone as the CRM records it (IANA), for quiet hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// The sequence this message is a step of: its conversation goes in the sequence's
    /// note, not in a note per SMS. A field of its own, so no campaign label a CRM sends can
    /// pass for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<String>,
}

fn transactional() -> SendKind {
    SendKind::Transactional
}

impl SendJob {
    /// What the job's goals are about: its message.
    pub fn about(&self) -> GoalSubject {
        GoalSubject {
            phone: self.to.clone(),
            message_id: self.message_id.clone(),
        }
    }
}

/// Puts `job` on the send queue, delayed by `delay` (at most the queue's longest delay: a
/// job due later comes back and is put back again).
pub async fn enqueue_send(app: &App, job: &SendJob, delay: Duration) -> QueueResult<()> {
    let message =
        OutgoingMessage::job(job, delay.min(crate::ports::queue::MAX_DELAY)).map_err(|e| {
            crate::ports::QueueError::Rejected {
                queue: QueueName::Send,
                detail: e.to_string(),
            }
        })?;
    app.queue
        .enqueue(QueueName::Send, message)
        .await
        .map(|_| ())
}

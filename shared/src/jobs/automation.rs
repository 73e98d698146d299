//! The automation queue's jobs: slow side effects (CRM goals, tags, notes, fields, e-mails,
//! delivery events, an inbound text's processing, a sequence's messages and notes), each
//! with an id that makes its redelivery harmless, and the functions that queue them.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::keys::JobId;
use super::{GoalSubject, InboundText, SequenceMessage};
use crate::app::App;
use crate::domain::goals::GoalName;
use crate::domain::{AccountId, ContactId, EmailAddress, MessageId};
use crate::ports::{Email, OutgoingMessage, QueueName, QueueResult};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AutomationJob {
    /// Fire the CRM goal `<account's integration>.<call_name>` for a contact.
    AchieveGoal {
        account: AccountId,
        contact_id: ContactId,
        call_name: GoalName,
        /// The message the goal is about, where what became of it is logged.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        about: Option<GoalSubject>,
    },
    ApplyTag {
        account: AccountId,
        contact_id: ContactId,
        tag: String,
    },
    CreateNote {
        account: AccountId,
        contact_id: ContactId,
        title: String,
        body: String,
        user_id: Option<String>,
    },
    SendEmail {
        email: Email,
    },
    /// Contact lookup, routing, forward and goals for one inbound text.
    ProcessInbound(InboundText),
    /// POST one delivery event to the account's event webhook.
    PostEvent {
        account: AccountId,
        event: crate::domain::delivery::DeliveryEvent,
    },
    /// A sequence step's message, through the send path under `message_id`.
    SequenceSend {
        message_id: MessageId,
        message: SequenceMessage,
    },
    /// A sequence saved an e-mail address from a reply.
    SetEmail {
        account: AccountId,
        contact_id: ContactId,
        email: EmailAddress,
    },
    /// A sequence saved a reply (or the texter's number) to a custom field.
    SetCustomField {
        account: AccountId,
        contact_id: ContactId,
        field: String,
        value: String,
    },
    /// Lines of a sequence's conversation for the contact's note of that sequence.
    SequenceNote {
        account: AccountId,
        contact_id: ContactId,
        sequence: String,
        lines: Vec<String>,
    },
}

/// A job as it travels on the queue: with an id that makes redelivery harmless.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutomationEnvelope {
    pub job_id: JobId,
    #[serde(flatten)]
    pub job: AutomationJob,
}

/// Puts a job on the automation queue under a fresh id.
pub async fn enqueue(app: &App, job: AutomationJob) -> QueueResult<String> {
    enqueue_with_id(app, JobId::fresh(app.ids.new_id()), job).await
}

/// Puts a job on the automation queue under `job_id`: jobs derived from one event get ids
/// derived from it, so enqueueing them again (a retry) runs them once.
pub async fn enqueue_with_id(app: &App, job_id: JobId, job: AutomationJob) -> QueueResult<String> {
    app.queue
        .enqueue(QueueName::Automation, message(job_id, job)?)
        .await
}

/// As [`enqueue_with_id`] for several jobs, in as few queue calls as the queue allows. On
/// an error some may be queued: enqueueing them all again is harmless (their ids).
pub async fn enqueue_all_with_ids(
    app: &App,
    jobs: Vec<(JobId, AutomationJob)>,
) -> QueueResult<Vec<String>> {
    let messages = jobs
        .into_iter()
        .map(|(job_id, job)| message(job_id, job))
        .collect::<QueueResult<Vec<_>>>()?;
    app.queue
        .enqueue_batch(QueueName::Automation, messages)
        .await
}

fn message(job_id: JobId, job: AutomationJob) -> QueueResult<OutgoingMessage> {
    delayed_message(&AutomationEnvelope { job_id, job }, Duration::ZERO)
}

pub(crate) fn delayed_message(
    envelope: &AutomationEnvelope,
    delay: Duration,
) -> QueueResult<OutgoingMessage> {
    OutgoingMessage::job(envelope, delay).map_err(|e| crate::ports::QueueError::Rejected {
        queue: QueueName::Automation,
        detail: e.to_string(),
    })
}

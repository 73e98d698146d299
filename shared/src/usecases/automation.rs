//! Slow side effects behind the automation queue: CRM goals, tags and notes, and e-mails.
//! A CRM or SES outage delays them (the job is retried, then dead-lettered); it loses none.
//!
//! Each job runs under a claim on its id, leased for longer than the worker may run: a
//! redelivery while the job runs elsewhere comes back when the lease ends, and one whose
//! holder died (a crash, a function timeout) takes the job over. A job can thus run twice
//! when its holder dies after the side effect and before recording it: CRM goals, tags
//! and field updates are idempotent at the CRM; an e-mail may then arrive twice, which is
//! preferred to losing it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::JobOutcome;
use super::goals::GoalSubject;
use crate::app::App;
use crate::domain::Timestamp;
use crate::domain::{AccountId, EmailAddress};
use crate::ports::{
    Claim, ClaimTerms, CrmError, Email, IdempotencyRecord, MailError, NewNote, OutgoingMessage,
    QueueName, QueueResult,
};

/// How long a finished job id is remembered against SQS redelivery.
const DEDUPE_WINDOW: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AutomationJob {
    /// Fire the CRM goal `<account's integration>.<call_name>` for a contact.
    AchieveGoal {
        account: AccountId,
        contact_id: String,
        call_name: String,
        /// The message the goal is about, where what became of it is logged.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        about: Option<GoalSubject>,
    },
    ApplyTag {
        account: AccountId,
        contact_id: String,
        tag: String,
    },
    CreateNote {
        account: AccountId,
        contact_id: String,
        title: String,
        body: String,
        user_id: Option<String>,
    },
    SendEmail {
        email: Email,
    },
    /// Contact lookup, routing, forward and goals for one inbound text.
    ProcessInbound(super::inbound::InboundText),
    /// POST one delivery event to the account's event webhook.
    PostEvent {
        account: AccountId,
        event: crate::domain::delivery::DeliveryEvent,
    },
    /// A sequence step's message, through the send path under `message_id`.
    SequenceSend {
        message_id: String,
        message: super::sequence::SequenceMessage,
    },
    /// A sequence saved an e-mail address from a reply.
    SetEmail {
        account: AccountId,
        contact_id: String,
        email: EmailAddress,
    },
    /// A sequence saved a reply (or the texter's number) to a custom field.
    SetCustomField {
        account: AccountId,
        contact_id: String,
        field: String,
        value: String,
    },
    /// Lines of a sequence's conversation for the contact's note of that sequence.
    SequenceNote {
        account: AccountId,
        contact_id: String,
        sequence: String,
        lines: Vec<String>,
    },
}

/// A job as it travels on the queue: with an id that makes redelivery harmless.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutomationEnvelope {
    pub job_id: String,
    #[serde(flatten)]
    pub job: AutomationJob,
}

/// Puts a job on the automation queue under a fresh id.
pub async fn enqueue(app: &App, job: AutomationJob) -> QueueResult<String> {
    enqueue_with_id(app, app.ids.new_id(), job).await
}

/// Puts a job on the automation queue under `job_id`: jobs derived from one event get ids
/// derived from it, so enqueueing them again (a retry) runs them once.
pub async fn enqueue_with_id(app: &App, job_id: String, job: AutomationJob) -> QueueResult<String> {
    app.queue
        .enqueue(QueueName::Automation, message(job_id, job)?)
        .await
}

/// As [`enqueue_with_id`] for several jobs, in as few queue calls as the queue allows. On
/// an error some may be queued: enqueueing them all again is harmless (their ids).
pub async fn enqueue_all_with_ids(
    app: &App,
    jobs: Vec<(String, AutomationJob)>,
) -> QueueResult<Vec<String>> {
    let messages = jobs
        .into_iter()
        .map(|(job_id, job)| message(job_id, job))
        .collect::<QueueResult<Vec<_>>>()?;
    app.queue
        .enqueue_batch(QueueName::Automation, messages)
        .await
}

fn message(job_id: String, job: AutomationJob) -> QueueResult<OutgoingMessage> {
    delayed_message(&AutomationEnvelope { job_id, job }, Duration::ZERO)
}

fn delayed_message(envelope: &AutomationEnvelope, delay: Duration) -> QueueResult<OutgoingMessage> {
    OutgoingMessage::job(envelope, delay).map_err(|e| crate::ports::QueueError::Rejected {
        queue: QueueName::Automation,
        detail: e.to_string(),
    })
}

/// Runs one job once per job id: a redelivered job that already ran is skipped, one that
/// runs elsewhere comes back when that run's lease ends (see the module documentation).
pub async fn run(app: &App, envelope: &AutomationEnvelope) -> JobOutcome {
    let key = format!("automation:{}", envelope.job_id);
    let terms = ClaimTerms {
        keep: DEDUPE_WINDOW,
        lease: app.settings.leases.job,
    };
    let now = app.clock.now();
    match app.store.claim(&key, terms, now).await {
        Ok(Claim::New { .. }) => {}
        Ok(Claim::Existing(record)) if record.response.is_some() => {
            return JobOutcome::Skipped("job already handled".into());
        }
        Ok(Claim::Existing(record)) => return come_back_later(app, envelope, &record, now).await,
        Err(e) => return JobOutcome::Retry(format!("cannot claim job: {e}")),
    }
    let outcome = execute(app, &envelope.job).await;
    let bookkeeping = if outcome.should_retry() {
        app.store.release(&key).await
    } else {
        app.store.complete(&key, &format!("{outcome:?}")).await
    };
    if let Err(e) = bookkeeping {
        tracing::warn!(job_id = %envelope.job_id, error = %e, "could not record job outcome");
    }
    outcome
}

/// A job another worker holds: back on the queue until its lease ends, when it is either
/// done (and this copy skipped) or taken over. Not a failed try: it counts no receive
/// toward the dead-letter queue.
async fn come_back_later(
    app: &App,
    envelope: &AutomationEnvelope,
    held: &IdempotencyRecord,
    now: Timestamp,
) -> JobOutcome {
    let until = held.lease_until.unwrap_or(now);
    let delay = now.until(until).min(crate::ports::queue::MAX_DELAY);
    let queued = match delayed_message(envelope, delay) {
        Ok(message) => app.queue.enqueue(QueueName::Automation, message).await,
        Err(e) => Err(e),
    };
    match queued {
        Ok(_) => JobOutcome::Skipped(format!("job is running elsewhere: back at {until}")),
        Err(e) => JobOutcome::Retry(format!(
            "job is running elsewhere, and cannot be requeued: {e}"
        )),
    }
}

async fn execute(app: &App, job: &AutomationJob) -> JobOutcome {
    match job {
        AutomationJob::AchieveGoal {
            account,
            contact_id,
            call_name,
            about,
        } => {
            with_account(app, account, |acct| async move {
                super::goals::achieve(app, &acct, contact_id, call_name, about.as_ref()).await
            })
            .await
        }
        AutomationJob::ApplyTag {
            account,
            contact_id,
            tag,
        } => {
            with_account(app, account, |acct| async move {
                crm_outcome(app.crm.apply_tag(&acct, contact_id, tag).await.map(|_| ()))
            })
            .await
        }
        AutomationJob::CreateNote {
            account,
            contact_id,
            title,
            body,
            user_id,
        } => {
            let note = NewNote {
                title: title.clone(),
                body: body.clone(),
                user_id: user_id.clone(),
            };
            with_account(app, account, |acct| async move {
                crm_outcome(
                    app.crm
                        .create_note(&acct, contact_id, &note)
                        .await
                        .map(|_| ()),
                )
            })
            .await
        }
        AutomationJob::SendEmail { email } => match app.mailer.send(email).await {
            Ok(_) => JobOutcome::Done,
            Err(MailError::Unavailable(e)) => JobOutcome::Retry(e),
            Err(MailError::Rejected(e)) => JobOutcome::Dropped(format!("e-mail rejected: {e}")),
        },
        AutomationJob::ProcessInbound(text) => super::inbound::process(app, text).await,
        AutomationJob::PostEvent { account, event } => {
            super::status::post_event(app, account, event).await
        }
        AutomationJob::SequenceSend {
            message_id,
            message,
        } => {
            with_account(app, &message.account, |acct| async move {
                super::sequence::send_step(app, &acct, message, message_id).await
            })
            .await
        }
        AutomationJob::SetEmail {
            account,
            contact_id,
            email,
        } => {
            with_account(app, account, |acct| async move {
                crm_outcome(app.crm.set_email(&acct, contact_id, email).await)
            })
            .await
        }
        AutomationJob::SetCustomField {
            account,
            contact_id,
            field,
            value,
        } => {
            with_account(app, account, |acct| async move {
                crm_outcome(
                    app.crm
                        .set_custom_field(&acct, contact_id, field, value)
                        .await,
                )
            })
            .await
        }
        AutomationJob::SequenceNote {
            account,
            contact_id,
            sequence,
            lines,
        } => {
            with_account(app, account, |acct| async move {
                super::sequence::write_note(app, &acct, contact_id, sequence, lines).await
            })
            .await
        }
    }
}

async fn with_account<F, Fut>(app: &App, id: &AccountId, f: F) -> JobOutcome
where
    F: FnOnce(crate::domain::Account) -> Fut,
    Fut: std::future::Future<Output = JobOutcome>,
{
    match app.store.account(id).await {
        Ok(Some(account)) => f(account).await,
        Ok(None) => JobOutcome::Dropped(format!("account {id} no longer exists")),
        Err(e) => JobOutcome::Retry(format!("cannot load account {id}: {e}")),
    }
}

fn crm_outcome(result: Result<(), CrmError>) -> JobOutcome {
    match result {
        Ok(()) => JobOutcome::Done,
        Err(e) if e.is_transient() => JobOutcome::Retry(e.to_string()),
        Err(e) => JobOutcome::Dropped(e.to_string()),
    }
}

//! Delivering one admitted send: the send worker's job.
//!
//! - **Consent again**: STOP and a bounced or paused phone are checked at send time too.
//! - **Quiet hours**: an account may hold bulk messages outside a daily window in the
//!   recipient's local time; a held message goes back on the queue, never dropped.
//! - **Pacing**: each sender sends at most its rate in segments per second. Each job has a
//!   slot in its sender's calendar (`RateStore::reserve_send_slot`, atomic), reserved when
//!   the send request queues it, and waits in the queue, delayed, until the slot. A job that
//!   comes early (SQS delays stop at 15 minutes) waits up to [`MAX_WAIT`] in the worker or
//!   goes back on the queue carrying its slot. A backlog thus sits in the queue, never in
//!   front of another account's message (fairness without a queue per account). Right
//!   before the provider call, the job also books a slot among the sender's actual sends,
//!   so jobs that reach a worker late and together (it fell behind) still go out at the
//!   rate.
//! - **No double send, no loss**: the attempt is recorded right before the provider is
//!   called (nothing in between), in one conditional write against the phone's opt-out
//!   state, so no send recorded after a STOP goes out. A redelivered job whose attempt has
//!   no outcome (the process died in the call) is resolved, never dropped: see
//!   `send_recovery`.
//! - **Admission**: every path that ends the job gives its admission slot back, exactly
//!   once (the slot is stored under the message id).
//! - After the provider accepts: the message's SID is kept for status callbacks, the CRM
//!   gets `SendManual` or `SendAuto` and, if the account wants it, a note with the SMS.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::JobOutcome;
use super::automation::{self, AutomationJob};
use super::goals::{GoalSubject, queue_standard_goals};
use crate::app::App;
use crate::domain::consent::{PhoneStatus, SendKind};
use crate::domain::goals::StandardGoal;
use crate::domain::segments::{count_segments, send_cost};
use crate::domain::sender::{AlphanumericSenderId, SenderSpec};
use crate::domain::{
    Account, AccountId, Direction, MessageRecord, MessageStatus, PhoneNumber, Timestamp,
};
use crate::ports::{
    AttemptStart, AttemptState, OutboundSms, OutgoingMessage, QueueName, Sender, SmsError,
    StatusUpdate,
};

/// The longest a worker waits for a job's slot; a later slot sends the job back to the
/// queue. Short, so a worker (and a Lambda's billed time) is not held by one sender.
pub const MAX_WAIT: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendJob {
    /// Our message id (a ULID): the idempotency key of the send.
    pub message_id: String,
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
    pub contact_id: Option<String>,
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
}

fn transactional() -> SendKind {
    SendKind::Transactional
}

impl SendJob {
    /// What the job's goals are about: its message.
    fn about(&self) -> GoalSubject {
        GoalSubject {
            phone: self.to.clone(),
            message_id: self.message_id.clone(),
        }
    }
}

pub async fn deliver(app: &App, job: &SendJob) -> JobOutcome {
    let account = match app.store.account(&job.account).await {
        Ok(Some(a)) => a,
        Ok(None) => {
            release_admission(app, &job.account, &job.message_id).await;
            return JobOutcome::Dropped(format!("account {} no longer exists", job.account));
        }
        Err(e) => return JobOutcome::Retry(format!("cannot load account: {e}")),
    };
    // A job seen before: what became of its attempt decides.
    match app.store.send_attempt(&job.message_id).await {
        Ok(None) => {}
        Ok(Some(AttemptState::Finished { outcome, .. })) => {
            release_admission(app, &account.id, &job.message_id).await;
            return JobOutcome::Skipped(format!("send already attempted ({outcome})"));
        }
        Ok(Some(AttemptState::Unresolved { attempted_at })) => {
            return super::send_recovery::resolve(app, &account, job, attempted_at).await;
        }
        Err(e) => return JobOutcome::Retry(format!("cannot read the send attempt: {e}")),
    }
    if let Some(until) = quiet_until(&account, job, app.clock.now()) {
        return match hold(app, job, until).await {
            Ok(()) => {
                JobOutcome::Skipped(format!("bulk message held for quiet hours until {until}"))
            }
            Err(outcome) => outcome,
        };
    }
    match wait_for_calendar(app, &account, job).await {
        Ok(SlotWait::SendNow) => {}
        Ok(SlotWait::Requeued(at)) => {
            return JobOutcome::Skipped(format!("paced: back on the queue until {at}"));
        }
        Err(outcome) => return outcome,
    }
    // A bounced or paused phone gets nothing, and STOP wins: checked again at send time
    // (opt-outs once more, atomically, when the attempt is recorded).
    match refusal_at_send_time(app, &account, &job.to).await {
        Ok(None) => {}
        Ok(Some(refusal)) => return refuse(app, &account, job, refusal).await,
        Err(e) => return JobOutcome::Retry(e),
    }
    if let Err(e) = app
        .store
        .record_message(&queued_record(&account, job, app.clock.now()))
        .await
    {
        return JobOutcome::Retry(format!("cannot record the message: {e}"));
    }
    match wait_for_send_slot(app, &account, job).await {
        Ok(SlotWait::SendNow) => {}
        Ok(SlotWait::Requeued(at)) => {
            return JobOutcome::Skipped(format!("paced: back on the queue until {at}"));
        }
        Err(outcome) => return outcome,
    }
    attempt(app, &account, job, None).await
}

/// The message as stored before it is sent (a repeat of the same id changes nothing).
fn queued_record(account: &Account, job: &SendJob, now: Timestamp) -> MessageRecord {
    MessageRecord {
        id: job.message_id.clone(),
        account: account.id.clone(),
        contact_phone: job.to.clone(),
        our_sender: job.sender.as_str().to_string(),
        direction: Direction::Outbound,
        body: job.body.clone(),
        media_urls: job.media_urls.clone(),
        status: MessageStatus::Queued,
        provider_sid: None,
        error_code: None,
        user_id: job.user_id.clone(),
        campaign: job.campaign.clone(),
        contact_id: job.contact_id.clone(),
        created_at: now,
        updated_at: now,
        routing: None,
    }
}

/// Records the attempt, then calls the provider: nothing that can fail or wait in between,
/// so an attempt on record with no outcome means the process died in the call itself.
/// `replacing` is the unresolved attempt this one repeats (the provider never got it).
pub(super) async fn attempt(
    app: &App,
    account: &Account,
    job: &SendJob,
    replacing: Option<Timestamp>,
) -> JobOutcome {
    let attempted_at = app.clock.now();
    let begun = app
        .store
        .begin_attempt(
            &account.id,
            &job.to,
            &job.message_id,
            replacing,
            attempted_at,
        )
        .await;
    match begun {
        Ok(AttemptStart::Begun) => {}
        Ok(AttemptStart::OptedOut) => {
            if replacing.is_some() {
                finish_attempt(app, job, "not sent: recipient opted out").await;
            }
            cancel_recorded(app, account, job).await;
            let refusal = (
                StandardGoal::BlockedNumber,
                "recipient opted out".to_string(),
            );
            return refuse(app, account, job, refusal).await;
        }
        Ok(AttemptStart::Earlier(earlier)) => {
            // A concurrent copy of the job holds it; its own redelivery resolves it.
            return JobOutcome::Skipped(format!("send already attempted ({earlier:?})"));
        }
        Err(e) => return JobOutcome::Retry(format!("cannot record the attempt: {e}")),
    }
    match app
        .sms
        .send(&account.twilio, &outbound(app, account, job))
        .await
    {
        Ok(accepted) => {
            crate::metrics::count(&account.id, crate::metrics::Metric::Sent);
            sent(app, account, job, &accepted.sid).await
        }
        Err(SmsError::RateLimited { code, .. }) => {
            withdraw_attempt(app, job, attempted_at).await;
            JobOutcome::Retry(format!("provider rate limited ({code})"))
        }
        Err(SmsError::Unavailable(e)) => {
            withdraw_attempt(app, job, attempted_at).await;
            JobOutcome::Retry(format!("provider unavailable: {e}"))
        }
        Err(SmsError::Rejected { code, message, .. }) => {
            rejected(app, account, job, code).await;
            release_admission(app, &account.id, &job.message_id).await;
            finish_attempt(app, job, &format!("rejected {code}")).await;
            JobOutcome::Dropped(format!("provider rejected the message: {code} {message}"))
        }
        // Left unresolved: the redelivery finds out from the provider, never resends blindly.
        Err(SmsError::OutcomeUnknown(e)) => JobOutcome::Retry(format!(
            "provider outcome unknown ({e}): resolved on redelivery"
        )),
    }
}

/// The provider's request for the job.
pub(super) fn outbound(app: &App, account: &Account, job: &SendJob) -> OutboundSms {
    OutboundSms {
        to: job.to.clone(),
        sender: job.sender.clone(),
        body: job.body.clone(),
        media_urls: job.media_urls.clone(),
        status_callback: app
            .settings
            .status_callback_url(&account.id, &job.message_id),
    }
}

/// Everything that follows a send the provider took (now, or found when resolving a lost
/// answer). Each step is idempotent and the attempt is finished last: a crash or a failure
/// on the way leaves it unresolved, and the redelivery, finding the SID, does the rest.
pub(super) async fn sent(app: &App, account: &Account, job: &SendJob, sid: &str) -> JobOutcome {
    if let Err(e) = app
        .store
        .attach_provider_sid(&account.id, &job.to, &job.message_id, sid)
        .await
    {
        return JobOutcome::Retry(format!("sent as {sid}, but cannot attach the SID: {e}"));
    }
    super::log_body(account, &job.message_id, &job.body);
    if let Err(e) = after_sent(app, account, job).await {
        return JobOutcome::Retry(format!("sent as {sid}, but {e}"));
    }
    release_admission(app, &account.id, &job.message_id).await;
    finish_attempt(app, job, &format!("sent as {sid}")).await;
    JobOutcome::Done
}

/// A message stored as queued that will never be sent (a STOP stored at the last moment).
async fn cancel_recorded(app: &App, account: &Account, job: &SendJob) {
    let canceled = app
        .store
        .apply_status_by_id(
            &account.id,
            &job.to,
            &job.message_id,
            MessageStatus::Canceled,
            None,
            app.clock.now(),
        )
        .await;
    if let Err(e) = canceled {
        tracing::warn!(message_id = %job.message_id, error = %e, "could not mark the message canceled");
    }
}

/// A send that may not go: the attempt (if any) says why, the slot is given back and the
/// CRM hears of it (`BlockedNumber` or the failure, then `SendFailed`).
async fn refuse(
    app: &App,
    account: &Account,
    job: &SendJob,
    (goal, why): (StandardGoal, String),
) -> JobOutcome {
    let contact = job.contact_id.as_deref();
    let goals = if goal == StandardGoal::SendFailed {
        vec![(StandardGoal::SendFailed, contact)]
    } else {
        vec![(goal, contact), (StandardGoal::SendFailed, contact)]
    };
    if let Err(e) = queue_standard_goals(app, account, &job.about(), &goals).await {
        // Queued under ids derived from the message: a retry queues each once.
        return JobOutcome::Retry(format!("cannot queue the refusal's goals: {e}"));
    }
    release_admission(app, &account.id, &job.message_id).await;
    JobOutcome::Dropped(format!("not sent: {why}"))
}

/// When a bulk message may go, if the account's quiet hours hold it now.
fn quiet_until(account: &Account, job: &SendJob, now: Timestamp) -> Option<Timestamp> {
    if job.kind != SendKind::Bulk {
        return None;
    }
    account
        .quiet_hours
        .as_ref()?
        .hold_until(&job.to, job.time_zone.as_deref(), now)
}

/// Puts a held message back on the queue until the window opens (or SQS's longest delay,
/// then it is looked at again). Its send slots are given up: it books new ones when it
/// may go, so the sender's calendar is not held empty overnight.
async fn hold(app: &App, job: &SendJob, until: Timestamp) -> Result<(), JobOutcome> {
    let later = SendJob {
        not_before: None,
        send_slot: None,
        ..job.clone()
    };
    requeue(app, &later, app.clock.now().until(until)).await
}

/// Puts `job` back on the send queue, delayed by `delay` (at most the queue's longest delay:
/// a job due later comes back and is put back again).
pub(super) async fn requeue(app: &App, job: &SendJob, delay: Duration) -> Result<(), JobOutcome> {
    let message = OutgoingMessage::job(job, delay.min(crate::ports::queue::MAX_DELAY))
        .map_err(|e| JobOutcome::Retry(format!("cannot serialise the job: {e}")))?;
    app.queue
        .enqueue(QueueName::Send, message)
        .await
        .map(|_| ())
        .map_err(|e| JobOutcome::Retry(format!("cannot put the job back on the queue: {e}")))
}

enum SlotWait {
    SendNow,
    /// Back on the queue until its slot.
    Requeued(Timestamp),
}

/// Which of the sender's two books a reservation is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Book {
    /// The calendar, booked when the job is queued: spreads a backlog over time.
    Calendar,
    /// The sends themselves, booked just before sending: even jobs that reach the worker
    /// late and together (a worker that fell behind) go out no faster than the rate.
    Sends,
}

/// Paces the job, first step: its calendar slot (reserved when the job was queued, else
/// now). A job that comes early waits for it, or goes back to the queue carrying it. A job
/// that already holds a slot among actual sends (it came back from the second step) has
/// passed this step.
async fn wait_for_calendar(
    app: &App,
    account: &Account,
    job: &SendJob,
) -> Result<SlotWait, JobOutcome> {
    if job.send_slot.is_some() {
        return Ok(SlotWait::SendNow);
    }
    let calendar = match job.not_before {
        Some(slot) => slot,
        None => reserve_slot(
            app,
            account,
            &job.sender,
            &job.body,
            app.clock.now(),
            Book::Calendar,
        )
        .await
        .map_err(|e| JobOutcome::Retry(format!("cannot reserve a send slot: {e}")))?,
    };
    wait_or_requeue(app, job, calendar, Book::Calendar).await
}

/// Paces the job, second step, just before the provider call: a slot among the sender's
/// actual sends, which spaces sends that reached the worker late and together (the
/// calendar alone would let them out in a burst).
async fn wait_for_send_slot(
    app: &App,
    account: &Account,
    job: &SendJob,
) -> Result<SlotWait, JobOutcome> {
    let slot = match job.send_slot {
        Some(slot) => slot,
        None => reserve_slot(
            app,
            account,
            &job.sender,
            &job.body,
            app.clock.now(),
            Book::Sends,
        )
        .await
        .map_err(|e| JobOutcome::Retry(format!("cannot reserve a send slot: {e}")))?,
    };
    wait_or_requeue(app, job, slot, Book::Sends).await
}

async fn wait_or_requeue(
    app: &App,
    job: &SendJob,
    slot: Timestamp,
    book: Book,
) -> Result<SlotWait, JobOutcome> {
    let wait = app.clock.now().until(slot);
    if wait <= MAX_WAIT {
        tokio::time::sleep(wait).await;
        return Ok(SlotWait::SendNow);
    }
    let later = match book {
        Book::Calendar => SendJob {
            not_before: Some(slot),
            ..job.clone()
        },
        Book::Sends => SendJob {
            send_slot: Some(slot),
            ..job.clone()
        },
    };
    requeue(app, &later, wait).await?;
    Ok(SlotWait::Requeued(slot))
}

/// Reserves a message's slot in one of its sender's books: its segments at the sender's
/// rate. The send request reserves the calendar slot when it queues the job, so the job
/// waits in the queue (delayed until its slot) rather than in a worker, and another
/// account's message queued after a backlog is not behind it.
async fn reserve_slot(
    app: &App,
    account: &Account,
    sender: &Sender,
    body: &str,
    now: Timestamp,
    book: Book,
) -> crate::ports::StoreResult<Timestamp> {
    let pacing = sender_spec(sender).pacing(account);
    // An MMS without text is one segment.
    let segments = count_segments(body).segments.max(1);
    let cost = send_cost(segments, pacing.segments_per_second);
    let key = match book {
        Book::Calendar => pacing.key,
        Book::Sends => format!("{}#sends", pacing.key),
    };
    app.store.reserve_send_slot(&key, cost, now).await
}

/// The calendar slot of a message about to be queued (see [`reserve_slot`]).
pub(crate) async fn reserve_calendar_slot(
    app: &App,
    account: &Account,
    sender: &Sender,
    body: &str,
    now: Timestamp,
) -> crate::ports::StoreResult<Timestamp> {
    reserve_slot(app, account, sender, body, now, Book::Calendar).await
}

/// The sender as the account's configuration knows it, for its pacing. A stored sender
/// that no longer reads as an alphanumeric id is paced as a Messaging Service (slowest).
fn sender_spec(sender: &Sender) -> SenderSpec {
    match sender {
        Sender::Number(n) => SenderSpec::Number(n.clone()),
        Sender::MessagingService(sid) => SenderSpec::MessagingService(sid.clone()),
        Sender::Alphanumeric(id) => AlphanumericSenderId::parse(id)
            .map(SenderSpec::Alphanumeric)
            .unwrap_or_else(|_| SenderSpec::MessagingService(id.clone())),
    }
}

/// Why the recipient may not get the message now, if so: the goal that tells the CRM, and
/// the reason.
async fn refusal_at_send_time(
    app: &App,
    account: &Account,
    to: &PhoneNumber,
) -> Result<Option<(StandardGoal, String)>, String> {
    let standing = app
        .store
        .phone_standing(&account.id, to)
        .await
        .map_err(|e| format!("cannot read the phone's opt-out and status: {e}"))?;
    if let Some(c) = standing.consent.filter(|c| c.opted_out) {
        return Ok(Some((
            StandardGoal::BlockedNumber,
            format!("recipient opted out ({})", c.source),
        )));
    }
    Ok(match standing.health.status {
        PhoneStatus::Active => None,
        PhoneStatus::Bounced => Some((StandardGoal::SendFailed, "the phone is bounced".into())),
        PhoneStatus::Paused => Some((StandardGoal::SendFailed, "the phone is paused".into())),
    })
}

/// A send the provider refused outright: the message is `failed` with the code, and what
/// that means (goal, phone health, an opt-out on 21610, the delivery event) is set off
/// exactly as a status callback with that code would. The job is not retried, so trouble
/// here is logged (each part is idempotent if run again by hand).
async fn rejected(app: &App, account: &Account, job: &SendJob, code: u32) {
    let failed = app
        .store
        .apply_status_by_id(
            &account.id,
            &job.to,
            &job.message_id,
            MessageStatus::Failed,
            Some(code),
            app.clock.now(),
        )
        .await;
    let message = match failed {
        // Counted once: a redelivered job finds the message already failed.
        Ok(StatusUpdate::Advanced(m)) => {
            crate::metrics::delivery(&account.id, MessageStatus::Failed, Some(code));
            m
        }
        Ok(StatusUpdate::Unchanged(m)) => m,
        Ok(StatusUpdate::UnknownSid) => {
            tracing::error!(message_id = %job.message_id, "rejected message is not on the conversation");
            return;
        }
        Err(e) => {
            tracing::error!(message_id = %job.message_id, error = %e, "could not mark the rejected message failed");
            return;
        }
    };
    if let Err(e) =
        super::status::on_outcome(app, account, &message, MessageStatus::Failed, Some(code)).await
    {
        tracing::error!(message_id = %job.message_id, error = %e, "could not set off what the rejection means");
    }
}

/// The CRM's side of a sent message: `SendManual`/`SendAuto`, and the SMS note, queued
/// under ids derived from the message, so a repeat queues nothing new.
async fn after_sent(app: &App, account: &Account, job: &SendJob) -> Result<(), String> {
    let goal = if job.manual {
        StandardGoal::SendManual
    } else {
        StandardGoal::SendAuto
    };
    queue_standard_goals(
        app,
        account,
        &job.about(),
        &[(goal, job.contact_id.as_deref())],
    )
    .await
    .map_err(|e| format!("cannot queue the sent message's goal: {e}"))?;
    let Some(contact_id) = job.contact_id.clone().filter(|_| account.sms_notes) else {
        return Ok(());
    };
    let user = job.user_id.as_deref().and_then(|id| account.user(id));
    let note = AutomationJob::CreateNote {
        account: account.id.clone(),
        contact_id,
        title: format!("SMS to {}", job.to),
        body: match user {
            Some(user) => format!(
                "{}\n\n(sent by {} from {})",
                job.body,
                user.name,
                job.sender.as_str()
            ),
            None => format!("{}\n\n(sent from {})", job.body, job.sender.as_str()),
        },
        user_id: user.and_then(|u| u.crm_user_id.clone()),
    };
    automation::enqueue_with_id(app, format!("note:{}", job.message_id), note)
        .await
        .map(|_| ())
        .map_err(|e| format!("cannot queue the sent message's CRM note: {e}"))
}

async fn release_admission(app: &App, account: &AccountId, message_id: &str) {
    if let Err(e) = app.store.release_admission(account, message_id).await {
        tracing::warn!(account = %account, message_id, error = %e, "could not release the admission slot");
    }
}

async fn withdraw_attempt(app: &App, job: &SendJob, attempted_at: Timestamp) {
    if let Err(e) = app
        .store
        .withdraw_attempt(&job.message_id, attempted_at)
        .await
    {
        tracing::warn!(message_id = %job.message_id, error = %e, "could not withdraw the send attempt");
    }
}

pub(super) async fn finish_attempt(app: &App, job: &SendJob, outcome: &str) {
    if let Err(e) = app.store.finish_attempt(&job.message_id, outcome).await {
        tracing::warn!(message_id = %job.message_id, error = %e, "could not record the send outcome");
    }
}

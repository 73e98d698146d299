//! Delivering one admitted send: the send worker's job.
//!
//! - **Consent again**: STOP and a bounced or paused phone are checked at send time too.
//! - **Quiet hours**: an account may hold bulk messages outside a daily window in the
//!   recipient's local time; a held message goes back on the queue, never dropped.
//! - **Pacing**: each sender sends at most its rate in segments per second. Each job has a
//!   slot in its sender's calendar (`RateStore::reserve_send_slot`, atomic), reserved when
//!   the send request queues it, and waits in the queue, delayed, until the slot. A job that
//!   comes early (SQS delays stop at 15 minutes) waits up to `pacing::MAX_WAIT` in the worker or
//!   goes back on the queue carrying its slot. A backlog thus sits in the queue, never in
//!   front of another account's message (fairness without a queue per account). Right
//!   before the provider call, the job also books a slot among the sender's actual sends,
//!   so jobs that reach a worker late and together (it fell behind) still go out at the
//!   rate.
//! - **No double send, no loss**: the attempt is recorded right before the provider is
//!   called (nothing in between), in one conditional write against the phone's opt-out
//!   state, so no send recorded after a STOP goes out. A redelivered job whose attempt has
//!   no outcome (the process died in the call) is resolved, never dropped: see
//!   `recovery`.
//! - **Admission**: every path that ends the job gives its admission slot back, exactly
//!   once (the slot is stored under the message id).
//! - After the provider accepts: the message's SID is kept for status callbacks, the CRM
//!   gets `SendManual` or `SendAuto` and, if the account wants it, a note with the SMS.

mod attempt;
mod recovery;

use super::JobOutcome;
use super::pacing::{SlotWait, requeue, wait_for_calendar, wait_for_send_slot};
use crate::app::App;
use crate::domain::consent::{PhoneStatus, SendKind};
use crate::domain::goals::StandardGoal;
use crate::domain::{Account, Direction, MessageRecord, MessageStatus, Timestamp};
use crate::jobs::SendJob;
use crate::ports::{AttemptState, PhoneStanding};
use crate::usecases::release_admission;
use attempt::{SendTimeRefusal, attempt, refuse};

pub async fn deliver(app: &App, job: &SendJob) -> JobOutcome {
    let account = match app.store.account(&job.account).await {
        Ok(Some(a)) => a,
        Ok(None) => {
            release_admission(app.store.as_ref(), &job.account, &job.message_id).await;
            return JobOutcome::Dropped(format!("account {} no longer exists", job.account));
        }
        Err(e) => return JobOutcome::Retry(format!("cannot load account: {e}")),
    };
    // One read: an earlier attempt and the phone's standing (used after the waits below:
    // the opt-out is checked again, atomically, when the attempt is recorded).
    let view = match app
        .store
        .delivery_view(&account.id, &job.to, &job.message_id)
        .await
    {
        Ok(view) => view,
        Err(e) => return JobOutcome::Retry(format!("cannot read the send attempt: {e}")),
    };
    // A job seen before: what became of its attempt decides.
    match view.attempt {
        None => {}
        Some(AttemptState::Finished { outcome, .. }) => {
            release_admission(app.store.as_ref(), &account.id, &job.message_id).await;
            return JobOutcome::Skipped(format!("send already attempted ({outcome})"));
        }
        Some(AttemptState::Unresolved { attempted_at }) => {
            return recovery::resolve(app, &account, job, attempted_at).await;
        }
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
    if let Some(refusal) = refusal_at_send_time(&view.standing) {
        return refuse(app, &account, job, refusal).await;
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

/// The message as stored with its attempt, right before it is sent (a repeat of the same id
/// changes nothing).
pub(super) fn queued_record(account: &Account, job: &SendJob, now: Timestamp) -> MessageRecord {
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
        kind: Some(job.kind),
        contact_id: job.contact_id.clone(),
        created_at: now,
        updated_at: now,
        routing: None,
    }
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

/// Why the recipient may not get the message now, if so.
fn refusal_at_send_time(standing: &PhoneStanding) -> Option<SendTimeRefusal> {
    let refusal = |goal, code, why: String| Some(SendTimeRefusal { goal, code, why });
    if let Some(c) = standing.consent.as_ref().filter(|c| c.opted_out) {
        let why = format!("recipient opted out ({})", c.source);
        return refusal(StandardGoal::BlockedNumber, "opted_out", why);
    }
    match standing.health.status {
        PhoneStatus::Active => None,
        PhoneStatus::Bounced => refusal(
            StandardGoal::SendFailed,
            "phone_bounced",
            "the phone is bounced".into(),
        ),
        PhoneStatus::Paused => refusal(
            StandardGoal::SendFailed,
            "phone_paused",
            "the phone is paused".into(),
        ),
    }
}

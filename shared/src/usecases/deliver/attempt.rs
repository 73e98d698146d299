//! One send attempt: recorded right before the provider call, against the phone's opt-out,
//! and what follows each answer (sent, rejected, unavailable, unknown), including a send
//! refused at send time. Every path that ends the send gives its admission slot back.

use super::queued_record;
use crate::app::App;
use crate::domain::delivery::DeliveryFailure;
use crate::domain::goals::StandardGoal;
use crate::domain::twilio_errors::ErrorClass;
use crate::domain::{Account, MessageRecord, MessageSid, MessageStatus, ProviderCredentials};
use crate::domain::{SmsProviderKind, Timestamp};
use crate::jobs::JobId;
use crate::jobs::{self, AutomationJob, SendJob};
use crate::ports::{AttemptStart, OutboundSms, ProviderAccepted, Recorded, SettledSend};
use crate::ports::{Clock, ConversationStore, SendAttemptStore};
use crate::ports::{SmsError, StatusUpdate};
use crate::usecases::JobOutcome;
use crate::usecases::goals::queue_standard_goals;
use crate::usecases::refusals::record_refusal;
use crate::usecases::release_admission;

/// Why a queued message may not go now: the goal that tells the CRM, the stable code (as a
/// send request's refusal has) and the reason.
pub(super) struct SendTimeRefusal {
    pub goal: StandardGoal,
    pub code: &'static str,
    pub why: String,
}

/// Records the attempt, then calls the provider: nothing that can fail or wait in between,
/// so an attempt on record with no outcome means the process died in the call itself.
/// `replacing` is the unresolved attempt this one repeats (the provider never got it).
/// The message goes on its conversation in the same write as the attempt, so whatever
/// finds the attempt (a redelivery, a status callback naming the message) finds it too.
pub(super) async fn attempt(
    app: &App,
    account: &Account,
    job: &SendJob,
    replacing: Option<Timestamp>,
) -> JobOutcome {
    let credentials = match credentials(app, account, job).await {
        Ok(credentials) => credentials,
        Err(outcome) => return outcome,
    };
    let attempted_at = app.clock.now();
    let begun = app
        .store
        .begin_send(
            &queued_record(account, job, attempted_at),
            replacing,
            attempted_at,
        )
        .await;
    match begun {
        Ok(AttemptStart::Begun) => {}
        Ok(AttemptStart::OptedOut) => return stopped(app, account, job, replacing).await,
        Ok(AttemptStart::Earlier(earlier)) => {
            // A concurrent copy of the job holds it; its own redelivery resolves it.
            return JobOutcome::Skipped(format!("send already attempted ({earlier:?})"));
        }
        Err(e) => return JobOutcome::Retry(format!("cannot record the attempt: {e}")),
    }
    let answer = (app.sms)
        .send(credentials, &outbound(app, account, job))
        .await;
    answered(app, account, job, attempted_at, answer).await
}

/// What follows the provider's answer to the attempt made at `attempted_at`.
async fn answered(
    app: &App,
    account: &Account,
    job: &SendJob,
    attempted_at: Timestamp,
    answer: Result<ProviderAccepted, SmsError>,
) -> JobOutcome {
    match answer {
        Ok(accepted) => {
            crate::metrics::count(&account.id, crate::metrics::Metric::Sent);
            sent(app, account, job, &accepted.sid).await
        }
        Err(SmsError::RateLimited { code, .. }) => {
            withdraw_attempt(app.store.as_ref(), job, attempted_at).await;
            JobOutcome::Retry(format!("provider rate limited ({code})"))
        }
        Err(SmsError::Unavailable(e)) => {
            withdraw_attempt(app.store.as_ref(), job, attempted_at).await;
            JobOutcome::Retry(format!("provider unavailable: {e}"))
        }
        Err(SmsError::Rejected {
            code,
            class,
            message,
            ..
        }) => {
            let failure = DeliveryFailure {
                code: Some(code),
                class,
            };
            refused_by_provider(app, account, job, failure, &message).await
        }
        // Left unresolved: the redelivery finds out from the provider, never resends blindly.
        Err(SmsError::OutcomeUnknown(e)) => JobOutcome::Retry(format!(
            "provider outcome unknown ({e}): resolved on redelivery"
        )),
    }
}

/// A send the provider refused for good: what it means is set off, the slot given back
/// and the send's end recorded; the job's outcome names the class.
async fn refused_by_provider(
    app: &App,
    account: &Account,
    job: &SendJob,
    failure: DeliveryFailure,
    message: &str,
) -> JobOutcome {
    rejected(app, account, job, failure).await;
    let code = failure.code.unwrap_or_default();
    let outcome = format!("rejected {code}");
    if let Err(e) = app
        .store
        .settle_send(&settled(account, job, None, &outcome))
        .await
    {
        tracing::warn!(message_id = %job.message_id, error = %e, "could not give the slot back and record the send outcome");
    }
    carrier_rejection(code, failure.class, message)
}

/// The credentials of the provider the job's sender goes through. Configuration makes
/// sure an account has them; a job left from before a change that took them away is
/// dropped (its admission slot given back) rather than sent elsewhere.
pub(super) async fn credentials<'a>(
    app: &App,
    account: &'a Account,
    job: &SendJob,
) -> Result<ProviderCredentials<'a>, JobOutcome> {
    let provider: SmsProviderKind = account.provider_of(job.sender.number());
    if let Some(credentials) = account.credentials(provider) {
        return Ok(credentials);
    }
    release_admission(app.store.as_ref(), &account.id, &job.message_id).await;
    Err(JobOutcome::Dropped(format!(
        "account {} has no {provider} credentials for sender {}",
        account.id,
        job.sender.as_str()
    )))
}

/// The outcome of a send the carrier rejected: a routine refusal of the recipient's (not a
/// mobile, opted out) is `Refused`, anything else `Dropped`; both name the error's class.
fn carrier_rejection(code: u32, class: ErrorClass, message: &str) -> JobOutcome {
    let why = format!(
        "provider rejected the message: {code} {message} (class {})",
        class.as_str()
    );
    if class.is_routine_refusal() {
        JobOutcome::Refused(why)
    } else {
        JobOutcome::Dropped(why)
    }
}

/// A STOP stored before the attempt could be: the message is canceled, the CRM told. The
/// attempt this one replaced is settled once the refusal's goals are queued (a retry of the
/// refusal still finds it unresolved).
async fn stopped(
    app: &App,
    account: &Account,
    job: &SendJob,
    replacing: Option<Timestamp>,
) -> JobOutcome {
    cancel_recorded(app.clock.as_ref(), app.store.as_ref(), account, job).await;
    let refusal = SendTimeRefusal {
        goal: StandardGoal::BlockedNumber,
        code: "opted_out",
        why: "recipient opted out".to_string(),
    };
    let outcome = refuse(app, account, job, refusal).await;
    if replacing.is_some() && !outcome.should_retry() {
        finish_attempt(app.store.as_ref(), job, "not sent: recipient opted out").await;
    }
    outcome
}

/// The provider's request for the job.
pub(super) fn outbound(app: &App, account: &Account, job: &SendJob) -> OutboundSms {
    OutboundSms {
        to: job.to.clone(),
        sender: job.sender.clone(),
        body: job.body.clone(),
        media_urls: job.media_urls.clone(),
        status_callback: match account.provider_of(job.sender.number()) {
            SmsProviderKind::Twilio => {
                (app.settings).status_callback_url(&account.id, &job.message_id)
            }
            SmsProviderKind::Instasent => instasent_callback_url(&app.settings, account),
        },
        client_id: Some(job.message_id.to_string()),
    }
}

/// The account's Instasent callback URL: set once in Instasent's dashboard, not sent with
/// each message; the sandbox carrier posts its delivery reports there.
fn instasent_callback_url(settings: &crate::app::AppSettings, account: &Account) -> Option<String> {
    let secret = account.instasent.as_ref()?.callback_secret.as_ref()?;
    settings.instasent_callback_url(&account.id, secret.expose())
}

/// Everything that follows a send the provider took (now, or found when resolving a lost
/// answer): the follow-up jobs, then one write of the SID, the admission slot given back
/// and the attempt finished. Each step is idempotent and the attempt is finished last: a
/// crash on the way leaves it unresolved, and the redelivery finds the message at the
/// provider (`recovery.rs`) and does the rest. A failure on the way attaches the SID
/// first, so the redelivery needs not ask the provider.
pub(super) async fn sent(
    app: &App,
    account: &Account,
    job: &SendJob,
    sid: &MessageSid,
) -> JobOutcome {
    crate::usecases::log_body(account, &job.message_id, &job.body);
    if let Err(e) = after_sent(app, account, job).await {
        keep_sid(app, account, job, sid).await;
        return JobOutcome::Retry(format!("sent as {sid}, but {e}"));
    }
    let outcome = format!("sent as {sid}");
    if let Err(e) = app
        .store
        .settle_send(&settled(account, job, Some(sid), &outcome))
        .await
    {
        keep_sid(app, account, job, sid).await;
        return JobOutcome::Retry(format!("sent as {sid}, but cannot record it: {e}"));
    }
    JobOutcome::Done
}

/// The end of a send as [`crate::ports::SendPathStore::settle_send`] writes it.
fn settled<'a>(
    account: &'a Account,
    job: &'a SendJob,
    provider_sid: Option<&'a MessageSid>,
    outcome: &'a str,
) -> SettledSend<'a> {
    SettledSend {
        account: &account.id,
        phone: &job.to,
        message_id: &job.message_id,
        provider_sid,
        outcome,
    }
}

/// Attaches the SID of a send whose end could not be recorded, so its redelivery knows it
/// was sent without asking the provider (best effort: else the provider is asked).
async fn keep_sid(app: &App, account: &Account, job: &SendJob, sid: &MessageSid) {
    let attached = app
        .store
        .attach_provider_sid(&account.id, &job.to, &job.message_id, sid)
        .await;
    if let Err(e) = attached {
        tracing::warn!(message_id = %job.message_id, error = %e, "could not attach the SID of a sent message");
    }
}

/// A message that will never be sent (a STOP stored at the last moment) goes on its
/// conversation as canceled: stored so, or changed so if an earlier attempt stored it.
async fn cancel_recorded(
    clock: &dyn Clock,
    conversations: &dyn ConversationStore,
    account: &Account,
    job: &SendJob,
) {
    let now = clock.now();
    let message = MessageRecord {
        status: MessageStatus::Canceled,
        ..queued_record(account, job, now)
    };
    let canceled = match conversations.record_message(&message).await {
        Ok(Recorded::New) => Ok(()),
        Ok(Recorded::Duplicate) => conversations
            .apply_status_by_id(
                &account.id,
                &job.to,
                &job.message_id,
                MessageStatus::Canceled,
                None,
                now,
            )
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    };
    if let Err(e) = canceled {
        tracing::warn!(message_id = %job.message_id, error = %e, "could not mark the message canceled");
    }
}

/// A send that may not go: the attempt (if any) says why, the slot is given back and the
/// CRM hears of it (`BlockedNumber` or the failure, then `SendFailed`).
pub(super) async fn refuse(
    app: &App,
    account: &Account,
    job: &SendJob,
    refusal: SendTimeRefusal,
) -> JobOutcome {
    let contact = job.contact_id.as_ref();
    let goal = refusal.goal;
    let goals = if goal == StandardGoal::SendFailed {
        vec![(StandardGoal::SendFailed, contact)]
    } else {
        vec![(goal, contact), (StandardGoal::SendFailed, contact)]
    };
    if let Err(e) = queue_standard_goals(app, account, &job.about(), &goals).await {
        // Queued under ids derived from the message: a retry queues each once.
        return JobOutcome::Retry(format!("cannot queue the refusal's goals: {e}"));
    }
    let reason = (refusal.code, refusal.why.as_str());
    let (log, now) = (app.store.as_ref(), app.clock.now());
    if let Err(e) = record_refusal(log, &account.id, &job.to, &job.message_id, reason, now).await {
        return JobOutcome::Retry(e.0);
    }
    release_admission(app.store.as_ref(), &account.id, &job.message_id).await;
    JobOutcome::Refused(format!("not sent: {}", refusal.why))
}

/// A send the provider refused outright: the message is `failed` with the code, and what
/// that means (goal, phone health, an opt-out on 21610, the delivery event) is set off
/// exactly as a status callback with that failure would. The job is not retried, so
/// trouble here is logged (each part is idempotent if run again by hand).
async fn rejected(app: &App, account: &Account, job: &SendJob, failure: DeliveryFailure) {
    let failed = app
        .store
        .apply_status_by_id(
            &account.id,
            &job.to,
            &job.message_id,
            MessageStatus::Failed,
            failure.code,
            app.clock.now(),
        )
        .await;
    let message = match failed {
        // Counted once: a redelivered job finds the message already failed.
        Ok(StatusUpdate::Advanced(m)) => {
            crate::metrics::delivery(&account.id, MessageStatus::Failed, Some(failure.class));
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
    if let Err(e) = crate::usecases::status::on_outcome(
        app,
        account,
        &message,
        MessageStatus::Failed,
        Some(failure),
    )
    .await
    {
        tracing::error!(message_id = %job.message_id, error = %e, "could not set off what the rejection means");
    }
}

/// The CRM's side of a sent message: `SendManual`/`SendAuto`, and the SMS note, queued
/// under ids derived from the message, so a repeat queues nothing new. A sequence's
/// message gets no SMS note of its own: the sequence's note holds its conversation (one
/// note per conversation, not two per message).
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
        &[(goal, job.contact_id.as_ref())],
    )
    .await
    .map_err(|e| format!("cannot queue the sent message's goal: {e}"))?;
    let noted = account.sms_notes && job.sequence.is_none();
    let Some(contact_id) = job.contact_id.clone().filter(|_| noted) else {
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
    jobs::enqueue_with_id(app, JobId::sms_note(&job.message_id), note)
        .await
        .map(|_| ())
        .map_err(|e| format!("cannot queue the sent message's CRM note: {e}"))
}

async fn withdraw_attempt(attempts: &dyn SendAttemptStore, job: &SendJob, attempted_at: Timestamp) {
    if let Err(e) = attempts
        .withdraw_attempt(&job.message_id, attempted_at)
        .await
    {
        tracing::warn!(message_id = %job.message_id, error = %e, "could not withdraw the send attempt");
    }
}

async fn finish_attempt(attempts: &dyn SendAttemptStore, job: &SendJob, outcome: &str) {
    if let Err(e) = attempts.finish_attempt(&job.message_id, outcome).await {
        tracing::warn!(message_id = %job.message_id, error = %e, "could not record the send outcome");
    }
}

#[cfg(test)]
mod tests {
    use super::{JobOutcome, carrier_rejection};
    use crate::domain::twilio_errors::classify_error_code;

    #[test]
    fn a_routine_carrier_refusal_is_refused_and_a_fault_dropped() {
        // (Twilio code, refused (a warning) rather than dropped (an error), class named)
        let cases = [
            (21610, true, "opted_out"),
            (21614, true, "not_sms_capable"),
            (30006, true, "not_sms_capable"),
            (21211, true, "invalid_number"),
            (30007, false, "spam_filtered"),
            (30004, false, "blocked"),
            (20003, false, "other"),
        ];
        for (code, refused, class) in cases {
            let outcome = carrier_rejection(code, classify_error_code(code), "the carrier said no");
            let why = match &outcome {
                JobOutcome::Refused(why) if refused => why,
                JobOutcome::Dropped(why) if !refused => why,
                other => panic!("{code}: {other:?}"),
            };
            assert!(
                why.contains(&format!("{code} the carrier said no (class {class})")),
                "{why}"
            );
        }
    }
}

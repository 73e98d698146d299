//! Delivering one admitted send: the send worker's job. The attempt is recorded before the
//! provider is called, so a redelivered job whose outcome is unknown is never resent
//! blindly. (Pacing, consent states and CRM goals of issue #4 build on this.)

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::JobOutcome;
use crate::app::App;
use crate::domain::{AccountId, Direction, MessageRecord, MessageStatus, PhoneNumber};
use crate::ports::{Claim, OutboundSms, Recorded, Sender, SmsError};

/// How long a send attempt is remembered (longer than any SQS redelivery).
const ATTEMPT_WINDOW: Duration = Duration::from_secs(14 * 24 * 3600);

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
    pub user_id: Option<String>,
    pub campaign: Option<String>,
}

pub async fn deliver(app: &App, job: &SendJob) -> JobOutcome {
    let account = match app.store.account(&job.account).await {
        Ok(Some(a)) => a,
        Ok(None) => {
            return JobOutcome::Dropped(format!("account {} no longer exists", job.account));
        }
        Err(e) => return JobOutcome::Retry(format!("cannot load account: {e}")),
    };
    // STOP wins, checked again at send time.
    match app.store.consent(&account.id, &job.to).await {
        Ok(Some(c)) if c.opted_out => {
            release_admission(app, &account.id).await;
            return JobOutcome::Dropped(format!("recipient opted out ({})", c.source));
        }
        Ok(_) => {}
        Err(e) => return JobOutcome::Retry(format!("cannot read consent: {e}")),
    }
    let attempt_key = format!("send:{}", job.message_id);
    let now = app.clock.now();
    match app.store.claim(&attempt_key, ATTEMPT_WINDOW, now).await {
        Ok(Claim::New) => {}
        Ok(Claim::Existing(record)) => {
            return JobOutcome::Skipped(format!(
                "send already attempted ({})",
                record
                    .response
                    .as_deref()
                    .unwrap_or("outcome unknown: not resent")
            ));
        }
        Err(e) => return JobOutcome::Retry(format!("cannot record the attempt: {e}")),
    }
    let record = MessageRecord {
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
        created_at: now,
        updated_at: now,
        contact_id: None,
        routing: None,
    };
    match app.store.record_message(&record).await {
        Ok(Recorded::New | Recorded::Duplicate) => {}
        Err(e) => {
            release_attempt(app, &attempt_key).await;
            return JobOutcome::Retry(format!("cannot record the message: {e}"));
        }
    }
    let sms = OutboundSms {
        to: job.to.clone(),
        sender: job.sender.clone(),
        body: job.body.clone(),
        media_urls: job.media_urls.clone(),
        status_callback: app
            .settings
            .status_callback_url(&account.id, &job.message_id),
    };
    let outcome = match app.sms.send(&account.twilio, &sms).await {
        Ok(accepted) => {
            if let Err(e) = app
                .store
                .attach_provider_sid(&account.id, &job.to, &job.message_id, &accepted.sid)
                .await
            {
                // The message went out; only the bookkeeping failed. Never resend.
                tracing::error!(message_id = %job.message_id, error = %e, "sent, but could not attach the provider SID");
            }
            complete_attempt(app, &attempt_key, &format!("sent as {}", accepted.sid)).await;
            JobOutcome::Done
        }
        Err(SmsError::RateLimited { code, .. }) => {
            release_attempt(app, &attempt_key).await;
            return JobOutcome::Retry(format!("provider rate limited ({code})"));
        }
        Err(SmsError::Unavailable(e)) => {
            release_attempt(app, &attempt_key).await;
            return JobOutcome::Retry(format!("provider unavailable: {e}"));
        }
        Err(SmsError::Rejected { code, message, .. }) => {
            complete_attempt(app, &attempt_key, &format!("rejected {code}")).await;
            JobOutcome::Dropped(format!("provider rejected the message: {code} {message}"))
        }
        Err(SmsError::OutcomeUnknown(e)) => {
            complete_attempt(app, &attempt_key, "outcome unknown: not resent").await;
            JobOutcome::Dropped(format!("provider outcome unknown, not resent: {e}"))
        }
    };
    release_admission(app, &account.id).await;
    outcome
}

async fn release_admission(app: &App, account: &AccountId) {
    if let Err(e) = app.store.release_admission(account).await {
        tracing::warn!(account = %account, error = %e, "could not release the admission slot");
    }
}

async fn release_attempt(app: &App, key: &str) {
    if let Err(e) = app.store.release(key).await {
        tracing::warn!(key, error = %e, "could not release the send attempt");
    }
}

async fn complete_attempt(app: &App, key: &str, response: &str) {
    if let Err(e) = app.store.complete(key, response).await {
        tracing::warn!(key, error = %e, "could not record the send outcome");
    }
}

//! Delivery status: Twilio's status callbacks, and the same mapping for a send's
//! immediate provider rejection.
//!
//! The callback finds the account (by the `account=` the send worker put in the callback
//! URL, else by the message's SID), checks Twilio's signature with that account's auth
//! token, and applies the status forward-only (the store keeps the order and the first
//! error code). A status that is the message's status now (it just advanced, or this is a
//! repeat of the callback that advanced it) sets off what [`classify_delivery`] says: an
//! opt-out recorded at once, the phone's health, a CRM goal and a delivery event, queued.
//! An out-of-order callback (`sent` after `delivered`) sets off nothing, so duplicated and
//! reordered callbacks converge; so does one after an end (`read` after a failure, a late
//! failure after `delivered`: see [`MessageStatus::advances_to`]).
//!
//! Everything set off is idempotent per message, so a repeat completes what a failed
//! attempt left undone and repeats nothing: jobs have ids derived from our message id and
//! the goal or event (the automation worker runs a job id once); the opt-out is dated by
//! the time the status was first stored; a phone event is recorded once per message (an
//! idempotency claim: a repeated old `delivered` must not clear failures counted since).
//! Job ids use our message id rather than the SID because an immediate rejection has no
//! SID, and one message's goal must not fire twice whichever path reports it.

use std::time::Duration;

pub mod instasent;

use super::JobOutcome;
use super::{MissingField, WebhookRequest};
use crate::app::App;
use crate::domain::consent::PhoneEvent;
use crate::domain::delivery::{DeliveryEvent, DeliveryFailure, DeliveryOutcome, classify_delivery};
use crate::domain::goals::{GoalName, StandardGoal};
use crate::domain::twilio_errors::ErrorClass;
use crate::domain::{Account, AccountId, MessageRecord, MessageStatus, PhoneNumber, Timestamp};
use crate::domain::{ContactId, IdempotencyKey, MessageId, MessageSid};
use crate::jobs::JobId;
use crate::jobs::{self, AutomationJob, GoalSubject, goal_job};
use crate::ports::{AccountStore, Clock, ConsentStore, ConversationStore, EventPublisher};
use crate::ports::{Claim, ClaimTerms, ConsentRecord, EventError, StatusUpdate, StoreError};

/// How long a counted hard failure is remembered against repeats of its callback.
const PHONE_EVENT_DEDUPE: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("{0}")]
    Invalid(String),
    #[error("no account {0}")]
    UnknownAccount(String),
    #[error("no message {0}")]
    UnknownMessage(String),
    #[error("the X-Twilio-Signature header is missing or does not match")]
    BadSignature,
    /// Instasent's callback URL names no Instasent account with that secret.
    #[error("the callback URL's account and secret do not match")]
    BadSecret,
    /// The report's message is still being sent: the provider should report again.
    #[error("{0}")]
    NotYet(String),
    #[error("{0}")]
    Backend(String),
}

impl From<MissingField> for StatusError {
    fn from(missing: MissingField) -> Self {
        StatusError::Invalid(missing.to_string())
    }
}

fn backend(what: &str, e: &dyn std::fmt::Display) -> StatusError {
    StatusError::Backend(format!("{what}: {e}"))
}

/// What a callback did, for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackOutcome {
    /// The message is now at this status; these are what it set off.
    Applied {
        status: MessageStatus,
        outcome: DeliveryOutcome,
    },
    /// Not progress: an older status arriving late. Nothing set off.
    Stale { current: MessageStatus },
    /// A status this version does not know (Twilio adds some): acknowledged, ignored.
    UnknownStatus(String),
}

/// `account=` and `message=` from the callback URL's query string.
fn url_hints(url: &str) -> (Option<String>, Option<String>) {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.clone())
    };
    (get("account"), get("message"))
}

/// The status callback: verify, apply, set off (see the module documentation).
pub async fn receive(app: &App, request: &WebhookRequest) -> Result<CallbackOutcome, StatusError> {
    let sid = &MessageSid::new(request.required("MessageSid")?);
    let (account, by_sid) =
        callback_account(app.store.as_ref(), app.store.as_ref(), request, sid).await?;
    let raw_status = request.required("MessageStatus")?;
    let Ok(status) = raw_status.parse::<MessageStatus>() else {
        tracing::warn!(account = %account.id, status = raw_status, "unknown message status ignored");
        return Ok(CallbackOutcome::UnknownStatus(raw_status.to_string()));
    };
    let error_code = request
        .non_empty("ErrorCode")
        .map(|code| {
            code.parse::<u32>()
                .map_err(|_| StatusError::Invalid(format!("ErrorCode '{code}' is not a number")))
        })
        .transpose()?;
    if by_sid.is_none() {
        attach_sid_from_url(app.store.as_ref(), request, &account, sid).await?;
    }
    let message = match applied(
        app.clock.as_ref(),
        app.store.as_ref(),
        &account,
        sid,
        by_sid.as_ref(),
        status,
        error_code.map(DeliveryFailure::twilio),
    )
    .await?
    {
        Ok(message) => message,
        Err(stale) => return Ok(stale),
    };
    // The first error code is the message's; a later one never replaces it.
    let code = message.error_code.or(error_code);
    // Dated by when the status was first stored, so repeats carry the same date.
    let at = message.updated_at;
    let failure = code.map(DeliveryFailure::twilio);
    let outcome = set_off(app, &account, &message, status, failure, at).await?;
    log_applied(
        &account.id,
        &message.id,
        &message.contact_phone,
        status,
        code,
        outcome.goal,
    );
    Ok(CallbackOutcome::Applied { status, outcome })
}

/// Logs an applied status with plain values; a field with none is left out (an `Option`
/// field records only its `Some`).
pub(super) fn log_applied(
    account: &AccountId,
    message_id: &MessageId,
    to: &PhoneNumber,
    status: MessageStatus,
    error_code: Option<u32>,
    goal: Option<StandardGoal>,
) {
    tracing::info!(
        account = %account,
        message_id = %message_id,
        to = %to.masked(),
        %status,
        error_code,
        goal = goal.map(StandardGoal::call_name),
        "delivery status applied"
    );
}

/// The account the callback is for (named in the URL, else the stored message's), once
/// its auth token checks Twilio's signature; and the message the SID already names.
async fn callback_account(
    accounts: &dyn AccountStore,
    conversations: &dyn ConversationStore,
    request: &WebhookRequest,
    sid: &MessageSid,
) -> Result<(Account, Option<MessageRecord>), StatusError> {
    let (account_hint, _) = url_hints(&request.url);
    let by_sid = conversations
        .message_by_sid(sid)
        .await
        .map_err(|e| backend("message lookup", &e))?;
    let account_id = match (&account_hint, &by_sid) {
        (Some(id), _) => {
            AccountId::parse(id).map_err(|_| StatusError::UnknownAccount(id.clone()))?
        }
        (None, Some(message)) => message.account.clone(),
        (None, None) => return Err(StatusError::UnknownMessage(sid.to_string())),
    };
    let account = accounts
        .account(&account_id)
        .await
        .map_err(|e| backend("account lookup", &e))?
        .ok_or_else(|| StatusError::UnknownAccount(account_id.to_string()))?;
    let token = account.twilio.as_ref().map(|t| t.auth_token.expose());
    if !token.is_some_and(|token| request.signed_with(token)) {
        return Err(StatusError::BadSignature);
    }
    // A SID is only ever this account's business: another account's token cannot move it.
    if by_sid.as_ref().is_some_and(|m| m.account != account.id) {
        return Err(StatusError::UnknownMessage(sid.to_string()));
    }
    Ok((account, by_sid))
}

/// The callback beat the send worker's SID bookkeeping (or the worker died before it):
/// attaches the SID to the message the URL names.
async fn attach_sid_from_url(
    conversations: &dyn ConversationStore,
    request: &WebhookRequest,
    account: &Account,
    sid: &MessageSid,
) -> Result<(), StatusError> {
    let (_, message_hint) = url_hints(&request.url);
    let message_id = message_hint
        .map(MessageId::new)
        .ok_or_else(|| StatusError::UnknownMessage(sid.to_string()))?;
    let to = PhoneNumber::trusted_e164(request.required("To")?)
        .map_err(|e| StatusError::Invalid(format!("To: {e}")))?;
    match conversations
        .attach_provider_sid(&account.id, &to, &message_id, sid)
        .await
    {
        Ok(()) => Ok(()),
        Err(StoreError::NotFound(_)) => Err(StatusError::UnknownMessage(message_id.to_string())),
        Err(e) => Err(backend("attach SID", &e)),
    }
}

/// Applies the status forward-only: the message it moved (or whose move this repeats, to
/// complete its effects), or the answer for a status that came too late. A message already
/// found by its SID is addressed by its key, which saves reading the SID's pointer again.
async fn applied(
    clock: &dyn Clock,
    conversations: &dyn ConversationStore,
    account: &Account,
    sid: &MessageSid,
    found: Option<&MessageRecord>,
    status: MessageStatus,
    failure: Option<DeliveryFailure>,
) -> Result<Result<MessageRecord, CallbackOutcome>, StatusError> {
    let now = clock.now();
    let error_code = failure.and_then(|f| f.code);
    let update = match found {
        Some(message) => {
            conversations
                .apply_status_by_id(
                    &message.account,
                    &message.contact_phone,
                    &message.id,
                    status,
                    error_code,
                    now,
                )
                .await
        }
        None => {
            conversations
                .apply_status(sid, status, error_code, now)
                .await
        }
    }
    .map_err(|e| backend("apply status", &e))?;
    Ok(match update {
        StatusUpdate::Advanced(message) => {
            crate::metrics::delivery(&account.id, status, failure.map(|f| f.class));
            Ok(message)
        }
        StatusUpdate::Unchanged(message) if message.status == status => Ok(message),
        StatusUpdate::Unchanged(message) => Err(CallbackOutcome::Stale {
            current: message.status,
        }),
        StatusUpdate::UnknownSid => {
            return Err(StatusError::Backend(format!("message {sid} vanished")));
        }
    })
}

/// For the send worker: what a send's immediate outcome (a provider rejection with its
/// failure, or acceptance as `queued`) sets off, mapped exactly as a status callback
/// would be. It does not change the stored message's status nor count it (the worker owns
/// both); it fires the goal, records the phone event and an opt-out, and queues the
/// delivery event, each idempotent per message, so calling it again for the same message
/// and status repeats nothing.
pub async fn on_outcome(
    app: &App,
    account: &Account,
    message: &MessageRecord,
    status: MessageStatus,
    failure: Option<DeliveryFailure>,
) -> Result<DeliveryOutcome, StatusError> {
    set_off(app, account, message, status, failure, app.clock.now()).await
}

/// Sets off everything `status` means for `message` (its opt-out first: STOP wins).
async fn set_off(
    app: &App,
    account: &Account,
    message: &MessageRecord,
    status: MessageStatus,
    failure: Option<DeliveryFailure>,
    at: Timestamp,
) -> Result<DeliveryOutcome, StatusError> {
    let outcome = classify_delivery(status, failure);
    if outcome.record_opt_out {
        let source = opt_out_source(failure, message);
        record_carrier_opt_out(app.store.as_ref(), account, message, source, at).await?;
    }
    if let Some(event) = outcome.phone_event {
        record_phone_event(app, account, message, event).await?;
    }
    if failure.is_some_and(|f| not_a_mobile(f.class)) {
        end_run_of_non_mobile(app, account, message).await?;
    }
    if let (Some(goal), Some(contact_id)) = (outcome.goal, &message.contact_id) {
        queue_delivery_goal(app, account, message, contact_id, goal).await?;
    }
    if let (Some(event_type), Some(_)) = (outcome.event, &account.event_webhook) {
        let event = DeliveryEvent::new(event_type, message, status, failure, at);
        let job = AutomationJob::PostEvent {
            account: account.id.clone(),
            event,
        };
        let job_id = JobId::delivery_event(&message.id, event_type);
        jobs::enqueue_with_id(app, job_id, job)
            .await
            .map_err(|e| backend("queue event", &e))?;
    }
    Ok(outcome)
}

/// Where a carrier's opt-out came from, for the consent record: `Twilio 21610 on message
/// SM…` (only Twilio's refusals are classed as opt-outs; Instasent's `stop` is recorded by
/// its callback, `usecases/instasent_status.rs`).
fn opt_out_source(failure: Option<DeliveryFailure>, message: &MessageRecord) -> String {
    let on_message = message
        .provider_sid
        .as_ref()
        .map_or(message.id.as_str(), MessageSid::as_str);
    match failure.and_then(|f| f.code) {
        Some(code) => format!("Twilio {code} on message {on_message}"),
        None => format!("carrier opt-out on message {on_message}"),
    }
}

/// The carrier says the contact opted out (Twilio 21610): no later send may go.
async fn record_carrier_opt_out(
    consent: &dyn ConsentStore,
    account: &Account,
    message: &MessageRecord,
    source: String,
    at: Timestamp,
) -> Result<(), StatusError> {
    let record = ConsentRecord {
        opted_out: true,
        changed_at: at,
        source,
    };
    consent
        .set_consent(&account.id, &message.contact_phone, &record)
        .await
        .map(|_| ())
        .map_err(|e| backend("record opt-out", &e))
}

fn not_a_mobile(class: ErrorClass) -> bool {
    matches!(class, ErrorClass::InvalidNumber | ErrorClass::NotSmsCapable)
}

/// A number that cannot take SMS ends the contact's sequence run (with its tag).
async fn end_run_of_non_mobile(
    app: &App,
    account: &Account,
    message: &MessageRecord,
) -> Result<(), StatusError> {
    let ended = super::sequence::on_invalid_number(
        app,
        account,
        &message.contact_phone,
        message.id.as_str(),
    )
    .await
    .map_err(|e| backend("end the sequence run", &e))?;
    if let Some(sequence) = ended {
        tracing::info!(account = %account.id, to = %message.contact_phone.masked(), sequence, "sequence run ended: not a valid mobile number");
    }
    Ok(())
}

async fn queue_delivery_goal(
    app: &App,
    account: &Account,
    message: &MessageRecord,
    contact_id: &ContactId,
    goal: StandardGoal,
) -> Result<(), StatusError> {
    let call_name = GoalName::from(goal);
    let about = GoalSubject {
        phone: message.contact_phone.clone(),
        message_id: message.id.clone(),
    };
    let job_id = JobId::delivery_goal(&message.id, &call_name);
    let job = goal_job(&account.id, contact_id, &call_name, &about);
    jobs::enqueue_with_id(app, job_id, job)
        .await
        .map(|_| ())
        .map_err(|e| backend("queue goal", &e))
}

/// Records a phone event once per message and kind of event (a claim), so neither a
/// repeated callback nor the same message reported by two paths counts twice.
async fn record_phone_event(
    app: &App,
    account: &Account,
    message: &MessageRecord,
    event: PhoneEvent,
) -> Result<(), StatusError> {
    let kind = match event {
        PhoneEvent::HardFailure => "hard_failure",
        PhoneEvent::Delivered => "delivered",
        PhoneEvent::InboundText => "inbound_text",
        PhoneEvent::OperatorSet(_) => "operator_set",
    };
    let key = IdempotencyKey::phone_event(&message.id, kind);
    match app
        .store
        .claim(
            &key,
            ClaimTerms {
                keep: PHONE_EVENT_DEDUPE,
                lease: app.settings.leases.request,
            },
            app.clock.now(),
        )
        .await
        .map_err(|e| backend("claim phone event", &e))?
    {
        Claim::New { .. } => {}
        Claim::Existing(_) => return Ok(()),
    }
    let recorded = app
        .store
        .record_phone_event(
            &account.id,
            &message.contact_phone,
            event,
            account.bounce_policy,
        )
        .await;
    match recorded {
        Ok(health) => {
            if let Err(e) = app.store.complete(&key, health.status.as_str()).await {
                tracing::warn!(key = %key, error = %e, "could not record the phone event's outcome");
            }
            Ok(())
        }
        Err(e) => {
            // Give the claim back so a repeat of the callback can record it.
            if let Err(release) = app.store.release(&key).await {
                tracing::warn!(key = %key, error = %release, "could not release the phone event claim");
            }
            Err(backend("phone health", &e))
        }
    }
}

/// The automation job that posts one delivery event to the account's event webhook.
/// Receiver trouble (timeouts, 5xx, 429) retries; any other refusal drops the event.
pub async fn post_event(
    events: &dyn EventPublisher,
    accounts: &dyn AccountStore,
    account_id: &AccountId,
    event: &DeliveryEvent,
) -> JobOutcome {
    let account = match accounts.account(account_id).await {
        Ok(Some(account)) => account,
        Ok(None) => return JobOutcome::Dropped(format!("account {account_id} no longer exists")),
        Err(e) => return JobOutcome::Retry(format!("cannot load account {account_id}: {e}")),
    };
    let Some(webhook) = &account.event_webhook else {
        return JobOutcome::Skipped(format!("account {account_id} has no event webhook now"));
    };
    match events.publish(webhook, event).await {
        Ok(()) => JobOutcome::Done,
        Err(e @ EventError::Unavailable(_)) => JobOutcome::Retry(e.to_string()),
        Err(e @ EventError::Rejected(_)) => JobOutcome::Dropped(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_come_from_the_query_string() {
        let cases = [
            (
                "https://sms.example.com/twilio/status?account=acme&message=01J2",
                (Some("acme"), Some("01J2")),
            ),
            (
                "https://sms.example.com/twilio/status?message=01J2",
                (None, Some("01J2")),
            ),
            (
                "https://sms.example.com/twilio/status?account=&message=",
                (None, None),
            ),
            ("https://sms.example.com/twilio/status", (None, None)),
        ];
        for (url, (account, message)) in cases {
            let (a, m) = url_hints(url);
            assert_eq!((a.as_deref(), m.as_deref()), (account, message), "{url}");
        }
    }
}

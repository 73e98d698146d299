//! Instasent's delivery reports (`POST /instasent/callback/{account}/{secret}`): the same
//! use case as Twilio's status callbacks, only the parsing and the authentication differ.
//!
//! Instasent signs nothing, so the URL carries the account's callback secret, compared in
//! constant time; a wrong or missing one is refused and changes nothing. Each report is
//! `{id, clientId, status, code, eventAt}` (JSON). The status is mapped onto smsflow's
//! forward-only order (`domain/instasent_errors.rs`) and applied exactly as a Twilio
//! status, so repeats, which Instasent sends on any non-2xx or timeout, change nothing new
//! (idempotent on (id, status)). `stop` records the phone's opt-out as a STOP text does,
//! fires `OptOut` and ends the contact's sequence run. A report on a message smsflow does not know is acknowledged and logged,
//! unless the send that names it (`clientId`) is still in flight: then the answer is 503,
//! and Instasent's retry finds the message once the send worker has stored its id.
//!
//! Inbound texts (a report with a `message` field) are not routed yet: acknowledged and
//! logged (README, "Instasent").

use serde::Deserialize;

use super::{DeliveryFailure, StatusError, applied, backend, queue_delivery_goal, set_off};
use crate::app::App;
use crate::domain::goals::StandardGoal;
use crate::domain::instasent_errors::{DlrMeaning, dlr_meaning};
use crate::domain::{Account, AccountId, MessageId, MessageRecord, MessageSid, MessageStatus};
use crate::ports::{AttemptState, ConsentRecord};

/// One delivery report as Instasent posts it (fields beyond these are ignored).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    id: ReportId,
    client_id: Option<String>,
    status: String,
    code: Option<u32>,
    /// Present on inbound texts (two-way accounts), which arrive on the same URL.
    message: Option<String>,
}

/// Instasent's message id, a string or (unverified) a number.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ReportId {
    Text(String),
    Number(u64),
}

/// What a report did, for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportOutcome {
    /// Applied to the message (or a repeat of what was applied).
    Applied(MessageStatus),
    /// Not progress: an older status arriving late.
    Stale,
    /// The recipient opted out.
    OptedOut,
    /// Acknowledged and ignored: an unknown status, an unknown message, an inbound text.
    Ignored(String),
}

/// Authenticates, parses and applies one report; see the module documentation.
pub async fn receive(
    app: &App,
    account: &str,
    secret: &str,
    body: &[u8],
) -> Result<ReportOutcome, StatusError> {
    let account = authenticated(app, account, secret).await?;
    let report: Report = serde_json::from_slice(body)
        .map_err(|e| StatusError::Invalid(format!("not an Instasent report: {e}")))?;
    let sid = report.sid()?;
    if report.message.is_some() {
        tracing::info!(account = %account.id, "inbound text via Instasent is not routed (acknowledged)");
        return Ok(ReportOutcome::Ignored("inbound text".into()));
    }
    let meaning = dlr_meaning(&report.status);
    if meaning == DlrMeaning::Unknown {
        tracing::info!(account = %account.id, status = report.status, "unknown Instasent status ignored");
        return Ok(ReportOutcome::Ignored(format!("status {}", report.status)));
    }
    let Some(message) = report_message(app, &account, &sid, &report).await? else {
        tracing::info!(account = %account.id, sid = %sid, "Instasent report on an unknown message ignored");
        return Ok(ReportOutcome::Ignored(format!("message {sid}")));
    };
    match meaning {
        DlrMeaning::Progress(status) => apply(app, &account, &message, status, None).await,
        DlrMeaning::Failure { status, class } => {
            let failure = DeliveryFailure {
                code: report.code,
                class,
            };
            apply(app, &account, &message, status, Some(failure)).await
        }
        DlrMeaning::OptOut => opted_out(app, &account, &message).await,
        DlrMeaning::Unknown => Ok(ReportOutcome::Ignored(report.status)),
    }
}

impl Report {
    fn sid(&self) -> Result<MessageSid, StatusError> {
        let id = match &self.id {
            ReportId::Text(text) => text.clone(),
            ReportId::Number(n) => n.to_string(),
        };
        if id.is_empty() {
            return Err(StatusError::Invalid("id: must not be empty".into()));
        }
        Ok(MessageSid::new(id))
    }
}

/// The account of the URL, when it sends through Instasent and the secret is its own.
/// Every refusal looks the same, so the URL tells nothing about which accounts exist.
async fn authenticated(app: &App, account: &str, secret: &str) -> Result<Account, StatusError> {
    let Ok(id) = AccountId::parse(account) else {
        return Err(StatusError::BadSecret);
    };
    let found = (app.store.account(&id).await).map_err(|e| backend("account lookup", &e))?;
    let instasent = found.as_ref().and_then(|a| a.instasent.as_ref());
    match (found.as_ref(), instasent) {
        (Some(account), Some(credentials)) if credentials.callback_secret_matches(secret) => {
            Ok(account.clone())
        }
        _ => Err(StatusError::BadSecret),
    }
}

/// The account's message the report is about; `None` when smsflow does not know it, or
/// `NotYet` while the send naming it is still in flight (its id not stored yet).
async fn report_message(
    app: &App,
    account: &Account,
    sid: &MessageSid,
    report: &Report,
) -> Result<Option<MessageRecord>, StatusError> {
    let found = (app.store.message_by_sid(sid).await).map_err(|e| backend("message lookup", &e))?;
    if let Some(message) = found {
        // An id is only ever its own account's business.
        return Ok((message.account == account.id).then_some(message));
    }
    let Some(client_id) = report.client_id.as_deref().filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let attempt = app.store.send_attempt(&MessageId::new(client_id)).await;
    match attempt.map_err(|e| backend("send attempt lookup", &e))? {
        Some(AttemptState::Unresolved { .. }) => Err(StatusError::NotYet(format!(
            "message {client_id} is being sent: report again"
        ))),
        _ => Ok(None),
    }
}

async fn apply(
    app: &App,
    account: &Account,
    message: &MessageRecord,
    status: MessageStatus,
    failure: Option<DeliveryFailure>,
) -> Result<ReportOutcome, StatusError> {
    let (clock, store) = (app.clock.as_ref(), app.store.as_ref());
    let sid = message
        .provider_sid
        .clone()
        .unwrap_or_else(|| MessageSid::new(""));
    let moved = applied(clock, store, account, &sid, Some(message), status, failure).await?;
    let Ok(message) = moved else {
        return Ok(ReportOutcome::Stale);
    };
    let outcome = set_off(app, account, &message, status, failure, message.updated_at).await?;
    super::log_applied(
        &account.id,
        &message.id,
        &message.contact_phone,
        status,
        failure.and_then(|f| f.code),
        outcome.goal,
    );
    Ok(ReportOutcome::Applied(status))
}

/// `stop`: the phone opts out of the account, dated by the report's arrival, the
/// contact's `OptOut` goal fires once per message and its sequence run ends, as for a STOP
/// text.
async fn opted_out(
    app: &App,
    account: &Account,
    message: &MessageRecord,
) -> Result<ReportOutcome, StatusError> {
    let on_message = message.provider_sid.as_ref().map_or("", MessageSid::as_str);
    let record = ConsentRecord {
        opted_out: true,
        changed_at: app.clock.now(),
        source: format!("Instasent stop on message {on_message}"),
    };
    (app.store)
        .set_consent(&account.id, &message.contact_phone, &record)
        .await
        .map_err(|e| backend("record opt-out", &e))?;
    if let Some(contact_id) = &message.contact_id {
        queue_delivery_goal(app, account, message, contact_id, StandardGoal::OptOut).await?;
    }
    let phone = &message.contact_phone;
    let ended = crate::usecases::sequence::on_carrier_opt_out(app, account, phone, on_message)
        .await
        .map_err(|e| backend("end the sequence run", &e))?;
    if let Some(sequence) = ended {
        tracing::info!(account = %account.id, to = %phone.masked(), sequence, "sequence run ended: opted out through Instasent");
    }
    tracing::info!(account = %account.id, to = %message.contact_phone.masked(), "opted out through Instasent");
    Ok(ReportOutcome::OptedOut)
}

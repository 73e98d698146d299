//! Starts: a CRM's start request, or a keyword text, claims the contact's session lock and
//! carries out the first step.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::definitions::phone_in_field;
use super::runs::{
    AppliedEvent, RunSession, RunTarget, carry_out, contact_fields, decode_session, encode_session,
};
use crate::app::App;
use crate::domain::received::MessageWindow;
use crate::domain::sequence::{ContactField, Effect, EngineError, Event, Sequence, advance};
use crate::domain::{Account, AccountId, PhoneNumber, Timestamp};
use crate::domain::{ContactId, IdempotencyKey, SessionId};
use crate::ports::{ClaimTerms, Contact, SessionRecord, SessionStart};
use crate::ports::{ConsentStore, IdGenerator, SessionStore};
use crate::usecases::Unavailable;
use crate::usecases::answers::{self, Claimed};

/// A run that began.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Started {
    pub sequence: String,
    pub contact_id: ContactId,
    pub session_id: SessionId,
    /// The step whose message was queued.
    pub step: String,
    /// Set when this answers a repeat of the request that started the run (a CRM retry):
    /// nothing more was started or sent.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub repeated: bool,
}

/// How long a start with a `requestId` is remembered (a CRM's retries come within hours).
const START_ID_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// How long the same start (sequence, contact, step) without a `requestId` is a repeat.
const SAME_START_WINDOW: Duration = Duration::from_secs(10 * 60);

/// Why a start was refused; nothing was stored or sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartRefusal {
    #[error("account {account} has no sequence '{name}'")]
    UnknownSequence { account: AccountId, name: String },
    #[error("sequence '{name}' is stored but no longer valid; apply it again: {detail}")]
    InvalidSequence { name: String, detail: String },
    #[error("sequence '{0}' starts by keyword only (start: keyword); set start: crm or both")]
    CrmStartOff(String),
    #[error("the CRM has no contact {0}")]
    UnknownContact(ContactId),
    #[error("sequence '{sequence}' has no step named '{step}'")]
    UnknownStep { sequence: String, step: String },
    #[error("contact {contact_id} has no mobile number in {field}")]
    NoPhone {
        contact_id: ContactId,
        field: String,
    },
    #[error("{0} has opted out (texted STOP): a sequence cannot text them")]
    OptedOut(String),
    #[error(
        "the contact is already in sequence '{sequence}', waiting at step '{step}'; a \
         contact runs one sequence at a time (until it ends or 24 h pass without a reply)"
    )]
    AlreadyActive { sequence: String, step: String },
    #[error("the same start is being handled; retry in a few seconds")]
    InProgress,
}

impl StartRefusal {
    /// A short, stable identifier for API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            StartRefusal::UnknownSequence { .. } => "unknown_sequence",
            StartRefusal::InvalidSequence { .. } => "invalid_sequence",
            StartRefusal::CrmStartOff(_) => "crm_start_off",
            StartRefusal::UnknownContact(_) => "unknown_contact",
            StartRefusal::UnknownStep { .. } => "unknown_step",
            StartRefusal::NoPhone { .. } => "contact_has_no_phone",
            StartRefusal::OptedOut(_) => "opted_out",
            StartRefusal::AlreadyActive { .. } => "already_in_sequence",
            StartRefusal::InProgress => "in_progress",
        }
    }
}

/// The fields of a CRM start request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartFields {
    pub contact_id: Option<ContactId>,
    pub step: Option<String>,
    /// The CRM's id of the request: its retries within 24 h get the first answer.
    pub request_id: Option<String>,
}

impl StartFields {
    /// Reads `contactId` and `step` from name/value pairs (a form body or the query
    /// string); other names are ignored (the account key, fields a CRM adds).
    pub fn from_pairs(pairs: &[(String, String)]) -> StartFields {
        let value = |names: &[&str]| {
            pairs
                .iter()
                .rev()
                .find(|(k, _)| names.contains(&k.as_str()))
                .map(|(_, v)| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        StartFields {
            contact_id: value(&["contactId", "contact_id"]).map(ContactId::new),
            step: value(&["step"]),
            request_id: value(&["requestId", "request_id"]),
        }
    }

    /// Reads a JSON object; `contactId` may be a number.
    pub fn from_json(body: &[u8]) -> Result<StartFields, String> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(StartFields::default());
        }
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
        let object = value
            .as_object()
            .ok_or_else(|| "body is not a JSON object".to_string())?;
        let text = |names: &[&str]| -> Result<Option<String>, String> {
            for name in names {
                match object.get(*name) {
                    None | Some(serde_json::Value::Null) => continue,
                    Some(serde_json::Value::String(s)) if s.trim().is_empty() => continue,
                    Some(serde_json::Value::String(s)) => return Ok(Some(s.trim().to_string())),
                    Some(serde_json::Value::Number(n)) => return Ok(Some(n.to_string())),
                    Some(_) => return Err(format!("{name} must be a string or a number")),
                }
            }
            Ok(None)
        };
        Ok(StartFields {
            contact_id: text(&["contactId", "contact_id"])?.map(ContactId::new),
            step: text(&["step"])?,
            request_id: text(&["requestId", "request_id"])?,
        })
    }

    /// The body's fields over the query string's.
    pub fn merge(self, over: StartFields) -> StartFields {
        StartFields {
            contact_id: over.contact_id.or(self.contact_id),
            step: over.step.or(self.step),
            request_id: over.request_id.or(self.request_id),
        }
    }
}

/// Starts `sequence_name` for a CRM contact, at its first step or at `step`. A repeat of a
/// start that began a run (the same `request_id` within 24 h; without one, the same
/// sequence, contact and step within 10 minutes) gets the first answer, marked `repeated`,
/// and starts nothing: a CRM retrying a request whose answer it lost is not told "already
/// in sequence". Refusals are not kept, so a corrected retry is handled afresh.
pub async fn start_by_crm(
    app: &App,
    account: &Account,
    sequence_name: &str,
    contact_id: &ContactId,
    step: Option<&str>,
    request_id: Option<&str>,
) -> Result<Result<Started, StartRefusal>, Unavailable> {
    let step = step.map(str::trim);
    let (key, window) = match request_id {
        Some(id) => (
            IdempotencyKey::sequence_start_by_id(&account.id, id),
            START_ID_WINDOW,
        ),
        None => (
            IdempotencyKey::sequence_start(
                &account.id,
                sequence_name,
                contact_id,
                step.unwrap_or_default(),
            ),
            SAME_START_WINDOW,
        ),
    };
    let terms = ClaimTerms {
        keep: window,
        lease: app.settings.leases.request,
    };
    match answers::claim::<Started>(app.store.as_ref(), &key, terms, app.clock.now()).await {
        Ok(Claimed::First { .. }) => {}
        Ok(Claimed::Answered(first)) => {
            return Ok(Ok(Started {
                repeated: true,
                ..first
            }));
        }
        Ok(Claimed::InProgress) => return Ok(Err(StartRefusal::InProgress)),
        Err(e) => return Err(Unavailable(format!("cannot claim the request: {e}"))),
    }
    let result = start_for_contact(app, account, sequence_name, contact_id, step).await;
    let started = match &result {
        Ok(Ok(started)) => Some(started),
        _ => None,
    };
    answers::settle(app.store.as_ref(), &key, started).await;
    result
}

async fn start_for_contact(
    app: &App,
    account: &Account,
    sequence_name: &str,
    contact_id: &ContactId,
    step: Option<&str>,
) -> Result<Result<Started, StartRefusal>, Unavailable> {
    let sequence = match app.store.sequence(&account.id, sequence_name).await {
        Ok(Some(Ok(sequence))) => sequence,
        Ok(Some(Err(invalid))) => {
            return Ok(Err(StartRefusal::InvalidSequence {
                name: sequence_name.to_string(),
                detail: invalid.to_string(),
            }));
        }
        Ok(None) => {
            return Ok(Err(StartRefusal::UnknownSequence {
                account: account.id.clone(),
                name: sequence_name.to_string(),
            }));
        }
        Err(e) => return Err(Unavailable(format!("cannot read the sequence: {e}"))),
    };
    if !sequence.start_mode().by_crm() {
        return Ok(Err(StartRefusal::CrmStartOff(sequence.name().to_string())));
    }
    // The step first: a bad request is answered without asking the CRM.
    if let Some(step) = step
        && sequence.step(step.trim()).is_none()
    {
        return Ok(Err(StartRefusal::UnknownStep {
            sequence: sequence.name().to_string(),
            step: step.to_string(),
        }));
    }
    let contact = match app.crm.contact(account, contact_id).await {
        Ok(Some(contact)) => contact,
        Ok(None) => return Ok(Err(StartRefusal::UnknownContact(contact_id.clone()))),
        Err(e) => return Err(Unavailable(format!("CRM: {e}"))),
    };
    let Some(phone) = phone_in_field(account, sequence.phone_field(), &contact) else {
        return Ok(Err(StartRefusal::NoPhone {
            contact_id: contact.id.clone(),
            field: sequence.phone_field().to_string(),
        }));
    };
    let start = RunStart {
        sequence: &sequence,
        contact: &contact,
        phone: &phone,
        at_step: step.map(|s| s.trim().to_string()),
        trigger_sid: None,
    };
    begin(app, account, start).await.map_err(Unavailable)
}

/// What a start needs to know.
pub(super) struct RunStart<'a> {
    pub(super) sequence: &'a Sequence,
    pub(super) contact: &'a Contact,
    pub(super) phone: &'a PhoneNumber,
    pub(super) at_step: Option<String>,
    /// The keyword text that started it.
    pub(super) trigger_sid: Option<String>,
}

/// Claims the contact's lock with the run's first state, then queues its effects (giving
/// the lock back if they cannot be queued, so the CRM's retry can start it afresh).
pub(super) async fn begin(
    app: &App,
    account: &Account,
    start: RunStart<'_>,
) -> Result<Result<Started, StartRefusal>, String> {
    if opted_out(app.store.as_ref(), &account.id, start.phone).await? {
        return Ok(Err(StartRefusal::OptedOut(start.phone.masked())));
    }
    let now = app.clock.now();
    let (session, step) = match first_state(&start, now)? {
        Ok(first) => first,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let (sequence, phone) = (start.sequence, start.phone);
    let record = match claim_session(
        app.ids.as_ref(),
        app.store.as_ref(),
        account,
        &start,
        &session,
        now,
    )
    .await?
    {
        Ok(record) => record,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let target = RunTarget {
        account: &account.id,
        sequence: sequence.name(),
        session_id: &record.session_id,
        phone,
        contact_id: &start.contact.id,
        sender: &session.sender,
    };
    carry_out_or_release(app, &target, &session.last).await?;
    tracing::info!(
        account = %account.id,
        sequence = sequence.name(),
        to = %phone.masked(),
        step,
        "sequence run started"
    );
    Ok(Ok(Started {
        sequence: sequence.name().to_string(),
        contact_id: start.contact.id.clone(),
        session_id: record.session_id,
        step,
        repeated: false,
    }))
}

async fn opted_out(
    consent: &dyn ConsentStore,
    account: &AccountId,
    phone: &PhoneNumber,
) -> Result<bool, String> {
    let record = consent
        .consent(account, phone)
        .await
        .map_err(|e| format!("cannot read consent: {e}"))?;
    Ok(record.is_some_and(|c| c.opted_out))
}

/// Queues the run's first effects. If they cannot be queued, nothing may have gone out: the
/// contact is given back rather than held in a silent run.
async fn carry_out_or_release(
    app: &App,
    target: &RunTarget<'_>,
    first: &AppliedEvent,
) -> Result<(), String> {
    let Err(e) = carry_out(app, target, first).await else {
        return Ok(());
    };
    let released = app
        .store
        .end_session(target.account, target.phone, target.session_id)
        .await;
    if let Err(end) = released {
        tracing::error!(account = %target.account, error = %end, "could not release a run that failed to start");
    }
    Err(e)
}

/// The run's first state from the engine's start (and the step it is at), with a keyword
/// start's number kept in the sequence's custom phone field.
fn first_state(
    start: &RunStart<'_>,
    now: Timestamp,
) -> Result<Result<(RunSession, String), StartRefusal>, String> {
    let (sequence, contact, phone) = (start.sequence, start.contact, start.phone);
    let snapshot = contact_fields(sequence, Some(contact), None);
    let event = Event::Start {
        at_step: start.at_step.clone(),
        trigger_sid: start.trigger_sid.clone(),
    };
    let transition = match advance(
        sequence,
        None,
        &event,
        &snapshot,
        &MessageWindow::default(),
        now,
    ) {
        Ok(transition) => transition,
        Err(EngineError::UnknownStep(step)) => {
            return Ok(Err(StartRefusal::UnknownStep {
                sequence: sequence.name().to_string(),
                step,
            }));
        }
        Err(e) => return Err(format!("cannot start: {e}")),
    };
    let mut effects = transition.effects;
    // A keyword start keeps the texter's number in the sequence's custom phone field
    // (Contact.Phone1 already holds it: the contact was found by it or created with it).
    if start.trigger_sid.is_some()
        && let ContactField::Custom(field) = sequence.phone_field()
        && contact.custom_field(field.name()) != Some(phone.as_str())
    {
        let value = phone.to_string();
        let field = field.clone();
        effects.insert(0, Effect::SaveField { field, value });
    }
    let step = transition
        .state
        .current_step()
        .or_else(|| effects.iter().find_map(sent_step))
        .unwrap_or_default()
        .to_string();
    let last = AppliedEvent {
        key: start
            .trigger_sid
            .clone()
            .unwrap_or_else(|| "start".to_string()),
        at: now,
        effects,
    };
    let session = RunSession {
        contact_id: contact.id.clone(),
        sender: sequence.sender().to_string(),
        run: transition.state,
        last,
    };
    Ok(Ok((session, step)))
}

/// Claims the contact's session lock with the run's first state: one run per contact.
async fn claim_session(
    ids: &dyn IdGenerator,
    sessions: &dyn SessionStore,
    account: &Account,
    start: &RunStart<'_>,
    session: &RunSession,
    now: Timestamp,
) -> Result<Result<SessionRecord, StartRefusal>, String> {
    let record = SessionRecord {
        session_id: SessionId::new(ids.new_id()),
        sequence: start.sequence.name().to_string(),
        state: encode_session(session)?,
        started_at: now,
        expires_at: session.run.expires_at,
        revision: 0,
    };
    let claimed = sessions
        .start_session(&account.id, start.phone, &record, now)
        .await
        .map_err(|e| format!("cannot claim the contact's session: {e}"))?;
    Ok(match claimed {
        SessionStart::Started => Ok(record),
        SessionStart::AlreadyActive(holder) => {
            let step = decode_session(&holder)
                .ok()
                .and_then(|s| s.run.current_step().map(str::to_string))
                .unwrap_or_default();
            Err(StartRefusal::AlreadyActive {
                sequence: holder.sequence,
                step,
            })
        }
    })
}

pub(super) fn sent_step(effect: &Effect) -> Option<&str> {
    match effect {
        Effect::SendMessage { step, .. } => Some(step),
        _ => None,
    }
}

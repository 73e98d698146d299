//! Sequence runs (issue #5): the pure engine (`domain::sequence`) driven by storage, the
//! inbound pipeline, the CRM and the send path.
//!
//! - **Definitions** are applied by the CLI ([`apply`]): validated, checked against the
//!   account (its sender, keywords no other sequence of the account uses, a phone field
//!   the CRM connection can read), and stored as the JSON of the definition, validated
//!   again whenever it is read.
//! - **Starts** come from the CRM ([`start_by_crm`], `POST /crm/{account}/sequences/
//!   {sequence}/start`) or from a text that is one of an account sequence's keywords
//!   ([`on_inbound`], in the inbound pipeline). A start claims the contact's session lock
//!   (`SessionStore::start_session`, a conditional write): one unexpired run per contact,
//!   correct under concurrent starts; a second start is refused.
//! - **Events** (a reply, STOP, a send refused for an invalid number) advance the run
//!   through [`advance`]. Exactly once under
//!   retries: the new state is written conditionally on the revision read (a writer that
//!   lost the race retries on top of the winner's state), together with the event's key
//!   (the text's `MessageSid`) and its effects. The effects then become automation jobs
//!   whose ids derive from (session, event key, effect index), so queueing them again is
//!   harmless: the automation worker's claim runs each id once. A job that wrote the state
//!   but died before queueing finds its key stored on the retry and queues the stored
//!   effects again. A repeated webhook is dropped before all this by the webhook's SID
//!   dedupe, and the engine ignores SIDs the run already took.
//! - **Effects**: every message goes through `queue_send` (consent, admission, pacing) from
//!   the run's sender, fixed at its start (sticky sender); fields, the e-mail, tags and the
//!   conversation note are CRM jobs. The note is one per contact and sequence, created on
//!   first use and appended to after, on later runs too (its id is kept in the store).
//! - A run ends when the engine says so (a finish, STOP, an invalid number), 24 h after
//!   its last activity (the lock expires), or when its definition is deleted or no longer
//!   valid (at its next event).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::JobOutcome;
use super::answers::{self, Claimed};
use super::send_request::{Outgoing, SendOutcome, Unavailable, queue_send};
use crate::app::App;
use crate::domain::consent::{SendKind, SubscriptionStatus};
use crate::domain::contact::AUTO_CREATED_FIRST_NAME;
use crate::domain::keywords::KeywordClass;
use crate::domain::send_content::check_content;
use crate::domain::sender::{SenderError, SenderSpec};
use crate::domain::sequence::{
    ContactField, ContactFields, Effect, EngineError, Event, RunState, Sequence, advance,
};
use crate::domain::{Account, AccountId, PhoneNumber, Timestamp};
use crate::jobs::{self, AutomationJob, InboundText, SequenceMessage};
use crate::ports::{
    Claim, ClaimTerms, Contact, CrmError, NewNote, SessionRecord, SessionStart, Store, StoreError,
};

/// How long a job creating a contact's sequence note holds the right to create it: other
/// note jobs of the same contact and sequence wait (retry) meanwhile, so one note is made.
const NOTE_CREATION_LOCK: Duration = Duration::from_secs(5 * 60);

// ---------------------------------------------------------------- definitions

/// Why a valid definition cannot be stored for its account.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{origin}: account '{account}' does not exist (push it first: smsflow accounts push)")]
    UnknownAccount { origin: String, account: AccountId },
    #[error("{origin}: sender: {source}")]
    Sender {
        origin: String,
        #[source]
        source: SenderError,
    },
    #[error(
        "{origin}: phone_field '{field}': smsflow reads and writes the mobile number in \
         Contact.Phone1 or a custom field (Contact._Name)"
    )]
    PhoneField { origin: String, field: String },
    #[error(
        "{origin}: keyword '{keyword}' already starts sequence '{other}' of account \
         {account}: keywords must be unique within an account"
    )]
    KeywordTaken {
        origin: String,
        keyword: String,
        other: String,
        account: AccountId,
    },
    #[error("storage: {0}")]
    Store(#[from] StoreError),
}

/// What [`apply`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    Created,
    Replaced,
}

/// Stores a validated definition after checking it against its account: the sender is
/// one the account may send from, the phone field is one the CRM port reads, and no other
/// sequence of the account starts on one of its keywords.
pub async fn apply(store: &dyn Store, sequence: &Sequence) -> Result<Applied, ApplyError> {
    let origin = sequence.origin().to_string();
    let Some(account) = store.account(sequence.account()).await? else {
        return Err(ApplyError::UnknownAccount {
            origin,
            account: sequence.account().clone(),
        });
    };
    SenderSpec::parse(sequence.sender(), &account).map_err(|source| ApplyError::Sender {
        origin: origin.clone(),
        source,
    })?;
    if !is_readable_phone_field(sequence.phone_field()) {
        return Err(ApplyError::PhoneField {
            origin,
            field: sequence.phone_field().to_string(),
        });
    }
    let mut replaced = false;
    for other in store.sequences(&account.id).await? {
        // One no longer valid starts nothing: it cannot hold a keyword.
        let Ok(other) = other else { continue };
        if other.name() == sequence.name() {
            replaced = true;
            continue;
        }
        if !sequence.start_mode().by_keyword() {
            continue;
        }
        if let Some(keyword) = sequence.keywords().iter().find(|k| other.is_started_by(k)) {
            return Err(ApplyError::KeywordTaken {
                origin,
                keyword: keyword.clone(),
                other: other.name().to_string(),
                account: account.id.clone(),
            });
        }
    }
    // An entry that no longer validates is replaced too.
    if !replaced {
        replaced = store
            .sequence(&account.id, sequence.name())
            .await?
            .is_some();
    }
    store.put_sequence(sequence).await?;
    Ok(if replaced {
        Applied::Replaced
    } else {
        Applied::Created
    })
}

/// `Contact.Phone1` or a custom field: what the CRM port's contact carries.
fn is_readable_phone_field(field: &ContactField) -> bool {
    match field {
        ContactField::Standard(standard) => standard.name() == "Phone1",
        ContactField::Custom(_) => true,
    }
}

/// The contact's mobile number as the sequence's phone field holds it.
fn phone_in_field(
    account: &Account,
    field: &ContactField,
    contact: &Contact,
) -> Option<PhoneNumber> {
    match field {
        ContactField::Custom(custom) => contact
            .custom_field(custom.name())
            .and_then(|value| account.parse_phone(value).ok()),
        ContactField::Standard(_) if is_readable_phone_field(field) => contact.phone.clone(),
        ContactField::Standard(_) => None,
    }
}

// ---------------------------------------------------------------- run sessions

/// What the session record holds for a run (its opaque `state`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct RunSession {
    contact_id: String,
    /// The sender of every message of the run, fixed at its start (sticky sender).
    sender: String,
    run: RunState,
    /// The latest event applied, kept so a retry can queue its effects again.
    last: AppliedEvent,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct AppliedEvent {
    /// What caused it: `start` (a CRM start), the `MessageSid` of a text (a keyword start,
    /// a reply, a STOP), or `invalid-number:<message id>`.
    key: String,
    at: Timestamp,
    effects: Vec<Effect>,
}

impl AppliedEvent {
    fn finishes(&self) -> bool {
        self.effects
            .iter()
            .any(|e| matches!(e, Effect::Finished { .. }))
    }
}

fn decode_session(record: &SessionRecord) -> Result<RunSession, String> {
    serde_json::from_value(record.state.clone())
        .map_err(|e| format!("session {} holds no run: {e}", record.session_id))
}

fn encode_session(session: &RunSession) -> Result<serde_json::Value, String> {
    serde_json::to_value(session).map_err(|e| format!("cannot encode the run: {e}"))
}

/// Where a run's effects go: which account, contact, phone and run.
struct RunTarget<'a> {
    account: &'a AccountId,
    sequence: &'a str,
    session_id: &'a str,
    phone: &'a PhoneNumber,
    contact_id: &'a str,
    sender: &'a str,
}

impl<'a> RunTarget<'a> {
    fn of(
        account: &'a AccountId,
        record: &'a SessionRecord,
        phone: &'a PhoneNumber,
        session: &'a RunSession,
    ) -> Self {
        RunTarget {
            account,
            sequence: &record.sequence,
            session_id: &record.session_id,
            phone,
            contact_id: &session.contact_id,
            sender: &session.sender,
        }
    }
}

/// The automation jobs of one applied event, with their ids: the message first (the
/// person waits for it; the CRM's updates do not hold it up), then the CRM's in effect
/// order, the event's note lines as one job so they stay in order.
fn jobs_for(target: &RunTarget<'_>, event: &AppliedEvent) -> Vec<(String, AutomationJob)> {
    let prefix = format!("seq:{}:{}", target.session_id, event.key);
    let account = target.account.clone();
    let contact_id = target.contact_id.to_string();
    let mut jobs = Vec::new();
    let mut note_lines = Vec::new();
    for (index, effect) in event.effects.iter().enumerate() {
        let job_id = format!("{prefix}:{index}");
        let job = match effect {
            Effect::SendMessage { step, body, media } => AutomationJob::SequenceSend {
                message_id: derived_message_id(&job_id, event.at),
                message: SequenceMessage {
                    account: account.clone(),
                    sequence: target.sequence.to_string(),
                    step: step.clone(),
                    to: target.phone.clone(),
                    contact_id: contact_id.clone(),
                    sender: target.sender.to_string(),
                    body: body.clone(),
                    media_urls: media.clone(),
                },
            },
            Effect::SetEmail { email } => AutomationJob::SetEmail {
                account: account.clone(),
                contact_id: contact_id.clone(),
                email: email.clone(),
            },
            Effect::SaveField { field, value } => AutomationJob::SetCustomField {
                account: account.clone(),
                contact_id: contact_id.clone(),
                field: field.name().to_string(),
                value: value.clone(),
            },
            Effect::ApplyTag { tag } => AutomationJob::ApplyTag {
                account: account.clone(),
                contact_id: contact_id.clone(),
                tag: tag.clone(),
            },
            Effect::AppendToNote { text } => {
                note_lines.push(text.clone());
                continue;
            }
            Effect::Finished { .. } => continue,
        };
        jobs.push((job_id, job));
    }
    // Stable: sends keep their order, as do the others.
    jobs.sort_by_key(|(_, job)| !matches!(job, AutomationJob::SequenceSend { .. }));
    if !note_lines.is_empty() {
        jobs.push((
            format!("{prefix}:note"),
            AutomationJob::SequenceNote {
                account,
                contact_id,
                sequence: target.sequence.to_string(),
                lines: note_lines,
            },
        ));
    }
    jobs
}

/// A ULID for a run's message, the same for every copy of its job: the time of the event
/// (so the conversation keeps time order) and 80 bits of the job id's digest.
fn derived_message_id(job_id: &str, at: Timestamp) -> String {
    let digest = Sha256::digest(job_id.as_bytes());
    let mut random = [0u8; 16];
    random[6..].copy_from_slice(&digest[..10]);
    let millis = u64::try_from(at.as_millis()).unwrap_or(0);
    ulid::Ulid::from_parts(millis, u128::from_be_bytes(random)).to_string()
}

async fn queue_jobs(app: &App, jobs: Vec<(String, AutomationJob)>) -> Result<(), String> {
    let count = jobs.len();
    jobs::enqueue_all_with_ids(app, jobs)
        .await
        .map(|_| ())
        .map_err(|e| format!("cannot queue the run's {count} jobs: {e}"))
}

/// Queues the event's effects, then releases the lock if the run is over.
async fn carry_out(app: &App, target: &RunTarget<'_>, event: &AppliedEvent) -> Result<(), String> {
    queue_jobs(app, jobs_for(target, event)).await?;
    if event.finishes() {
        app.store
            .end_session(target.account, target.phone, target.session_id)
            .await
            .map_err(|e| format!("cannot end the run: {e}"))?;
    }
    Ok(())
}

/// The contact's fields the sequence reads, with what this run saved laid over them: the
/// CRM (or its cached copy) may not show a field saved a step ago yet.
fn contact_fields(
    sequence: &Sequence,
    contact: Option<&Contact>,
    run: Option<&RunState>,
) -> ContactFields {
    let mut fields = ContactFields::new();
    if let Some(contact) = contact {
        for field in sequence.fields_read() {
            let name = field.merge_name();
            if let Some(value) = contact.merge_field(&name) {
                fields.insert(name, value);
            }
        }
        // The placeholder of an auto-created contact is not a name to greet them by.
        if contact.first_name.as_deref() == Some(AUTO_CREATED_FIRST_NAME) {
            fields.insert("Contact.FirstName".into(), String::new());
        }
    }
    if let Some(run) = run {
        for step in sequence.steps() {
            if let (Some(field), Some(answer)) = (step.save_to(), run.answers.get(step.name())) {
                fields.insert(field.merge_name(), answer.clone());
            }
        }
    }
    fields
}

// ---------------------------------------------------------------- starts

/// A run that began.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Started {
    pub sequence: String,
    pub contact_id: String,
    pub session_id: String,
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
    UnknownContact(String),
    #[error("sequence '{sequence}' has no step named '{step}'")]
    UnknownStep { sequence: String, step: String },
    #[error("contact {contact_id} has no mobile number in {field}")]
    NoPhone { contact_id: String, field: String },
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
    pub contact_id: Option<String>,
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
            contact_id: value(&["contactId", "contact_id"]),
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
            contact_id: text(&["contactId", "contact_id"])?,
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
    contact_id: &str,
    step: Option<&str>,
    request_id: Option<&str>,
) -> Result<Result<Started, StartRefusal>, Unavailable> {
    let step = step.map(str::trim);
    let (key, window) = match request_id {
        Some(id) => (
            format!("sequence-start:{}:id:{id}", account.id),
            START_ID_WINDOW,
        ),
        None => (
            // Sequence names and steps are identifiers; CRM contact ids contain no ':'.
            format!(
                "sequence-start:{}:{sequence_name}:{contact_id}:{}",
                account.id,
                step.unwrap_or_default()
            ),
            SAME_START_WINDOW,
        ),
    };
    match answers::claim::<Started>(app, &key, window).await {
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
    answers::settle(app, &key, started).await;
    result
}

async fn start_for_contact(
    app: &App,
    account: &Account,
    sequence_name: &str,
    contact_id: &str,
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
        Ok(None) => return Ok(Err(StartRefusal::UnknownContact(contact_id.to_string()))),
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
struct RunStart<'a> {
    sequence: &'a Sequence,
    contact: &'a Contact,
    phone: &'a PhoneNumber,
    at_step: Option<String>,
    /// The keyword text that started it.
    trigger_sid: Option<String>,
}

/// Claims the contact's lock with the run's first state, then queues its effects (giving
/// the lock back if they cannot be queued, so the CRM's retry can start it afresh).
async fn begin(
    app: &App,
    account: &Account,
    start: RunStart<'_>,
) -> Result<Result<Started, StartRefusal>, String> {
    let RunStart {
        sequence,
        contact,
        phone,
        at_step,
        trigger_sid,
    } = start;
    let opted_out = app
        .store
        .consent(&account.id, phone)
        .await
        .map_err(|e| format!("cannot read consent: {e}"))?
        .is_some_and(|c| c.opted_out);
    if opted_out {
        return Ok(Err(StartRefusal::OptedOut(phone.masked())));
    }
    let now = app.clock.now();
    let snapshot = contact_fields(sequence, Some(contact), None);
    let event = Event::Start {
        at_step: at_step.clone(),
        trigger_sid: trigger_sid.clone(),
    };
    let transition = match advance(sequence, None, &event, &snapshot, now) {
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
    if trigger_sid.is_some()
        && let ContactField::Custom(field) = sequence.phone_field()
        && contact.custom_field(field.name()) != Some(phone.as_str())
    {
        effects.insert(
            0,
            Effect::SaveField {
                field: field.clone(),
                value: phone.to_string(),
            },
        );
    }
    let step = transition
        .state
        .current_step()
        .or_else(|| effects.iter().find_map(sent_step))
        .unwrap_or_default()
        .to_string();
    let applied = AppliedEvent {
        key: trigger_sid.unwrap_or_else(|| "start".to_string()),
        at: now,
        effects,
    };
    let session = RunSession {
        contact_id: contact.id.clone(),
        sender: sequence.sender().to_string(),
        run: transition.state,
        last: applied,
    };
    let record = SessionRecord {
        session_id: app.ids.new_id(),
        sequence: sequence.name().to_string(),
        state: encode_session(&session)?,
        started_at: now,
        expires_at: session.run.expires_at,
        revision: 0,
    };
    match app
        .store
        .start_session(&account.id, phone, &record, now)
        .await
        .map_err(|e| format!("cannot claim the contact's session: {e}"))?
    {
        SessionStart::Started => {}
        SessionStart::AlreadyActive(holder) => {
            let step = decode_session(&holder)
                .ok()
                .and_then(|s| s.run.current_step().map(str::to_string))
                .unwrap_or_default();
            return Ok(Err(StartRefusal::AlreadyActive {
                sequence: holder.sequence,
                step,
            }));
        }
    }
    let target = RunTarget {
        account: &account.id,
        sequence: sequence.name(),
        session_id: &record.session_id,
        phone,
        contact_id: &contact.id,
        sender: &session.sender,
    };
    if let Err(e) = carry_out(app, &target, &session.last).await {
        // Nothing may have gone out: give the contact back rather than hold a silent run.
        if let Err(end) = app
            .store
            .end_session(&account.id, phone, &record.session_id)
            .await
        {
            tracing::error!(account = %account.id, error = %end, "could not release a run that failed to start");
        }
        return Err(e);
    }
    tracing::info!(
        account = %account.id,
        sequence = sequence.name(),
        to = %phone.masked(),
        step,
        "sequence run started"
    );
    Ok(Ok(Started {
        sequence: sequence.name().to_string(),
        contact_id: contact.id.clone(),
        session_id: record.session_id,
        step,
        repeated: false,
    }))
}

fn sent_step(effect: &Effect) -> Option<&str> {
    match effect {
        Effect::SendMessage { step, .. } => Some(step),
        _ => None,
    }
}

// ---------------------------------------------------------------- inbound texts

/// What the sequences did with an inbound text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handoff {
    /// No run was involved: the text goes on as usual (routing, forward, goals).
    NotTaken,
    /// A run took the text (a reply, or the keyword that started it): it is not forwarded
    /// by e-mail; the inbound goals still fire.
    Took { sequence: String },
    /// An opt-out ended a run (with the sequence's opt-out tag); the text goes on as usual.
    Ended { sequence: String },
}

/// The inbound pipeline's hand-off, after the contact step: an active run takes the text
/// (STOP ends it), else a text that is one of the account's sequence keywords starts a run.
/// Errors are the job's outcome (retry on storage or queue trouble).
pub async fn on_inbound(
    app: &App,
    account: &Account,
    text: &InboundText,
    contact: Option<&Contact>,
) -> Result<Handoff, JobOutcome> {
    let retry = |what: &str, e: &dyn std::fmt::Display| JobOutcome::Retry(format!("{what}: {e}"));
    let event = match text.keyword {
        // An opt-in word (YES, START) is also an answer: "Reply YES or NO". Its consent
        // change was recorded by the webhook; a run in progress takes it as a reply.
        KeywordClass::None | KeywordClass::OptIn => Event::Reply {
            message_sid: text.message_sid.clone(),
            body: text.body.clone(),
            media: text.media_urls.clone(),
        },
        KeywordClass::OptOut => Event::OptedOut,
        // HELP is answered by the keyword handling (Twilio's or ours), not by a run.
        KeywordClass::Help => return Ok(Handoff::NotTaken),
    };
    let now = app.clock.now();
    let active = app
        .store
        .active_session(&account.id, &text.from, now)
        .await
        .map_err(|e| retry("active sequence session", &e))?;
    if let Some(session) = active {
        return continue_run(app, account, text, contact, session, event).await;
    }
    if text.keyword != KeywordClass::None {
        return Ok(Handoff::NotTaken);
    }
    let Some(sequence) = keyword_sequence(app, account, &text.body).await? else {
        return Ok(Handoff::NotTaken);
    };
    let Some(contact) = contact else {
        tracing::warn!(account = %account.id, sequence = sequence.name(), "keyword start without a contact; not started");
        return Ok(Handoff::NotTaken);
    };
    let start = RunStart {
        sequence: &sequence,
        contact,
        phone: &text.from,
        at_step: None,
        trigger_sid: Some(text.message_sid.clone()),
    };
    match begin(app, account, start).await {
        Ok(Ok(_)) => Ok(Handoff::Took {
            sequence: sequence.name().to_string(),
        }),
        Ok(Err(refusal)) => {
            // Opted out, or a concurrent start won: the text is an ordinary one then.
            tracing::info!(account = %account.id, sequence = sequence.name(), reason = %refusal, "keyword start refused");
            Ok(Handoff::NotTaken)
        }
        Err(e) => Err(JobOutcome::Retry(e)),
    }
}

/// The account's valid sequence, if any, that `body` starts.
async fn keyword_sequence(
    app: &App,
    account: &Account,
    body: &str,
) -> Result<Option<Sequence>, JobOutcome> {
    let sequences = app
        .store
        .sequences(&account.id)
        .await
        .map_err(|e| JobOutcome::Retry(format!("sequences: {e}")))?;
    let mut found = None;
    for stored in sequences {
        match stored {
            Ok(sequence) if sequence.is_started_by(body) => {
                found = Some(sequence);
                break;
            }
            Ok(_) => {}
            Err(invalid) => {
                tracing::error!(account = %account.id, error = %invalid, "stored sequence is no longer valid; apply it again")
            }
        }
    }
    Ok(found)
}

/// Applies a reply or an opt-out to the contact's active run.
async fn continue_run(
    app: &App,
    account: &Account,
    text: &InboundText,
    contact: Option<&Contact>,
    record: SessionRecord,
    event: Event,
) -> Result<Handoff, JobOutcome> {
    let is_stop = matches!(event, Event::OptedOut);
    let sequence = record.sequence.clone();
    let applied = apply_event(
        app,
        account,
        &text.from,
        RunEvent {
            key: text.message_sid.clone(),
            event,
        },
        contact,
        record,
    )
    .await;
    match applied {
        Ok(RunAdvance::Applied | RunAdvance::AlreadyTaken) if is_stop => {
            Ok(Handoff::Ended { sequence })
        }
        Ok(RunAdvance::Applied | RunAdvance::AlreadyTaken) => Ok(Handoff::Took { sequence }),
        Ok(RunAdvance::RunGone) => Ok(Handoff::NotTaken),
        Err(e) => Err(JobOutcome::Retry(e)),
    }
}

/// An event for a run and the key that makes it happen once: the `MessageSid` of a text,
/// or a name derived from what caused it.
struct RunEvent {
    key: String,
    event: Event,
}

/// What [`apply_event`] did.
enum RunAdvance {
    /// The new state is stored and its effects are queued.
    Applied,
    /// The run had taken this event already (effects queued again if it was the latest).
    AlreadyTaken,
    /// The run could not go on (its sequence deleted or no longer valid, its session
    /// unreadable): it was ended, and the event is not the run's.
    RunGone,
}

/// Applies an event to the run in `record`, exactly once: the new state is written only
/// over the revision read (a writer that lost the race gets an error and retries on the
/// new state), then the effects are queued under derived ids. An event whose key is the
/// run's latest is a retry: its stored effects are queued again (each runs once).
async fn apply_event(
    app: &App,
    account: &Account,
    phone: &PhoneNumber,
    run_event: RunEvent,
    contact: Option<&Contact>,
    record: SessionRecord,
) -> Result<RunAdvance, String> {
    let RunEvent { key, event } = run_event;
    let mut session = match decode_session(&record) {
        Ok(session) => session,
        Err(e) => {
            // Never written by this version: end it rather than block the contact.
            tracing::error!(account = %account.id, error = %e, "ending an unreadable sequence session");
            end_quietly(app, &account.id, phone, &record.session_id).await;
            return Ok(RunAdvance::RunGone);
        }
    };
    if session.last.key == key {
        // A retry of this very event: its state is stored, its effects may not be queued.
        carry_out(
            app,
            &RunTarget::of(&account.id, &record, phone, &session),
            &session.last,
        )
        .await?;
        return Ok(RunAdvance::AlreadyTaken);
    }
    let sequence = match app.store.sequence(&account.id, &record.sequence).await {
        Ok(Some(Ok(sequence))) => sequence,
        Ok(gone_or_invalid) => {
            tracing::warn!(
                account = %account.id,
                sequence = record.sequence,
                problem = ?gone_or_invalid.and_then(Result::err).map(|e| e.to_string()),
                "the run's sequence was deleted or is no longer valid: the run ends"
            );
            end_quietly(app, &account.id, phone, &record.session_id).await;
            return Ok(RunAdvance::RunGone);
        }
        Err(e) => return Err(format!("sequence: {e}")),
    };
    let now = app.clock.now();
    let snapshot = contact_fields(&sequence, contact, Some(&session.run));
    let transition = match advance(&sequence, Some(&session.run), &event, &snapshot, now) {
        Ok(transition) => transition,
        Err(e) => {
            tracing::error!(account = %account.id, error = %e, "the run cannot take the event; it ends");
            end_quietly(app, &account.id, phone, &record.session_id).await;
            return Ok(RunAdvance::RunGone);
        }
    };
    if transition.effects.is_empty() && transition.state == session.run {
        // A text the run already took (the keyword that started it, a repeated reply).
        return Ok(RunAdvance::AlreadyTaken);
    }
    session.run = transition.state;
    session.last = AppliedEvent {
        key,
        at: now,
        effects: transition.effects,
    };
    let next = SessionRecord {
        state: encode_session(&session)?,
        expires_at: session.run.expires_at,
        revision: record.revision + 1,
        ..record.clone()
    };
    let stored = app
        .store
        .update_session(&account.id, phone, &next)
        .await
        .map_err(|e| format!("cannot store the run: {e}"))?;
    if !stored {
        // Another event of this contact moved the run first: apply this one after it.
        return Err(
            "the run changed while this event was applied; retrying on its new state".into(),
        );
    }
    carry_out(
        app,
        &RunTarget::of(&account.id, &record, phone, &session),
        &session.last,
    )
    .await?;
    tracing::info!(
        account = %account.id,
        sequence = record.sequence,
        to = %phone.masked(),
        step = session.run.current_step().unwrap_or("(finished)"),
        "sequence run advanced"
    );
    Ok(RunAdvance::Applied)
}

/// A send to `phone` failed because it is not a valid mobile number: the contact's run,
/// if one is active, ends with the sequence's invalid-number tag. `cause` names the
/// failed message (the event's key, so a redelivery applies it once). Returns the
/// sequence whose run ended.
pub async fn on_invalid_number(
    app: &App,
    account: &Account,
    phone: &PhoneNumber,
    cause: &str,
) -> Result<Option<String>, String> {
    let active = app
        .store
        .active_session(&account.id, phone, app.clock.now())
        .await
        .map_err(|e| format!("active sequence session: {e}"))?;
    let Some(record) = active else {
        return Ok(None);
    };
    let sequence = record.sequence.clone();
    let run_event = RunEvent {
        key: format!("invalid-number:{cause}"),
        event: Event::InvalidNumber,
    };
    match apply_event(app, account, phone, run_event, None, record).await? {
        RunAdvance::Applied | RunAdvance::AlreadyTaken => Ok(Some(sequence)),
        RunAdvance::RunGone => Ok(None),
    }
}

async fn end_quietly(app: &App, account: &AccountId, phone: &PhoneNumber, session_id: &str) {
    if let Err(e) = app.store.end_session(account, phone, session_id).await {
        tracing::warn!(account = %account, error = %e, "could not end a sequence session");
    }
}

// ---------------------------------------------------------------- effect jobs

/// A run's message through the one way into the send queue (consent, admission, pacing),
/// under the job's message id: a repeat of the job sends nothing twice.
pub async fn send_step(
    app: &App,
    account: &Account,
    message: &SequenceMessage,
    message_id: &str,
) -> JobOutcome {
    let sender = match SenderSpec::parse(&message.sender, account) {
        Ok(sender) => sender,
        Err(e) => return JobOutcome::Dropped(format!("sequence {}: {e}", message.sequence)),
    };
    let content = match check_content(&message.body, &message.media_urls) {
        Ok(content) => content,
        Err(e) => {
            return JobOutcome::Dropped(format!(
                "sequence {} step {}: the filled message cannot be sent: {e}",
                message.sequence, message.step
            ));
        }
    };
    let outgoing = Outgoing {
        to: message.to.clone(),
        contact_id: Some(message.contact_id.clone()),
        body: content.body,
        media_urls: content.media_urls,
        sender,
        kind: SendKind::Transactional,
        subscription: SubscriptionStatus::default(),
        user_id: None,
        manual: false,
        campaign: Some(format!("sequence:{}", message.sequence)),
        // Sequence messages are transactional: quiet hours do not hold them.
        time_zone: None,
    };
    match queue_send(app, account, &outgoing, message_id.to_string()).await {
        Ok(reply) => match reply.outcome {
            SendOutcome::Queued => JobOutcome::Done,
            // The account's queue is full: the step's message waits for room (the goals
            // already told the CRM, once).
            SendOutcome::QueueFull => JobOutcome::Retry("the account's send queue is full".into()),
            _ => JobOutcome::Skipped(format!(
                "sequence {} step {} not sent: {}",
                message.sequence,
                message.step,
                reply.detail.unwrap_or_default()
            )),
        },
        Err(e) => JobOutcome::Retry(e.to_string()),
    }
}

/// Writes the event's note lines to the contact's note for the sequence: appended to the
/// note if there is one, else a new note (one job at a time creates it).
pub async fn write_note(
    app: &App,
    account: &Account,
    contact_id: &str,
    sequence: &str,
    lines: &[String],
) -> JobOutcome {
    let text = lines.join("\n");
    let noted = app
        .store
        .sequence_note(&account.id, contact_id, sequence)
        .await;
    match noted {
        Ok(Some(note_id)) => return append(app, account, &note_id, &text).await,
        Ok(None) => {}
        Err(e) => return JobOutcome::Retry(format!("cannot read the note id: {e}")),
    }
    let lock = format!("sequence-note:{}:{contact_id}:{sequence}", account.id);
    match app
        .store
        .claim(
            &lock,
            ClaimTerms {
                keep: NOTE_CREATION_LOCK,
                lease: NOTE_CREATION_LOCK,
            },
            app.clock.now(),
        )
        .await
    {
        Ok(Claim::New { .. }) => {}
        Ok(Claim::Existing(_)) => {
            return JobOutcome::Retry("the note is being created by another job".into());
        }
        Err(e) => return JobOutcome::Retry(format!("cannot lock the note: {e}")),
    }
    let outcome = create_note(app, account, contact_id, sequence, &text).await;
    if let Err(e) = app.store.release(&lock).await {
        tracing::warn!(error = %e, "could not release the note lock (it expires)");
    }
    outcome
}

async fn create_note(
    app: &App,
    account: &Account,
    contact_id: &str,
    sequence: &str,
    text: &str,
) -> JobOutcome {
    let note = NewNote {
        title: format!("SMS sequence: {sequence}"),
        body: text.to_string(),
        user_id: None,
    };
    let created = match app.crm.create_note(account, contact_id, &note).await {
        Ok(note) => note,
        Err(e) => return crm_outcome(e),
    };
    match app
        .store
        .remember_sequence_note(&account.id, contact_id, sequence, &created.id)
        .await
    {
        Ok(on_record) if on_record == created.id => JobOutcome::Done,
        // Another note was recorded first: keep the lines there too.
        Ok(on_record) => append(app, account, &on_record, text).await,
        Err(e) => {
            tracing::error!(error = %e, note = %created.id, "note created but its id not kept; the next line starts another note");
            JobOutcome::Done
        }
    }
}

async fn append(app: &App, account: &Account, note_id: &str, text: &str) -> JobOutcome {
    match app
        .crm
        .append_to_note(account, note_id, &format!("\n{text}"))
        .await
    {
        Ok(()) => JobOutcome::Done,
        Err(e) => crm_outcome(e),
    }
}

fn crm_outcome(e: CrmError) -> JobOutcome {
    if e.is_transient() {
        JobOutcome::Retry(e.to_string())
    } else {
        JobOutcome::Dropped(e.to_string())
    }
}

#[cfg(test)]
mod tests;

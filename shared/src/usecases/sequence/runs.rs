//! A run's stored session, and the jobs its engine effects become (ids derived from the
//! session and event, so queueing them again is harmless).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::app::App;
use crate::domain::contact::AUTO_CREATED_FIRST_NAME;
use crate::domain::sequence::{ContactFields, Effect, RunState, Sequence};
use crate::domain::{AccountId, PhoneNumber, Timestamp};
use crate::domain::{ContactId, MessageId, SessionId};
use crate::jobs::JobId;
use crate::jobs::{self, AutomationJob, SequenceMessage};
use crate::ports::{Contact, SessionRecord};

/// What the session record holds for a run (its opaque `state`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct RunSession {
    pub(super) contact_id: ContactId,
    /// The sender of every message of the run, fixed at its start (sticky sender).
    pub(super) sender: String,
    pub(super) run: RunState,
    /// The latest event applied, kept so a retry can queue its effects again.
    pub(super) last: AppliedEvent,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct AppliedEvent {
    /// What caused it: `start` (a CRM start), the `MessageSid` of a text (a keyword start,
    /// a reply, a STOP), or `invalid-number:<message id>`.
    pub(super) key: String,
    pub(super) at: Timestamp,
    pub(super) effects: Vec<Effect>,
}

impl AppliedEvent {
    pub(super) fn finishes(&self) -> bool {
        self.effects
            .iter()
            .any(|e| matches!(e, Effect::Finished { .. }))
    }
}

pub(super) fn decode_session(record: &SessionRecord) -> Result<RunSession, String> {
    serde_json::from_value(record.state.clone())
        .map_err(|e| format!("session {} holds no run: {e}", record.session_id))
}

pub(super) fn encode_session(session: &RunSession) -> Result<serde_json::Value, String> {
    serde_json::to_value(session).map_err(|e| format!("cannot encode the run: {e}"))
}

/// Where a run's effects go: which account, contact, phone and run.
pub(super) struct RunTarget<'a> {
    pub(super) account: &'a AccountId,
    pub(super) sequence: &'a str,
    pub(super) session_id: &'a SessionId,
    pub(super) phone: &'a PhoneNumber,
    pub(super) contact_id: &'a ContactId,
    pub(super) sender: &'a str,
}

impl<'a> RunTarget<'a> {
    pub(super) fn of(
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
pub(super) fn jobs_for(
    target: &RunTarget<'_>,
    event: &AppliedEvent,
) -> Vec<(JobId, AutomationJob)> {
    let mut jobs = Vec::new();
    let mut note_lines = Vec::new();
    for (index, effect) in event.effects.iter().enumerate() {
        let job_id = JobId::sequence_effect(target.session_id, &event.key, index);
        match effect {
            Effect::AppendToNote { text } => note_lines.push(text.clone()),
            Effect::Finished { .. } => {}
            effect => {
                if let Some(job) = effect_job(target, effect, &job_id, event.at) {
                    jobs.push((job_id, job));
                }
            }
        }
    }
    // Stable: sends keep their order, as do the others.
    jobs.sort_by_key(|(_, job)| !matches!(job, AutomationJob::SequenceSend { .. }));
    if !note_lines.is_empty() {
        jobs.push((
            JobId::sequence_effect(target.session_id, &event.key, "note"),
            AutomationJob::SequenceNote {
                account: target.account.clone(),
                contact_id: target.contact_id.clone(),
                sequence: target.sequence.to_string(),
                lines: note_lines,
            },
        ));
    }
    jobs
}

/// The automation job `job_id` that carries out one effect (a message, or a CRM update);
/// none for the effects that are not jobs of their own.
fn effect_job(
    target: &RunTarget<'_>,
    effect: &Effect,
    job_id: &JobId,
    at: Timestamp,
) -> Option<AutomationJob> {
    let account = target.account.clone();
    let contact_id = target.contact_id.clone();
    Some(match effect {
        Effect::SendMessage { step, body, media } => AutomationJob::SequenceSend {
            message_id: derived_message_id(job_id, at),
            message: SequenceMessage {
                account,
                sequence: target.sequence.to_string(),
                step: step.clone(),
                to: target.phone.clone(),
                contact_id,
                sender: target.sender.to_string(),
                body: body.clone(),
                media_urls: media.clone(),
            },
        },
        Effect::SetEmail { email } => AutomationJob::SetEmail {
            account,
            contact_id,
            email: email.clone(),
        },
        Effect::SaveField { field, value } => AutomationJob::SetCustomField {
            account,
            contact_id,
            field: field.name().to_string(),
            value: value.clone(),
        },
        Effect::ApplyTag { tag } => AutomationJob::ApplyTag {
            account,
            contact_id,
            tag: tag.clone(),
        },
        Effect::AppendToNote { .. } | Effect::Finished { .. } => return None,
    })
}

/// A ULID for a run's message, the same for every copy of its job: the time of the event
/// (so the conversation keeps time order) and 80 bits of the job id's digest.
pub(super) fn derived_message_id(job_id: &JobId, at: Timestamp) -> MessageId {
    let digest = Sha256::digest(job_id.as_str().as_bytes());
    let mut random = [0u8; 16];
    random[6..].copy_from_slice(&digest[..10]);
    let millis = u64::try_from(at.as_millis()).unwrap_or(0);
    MessageId::new(ulid::Ulid::from_parts(millis, u128::from_be_bytes(random)).to_string())
}

pub(super) async fn queue_jobs(app: &App, jobs: Vec<(JobId, AutomationJob)>) -> Result<(), String> {
    let count = jobs.len();
    jobs::enqueue_all_with_ids(app, jobs)
        .await
        .map(|_| ())
        .map_err(|e| format!("cannot queue the run's {count} jobs: {e}"))
}

/// Queues the event's effects, then releases the lock if the run is over.
pub(super) async fn carry_out(
    app: &App,
    target: &RunTarget<'_>,
    event: &AppliedEvent,
) -> Result<(), String> {
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
pub(super) fn contact_fields(
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

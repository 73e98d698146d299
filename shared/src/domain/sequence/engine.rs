//! The run state machine: `(sequence, state, event, contact, now) -> (new state, effects)`.
//! Pure: it reads nothing and writes nothing; the integrator stores the new state and
//! carries out the effects in order.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::conditions::{Facts, Goto};
use super::definition::{COLLECT_EMAIL_STEP, EMAIL_FIELD, Next, Sequence, Step};
use super::fields::{ContactField, CustomField};
use crate::domain::email::EmailAddress;
use crate::domain::merge;
use crate::domain::received::MessageWindow;
use crate::domain::time::Timestamp;

/// A run ends this long after its last activity (its start or a reply).
pub const RUN_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
/// Put before an e-mail step's question when the reply held no e-mail address.
pub const EMAIL_REASK_PREFIX: &str = "Sorry, that doesn't look like an e-mail address. ";
/// How many message SIDs a run remembers to drop repeated webhooks. Twilio repeats a
/// webhook within minutes; a run sees far fewer replies than this in that time.
pub const MAX_REMEMBERED_SIDS: usize = 100;

/// The contact's field values, keyed by merge name (`Contact.FirstName`,
/// `Contact._Budget`). A field missing from the map is read as empty.
pub type ContactFields = BTreeMap<String, String>;

/// Why a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// A `finish` was reached, or a closing step (no reply awaited) was sent.
    Completed,
    /// The contact texted an opt-out word.
    OptedOut,
    /// The number is not a valid mobile number.
    InvalidNumber,
    /// 24 h passed without activity.
    Expired,
    /// The step the run waited on is no longer in the (edited) sequence.
    StepRemoved,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RunStatus {
    /// The step's message was sent; its reply is awaited.
    WaitingForReply {
        step: String,
    },
    Finished {
        reason: FinishReason,
    },
}

/// A run of a sequence for one contact. Serialise it into the session record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunState {
    pub status: RunStatus,
    /// The latest saved answer of each step (an e-mail step's address as read).
    pub answers: BTreeMap<String, String>,
    pub started_at: Timestamp,
    pub last_activity: Timestamp,
    /// `last_activity` + 24 h: the lock's end, for the session store too.
    pub expires_at: Timestamp,
    /// SIDs of the messages the run already took (the start's keyword text included),
    /// oldest first, at most [`MAX_REMEMBERED_SIDS`].
    pub processed_sids: VecDeque<String>,
}

impl RunState {
    /// Waiting for a reply and not expired: the contact is inside this run.
    pub fn is_active(&self, now: Timestamp) -> bool {
        matches!(self.status, RunStatus::WaitingForReply { .. }) && now < self.expires_at
    }

    /// The step whose reply is awaited.
    pub fn current_step(&self) -> Option<&str> {
        match &self.status {
            RunStatus::WaitingForReply { step } => Some(step),
            RunStatus::Finished { .. } => None,
        }
    }

    pub fn finish_reason(&self) -> Option<FinishReason> {
        match self.status {
            RunStatus::Finished { reason } => Some(reason),
            RunStatus::WaitingForReply { .. } => None,
        }
    }

    fn remember(&mut self, sid: &str) {
        self.processed_sids.push_back(sid.to_string());
        while self.processed_sids.len() > MAX_REMEMBERED_SIDS {
            self.processed_sids.pop_front();
        }
    }

    fn touch(&mut self, now: Timestamp) {
        self.last_activity = now;
        self.expires_at = now.plus(RUN_LIFETIME);
    }
}

/// What happened to a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// Begin a run, at the first step or at `at_step` (a CRM start may name one).
    /// `trigger_sid` is the SID of the keyword text that started it, so a repeat of that
    /// webhook is not taken as the first reply.
    Start {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at_step: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trigger_sid: Option<String>,
    },
    /// An inbound text from the contact (not an opt-out word: those come as `OptedOut`).
    Reply {
        message_sid: String,
        body: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        media: Vec<String>,
    },
    /// The contact texted an opt-out word during the run.
    OptedOut,
    /// Sending to the contact failed because the number is not a valid mobile number.
    InvalidNumber,
    /// A periodic check: ends the run if it has expired.
    Expire,
}

/// What the integrator does, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Send `body` (merge fields already filled) with `media` through the normal send path,
    /// from the sequence's sender. Check it with `send_content::check_content` like any
    /// send: filled merge fields can make a body longer than its template.
    SendMessage {
        step: String,
        body: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        media: Vec<String>,
    },
    /// Write the contact's e-mail address (`Crm::set_email`).
    SetEmail {
        email: EmailAddress,
    },
    /// Write a custom field (`Crm::set_custom_field` with `field.name()`).
    SaveField {
        field: CustomField,
        value: String,
    },
    ApplyTag {
        tag: String,
    },
    /// Add a line to the contact's note for this sequence: create the note on first use,
    /// append to it afterwards (on later runs too). Only when the sequence keeps a note.
    AppendToNote {
        text: String,
    },
    /// The run is over: release the contact's lock.
    Finished {
        reason: FinishReason,
    },
}

/// The engine's answer: the state to store and the effects to carry out, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub state: RunState,
    pub effects: Vec<Effect>,
}

/// Why an event could not be applied (nothing to store, nothing to do).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("sequence has no step named '{0}'")]
    UnknownStep(String),
    #[error("the contact is already in this sequence, waiting at step '{step}'")]
    AlreadyActive { step: String },
    #[error("no run of this sequence to apply the event to")]
    NotStarted,
}

/// Applies `event` to the run `state` (`None`: the contact has no run of this sequence).
///
/// `contact` is the contact's fields at the time of the event; messages are rendered from
/// it, updated with the fields this same event saves. `sent` is what the current step's
/// `has_received` conditions look at ([`Sequence::received_filters`]; empty when
/// none does). `now` stamps the activity.
pub fn advance(
    sequence: &Sequence,
    state: Option<&RunState>,
    event: &Event,
    contact: &ContactFields,
    sent: &MessageWindow,
    now: Timestamp,
) -> Result<Transition, EngineError> {
    if let Event::Start {
        at_step,
        trigger_sid,
    } = event
    {
        refuse_active_run(state, now)?;
        let at = Moment { sent, now };
        return start(
            sequence,
            at_step.as_deref(),
            trigger_sid.as_deref(),
            contact,
            at,
        );
    }
    let state = state.ok_or(EngineError::NotStarted)?;
    let mut run = Run {
        sequence,
        state: state.clone(),
        effects: Vec::new(),
        contact: contact.clone(),
        sent,
        now,
    };
    let Some(step) = state.current_step() else {
        // A finished run takes no more events.
        return Ok(run.done());
    };
    if let Event::Reply { message_sid, .. } = event
        && state.processed_sids.contains(message_sid)
    {
        return Ok(run.done());
    }
    if now >= state.expires_at {
        run.finish(FinishReason::Expired);
    } else {
        run.apply(step, event, now);
    }
    Ok(run.done())
}

/// A start while a run is active fails: the contact is already in the sequence.
fn refuse_active_run(state: Option<&RunState>, now: Timestamp) -> Result<(), EngineError> {
    if let Some(state) = state
        && state.is_active(now)
        && let Some(step) = state.current_step()
    {
        return Err(EngineError::AlreadyActive {
            step: step.to_string(),
        });
    }
    Ok(())
}

/// When an event is applied: what was sent to the contact, and the time.
struct Moment<'a> {
    sent: &'a MessageWindow,
    now: Timestamp,
}

fn start(
    sequence: &Sequence,
    at_step: Option<&str>,
    trigger_sid: Option<&str>,
    contact: &ContactFields,
    at: Moment<'_>,
) -> Result<Transition, EngineError> {
    let Moment { sent, now } = at;
    let step = match at_step {
        Some(name) => sequence
            .step(name.trim())
            .ok_or_else(|| EngineError::UnknownStep(name.to_string()))?,
        None => sequence.first_step(),
    };
    let mut run = Run {
        sequence,
        state: RunState {
            status: RunStatus::WaitingForReply {
                step: step.name().to_string(),
            },
            answers: BTreeMap::new(),
            started_at: now,
            last_activity: now,
            expires_at: now.plus(RUN_LIFETIME),
            processed_sids: VecDeque::new(),
        },
        effects: Vec::new(),
        contact: contact.clone(),
        sent,
        now,
    };
    if let Some(sid) = trigger_sid {
        run.state.remember(sid);
    }
    match known_email(step, at_step, contact) {
        Some(email) => run.skip_known_email(step, &email),
        None => run.enter(step),
    }
    Ok(run.done())
}

/// The contact's e-mail address when the run would begin by asking for it although the
/// CRM has it: the pre-made e-mail step collects the address to avoid duplicate contacts,
/// so a contact who has one is not asked. A CRM start that names the step asks anyway.
fn known_email(step: &Step, at_step: Option<&str>, contact: &ContactFields) -> Option<String> {
    if at_step.is_some() || step.name() != COLLECT_EMAIL_STEP {
        return None;
    }
    contact
        .get(EMAIL_FIELD)
        .map(|email| email.trim())
        .filter(|email| !email.is_empty())
        .map(str::to_string)
}

/// What a reply gives a step's field.
enum Answer {
    Email(EmailAddress),
    Text(String),
}

/// One event being applied.
struct Run<'a> {
    sequence: &'a Sequence,
    state: RunState,
    effects: Vec<Effect>,
    /// The snapshot, updated with what this event saves.
    contact: ContactFields,
    /// What `has_received` conditions look at.
    sent: &'a MessageWindow,
    now: Timestamp,
}

impl Run<'_> {
    /// Applies an event other than a start to a run waiting at `step`, not expired.
    fn apply(&mut self, step: &str, event: &Event, now: Timestamp) {
        match event {
            Event::Start { .. } | Event::Expire => {}
            Event::Reply {
                message_sid,
                body,
                media,
            } => {
                self.state.remember(message_sid);
                self.state.touch(now);
                match self.sequence.step(step) {
                    Some(step) => self.reply(step, body, media),
                    None => self.finish(FinishReason::StepRemoved),
                }
            }
            Event::OptedOut => self.end_early(
                now,
                self.sequence.opted_out_tag(),
                "Opted out (STOP): the sequence ended.",
                FinishReason::OptedOut,
            ),
            Event::InvalidNumber => self.end_early(
                now,
                self.sequence.invalid_number_tag(),
                "Not a valid mobile number: the sequence ended.",
                FinishReason::InvalidNumber,
            ),
        }
    }

    /// Ends the run for what happened to the contact (an opt-out, an invalid number):
    /// the sequence's tag for it, a note line, the finish.
    fn end_early(&mut self, now: Timestamp, tag: Option<&str>, note: &str, reason: FinishReason) {
        self.state.touch(now);
        self.tag(tag);
        self.note(note.to_string());
        self.finish(reason);
    }

    fn done(self) -> Transition {
        Transition {
            state: self.state,
            effects: self.effects,
        }
    }

    fn finish(&mut self, reason: FinishReason) {
        self.state.status = RunStatus::Finished { reason };
        self.effects.push(Effect::Finished { reason });
    }

    fn tag(&mut self, tag: Option<&str>) {
        if let Some(tag) = tag {
            self.effects.push(Effect::ApplyTag {
                tag: tag.to_string(),
            });
        }
    }

    fn note(&mut self, text: String) {
        if self.sequence.keeps_note() {
            self.effects.push(Effect::AppendToNote { text });
        }
    }

    fn render(&self, template: &str) -> String {
        let fields = &self.contact;
        let value = |name: &str| {
            ContactField::parse(name)
                .ok()
                .map(|f| fields.get(&f.merge_name()).cloned().unwrap_or_default())
        };
        // Validation accepted only well-formed, known fields, so this cannot fail; should
        // it, the text as written is better than no message.
        merge::render(template, &value).unwrap_or_else(|_| template.to_string())
    }

    fn send(&mut self, step: &Step, body: String, media: Vec<String>) {
        let line = note_line("Sent", &body, &media);
        self.effects.push(Effect::SendMessage {
            step: step.name().to_string(),
            body,
            media,
        });
        self.note(line);
    }

    /// Sends the step's message and waits for its reply (or ends, for a closing step).
    fn enter(&mut self, step: &Step) {
        let body = self.render(step.message());
        self.send(step, body, step.media().to_vec());
        if step.awaits_reply() {
            self.state.status = RunStatus::WaitingForReply {
                step: step.name().to_string(),
            };
        } else {
            self.finish(FinishReason::Completed);
        }
    }

    fn reply(&mut self, step: &Step, body: &str, media: &[String]) {
        self.note(note_line("Reply", body, media));
        let answer = if step.expects_email() {
            match EmailAddress::find_in_text(body) {
                Some(email) => Answer::Email(email),
                None => {
                    // Ask again and save nothing; the run stays on this step. The media
                    // went out with the first question already.
                    let body = format!("{EMAIL_REASK_PREFIX}{}", self.render(step.message()));
                    self.send(step, body, Vec::new());
                    return;
                }
            }
        } else {
            Answer::Text(body.trim().to_string())
        };
        self.save(step, answer);
        self.go_on(step, body);
    }

    /// Goes past the e-mail step as if its reply were the address the CRM already has:
    /// nothing is sent, asked or saved for it.
    fn skip_known_email(&mut self, step: &Step, email: &str) {
        self.note(format!(
            "E-mail already known ({email}): the e-mail question was not asked."
        ));
        self.go_on(step, email);
    }

    /// Follows `step`'s `next` for the reply `body`: its tag, then the step it leads to.
    fn go_on(&mut self, step: &Step, body: &str) {
        let (tag, goto) = self.decide(step, body);
        self.tag(tag.as_deref());
        match goto {
            Goto::Finish => self.finish(FinishReason::Completed),
            Goto::Step(name) => match self.sequence.step(&name) {
                Some(next) => self.enter(next),
                None => self.finish(FinishReason::StepRemoved),
            },
        }
    }

    fn save(&mut self, step: &Step, answer: Answer) {
        let value = match &answer {
            Answer::Email(email) => email.to_string(),
            Answer::Text(text) => text.clone(),
        };
        // An empty reply (a picture alone) leaves fields as they are.
        if value.is_empty() {
            return;
        }
        self.state
            .answers
            .insert(step.name().to_string(), value.clone());
        let effect = match (step.save_to(), answer) {
            (Some(field), Answer::Email(email)) if field.is_email() => Effect::SetEmail { email },
            (Some(ContactField::Custom(field)), _) => Effect::SaveField {
                field: field.clone(),
                value: value.clone(),
            },
            // No field, or one validation refuses to write to.
            _ => return,
        };
        if let Some(field) = step.save_to() {
            self.contact.insert(field.merge_name(), value);
        }
        self.effects.push(effect);
    }

    fn facts(&self) -> Facts<'_> {
        Facts {
            contact: &self.contact,
            sent: self.sent,
            now: self.now,
        }
    }

    fn decide(&self, step: &Step, body: &str) -> (Option<String>, Goto) {
        match step.next() {
            Next::Goto(goto) => (None, goto.clone()),
            Next::Decide {
                conditions,
                fallback,
                fallback_tag,
            } => conditions
                .iter()
                .find(|c| c.test.matches(body, &self.facts()))
                .map(|c| (c.tag.clone(), c.goto.clone()))
                .unwrap_or_else(|| (fallback_tag.clone(), fallback.clone())),
        }
    }
}

fn note_line(who: &str, body: &str, media: &[String]) -> String {
    let mut parts = vec![format!("{who}:")];
    if !body.trim().is_empty() {
        parts.push(body.trim().to_string());
    }
    if !media.is_empty() {
        parts.push(format!("[media: {}]", media.join(", ")));
    }
    parts.join(" ")
}

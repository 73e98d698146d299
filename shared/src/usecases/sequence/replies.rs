//! Events of a running sequence: a reply (or a keyword that starts one), STOP, an invalid
//! number. Each advances the run exactly once, under retries.

use super::runs::{
    AppliedEvent, RunSession, RunTarget, carry_out, contact_fields, decode_session, encode_session,
};
use super::starts::{RunStart, begin};
use crate::app::App;
use crate::domain::SessionId;
use crate::domain::keywords::KeywordClass;
use crate::domain::received::{MESSAGES_READ, MessageWindow, widest_since};
use crate::domain::sequence::{Effect, Event, RunState, Sequence, advance};
use crate::domain::{Account, AccountId, PhoneNumber, Timestamp};
use crate::jobs::InboundText;
use crate::ports::{Contact, SessionRecord};
use crate::ports::{SequenceStore, SessionStore};
use crate::usecases::JobOutcome;
use crate::usecases::contacts::cache_contact;

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
            message_sid: text.message_sid.to_string(),
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
    let Some(sequence) = keyword_sequence(app.store.as_ref(), account, &text.body).await? else {
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
        trigger_sid: Some(text.message_sid.to_string()),
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
    sequences: &dyn SequenceStore,
    account: &Account,
    body: &str,
) -> Result<Option<Sequence>, JobOutcome> {
    let sequences = sequences
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
            key: text.message_sid.to_string(),
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
    let Some(mut session) = readable_session(app, account, phone, &record).await else {
        return Ok(RunAdvance::RunGone);
    };
    if session.last.key == key {
        // A retry of this very event: its state is stored, its effects may not be queued.
        let target = RunTarget::of(&account.id, &record, phone, &session);
        carry_out(app, &target, &session.last).await?;
        return Ok(RunAdvance::AlreadyTaken);
    }
    let Some(sequence) = run_sequence(app, account, phone, &record).await? else {
        return Ok(RunAdvance::RunGone);
    };
    let now = app.clock.now();
    let snapshot = contact_fields(&sequence, contact, Some(&session.run));
    let sent = sent_for_conditions(app, account, phone, &sequence, &session.run, now).await?;
    let transition = match advance(&sequence, Some(&session.run), &event, &snapshot, &sent, now) {
        Ok(transition) => transition,
        Err(e) => {
            tracing::error!(account = %account.id, error = %e, "the run cannot take the event; it ends");
            end_quietly(app.store.as_ref(), &account.id, phone, &record.session_id).await;
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
    store_advance(app.store.as_ref(), account, phone, &record, &session).await?;
    let target = RunTarget::of(&account.id, &record, phone, &session);
    carry_out(app, &target, &session.last).await?;
    remember_email(app, account, phone, contact, &session.last.effects).await;
    tracing::info!(
        account = %account.id,
        sequence = record.sequence,
        to = %phone.masked(),
        step = session.run.current_step().unwrap_or("(finished)"),
        "sequence run advanced"
    );
    Ok(RunAdvance::Applied)
}

/// What the `has_received` conditions of the step the run waits at look at: the
/// conversation's newest messages in their widest window, in one bounded read; nothing is
/// read when the step has none.
async fn sent_for_conditions(
    app: &App,
    account: &Account,
    phone: &PhoneNumber,
    sequence: &Sequence,
    run: &RunState,
    now: Timestamp,
) -> Result<MessageWindow, String> {
    let filters = run
        .current_step()
        .map(|step| sequence.received_filters(step))
        .unwrap_or_default();
    if filters.is_empty() {
        return Ok(MessageWindow::default());
    }
    let since = widest_since(&filters, now);
    app.store
        .messages_since(&account.id, phone, since, MESSAGES_READ)
        .await
        .map_err(|e| format!("cannot read the conversation for has_received: {e}"))
}

/// The address the run just saved, on the cached contact too: its `SetEmail` job writes
/// the CRM, but a keyword run started before the cache lapses would read the contact
/// without it and ask for the e-mail again.
async fn remember_email(
    app: &App,
    account: &Account,
    phone: &PhoneNumber,
    contact: Option<&Contact>,
    effects: &[Effect],
) {
    let saved = effects.iter().find_map(|effect| match effect {
        Effect::SetEmail { email } => Some(email),
        _ => None,
    });
    if let (Some(email), Some(contact)) = (saved, contact) {
        let updated = Contact {
            email: Some(email.clone()),
            ..contact.clone()
        };
        let now = app.clock.now();
        cache_contact(app.store.as_ref(), account, phone, &updated, now).await;
    }
}

/// The run stored in `record`, or `None` once an unreadable one (never written by this
/// version) is ended rather than left to block the contact.
async fn readable_session(
    app: &App,
    account: &Account,
    phone: &PhoneNumber,
    record: &SessionRecord,
) -> Option<RunSession> {
    match decode_session(record) {
        Ok(session) => Some(session),
        Err(e) => {
            tracing::error!(account = %account.id, error = %e, "ending an unreadable sequence session");
            end_quietly(app.store.as_ref(), &account.id, phone, &record.session_id).await;
            None
        }
    }
}

/// The run's sequence, or `None` once a run whose sequence was deleted or is no longer
/// valid is ended.
async fn run_sequence(
    app: &App,
    account: &Account,
    phone: &PhoneNumber,
    record: &SessionRecord,
) -> Result<Option<Sequence>, String> {
    match app.store.sequence(&account.id, &record.sequence).await {
        Ok(Some(Ok(sequence))) => Ok(Some(sequence)),
        Ok(gone_or_invalid) => {
            let problem = gone_or_invalid.and_then(Result::err).map(|e| e.to_string());
            tracing::warn!(
                account = %account.id,
                sequence = record.sequence,
                problem = problem.as_deref(),
                "the run's sequence was deleted or is no longer valid: the run ends"
            );
            end_quietly(app.store.as_ref(), &account.id, phone, &record.session_id).await;
            Ok(None)
        }
        Err(e) => Err(format!("sequence: {e}")),
    }
}

/// Stores the advanced run conditionally on the revision read: an error when another event
/// of this contact moved the run first (the job is retried on the new state).
async fn store_advance(
    sessions: &dyn SessionStore,
    account: &Account,
    phone: &PhoneNumber,
    record: &SessionRecord,
    session: &RunSession,
) -> Result<(), String> {
    let next = SessionRecord {
        state: encode_session(session)?,
        expires_at: session.run.expires_at,
        revision: record.revision + 1,
        ..record.clone()
    };
    let stored = sessions
        .update_session(&account.id, phone, &next)
        .await
        .map_err(|e| format!("cannot store the run: {e}"))?;
    if stored {
        Ok(())
    } else {
        Err("the run changed while this event was applied; retrying on its new state".into())
    }
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
    let run_event = RunEvent {
        key: format!("invalid-number:{cause}"),
        event: Event::InvalidNumber,
    };
    end_active_run(app, account, phone, run_event).await
}

/// The carrier reports that `phone` opted out (Instasent's `stop`): the contact's run, if
/// one is active, ends as a STOP text ends it (with the opt-out tag). `cause` as for
/// [`on_invalid_number`].
pub async fn on_carrier_opt_out(
    app: &App,
    account: &Account,
    phone: &PhoneNumber,
    cause: &str,
) -> Result<Option<String>, String> {
    let run_event = RunEvent {
        key: format!("carrier-opt-out:{cause}"),
        event: Event::OptedOut,
    };
    end_active_run(app, account, phone, run_event).await
}

/// Applies `run_event` to the contact's active run, if any; the sequence whose run it was.
async fn end_active_run(
    app: &App,
    account: &Account,
    phone: &PhoneNumber,
    run_event: RunEvent,
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
    match apply_event(app, account, phone, run_event, None, record).await? {
        RunAdvance::Applied | RunAdvance::AlreadyTaken => Ok(Some(sequence)),
        RunAdvance::RunGone => Ok(None),
    }
}

async fn end_quietly(
    sessions: &dyn SessionStore,
    account: &AccountId,
    phone: &PhoneNumber,
    session_id: &SessionId,
) {
    if let Err(e) = sessions.end_session(account, phone, session_id).await {
        tracing::warn!(account = %account, error = %e, "could not end a sequence session");
    }
}

//! Effect jobs of a run: a step's message through the send path, and the contact's
//! conversation note, created once per contact and sequence.

use std::time::Duration;

use crate::app::App;
use crate::domain::Account;
use crate::domain::consent::{SendKind, SubscriptionStatus};
use crate::domain::send_content::check_content;
use crate::domain::sender::SenderSpec;
use crate::domain::{ContactId, IdempotencyKey, MessageId};
use crate::jobs::SequenceMessage;
use crate::ports::Crm;
use crate::ports::{Claim, ClaimTerms, NewNote};
use crate::usecases::send_request::{Outgoing, SendOutcome, queue_send};
use crate::usecases::{JobOutcome, crm_outcome};

/// A run's message through the one way into the send queue (consent, admission, pacing),
/// under the job's message id: a repeat of the job sends nothing twice.
pub async fn send_step(
    app: &App,
    account: &Account,
    message: &SequenceMessage,
    message_id: &MessageId,
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
        // The message is the run's: its conversation goes in the sequence's note, not in a
        // note per SMS (`deliver/attempt.rs::after_sent`).
        sequence: Some(message.sequence.clone()),
        // Sequence messages are transactional: quiet hours do not hold them.
        time_zone: None,
    };
    match queue_send(app, account, &outgoing, message_id.clone()).await {
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
    contact_id: &ContactId,
    sequence: &str,
    lines: &[String],
) -> JobOutcome {
    let text = lines.join("\n");
    let noted = app
        .store
        .sequence_note(&account.id, contact_id, sequence)
        .await;
    match noted {
        Ok(Some(note_id)) => return append(app.crm.as_ref(), account, &note_id, &text).await,
        Ok(None) => {}
        Err(e) => return JobOutcome::Retry(format!("cannot read the note id: {e}")),
    }
    let lock = IdempotencyKey::sequence_note(&account.id, contact_id, sequence);
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
    contact_id: &ContactId,
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
        Err(e) => return crm_outcome(Err(e)),
    };
    match app
        .store
        .remember_sequence_note(&account.id, contact_id, sequence, &created.id)
        .await
    {
        Ok(on_record) if on_record == created.id => JobOutcome::Done,
        // Another note was recorded first: keep the lines there too.
        Ok(on_record) => append(app.crm.as_ref(), account, &on_record, text).await,
        Err(e) => {
            tracing::error!(error = %e, note = %created.id, "note created but its id not kept; the next line starts another note");
            JobOutcome::Done
        }
    }
}

async fn append(crm: &dyn Crm, account: &Account, note_id: &str, text: &str) -> JobOutcome {
    match crm
        .append_to_note(account, note_id, &format!("\n{text}"))
        .await
    {
        Ok(()) => JobOutcome::Done,
        Err(e) => crm_outcome(Err(e)),
    }
}

/// How long a job creating a contact's sequence note holds the right to create it: other
/// note jobs of the same contact and sequence wait (retry) meanwhile, so one note is made.
const NOTE_CREATION_LOCK: Duration = Duration::from_secs(5 * 60);

//! The automation queue's dispatcher: each job kind to the use case that runs it, once per
//! job id. It sits above the use cases, which queue jobs (`crate::jobs`) but never run one.

use crate::app::App;
use crate::domain::Account;
use crate::jobs::{AutomationEnvelope, AutomationJob};
use crate::ports::NewNote;
use crate::usecases::{
    JobOutcome, automation, crm_effects, goals, inbound, sequence, status, with_account,
};

/// Runs one automation job, once per its id.
pub async fn run(app: &App, envelope: &AutomationEnvelope) -> JobOutcome {
    automation::run_once(app, envelope, dispatch(app, &envelope.job)).await
}

/// Jobs about an account run once it is loaded ([`with_account`]: a deleted account drops
/// the job); the others, and the goal job, load what they need themselves.
async fn dispatch(app: &App, job: &AutomationJob) -> JobOutcome {
    match job {
        AutomationJob::SendEmail { email } => {
            crm_effects::send_email(app.mailer.as_ref(), email).await
        }
        AutomationJob::ProcessInbound(text) => inbound::process(app, text).await,
        AutomationJob::PostEvent { account, event } => {
            status::post_event(app.events.as_ref(), app.store.as_ref(), account, event).await
        }
        AutomationJob::SequenceSend { message, .. } => {
            with_account(app, &message.account, |acct| on_account(app, acct, job)).await
        }
        // Reads its account together with what it needs of it.
        AutomationJob::AchieveGoal {
            account,
            contact_id,
            call_name,
            about,
        } => goals::achieve(app, account, contact_id, call_name, about.as_ref()).await,
        AutomationJob::ApplyTag { account, .. }
        | AutomationJob::CreateNote { account, .. }
        | AutomationJob::SetEmail { account, .. }
        | AutomationJob::SetCustomField { account, .. }
        | AutomationJob::SequenceNote { account, .. } => {
            with_account(app, account, |acct| on_account(app, acct, job)).await
        }
    }
}

/// Runs a job about `account`, the account it names.
async fn on_account(app: &App, account: Account, job: &AutomationJob) -> JobOutcome {
    let (acct, crm) = (&account, app.crm.as_ref());
    match job {
        AutomationJob::ApplyTag {
            contact_id, tag, ..
        } => crm_effects::apply_tag(crm, acct, contact_id, tag).await,
        AutomationJob::CreateNote {
            contact_id,
            title,
            body,
            user_id,
            ..
        } => crm_effects::create_note(crm, acct, contact_id, &note(title, body, user_id)).await,
        AutomationJob::SequenceSend {
            message_id,
            message,
        } => sequence::send_step(app, acct, message, message_id).await,
        AutomationJob::SetEmail {
            contact_id, email, ..
        } => crm_effects::set_email(crm, acct, contact_id, email).await,
        AutomationJob::SetCustomField {
            contact_id,
            field,
            value,
            ..
        } => crm_effects::set_custom_field(crm, acct, contact_id, field, value).await,
        AutomationJob::SequenceNote {
            contact_id,
            sequence,
            lines,
            ..
        } => sequence::write_note(app, acct, contact_id, sequence, lines).await,
        // `dispatch` runs these itself; answering rather than panicking keeps a worker alive
        // should the two matches ever disagree.
        AutomationJob::SendEmail { .. }
        | AutomationJob::ProcessInbound(_)
        | AutomationJob::PostEvent { .. }
        | AutomationJob::AchieveGoal { .. } => {
            JobOutcome::Dropped("a job `dispatch` runs itself reached `on_account`".into())
        }
    }
}

/// A `CreateNote` job's note.
fn note(title: &str, body: &str, user_id: &Option<String>) -> NewNote {
    NewNote {
        title: title.to_string(),
        body: body.to_string(),
        user_id: user_id.clone(),
    }
}

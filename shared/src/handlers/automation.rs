//! The automation queue's dispatcher: each job kind to the use case that runs it, once per
//! job id. It sits above the use cases, which queue jobs (`crate::jobs`) but never run one.

use crate::app::App;
use crate::jobs::{AutomationEnvelope, AutomationJob};
use crate::ports::NewNote;
use crate::usecases::{
    JobOutcome, automation, crm_effects, goals, inbound, sequence, status, with_account,
};

/// Runs one automation job, once per its id.
pub async fn run(app: &App, envelope: &AutomationEnvelope) -> JobOutcome {
    automation::run_once(app, envelope, dispatch(app, &envelope.job)).await
}

async fn dispatch(app: &App, job: &AutomationJob) -> JobOutcome {
    match job {
        AutomationJob::AchieveGoal {
            account,
            contact_id,
            call_name,
            about,
        } => {
            with_account(app, account, |acct| async move {
                goals::achieve(app, &acct, contact_id, call_name, about.as_ref()).await
            })
            .await
        }
        AutomationJob::ApplyTag {
            account,
            contact_id,
            tag,
        } => {
            with_account(app, account, |acct| async move {
                crm_effects::apply_tag(app.crm.as_ref(), &acct, contact_id, tag).await
            })
            .await
        }
        AutomationJob::CreateNote {
            account,
            contact_id,
            title,
            body,
            user_id,
        } => {
            let note = NewNote {
                title: title.clone(),
                body: body.clone(),
                user_id: user_id.clone(),
            };
            with_account(app, account, |acct| async move {
                crm_effects::create_note(app.crm.as_ref(), &acct, contact_id, &note).await
            })
            .await
        }
        AutomationJob::SendEmail { email } => {
            crm_effects::send_email(app.mailer.as_ref(), email).await
        }
        AutomationJob::ProcessInbound(text) => inbound::process(app, text).await,
        AutomationJob::PostEvent { account, event } => {
            status::post_event(app, account, event).await
        }
        AutomationJob::SequenceSend {
            message_id,
            message,
        } => {
            with_account(app, &message.account, |acct| async move {
                sequence::send_step(app, &acct, message, message_id).await
            })
            .await
        }
        AutomationJob::SetEmail {
            account,
            contact_id,
            email,
        } => {
            with_account(app, account, |acct| async move {
                crm_effects::set_email(app.crm.as_ref(), &acct, contact_id, email).await
            })
            .await
        }
        AutomationJob::SetCustomField {
            account,
            contact_id,
            field,
            value,
        } => {
            with_account(app, account, |acct| async move {
                crm_effects::set_custom_field(app.crm.as_ref(), &acct, contact_id, field, value)
                    .await
            })
            .await
        }
        AutomationJob::SequenceNote {
            account,
            contact_id,
            sequence,
            lines,
        } => {
            with_account(app, account, |acct| async move {
                sequence::write_note(app, &acct, contact_id, sequence, lines).await
            })
            .await
        }
    }
}

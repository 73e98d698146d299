//! `inbound-email`: SES receiving's Lambda action for the reply domain. SES has stored the
//! raw message in S3 (the receipt rule's first action) and passes its verdicts; each
//! record is answered by `usecases::email_reply`. A failure to read the message or reach
//! the store fails the invocation, so Lambda retries the asynchronous event (a repeat is
//! recognised by the e-mail's `Message-ID` and sends nothing more).

use aws_lambda_events::ses::{SimpleEmailEvent, SimpleEmailVerdict};

use crate::app::App;
use crate::ports::{ReceivedMail, ReceivedMailError};
use crate::usecases::email_reply::{ReplyOutcome, Verdict, Verdicts, answer_by_email};

#[derive(Debug, thiserror::Error)]
pub enum InboundEmailError {
    #[error("the deployment has no reply domain (SMSFLOW_REPLY_DOMAIN)")]
    NoReplyDomain,
    #[error("SES record {index} has no message id")]
    NoMessageId { index: usize },
    #[error(transparent)]
    Read(#[from] ReceivedMailError),
    #[error("{0}")]
    Unavailable(String),
}

/// What became of each record's e-mail, in order.
pub async fn inbound_email(
    app: &App,
    received: &dyn ReceivedMail,
    event: SimpleEmailEvent,
) -> Result<Vec<ReplyOutcome>, InboundEmailError> {
    let replies = (app.settings.replies.as_ref()).ok_or(InboundEmailError::NoReplyDomain)?;
    let mut outcomes = Vec::with_capacity(event.records.len());
    for (index, record) in event.records.into_iter().enumerate() {
        let ses = record.ses;
        let message_id =
            (ses.mail.message_id.as_deref()).ok_or(InboundEmailError::NoMessageId { index })?;
        let raw = received.raw_message(message_id).await?;
        let receipt = &ses.receipt;
        let verdicts = Verdicts {
            spam: verdict(&receipt.spam_verdict),
            virus: verdict(&receipt.virus_verdict),
            spf: verdict(&receipt.spf_verdict),
            dkim: verdict(&receipt.dkim_verdict),
            dmarc: verdict(&receipt.dmarc_verdict),
        };
        let outcome = answer_by_email(app, replies.domain(), &raw, &verdicts)
            .await
            .map_err(|e| InboundEmailError::Unavailable(e.0))?;
        tracing::info!(ses_message_id = message_id, outcome = ?outcome_name(&outcome), "reply e-mail handled");
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// SES's verdict status; one it does not document counts as not checked.
fn verdict(given: &SimpleEmailVerdict) -> Verdict {
    match given.status.as_deref() {
        Some("PASS") => Verdict::Pass,
        Some("FAIL") => Verdict::Fail,
        Some("GRAY") => Verdict::Gray,
        Some("PROCESSING_FAILED") => Verdict::ProcessingFailed,
        _ => Verdict::Disabled,
    }
}

fn outcome_name(outcome: &ReplyOutcome) -> &'static str {
    match outcome {
        ReplyOutcome::Sent { .. } => "sent",
        ReplyOutcome::Refused { .. } => "refused",
        ReplyOutcome::Dropped { .. } => "dropped",
        ReplyOutcome::Repeat => "repeat",
    }
}

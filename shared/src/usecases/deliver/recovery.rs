//! Resolving a send whose attempt is on record without an outcome: the process died during
//! the provider call (a crash, a function timeout, an instance lost), so the message may or
//! may not have gone out. It is neither dropped nor sent twice:
//!
//! 1. the message carries the provider's SID (attached by the worker, or by a status
//!    callback, which names our message id): it was sent;
//! 2. too soon after the attempt to ask (a call may still be in flight): the job comes back
//!    when the provider can be asked;
//! 3. the provider has the message: it was sent; it has none: the attempt is replaced by a
//!    new one (the same conditional write against STOP) and the message is sent.

use super::attempt::{attempt, credentials, outbound, sent};
use crate::app::App;
use crate::domain::{Account, Timestamp};
use crate::jobs::SendJob;
use crate::usecases::JobOutcome;
use crate::usecases::pacing::requeue;

pub(super) async fn resolve(
    app: &App,
    account: &Account,
    job: &SendJob,
    attempted_at: Timestamp,
) -> JobOutcome {
    let stored = match app
        .store
        .message(&account.id, &job.to, &job.message_id)
        .await
    {
        Ok(stored) => stored,
        Err(e) => return JobOutcome::Retry(format!("cannot read the message: {e}")),
    };
    if let Some(sid) = stored.and_then(|m| m.provider_sid) {
        return sent(app, account, job, &sid).await;
    }
    let ask_at = attempted_at.plus(app.settings.leases.send_outcome);
    let now = app.clock.now();
    if now < ask_at {
        return match requeue(app, job, now.until(ask_at)).await {
            Ok(()) => JobOutcome::Skipped(format!(
                "send outcome unknown: the provider is asked at {ask_at}"
            )),
            Err(outcome) => outcome,
        };
    }
    let request = outbound(app, account, job);
    let credentials = match credentials(app, account, job).await {
        Ok(credentials) => credentials,
        Err(outcome) => return outcome,
    };
    match app.sms.find_sent(credentials, &request, attempted_at).await {
        Ok(Some(accepted)) => {
            tracing::info!(message_id = %job.message_id, sid = %accepted.sid, "a send whose answer was lost is at the provider");
            sent(app, account, job, &accepted.sid).await
        }
        Ok(None) => {
            tracing::info!(message_id = %job.message_id, "a send whose answer was lost never reached the provider: sending it");
            attempt(app, account, job, Some(attempted_at)).await
        }
        Err(e) => JobOutcome::Retry(format!(
            "cannot ask the provider about a send whose answer was lost: {e}"
        )),
    }
}

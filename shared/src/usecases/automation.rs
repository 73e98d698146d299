//! Running an automation job once per job id. Each job runs under a claim on its id, leased
//! for longer than the worker may run: a redelivery while the job runs elsewhere comes back
//! when the lease ends, and one whose holder died (a crash, a function timeout) takes the
//! job over. A job can thus run twice when its holder dies after the side effect and before
//! recording it: CRM goals, tags and field updates are idempotent at the CRM; an e-mail may
//! then arrive twice, which is preferred to losing it.

use std::future::Future;
use std::time::Duration;

use super::JobOutcome;
use crate::app::App;
use crate::domain::IdempotencyKey;
use crate::domain::Timestamp;
use crate::jobs::{AutomationEnvelope, delayed_message};
use crate::ports::JobQueue;
use crate::ports::{Claim, ClaimTerms, IdempotencyRecord, QueueName};

/// How long a finished job id is remembered against SQS redelivery.
const DEDUPE_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// Runs `work` (the envelope's job) once per job id: a redelivered job that already ran is
/// skipped, one that runs elsewhere comes back when that run's lease ends.
pub async fn run_once(
    app: &App,
    envelope: &AutomationEnvelope,
    work: impl Future<Output = JobOutcome>,
) -> JobOutcome {
    let key = IdempotencyKey::automation_job(envelope.job_id.as_str());
    let terms = ClaimTerms {
        keep: DEDUPE_WINDOW,
        lease: app.settings.leases.job,
    };
    let now = app.clock.now();
    match app.store.claim(&key, terms, now).await {
        Ok(Claim::New { .. }) => {}
        Ok(Claim::Existing(record)) if record.response.is_some() => {
            return JobOutcome::Skipped("job already handled".into());
        }
        Ok(Claim::Existing(record)) => {
            return come_back_later(app.queue.as_ref(), envelope, &record, now).await;
        }
        Err(e) => return JobOutcome::Retry(format!("cannot claim job: {e}")),
    }
    let outcome = work.await;
    let bookkeeping = if outcome.should_retry() {
        app.store.release(&key).await
    } else {
        app.store.complete(&key, &format!("{outcome:?}")).await
    };
    if let Err(e) = bookkeeping {
        tracing::warn!(job_id = %envelope.job_id, error = %e, "could not record job outcome");
    }
    outcome
}

/// A job another worker holds: back on the queue until its lease ends, when it is either
/// done (and this copy skipped) or taken over. Not a failed try: it counts no receive
/// toward the dead-letter queue.
async fn come_back_later(
    queue: &dyn JobQueue,
    envelope: &AutomationEnvelope,
    held: &IdempotencyRecord,
    now: Timestamp,
) -> JobOutcome {
    let until = held.lease_until.unwrap_or(now);
    let delay = now.until(until).min(crate::ports::queue::MAX_DELAY);
    let queued = match delayed_message(envelope, delay) {
        Ok(message) => queue.enqueue(QueueName::Automation, message).await,
        Err(e) => Err(e),
    };
    match queued {
        Ok(_) => JobOutcome::Skipped(format!("job is running elsewhere: back at {until}")),
        Err(e) => JobOutcome::Retry(format!(
            "job is running elsewhere, and cannot be requeued: {e}"
        )),
    }
}

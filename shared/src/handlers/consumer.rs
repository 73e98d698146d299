//! Queue consumers, written once as "batch in, failed item ids out": Lambda feeds them SQS
//! events (with `ReportBatchItemFailures`), the local runtime feeds them the in-process
//! queue. A message that fails goes back to the queue, hidden for the retry backoff (not the
//! queue's whole visibility timeout), and after enough receives to the dead-letter queue.

use std::future::Future;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tracing::Instrument;

use std::time::Duration;

use crate::app::App;
use crate::domain::{AccountId, Timestamp};
use crate::jobs::{AutomationEnvelope, SendJob};
use crate::metrics;
use crate::ports::{JobFailure, QueueName};
use crate::usecases::{JobOutcome, deliver};

/// How a batch's records are handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    OneAfterAnother,
    /// All at once: the send worker's jobs wait for their senders' slots, and one sender's
    /// wait must not hold up another's.
    AtOnce,
}

/// A record to retry: its message id, why it failed, and what its backoff needs.
struct Failed {
    id: String,
    why: String,
    receipt: Option<String>,
    receive_count: u32,
}

/// Runs `handle` on each record's decoded body; returns the records to retry and why each
/// failed. A body that does not decode is a failure too, so it ends in the dead-letter queue
/// for an operator instead of vanishing. Also publishes each job's wait in `queue`.
async fn consume_with_reasons<J, F, Fut>(
    app: &App,
    queue: QueueName,
    event: SqsEvent,
    handle: F,
    order: Order,
) -> (SqsBatchResponse, Vec<Failed>)
where
    J: DeserializeOwned,
    F: Fn(J) -> Fut,
    Fut: Future<Output = JobOutcome>,
{
    let now = app.clock.now();
    let settle = |record| settle(record, &handle, queue, now);
    let settled: Vec<Option<Failed>> = match order {
        Order::OneAfterAnother => {
            let mut settled = Vec::with_capacity(event.records.len());
            for record in event.records {
                settled.push(settle(record).await);
            }
            settled
        }
        Order::AtOnce => futures::future::join_all(event.records.into_iter().map(settle)).await,
    };
    let mut response = SqsBatchResponse::default();
    let mut failures = Vec::new();
    for failed in settled.into_iter().flatten() {
        // A record without an id cannot be reported: its empty id fails the whole batch.
        if failed.id.is_empty() {
            tracing::error!("record without messageId failed; failing the batch");
        }
        response.add_failure(failed.id.clone());
        failures.push(failed);
    }
    (response, failures)
}

/// Handles one record of `queue` (received at `now`); what to retry, if it failed.
async fn settle<J, F, Fut>(
    record: SqsMessage,
    handle: &F,
    queue: QueueName,
    now: Timestamp,
) -> Option<Failed>
where
    J: DeserializeOwned,
    F: Fn(J) -> Fut,
    Fut: Future<Output = JobOutcome>,
{
    let id = record.message_id.clone().unwrap_or_default();
    let account = account_of(&record);
    count_queue_age(queue, &record, &account, now);
    let failure = match decode::<J>(&record) {
        Ok(job) => {
            // Every log line of the job carries its queue message id, and its account when
            // the job names one (no empty `account=`).
            let span =
                tracing::info_span!("job", message_id = %id, account = tracing::field::Empty);
            if !account.is_empty() {
                span.record("account", tracing::field::display(&account));
            }
            let outcome = async {
                let outcome = handle(job).await;
                log_outcome(&id, &outcome);
                outcome
            }
            .instrument(span)
            .await;
            match outcome {
                JobOutcome::Retry(why) => Some(why),
                _ => None,
            }
        }
        Err(problem) => {
            tracing::error!(message_id = %id, problem, "undecodable queue message");
            Some(problem)
        }
    };
    failure.map(|why| Failed {
        id,
        why,
        receive_count: record
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|c| c.parse().ok())
            .unwrap_or(1),
        receipt: record.receipt_handle,
    })
}

/// Hides each failed message for its retry backoff, so a brief outage costs seconds rather
/// than the queue's whole visibility timeout. Best effort: a message that cannot be hidden
/// comes back when its visibility timeout ends.
async fn back_off(app: &App, queue: QueueName, failures: &[Failed]) {
    for failed in failures {
        let Some(receipt) = &failed.receipt else {
            continue;
        };
        let delay = app.settings.retry_backoff.delay(failed.receive_count);
        if let Err(e) = app.queue.change_visibility(queue, receipt, delay).await {
            tracing::warn!(%queue, message_id = %failed.id, error = %e, "cannot delay the retry");
        }
    }
}

/// Remembers why each message failed, for `smsflow dlq list` once it is dead-lettered, then
/// sets when it comes back. Best effort: the message is retried either way, so a store error
/// is only logged.
async fn record_failures(app: &App, queue: QueueName, failures: Vec<Failed>) {
    for failed in failures.iter().filter(|f| !f.id.is_empty()) {
        let failure = JobFailure {
            error: failed.why.clone(),
            failed_at: app.clock.now(),
        };
        if let Err(e) = app
            .store
            .record_job_failure(queue, &failed.id, &failure)
            .await
        {
            tracing::warn!(%queue, message_id = %failed.id, error = %e, "cannot record the job failure");
        }
    }
    back_off(app, queue, &failures).await;
}

/// Publishes how long a job waited before its first receive (`SentTimestamp` to `now`);
/// redeliveries are not counted again, and jobs naming no account are not counted.
fn count_queue_age(queue: QueueName, record: &SqsMessage, account: &str, now: Timestamp) {
    let Some(age) = first_wait(record, now) else {
        return;
    };
    if let Ok(account) = AccountId::parse(account) {
        metrics::queue_age(&account, queue, age);
    }
}

/// The wait of a record received for the first time.
fn first_wait(record: &SqsMessage, now: Timestamp) -> Option<Duration> {
    let attribute = |name: &str| record.attributes.get(name).map(String::as_str);
    if attribute("ApproximateReceiveCount") != Some("1") {
        return None;
    }
    let sent = attribute("SentTimestamp")?.parse::<i64>().ok()?;
    let waited = now.as_millis().checked_sub(sent)?;
    u64::try_from(waited).ok().map(Duration::from_millis)
}

/// The account a job body names at its top level (every send job and nearly every
/// automation job), for the log span; empty when it names none.
fn account_of(record: &SqsMessage) -> String {
    #[derive(Deserialize)]
    struct Tenant {
        account: Option<String>,
    }
    record
        .body
        .as_deref()
        .and_then(|body| serde_json::from_str::<Tenant>(body).ok())
        .and_then(|t| t.account)
        .unwrap_or_default()
}

fn decode<J: DeserializeOwned>(record: &SqsMessage) -> Result<J, String> {
    let body = record.body.as_deref().ok_or("message has no body")?;
    serde_json::from_str(body).map_err(|e| format!("not a valid job: {e}"))
}

fn log_outcome(id: &str, outcome: &JobOutcome) {
    match outcome {
        JobOutcome::Done => tracing::info!(message_id = %id, "job done"),
        JobOutcome::Skipped(why) => tracing::info!(message_id = %id, why, "job skipped"),
        JobOutcome::Retry(why) => tracing::warn!(message_id = %id, why, "job will be retried"),
        JobOutcome::Dropped(why) => tracing::error!(message_id = %id, why, "job dropped"),
        JobOutcome::Refused(why) => {
            tracing::warn!(message_id = %id, why, "job refused (the recipient's); not retried")
        }
    }
}

/// The automation worker: CRM goals, tags, notes and e-mails.
pub async fn automation_worker(app: &App, event: SqsEvent) -> SqsBatchResponse {
    let (response, reasons) = consume_with_reasons(
        app,
        QueueName::Automation,
        event,
        |envelope: AutomationEnvelope| async move { super::automation::run(app, &envelope).await },
        Order::OneAfterAnother,
    )
    .await;
    record_failures(app, QueueName::Automation, reasons).await;
    response
}

/// The send worker: delivers admitted sends through the SMS provider.
pub async fn send_worker(app: &App, event: SqsEvent) -> SqsBatchResponse {
    let (response, reasons) = consume_with_reasons(
        app,
        QueueName::Send,
        event,
        |job: SendJob| async move { deliver::deliver(app, &job).await },
        Order::AtOnce,
    )
    .await;
    record_failures(app, QueueName::Send, reasons).await;
    response
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    type Attributes<'a> = &'a [(&'a str, &'a str)];

    fn record(attributes: Attributes<'_>) -> SqsMessage {
        let mut record = SqsMessage::default();
        record.attributes = attributes
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<HashMap<_, _>>();
        record
    }

    #[test]
    fn a_jobs_wait_is_counted_on_its_first_receive_only() {
        let now = Timestamp::from_millis(10_000);
        let cases: [(Attributes<'_>, Option<Duration>); 5] = [
            (
                &[("ApproximateReceiveCount", "1"), ("SentTimestamp", "7500")],
                Some(Duration::from_millis(2_500)),
            ),
            (
                &[("ApproximateReceiveCount", "2"), ("SentTimestamp", "7500")],
                None,
            ),
            // The local queue sends no SentTimestamp.
            (&[("ApproximateReceiveCount", "1")], None),
            (
                &[("ApproximateReceiveCount", "1"), ("SentTimestamp", "soon")],
                None,
            ),
            // A clock behind the queue's: no negative wait.
            (
                &[("ApproximateReceiveCount", "1"), ("SentTimestamp", "12000")],
                None,
            ),
        ];
        for (attributes, want) in cases {
            assert_eq!(first_wait(&record(attributes), now), want, "{attributes:?}");
        }
    }
}

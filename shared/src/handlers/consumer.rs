//! Queue consumers, written once as "batch in, failed item ids out": Lambda feeds them SQS
//! events (with `ReportBatchItemFailures`), the local runtime feeds them the in-process
//! queue. A message that fails goes back to the queue and, after enough receives, to the
//! dead-letter queue.

use std::future::Future;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use serde::de::DeserializeOwned;

use crate::app::App;
use crate::usecases::{JobOutcome, automation, deliver};

/// Runs `handle` on each record's decoded body, one after the other; returns the records
/// to retry. A body that does not decode is a failure too, so it ends in the dead-letter
/// queue for an operator instead of vanishing.
pub async fn consume<J, F, Fut>(event: SqsEvent, handle: F) -> SqsBatchResponse
where
    J: DeserializeOwned,
    F: Fn(J) -> Fut,
    Fut: Future<Output = JobOutcome>,
{
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        if let Some(failed) = settle(record, &handle).await {
            response.add_failure(failed);
        }
    }
    response
}

/// As [`consume`], with the batch's records handled at the same time: the send worker's
/// jobs wait for their senders' slots, and one sender's wait must not hold up another's.
pub async fn consume_concurrently<J, F, Fut>(event: SqsEvent, handle: F) -> SqsBatchResponse
where
    J: DeserializeOwned,
    F: Fn(J) -> Fut,
    Fut: Future<Output = JobOutcome>,
{
    let settled =
        futures::future::join_all(event.records.into_iter().map(|r| settle(r, &handle))).await;
    let mut response = SqsBatchResponse::default();
    for failed in settled.into_iter().flatten() {
        response.add_failure(failed);
    }
    response
}

/// Handles one record; the id to report if it is to be retried.
async fn settle<J, F, Fut>(record: SqsMessage, handle: &F) -> Option<String>
where
    J: DeserializeOwned,
    F: Fn(J) -> Fut,
    Fut: Future<Output = JobOutcome>,
{
    let id = record.message_id.clone().unwrap_or_default();
    let retry = match decode::<J>(&record) {
        Ok(job) => {
            let outcome = handle(job).await;
            log_outcome(&id, &outcome);
            outcome.should_retry()
        }
        Err(problem) => {
            tracing::error!(message_id = %id, problem, "undecodable queue message");
            true
        }
    };
    if !retry {
        return None;
    }
    // A record without an id cannot be reported: its empty id fails the whole batch.
    if id.is_empty() {
        tracing::error!("record without messageId failed; failing the batch");
    }
    Some(id)
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
    }
}

/// The automation worker: CRM goals, tags, notes and e-mails.
pub async fn automation_worker(app: &App, event: SqsEvent) -> SqsBatchResponse {
    consume(event, |envelope: automation::AutomationEnvelope| async move {
        automation::run(app, &envelope).await
    })
    .await
}

/// The send worker: delivers admitted sends through the SMS provider.
pub async fn send_worker(app: &App, event: SqsEvent) -> SqsBatchResponse {
    consume_concurrently(event, |job: deliver::SendJob| async move {
        deliver::deliver(app, &job).await
    })
    .await
}

//! An SQS event source mapping as Lambda runs it: pollers (at most the mapping's
//! `MaximumConcurrency`) receive up to `BatchSize` messages, waiting at most the batching
//! window to fill a batch, and invoke the function with them. With
//! `ReportBatchItemFailures` the messages the function names stay on the queue and the
//! rest are deleted; a function error or timeout leaves the whole batch. Messages left on
//! the queue come back after the queue's visibility timeout, and moto moves them to the
//! dead-letter queue after `maxReceiveCount` receives. The poller calls SQS with the
//! function's role, as Lambda does, so the role must allow it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use axum::body::Bytes;
use futures::FutureExt;
use serde_json::{Map, Value, json};
use tokio::sync::watch;

use crate::lambda::FunctionPool;
use crate::manifest::EventSourceMapping;

/// Lambda's pollers when a mapping sets no `MaximumConcurrency`.
const DEFAULT_POLLERS: u32 = 5;
/// The longest single receive; SQS's long-poll limit.
const LONG_POLL_SECONDS: i32 = 20;

pub struct Mapping {
    pub config: EventSourceMapping,
    pub region: String,
    pub sqs: aws_sdk_sqs::Client,
    pub pool: Arc<FunctionPool>,
}

/// Runs the mapping's pollers until `stop` turns true.
pub async fn run(mapping: Arc<Mapping>, stop: watch::Receiver<bool>) {
    let pollers = mapping
        .config
        .maximum_concurrency
        .unwrap_or(DEFAULT_POLLERS)
        .max(1);
    let tasks: Vec<_> = (0..pollers)
        .map(|_| tokio::spawn(poll(mapping.clone(), stop.clone())))
        .collect();
    for task in tasks {
        let _ = task.await;
    }
}

async fn poll(mapping: Arc<Mapping>, mut stop: watch::Receiver<bool>) {
    loop {
        let batch = tokio::select! {
            _ = stop.wait_for(|s| *s).map(|r| r.is_ok()) => return,
            batch = gather(&mapping) => batch,
        };
        match batch {
            Ok(batch) if batch.is_empty() => {}
            Ok(batch) => deliver(&mapping, batch).await,
            Err(e) => {
                tracing::warn!(queue = %mapping.config.queue_url, error = %e, "cannot receive");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// One batch: up to `BatchSize` messages, within the batching window once one arrived.
async fn gather(mapping: &Mapping) -> Result<Vec<Message>, String> {
    let config = &mapping.config;
    let window = Duration::from_secs(u64::from(config.maximum_batching_window_seconds));
    let mut batch: Vec<Message> = Vec::new();
    let mut window_ends: Option<Instant> = None;
    loop {
        let wanted = (config.batch_size as usize)
            .saturating_sub(batch.len())
            .min(10);
        let wait = match window_ends {
            None => LONG_POLL_SECONDS,
            Some(end) => {
                // SQS waits in whole seconds: long-poll what is left of the window, and
                // once under a second is left, sleep it out and take what has arrived.
                let left = end.saturating_duration_since(Instant::now());
                if left < Duration::from_secs(1) {
                    tokio::time::sleep(left).await;
                }
                left.as_secs().min(LONG_POLL_SECONDS as u64) as i32
            }
        };
        let received = mapping
            .sqs
            .receive_message()
            .queue_url(&config.queue_url)
            .max_number_of_messages(wanted as i32)
            .wait_time_seconds(wait)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
        batch.extend(received.messages.unwrap_or_default());
        if batch.is_empty() {
            return Ok(batch);
        }
        let end = *window_ends.get_or_insert_with(|| Instant::now() + window);
        if batch.len() >= config.batch_size as usize || Instant::now() >= end {
            return Ok(batch);
        }
    }
}

async fn deliver(mapping: &Mapping, batch: Vec<Message>) {
    let event = json!({"Records": batch.iter().map(|m| record(mapping, m)).collect::<Vec<_>>()});
    let reports_failures = mapping
        .config
        .function_response_types
        .iter()
        .any(|t| t == "ReportBatchItemFailures");
    let ids: HashSet<String> = batch
        .iter()
        .filter_map(|m| m.message_id().map(str::to_string))
        .collect();
    let failed = match mapping.pool.invoke(Bytes::from(event.to_string())).await {
        Ok(response) => failed_ids(reports_failures, &response, &ids),
        Err(e) => {
            tracing::warn!(error = %e, "batch left on the queue");
            return;
        }
    };
    let done: Vec<&Message> = batch
        .iter()
        .filter(|m| !failed.contains(m.message_id().unwrap_or_default()))
        .collect();
    if let Err(e) = delete(mapping, &done).await {
        tracing::warn!(queue = %mapping.config.queue_url, error = %e, "cannot delete a processed batch");
    }
}

/// The ids the function reported failed, as Lambda reads a partial batch response: without
/// `ReportBatchItemFailures` none; with it, an empty or null response or failure list is a
/// complete success, and invalid JSON or a failure with an empty, missing or unknown
/// `itemIdentifier` fails the whole batch.
fn failed_ids(reports_failures: bool, response: &[u8], batch: &HashSet<String>) -> HashSet<String> {
    if !reports_failures {
        return HashSet::new();
    }
    let Ok(doc) = serde_json::from_slice::<Value>(response) else {
        return batch.clone();
    };
    let failures = match doc.get("batchItemFailures") {
        None | Some(Value::Null) => return HashSet::new(),
        Some(Value::Array(items)) => items,
        Some(_) => return batch.clone(),
    };
    let ids: Option<HashSet<String>> = failures
        .iter()
        .map(|i| {
            i["itemIdentifier"]
                .as_str()
                .filter(|id| batch.contains(*id))
                .map(str::to_string)
        })
        .collect();
    ids.unwrap_or_else(|| batch.clone())
}

async fn delete(mapping: &Mapping, messages: &[&Message]) -> Result<(), String> {
    for chunk in messages.chunks(10) {
        let mut request = mapping
            .sqs
            .delete_message_batch()
            .queue_url(&mapping.config.queue_url);
        for (i, message) in chunk.iter().enumerate() {
            let entry = aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(message.receipt_handle().unwrap_or_default())
                .build()
                .map_err(|e| e.to_string())?;
            request = request.entries(entry);
        }
        let answer = request
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
        if !answer.failed().is_empty() {
            return Err(format!("{} deletes failed", answer.failed().len()));
        }
    }
    Ok(())
}

/// One record of the SQS event, as Lambda builds it.
fn record(mapping: &Mapping, message: &Message) -> Value {
    let attributes: Map<String, Value> = message
        .attributes()
        .map(|a| {
            a.iter()
                .map(|(k, v)| (k.as_str().to_string(), Value::String(v.clone())))
                .collect()
        })
        .unwrap_or_default();
    let message_attributes: HashMap<String, Value> = message
        .message_attributes()
        .map(|a| {
            a.iter()
                .map(|(name, value)| {
                    (
                        name.clone(),
                        json!({
                            "stringValue": value.string_value(),
                            "stringListValues": [],
                            "binaryListValues": [],
                            "dataType": value.data_type(),
                        }),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    json!({
        "messageId": message.message_id(),
        "receiptHandle": message.receipt_handle(),
        "body": message.body(),
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message.md5_of_body(),
        "eventSource": "aws:sqs",
        "eventSourceARN": mapping.config.queue_arn,
        "awsRegion": mapping.region,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_batch_responses_read_as_lambda_reads_them() {
        let batch: HashSet<String> = ["a", "b"].into_iter().map(str::to_string).collect();
        let none = HashSet::new();
        let only_a: HashSet<String> = ["a".to_string()].into();
        let cases: [(&str, bool, &[u8], &HashSet<String>); 10] = [
            (
                "no reporting: all done",
                false,
                br#"{"batchItemFailures":[{"itemIdentifier":"a"}]}"#,
                &none,
            ),
            ("empty list", true, br#"{"batchItemFailures":[]}"#, &none),
            ("null list", true, br#"{"batchItemFailures":null}"#, &none),
            ("empty response", true, b"{}", &none),
            ("null response", true, b"null", &none),
            (
                "one failure",
                true,
                br#"{"batchItemFailures":[{"itemIdentifier":"a"}]}"#,
                &only_a,
            ),
            ("invalid JSON", true, b"{not json", &batch),
            (
                "empty id",
                true,
                br#"{"batchItemFailures":[{"itemIdentifier":""}]}"#,
                &batch,
            ),
            (
                "unknown id",
                true,
                br#"{"batchItemFailures":[{"itemIdentifier":"z"}]}"#,
                &batch,
            ),
            (
                "bad key",
                true,
                br#"{"batchItemFailures":[{"id":"a"}]}"#,
                &batch,
            ),
        ];
        for (case, reports, response, expected) in cases {
            assert_eq!(&failed_ids(reports, response, &batch), expected, "{case}");
        }
    }
}

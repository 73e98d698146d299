//! Feeds the in-process queues to the queue consumers, as SQS feeds them on Lambda:
//! batches of up to 10 as an `SqsEvent`; what the consumer reports failed stays on the queue
//! and comes back after the consumer's backoff, then goes to the dead-letter queue after too
//! many tries.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use tokio::sync::watch;

use super::LocalRuntime;
use crate::handlers::consumer;
use crate::ports::{QueueName, QueueReceiver, ReceivedMessage};

const BATCH: usize = 10;
const VISIBILITY: Duration = Duration::from_secs(60);
const LONG_POLL: Duration = Duration::from_secs(1);

pub async fn run(runtime: Arc<LocalRuntime>, queue: QueueName, mut stop: watch::Receiver<bool>) {
    loop {
        let received = tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            r = runtime.queue.receive(queue, BATCH, VISIBILITY, LONG_POLL) => r,
        };
        let messages = match received {
            Ok(m) if m.is_empty() => continue,
            Ok(m) => m,
            Err(e) => {
                tracing::error!(%queue, error = %e, "cannot receive from the local queue");
                tokio::time::sleep(LONG_POLL).await;
                continue;
            }
        };
        let event = sqs_event(queue, &messages);
        let response = match queue {
            QueueName::Send => consumer::send_worker(&runtime.app, event).await,
            QueueName::Automation => consumer::automation_worker(&runtime.app, event).await,
        };
        let failed: HashSet<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        // What failed stays: the consumer has set when it comes back (its retry backoff).
        for message in messages
            .iter()
            .filter(|m| !failed.contains(m.message_id.as_str()))
        {
            if let Err(e) = runtime.queue.delete(queue, &message.receipt).await {
                tracing::warn!(%queue, message_id = %message.message_id, error = %e, "cannot settle message");
            }
        }
    }
}

fn sqs_event(queue: QueueName, messages: &[ReceivedMessage]) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = messages
        .iter()
        .map(|m| {
            let mut record = SqsMessage::default();
            record.message_id = Some(m.message_id.clone());
            record.receipt_handle = Some(m.receipt.clone());
            record.body = Some(m.body.clone());
            record.attributes = HashMap::from([(
                "ApproximateReceiveCount".to_string(),
                m.receive_count.to_string(),
            )]);
            record.event_source = Some("smsflow:local-queue".into());
            record.event_source_arn = Some(format!("local:queue:{queue}"));
            record
        })
        .collect();
    event
}

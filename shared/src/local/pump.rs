//! Feeds the in-process queues to the queue consumers, as SQS feeds them on Lambda:
//! batches of up to 10 as an `SqsEvent`; what the consumer reports failed stays on the queue
//! and comes back after a backoff, then goes to the dead-letter queue after too many tries.

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

/// How long a message a consumer reported failed stays invisible before it is delivered
/// again: `first` after the first receive, doubling with each receive, at most `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryBackoff {
    pub first: Duration,
    pub max: Duration,
}

impl Default for RetryBackoff {
    /// 2, 4, 8... seconds, at most 5 minutes.
    fn default() -> Self {
        RetryBackoff {
            first: Duration::from_secs(2),
            max: Duration::from_secs(300),
        }
    }
}

impl RetryBackoff {
    fn delay(&self, receive_count: u32) -> Duration {
        let doublings = receive_count.clamp(1, 16) - 1;
        self.first.saturating_mul(1 << doublings).min(self.max)
    }
}

pub async fn run(
    runtime: Arc<LocalRuntime>,
    queue: QueueName,
    backoff: RetryBackoff,
    mut stop: watch::Receiver<bool>,
) {
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
        for message in &messages {
            let result = if failed.contains(message.message_id.as_str()) {
                runtime
                    .queue
                    .change_visibility(
                        queue,
                        &message.receipt,
                        backoff.delay(message.receive_count),
                    )
                    .await
            } else {
                runtime.queue.delete(queue, &message.receipt).await
            };
            if let Err(e) = result {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        let short = RetryBackoff {
            first: Duration::from_millis(100),
            max: Duration::from_millis(700),
        };
        let delays: Vec<u128> = (0..6).map(|n| short.delay(n).as_millis()).collect();
        assert_eq!(delays, [100, 100, 200, 400, 700, 700]);
        let backoff = RetryBackoff::default();
        let cases = [
            (0, 2),
            (1, 2),
            (2, 4),
            (3, 8),
            (8, 256),
            (9, 300),
            (40, 300),
        ];
        for (count, secs) in cases {
            assert_eq!(
                backoff.delay(count),
                Duration::from_secs(secs),
                "receive {count}"
            );
        }
    }
}

//! The queue port on Amazon SQS (standard queues, each with a dead-letter queue holding
//! what its RedrivePolicy moved there).
//!
//! SQS counts time in whole seconds: delays, visibility timeouts and waits are rounded up.
//! Receipts of dead letters carry a prefix so `delete` and `change_visibility` find the
//! dead-letter queue they came from.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{
    Message, MessageSystemAttributeName, QueueAttributeName, SendMessageBatchRequestEntry,
};

use crate::adapters::queue_limits::{check_delay, check_visibility, receive_batch};
use crate::config::{QueueUrl, QueueUrls};
use crate::ports::queue::{
    JobQueue, OutgoingMessage, QueueError, QueueName, QueueReceiver, QueueResult, ReceivedMessage,
};

pub use crate::adapters::queue_limits::{MAX_RECEIVE_BATCH, MAX_VISIBILITY};

/// SQS's longest long-poll wait; longer waits are shortened to it.
pub const MAX_WAIT: Duration = Duration::from_secs(20);

/// Marks receipts handed out by `receive_dead_letters`. SQS receipt handles are base64-like
/// and never contain ':'.
const DEAD_LETTER_RECEIPT: &str = "dlq:";

/// The queue port on SQS.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    urls: QueueUrls,
}

/// SQS's most entries per SendMessageBatch.
const BATCH_LIMIT: usize = 10;
/// SQS's most payload per SendMessageBatch (the bodies together), as for one message.
const BATCH_BYTES: usize = 1024 * 1024;

/// `messages` cut into SendMessageBatch-sized runs, in order.
fn batches(messages: &[OutgoingMessage]) -> Vec<&[OutgoingMessage]> {
    let mut runs = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, message) in messages.iter().enumerate() {
        let size = message.body.len();
        if i > start && (i - start == BATCH_LIMIT || bytes + size > BATCH_BYTES) {
            runs.push(&messages[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < messages.len() {
        runs.push(&messages[start..]);
    }
    runs
}

/// Whole seconds, rounded up (SQS's unit), as the SDK's `i32`.
fn whole_seconds(d: Duration) -> i32 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    i32::try_from(secs).unwrap_or(i32::MAX)
}

/// Maps an SDK error by its code: a receipt SQS no longer knows is stale, an invalid
/// parameter is a rejection, everything else (network, throttling, ...) a backend failure.
fn sqs_error<E, R>(operation: &str, queue: QueueName, err: SdkError<E, R>) -> QueueError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let code = err
        .code()
        .map(|c| c.trim_start_matches("AWS.SimpleQueueService."));
    let detail = format!(
        "{operation} on the {queue} queue: {}",
        DisplayErrorContext(&err)
    );
    match code {
        Some("ReceiptHandleIsInvalid" | "InvalidIdFormat" | "MessageNotInflight") => {
            QueueError::StaleReceipt(detail)
        }
        Some("InvalidParameterValue" | "InvalidMessageContents" | "MissingParameter") => {
            QueueError::Rejected { queue, detail }
        }
        _ => QueueError::Backend(detail),
    }
}

fn received(queue: QueueName, dead_letter: bool, message: Message) -> QueueResult<ReceivedMessage> {
    let missing = |field: &str| {
        QueueError::Backend(format!(
            "ReceiveMessage on the {queue} queue returned a message without {field}"
        ))
    };
    let receive_count = message
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .and_then(|count| count.parse().ok())
        .ok_or_else(|| missing("a numeric ApproximateReceiveCount"))?;
    let receipt = message
        .receipt_handle
        .ok_or_else(|| missing("ReceiptHandle"))?;
    Ok(ReceivedMessage {
        message_id: message.message_id.ok_or_else(|| missing("MessageId"))?,
        receipt: if dead_letter {
            format!("{DEAD_LETTER_RECEIPT}{receipt}")
        } else {
            receipt
        },
        body: message.body.ok_or_else(|| missing("Body"))?,
        receive_count,
    })
}

impl SqsQueue {
    pub fn new(client: Client, urls: QueueUrls) -> Self {
        SqsQueue { client, urls }
    }

    pub fn urls(&self) -> &QueueUrls {
        &self.urls
    }

    fn dead_letter_url(&self, queue: QueueName) -> QueueResult<&str> {
        self.urls.get(queue).dead_letter.as_deref().ok_or_else(|| {
            QueueError::Backend(format!(
                "no dead-letter queue URL is configured for the {queue} queue"
            ))
        })
    }

    /// The queue URL a receipt belongs to, and the SQS receipt handle inside it.
    fn route<'r>(&self, queue: QueueName, receipt: &'r str) -> QueueResult<(&str, &'r str)> {
        match receipt.strip_prefix(DEAD_LETTER_RECEIPT) {
            Some(handle) => Ok((self.dead_letter_url(queue)?, handle)),
            None => Ok((self.urls.get(queue).queue.as_str(), receipt)),
        }
    }

    async fn receive_from(
        &self,
        queue: QueueName,
        dead_letter: bool,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> QueueResult<Vec<ReceivedMessage>> {
        let Some(max) = receive_batch(queue, max, visibility)? else {
            return Ok(Vec::new());
        };
        let url = if dead_letter {
            self.dead_letter_url(queue)?
        } else {
            self.urls.get(queue).queue.as_str()
        };
        let out = self
            .client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(batch_size(max))
            .visibility_timeout(whole_seconds(visibility))
            .wait_time_seconds(whole_seconds(wait.min(MAX_WAIT)))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| sqs_error("ReceiveMessage", queue, e))?;
        out.messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| received(queue, dead_letter, m))
            .collect()
    }

    /// One SendMessageBatch of at most [`BATCH_LIMIT`] messages; their ids in order.
    async fn send_batch(
        &self,
        queue: QueueName,
        chunk: &[OutgoingMessage],
    ) -> QueueResult<Vec<String>> {
        let out = self
            .client
            .send_message_batch()
            .queue_url(&self.urls.get(queue).queue)
            .set_entries(Some(batch_entries(queue, chunk)?))
            .send()
            .await
            .map_err(|e| sqs_error("SendMessageBatch", queue, e))?;
        if let Some(failed) = out.failed.first() {
            return Err(QueueError::Backend(format!(
                "SendMessageBatch on the {queue} queue: {} of {} entries failed, first: {} {}",
                out.failed.len(),
                chunk.len(),
                failed.code,
                failed.message.as_deref().unwrap_or("")
            )));
        }
        let mut by_entry: HashMap<String, String> = out
            .successful
            .into_iter()
            .map(|ok| (ok.id, ok.message_id))
            .collect();
        (0..chunk.len())
            .map(|i| {
                by_entry.remove(&i.to_string()).ok_or_else(|| {
                    QueueError::Backend(format!(
                        "SendMessageBatch on the {queue} queue did not report entry {i}"
                    ))
                })
            })
            .collect()
    }
}

/// A batch size as SQS's `MaxNumberOfMessages` (1 to 10).
fn batch_size(max: usize) -> i32 {
    i32::try_from(max.clamp(1, MAX_RECEIVE_BATCH)).unwrap_or(1)
}

#[async_trait]
impl JobQueue for SqsQueue {
    async fn enqueue(&self, queue: QueueName, message: OutgoingMessage) -> QueueResult<String> {
        check_delay(queue, &message)?;
        let out = self
            .client
            .send_message()
            .queue_url(&self.urls.get(queue).queue)
            .message_body(message.body)
            .delay_seconds(whole_seconds(message.delay))
            .send()
            .await
            .map_err(|e| sqs_error("SendMessage", queue, e))?;
        out.message_id.ok_or_else(|| {
            QueueError::Backend(format!(
                "SendMessage on the {queue} queue returned no MessageId"
            ))
        })
    }

    async fn enqueue_batch(
        &self,
        queue: QueueName,
        messages: Vec<OutgoingMessage>,
    ) -> QueueResult<Vec<String>> {
        for message in &messages {
            check_delay(queue, message)?;
        }
        if let [_] = messages.as_slice() {
            // One message: the plain call, whose errors are simpler.
            let message = messages.into_iter().next();
            return match message {
                Some(m) => Ok(vec![self.enqueue(queue, m).await?]),
                None => Ok(vec![]),
            };
        }
        let mut ids = Vec::with_capacity(messages.len());
        for chunk in batches(&messages) {
            ids.extend(self.send_batch(queue, chunk).await?);
        }
        Ok(ids)
    }
}

/// A batch's entries, each with its index in the batch as its entry id.
fn batch_entries(
    queue: QueueName,
    chunk: &[OutgoingMessage],
) -> QueueResult<Vec<SendMessageBatchRequestEntry>> {
    chunk
        .iter()
        .enumerate()
        .map(|(i, m)| {
            SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(&m.body)
                .delay_seconds(whole_seconds(m.delay))
                .build()
                .map_err(|e| QueueError::Rejected {
                    queue,
                    detail: e.to_string(),
                })
        })
        .collect()
}

#[async_trait]
impl QueueReceiver for SqsQueue {
    async fn receive(
        &self,
        queue: QueueName,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> QueueResult<Vec<ReceivedMessage>> {
        self.receive_from(queue, false, max, visibility, wait).await
    }

    async fn delete(&self, queue: QueueName, receipt: &str) -> QueueResult<()> {
        let (url, handle) = self.route(queue, receipt)?;
        self.client
            .delete_message()
            .queue_url(url)
            .receipt_handle(handle)
            .send()
            .await
            .map_err(|e| sqs_error("DeleteMessage", queue, e))?;
        Ok(())
    }

    async fn change_visibility(
        &self,
        queue: QueueName,
        receipt: &str,
        timeout: Duration,
    ) -> QueueResult<()> {
        check_visibility(queue, timeout)?;
        let (url, handle) = self.route(queue, receipt)?;
        self.client
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(handle)
            .visibility_timeout(whole_seconds(timeout))
            .send()
            .await
            .map_err(|e| sqs_error("ChangeMessageVisibility", queue, e))?;
        Ok(())
    }

    async fn receive_dead_letters(
        &self,
        queue: QueueName,
        max: usize,
        visibility: Duration,
    ) -> QueueResult<Vec<ReceivedMessage>> {
        self.receive_from(queue, true, max, visibility, Duration::ZERO)
            .await
    }
}

/// Creates `{prefix}-send` and `{prefix}-automation`, each with a dead-letter queue
/// `{prefix}-<queue>-dlq` that SQS moves a message to once it was received `max_receives`
/// times (tests and local setups against moto; production queues come from the template).
pub async fn create_queues(
    client: &Client,
    prefix: &str,
    max_receives: u32,
) -> QueueResult<QueueUrls> {
    let mut urls = HashMap::new();
    for queue in QueueName::ALL {
        let dead_letter = create_queue(client, &format!("{prefix}-{queue}-dlq"), None).await?;
        let arn = queue_arn(client, &dead_letter).await?;
        let policy = serde_json::json!({
            "deadLetterTargetArn": arn,
            "maxReceiveCount": max_receives.max(1).to_string(),
        });
        let main = create_queue(
            client,
            &format!("{prefix}-{queue}"),
            Some(policy.to_string()),
        )
        .await?;
        urls.insert(
            queue,
            QueueUrl {
                queue: main,
                dead_letter: Some(dead_letter),
            },
        );
    }
    let mut take = |queue: QueueName| {
        urls.remove(&queue)
            .ok_or_else(|| QueueError::Backend(format!("the {queue} queue was not created")))
    };
    Ok(QueueUrls {
        send: take(QueueName::Send)?,
        automation: take(QueueName::Automation)?,
    })
}

async fn create_queue(
    client: &Client,
    name: &str,
    redrive_policy: Option<String>,
) -> QueueResult<String> {
    let backend = |detail: String| QueueError::Backend(format!("CreateQueue {name}: {detail}"));
    let mut request = client.create_queue().queue_name(name);
    if let Some(policy) = redrive_policy {
        request = request.attributes(QueueAttributeName::RedrivePolicy, policy);
    }
    let out = request
        .send()
        .await
        .map_err(|e| backend(DisplayErrorContext(&e).to_string()))?;
    out.queue_url
        .ok_or_else(|| backend("no QueueUrl in the response".into()))
}

async fn queue_arn(client: &Client, url: &str) -> QueueResult<String> {
    let backend =
        |detail: String| QueueError::Backend(format!("GetQueueAttributes {url}: {detail}"));
    let out = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| backend(DisplayErrorContext(&e).to_string()))?;
    out.attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| backend("no QueueArn in the response".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::queue::MAX_DELAY;

    #[test]
    fn batches_keep_order_within_sqs_limits() {
        let small = |n: usize| vec![OutgoingMessage::now("x"); n];
        let big = || OutgoingMessage::now("b".repeat(600 * 1024));
        let cases: [(&str, Vec<OutgoingMessage>, Vec<usize>); 5] = [
            ("none", vec![], vec![]),
            ("one", small(1), vec![1]),
            ("ten", small(10), vec![10]),
            ("twenty-three", small(23), vec![10, 10, 3]),
            // Two 600 KiB bodies exceed one batch's 1 MiB; each goes alone.
            (
                "by size",
                vec![big(), big(), OutgoingMessage::now("x")],
                vec![1, 2],
            ),
        ];
        for (name, messages, sizes) in cases {
            let runs = batches(&messages);
            let got: Vec<usize> = runs.iter().map(|r| r.len()).collect();
            assert_eq!(got, sizes, "{name}");
            assert_eq!(runs.concat(), messages, "{name}: order and content kept");
        }
    }

    #[test]
    fn durations_round_up_to_whole_seconds() {
        let cases = [
            (Duration::ZERO, 0),
            (Duration::from_millis(1), 1),
            (Duration::from_millis(1000), 1),
            (Duration::from_millis(1001), 2),
            (MAX_DELAY, 900),
        ];
        for (d, secs) in cases {
            assert_eq!(whole_seconds(d), secs, "{d:?}");
        }
    }

    #[test]
    fn batch_sizes_stay_within_what_sqs_accepts() {
        for (max, sent) in [(1, 1), (3, 3), (10, 10), (11, 10), (usize::MAX, 10)] {
            assert_eq!(batch_size(max), sent, "{max}");
        }
    }
}

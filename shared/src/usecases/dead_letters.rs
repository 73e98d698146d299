//! The jobs a queue gave up on, as operators see them: each dead letter received (hidden
//! for a moment), decoded loosely (a body that no longer decodes as the current job types is
//! exactly what ends up here), given the last error the consumer recorded for it, and made
//! visible again. `smsflow dlq list` prints these; the local server serves them to a CLI
//! that cannot open the database while it runs.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::Timestamp;
use crate::ports::{
    JobFailure, QueueError, QueueName, QueueReceiver, ReceivedMessage, Store, StoreError,
};

/// How long listed dead letters stay hidden before they are released again.
pub const HOLD: Duration = Duration::from_secs(60);
/// Receive batches (SQS returns at most 10).
pub const BATCH: usize = 10;

/// Fields worth showing, wherever the job kind keeps them.
const DETAIL_FIELDS: [&str; 9] = [
    "job_id",
    "message_id",
    "message_sid",
    "contact_id",
    "call_name",
    "tag",
    "to",
    "from",
    "campaign",
];

/// A dead-lettered job as operators see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadJob {
    pub message_id: String,
    pub receive_count: u32,
    /// `send`, the automation job's kind (`achieve_goal`, `send_email`...) or `undecodable`.
    pub kind: String,
    pub account: Option<String>,
    /// The ids that say which work this is (message id, job id, contact id, goal...).
    pub details: BTreeMap<String, String>,
    /// The last failure the consumer recorded; `None` when none is stored.
    pub last_error: Option<JobFailure>,
    pub body: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a queued body is: its kind, its account and the ids worth showing.
pub fn describe(
    queue: QueueName,
    body: &str,
) -> (String, Option<String>, BTreeMap<String, String>) {
    let Ok(Value::Object(job)) = serde_json::from_str::<Value>(body) else {
        return ("undecodable".into(), None, BTreeMap::new());
    };
    let kind = match (queue, job.get("kind").and_then(Value::as_str)) {
        (QueueName::Send, _) => "send".to_string(),
        (QueueName::Automation, Some(kind)) => kind.to_string(),
        (QueueName::Automation, None) => "unknown".to_string(),
    };
    // PostEvent keeps its ids inside the event.
    let event = job.get("event").and_then(Value::as_object);
    let field = |name: &str| {
        job.get(name)
            .or_else(|| event.and_then(|e| e.get(name)))
            .and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
    };
    let account = field("account");
    let details = DETAIL_FIELDS
        .iter()
        .filter_map(|name| field(name).map(|v| (name.to_string(), v)))
        .collect();
    (kind, account, details)
}

/// Every dead letter of `queue` (up to `max`), each described, then released again (also
/// when describing one failed).
pub async fn list(
    queue_port: &dyn QueueReceiver,
    store: &dyn Store,
    queue: QueueName,
    max: usize,
    now: Timestamp,
) -> Result<Vec<DeadJob>, DeadLetterError> {
    let messages = receive_all(queue_port, queue, max).await?;
    let mut jobs = Vec::new();
    let mut failed = None;
    for message in &messages {
        match dead_job(store, queue, message, now).await {
            Ok(job) => jobs.push(job),
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    release(queue_port, queue, &messages).await;
    match failed {
        Some(e) => Err(e.into()),
        None => Ok(jobs),
    }
}

/// Receives every dead letter of `queue` (up to `max`), each once, hidden for [`HOLD`].
pub async fn receive_all(
    queue_port: &dyn QueueReceiver,
    queue: QueueName,
    max: usize,
) -> Result<Vec<ReceivedMessage>, QueueError> {
    let mut seen = HashSet::new();
    let mut all = Vec::new();
    while all.len() < max {
        let batch = queue_port
            .receive_dead_letters(queue, BATCH.min(max - all.len()), HOLD)
            .await?;
        if batch.is_empty() {
            break;
        }
        for message in batch {
            if seen.insert(message.message_id.clone()) {
                all.push(message);
            }
        }
    }
    Ok(all)
}

/// Makes received dead letters visible again (best effort: they reappear anyway after
/// the hold).
pub async fn release(
    queue_port: &dyn QueueReceiver,
    queue: QueueName,
    messages: &[ReceivedMessage],
) {
    for message in messages {
        if let Err(e) = queue_port
            .change_visibility(queue, &message.receipt, Duration::ZERO)
            .await
        {
            tracing::warn!(
                message = %message.message_id,
                hold_seconds = HOLD.as_secs(),
                error = %e,
                "a listed dead letter stays hidden until its hold ends"
            );
        }
    }
}

async fn dead_job(
    store: &dyn Store,
    queue: QueueName,
    message: &ReceivedMessage,
    now: Timestamp,
) -> Result<DeadJob, StoreError> {
    let (kind, account, details) = describe(queue, &message.body);
    let last_error = store.job_failure(queue, &message.message_id, now).await?;
    Ok(DeadJob {
        message_id: message.message_id.clone(),
        receive_count: message.receive_count,
        kind,
        account,
        details,
        last_error,
        body: message.body.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_described_by_kind_account_and_ids() {
        let send = r#"{"message_id":"01J1","account":"acme","to":"+19523140001","sender":{"kind":"number","number":"+19523142318"},"body":"hi","campaign":"spring"}"#;
        let goal = r#"{"job_id":"inbound:SM1:goal","kind":"achieve_goal","account":"acme","contact_id":"42","call_name":"Inbound19523142318"}"#;
        let event = r#"{"job_id":"e1","kind":"post_event","account":"acme","event":{"type":"delivered","message_id":"01J2"}}"#;
        let cases = [
            (
                QueueName::Send,
                send,
                "send",
                Some("acme"),
                vec![
                    ("campaign", "spring"),
                    ("message_id", "01J1"),
                    ("to", "+19523140001"),
                ],
            ),
            (
                QueueName::Automation,
                goal,
                "achieve_goal",
                Some("acme"),
                vec![
                    ("call_name", "Inbound19523142318"),
                    ("contact_id", "42"),
                    ("job_id", "inbound:SM1:goal"),
                ],
            ),
            (
                QueueName::Automation,
                event,
                "post_event",
                Some("acme"),
                vec![("job_id", "e1"), ("message_id", "01J2")],
            ),
            (
                QueueName::Automation,
                "not json",
                "undecodable",
                None,
                vec![],
            ),
        ];
        for (queue, body, kind, account, details) in cases {
            let (k, a, d) = describe(queue, body);
            assert_eq!(k, kind, "{body}");
            assert_eq!(a.as_deref(), account, "{body}");
            let expected: BTreeMap<String, String> = details
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            assert_eq!(d, expected, "{body}");
        }
    }
}

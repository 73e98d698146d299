//! `smsflow dlq list` / `smsflow dlq redrive`: the jobs a queue gave up on.
//!
//! Listing receives the dead letters (hiding them for a moment), decodes what each job is,
//! adds the last error the consumer recorded for it, and makes them visible again. Redrive
//! sends each body back to the main queue and deletes the dead letter only after that
//! enqueue succeeded, so a failure half-way loses nothing (at worst a job is on both
//! queues, and jobs are idempotent by their ids).

use std::collections::BTreeMap;
use std::collections::HashSet;
use std::time::Duration;

use clap::Subcommand;
use clap::builder::TypedValueParser;
use serde::Serialize;
use serde_json::Value;
use smsflow_shared::domain::Timestamp;
use smsflow_shared::ports::{JobFailure, OutgoingMessage, QueueName, ReceivedMessage, Store};

use crate::hints;
use crate::output::{CliError, CliResult, Output, time};
use crate::target::{AdminQueue, Location};

/// How long listed dead letters stay hidden before they are released again.
const HOLD: Duration = Duration::from_secs(60);
/// Receive batches (SQS returns at most 10).
const BATCH: usize = 10;

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show dead-lettered jobs: what they are, how often they were received (each try and
    /// each listing counts: SQS counts every receive), their last error.
    List {
        /// The queue whose dead letters to show: send (SMS to deliver) or automation (CRM
        /// goals, notes, tags, e-mail forwards).
        #[arg(long, value_parser = queue_parser())]
        queue: QueueName,
        /// Show at most this many.
        #[arg(long, default_value_t = 100)]
        max: usize,
        #[command(flatten)]
        at: Location,
    },
    /// Move dead-lettered jobs back to their queue to be tried again.
    Redrive {
        /// The queue whose dead letters to move back: send or automation.
        #[arg(long, value_parser = queue_parser())]
        queue: QueueName,
        /// Only these dead letters (ids from `dlq list`); default: all.
        #[arg(long = "message-id")]
        message_ids: Vec<String>,
        /// Move at most this many.
        #[arg(long, default_value_t = 1000)]
        max: usize,
        #[command(flatten)]
        at: Location,
    },
}

/// The queue names as clap's possible values, so `--help` and a wrong value list them.
fn queue_parser() -> impl TypedValueParser<Value = QueueName> {
    let names = QueueName::ALL.map(QueueName::as_str);
    clap::builder::PossibleValuesParser::new(names).try_map(|name| name.parse::<QueueName>())
}

/// A dead-lettered job as operators see it.
#[derive(Debug, Serialize)]
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

/// What a queued body is: decoded loosely, because a body that no longer decodes as the
/// current job types is exactly what ends up here.
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

/// Receives every dead letter of `queue` (up to `max`), each once.
async fn receive_all(
    queue_port: &dyn AdminQueue,
    queue: QueueName,
    max: usize,
) -> CliResult<Vec<ReceivedMessage>> {
    let mut seen = HashSet::new();
    let mut all = Vec::new();
    while all.len() < max {
        let batch = queue_port
            .receive_dead_letters(queue, BATCH.min(max - all.len()), HOLD)
            .await
            .map_err(CliError::from)?;
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
async fn release(queue_port: &dyn AdminQueue, queue: QueueName, messages: &[ReceivedMessage]) {
    for message in messages {
        if let Err(e) = queue_port
            .change_visibility(queue, &message.receipt, Duration::ZERO)
            .await
        {
            eprintln!(
                "note: dead letter {} stays hidden for up to {}s: {e}",
                message.message_id,
                HOLD.as_secs()
            );
        }
    }
}

fn now() -> Timestamp {
    Timestamp::from_millis(jiff::Timestamp::now().as_millisecond())
}

async fn dead_job(
    store: &dyn Store,
    queue: QueueName,
    message: &ReceivedMessage,
) -> CliResult<DeadJob> {
    let (kind, account, details) = describe(queue, &message.body);
    let last_error = store.job_failure(queue, &message.message_id, now()).await?;
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

pub async fn run(command: Command, out: Output) -> CliResult {
    match command {
        Command::List { queue, max, at } => list(queue, max, &at, out).await,
        Command::Redrive {
            queue,
            message_ids,
            max,
            at,
        } => {
            let (_, queue_port) = at.store_and_queue(queue).await?;
            redrive(&*queue_port, queue, &message_ids, max, out).await
        }
    }
}

/// Receives the dead letters, describes each, then releases them all (also on failure).
async fn list(queue: QueueName, max: usize, at: &Location, out: Output) -> CliResult {
    let (store, queue_port) = at.store_and_queue(queue).await?;
    let messages = receive_all(&*queue_port, queue, max).await?;
    let mut jobs = Vec::new();
    let mut failed = None;
    for message in &messages {
        match dead_job(&*store, queue, message).await {
            Ok(job) => jobs.push(job),
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    release(&*queue_port, queue, &messages).await;
    if let Some(e) = failed {
        return Err(e);
    }
    out.emit(&jobs, || print_jobs(queue, &jobs))
}

fn print_jobs(queue: QueueName, jobs: &[DeadJob]) {
    if jobs.is_empty() {
        println!("the {queue} dead-letter queue is empty");
        return;
    }
    println!("{} dead-lettered {queue} job(s):", jobs.len());
    for job in jobs {
        println!();
        println!(
            "{}  {}  account {}  received {} time(s), listings included",
            job.message_id,
            job.kind,
            job.account.as_deref().unwrap_or("-"),
            job.receive_count
        );
        let details: Vec<String> = job
            .details
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if !details.is_empty() {
            println!("  {}", details.join("  "));
        }
        match &job.last_error {
            Some(f) => println!("  last error ({} UTC): {}", time(f.failed_at), f.error),
            None => println!(
                "  last error: not recorded (the job failed before smsflow recorded errors, or the store was unreachable); see the worker's logs"
            ),
        }
    }
}

#[derive(Serialize)]
struct Moved {
    dead_letter_id: String,
    new_message_id: String,
    kind: String,
}

#[derive(Serialize)]
struct RedriveSummary {
    queue: QueueName,
    moved: Vec<Moved>,
    /// Requested ids that were not in the dead-letter queue.
    not_found: Vec<String>,
}

async fn redrive(
    queue_port: &dyn AdminQueue,
    queue: QueueName,
    only: &[String],
    max: usize,
    out: Output,
) -> CliResult {
    let mut run = RedriveRun::new(only, max);
    let failure = run.move_selected(queue_port, queue).await.err();
    release(queue_port, queue, &run.held).await;
    if let Some(error) = failure {
        eprintln!(
            "moved {} dead letter(s) before the failure",
            run.moved.len()
        );
        return Err(error);
    }
    report_redrive(queue, only, run.moved, out)
}

/// One redrive's progress: the dead letters seen, moved, and received but left alone.
struct RedriveRun<'a> {
    /// Only these dead letters; empty: all.
    wanted: HashSet<&'a str>,
    max: usize,
    seen: HashSet<String>,
    /// Received but not moved: released at the end, so no receive sees them twice.
    held: Vec<ReceivedMessage>,
    moved: Vec<Moved>,
}

impl<'a> RedriveRun<'a> {
    fn new(only: &'a [String], max: usize) -> Self {
        RedriveRun {
            wanted: only.iter().map(String::as_str).collect(),
            max,
            seen: HashSet::new(),
            held: Vec::new(),
            moved: Vec::new(),
        }
    }

    fn wants_more(&self) -> bool {
        self.moved.len() < self.max
            && (self.wanted.is_empty() || self.moved.len() < self.wanted.len())
    }

    /// Whether this received dead letter is one to move (each id once).
    fn selects(&mut self, message: &ReceivedMessage) -> bool {
        self.seen.insert(message.message_id.clone())
            && (self.wanted.is_empty() || self.wanted.contains(message.message_id.as_str()))
            && self.moved.len() < self.max
    }

    /// Receives batches and moves the selected dead letters until enough are moved or the
    /// queue is drained; stops at the first failure.
    async fn move_selected(
        &mut self,
        queue_port: &dyn AdminQueue,
        queue: QueueName,
    ) -> CliResult<()> {
        while self.wants_more() {
            let batch = queue_port
                .receive_dead_letters(queue, BATCH, HOLD)
                .await
                .map_err(CliError::from)?;
            if batch.is_empty() {
                break;
            }
            let mut batch = batch.into_iter();
            while let Some(message) = batch.next() {
                if !self.selects(&message) {
                    self.held.push(message);
                    continue;
                }
                if let Err(e) = self.move_one(queue_port, queue, message).await {
                    self.held.extend(batch);
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Enqueues the dead letter's body on the main queue, then deletes the dead letter.
    async fn move_one(
        &mut self,
        queue_port: &dyn AdminQueue,
        queue: QueueName,
        message: ReceivedMessage,
    ) -> CliResult<()> {
        let enqueued = queue_port
            .enqueue(queue, OutgoingMessage::now(message.body.clone()))
            .await;
        let new_id = match enqueued {
            Ok(id) => id,
            Err(e) => {
                let error = CliError::from(e).context(format!(
                    "cannot enqueue dead letter {} on the {queue} queue",
                    message.message_id
                ));
                self.held.push(message);
                return Err(error);
            }
        };
        // Only now may the dead letter go: the job is safely back on its queue.
        if let Err(e) = queue_port.delete(queue, &message.receipt).await {
            return Err(CliError::from(e).context(format!(
                "dead letter {} was enqueued again as {new_id} but could not be deleted \
                 (it may run twice; jobs are idempotent by their ids)",
                message.message_id
            )));
        }
        self.moved.push(Moved {
            kind: describe(queue, &message.body).0,
            dead_letter_id: message.message_id,
            new_message_id: new_id,
        });
        Ok(())
    }
}

/// Prints what moved; a requested id that was not among the dead letters fails the command.
fn report_redrive(queue: QueueName, only: &[String], moved: Vec<Moved>, out: Output) -> CliResult {
    let found: HashSet<&str> = moved.iter().map(|m| m.dead_letter_id.as_str()).collect();
    let not_found: Vec<String> = only
        .iter()
        .filter(|id| !found.contains(id.as_str()))
        .cloned()
        .collect();
    let summary = RedriveSummary {
        queue,
        moved,
        not_found,
    };
    out.emit(&summary, || {
        for m in &summary.moved {
            println!(
                "moved {} ({}) back to the {queue} queue as {}",
                m.dead_letter_id, m.kind, m.new_message_id
            );
        }
        println!("{} job(s) redriven", summary.moved.len());
    })?;
    if !summary.not_found.is_empty() {
        return Err(CliError::not_found(format!(
            "not in the {queue} dead-letter queue: {}",
            summary.not_found.join(", ")
        ))
        .with_hint(format!(
            "{} shows the ids of dead letters",
            hints::command(&["dlq", "list", "--queue", queue.as_str()])
        )));
    }
    Ok(())
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

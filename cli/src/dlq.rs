//! `smsflow dlq list` / `smsflow dlq redrive`: the jobs a queue gave up on.
//!
//! Listing receives the dead letters (hiding them for a moment), decodes what each job is,
//! adds the last error the consumer recorded for it, and makes them visible again. Redrive
//! sends each body back to the main queue and deletes the dead letter only after that
//! enqueue succeeded, so a failure half-way loses nothing (at worst a job is on both
//! queues, and jobs are idempotent by their ids).

use std::collections::HashSet;

use clap::Subcommand;
use clap::builder::TypedValueParser;
use serde::{Deserialize, Serialize};
use smsflow_shared::domain::Timestamp;
use smsflow_shared::ports::{OutgoingMessage, QueueName, ReceivedMessage};
use smsflow_shared::usecases::dead_letters::{
    self, BATCH, DeadJob, DeadLetterError, HOLD, describe,
};

use crate::hints;
use crate::output::{CliError, CliResult, Output, time};
use crate::target::{AdminQueue, DeadLetterReader, Location};

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
    let jobs: Vec<DeadJob> = match at.dead_letter_reader(queue).await? {
        DeadLetterReader::Queue(store, queue_port) => {
            dead_letters::list(queue_port.as_ref(), &*store, queue, max, now())
                .await
                .map_err(|e| match e {
                    DeadLetterError::Queue(e) => CliError::from(e),
                    DeadLetterError::Store(e) => CliError::from(e),
                })?
        }
        DeadLetterReader::Server(server) => {
            let path = format!("/_local/dead-letters/{queue}?max={max}");
            let answer: Listing = server.get(&path).await?;
            answer.jobs
        }
    };
    out.emit(&jobs, || print_jobs(queue, &jobs))
}

/// The server's answer to a listing.
#[derive(Deserialize)]
struct Listing {
    jobs: Vec<DeadJob>,
}

fn now() -> Timestamp {
    Timestamp::from_millis(jiff::Timestamp::now().as_millisecond())
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
    dead_letters::release(queue_port, queue, &run.held).await;
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

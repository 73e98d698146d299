//! Pacing: each sender sends at most its rate in segments per second. A message's slot in
//! its sender's calendar is reserved when the send request queues it (the job then waits in
//! the queue, delayed, until the slot), and a second slot among the sender's actual sends
//! right before the provider call; a job that comes early waits up to [`MAX_WAIT`] in the
//! worker or goes back on the queue carrying its slot.

use std::time::Duration;

use super::JobOutcome;
use crate::app::App;
use crate::domain::segments::{count_segments, send_cost};
use crate::domain::sender::{AlphanumericSenderId, SenderSpec};
use crate::domain::{Account, Timestamp};
use crate::jobs::{self, SendJob};
use crate::ports::{RateStore, Sender};

/// The longest a worker waits for a job's slot; a later slot sends the job back to the
/// queue. Short, so a worker (and a Lambda's billed time) is not held by one sender.
pub const MAX_WAIT: Duration = Duration::from_secs(1);

pub(super) enum SlotWait {
    SendNow,
    /// Back on the queue until its slot.
    Requeued(Timestamp),
}

/// Which of the sender's two books a reservation is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Book {
    /// The calendar, booked when the job is queued: spreads a backlog over time.
    Calendar,
    /// The sends themselves, booked just before sending: even jobs that reach the worker
    /// late and together (a worker that fell behind) go out no faster than the rate.
    Sends,
}

/// Paces the job, first step: its calendar slot (reserved when the job was queued, else
/// now). A job that comes early waits for it, or goes back to the queue carrying it. A job
/// that already holds a slot among actual sends (it came back from the second step) has
/// passed this step.
pub(super) async fn wait_for_calendar(
    app: &App,
    account: &Account,
    job: &SendJob,
) -> Result<SlotWait, JobOutcome> {
    if job.send_slot.is_some() {
        return Ok(SlotWait::SendNow);
    }
    wait_in_book(app, account, job, job.not_before, Book::Calendar).await
}

/// Paces the job, second step, just before the provider call: a slot among the sender's
/// actual sends, which spaces sends that reached the worker late and together (the
/// calendar alone would let them out in a burst).
pub(super) async fn wait_for_send_slot(
    app: &App,
    account: &Account,
    job: &SendJob,
) -> Result<SlotWait, JobOutcome> {
    wait_in_book(app, account, job, job.send_slot, Book::Sends).await
}

/// Waits for the job's slot in `book`: the one it holds, else one reserved now.
async fn wait_in_book(
    app: &App,
    account: &Account,
    job: &SendJob,
    held: Option<Timestamp>,
    book: Book,
) -> Result<SlotWait, JobOutcome> {
    let slot = match held {
        Some(slot) => slot,
        None => {
            let now = app.clock.now();
            reserve_slot(
                app.store.as_ref(),
                account,
                &job.sender,
                &job.body,
                now,
                book,
            )
            .await
            .map_err(|e| JobOutcome::Retry(format!("cannot reserve a send slot: {e}")))?
        }
    };
    wait_or_requeue(app, job, slot, book).await
}

async fn wait_or_requeue(
    app: &App,
    job: &SendJob,
    slot: Timestamp,
    book: Book,
) -> Result<SlotWait, JobOutcome> {
    let wait = app.clock.now().until(slot);
    if wait <= MAX_WAIT {
        tokio::time::sleep(wait).await;
        return Ok(SlotWait::SendNow);
    }
    let later = match book {
        Book::Calendar => SendJob {
            not_before: Some(slot),
            ..job.clone()
        },
        Book::Sends => SendJob {
            send_slot: Some(slot),
            ..job.clone()
        },
    };
    requeue(app, &later, wait).await?;
    Ok(SlotWait::Requeued(slot))
}

/// Reserves a message's slot in one of its sender's books: its segments at the sender's
/// rate. The send request reserves the calendar slot when it queues the job, so the job
/// waits in the queue (delayed until its slot) rather than in a worker, and another
/// account's message queued after a backlog is not behind it.
async fn reserve_slot(
    rates: &dyn RateStore,
    account: &Account,
    sender: &Sender,
    body: &str,
    now: Timestamp,
    book: Book,
) -> crate::ports::StoreResult<Timestamp> {
    let pacing = sender_spec(sender).pacing(account);
    // An MMS without text is one segment.
    let segments = count_segments(body).segments.max(1);
    let cost = send_cost(segments, pacing.segments_per_second);
    let key = match book {
        Book::Calendar => pacing.key,
        Book::Sends => format!("{}#sends", pacing.key),
    };
    rates.reserve_send_slot(&key, cost, now).await
}

/// The calendar slot of a message about to be queued (see [`reserve_slot`]).
pub(crate) async fn reserve_calendar_slot(
    rates: &dyn RateStore,
    account: &Account,
    sender: &Sender,
    body: &str,
    now: Timestamp,
) -> crate::ports::StoreResult<Timestamp> {
    reserve_slot(rates, account, sender, body, now, Book::Calendar).await
}

/// The sender as the account's configuration knows it, for its pacing. A stored sender
/// that no longer reads as an alphanumeric id is paced as a Messaging Service (slowest).
fn sender_spec(sender: &Sender) -> SenderSpec {
    match sender {
        Sender::Number(n) => SenderSpec::Number(n.clone()),
        Sender::MessagingService(sid) => SenderSpec::MessagingService(sid.clone()),
        Sender::Alphanumeric(id) => AlphanumericSenderId::parse(id)
            .map(SenderSpec::Alphanumeric)
            .unwrap_or_else(|_| SenderSpec::MessagingService(id.clone())),
    }
}

/// Puts `job` back on the send queue, delayed by `delay` (at most the queue's longest delay:
/// a job due later comes back and is put back again).
pub(super) async fn requeue(app: &App, job: &SendJob, delay: Duration) -> Result<(), JobOutcome> {
    jobs::enqueue_send(app, job, delay)
        .await
        .map_err(|e| JobOutcome::Retry(format!("cannot put the job back on the queue: {e}")))
}

//! The in-process queue of local mode: SQS semantics on redb tables, so queued work survives
//! a restart of `smsflow serve`.
//!
//! Layout (one redb write transaction per call, so every check-then-write is atomic):
//! - `queue_visibility`: `(queue, dead, visible_at_ms, message id)` → nothing. Receiving is a
//!   range scan of one lane (a queue or its dead-letter queue) up to now, oldest first.
//! - `queue_entries`: message id → `(queue, dead, visible_at_ms, receive_count)`, the
//!   message's current position in `queue_visibility` and how often it was received.
//! - `queue_bodies`: message id → body, written once (bodies may be large; receiving only
//!   rewrites the small entry).
//!
//! A receipt is `message id:receive count`: it goes stale as soon as the message is
//! received again or deleted. Receipts of dead letters (from `receive_dead_letters`) work
//! with `delete` and `change_visibility` too, acting on the dead-letter queue.
//!
//! Long polling waits on a `Notify` per queue (woken by enqueue and visibility changes) or
//! until the lane's next hidden message becomes visible, whichever comes first. Share one
//! `EmbeddedQueue` (it is `Clone`) per database: a second instance on the same database
//! would not wake this one's waiters.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redb::{ReadableTable, TableDefinition};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::{DbError, EmbeddedDb};
use crate::adapters::queue_limits::{check_delay, check_visibility, receive_batch};
use crate::ports::queue::{
    JobQueue, OutgoingMessage, QueueError, QueueName, QueueReceiver, QueueResult, ReceivedMessage,
    allowed_in_body,
};
use crate::ports::{Clock, IdGenerator, UlidIds};

/// `(queue, dead, visible_at_ms, message id)` → nothing.
const VISIBILITY: TableDefinition<(&str, bool, i64, &str), ()> =
    TableDefinition::new("queue_visibility");
/// message id → `(queue, dead, visible_at_ms, receive_count)`.
const ENTRIES: TableDefinition<&str, (&str, bool, i64, u32)> =
    TableDefinition::new("queue_entries");
/// message id → body.
const BODIES: TableDefinition<&str, &str> = TableDefinition::new("queue_bodies");

pub use crate::adapters::queue_limits::{MAX_RECEIVE_BATCH, MAX_VISIBILITY};

/// SQS's largest message body (1 MiB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Redrive settings of one queue, like SQS's RedrivePolicy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuePolicy {
    /// A message received this many times is moved to the dead-letter queue on its next
    /// receive (SQS `maxReceiveCount`; values below 1 count as 1).
    pub max_receives: u32,
}

impl Default for QueuePolicy {
    fn default() -> Self {
        QueuePolicy { max_receives: 5 }
    }
}

/// The in-process queue; see the module documentation.
#[derive(Clone)]
pub struct EmbeddedQueue {
    db: EmbeddedDb,
    clock: Arc<dyn Clock>,
    /// Monotonic ULIDs: messages enqueued in the same millisecond still leave in order.
    ids: Arc<UlidIds>,
    policies: [QueuePolicy; QueueName::ALL.len()],
    wakers: Arc<[Notify; QueueName::ALL.len()]>,
}

impl From<DbError> for QueueError {
    fn from(e: DbError) -> Self {
        QueueError::Backend(e.0)
    }
}

macro_rules! db_err {
    ($($t:ty),*) => {$(
        impl From<$t> for QueueError {
            fn from(e: $t) -> Self {
                QueueError::Backend(e.to_string())
            }
        }
    )*};
}
db_err!(redb::StorageError, redb::TableError);

fn slot(queue: QueueName) -> usize {
    match queue {
        QueueName::Send => 0,
        QueueName::Automation => 1,
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Where a message is and how often it was received (a row of `queue_entries`).
struct Entry {
    queue: String,
    dead: bool,
    visible_at: i64,
    receive_count: u32,
}

impl Entry {
    fn from_row((queue, dead, visible_at, receive_count): (&str, bool, i64, u32)) -> Self {
        Entry {
            queue: queue.to_owned(),
            dead,
            visible_at,
            receive_count,
        }
    }
}

/// One receive pass over a lane.
struct Taken {
    messages: Vec<ReceivedMessage>,
    /// When the lane's earliest hidden message becomes visible (for long polling).
    next_visible_at: Option<i64>,
}

/// What a receive pass does with a visible message.
#[derive(Clone, Copy)]
struct ReceiveRules {
    queue: QueueName,
    dead: bool,
    now: i64,
    max: usize,
    visibility_ms: i64,
    /// `None` on dead-letter queues, which have no redrive.
    max_receives: Option<u32>,
}

fn receipt(message_id: &str, receive_count: u32) -> String {
    format!("{message_id}:{receive_count}")
}

fn parse_receipt(receipt: &str) -> QueueResult<(&str, u32)> {
    receipt
        .rsplit_once(':')
        .and_then(|(id, count)| Some((id, count.parse().ok()?)))
        .filter(|(id, _)| !id.is_empty())
        .ok_or_else(|| QueueError::StaleReceipt(format!("malformed receipt '{receipt}'")))
}

fn validate(queue: QueueName, message: &OutgoingMessage) -> QueueResult<()> {
    check_delay(queue, message)?;
    let reject = |detail: String| Err(QueueError::Rejected { queue, detail });
    if message.body.is_empty() {
        return reject("the body is empty".into());
    }
    if message.body.len() > MAX_BODY_BYTES {
        return reject(format!(
            "the body has {} bytes, more than the maximum {MAX_BODY_BYTES}",
            message.body.len()
        ));
    }
    if let Some(c) = message.body.chars().find(|c| !allowed_in_body(*c)) {
        return reject(format!(
            "the body contains the character {c:?}, which SQS refuses"
        ));
    }
    Ok(())
}

/// Receives up to `rules.max` visible messages of one lane, moving those already received
/// `max_receives` times to the dead-letter lane instead (as SQS does).
fn take_visible(tx: &redb::WriteTransaction, rules: ReceiveRules) -> QueueResult<Taken> {
    let mut visibility = tx.open_table(VISIBILITY)?;
    let mut entries = tx.open_table(ENTRIES)?;
    let bodies = tx.open_table(BODIES)?;
    let mut messages = Vec::new();
    // With a zero visibility timeout a received message stays in range: remember what this
    // pass handled so no message is returned twice by one receive.
    let mut handled: HashSet<String> = HashSet::new();
    while messages.len() < rules.max {
        let wanted = rules.max - messages.len();
        let candidates = visible_candidates(&visibility, rules, &handled, wanted)?;
        if candidates.is_empty() {
            break;
        }
        for (visible_at, id) in candidates {
            let queue = rules.queue.as_str();
            visibility.remove((queue, rules.dead, visible_at, id.as_str()))?;
            handled.insert(id.clone());
            let tables = QueueTables {
                visibility: &mut visibility,
                entries: &mut entries,
                bodies: &bodies,
            };
            messages.extend(receive_one(tables, rules, id)?);
        }
    }
    Ok(Taken {
        next_visible_at: next_visible_at(&visibility, rules)?,
        messages,
    })
}

/// The queue's tables, open in one receive pass.
struct QueueTables<'a, 'tx> {
    visibility: &'a mut redb::Table<'tx, (&'static str, bool, i64, &'static str), ()>,
    entries: &'a mut redb::Table<'tx, &'static str, (&'static str, bool, i64, u32)>,
    bodies: &'a redb::Table<'tx, &'static str, &'static str>,
}

/// Up to `wanted` visible messages of the lane this pass has not handled yet, oldest
/// first: `(visible_at, message id)`.
fn visible_candidates(
    visibility: &impl ReadableTable<(&'static str, bool, i64, &'static str), ()>,
    rules: ReceiveRules,
    handled: &HashSet<String>,
    wanted: usize,
) -> QueueResult<Vec<(i64, String)>> {
    let queue = rules.queue.as_str();
    let lane_start = (queue, rules.dead, i64::MIN, "");
    let lane_visible_end = (queue, rules.dead, rules.now.saturating_add(1), "");
    let mut candidates = Vec::new();
    for row in visibility.range(lane_start..lane_visible_end)? {
        let (key, _) = row?;
        let (_, _, visible_at, id) = key.value();
        if !handled.contains(id) {
            candidates.push((visible_at, id.to_owned()));
            if candidates.len() == wanted {
                break;
            }
        }
    }
    Ok(candidates)
}

/// Receives one message whose index row was just taken out of the lane: hides it for the
/// visibility timeout and counts the receive, or moves it to the dead-letter lane when it
/// was received `max_receives` times already (`None`, as for an entry that is gone).
fn receive_one(
    tables: QueueTables<'_, '_>,
    rules: ReceiveRules,
    id: String,
) -> QueueResult<Option<ReceivedMessage>> {
    let queue = rules.queue.as_str();
    let entry = tables
        .entries
        .get(id.as_str())?
        .map(|row| Entry::from_row(row.value()));
    // An index row without its entry cannot be delivered; dropping it heals the index.
    let Some(entry) = entry else { return Ok(None) };
    if let Some(limit) = rules.max_receives
        && entry.receive_count >= limit.max(1)
    {
        tables
            .visibility
            .insert((queue, true, rules.now, id.as_str()), ())?;
        tables
            .entries
            .insert(id.as_str(), (queue, true, rules.now, entry.receive_count))?;
        return Ok(None);
    }
    let receive_count = entry.receive_count.saturating_add(1);
    let visible_at = rules.now.saturating_add(rules.visibility_ms);
    tables
        .visibility
        .insert((queue, rules.dead, visible_at, id.as_str()), ())?;
    tables
        .entries
        .insert(id.as_str(), (queue, rules.dead, visible_at, receive_count))?;
    let body = tables
        .bodies
        .get(id.as_str())?
        .map(|b| b.value().to_owned())
        .ok_or_else(|| QueueError::Backend(format!("message {id} has no body")))?;
    Ok(Some(ReceivedMessage {
        receipt: receipt(&id, receive_count),
        message_id: id,
        body,
        receive_count,
    }))
}

/// When the lane's earliest hidden message becomes visible, if it has one.
fn next_visible_at(
    visibility: &impl ReadableTable<(&'static str, bool, i64, &'static str), ()>,
    rules: ReceiveRules,
) -> QueueResult<Option<i64>> {
    let queue = rules.queue.as_str();
    let lane_start = (queue, rules.dead, i64::MIN, "");
    Ok(match visibility.range(lane_start..)?.next() {
        Some(row) => {
            let (key, _) = row?;
            let (q, dead, visible_at, _) = key.value();
            (q == queue && dead == rules.dead).then_some(visible_at)
        }
        None => None,
    })
}

/// Finds the message a receipt was issued for, if the receipt is still current.
fn current_entry(
    entries: &impl ReadableTable<&'static str, (&'static str, bool, i64, u32)>,
    queue: QueueName,
    receipt: &str,
) -> QueueResult<(String, Entry)> {
    let (id, count) = parse_receipt(receipt)?;
    let entry = entries
        .get(id)?
        .map(|row| Entry::from_row(row.value()))
        .ok_or_else(|| QueueError::StaleReceipt(format!("message {id} was deleted")))?;
    if entry.queue != queue.as_str() {
        return Err(QueueError::StaleReceipt(format!(
            "message {id} belongs to the {} queue, not {queue}",
            entry.queue
        )));
    }
    if entry.receive_count != count {
        return Err(QueueError::StaleReceipt(format!(
            "message {id} was received again since (receive {} of it is current, not {count})",
            entry.receive_count
        )));
    }
    Ok((id.to_owned(), entry))
}

impl EmbeddedQueue {
    /// A queue on `db` with the default policy (5 receives) for every queue.
    pub fn new(db: EmbeddedDb, clock: Arc<dyn Clock>) -> Self {
        EmbeddedQueue {
            db,
            clock,
            ids: Arc::default(),
            policies: [QueuePolicy::default(); QueueName::ALL.len()],
            wakers: Arc::new(std::array::from_fn(|_| Notify::new())),
        }
    }

    /// Sets `queue`'s redrive policy.
    pub fn with_policy(mut self, queue: QueueName, policy: QueuePolicy) -> Self {
        self.policies[slot(queue)] = policy;
        self
    }

    pub fn policy(&self, queue: QueueName) -> QueuePolicy {
        self.policies[slot(queue)]
    }

    fn waker(&self, queue: QueueName) -> &Notify {
        &self.wakers[slot(queue)]
    }

    fn now_ms(&self) -> i64 {
        self.clock.now().as_millis()
    }

    async fn take(&self, rules: ReceiveRules) -> QueueResult<Taken> {
        self.db.write(move |tx| take_visible(tx, rules)).await
    }

    /// Receives from `queue`'s lane (`dead_letter`: its dead-letter queue, which has no
    /// redrive), waiting up to `wait` for a message to become visible.
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
        let deadline = Instant::now() + wait;
        loop {
            // Registered before looking, so an enqueue between the look and the wait still
            // wakes this receiver.
            let notified = self.waker(queue).notified();
            tokio::pin!(notified);
            notified.as_mut().enable();

            let now = self.now_ms();
            let taken = self
                .take(ReceiveRules {
                    queue,
                    dead: dead_letter,
                    now,
                    max,
                    visibility_ms: millis(visibility),
                    max_receives: (!dead_letter).then(|| self.policy(queue).max_receives),
                })
                .await?;
            if !taken.messages.is_empty() || Instant::now() >= deadline {
                return Ok(taken.messages);
            }
            let wake = match taken.next_visible_at {
                // At least 1 ms, so clock rounding can never turn this into a busy loop.
                Some(at) => deadline.min(
                    Instant::now()
                        + Duration::from_millis(u64::try_from(at.saturating_sub(now)).unwrap_or(0))
                            .max(Duration::from_millis(1)),
                ),
                None => deadline,
            };
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
    }
}

#[async_trait]
impl JobQueue for EmbeddedQueue {
    async fn enqueue(&self, queue: QueueName, message: OutgoingMessage) -> QueueResult<String> {
        let mut ids = self.enqueue_batch(queue, vec![message]).await?;
        ids.pop()
            .ok_or_else(|| QueueError::Backend("enqueue returned no id".into()))
    }

    /// All of them in one transaction: all or none are enqueued.
    async fn enqueue_batch(
        &self,
        queue: QueueName,
        messages: Vec<OutgoingMessage>,
    ) -> QueueResult<Vec<String>> {
        for message in &messages {
            validate(queue, message)?;
        }
        let now = self.now_ms();
        let rows: Vec<(String, i64, String)> = messages
            .into_iter()
            .map(|m| {
                (
                    self.ids.new_id(),
                    now.saturating_add(millis(m.delay)),
                    m.body,
                )
            })
            .collect();
        let ids = rows.iter().map(|(id, _, _)| id.clone()).collect();
        self.db
            .write(move |tx| {
                let name = queue.as_str();
                let mut bodies = tx.open_table(BODIES)?;
                let mut entries = tx.open_table(ENTRIES)?;
                let mut visibility = tx.open_table(VISIBILITY)?;
                for (id, visible_at, body) in &rows {
                    bodies.insert(id.as_str(), body.as_str())?;
                    entries.insert(id.as_str(), (name, false, *visible_at, 0))?;
                    visibility.insert((name, false, *visible_at, id.as_str()), ())?;
                }
                Ok::<_, QueueError>(())
            })
            .await?;
        // Waiters recompute their wake-up time, so a delayed message is worth a wake too.
        self.waker(queue).notify_waiters();
        Ok(ids)
    }
}

#[async_trait]
impl QueueReceiver for EmbeddedQueue {
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
        let receipt = receipt.to_owned();
        self.db
            .write(move |tx| {
                let mut entries = tx.open_table(ENTRIES)?;
                let (id, entry) = current_entry(&entries, queue, &receipt)?;
                entries.remove(id.as_str())?;
                tx.open_table(VISIBILITY)?.remove((
                    entry.queue.as_str(),
                    entry.dead,
                    entry.visible_at,
                    id.as_str(),
                ))?;
                tx.open_table(BODIES)?.remove(id.as_str())?;
                Ok(())
            })
            .await
    }

    async fn change_visibility(
        &self,
        queue: QueueName,
        receipt: &str,
        timeout: Duration,
    ) -> QueueResult<()> {
        check_visibility(queue, timeout)?;
        let receipt = receipt.to_owned();
        let visible_at = self.now_ms().saturating_add(millis(timeout));
        self.db
            .write(move |tx| {
                let mut entries = tx.open_table(ENTRIES)?;
                let (id, entry) = current_entry(&entries, queue, &receipt)?;
                let mut visibility = tx.open_table(VISIBILITY)?;
                let name = entry.queue.as_str();
                visibility.remove((name, entry.dead, entry.visible_at, id.as_str()))?;
                visibility.insert((name, entry.dead, visible_at, id.as_str()), ())?;
                entries.insert(
                    id.as_str(),
                    (name, entry.dead, visible_at, entry.receive_count),
                )?;
                Ok::<_, QueueError>(())
            })
            .await?;
        self.waker(queue).notify_waiters();
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

#[cfg(test)]
mod tests;

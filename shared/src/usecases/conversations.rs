//! What an account's conversations look like to the people who work them: the recent ones,
//! and one contact's thread, oldest first so it reads like a chat, with each message's
//! status, error class, user or campaign, for inbound texts who got them and why, and the
//! CRM goals each message set off; send requests that never became a message show why they
//! were refused and their goals. `smsflow conversations` prints these; the local server
//! serves them to a CLI that cannot open the database while it runs.

use serde::{Deserialize, Serialize};

use crate::domain::consent::PhoneHealth;
use crate::domain::provider::SmsProviderKind;
use crate::domain::twilio_errors::{ErrorClass, classify_error_code};
use crate::domain::{Account, AccountId, MessageId, MessageRecord, PhoneNumber};
use crate::ports::{
    ConsentRecord, ConversationSummary, GoalRecord, GoalResult, Refusal, Store, StoreResult,
};

/// A recent conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Listed {
    #[serde(flatten)]
    pub summary: ConversationSummary,
    pub opted_out: bool,
}

/// One contact's thread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thread {
    pub account: AccountId,
    pub phone: String,
    pub consent: Option<ConsentRecord>,
    pub phone_health: PhoneHealth,
    /// Oldest first.
    pub messages: Vec<ThreadMessage>,
    /// Send requests with no message in the thread (refused, or not sent yet): why they
    /// were refused, and their goals.
    pub requests_without_message: Vec<RequestGoals>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadMessage {
    #[serde(flatten)]
    pub message: MessageRecord,
    pub error_class: Option<ErrorClass>,
    /// Why it was not sent, when it was refused after it was recorded (a STOP at send time).
    pub refusal: Option<Refusal>,
    /// The CRM goals the message set off, and what became of each.
    pub goals: Vec<GoalRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestGoals {
    pub message_id: MessageId,
    /// Why the request sent nothing, when it was refused (requests refused before refusals
    /// were recorded have none).
    pub refusal: Option<Refusal>,
    pub goals: Vec<GoalRecord>,
}

/// Consent reads in flight at once while listing.
const CONSENT_READS_AT_ONCE: usize = 8;

/// The account's `limit` most recent conversations, newest first.
pub async fn recent(
    store: &dyn Store,
    account: &AccountId,
    limit: usize,
) -> StoreResult<Vec<Listed>> {
    use futures::StreamExt;
    let summaries = store.recent_conversations(account, limit).await?;
    futures::stream::iter(summaries)
        .map(|summary| async move {
            let consent = store.consent(account, &summary.phone).await?;
            Ok(Listed {
                opted_out: consent.is_some_and(|c| c.opted_out),
                summary,
            })
        })
        .buffered(CONSENT_READS_AT_ONCE)
        .collect::<Vec<StoreResult<Listed>>>()
        .await
        .into_iter()
        .collect()
}

/// The thread with `phone`: its last `limit` messages; `None` when nothing was ever sent,
/// received or refused.
pub async fn thread(
    store: &dyn Store,
    account: &Account,
    phone: &PhoneNumber,
    limit: usize,
) -> StoreResult<Option<Thread>> {
    let id = &account.id;
    let mut messages = store.conversation(id, phone, limit).await?;
    messages.reverse();
    // The goals of the messages shown, and of requests since the oldest of them.
    let oldest = messages
        .first()
        .map_or_else(|| MessageId::new(""), |m| m.id.clone());
    let mut goals = store.goals_fired(id, phone, &oldest).await?;
    let mut refusals = store.refusals(id, phone, &oldest).await?;
    if messages.is_empty() && goals.is_empty() && refusals.is_empty() {
        return Ok(None);
    }
    let messages: Vec<ThreadMessage> = messages
        .into_iter()
        .map(|m| ThreadMessage {
            error_class: twilio_class(account, &m),
            refusal: take_refusal(&mut refusals, &m.id),
            goals: take_goals(&mut goals, &m.id),
            message: m,
        })
        .collect();
    Ok(Some(Thread {
        account: id.clone(),
        phone: phone.to_string(),
        consent: store.consent(id, phone).await?,
        phone_health: store.phone_health(id, phone).await?,
        messages,
        requests_without_message: by_request(goals, refusals),
    }))
}

/// The class of a message's stored error code by Twilio's table; none for a message sent
/// through Instasent, whose stored code (its report's `code`, or an HTTP status) is shown
/// as it is: Instasent documents no table to classify it by.
fn twilio_class(account: &Account, message: &MessageRecord) -> Option<ErrorClass> {
    let sender = PhoneNumber::trusted_e164(&message.our_sender).ok();
    let on_twilio = account.provider_of(sender.as_ref()) == SmsProviderKind::Twilio;
    message
        .error_code
        .filter(|_| on_twilio)
        .map(classify_error_code)
}

/// Groups goal records (in message id order) by the send request they belong to, with the
/// request's refusal (refusals also in message id order).
fn by_request(goals: Vec<GoalRecord>, refusals: Vec<Refusal>) -> Vec<RequestGoals> {
    let mut requests: Vec<RequestGoals> = refusals
        .into_iter()
        .map(|refusal| RequestGoals {
            message_id: refusal.message_id.clone(),
            refusal: Some(refusal),
            goals: Vec::new(),
        })
        .collect();
    for record in goals {
        match requests
            .iter_mut()
            .find(|r| r.message_id == record.message_id)
        {
            Some(request) => request.goals.push(record),
            None => requests.push(RequestGoals {
                message_id: record.message_id.clone(),
                refusal: None,
                goals: vec![record],
            }),
        }
    }
    requests.sort_by(|a, b| a.message_id.as_str().cmp(b.message_id.as_str()));
    requests
}

/// Removes and returns the refusal of `message_id`, if there is one.
fn take_refusal(refusals: &mut Vec<Refusal>, message_id: &MessageId) -> Option<Refusal> {
    let at = refusals.iter().position(|r| r.message_id == *message_id)?;
    Some(refusals.remove(at))
}

/// Removes and returns the records about `message_id`.
fn take_goals(goals: &mut Vec<GoalRecord>, message_id: &MessageId) -> Vec<GoalRecord> {
    let (mine, rest) = std::mem::take(goals)
        .into_iter()
        .partition(|g| g.message_id == *message_id);
    *goals = rest;
    mine
}

/// What became of a goal, in the words the CLI and the inbox both show.
pub fn goal_outcome_words(outcome: GoalResult) -> &'static str {
    match outcome {
        GoalResult::Achieved => "achieved",
        GoalResult::Disabled => "disabled, not called",
        GoalResult::NotConfigured => "not configured in the CRM",
        GoalResult::Failed => "failed",
    }
}

/// An error class's name (`carrier_filtered`, `opted_out`...), as stored and shown.
pub fn error_class_name(class: ErrorClass) -> String {
    serde_json::to_value(class)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

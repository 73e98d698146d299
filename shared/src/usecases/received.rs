//! A CRM's "has received SMS" check (`POST /crm/{account}/received`, README "Has received
//! SMS"): whether the contact was sent messages that pass a filter, answered from the
//! conversation's stored messages in one bounded read, and told to the CRM as a goal too
//! (`ReceivedSMS` / `NotReceivedSMS`), since Keap campaigns branch on goals.
//!
//! Idempotent like a send request: the check is claimed under its `requestId` (or the
//! digest of what it asks) before anything happens and its answer kept, so a CRM that
//! retries gets the first answer and the goal fires once.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Unavailable;
use super::answers::{self, Claimed};
use super::contacts::cached_or_found_contact;
use super::goals::queue_goals;
use crate::app::App;
use crate::domain::received::{MESSAGES_READ, ReceivedTally};
use crate::domain::received_request::{ReceivedCheck, parse_received_check};
use crate::domain::send_request::SendFields;
use crate::domain::{Account, ContactId, GoalName, IdempotencyKey, PhoneNumber, Timestamp};
use crate::jobs::{AutomationJob, JobId};
use crate::ports::ClaimTerms;

/// How long a check with a `requestId` is remembered (a CRM's retries come within hours).
const REQUEST_ID_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// How long the same check without a `requestId` counts as a repeat.
const SAME_CHECK_WINDOW: Duration = Duration::from_secs(10 * 60);

/// What the CRM is answered. Stored with the claim, so a repeat gets the same answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedReply {
    pub outcome: CheckOutcome,
    /// A stable identifier of the reason a check was not answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, flatten, skip_serializing_if = "Option::is_none")]
    pub tally: Option<ReceivedTally>,
    /// The CRM contact the goal fired on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<ContactId>,
    /// The goal queued for the contact; none when no CRM contact has the phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal: Option<GoalName>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub repeated: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckOutcome {
    Answered,
    /// The request is malformed.
    Invalid,
    /// The request names a contact the CRM does not have, or one without a phone.
    UnknownContact,
    /// The same check is being handled right now.
    InProgress,
}

impl ReceivedReply {
    fn refusal(outcome: CheckOutcome, code: &str, detail: impl Into<String>) -> ReceivedReply {
        ReceivedReply {
            outcome,
            code: Some(code.to_string()),
            detail: Some(detail.into()),
            tally: None,
            contact_id: None,
            goal: None,
            repeated: false,
        }
    }
}

/// Handles one check for an authenticated account.
pub async fn check_received(
    app: &App,
    account: &Account,
    fields: &SendFields,
) -> Result<ReceivedReply, Unavailable> {
    let check = match parse_received_check(fields, account) {
        Ok(check) => check,
        Err(e) => {
            let reply = ReceivedReply::refusal(CheckOutcome::Invalid, e.code(), e.to_string());
            return Ok(reply);
        }
    };
    let (key, keep) = idempotency_key(account, &check);
    let terms = ClaimTerms {
        keep,
        lease: app.settings.leases.request,
    };
    let now = app.clock.now();
    let claimed = answers::claim::<ReceivedReply>(app.store.as_ref(), &key, terms, now)
        .await
        .map_err(|e| Unavailable(format!("cannot claim the check: {e}")))?;
    let first_claimed_at = match claimed {
        Claimed::First { first_claimed_at } => first_claimed_at,
        Claimed::Answered(first) => {
            return Ok(ReceivedReply {
                repeated: true,
                ..first
            });
        }
        Claimed::InProgress => {
            return Ok(ReceivedReply::refusal(
                CheckOutcome::InProgress,
                "in_progress",
                "the same check is being handled; retry in a few seconds",
            ));
        }
    };
    let result = answer(app, account, &check, &key, first_claimed_at).await;
    let final_answer = result.as_ref().ok();
    answers::settle(app.store.as_ref(), &key, final_answer).await;
    result
}

/// The check under its claim: the contact and phone, the tally, the goal queued.
async fn answer(
    app: &App,
    account: &Account,
    check: &ReceivedCheck,
    key: &IdempotencyKey,
    first_claimed_at: Timestamp,
) -> Result<ReceivedReply, Unavailable> {
    let (contact_id, phone) = match whom(app, account, check).await? {
        Ok(found) => found,
        Err(reply) => return Ok(reply),
    };
    let now = app.clock.now();
    let since = check.filter.window.since(now);
    let window = app
        .store
        .messages_since(&account.id, &phone, since, MESSAGES_READ)
        .await
        .map_err(|e| Unavailable(format!("cannot read the conversation: {e}")))?;
    let tally = check.filter.tally(&window, now);
    let goal = check.goal(tally.received).clone();
    if let Some(contact_id) = &contact_id {
        // The same job id for a handler that takes over from one that died: one goal.
        let about = format!(
            "received-{}",
            crate::ports::derived_id(first_claimed_at, key.as_str())
        );
        let job = AutomationJob::AchieveGoal {
            account: account.id.clone(),
            contact_id: contact_id.clone(),
            call_name: goal.clone(),
            about: None,
        };
        queue_goals(app, vec![(JobId::goal(&about, &goal), job)])
            .await
            .map_err(|e| Unavailable(format!("cannot queue the goal: {e}")))?;
    }
    Ok(ReceivedReply {
        outcome: CheckOutcome::Answered,
        code: None,
        detail: None,
        tally: Some(tally),
        goal: contact_id.as_ref().map(|_| goal),
        contact_id,
        repeated: false,
    })
}

/// The CRM contact (to fire the goal on) and the phone whose conversation is read: the
/// contact named by id (its phone unless the check gives one), else the contact with the
/// phone, if the CRM has one.
async fn whom(
    app: &App,
    account: &Account,
    check: &ReceivedCheck,
) -> Result<Result<(Option<ContactId>, PhoneNumber), ReceivedReply>, Unavailable> {
    if let Some(id) = &check.contact_id {
        let contact = match app.crm.contact(account, id).await {
            Ok(Some(contact)) => contact,
            Ok(None) => {
                return Ok(Err(ReceivedReply::refusal(
                    CheckOutcome::UnknownContact,
                    "unknown_contact",
                    format!("the CRM has no contact {id}"),
                )));
            }
            Err(e) => return Err(Unavailable(format!("CRM: {e}"))),
        };
        return Ok(match check.phone.clone().or(contact.phone) {
            Some(phone) => Ok((Some(id.clone()), phone)),
            None => Err(ReceivedReply::refusal(
                CheckOutcome::UnknownContact,
                "contact_has_no_phone",
                "the contact has no phone number in the CRM; send phone=... with the check",
            )),
        });
    }
    let Some(phone) = check.phone.clone() else {
        return Ok(Err(ReceivedReply::refusal(
            CheckOutcome::Invalid,
            "missing_contact",
            "give the contact as contactId=... or phone=...",
        )));
    };
    let now = app.clock.now();
    let (cache, crm) = (app.store.as_ref(), app.crm.as_ref());
    let contact = cached_or_found_contact(cache, crm, account, &phone, now)
        .await
        .map_err(|e| Unavailable(format!("CRM: {e}")))?;
    Ok(Ok((contact.map(|c| c.id), phone)))
}

/// The claim key: the CRM's request id, else a digest of what the check asks.
fn idempotency_key(account: &Account, check: &ReceivedCheck) -> (IdempotencyKey, Duration) {
    if let Some(id) = &check.request_id {
        return (
            IdempotencyKey::received_check_by_id(&account.id, id),
            REQUEST_ID_WINDOW,
        );
    }
    let asked = format!(
        "{:?}\u{0}{:?}\u{0}{:?}\u{0}{}\u{0}{}",
        check.contact_id, check.phone, check.filter, check.received_goal, check.not_received_goal
    );
    let digest = hex::encode(Sha256::digest(asked.as_bytes()));
    (
        IdempotencyKey::received_check_by_body(&account.id, &digest),
        SAME_CHECK_WINDOW,
    )
}

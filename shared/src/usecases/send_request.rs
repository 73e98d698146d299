//! A CRM's send request: checked, consented, admitted under the account's queue
//! limit, and queued for the send worker, or refused with a reason the CRM is told (in the
//! answer and by goals).
//!
//! Idempotent: the request is claimed under its `requestId` (or, without one, under the
//! recipient, body, media, sender and kind) before anything happens, and the answer is
//! kept; a CRM that retries gets the first answer, and no second message.
//!
//! Order of work, each step changing nothing when it refuses: read the fields (pure), claim
//! the request, find the contact (the CRM, through the contact cache), render the body,
//! check consent (opt-out list, phone health, subscription), take an admission slot,
//! reserve the sender's next send slot and queue the send delayed until it. Goals are queued as automation jobs with ids derived from the request, so a
//! retried job fires each once.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Unavailable;
use super::answers::{self, Claimed};
use super::contacts::cached_or_found_contact;
use super::goals::queue_standard_goals;
use crate::app::App;
use crate::domain::consent::{SendKind, SubscriptionStatus, may_send};
use crate::domain::goals::StandardGoal;
use crate::domain::merge::{self, account_field};
use crate::domain::send_content::{SendContent, check_content};
use crate::domain::send_request::{Recipient, SendFields, SendRequest, parse_send_request};
use crate::domain::sender::SenderSpec;
use crate::domain::{Account, PhoneNumber};
use crate::domain::{ContactId, IdempotencyKey, MessageId};
use crate::jobs::{self, GoalSubject, SendJob};
use crate::metrics::{self, Metric};
use crate::ports::{AdmissionStore, PhoneStore};
use crate::ports::{ClaimTerms, Contact, Sender};

/// How long a request with a `requestId` is remembered (a CRM's retries come within hours).
const REQUEST_ID_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// How long the same recipient + body without a `requestId` counts as a repeat.
const SAME_BODY_WINDOW: Duration = Duration::from_secs(10 * 60);

/// What the CRM is answered. Stored with the claim, so a repeat gets the same answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendReply {
    pub outcome: SendOutcome,
    /// A stable identifier of the reason (`opted_out`, `queue_full`, `invalid_phone`...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Our id of the queued message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<MessageId>,
    /// Set when this answer repeats the first answer to the same request.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub repeated: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendOutcome {
    /// Admitted and queued for sending.
    Queued,
    /// The request is malformed or names something that does not exist.
    Invalid,
    /// The request names a contact the CRM does not have.
    UnknownContact,
    /// The recipient may not get this message (opted out, bounced, paused, not subscribed).
    Refused,
    /// The account's queue limit is reached.
    QueueFull,
    /// The same request is being handled right now.
    InProgress,
}

impl SendReply {
    fn queued(message_id: MessageId) -> SendReply {
        SendReply {
            outcome: SendOutcome::Queued,
            code: None,
            detail: None,
            message_id: Some(message_id),
            repeated: false,
        }
    }

    fn refusal(outcome: SendOutcome, code: &str, detail: impl Into<String>) -> SendReply {
        SendReply {
            outcome,
            code: Some(code.to_string()),
            detail: Some(detail.into()),
            message_id: None,
            repeated: false,
        }
    }

    /// Whether the answer stands for repeats of the request. Answers about the request's
    /// content do not: they changed nothing, and a corrected retry deserves a fresh look.
    fn is_final(&self) -> bool {
        matches!(
            self.outcome,
            SendOutcome::Queued | SendOutcome::Refused | SendOutcome::QueueFull
        )
    }
}

/// Handles one send request for an authenticated account.
pub async fn request_send(
    app: &App,
    account: &Account,
    fields: &SendFields,
) -> Result<SendReply, Unavailable> {
    let request = match parse_send_request(fields, account) {
        Ok(request) => request,
        Err(e) => {
            return Ok(SendReply::refusal(
                SendOutcome::Invalid,
                e.code(),
                e.to_string(),
            ));
        }
    };
    let (key, window) = idempotency_key(account, &request);
    let terms = ClaimTerms {
        keep: window,
        lease: app.settings.leases.request,
    };
    let claimed =
        answers::claim::<SendReply>(app.store.as_ref(), &key, terms, app.clock.now()).await;
    let first_claimed_at = match claimed {
        Ok(Claimed::First { first_claimed_at }) => first_claimed_at,
        Ok(Claimed::Answered(first)) => {
            return Ok(SendReply {
                repeated: true,
                ..first
            });
        }
        Ok(Claimed::InProgress) => {
            return Ok(SendReply::refusal(
                SendOutcome::InProgress,
                "in_progress",
                "the same request is being handled; retry in a few seconds",
            ));
        }
        Err(e) => return Err(Unavailable(format!("cannot claim the request: {e}"))),
    };
    // The same id for a handler that takes over from one that died: one message, not two.
    let message_id = MessageId::new(crate::ports::derived_id(first_claimed_at, key.as_str()));
    let result = admit(app, account, &request, message_id).await;
    let final_answer = result.as_ref().ok().filter(|reply| reply.is_final());
    answers::settle(app.store.as_ref(), &key, final_answer).await;
    result
}

/// The claim key: the CRM's request id, else a digest of what would be sent to whom.
fn idempotency_key(account: &Account, request: &SendRequest) -> (IdempotencyKey, Duration) {
    if let Some(id) = &request.request_id {
        return (
            IdempotencyKey::send_request_by_id(&account.id, id),
            REQUEST_ID_WINDOW,
        );
    }
    let recipient = match &request.recipient {
        Recipient::Phone(p) | Recipient::AlertNumber(p) => p.as_str(),
        Recipient::ContactMobile => "",
    };
    let mut digest = Sha256::new();
    for part in [
        recipient,
        request.contact_id.as_deref().unwrap_or_default(),
        &request.template,
        &request.media_urls.join(" "),
        request.sender.as_str(),
        request.kind.as_str(),
    ] {
        // Length-prefixed, so no two different requests hash the same bytes.
        digest.update((part.len() as u64).to_be_bytes());
        digest.update(part.as_bytes());
    }
    (
        IdempotencyKey::send_request_by_body(&account.id, &hex::encode(digest.finalize())),
        SAME_BODY_WINDOW,
    )
}

async fn admit(
    app: &App,
    account: &Account,
    request: &SendRequest,
    message_id: MessageId,
) -> Result<SendReply, Unavailable> {
    let contact = match find_contact(app, account, request).await? {
        Ok(contact) => contact,
        Err(reply) => return Ok(reply),
    };
    let checked = recipient(request, contact.as_ref()).and_then(|to| {
        let content = filled_content(account, request, contact.as_ref())?;
        Ok((to, content))
    });
    let (to, content) = match checked {
        Ok(checked) => checked,
        Err(reply) => return Ok(reply),
    };
    let message = Outgoing {
        to,
        contact_id: contact.as_ref().map(|c| c.id.clone()),
        body: content.body,
        media_urls: content.media_urls,
        sender: request.sender.clone(),
        kind: request.kind,
        subscription: subscription(account, request, contact.as_ref()),
        user_id: request.routing_user().map(str::to_string),
        manual: request.user.is_some(),
        campaign: request.campaign.clone(),
        time_zone: contact.as_ref().and_then(|c| c.time_zone.clone()),
    };
    queue_send(app, account, &message, message_id).await
}

/// Who the message goes to: the number in the request, else the contact's.
fn recipient(request: &SendRequest, contact: Option<&Contact>) -> Result<PhoneNumber, SendReply> {
    match (&request.recipient, contact) {
        (Recipient::Phone(p) | Recipient::AlertNumber(p), _) => Ok(p.clone()),
        (Recipient::ContactMobile, Some(Contact { phone: Some(p), .. })) => Ok(p.clone()),
        (Recipient::ContactMobile, _) => Err(SendReply::refusal(
            SendOutcome::Invalid,
            "contact_has_no_phone",
            "the contact has no phone number in the CRM; send phone=... with the request",
        )),
    }
}

/// The template with its merge fields filled (the account's, its user's, the contact's),
/// checked as a message that can be sent.
fn filled_content(
    account: &Account,
    request: &SendRequest,
    contact: Option<&Contact>,
) -> Result<SendContent, SendReply> {
    let user = request.routing_user().and_then(|id| account.user(id));
    let invalid =
        |code: &str, detail: String| SendReply::refusal(SendOutcome::Invalid, code, detail);
    let body = merge::render(&request.template, &|name| {
        account_field(name, account, user).or_else(|| contact.and_then(|c| c.merge_field(name)))
    })
    .map_err(|e| invalid(e.code(), e.to_string()))?;
    check_content(&body, &request.media_urls).map_err(|e| invalid(e.code(), e.to_string()))
}

/// A checked message on its way to the send queue: from a CRM's request, or one smsflow
/// sends itself (a sequence step).
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub to: PhoneNumber,
    pub contact_id: Option<ContactId>,
    /// The final text (merge fields rendered, content checked).
    pub body: String,
    pub media_urls: Vec<String>,
    pub sender: SenderSpec,
    pub kind: SendKind,
    pub subscription: SubscriptionStatus,
    /// The account user replies route to.
    pub user_id: Option<String>,
    /// Sent by hand (`SendManual`) rather than automatically (`SendAuto`).
    pub manual: bool,
    pub campaign: Option<String>,
    /// The recipient's time zone as the CRM records it, for quiet hours.
    pub time_zone: Option<String>,
}

/// The one way a message enters the send queue: consent (opt-out list, phone health,
/// subscription), admission under the account's queue limit, the sender's next slot, then
/// the send job delayed until it. Fires `SMSsendRequestReceived` and, on refusal,
/// `BlockedNumber` / `QueueExceeded` + `SendFailed`, under ids derived from `message_id`
/// (so a caller retrying with the same id fires each once).
pub async fn queue_send(
    app: &App,
    account: &Account,
    message: &Outgoing,
    message_id: MessageId,
) -> Result<SendReply, Unavailable> {
    metrics::count(&account.id, Metric::SendsRequested);
    let about = GoalSubject {
        phone: message.to.clone(),
        message_id: message_id.clone(),
    };
    // The message passed validation: the CRM hears of it whatever happens next.
    let mut goals = vec![StandardGoal::SmsSendRequestReceived];
    let contact_goals = |goals: &[StandardGoal]| -> Vec<(StandardGoal, Option<&ContactId>)> {
        let contact = message.contact_id.as_ref();
        goals.iter().map(|goal| (*goal, contact)).collect()
    };
    if let Some((reply, refusal_goals)) = refusal(
        app.store.as_ref(),
        app.store.as_ref(),
        account,
        message,
        &message_id,
    )
    .await?
    {
        goals.extend(refusal_goals);
        queue_standard_goals(app, account, &about, &contact_goals(&goals)).await?;
        return Ok(reply);
    }
    metrics::count(&account.id, Metric::SendsAdmitted);
    if let Err(e) = enqueue_admitted(app, account, message, &message_id).await {
        super::release_admission(app.store.as_ref(), &account.id, &message_id).await;
        return Err(e);
    }
    // The send is queued: a goal that cannot be queued now must not turn the answer into
    // a failure (the CRM would retry and be told "already queued"), so it is only logged.
    if let Err(e) = queue_standard_goals(app, account, &about, &contact_goals(&goals)).await {
        tracing::error!(account = %account.id, message_id = %message_id, error = %e, "send queued, but its goals were not");
    }
    Ok(SendReply::queued(message_id))
}

/// Why the message may not be queued (consent, then the account's queue limit): the
/// answer and the goals that tell the CRM. Otherwise the message is admitted.
async fn refusal(
    admission: &dyn AdmissionStore,
    phones: &dyn PhoneStore,
    account: &Account,
    message: &Outgoing,
    message_id: &MessageId,
) -> Result<Option<(SendReply, Vec<StandardGoal>)>, Unavailable> {
    let standing = phones
        .phone_standing(&account.id, &message.to)
        .await
        .map_err(|e| Unavailable(format!("cannot read the phone's opt-out and status: {e}")))?;
    if let Err(refusal) = may_send(
        message.kind,
        standing.health.status,
        message.subscription,
        standing.opted_out(),
    ) {
        metrics::count(&account.id, Metric::SendsRefused(refusal.code()));
        let goal = if refusal.code() == "opted_out" {
            StandardGoal::BlockedNumber
        } else {
            StandardGoal::SendFailed
        };
        let reply = SendReply::refusal(SendOutcome::Refused, refusal.code(), refusal.to_string());
        return Ok(Some((reply, vec![goal])));
    }
    let admitted = admission
        .try_admit(&account.id, message_id, account.limits.queue_limit)
        .await
        .map_err(|e| Unavailable(format!("cannot take an admission slot: {e}")))?;
    if admitted {
        return Ok(None);
    }
    metrics::count(&account.id, Metric::SendsRefused("queue_full"));
    let reply = SendReply::refusal(
        SendOutcome::QueueFull,
        "queue_full",
        format!(
            "the account already has {} messages waiting to be sent (its queue limit); try again later",
            account.limits.queue_limit
        ),
    );
    Ok(Some((
        reply,
        vec![StandardGoal::QueueExceeded, StandardGoal::SendFailed],
    )))
}

/// Reserves the sender's calendar slot for an admitted message and queues its send job,
/// delayed until the slot (at most SQS's 15 minutes; the worker handles the rest).
async fn enqueue_admitted(
    app: &App,
    account: &Account,
    message: &Outgoing,
    message_id: &MessageId,
) -> Result<(), Unavailable> {
    let sender = Sender::from(message.sender.clone());
    let now = app.clock.now();
    let slot = super::pacing::reserve_calendar_slot(
        app.store.as_ref(),
        account,
        &sender,
        &message.body,
        now,
    )
    .await
    .map_err(|e| Unavailable(format!("cannot reserve a send slot: {e}")))?;
    let job = SendJob {
        message_id: message_id.clone(),
        account: account.id.clone(),
        to: message.to.clone(),
        sender,
        body: message.body.clone(),
        media_urls: message.media_urls.clone(),
        user_id: message.user_id.clone(),
        campaign: message.campaign.clone(),
        contact_id: message.contact_id.clone(),
        manual: message.manual,
        kind: message.kind,
        not_before: Some(slot),
        send_slot: None,
        time_zone: message.time_zone.clone(),
    };
    jobs::enqueue_send(app, &job, now.until(slot))
        .await
        .map_err(|e| Unavailable(format!("cannot queue the send: {e}")))
}

/// The contact the request is about: by its id, else by the recipient's phone. A contact
/// the body or consent needs must be found (CRM trouble: `Unavailable`); one only wanted
/// for goals is looked for, and its absence or a CRM failure does not stop the send.
async fn find_contact(
    app: &App,
    account: &Account,
    request: &SendRequest,
) -> Result<Result<Option<Contact>, SendReply>, Unavailable> {
    if let Some(id) = &request.contact_id {
        return match app.crm.contact(account, id).await {
            Ok(Some(contact)) => Ok(Ok(Some(contact))),
            Ok(None) => Ok(Err(SendReply::refusal(
                SendOutcome::UnknownContact,
                "unknown_contact",
                format!("the CRM has no contact {id}"),
            ))),
            Err(e) => Err(Unavailable(format!("CRM: {e}"))),
        };
    }
    let phone: &PhoneNumber = match &request.recipient {
        Recipient::Phone(p) => p,
        // An alert goes to the team's number, not to a contact.
        Recipient::AlertNumber(_) | Recipient::ContactMobile => return Ok(Ok(None)),
    };
    let needed = request.needs_contact_fields()
        || (request.kind == SendKind::Bulk
            && request.subscription.is_none()
            && account.subscription_field.is_some());
    let now = app.clock.now();
    match cached_or_found_contact(app.store.as_ref(), app.crm.as_ref(), account, phone, now).await {
        Ok(contact) => Ok(Ok(contact)),
        Err(e) if needed => Err(Unavailable(format!("CRM: {e}"))),
        Err(e) => {
            tracing::warn!(account = %account.id, error = %e, "CRM lookup failed; sending without a contact");
            Ok(Ok(None))
        }
    }
}

/// The subscription: as the request says, else the contact's configured CRM field, else
/// unknown (`none`, which allows transactional messages only: "Subscription" in
/// docs/glossary.md).
fn subscription(
    account: &Account,
    request: &SendRequest,
    contact: Option<&Contact>,
) -> SubscriptionStatus {
    if let Some(stated) = request.subscription {
        return stated;
    }
    account
        .subscription_field
        .as_deref()
        .and_then(|field| contact?.custom_field(field))
        .and_then(|value| value.trim().to_ascii_lowercase().parse().ok())
        .unwrap_or_default()
}

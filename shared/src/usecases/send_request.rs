//! A CRM's send request: checked, consented, admitted under the account's queue
//! limit, and queued for the send worker, or refused with a reason the CRM is told (in the
//! answer and by goals).
//!
//! Idempotent: the request is claimed under its `requestId` (or, without one, under the
//! recipient, body, media, sender and kind) before anything happens, and the answer is
//! kept; a CRM that retries gets the first answer, and no second message.
//!
//! Order of work, each step changing nothing when it refuses: read the fields (pure); read,
//! in one go, the request's claim and, when the request names the phone, the phone's
//! opt-out, health and cached contact; find the contact (the CRM on a cache miss), render
//! the body, check consent; then claim the request and take its admission slot in one
//! write, reserve the sender's next send slot, queue the send delayed until it and keep
//! the answer. A refusal claims the request on its own first, so its goals, queued as
//! automation jobs with ids derived from the claim, fire once however often the CRM
//! retries.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Unavailable;
use super::answers::{self, Claimed};
use super::contacts::found_contact;
use crate::app::App;
use crate::domain::consent::{SendKind, SubscriptionStatus, may_send};
use crate::domain::merge::{self, Lookup, account_field};
use crate::domain::send_content::{SendContent, check_content};
use crate::domain::send_request::{Recipient, SendFields, SendRequest, parse_send_request};
use crate::domain::{Account, PhoneNumber};
use crate::domain::{IdempotencyKey, MessageId};
use crate::metrics::{self, Metric};
use crate::ports::{CachedContact, ClaimAndAdmit, ClaimToTake, PhoneStanding};
use crate::ports::{ClaimTerms, Contact};

mod queueing;

pub use queueing::{Outgoing, queue_send};
use queueing::{queue_admitted, queue_send_with, read_standing};

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
    /// What the queued message may get wrong, sent all the same (a warning never blocks a
    /// send). Only what came true for this message: a field that came out empty for this
    /// contact. A warning on every send of a template whatever the contact holds would be
    /// noise a CRM's logs fill with and people learn to skip; the one that says "this
    /// message went out as 'Hi , …'" is worth reading. `smsflow sequences apply` warns of
    /// the template itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<SendWarning>,
}

/// Something about a queued message worth fixing in its template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendWarning {
    /// Stable: `empty_merge_field`.
    pub code: String,
    /// The merge field, as written (`Contact.FirstName`).
    pub field: String,
    pub detail: String,
}

impl SendWarning {
    fn empty_merge_field(field: String) -> SendWarning {
        SendWarning {
            code: "empty_merge_field".into(),
            detail: format!(
                "this message went out with it empty: {}",
                merge::gap_advice(&field)
            ),
            field,
        }
    }
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
            warnings: Vec::new(),
        }
    }

    fn refusal(outcome: SendOutcome, code: &str, detail: impl Into<String>) -> SendReply {
        SendReply {
            outcome,
            code: Some(code.to_string()),
            detail: Some(detail.into()),
            message_id: None,
            repeated: false,
            warnings: Vec::new(),
        }
    }

    /// The reply with `warnings`, when the message was queued (a refusal sent nothing).
    fn warned(mut self, warnings: &[SendWarning]) -> SendReply {
        if self.outcome == SendOutcome::Queued && !self.repeated {
            self.warnings = warnings.to_vec();
        }
        self
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
    let now = app.clock.now();
    // One read before any write: the key's claim, and the recipient's standing and cached
    // contact when the request names the phone.
    let view = app
        .store
        .request_view(
            &key,
            &account.id,
            request_phone(&request),
            wants_cached_contact(&request),
            now,
        )
        .await
        .map_err(|e| Unavailable(format!("cannot read the request's claim: {e}")))?;
    let lapsed = match answers::as_read::<SendReply>(view.claim.as_ref(), now) {
        Ok(lapsed) => lapsed,
        Err(held) => return Ok(repeat_answer(held)),
    };
    // Reading the contact and checking the content write nothing: a request refused for
    // its content claims nothing, as a corrected retry deserves a fresh look anyway.
    let prepared = match prepare(app, account, &request, view.contact, view.standing).await? {
        Ok(prepared) => prepared,
        Err(reply) => return Ok(reply),
    };
    let claim = ClaimToTake {
        key: &key,
        terms,
        now,
        lapsed,
    };
    if let Some(reply) = claimed_with_admission(app, account, &prepared, &claim).await? {
        return Ok(reply);
    }
    claimed_then_queued(app, account, &prepared, &claim).await
}

/// The answer to a repeat of a request whose key is held.
fn repeat_answer(held: Claimed<SendReply>) -> SendReply {
    match held {
        Claimed::Answered(first) => SendReply {
            repeated: true,
            ..first
        },
        Claimed::InProgress | Claimed::First { .. } => SendReply::refusal(
            SendOutcome::InProgress,
            "in_progress",
            "the same request is being handled; retry in a few seconds",
        ),
    }
}

/// A request ready to be queued: its message, the recipient's standing and what to warn of.
struct Prepared {
    message: Outgoing,
    standing: PhoneStanding,
    warnings: Vec<SendWarning>,
}

/// The common case in one write: the message may be sent, and the claim is taken with its
/// admission slot (both or neither), then the send is queued and the answer kept. A crash
/// after that write leaves a leased claim and a held slot: the retry takes the claim over
/// under the same message id, finds the slot, and queues the send (a job queued twice is
/// sent once: `deliver`). `None`: refused, queue full or the claim taken meanwhile, for
/// [`claimed_then_queued`] to handle under the claim alone.
async fn claimed_with_admission(
    app: &App,
    account: &Account,
    prepared: &Prepared,
    claim: &ClaimToTake<'_>,
) -> Result<Option<SendReply>, Unavailable> {
    let (message, standing) = (&prepared.message, &prepared.standing);
    let status = standing.health.status;
    if may_send(
        message.kind,
        status,
        message.subscription,
        standing.opted_out(),
    )
    .is_err()
    {
        return Ok(None);
    }
    let first_claimed_at = claim.first_claimed_at();
    let message_id = MessageId::new(crate::ports::derived_id(
        first_claimed_at,
        claim.key.as_str(),
    ));
    let limit = account.limits.queue_limit;
    let admitted = app
        .store
        .claim_and_admit(claim, &account.id, &message_id, limit)
        .await
        .map_err(|e| Unavailable(format!("cannot claim the request and admit it: {e}")))?;
    if admitted != ClaimAndAdmit::Admitted {
        return Ok(None);
    }
    metrics::count(&account.id, Metric::SendsRequested);
    let result = queue_admitted(app, account, message, message_id)
        .await
        .map(|reply| reply.warned(&prepared.warnings));
    settle(app, claim.key, &result).await;
    result.map(Some)
}

/// The request under its claim alone (taken first, as every request was before the
/// combined write): what refusals need, so their goals are queued under the claim's
/// message id and fire once however often the request is retried.
async fn claimed_then_queued(
    app: &App,
    account: &Account,
    prepared: &Prepared,
    claim: &ClaimToTake<'_>,
) -> Result<SendReply, Unavailable> {
    let claimed =
        answers::claim::<SendReply>(app.store.as_ref(), claim.key, claim.terms, claim.now).await;
    let first_claimed_at = match claimed {
        Ok(Claimed::First { first_claimed_at }) => first_claimed_at,
        Ok(held) => return Ok(repeat_answer(held)),
        Err(e) => return Err(Unavailable(format!("cannot claim the request: {e}"))),
    };
    // The same id for a handler that takes over from one that died: one message, not two.
    let message_id = MessageId::new(crate::ports::derived_id(
        first_claimed_at,
        claim.key.as_str(),
    ));
    let (message, standing) = (&prepared.message, &prepared.standing);
    let result = queue_send_with(app, account, message, message_id, standing)
        .await
        .map(|reply| reply.warned(&prepared.warnings));
    settle(app, claim.key, &result).await;
    result
}

/// Keeps a final answer with the claim, or gives the claim back.
async fn settle(app: &App, key: &IdempotencyKey, result: &Result<SendReply, Unavailable>) {
    let final_answer = result.as_ref().ok().filter(|reply| reply.is_final());
    answers::settle(app.store.as_ref(), key, final_answer).await;
}

/// The phone a request names, known before its contact is looked up.
fn request_phone(request: &SendRequest) -> Option<&PhoneNumber> {
    match &request.recipient {
        Recipient::Phone(p) | Recipient::AlertNumber(p) => Some(p),
        Recipient::ContactMobile => None,
    }
}

/// Whether the contact is looked up by the request's phone (through the cache).
fn wants_cached_contact(request: &SendRequest) -> bool {
    request.contact_id.is_none() && matches!(request.recipient, Recipient::Phone(_))
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

/// The request's message (contact found, body rendered, content checked) and the
/// recipient's standing (as read with the claim, else read now); `Err` answers a request
/// that cannot be sent as it is.
async fn prepare(
    app: &App,
    account: &Account,
    request: &SendRequest,
    cached: Option<CachedContact>,
    standing: Option<PhoneStanding>,
) -> Result<Result<Prepared, SendReply>, Unavailable> {
    let contact = match find_contact(app, account, request, cached).await? {
        Ok(contact) => contact,
        Err(reply) => return Ok(Err(reply)),
    };
    let checked = recipient(request, contact.as_ref()).and_then(|to| {
        let content = filled_content(account, request, contact.as_ref())?;
        Ok((to, content))
    });
    let (to, (content, warnings)) = match checked {
        Ok(checked) => checked,
        Err(reply) => return Ok(Err(reply)),
    };
    let standing = match standing {
        Some(standing) => standing,
        None => read_standing(app.store.as_ref(), account, &to).await?,
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
        sequence: None,
    };
    Ok(Ok(Prepared {
        message,
        standing,
        warnings,
    }))
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
/// checked as a message that can be sent, and the fields that came out empty.
fn filled_content(
    account: &Account,
    request: &SendRequest,
    contact: Option<&Contact>,
) -> Result<(SendContent, Vec<SendWarning>), SendReply> {
    let user = request.routing_user().and_then(|id| account.user(id));
    let invalid =
        |code: &str, detail: String| SendReply::refusal(SendOutcome::Invalid, code, detail);
    let rendered = merge::render_looking_up(&request.template, &|name| {
        if let Some(value) = account_field(name, account, user) {
            return Lookup::Value(value);
        }
        // A rightly named user field still sends its fallback when no user is named.
        if user.is_none() && merge::USER_FIELDS.contains(&name) {
            return Lookup::NoUser;
        }
        match contact {
            Some(contact) => contact.merge_field(name).into(),
            // A rightly named field still sends its fallback when there is no contact.
            None if Contact::is_merge_field_name(name) => Lookup::NoContact,
            None => Lookup::Unknown,
        }
    })
    .map_err(|e| invalid(e.code(), e.to_string()))?;
    // Checked as rendered: a fallback counts towards the length and the encoding.
    let content = check_content(&rendered.text, &request.media_urls)
        .map_err(|e| invalid(e.code(), e.to_string()))?;
    let warnings = rendered
        .gaps
        .into_iter()
        .map(SendWarning::empty_merge_field);
    Ok((content, warnings.collect()))
}

/// The contact the request is about: by its id, else by the recipient's phone. A contact
/// the body or consent needs must be found (CRM trouble: `Unavailable`); one only wanted
/// for goals is looked for, and its absence or a CRM failure does not stop the send.
async fn find_contact(
    app: &App,
    account: &Account,
    request: &SendRequest,
    cached: Option<CachedContact>,
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
    let (cache, crm) = (app.store.as_ref(), app.crm.as_ref());
    match found_contact(cached, cache, crm, account, phone, now).await {
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

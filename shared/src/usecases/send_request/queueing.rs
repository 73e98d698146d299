//! The one way a message enters the send queue, for a CRM's request and for a message
//! smsflow sends itself (a sequence step): consent, admission, the sender's calendar slot,
//! the send job, and the goals that tell the CRM.

use super::{SendOutcome, SendReply};
use crate::app::App;
use crate::domain::consent::{SendKind, SubscriptionStatus, may_send};
use crate::domain::goals::StandardGoal;
use crate::domain::sender::SenderSpec;
use crate::domain::{Account, ContactId, MessageId, PhoneNumber};
use crate::jobs::{self, GoalSubject, SendJob};
use crate::metrics::{self, Metric};
use crate::ports::{AdmissionStore, PhoneStanding, PhoneStore, Sender};
use crate::usecases::Unavailable;
use crate::usecases::goals::queue_standard_goals;
use crate::usecases::refusals::record_refusal;

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
    /// The sequence the message is a step of (see [`SendJob::sequence`]).
    pub sequence: Option<String>,
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
    let standing = read_standing(app.store.as_ref(), account, &message.to).await?;
    queue_send_with(app, account, message, message_id, &standing).await
}

pub(super) async fn read_standing(
    phones: &dyn PhoneStore,
    account: &Account,
    to: &PhoneNumber,
) -> Result<PhoneStanding, Unavailable> {
    phones
        .phone_standing(&account.id, to)
        .await
        .map_err(|e| Unavailable(format!("cannot read the phone's opt-out and status: {e}")))
}

/// [`queue_send`] with the recipient's standing already read.
pub(super) async fn queue_send_with(
    app: &App,
    account: &Account,
    message: &Outgoing,
    message_id: MessageId,
    standing: &PhoneStanding,
) -> Result<SendReply, Unavailable> {
    metrics::count(&account.id, Metric::SendsRequested);
    let refused = refusal(app.store.as_ref(), account, message, &message_id, standing).await?;
    let Some((reply, refusal_goals)) = refused else {
        return queue_admitted(app, account, message, message_id).await;
    };
    let reason = (
        reply.code.as_deref().unwrap_or_default(),
        reply.detail.as_deref().unwrap_or_default(),
    );
    let now = app.clock.now();
    record_refusal(
        app.store.as_ref(),
        &account.id,
        &message.to,
        &message_id,
        reason,
        now,
    )
    .await?;
    // The message passed validation: the CRM hears of it whatever happens next.
    let mut goals = vec![StandardGoal::SmsSendRequestReceived];
    goals.extend(refusal_goals);
    let about = goal_subject(message, &message_id);
    queue_standard_goals(app, account, &about, &contact_goals(message, &goals)).await?;
    Ok(reply)
}

/// An admitted message's send queued, then `SMSsendRequestReceived`. A send that cannot be
/// queued gives its slot back.
pub(super) async fn queue_admitted(
    app: &App,
    account: &Account,
    message: &Outgoing,
    message_id: MessageId,
) -> Result<SendReply, Unavailable> {
    metrics::count(&account.id, Metric::SendsAdmitted);
    if let Err(e) = enqueue_admitted(app, account, message, &message_id).await {
        crate::usecases::release_admission(app.store.as_ref(), &account.id, &message_id).await;
        return Err(e);
    }
    // The send is queued: a goal that cannot be queued now must not turn the answer into
    // a failure (the CRM would retry and be told "already queued"), so it is only logged.
    let about = goal_subject(message, &message_id);
    let goals = contact_goals(message, &[StandardGoal::SmsSendRequestReceived]);
    if let Err(e) = queue_standard_goals(app, account, &about, &goals).await {
        tracing::error!(account = %account.id, message_id = %message_id, error = %e, "send queued, but its goals were not");
    }
    Ok(SendReply::queued(message_id))
}

fn goal_subject(message: &Outgoing, message_id: &MessageId) -> GoalSubject {
    GoalSubject {
        phone: message.to.clone(),
        message_id: message_id.clone(),
    }
}

/// Each goal about the message's contact.
fn contact_goals<'a>(
    message: &'a Outgoing,
    goals: &[StandardGoal],
) -> Vec<(StandardGoal, Option<&'a ContactId>)> {
    let contact = message.contact_id.as_ref();
    goals.iter().map(|goal| (*goal, contact)).collect()
}

/// Why the message may not be queued (consent, then the account's queue limit): the
/// answer and the goals that tell the CRM. Otherwise the message is admitted.
async fn refusal(
    admission: &dyn AdmissionStore,
    account: &Account,
    message: &Outgoing,
    message_id: &MessageId,
    standing: &PhoneStanding,
) -> Result<Option<(SendReply, Vec<StandardGoal>)>, Unavailable> {
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
    let slot = crate::usecases::pacing::reserve_calendar_slot(
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
        sequence: message.sequence.clone(),
    };
    jobs::enqueue_send(app, &job, now.until(slot))
        .await
        .map_err(|e| Unavailable(format!("cannot queue the send: {e}")))
}

//! Inbound SMS: the webhook's fast path and the queued processing behind it.
//!
//! The webhook checks, records and acknowledges; everything that talks to the CRM or sends
//! e-mail runs as an automation job, so a CRM or SES outage delays that work and loses none.
//! Every step is idempotent on Twilio's `MessageSid`: the message is stored once (the store
//! refuses a second message with the same SID), and the processing job and its sub-jobs have
//! ids derived from the SID, so a webhook retry or a redelivered job runs nothing twice.
//! The hot path makes three storage/queue calls: the account by the number it came to (one
//! read: the number's claim carries its account), one transactional write of the message
//! with its SID, one enqueue (+1 write for STOP/START). A text naming a Messaging Service
//! reads the number's and the service's claims in one request.

use super::{MissingField, WebhookRequest};
use crate::app::App;
use crate::domain::keywords::{
    KeywordClass, KeywordDecision, KeywordInput, OptOutType, TwilioKeywordHandling,
    classify_inbound,
};
use crate::domain::{Account, Direction, MessageRecord, MessageStatus, PhoneNumber, Timestamp};
use crate::domain::{MessageId, MessageSid};
use crate::jobs::JobId;
use crate::jobs::{self, AutomationJob, InboundText};
use crate::ports::ReceivingAccount;
use crate::ports::{ConsentRecord, Recorded};
use crate::ports::{ConsentStore, ConversationStore};

/// The empty TwiML answer: "received, nothing to say".
pub const EMPTY_TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>";

/// The TwiML answer: empty, or one reply message.
pub fn twiml(reply: Option<&str>) -> String {
    match reply {
        None => EMPTY_TWIML.to_string(),
        Some(text) => format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>{}</Message></Response>",
            xml_escape(text)
        ),
    }
}

fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

impl From<MissingField> for InboundError {
    fn from(missing: MissingField) -> Self {
        InboundError::Invalid(missing.to_string())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InboundError {
    #[error("{0}")]
    Invalid(String),
    #[error("no account owns the number {0}")]
    UnknownNumber(String),
    #[error("the X-Twilio-Signature header is missing or does not match")]
    BadSignature,
    #[error("{0}")]
    Backend(String),
}

/// The webhook: finds the account by `To`, checks Twilio's signature with its auth token,
/// records the text and an opt-out/opt-in at once, queues the rest, and answers TwiML.
pub async fn receive(app: &App, request: &WebhookRequest) -> Result<String, InboundError> {
    let to = PhoneNumber::trusted_e164(request.required("To")?)
        .map_err(|e| InboundError::Invalid(format!("To: {e}")))?;
    let account = receiving_account(app, request, &to).await?;
    let text = Arrival::read(request, to)?;
    let decision = keyword_decision(&account, &text);
    let now = app.clock.now();
    let fresh = inbound_message(&account, &text, MessageId::new(app.ids.new_id()), now);
    // STOP wins: the consent change is durable before we answer, so no later send goes
    // out (stored with the text, or after it on a retry).
    let (message_id, received_at) = store_text(
        app.store.as_ref(),
        app.store.as_ref(),
        &text,
        decision.class,
        fresh,
    )
    .await?;
    super::log_body(&account, &message_id, &text.body);
    // Enqueued after the record, also on a retry: if the first attempt stored the text but
    // failed before enqueueing, this is where its processing is not lost. A job already
    // queued under this id is skipped when it runs again.
    let job_id = JobId::inbound(&text.sid);
    let job = AutomationJob::ProcessInbound(InboundText {
        account: account.id.clone(),
        message_sid: text.sid,
        message_id,
        from: text.from,
        to: text.to,
        body: text.body,
        media_urls: text.media_urls,
        keyword: decision.class,
        received_at,
    });
    jobs::enqueue_with_id(app, job_id, job)
        .await
        .map_err(|e| backend("queue", &e))?;
    Ok(twiml(keyword_reply(&account, &decision)))
}

fn backend(what: &str, e: &dyn std::fmt::Display) -> InboundError {
    InboundError::Backend(format!("{what}: {e}"))
}

/// The account that owns `to` (or the Messaging Service it is pooled in), once Twilio's
/// signature with that account's auth token checks out.
async fn receiving_account(
    app: &App,
    request: &WebhookRequest,
    to: &PhoneNumber,
) -> Result<Account, InboundError> {
    let found = app
        .store
        .receiving_account(to, messaging_service(request))
        .await
        .map_err(|e| backend("account lookup", &e))?;
    let account = match found {
        Some(ReceivingAccount::OwnsNumber(account)) => Some(account),
        Some(ReceivingAccount::ListsService(account)) => {
            Some(account).filter(|a| sent_by_its_twilio_account(a, request))
        }
        None => None,
    }
    .ok_or_else(|| InboundError::UnknownNumber(to.to_string()))?;
    let token = account.twilio.as_ref().map(|t| t.auth_token.expose());
    if !token.is_some_and(|token| request.signed_with(token)) {
        return Err(InboundError::BadSignature);
    }
    Ok(account)
}

/// The text as the webhook carries it.
struct Arrival {
    sid: MessageSid,
    from: PhoneNumber,
    to: PhoneNumber,
    body: String,
    media_urls: Vec<String>,
    /// Set when Twilio's Advanced Opt-Out matched a keyword.
    opt_out_type: Option<OptOutType>,
}

impl Arrival {
    fn read(request: &WebhookRequest, to: PhoneNumber) -> Result<Self, InboundError> {
        Ok(Arrival {
            sid: MessageSid::new(request.required("MessageSid")?),
            from: PhoneNumber::trusted_e164(request.required("From")?)
                .map_err(|e| InboundError::Invalid(format!("From: {e}")))?,
            to,
            body: request.field("Body").unwrap_or_default().to_string(),
            media_urls: media_urls(request)?,
            opt_out_type: request
                .non_empty("OptOutType")
                .and_then(|raw| raw.parse::<OptOutType>().ok()),
        })
    }
}

/// Whether the text is STOP, START or HELP, and whether Twilio already answered it.
fn keyword_decision(account: &Account, text: &Arrival) -> KeywordDecision {
    // A pool number no account lists: Twilio's defaults for a long code.
    let (sender_kind, handling) = account
        .number(&text.to)
        .map(|n| (n.kind, n.keyword_handling))
        .unwrap_or((
            crate::domain::SenderKind::LongCode,
            TwilioKeywordHandling::Default,
        ));
    classify_inbound(&KeywordInput {
        body: &text.body,
        sender_kind,
        opt_out_type: text.opt_out_type,
        handling,
    })
}

/// The text as a new message on its conversation.
fn inbound_message(
    account: &Account,
    text: &Arrival,
    id: MessageId,
    now: Timestamp,
) -> MessageRecord {
    MessageRecord {
        id,
        account: account.id.clone(),
        contact_phone: text.from.clone(),
        our_sender: text.to.to_string(),
        direction: Direction::Inbound,
        body: text.body.clone(),
        media_urls: text.media_urls.clone(),
        status: MessageStatus::Received,
        provider_sid: Some(text.sid.clone()),
        error_code: None,
        user_id: None,
        campaign: None,
        kind: None,
        created_at: now,
        updated_at: now,
        contact_id: None,
        routing: None,
    }
}

/// Stores the text once per SID, with the STOP or START it is (`class`) in the same write:
/// our id and when it was first received. A retry finds the text stored by the first
/// attempt and keeps its id and time; its STOP or START is then written on its own.
async fn store_text(
    conversations: &dyn ConversationStore,
    consent: &dyn ConsentStore,
    text: &Arrival,
    class: KeywordClass,
    message: MessageRecord,
) -> Result<(MessageId, Timestamp), InboundError> {
    let recorded = match consent_change(text, class, message.created_at) {
        Some(change) => {
            conversations
                .record_message_with_consent(&message, &change)
                .await
        }
        None => conversations.record_message(&message).await,
    }
    .map_err(|e| backend("record message", &e))?;
    if recorded == Recorded::New {
        crate::metrics::count(&message.account, crate::metrics::Metric::InboundReceived);
        return Ok((message.id, message.created_at));
    }
    let (id, first_received) = conversations
        .message_by_sid(&text.sid)
        .await
        .map_err(|e| backend("message lookup", &e))?
        .map(|m| (m.id, m.created_at))
        .unwrap_or((message.id, message.created_at));
    // Dated by the text's first receipt, so a retry of an old STOP cannot undo a START
    // that came after it (the store keeps the newer change).
    if let Some(change) = consent_change(text, class, first_received) {
        consent
            .set_consent(&message.account, &text.from, &change)
            .await
            .map_err(|e| backend("consent", &e))?;
    }
    Ok((id, first_received))
}

/// The consent change a STOP or START text makes, dated when it was first received.
fn consent_change(
    text: &Arrival,
    class: KeywordClass,
    received_at: Timestamp,
) -> Option<ConsentRecord> {
    let opted_out = match class {
        KeywordClass::OptOut => true,
        KeywordClass::OptIn => false,
        KeywordClass::Help | KeywordClass::None => return None,
    };
    Some(ConsentRecord {
        opted_out,
        changed_at: received_at,
        source: format!(
            "inbound {} ({})",
            if opted_out { "opt-out" } else { "opt-in" },
            text.sid
        ),
    })
}

/// Our answer to a keyword, only where Twilio did not answer: never a second confirmation.
fn keyword_reply<'a>(account: &'a Account, decision: &KeywordDecision) -> Option<&'a str> {
    if !decision.we_should_reply() {
        return None;
    }
    match decision.class {
        KeywordClass::OptOut => account.replies.opt_out.as_deref(),
        KeywordClass::OptIn => account.replies.opt_in.as_deref(),
        KeywordClass::Help => account.replies.help.as_deref(),
        KeywordClass::None => None,
    }
}

/// A number in a Messaging Service pool need not be listed on the account: the account
/// that lists the service (and owns the Twilio `AccountSid`) takes the text. The service
/// counts only with the `AccountSid` it must match; the store's service index finds its
/// account in a constant number of reads, however many accounts the deployment holds.
fn messaging_service(request: &WebhookRequest) -> Option<&str> {
    request.non_empty("AccountSid")?;
    request
        .field("MessagingServiceSid")
        .filter(|v| !v.is_empty())
}

/// Whether the text came from the Twilio account of `account` (which lists the service).
fn sent_by_its_twilio_account(account: &Account, request: &WebhookRequest) -> bool {
    request
        .non_empty("AccountSid")
        .is_some_and(|sid| account.twilio_account_sid() == Some(sid))
}

fn media_urls(request: &WebhookRequest) -> Result<Vec<String>, InboundError> {
    let count: usize = request
        .field("NumMedia")
        .filter(|v| !v.is_empty())
        .map(|v| v.parse())
        .transpose()
        .map_err(|_| InboundError::Invalid("NumMedia is not a number".into()))?
        .unwrap_or(0);
    // Twilio sends at most 10 media per message.
    Ok((0..count.min(10))
        .filter_map(|i| request.field(&format!("MediaUrl{i}")).map(str::to_string))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twiml_answers_are_escaped() {
        assert_eq!(twiml(None), EMPTY_TWIML);
        assert_eq!(
            twiml(Some("Tom & Jerry's <help>")),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>Tom &amp; Jerry&apos;s &lt;help&gt;</Message></Response>"
        );
    }
}

mod processing;
pub use processing::{Processed, process, process_inner};

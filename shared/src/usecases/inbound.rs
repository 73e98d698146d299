//! Inbound SMS (issue #3): the webhook's fast path and the queued processing behind it.
//!
//! The webhook checks, records and acknowledges; everything that talks to the CRM or sends
//! e-mail runs as an automation job, so a CRM or SES outage delays that work and loses none.
//! Every step is idempotent on Twilio's `MessageSid`: the message is stored once (the store
//! refuses a second message with the same SID), and the processing job and its sub-jobs have
//! ids derived from the SID, so a webhook retry or a redelivered job runs nothing twice.
//! The hot path makes four storage/queue calls: number and account lookups, one
//! transactional write of the message with its SID, one enqueue (+1 write for STOP/START).
//! A pool number of a Messaging Service that no account lists costs one read more: the
//! number lookup misses, then the service's claim and its account are read.

use super::JobOutcome;
use super::contacts::{cache_contact, cached_or_found_contact};
use super::goals::queue_goals;
use super::sequence::Handoff;
use super::{MissingField, WebhookRequest};
use crate::app::App;
use crate::domain::consent::PhoneEvent;
use crate::domain::contact::{AUTO_CREATED_FIRST_NAME, ContactOutcome, email_to_install};
use crate::domain::goals::{InboundGoalContext, inbound_goals};
use crate::domain::keywords::{
    KeywordClass, KeywordDecision, KeywordInput, OptOutType, TwilioKeywordHandling,
    classify_inbound,
};
use crate::domain::routing::{
    ContactHistory, CrmUserRef, LastCallNote, LastSms, RoutingDecision, RoutingFacts, RoutingRule,
    route_inbound,
};
use crate::domain::{
    Account, Direction, EmailAddress, MessageRecord, MessageStatus, PhoneNumber, Timestamp,
};
use crate::domain::{ContactId, MessageId, MessageSid};
use crate::jobs::JobId;
use crate::jobs::{self, AutomationJob, GoalSubject, InboundText, goal_job};
use crate::ports::{ConsentRecord, Contact, CrmError, Email, NewContact, Recorded};

/// How far back the conversation is searched for the last SMS we sent.
const HISTORY: usize = 50;

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
    let to = PhoneNumber::parse_e164(request.required("To")?)
        .map_err(|e| InboundError::Invalid(format!("To: {e}")))?;
    let account = receiving_account(app, request, &to).await?;
    let text = Arrival::read(request, to)?;
    let decision = keyword_decision(&account, &text);
    let (message_id, received_at) = store_text(app, &account, &text).await?;
    // STOP wins: the consent change is durable before we answer, so no later send goes
    // out. It is dated by the text's first receipt, so a retry of an old STOP cannot undo
    // a START that came after it (the store keeps the newer change).
    if matches!(decision.class, KeywordClass::OptOut | KeywordClass::OptIn) {
        record_consent(app, &account, &text, decision.class, received_at).await?;
    }
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
    let account = match app
        .store
        .account_by_number(to)
        .await
        .map_err(|e| backend("account lookup", &e))?
    {
        Some(account) => account,
        None => account_by_messaging_service(app, request)
            .await?
            .ok_or_else(|| InboundError::UnknownNumber(to.to_string()))?,
    };
    if !request.signed_with(account.twilio.auth_token.expose()) {
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
            from: PhoneNumber::parse_e164(request.required("From")?)
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

/// Stores the text once per SID: our id and when it was first received (a retry finds the
/// text stored by the first attempt, and keeps its id and time).
async fn store_text(
    app: &App,
    account: &Account,
    text: &Arrival,
) -> Result<(MessageId, Timestamp), InboundError> {
    let now = app.clock.now();
    let message = MessageRecord {
        id: MessageId::new(app.ids.new_id()),
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
        created_at: now,
        updated_at: now,
        contact_id: None,
        routing: None,
    };
    match app.store.record_message(&message).await {
        Ok(Recorded::New) => {
            crate::metrics::count(&account.id, crate::metrics::Metric::InboundReceived);
            Ok((message.id, now))
        }
        Ok(Recorded::Duplicate) => Ok(app
            .store
            .message_by_sid(&text.sid)
            .await
            .map_err(|e| backend("message lookup", &e))?
            .map(|m| (m.id, m.created_at))
            .unwrap_or((message.id, now))),
        Err(e) => Err(backend("record message", &e)),
    }
}

/// Records a STOP or START from the text, dated when it was first received.
async fn record_consent(
    app: &App,
    account: &Account,
    text: &Arrival,
    class: KeywordClass,
    received_at: Timestamp,
) -> Result<(), InboundError> {
    let opted_out = class == KeywordClass::OptOut;
    let record = ConsentRecord {
        opted_out,
        changed_at: received_at,
        source: format!(
            "inbound {} ({})",
            if opted_out { "opt-out" } else { "opt-in" },
            text.sid
        ),
    };
    app.store
        .set_consent(&account.id, &text.from, &record)
        .await
        .map(|_| ())
        .map_err(|e| backend("consent", &e))
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
/// that lists the service (and owns the Twilio `AccountSid`) takes the text. Only reached
/// for numbers no account lists; the store's service index finds the account in a constant
/// number of reads, however many accounts the deployment holds.
async fn account_by_messaging_service(
    app: &App,
    request: &WebhookRequest,
) -> Result<Option<Account>, InboundError> {
    let (Some(service), Some(twilio_account)) = (
        request
            .field("MessagingServiceSid")
            .filter(|v| !v.is_empty()),
        request.non_empty("AccountSid"),
    ) else {
        return Ok(None);
    };
    let account = app
        .store
        .account_by_messaging_service(service)
        .await
        .map_err(|e| InboundError::Backend(format!("account lookup: {e}")))?;
    Ok(account.filter(|a| a.twilio.account_sid == twilio_account))
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

// ---------------------------------------------------------------- queued processing

/// What processing did, for logs and tests.
#[derive(Debug, Clone, PartialEq)]
pub struct Processed {
    pub contact: ContactOutcome,
    pub contact_id: Option<String>,
    pub email_installed: bool,
    /// Where the text was forwarded; `None` when a sequence run took it.
    pub forwarded_to: Option<String>,
    pub goals: Vec<String>,
    /// What the sequences did with the text.
    pub sequence: Handoff,
}

/// Finds or creates the contact, captures an e-mail address, hands the text to a sequence
/// run (see `usecases::sequence::on_inbound`), routes the text to one teammate by e-mail
/// (unless a run took it) and fires the goals. CRM failures make the whole job retry; the
/// e-mail and goals are queued as sub-jobs with ids derived from the SID, so a retry never
/// sends them twice.
pub async fn process(app: &App, text: &InboundText) -> JobOutcome {
    match process_inner(app, text).await {
        Ok(processed) => {
            tracing::info!(
                account = %text.account,
                from = %text.from.masked(),
                contact = ?processed.contact,
                goals = processed.goals.len(),
                "inbound text processed"
            );
            JobOutcome::Done
        }
        Err(outcome) => outcome,
    }
}

pub async fn process_inner(app: &App, text: &InboundText) -> Result<Processed, JobOutcome> {
    let account = super::load_account(app, &text.account).await?;
    // A text from the phone proves it takes SMS: a bounced phone is active again. (Setting
    // a state, so a retry of this job repeats it harmlessly.)
    app.store
        .record_phone_event(
            &account.id,
            &text.from,
            PhoneEvent::InboundText,
            account.bounce_policy,
        )
        .await
        .map_err(|e| JobOutcome::Retry(format!("phone health: {e}")))?;
    let identified = identify_contact(app, &account, text).await?;
    let contact = identified.contact.as_ref();
    // Sequences: an active run takes the text (STOP ends it), or the text is a keyword
    // that starts one. A text a run took is not forwarded by e-mail (the run answers it,
    // and its note keeps the conversation) but still fires the inbound goals.
    let handoff = super::sequence::on_inbound(app, &account, text, contact).await?;
    let forwarded_to = match handoff {
        Handoff::Took { .. } => None,
        _ => Some(route_and_forward(app, &account, text, contact).await?),
    };
    let goals = queue_inbound_goals(
        app,
        &account,
        text,
        contact,
        identified.outcome,
        forwarded_to.as_ref(),
        identified.email_installed,
    )
    .await?;
    Ok(Processed {
        contact: identified.outcome,
        contact_id: identified.contact.map(|c| c.id),
        email_installed: identified.email_installed,
        forwarded_to: forwarded_to.map(|to| to.to_string()),
        goals,
        sequence: handoff,
    })
}

/// A CRM failure as the job's outcome: transient trouble retries the job.
fn crm_failed(e: CrmError) -> JobOutcome {
    if e.is_transient() {
        JobOutcome::Retry(format!("CRM: {e}"))
    } else {
        JobOutcome::Dropped(format!("CRM: {e}"))
    }
}

/// Who texted, as the CRM knows them.
struct Identified {
    contact: Option<Contact>,
    outcome: ContactOutcome,
    email_installed: bool,
}

/// The texter's contact: cached lookup, else the CRM; auto-created for ordinary texts (not
/// for keywords: a STOP should not create a CRM record), with an e-mail address the text
/// gives saved on it.
async fn identify_contact(
    app: &App,
    account: &Account,
    text: &InboundText,
) -> Result<Identified, JobOutcome> {
    let now = app.clock.now();
    let found = cached_or_found_contact(app, account, &text.from, now)
        .await
        .map_err(crm_failed)?;
    match found {
        None if text.keyword == KeywordClass::None => {
            let email = email_to_install(&text.body, None, None, true);
            let new_contact = NewContact {
                first_name: Some(AUTO_CREATED_FIRST_NAME.to_string()),
                phone: Some(text.from.clone()),
                email: email.clone(),
                ..NewContact::default()
            };
            let created = app
                .crm
                .create_contact(account, &new_contact)
                .await
                .map_err(crm_failed)?;
            // Cache at once: a retry of this job must find it, not create a second one.
            cache_contact(app, account, &text.from, &created, now).await;
            Ok(Identified {
                contact: Some(created),
                outcome: ContactOutcome::AutoCreated,
                email_installed: email.is_some(),
            })
        }
        None => Ok(Identified {
            contact: None,
            outcome: ContactOutcome::Unidentified,
            email_installed: false,
        }),
        Some(mut found) => {
            let install = email_to_install(
                &text.body,
                found.first_name.as_deref(),
                found.email.as_ref(),
                false,
            );
            let email_installed = install.is_some();
            if let Some(email) = install {
                app.crm
                    .set_email(account, &found.id, &email)
                    .await
                    .map_err(crm_failed)?;
                found.email = Some(email);
                cache_contact(app, account, &text.from, &found, now).await;
            }
            Ok(Identified {
                contact: Some(found),
                outcome: ContactOutcome::Found,
                email_installed,
            })
        }
    }
}

/// Routes the text to one teammate (the last SMS we sent, the last call note, the
/// contact's owner, else the backup address), records why, and queues the forward as a
/// job of its own (SES trouble retries only the e-mail). Whom it went to.
async fn route_and_forward(
    app: &App,
    account: &Account,
    text: &InboundText,
    contact: Option<&Contact>,
) -> Result<EmailAddress, JobOutcome> {
    let history = app
        .store
        .conversation(&account.id, &text.from, HISTORY)
        .await
        .map_err(|e| JobOutcome::Retry(format!("conversation: {e}")))?;
    let last_outbound = history.iter().find(|m| m.direction == Direction::Outbound);
    let backup_email = account
        .number(&text.to)
        .map(|n| n.backup_email.clone())
        .or_else(|| account.numbers.first().map(|n| n.backup_email.clone()))
        .ok_or_else(|| JobOutcome::Dropped("account has no numbers".into()))?;
    let last_sms = last_outbound.and_then(MessageRecord::as_last_sms);
    let decision = route(app, account, contact, last_sms, &backup_email)
        .await
        .map_err(crm_failed)?;
    app.store
        .record_routing(&account.id, &text.from, &text.message_id, &decision)
        .await
        .map_err(|e| JobOutcome::Retry(format!("record routing: {e}")))?;
    let from_address = app.settings.mail_from.clone().ok_or_else(|| {
        JobOutcome::Dropped("no sender address for e-mail (SMSFLOW_MAIL_FROM / mail.from)".into())
    })?;
    let email = forward_email(
        text,
        contact,
        &decision.reason,
        from_address,
        decision.to.clone(),
    );
    let forward_job = AutomationJob::SendEmail { email };
    jobs::enqueue_with_id(app, JobId::forward(&text.message_sid), forward_job)
        .await
        .map_err(|e| JobOutcome::Retry(format!("queue: {e}")))?;
    Ok(decision.to)
}

/// The inbound goals, one job each under ids derived from the SID; their names.
async fn queue_inbound_goals(
    app: &App,
    account: &Account,
    text: &InboundText,
    contact: Option<&Contact>,
    outcome: ContactOutcome,
    forwarded_to: Option<&crate::domain::EmailAddress>,
    email_installed: bool,
) -> Result<Vec<String>, JobOutcome> {
    let goals = inbound_goals(&InboundGoalContext {
        contact: outcome,
        to: &text.to,
        forwarded_to,
        email_installed,
        keyword: text.keyword,
    });
    if let Some(contact) = contact {
        let about = GoalSubject {
            phone: text.from.clone(),
            message_id: text.message_id.clone(),
        };
        let jobs = goals
            .iter()
            .map(|goal| {
                let job_id = JobId::goal(text.message_sid.as_str(), goal);
                let job = goal_job(
                    &account.id,
                    &ContactId::new(contact.id.clone()),
                    goal,
                    &about,
                );
                (job_id, job)
            })
            .collect();
        queue_goals(app, jobs)
            .await
            .map_err(|e| JobOutcome::Retry(format!("queue: {e}")))?;
    }
    Ok(goals.iter().map(|g| g.to_string()).collect())
}

/// Decides who gets the text, asking the CRM only for what the decision still needs (CRM
/// quotas are tight): nothing when the last SMS names a teammate; the last call note when
/// it does not; the owner only when no call note names a reachable user either.
async fn route(
    app: &App,
    account: &Account,
    contact: Option<&Contact>,
    last_sms: Option<LastSms<'_>>,
    backup_email: &EmailAddress,
) -> Result<RoutingDecision, CrmError> {
    let decide = |history: Option<ContactHistory<'_>>| {
        route_inbound(&RoutingFacts {
            contact: history,
            users: &account.users,
            backup_email,
        })
    };
    let Some(contact) = contact else {
        return Ok(decide(None));
    };
    let by_sms = ContactHistory {
        last_sms,
        ..ContactHistory::default()
    };
    let decision = decide(Some(by_sms));
    if matches!(
        decision.rule,
        RoutingRule::LastSms | RoutingRule::CampaignReplyTo
    ) {
        return Ok(decision);
    }

    let call_note = app.crm.last_call_note(account, &contact.id).await?;
    let by_call = ContactHistory {
        last_call_note: call_note.as_ref().map(|note| LastCallNote {
            user: note.user.as_ref().map(|u| CrmUserRef {
                crm_user_id: &u.id,
                name: u.name.as_deref(),
                email: u.email.as_ref(),
            }),
            logged_at: note.logged_at,
        }),
        ..by_sms
    };
    let decision = decide(Some(by_call));
    if decision.rule == RoutingRule::LastCallNote {
        return Ok(decision);
    }

    let owner = match contact.owner_id.as_deref() {
        Some(owner_id) => app.crm.user(account, owner_id).await?,
        None => None,
    };
    Ok(decide(Some(ContactHistory {
        owner: owner.as_ref().map(|u| CrmUserRef {
            crm_user_id: &u.id,
            name: Some(&u.name),
            email: u.email.as_ref(),
        }),
        ..by_call
    })))
}

fn forward_email(
    text: &InboundText,
    contact: Option<&Contact>,
    reason: &str,
    from: crate::domain::EmailAddress,
    to: crate::domain::EmailAddress,
) -> Email {
    let name = contact
        .and_then(|c| {
            let first = c
                .first_name
                .as_deref()
                .filter(|n| *n != AUTO_CREATED_FIRST_NAME);
            match (first, c.last_name.as_deref()) {
                (Some(f), Some(l)) => Some(format!("{f} {l}")),
                (Some(f), None) => Some(f.to_string()),
                (None, Some(l)) => Some(l.to_string()),
                (None, None) => None,
            }
        })
        .unwrap_or_else(|| "Unknown sender".to_string());
    let mut body = format!(
        "{name} ({}) texted {}:\n\n{}\n",
        text.from, text.to, text.body
    );
    if !text.media_urls.is_empty() {
        body.push_str("\nMedia:\n");
        for url in &text.media_urls {
            body.push_str(&format!("  {url}\n"));
        }
    }
    body.push_str(&format!(
        "\nCRM contact: {}\nWhy you: {reason}\nMessage: {}\n",
        contact.map(|c| c.id.as_str()).unwrap_or("none"),
        text.message_sid
    ));
    Email {
        from,
        to: vec![to],
        reply_to: contact.and_then(|c| c.email.clone()),
        subject: format!("SMS from {name} ({})", text.from),
        text: body,
    }
}

//! An inbound text's queued processing: who the contact is, where the text goes (routing,
//! forward e-mail, a sequence reply), and the CRM goals it fires.

use crate::app::App;
use crate::domain::ContactId;
use crate::domain::consent::PhoneEvent;
use crate::domain::contact::{AUTO_CREATED_FIRST_NAME, ContactOutcome, email_to_install};
use crate::domain::goals::{InboundGoalContext, inbound_goals};
use crate::domain::keywords::KeywordClass;
use crate::domain::reply_address::{ReplyGrant, ReplyToken};
use crate::domain::routing::{
    ContactHistory, CrmUserRef, LastCallNote, LastSms, RoutingDecision, RoutingFacts, RoutingRule,
    route_inbound,
};
use crate::domain::{Account, Direction, EmailAddress, MessageRecord, Timestamp};
use crate::jobs::JobId;
use crate::jobs::{self, AutomationJob, GoalSubject, InboundText, goal_job};
use crate::ports::Crm;
use crate::ports::{Contact, CrmError, Email, NewContact};
use crate::usecases::JobOutcome;
use crate::usecases::contacts::{cache_contact, cached_or_found_contact};
use crate::usecases::goals::queue_goals;
use crate::usecases::sequence::Handoff;

/// How far back the conversation is searched for the last SMS we sent.
const HISTORY: usize = 50;

/// What processing did, for logs and tests.
#[derive(Debug, Clone, PartialEq)]
pub struct Processed {
    pub contact: ContactOutcome,
    pub contact_id: Option<ContactId>,
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
    let account = crate::usecases::load_account(app, &text.account).await?;
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
    let handoff = crate::usecases::sequence::on_inbound(app, &account, text, contact).await?;
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
    let found = cached_or_found_contact(
        app.store.as_ref(),
        app.crm.as_ref(),
        account,
        &text.from,
        now,
    )
    .await
    .map_err(crm_failed)?;
    match found {
        None if text.keyword == KeywordClass::None => create_contact(app, account, text, now).await,
        None => Ok(Identified {
            contact: None,
            outcome: ContactOutcome::Unidentified,
            email_installed: false,
        }),
        Some(found) => install_email(app, account, text, found, now).await,
    }
}

/// An unknown sender who texted more than a keyword becomes a contact (with the e-mail
/// address the text holds, if any).
async fn create_contact(
    app: &App,
    account: &Account,
    text: &InboundText,
    now: Timestamp,
) -> Result<Identified, JobOutcome> {
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
    cache_contact(app.store.as_ref(), account, &text.from, &created, now).await;
    Ok(Identified {
        contact: Some(created),
        outcome: ContactOutcome::AutoCreated,
        email_installed: email.is_some(),
    })
}

/// A known contact: the e-mail address the text holds goes on the contact if it has none.
async fn install_email(
    app: &App,
    account: &Account,
    text: &InboundText,
    mut found: Contact,
    now: Timestamp,
) -> Result<Identified, JobOutcome> {
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
        cache_contact(app.store.as_ref(), account, &text.from, &found, now).await;
    }
    Ok(Identified {
        contact: Some(found),
        outcome: ContactOutcome::Found,
        email_installed,
    })
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
    let decision = route(app.crm.as_ref(), account, contact, last_sms, &backup_email)
        .await
        .map_err(crm_failed)?;
    app.store
        .record_routing(&account.id, &text.from, &text.message_id, &decision)
        .await
        .map_err(|e| JobOutcome::Retry(format!("record routing: {e}")))?;
    let from_address = app.settings.mail_from.clone().ok_or_else(|| {
        JobOutcome::Dropped("no sender address for e-mail (SMSFLOW_MAIL_FROM / mail.from)".into())
    })?;
    let reply_to = reply_address(app, account, text, contact, &decision).await?;
    let forward = Forward {
        text,
        contact,
        reason: &decision.reason,
        reply_to,
    };
    let email = forward_email(&forward, from_address, decision.to.clone());
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
                let job = goal_job(&account.id, &contact.id, goal, &about);
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
    crm: &dyn Crm,
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

    let call_note = crm.last_call_note(account, &contact.id).await?;
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
        Some(owner_id) => crm.user(account, owner_id).await?,
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

/// Where a teammate's reply to the forward goes: with a reply domain, a reply address of
/// its own, granted here before the forward is queued (a retried job grants another and
/// the forward already queued keeps the first, which stays valid); without one, the
/// contact's e-mail address.
async fn reply_address(
    app: &App,
    account: &Account,
    text: &InboundText,
    contact: Option<&Contact>,
    decision: &RoutingDecision,
) -> Result<Option<ReplyTo>, JobOutcome> {
    let Some(replies) = app.settings.replies.as_ref() else {
        return Ok(contact.and_then(|c| c.email.clone()).map(ReplyTo::Contact));
    };
    let now = app.clock.now();
    let grant = ReplyGrant::issue(
        account,
        &text.from,
        decision.user_id.as_deref(),
        &text.to,
        now,
        replies.window(),
    );
    let token = ReplyToken::generate();
    app.store
        .put_reply_grant(&token, &grant)
        .await
        .map_err(|e| JobOutcome::Retry(format!("reply address: {e}")))?;
    let address = EmailAddress::parse(&token.address(replies.domain()))
        .map_err(|e| JobOutcome::Dropped(format!("reply address: {e}")))?;
    Ok(Some(ReplyTo::Texting {
        address,
        until: grant.expires_at,
    }))
}

/// The forward's `Reply-To`.
enum ReplyTo {
    /// A reply is texted to the contact (README "Reply by e-mail").
    Texting {
        address: EmailAddress,
        until: Timestamp,
    },
    /// A reply is e-mailed to the contact.
    Contact(EmailAddress),
}

/// What a forward says.
struct Forward<'a> {
    text: &'a InboundText,
    contact: Option<&'a Contact>,
    reason: &'a str,
    reply_to: Option<ReplyTo>,
}

fn forward_email(forward: &Forward<'_>, from: EmailAddress, to: EmailAddress) -> Email {
    let Forward {
        text,
        contact,
        reason,
        ..
    } = forward;
    let sender = match sender_label(*contact) {
        Some(label) => format!("{label} ({})", text.from),
        None => text.from.to_string(),
    };
    let mut body = format!("{sender} texted {}:\n\n{}\n", text.to, text.body);
    if !text.media_urls.is_empty() {
        body.push_str("\nMedia:\n");
        for url in &text.media_urls {
            body.push_str(&format!("  {url}\n"));
        }
    }
    if let Some(ReplyTo::Texting { until, .. }) = &forward.reply_to {
        body.push_str(&format!(
            "\nReply to this e-mail to text your answer from {} (until {} UTC).\n",
            text.to,
            until.utc_day()
        ));
    }
    body.push_str(&format!(
        "\nCRM contact: {}\nWhy you: {reason}\nMessage: {}\n",
        contact.map(|c| c.id.as_str()).unwrap_or("none"),
        text.message_sid
    ));
    let reply_to = forward.reply_to.as_ref().map(|r| match r {
        ReplyTo::Texting { address, .. } | ReplyTo::Contact(address) => address.clone(),
    });
    Email {
        from,
        to: vec![to],
        reply_to,
        subject: format!("SMS from {sender}"),
        text: body,
    }
}

/// Who texted, as the forward names them: the contact's name, else its e-mail address (an
/// auto-created contact has a placeholder name and often an address), else nothing.
fn sender_label(contact: Option<&Contact>) -> Option<String> {
    let contact = contact?;
    let first = (contact.first_name.as_deref()).filter(|n| *n != AUTO_CREATED_FIRST_NAME);
    match (first, contact.last_name.as_deref()) {
        (Some(first), Some(last)) => Some(format!("{first} {last}")),
        (Some(name), None) | (None, Some(name)) => Some(name.to_string()),
        (None, None) => contact.email.as_ref().map(|email| email.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::{AUTO_CREATED_FIRST_NAME, sender_label};
    use crate::domain::{ContactId, EmailAddress};
    use crate::ports::Contact;

    #[test]
    fn the_forward_names_the_sender_by_what_is_known() {
        // (first name, last name, e-mail, label)
        let cases = [
            (
                Some("Jane"),
                Some("Doe"),
                Some("jane@example.com"),
                Some("Jane Doe"),
            ),
            (Some("Jane"), None, None, Some("Jane")),
            (None, Some("Doe"), None, Some("Doe")),
            (
                Some(AUTO_CREATED_FIRST_NAME),
                None,
                Some("ann@example.com"),
                Some("ann@example.com"),
            ),
            (None, None, Some("ann@example.com"), Some("ann@example.com")),
            (Some(AUTO_CREATED_FIRST_NAME), None, None, None),
        ];
        for (first, last, email, label) in cases {
            let contact = Contact {
                id: ContactId::new("7"),
                first_name: first.map(String::from),
                last_name: last.map(String::from),
                email: email.map(|e| EmailAddress::parse(e).expect("address")),
                phone: None,
                owner_id: None,
                tags: Vec::new(),
                custom_fields: Default::default(),
                time_zone: None,
            };
            assert_eq!(
                sender_label(Some(&contact)).as_deref(),
                label,
                "{first:?} {last:?} {email:?}"
            );
        }
        assert_eq!(sender_label(None), None, "not a contact");
    }
}

//! What a signed-in teammate sees: their conversations with unread counts, one thread, and
//! the texts routed to them since the page last asked.

use futures::StreamExt;
use serde::Serialize;

use super::sign_in::SignedIn;
use crate::app::App;
use crate::domain::inbox::{conversation_number, conversation_owner, sees, unread};
use crate::domain::{Direction, MessageId, MessageRecord, PhoneNumber, Timestamp};
use crate::usecases::Unavailable;
use crate::usecases::contacts::{cached_only, cached_or_found_contact};
use crate::usecases::conversations::{self, Thread};

/// Conversations read to fill the inbox: the most recent ones of the account.
pub const INBOX_CONVERSATIONS: usize = 100;
/// Messages read per conversation for its unread count and owner.
const MESSAGES_PER_ROW: usize = 20;
/// Messages shown in a thread.
pub const THREAD_MESSAGES: usize = 200;
/// Store and CRM reads in flight at once for one page.
const READS_AT_ONCE: usize = 8;
/// Rows whose contact's name may be asked of the CRM when the contact cache does not hold
/// it; the rest show a cached name or the number, so a long list spends little of the
/// CRM's API quota (the cache keeps a name 10 minutes).
const CRM_NAME_LOOKUPS: usize = 20;

/// One conversation in the inbox.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InboxRow {
    pub phone: PhoneNumber,
    /// The contact's name in the CRM, when it has one.
    pub name: Option<String>,
    pub last_body: String,
    pub last_at: Timestamp,
    pub last_direction: Direction,
    /// Texts received since the user last opened the thread.
    pub unread: usize,
    pub opted_out: bool,
    /// The teammate it belongs to (an admin sees others').
    pub owner: Option<String>,
}

/// The user's conversations, most recent first (an admin's: all of the account's).
pub async fn inbox_rows(app: &App, signed_in: &SignedIn) -> Result<Vec<InboxRow>, Unavailable> {
    let account = &signed_in.account.id;
    let listed = conversations::recent(app.store.as_ref(), account, INBOX_CONVERSATIONS)
        .await
        .map_err(|e| Unavailable(format!("cannot list conversations: {e}")))?;
    let marks = app
        .store
        .read_marks(account, &signed_in.user.id)
        .await
        .map_err(|e| Unavailable(format!("cannot read the read marks: {e}")))?;
    let rows = futures::stream::iter(listed.into_iter().enumerate())
        .map(|(at, listed)| {
            let read_through = marks.get(&listed.summary.phone).copied();
            let names = if at < CRM_NAME_LOOKUPS {
                Names::AskTheCrm
            } else {
                Names::Cached
            };
            row(app, signed_in, listed, read_through, names)
        })
        .buffered(READS_AT_ONCE)
        .collect::<Vec<_>>()
        .await;
    Ok(rows
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .collect())
}

/// The row of one conversation, if the user sees it.
async fn row(
    app: &App,
    signed_in: &SignedIn,
    listed: conversations::Listed,
    read_through: Option<Timestamp>,
    names: Names,
) -> Result<Option<InboxRow>, Unavailable> {
    let phone = listed.summary.phone;
    let messages = app
        .store
        .conversation(&signed_in.account.id, &phone, MESSAGES_PER_ROW)
        .await
        .map_err(|e| Unavailable(format!("cannot read a conversation: {e}")))?;
    let owner = conversation_owner(&messages).map(str::to_string);
    let Some(last) = messages.first() else {
        return Ok(None);
    };
    if !sees(&signed_in.user, owner.as_deref()) {
        return Ok(None);
    }
    Ok(Some(InboxRow {
        name: contact_name(app, signed_in, &phone, names).await,
        last_body: last.body.clone(),
        last_at: last.created_at,
        last_direction: last.direction,
        unread: unread(&messages, read_through),
        opted_out: listed.opted_out,
        owner,
        phone,
    }))
}

/// Where a contact's name may come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Names {
    /// The contact cache, else the CRM (which then caches it).
    AskTheCrm,
    /// The contact cache only.
    Cached,
}

/// The contact's name from the CRM (through the contact cache); none when the CRM does not
/// answer, so the page still shows the number.
async fn contact_name(
    app: &App,
    signed_in: &SignedIn,
    phone: &PhoneNumber,
    names: Names,
) -> Option<String> {
    let (account, now) = (&signed_in.account, app.clock.now());
    if names == Names::Cached {
        let cached = cached_only(app.store.as_ref(), account, phone, now).await;
        return cached.and_then(|c| c.display_name());
    }
    let found =
        cached_or_found_contact(app.store.as_ref(), app.crm.as_ref(), account, phone, now).await;
    match found {
        Ok(contact) => contact.and_then(|c| c.display_name()),
        Err(e) => {
            tracing::warn!(error = %e, "no contact name for the inbox: the CRM did not answer");
            None
        }
    }
}

/// One thread as the inbox shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ThreadView {
    pub thread: Thread,
    pub name: Option<String>,
    pub owner: Option<String>,
    pub opted_out: bool,
    /// The number a reply goes from.
    pub from: Option<PhoneNumber>,
}

/// What opening a thread found.
#[derive(Debug)]
pub enum Opened {
    Thread(Box<ThreadView>),
    /// Nothing was ever sent to or received from the number.
    Empty,
    /// Another teammate's conversation, and the user is no admin.
    NotYours,
}

/// The thread with `phone`, marked read up to its last message.
pub async fn open_thread(
    app: &App,
    signed_in: &SignedIn,
    phone: &PhoneNumber,
) -> Result<Opened, Unavailable> {
    let thread = conversations::thread(
        app.store.as_ref(),
        &signed_in.account,
        phone,
        THREAD_MESSAGES,
    )
    .await
    .map_err(|e| Unavailable(format!("cannot read the thread: {e}")))?;
    let Some(thread) = thread else {
        return Ok(Opened::Empty);
    };
    let newest_first: Vec<MessageRecord> = thread
        .messages
        .iter()
        .rev()
        .map(|m| m.message.clone())
        .collect();
    let owner = conversation_owner(&newest_first).map(str::to_string);
    if !sees(&signed_in.user, owner.as_deref()) {
        return Ok(Opened::NotYours);
    }
    if let Some(last) = newest_first.first() {
        mark_read(app, signed_in, phone, last.created_at).await;
    }
    Ok(Opened::Thread(Box::new(ThreadView {
        from: conversation_number(&signed_in.account, &newest_first),
        name: contact_name(app, signed_in, phone, Names::AskTheCrm).await,
        opted_out: thread.consent.as_ref().is_some_and(|c| c.opted_out),
        owner,
        thread,
    })))
}

/// Best effort: a read mark that failed to save only leaves the count up.
async fn mark_read(app: &App, signed_in: &SignedIn, phone: &PhoneNumber, through: Timestamp) {
    let marked = app
        .store
        .mark_read(&signed_in.account.id, &signed_in.user.id, phone, through)
        .await;
    if let Err(e) = marked {
        tracing::warn!(error = %e, "could not mark the thread read");
    }
}

/// A text routed to the user, for the page's alert.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub id: MessageId,
    pub phone: PhoneNumber,
    pub name: Option<String>,
    pub body: String,
    pub at: Timestamp,
}

/// Conversations looked at for alerts: those with the latest messages.
const ALERT_CONVERSATIONS: usize = 20;

/// Texts routed to the user and received after `since`, oldest first. A text is routed a
/// moment after it arrives, so the page asks from a while before its last answer and skips
/// the ids it has shown.
pub async fn alerts_since(
    app: &App,
    signed_in: &SignedIn,
    since: Timestamp,
) -> Result<Vec<Alert>, Unavailable> {
    let account = &signed_in.account.id;
    let recent = app
        .store
        .recent_conversations(account, ALERT_CONVERSATIONS)
        .await
        .map_err(|e| Unavailable(format!("cannot list conversations: {e}")))?;
    let fresh = recent.into_iter().filter(|s| s.last_message_at > since);
    let mut alerts = Vec::new();
    for summary in fresh {
        let messages = app
            .store
            .conversation(account, &summary.phone, MESSAGES_PER_ROW)
            .await
            .map_err(|e| Unavailable(format!("cannot read a conversation: {e}")))?;
        let routed_here = messages.into_iter().filter(|m| {
            m.direction == Direction::Inbound
                && m.created_at > since
                && m.routing.as_ref().and_then(|r| r.user_id.as_deref())
                    == Some(signed_in.user.id.as_str())
        });
        let routed_here: Vec<MessageRecord> = routed_here.collect();
        if routed_here.is_empty() {
            continue;
        }
        // The poll runs every few seconds per open page and sees a text for minutes: the
        // name comes from the contact cache, which processing the text just filled.
        let name = contact_name(app, signed_in, &summary.phone, Names::Cached).await;
        alerts.extend(routed_here.into_iter().map(|m| Alert {
            id: m.id,
            phone: m.contact_phone,
            name: name.clone(),
            body: m.body,
            at: m.created_at,
        }));
    }
    alerts.sort_by_key(|a| a.at);
    Ok(alerts)
}

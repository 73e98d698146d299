//! `smsflow conversations list` / `show`: an account's recent conversations, and one
//! contact's thread, oldest first so it reads like a chat, with each message's status,
//! error, user or campaign, for inbound texts who got them and why, and the CRM goals each
//! message set off; send requests that never became a message show why they were refused
//! (`RefusalLog`) and their goals.

use clap::Subcommand;
use serde::Serialize;
use smsflow_shared::domain::consent::PhoneHealth;
use smsflow_shared::domain::provider::SmsProviderKind;
use smsflow_shared::domain::twilio_errors::{ErrorClass, classify_error_code};
use smsflow_shared::domain::{
    Account, AccountId, Direction, MessageId, MessageRecord, PhoneNumber,
};
use smsflow_shared::ports::{ConsentRecord, ConversationSummary, GoalRecord, GoalResult, Refusal};

use crate::accounts::stored_account;
use crate::hints;
use crate::output::{CliError, CliResult, Output, table, time};
use crate::target::Location;

#[derive(Subcommand, Debug)]
pub enum Command {
    /// The account's most recent conversations, newest first.
    List {
        #[arg(long)]
        account: String,
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[command(flatten)]
        at: Location,
    },
    /// One contact's thread, in the order its messages came in or were requested.
    Show {
        #[arg(long)]
        account: String,
        /// The contact's phone (national numbers are read in the account's country).
        phone: String,
        /// Show the last this many messages.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[command(flatten)]
        at: Location,
    },
}

#[derive(Serialize)]
struct Listed {
    #[serde(flatten)]
    summary: ConversationSummary,
    opted_out: bool,
}

#[derive(Serialize)]
struct Thread {
    account: AccountId,
    phone: String,
    consent: Option<ConsentRecord>,
    phone_health: PhoneHealth,
    /// Oldest first.
    messages: Vec<ThreadMessage>,
    /// Send requests with no message in the thread (refused, or not sent yet): why they
    /// were refused, and their goals.
    requests_without_message: Vec<RequestGoals>,
}

#[derive(Serialize)]
struct ThreadMessage {
    #[serde(flatten)]
    message: MessageRecord,
    error_class: Option<ErrorClass>,
    /// Why it was not sent, when it was refused after it was recorded (a STOP at send time).
    refusal: Option<Refusal>,
    /// The CRM goals the message set off, and what became of each.
    goals: Vec<GoalRecord>,
}

#[derive(Serialize)]
struct RequestGoals {
    message_id: MessageId,
    /// Why the request sent nothing, when it was refused (requests refused before refusals
    /// were recorded have none).
    refusal: Option<Refusal>,
    goals: Vec<GoalRecord>,
}

pub async fn run(command: Command, out: Output) -> CliResult {
    match command {
        Command::List { account, limit, at } => list(&account, limit, &at, out).await,
        Command::Show {
            account,
            phone,
            limit,
            at,
        } => show(&account, &phone, limit, &at, out).await,
    }
}

async fn list(account: &str, limit: usize, at: &Location, out: Output) -> CliResult {
    let id = AccountId::parse(account)?;
    let store = at.store().await?;
    stored_account(&*store, &id).await?;
    let mut listed = Vec::new();
    for summary in store.recent_conversations(&id, limit).await? {
        let consent = store.consent(&id, &summary.phone).await?;
        listed.push(Listed {
            opted_out: consent.is_some_and(|c| c.opted_out),
            summary,
        });
    }
    out.emit(&listed, || {
        if listed.is_empty() {
            println!("account {id} has no recorded conversations yet");
            return;
        }
        let rows: Vec<Vec<String>> = listed
            .iter()
            .map(|l| {
                vec![
                    l.summary.phone.to_string(),
                    time(l.summary.last_message_at),
                    direction(l.summary.last_direction).to_string(),
                    if l.opted_out { "opted out" } else { "" }.to_string(),
                ]
            })
            .collect();
        println!(
            "{}",
            table(&["PHONE", "LAST MESSAGE (UTC)", "LAST", "CONSENT"], &rows)
        );
    })
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

async fn show(account: &str, phone: &str, limit: usize, at: &Location, out: Output) -> CliResult {
    let id = AccountId::parse(account)?;
    let store = at.store().await?;
    let account = stored_account(&*store, &id).await?;
    let phone = account.parse_phone(phone)?;
    let mut messages = store.conversation(&id, &phone, limit).await?;
    messages.reverse();
    // The goals of the messages shown, and of requests since the oldest of them.
    let oldest = messages
        .first()
        .map_or_else(|| MessageId::new(""), |m| m.id.clone());
    let mut goals = store.goals_fired(&id, &phone, &oldest).await?;
    let mut refusals = store.refusals(&id, &phone, &oldest).await?;
    if messages.is_empty() && goals.is_empty() && refusals.is_empty() {
        return Err(
            CliError::not_found(format!("account {id} has no messages with {phone}")).with_hint(
                format!(
                    "{} shows its recent conversations",
                    hints::command(&["conversations", "list", "--account", id.as_str()])
                ),
            ),
        );
    }
    let messages: Vec<ThreadMessage> = messages
        .into_iter()
        .map(|m| ThreadMessage {
            error_class: twilio_class(&account, &m),
            refusal: take_refusal(&mut refusals, &m.id),
            goals: take_goals(&mut goals, &m.id),
            message: m,
        })
        .collect();
    let thread = Thread {
        account: id.clone(),
        phone: phone.to_string(),
        consent: store.consent(&id, &phone).await?,
        phone_health: store.phone_health(&id, &phone).await?,
        messages,
        requests_without_message: by_request(goals, refusals),
    };
    out.emit(&thread, || println!("{}", render(&thread)))
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

/// The reason in words, and when it was refused.
fn refusal_line(refusal: &Refusal) -> String {
    format!("    why: {} ({} UTC)", refusal.detail, time(refusal.at))
}

fn goal_line(goals: &[GoalRecord]) -> String {
    let each: Vec<String> = goals
        .iter()
        .map(|g| {
            let outcome = match g.outcome {
                GoalResult::Achieved => "achieved",
                GoalResult::Disabled => "disabled, not called",
                GoalResult::NotConfigured => "not configured in the CRM",
                GoalResult::Failed => "failed",
            };
            format!("{} ({outcome})", g.goal)
        })
        .collect();
    format!("    goals: {}", each.join(", "))
}

fn direction(d: Direction) -> &'static str {
    match d {
        Direction::Inbound => "in",
        Direction::Outbound => "out",
    }
}

fn render(thread: &Thread) -> String {
    let mut lines = vec![
        format!(
            "account {} with {}: {} message(s), in the order they came in or were requested \
             (a paced send goes out later)",
            thread.account,
            thread.phone,
            thread.messages.len()
        ),
        consent_line(thread),
    ];
    // Messages and message-less requests, in id (= time) order.
    let mut requests = thread.requests_without_message.iter().peekable();
    let mut request_lines = |lines: &mut Vec<String>, before: Option<&str>| {
        while let Some(r) = requests.next_if(|r| before.is_none_or(|id| r.message_id.as_str() < id))
        {
            lines.push(String::new());
            lines.push(match &r.refusal {
                Some(refusal) => format!(
                    "request {}: no message sent: refused ({})",
                    r.message_id, refusal.code
                ),
                None => format!(
                    "request {}: no message sent (refused, or not sent yet)",
                    r.message_id
                ),
            });
            if let Some(refusal) = &r.refusal {
                lines.push(refusal_line(refusal));
            }
            if !r.goals.is_empty() {
                lines.push(goal_line(&r.goals));
            }
        }
    };
    for m in &thread.messages {
        request_lines(&mut lines, Some(m.message.id.as_str()));
        lines.push(String::new());
        message_lines(m, &mut lines);
    }
    request_lines(&mut lines, None);
    lines.join("\n")
}

fn consent_line(thread: &Thread) -> String {
    let consent = match &thread.consent {
        Some(c) if c.opted_out => format!("opted out {} UTC ({})", time(c.changed_at), c.source),
        Some(c) => format!("opted in {} UTC ({})", time(c.changed_at), c.source),
        None => "no opt-out recorded".to_string(),
    };
    format!(
        "consent: {consent}; phone status: {} ({} hard failure(s) in a row)",
        thread.phone_health.status.as_str(),
        thread.phone_health.consecutive_hard_failures
    )
}

/// One message of the thread: its head line, its text and media, where it was routed,
/// its ids, and its goals.
fn message_lines(m: &ThreadMessage, lines: &mut Vec<String>) {
    let m_ = &m.message;
    lines.push(message_head(m));
    for text in m_.body.lines() {
        lines.push(format!("    {text}"));
    }
    for url in &m_.media_urls {
        lines.push(format!("    [media] {url}"));
    }
    if let Some(routing) = &m_.routing {
        let who = match &routing.user_id {
            Some(user) => format!("user {user} <{}>", routing.to),
            None => format!("<{}>", routing.to),
        };
        lines.push(format!("    routed to {who}: {}", routing.reason));
    }
    lines.push(format!(
        "    id {}{}  via {}",
        m_.id,
        m_.provider_sid
            .as_ref()
            .map(|sid| format!("  sid {sid}"))
            .unwrap_or_default(),
        m_.our_sender
    ));
    if m_.updated_at != m_.created_at {
        lines.push(format!("    status updated {} UTC", time(m_.updated_at)));
    }
    if let Some(refusal) = &m.refusal {
        lines.push(format!(
            "    not sent ({}): {}",
            refusal.code, refusal.detail
        ));
    }
    if !m.goals.is_empty() {
        lines.push(goal_line(&m.goals));
    }
}

/// Time, direction, status, error, user and campaign of a message.
fn message_head(m: &ThreadMessage) -> String {
    let m_ = &m.message;
    let arrow = match m_.direction {
        Direction::Inbound => "<- in ",
        Direction::Outbound => "-> out",
    };
    let mut head = format!("{} UTC  {arrow}  {}", time(m_.created_at), m_.status);
    if let Some(code) = m_.error_code {
        let class = m
            .error_class
            .map(|c| format!(" {}", class_name(c)))
            .unwrap_or_default();
        head.push_str(&format!("  error {code}{class}"));
    }
    if let Some(user) = &m_.user_id {
        head.push_str(&format!("  user {user}"));
    }
    if let Some(campaign) = &m_.campaign {
        head.push_str(&format!("  campaign {campaign}"));
    }
    head
}

fn class_name(class: ErrorClass) -> String {
    serde_json::to_value(class)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

//! `smsflow conversations list` / `show`: an account's recent conversations, and one
//! contact's thread, oldest first so it reads like a chat, with each message's status,
//! error, user or campaign, for inbound texts who got them and why, and the CRM goals each
//! message set off; send requests that never became a message show why they were refused
//! (`RefusalLog`) and their goals.

use clap::Subcommand;
use serde::Deserialize;
use smsflow_shared::domain::{AccountId, Direction};
use smsflow_shared::ports::{GoalRecord, Refusal};
use smsflow_shared::usecases::conversations::{
    self, Listed, Thread, ThreadMessage, error_class_name, goal_outcome_words,
};

use crate::accounts::stored_account;
use crate::hints;
use crate::output::{CliError, CliResult, ErrorKind, Output, table, time};
use crate::target::{Location, Reader, server};

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
    let listed: Vec<Listed> = match at.reader().await? {
        Reader::Store(store) => {
            stored_account(&*store, &id).await?;
            conversations::recent(&*store, &id, limit).await?
        }
        Reader::Server(server) => {
            let path = format!("/_local/accounts/{id}/conversations?limit={limit}");
            let answer: Listing = server.get(&path).await?;
            answer.conversations
        }
    };
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

async fn show(account: &str, phone: &str, limit: usize, at: &Location, out: Output) -> CliResult {
    let id = AccountId::parse(account)?;
    let thread = match at.reader().await? {
        Reader::Store(store) => {
            let account = stored_account(&*store, &id).await?;
            let phone = account.parse_phone(phone)?;
            conversations::thread(&*store, &account, &phone, limit).await?
        }
        Reader::Server(server) => {
            let path = format!(
                "/_local/accounts/{id}/conversations/{}?limit={limit}",
                server::segment(phone)
            );
            match server.get::<Thread>(&path).await {
                Ok(thread) => Some(thread),
                Err(e) if e.kind == ErrorKind::NotFound => None,
                Err(e) => return Err(e),
            }
        }
    };
    let Some(thread) = thread else {
        return Err(
            CliError::not_found(format!("account {id} has no messages with {phone}")).with_hint(
                format!(
                    "{} shows its recent conversations",
                    hints::command(&["conversations", "list", "--account", id.as_str()])
                ),
            ),
        );
    };
    out.emit(&thread, || println!("{}", render(&thread)))
}

/// The server's answer to a listing.
#[derive(Deserialize)]
struct Listing {
    conversations: Vec<Listed>,
}

/// The reason in words, and when it was refused.
fn refusal_line(refusal: &Refusal) -> String {
    format!("    why: {} ({} UTC)", refusal.detail, time(refusal.at))
}

fn goal_line(goals: &[GoalRecord]) -> String {
    let each: Vec<String> = goals
        .iter()
        .map(|g| format!("{} ({})", g.goal, goal_outcome_words(g.outcome)))
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
            .map(|c| format!(" {}", error_class_name(c)))
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

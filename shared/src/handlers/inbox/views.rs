//! The conversation list and the thread, in the terms `smsflow conversations show` uses
//! (statuses, error classes, routing reasons, goal outcomes).

use maud::{Markup, html};

use super::markup::{self, Frame, time};
use crate::domain::segments::count_segments;
use crate::domain::{Direction, User};
use crate::usecases::conversations::{ThreadMessage, error_class_name, goal_outcome_words};
use crate::usecases::inbox::{InboxRow, ThreadView};

/// The conversation list.
pub(super) fn list(frame: &Frame<'_>, rows: &[InboxRow], admin: bool) -> Markup {
    let (heading, empty) = if admin {
        (
            "All conversations",
            "No conversations yet. The account's texts appear here.",
        )
    } else {
        (
            "Your conversations",
            "No conversations yet. Texts routed to you appear here.",
        )
    };
    markup::page(
        frame,
        html! {
            h1 { (heading) }
            @if rows.is_empty() {
                p.empty { (empty) }
            } @else {
                ul.conversations {
                    @for row in rows { (list_row(frame.inbox, row)) }
                }
            }
        },
    )
}

fn list_row(inbox: &str, row: &InboxRow) -> Markup {
    let who = row.name.clone().unwrap_or_else(|| row.phone.to_string());
    html! {
        li data-phone=(row.phone) {
            a.row href={ (inbox) "/c/" (row.phone) } {
                span.name { (who) }
                @if row.name.is_some() { span.phone { (row.phone) } }
                @if row.unread > 0 {
                    span.unread aria-label={ (row.unread) " unread" } { (row.unread) }
                }
                span.preview {
                    @if row.last_direction == Direction::Outbound { "You: " }
                    (row.last_body)
                }
                span.meta {
                    (time(row.last_at))
                    @if row.opted_out { " · opted out" }
                    @if let Some(owner) = &row.owner { " · " (owner) }
                }
            }
        }
    }
}

/// What the reply box says after a post.
pub(super) enum Notice {
    Sent,
    /// Not sent: why, and what the user wrote, back in the box to send again.
    Refused {
        code: String,
        detail: String,
        draft: String,
    },
}

/// The reply box's state.
pub(super) struct ReplyBox {
    /// A fresh id for this form, so posting it twice sends once.
    pub request_id: String,
    pub notice: Option<Notice>,
}

/// One thread and its reply box.
pub(super) fn thread(
    frame: &Frame<'_>,
    user: &User,
    view: &ThreadView,
    reply: &ReplyBox,
) -> Markup {
    let phone = &view.thread.phone;
    let who = view.name.clone().unwrap_or_else(|| phone.clone());
    markup::page(
        frame,
        html! {
            p { a href=(frame.inbox) { "← Conversations" } }
            h1 { (who) @if view.name.is_some() { " " small { (phone) } } }
            p.meta { (consent_words(view)) }
            @if view.opted_out {
                p.banner role="note" {
                    (who) " opted out of texts (" (opt_out_source(view)) "). Nothing can be sent \
                    to them until they text START."
                }
            }
            ol.thread aria-label="Messages, oldest first" {
                @for m in &view.thread.messages { (message(m)) }
            }
            @if !view.thread.requests_without_message.is_empty() {
                h2 { "Requests that sent nothing" }
                ul.refused {
                    @for r in &view.thread.requests_without_message {
                        li {
                            @if let Some(refusal) = &r.refusal {
                                (refusal.code) ": " (refusal.detail) " (" (time(refusal.at)) ")"
                            } @else { "Not sent (refused, or not sent yet)" }
                            @if !r.goals.is_empty() { br; (goals(&r.goals)) }
                        }
                    }
                }
            }
            (reply_form(frame, user, view, reply))
        },
    )
}

fn consent_words(view: &ThreadView) -> String {
    let health = &view.thread.phone_health;
    format!(
        "Phone status: {} · {} hard failure(s) in a row",
        health.status.as_str(),
        health.consecutive_hard_failures
    )
}

fn opt_out_source(view: &ThreadView) -> String {
    view.thread
        .consent
        .as_ref()
        .map(|c| c.source.clone())
        .unwrap_or_default()
}

fn message(m: &ThreadMessage) -> Markup {
    let record = &m.message;
    let class = match record.direction {
        Direction::Inbound => "in",
        Direction::Outbound => "out",
    };
    html! {
        li class={ "message " (class) } data-id=(record.id) {
            p.body { (record.body) }
            @for url in &record.media_urls {
                a.media href=(url) rel="noreferrer" { "Picture" }
            }
            p.meta {
                (time(record.created_at)) " · " (record.status)
                @if let Some(code) = record.error_code {
                    " · error " (code)
                    @if let Some(class) = m.error_class { " " (error_class_name(class)) }
                }
                @if let Some(user) = &record.user_id { " · sent by " (user) }
                @if let Some(campaign) = &record.campaign { " · campaign " (campaign) }
            }
            @if let Some(routing) = &record.routing {
                p.meta { "Routed to " (routing.user_id.as_deref().unwrap_or(routing.to.as_str())) ": " (routing.reason) }
            }
            @if let Some(refusal) = &m.refusal {
                p.meta { "Not sent (" (refusal.code) "): " (refusal.detail) }
            }
            @if !m.goals.is_empty() { p.meta { (goals(&m.goals)) } }
        }
    }
}

fn goals(goals: &[crate::ports::GoalRecord]) -> Markup {
    html! {
        "Goals: "
        @for (i, g) in goals.iter().enumerate() {
            @if i > 0 { ", " }
            (g.goal) " (" (goal_outcome_words(g.outcome)) ")"
        }
    }
}

/// "21 characters · GSM-7 · 1 segment", as the page's script also writes it.
fn count_words(text: &str) -> String {
    let count = count_segments(text);
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    format!(
        "{} · {} · {}",
        plural(text.chars().count(), "character"),
        count.encoding.as_str(),
        plural(count.segments as usize, "segment")
    )
}

fn reply_form(frame: &Frame<'_>, user: &User, view: &ThreadView, reply: &ReplyBox) -> Markup {
    let (gsm7, extension) = markup::gsm7_alphabet();
    let draft = match &reply.notice {
        Some(Notice::Refused { draft, .. }) => draft.as_str(),
        _ => "",
    };
    let csrf = frame.user.map(|(_, csrf)| csrf).unwrap_or_default();
    html! {
        form.reply.stack method="post" {
            @match &reply.notice {
                Some(Notice::Sent) => p.sent role="status" { "Sent: your reply is on its way." },
                Some(Notice::Refused { code, detail, .. }) => p.problem role="alert" {
                    "Not sent (" (code) "): " (detail)
                },
                None => {},
            }
            label for="text" {
                "Reply as " (user.name)
                @if let Some(from) = &view.from { " from " (from) }
            }
            textarea #text name="text" rows="3" maxlength="1600" required
                disabled[view.opted_out] aria-describedby="count" { (draft) }
            output #count for="text" aria-live="polite" data-gsm7=(gsm7) data-gsm7-ext=(extension) {
                (count_words(draft))
            }
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="request_id" value=(reply.request_id);
            button type="submit" disabled[view.opted_out] { "Send" }
        }
    }
}

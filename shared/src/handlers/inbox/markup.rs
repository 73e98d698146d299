//! The inbox's HTML: server-rendered, escaped by `maud`, styled by one sheet and enhanced
//! by one small script (`assets`); every page works without the script but the alerts and
//! the live segment count.

use maud::{DOCTYPE, Markup, html};

use crate::domain::Timestamp;
use crate::domain::segments::gsm7_septets;

/// What the page frame shows of who is signed in.
pub struct Frame<'a> {
    pub title: &'a str,
    /// The account's inbox path (`/inbox/acme`).
    pub inbox: &'a str,
    pub account_name: &'a str,
    /// The signed-in user's name and CSRF token, when signed in.
    pub user: Option<(&'a str, &'a str)>,
    /// When the page was made: where the alerts start.
    pub now: Timestamp,
}

/// The page around `main`.
pub fn page(frame: &Frame<'_>, main: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (frame.title) " · " (frame.account_name) " inbox" }
                link rel="stylesheet" href="/inbox/_assets/inbox.css";
                script src="/inbox/_assets/inbox.js" defer {}
            }
            body data-inbox=(frame.inbox) data-now=(frame.now.as_millis())
                data-csrf=[frame.user.map(|(_, csrf)| csrf)] {
                a.skip href="#main" { "Skip to content" }
                header.bar {
                    a.home href=(frame.inbox) { (frame.account_name) " inbox" }
                    @if let Some((name, csrf)) = frame.user {
                        span.who { (name) }
                        form method="post" action={ (frame.inbox) "/sign-out" } {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                @if frame.user.is_some() {
                    div #alerts role="status" aria-live="polite" {}
                }
                main #main { (main) }
            }
        }
    }
}

/// A time for people: UTC in the markup, the reader's own zone once the script runs.
pub fn time(at: Timestamp) -> Markup {
    let utc = jiff::Timestamp::from_millisecond(at.as_millis())
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default();
    let shown = utc.replacen('T', " ", 1).replace('Z', " UTC");
    html! { time datetime=(utc) { (shown) } }
}

/// The GSM-7 characters, for the script's segment count: the one table in
/// `domain/segments.rs`, written into the page so the two never disagree.
pub fn gsm7_alphabet() -> (String, String) {
    let mut basic = String::new();
    let mut extension = String::new();
    for c in (0u32..=0x20AC).filter_map(char::from_u32) {
        match gsm7_septets(c) {
            Some(1) => basic.push(c),
            Some(_) => extension.push(c),
            None => {}
        }
    }
    (basic, extension)
}

/// A short message page (signed out, errors, "check your e-mail").
pub fn notice(frame: &Frame<'_>, heading: &str, text: &str, next: Option<(&str, &str)>) -> Markup {
    page(
        frame,
        html! {
            section.notice {
                h1 { (heading) }
                p { (text) }
                @if let Some((href, label)) = next {
                    p { a href=(href) { (label) } }
                }
            }
        },
    )
}

//! An HTML-only reply as text: cut where the quoted original's element begins, links kept
//! as "text (URL)", then rendered as plain text.

use std::sync::LazyLock;

use regex::{Captures, Regex};

/// Where clients put the quoted original: Gmail's `gmail_quote`, Outlook's reply header
/// (`appendonsend`, the rule before `divRplyFwdMsg`, `divRplyFwdMsg`), Thunderbird's
/// `moz-cite-prefix`, Yahoo's `yahoo_quoted`, and any `<blockquote>`.
static QUOTE_ELEMENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?is)<hr[^>]*>\s*<div[^>]*id="divRplyFwdMsg"|<(div|span)[^>]*(class|id)="[^"]*(gmail_quote|gmail_attr|divRplyFwdMsg|appendonsend|moz-cite-prefix|yahoo_quoted)|<blockquote"#,
    )
    .expect("a valid pattern")
});

static LINK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?is)<a\s[^>]*href\s*=\s*["']([^"']*)["'][^>]*>(.*?)</a\s*>"#)
        .expect("a valid pattern")
});

static TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?s)<[^>]*>").expect("a valid pattern"));

/// Lines are not wrapped: an SMS is not a terminal.
const NO_WRAP: usize = 100_000;

/// The text of `html` above its quoted original.
pub(super) fn to_text(html: &str) -> String {
    let above = QUOTE_ELEMENT
        .find(html)
        .map_or(html, |quote| &html[..quote.start()]);
    let linked = LINK.replace_all(above, link_text);
    html2text::config::with_decorator(html2text::render::TrivialDecorator::new())
        .string_from_read(linked.as_bytes(), NO_WRAP)
        .unwrap_or_default()
}

/// A link as its text, with the URL after it unless the text already is the URL (or the
/// link is an e-mail address).
fn link_text(link: &Captures<'_>) -> String {
    let (url, inner) = (&link[1], &link[2]);
    let text = TAG.replace_all(inner, "");
    let bare = |u: &str| {
        u.trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string()
    };
    if url.starts_with("mailto:") || bare(url) == bare(text.trim()) {
        inner.to_string()
    } else {
        format!("{inner} ({url})")
    }
}

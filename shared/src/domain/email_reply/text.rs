//! The new text of a plain-text reply: the quoted original, reply headers and signature
//! taken out (see the module docs of `email_reply`).

use std::sync::LazyLock;

use regex::Regex;

/// "On … wrote:" in the languages mail clients write it in, as one line.
static ATTRIBUTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^\s*(on\s.+\swrote|le\s.+\sa\s+écrit|am\s.+\sschrieb.*|el\s.+\sescribió|il\s.+\sha\s+scritto|op\s.+\sschreef.*|em\s.+\sescreveu)\s*:\s*$",
    )
    .expect("a valid pattern")
});

/// Where an attribution that a client wrapped over two lines begins.
static ATTRIBUTION_START: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^\s*(on|le|am|el|il|op|em)\s").expect("a valid pattern"));

/// Rules and markers that open a quoted or forwarded original.
static ORIGINAL_MARKER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^\s*(_{10,}|-{2,}\s*original message\s*-{2,}|-{2,}\s*forwarded message\s*-{2,}|begin forwarded message:)\s*$",
    )
    .expect("a valid pattern")
});

/// The first line of Outlook's header block, and the lines that must follow it.
static HEADER_FROM: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^\s*\*?(from|de|von)\s*:").expect("a valid pattern"));
static HEADER_FOLLOWS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*\*?(sent|date|envoyé|gesendet|enviado|subject|to)\s*:")
        .expect("a valid pattern")
});

/// The lines mobile clients add under a message.
static DEVICE_SIGNATURE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^\s*(sent from my \S.*|sent from (mail|outlook) for \S.*|get outlook for \S.*|sent from yahoo mail.*|envoyé de mon \S.*|von meinem \S.*gesendet)\s*$",
    )
    .expect("a valid pattern")
});

/// What the sender wrote in `body`: above the quote, else (a reply written below it) the
/// unquoted lines after it; without signature; blank lines at the ends dropped and runs of
/// blank lines made one.
pub fn new_text(body: &str) -> String {
    let lines: Vec<&str> = body.lines().collect();
    let kept = match quote_start(&lines) {
        Some(at) if lines[..at].iter().any(|l| !l.trim().is_empty()) => lines[..at].to_vec(),
        Some(at) => below_the_quote(&lines[at..]),
        None => lines,
    };
    tidy(&without_signature(&kept))
}

/// The index of the line where the quoted original begins.
fn quote_start(lines: &[&str]) -> Option<usize> {
    (0..lines.len()).find(|&i| {
        let line = lines[i];
        line.trim_start().starts_with('>')
            || ATTRIBUTION.is_match(line)
            || wrapped_attribution(line, lines.get(i + 1))
            || ORIGINAL_MARKER.is_match(line)
            || header_block(&lines[i..])
    })
}

fn wrapped_attribution(line: &str, next: Option<&&str>) -> bool {
    ATTRIBUTION_START.is_match(line)
        && next
            .is_some_and(|next| ATTRIBUTION.is_match(&format!("{} {}", line.trim(), next.trim())))
}

/// Outlook's "From: … / Sent: … / To: … / Subject: …" block opening at `lines[0]`.
fn header_block(lines: &[&str]) -> bool {
    HEADER_FROM.is_match(lines[0])
        && lines
            .iter()
            .skip(1)
            .take(4)
            .filter(|l| HEADER_FOLLOWS.is_match(l))
            .count()
            >= 2
}

/// The lines of a reply written below (or between) the quote: those not quoted and not
/// part of an attribution.
fn below_the_quote<'a>(lines: &[&'a str]) -> Vec<&'a str> {
    let mut kept = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if wrapped_attribution(line, lines.get(i + 1)) {
            i += 2;
            continue;
        }
        if !(line.trim_start().starts_with('>') || ATTRIBUTION.is_match(line)) {
            kept.push(line);
        }
        i += 1;
    }
    kept
}

/// The lines above the signature: the `-- ` line (also without its space), or a mobile
/// client's "Sent from my iPhone".
fn without_signature<'a>(lines: &[&'a str]) -> Vec<&'a str> {
    let end = lines
        .iter()
        .position(|l| l.trim_end() == "--" || DEVICE_SIGNATURE.is_match(l))
        .unwrap_or(lines.len());
    lines[..end].to_vec()
}

/// Trailing spaces trimmed, runs of blank lines made one, none at either end.
fn tidy(lines: &[&str]) -> String {
    let mut out: Vec<&str> = Vec::new();
    for line in lines.iter().map(|l| l.trim_end()) {
        let blank = line.is_empty();
        if blank && out.last().is_none_or(|l| l.is_empty()) {
            continue;
        }
        out.push(line);
    }
    while out.last().is_some_and(|l| l.is_empty()) {
        out.pop();
    }
    out.join("\n")
}

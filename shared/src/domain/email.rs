//! E-mail addresses, checked once at the edge.

use super::ids::validated_text;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not an e-mail address")]
pub struct EmailError(pub String);

/// A syntactically plausible e-mail address, stored trimmed with a lower-cased domain.
///
/// What mail systems route (RFC 5321's dot-atom form, ASCII): a local part of letters,
/// digits and ``!#$%&'*+-/=?^_`{|}~.`` (not starting or ending with a dot, at most 64
/// characters), an `@`, and a domain of at least two labels (letters, digits and inner
/// hyphens, at most 63 characters each) whose last is letters only or an IDN `xn--` label
/// (`x@y.z` passes, `x@y`, `x@y.c0m` do not); at most 254 characters in all. Quoted local
/// parts and address literals (`x@[10.0.0.1]`) are refused. template.yaml's
/// `MailFromAddress` pattern accepts the same addresses (held by `email/tests.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

/// The longest address a mail path carries (RFC 5321: a 256-octet path less its `<>`).
const MAX_LEN: usize = 254;

impl EmailAddress {
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let s = input.trim();
        let err = || EmailError(input.to_string());
        let (local, domain) = s.rsplit_once('@').ok_or_else(err)?;
        if !(s.len() <= MAX_LEN && local_ok(local) && domain_ok(domain)) {
            return Err(err());
        }
        Ok(EmailAddress(format!(
            "{local}@{}",
            domain.to_ascii_lowercase()
        )))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn local_ok(local: &str) -> bool {
    !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c))
}

/// Whether `domain` is a host name mail can be addressed to (`example.com`, not `localhost`).
pub fn domain_ok(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    // A top-level domain is never numeric; an internationalised one is written `xn--…`.
    let tld_ok = |tld: &&str| {
        tld.chars().all(|c| c.is_ascii_alphabetic())
            || (tld.len() > 4 && tld.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("xn--")))
    };
    labels.len() >= 2 && labels.iter().all(label_ok) && labels.last().is_some_and(tld_ok)
}

impl EmailAddress {
    /// The first plausible address in free text ("my email is Jane.Doe@Example.com, thanks"),
    /// with surrounding punctuation left out. Local parts are read with the characters people
    /// actually type (letters, digits, `.`, `_`, `%`, `+`, `-`): exotic but valid ones such as
    /// `'` would more often be a quote around the address than part of it.
    pub fn find_in_text(text: &str) -> Option<EmailAddress> {
        let bytes = text.as_bytes();
        // Every accepted byte is ASCII, so the slices below always fall on char boundaries.
        let in_local = |b: u8| b.is_ascii_alphanumeric() || b"._%+-".contains(&b);
        let in_domain = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'.';
        for (at, _) in text.match_indices('@') {
            let mut start = at;
            while start > 0 && in_local(bytes[start - 1]) {
                start -= 1;
            }
            // `a@b@c.com` is not an address written in a text; `b@c.com` is not what was meant.
            if start > 0 && bytes[start - 1] == b'@' {
                continue;
            }
            let mut end = at + 1;
            while end < bytes.len() && in_domain(bytes[end]) {
                end += 1;
            }
            if end < bytes.len() && bytes[end] == b'@' {
                continue;
            }
            // A letter of another script right next to the candidate means it is only a
            // fragment (`émile@…` is not `mile@…`): installing it would be wrong.
            let glued_before = text[..start]
                .chars()
                .next_back()
                .is_some_and(char::is_alphanumeric);
            let glued_after = text[end..]
                .chars()
                .next()
                .is_some_and(char::is_alphanumeric);
            if glued_before || glued_after {
                continue;
            }
            let local = text[start..at].trim_start_matches('.');
            let domain = text[at + 1..end].trim_end_matches(['.', '-']);
            if let Ok(found) = EmailAddress::parse(&format!("{local}@{domain}")) {
                return Some(found);
            }
        }
        None
    }
}

validated_text!(EmailAddress, EmailError, EmailAddress::parse);

#[cfg(test)]
mod tests;

//! E-mail addresses, checked once at the edge.

use super::ids::validated_text;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not an e-mail address")]
pub struct EmailError(pub String);

/// A syntactically plausible e-mail address (`local@domain.tld`), stored trimmed with a
/// lower-cased domain.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let s = input.trim();
        let err = || EmailError(input.to_string());
        let (local, domain) = s.rsplit_once('@').ok_or_else(err)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && domain.len() <= 253
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
            && labels
                .last()
                .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_alphabetic()) && tld.len() >= 2);
        if !(local_ok && domain_ok) {
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
mod tests {
    use super::*;

    #[test]
    fn accepts_and_normalises() {
        let cases = [
            ("mary@example.com", "mary@example.com"),
            ("  Mary.Anders@Example.COM ", "Mary.Anders@example.com"),
            ("a+tag@sub.example.co.uk", "a+tag@sub.example.co.uk"),
        ];
        for (input, expected) in cases {
            assert_eq!(
                EmailAddress::parse(input).map(|e| e.to_string()),
                Ok(expected.into())
            );
        }
    }

    #[test]
    fn rejects_non_addresses() {
        for input in [
            "",
            "mary",
            "mary@",
            "@example.com",
            "mary@example",
            "mary@exa mple.com",
            ".mary@example.com",
            "mary@-example.com",
            "mary@example.c0m",
        ] {
            assert!(EmailAddress::parse(input).is_err(), "{input:?}");
        }
    }

    #[test]
    fn finds_the_first_address_in_text() {
        let cases = [
            (
                "my email is Jane.Doe@Example.com, thanks",
                Some("Jane.Doe@example.com"),
            ),
            ("jane@example.com", Some("jane@example.com")),
            ("Email: jane@example.com.", Some("jane@example.com")),
            ("is it jane@example.com?", Some("jane@example.com")),
            ("jane@example.com!!!", Some("jane@example.com")),
            ("(jane@example.com)", Some("jane@example.com")),
            ("<jane@example.com>", Some("jane@example.com")),
            ("\"jane@example.com\"", Some("jane@example.com")),
            ("'jane@example.com'", Some("jane@example.com")),
            ("mailto:jane@example.com", Some("jane@example.com")),
            ("...jane@example.com...", Some("jane@example.com")),
            (
                "j.d+sms@mail.example.co.uk;",
                Some("j.d+sms@mail.example.co.uk"),
            ),
            ("first a@b.com then c@d.org", Some("a@b.com")),
            // An implausible candidate does not hide a later real one.
            (
                "@home now, write to jane@example.com",
                Some("jane@example.com"),
            ),
            ("me@home or jane@example.com", Some("jane@example.com")),
            ("call me at 5", None),
            ("", None),
            ("@handle", None),
            ("me@home", None),
            ("jane@", None),
            ("50% @ 5pm", None),
            ("a@b@c.com", None),
            ("jane@exämple.com", None),
            ("jane.@example.com", None),
            ("jane@example.c0m", None),
            ("Ｊａｎｅ@example.com", None),
            ("émile@example.com", None),
            ("jane@example.comé", None),
            (
                "émile@example.com or jane@example.com",
                Some("jane@example.com"),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(
                EmailAddress::find_in_text(text).map(|e| e.to_string()),
                expected.map(String::from),
                "{text:?}"
            );
        }
    }
}

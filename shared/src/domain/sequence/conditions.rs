//! Conditions on a reply, and how a reply is read for them.
//!
//! **Words and phrases** (`equals_any`): the reply is read as the keyword classifier reads
//! a text (`keywords::normalise`: fullwidth letters folded, padding and trailing
//! punctuation dropped), then lower-cased (Unicode, so "SÍ" equals "sí") with runs of
//! whitespace made one space. A pattern is read the same way and then compared with the
//! whole reply; `*` stands for any text, empty included: `*yes*` contains "yes", `yes*`
//! starts with it, `*yes` ends with it, `*` alone matches any reply. Punctuation right
//! before a trailing `*` is ignored like trailing punctuation.
//!
//! **Numbers** (`less_than`, `greater_than`, `between`): a reply holds a number when it
//! contains exactly one number, read leniently so people can answer naturally:
//! `about 42` is 42, `$1,200` is 1200, `1,200.50` is 1200.5, `50%` is 50, `-3` and `.5`
//! are what they look like, `2nd` is 2. Commas are thousands separators only in groups of
//! three (`1,200`); any other comma (`1,5`), a second number (`5-10`, `2 or 3`), a number
//! with two points (`1.2.3`) or no digits at all mean the reply holds no number, and then
//! no numeric condition matches it. Field-valued bounds read the contact's field the same
//! way; an empty, missing or non-numeric field makes its condition not match.

use std::collections::BTreeMap;

use super::fields::ContactField;
use crate::domain::Timestamp;
use crate::domain::keywords;
use crate::domain::received::{MessageWindow, ReceivedFilter};

/// A word or phrase of `equals_any`, with its wildcards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    /// As written in the definition.
    source: String,
    /// The normalised text between the `*`s: one part means no wildcard.
    parts: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an empty word or phrase matches nothing (write '*' to match any reply)")]
pub struct EmptyPattern;

impl Pattern {
    pub fn parse(source: &str) -> Result<Pattern, EmptyPattern> {
        let trimmed = source.trim();
        let before_stars = trimmed.trim_end_matches('*');
        let trailing_stars = trimmed.len() - before_stars.len();
        let mut text = normalise_answer(before_stars);
        if trailing_stars > 0 && before_stars.ends_with(char::is_whitespace) && !text.is_empty() {
            // "yes *" means "yes" followed by a space and anything.
            text.push(' ');
        }
        text.push_str(&"*".repeat(trailing_stars));
        if text.is_empty() {
            return Err(EmptyPattern);
        }
        let parts = text.split('*').map(str::to_string).collect();
        Ok(Pattern {
            source: source.to_string(),
            parts,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether a reply already passed through [`normalise_answer`] matches.
    pub fn matches_normalised(&self, reply: &str) -> bool {
        let Some((first, rest)) = self.parts.split_first() else {
            return false;
        };
        let Some((last, middle)) = rest.split_last() else {
            return reply == first;
        };
        let Some(mut remaining) = reply.strip_prefix(first.as_str()) else {
            return false;
        };
        for part in middle {
            match remaining.find(part.as_str()) {
                Some(at) => remaining = &remaining[at + part.len()..],
                None => return false,
            }
        }
        remaining.ends_with(last.as_str())
    }

    pub fn matches(&self, reply: &str) -> bool {
        self.matches_normalised(&normalise_answer(reply))
    }
}

/// A reply as `equals_any` compares it (see the module docs).
pub fn normalise_answer(text: &str) -> String {
    keywords::normalise(text)
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The one number in `text`, read leniently (see the module docs); `None` when there is
/// no number or more than one.
pub fn read_number(text: &str) -> Option<f64> {
    let text = keywords::normalise(text);
    let chars: Vec<char> = text.chars().collect();
    let mut found: Option<f64> = None;
    let mut i = 0;
    while i < chars.len() {
        let starts_number = chars[i].is_ascii_digit()
            || (chars[i] == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit));
        if !starts_number {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && (chars[i].is_ascii_digit() || matches!(chars[i], '.' | ',')) {
            i += 1;
        }
        let run: String = chars[start..i].iter().collect();
        // A point or comma after the digits ends a sentence or a list item: "42." "42,".
        let value = parse_numeral(run.trim_end_matches(['.', ',']))?;
        let negative = start > 0
            && chars[start - 1] == '-'
            && (start == 1 || !chars[start - 2].is_alphanumeric());
        if found.is_some() {
            return None;
        }
        found = Some(if negative { -value } else { value });
    }
    found
}

/// A run of digits, points and commas: `1200`, `1,200`, `1,200.5`, `.5`, `12.25`.
fn parse_numeral(run: &str) -> Option<f64> {
    let (whole, fraction) = match run.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (run, None),
    };
    if let Some(f) = fraction
        && (f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let groups: Vec<&str> = whole.split(',').collect();
    let grouped_ok = match groups.split_first() {
        Some((first, rest)) if !rest.is_empty() => {
            (1..=3).contains(&first.len()) && rest.iter().all(|g| g.len() == 3)
        }
        _ => true,
    };
    if !grouped_ok || !groups.iter().all(|g| g.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    let digits: String = groups.concat();
    let normalised = match fraction {
        Some(f) => format!("{}.{f}", if digits.is_empty() { "0" } else { &digits }),
        None => digits,
    };
    normalised.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// A value a reply's number is compared with.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// A finite number from the definition.
    Number(f64),
    /// The contact's field, read when the reply arrives.
    Field(ContactField),
}

impl Operand {
    fn value(&self, contact: &BTreeMap<String, String>) -> Option<f64> {
        match self {
            Operand::Number(n) => Some(*n),
            Operand::Field(field) => contact
                .get(&field.merge_name())
                .and_then(|v| read_number(v)),
        }
    }
}

/// One side of a `between`.
#[derive(Debug, Clone, PartialEq)]
pub struct Bound {
    pub operand: Operand,
    /// `at_least` / `at_most` (true) or `above` / `below` (false).
    pub inclusive: bool,
}

/// What a condition checks.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    EqualsAny(Vec<Pattern>),
    LessThan(Operand),
    GreaterThan(Operand),
    Between {
        lower: Bound,
        upper: Bound,
    },
    /// The contact has received SMS that pass the filter, whatever the reply.
    HasReceived(ReceivedFilter),
}

/// What a condition looks at besides the reply.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The contact's fields, keyed by merge name (`Contact._Budget`).
    pub contact: &'a BTreeMap<String, String>,
    /// The conversation's newest messages in the widest window the step's `has_received`
    /// conditions look at (none read when no condition does).
    pub sent: &'a MessageWindow,
    pub now: Timestamp,
}

impl Test {
    /// Whether `reply` passes, with field-valued bounds read from the contact's fields.
    pub fn matches(&self, reply: &str, facts: &Facts<'_>) -> bool {
        let contact = facts.contact;
        match self {
            Test::EqualsAny(patterns) => {
                let reply = normalise_answer(reply);
                return patterns.iter().any(|p| p.matches_normalised(&reply));
            }
            Test::HasReceived(filter) => return filter.tally(facts.sent, facts.now).received,
            _ => {}
        }
        let Some(n) = read_number(reply) else {
            return false;
        };
        match self {
            Test::EqualsAny(_) | Test::HasReceived(_) => false,
            Test::LessThan(op) => op.value(contact).is_some_and(|v| n < v),
            Test::GreaterThan(op) => op.value(contact).is_some_and(|v| n > v),
            Test::Between { lower, upper } => {
                let above_lower = lower
                    .operand
                    .value(contact)
                    .is_some_and(|v| if lower.inclusive { n >= v } else { n > v });
                let below_upper = upper
                    .operand
                    .value(contact)
                    .is_some_and(|v| if upper.inclusive { n <= v } else { n < v });
                above_lower && below_upper
            }
        }
    }
}

/// Where a condition, a fallback or a `next` leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Goto {
    Step(String),
    Finish,
}

/// One validated condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub test: Test,
    pub tag: Option<String>,
    pub goto: Goto,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(p: &str) -> Pattern {
        Pattern::parse(p).expect("test pattern")
    }

    #[test]
    fn word_and_wildcard_matching() {
        let cases = [
            // (pattern, reply, matches)
            ("yes", "yes", true),
            ("yes", "YES", true),
            ("yes", "  Yes!  ", true),
            ("yes", "yes please", false),
            ("YES", "yes", true),
            ("yes!", "yes", true),
            ("yes please", "Yes   please.", true),
            ("yes please", "yes, please", false),
            ("sí", "SÍ", true),
            ("yes", "ｙｅｓ", true),
            // contains
            ("*yes*", "Hi, yes please.", true),
            ("*yes*", "yes", true),
            ("*yes*", "YES!", true),
            ("*yes*", "no", false),
            ("*yes*", "eyes", true),
            // starts with
            ("yes*", "yes please", true),
            ("yes*", "Yes", true),
            ("yes*", "oh yes", false),
            // ends with
            ("*yes", "oh yes", true),
            ("*yes", "oh yes!", true),
            ("*yes", "yes please", false),
            // inner wildcard and several
            ("y*s", "yes", true),
            ("y*s", "yeah sure", false),
            ("y*s", "y s", true),
            ("*a*b*", "xaxbx", true),
            ("*a*b*", "xbxax", false),
            ("ab*ab", "ab", false),
            ("ab*ab", "abab", true),
            // a space before a trailing star is kept
            ("yes *", "yes please", true),
            ("yes *", "yesterday", false),
            ("yes!*", "yes please", true),
            // anything
            ("*", "whatever", true),
            ("*", "", true),
            ("**", "x", true),
        ];
        for (p, reply, want) in cases {
            assert_eq!(pattern(p).matches(reply), want, "{p:?} vs {reply:?}");
        }
    }

    #[test]
    fn empty_patterns_are_refused() {
        for p in ["", "   ", "!!", "?"] {
            assert_eq!(Pattern::parse(p), Err(EmptyPattern), "{p:?}");
        }
        assert_eq!(pattern(" Yes ").source(), " Yes ");
    }

    #[test]
    fn reads_numbers_leniently() {
        let cases: [(&str, Option<f64>); 30] = [
            ("42", Some(42.0)),
            ("about 42", Some(42.0)),
            ("42.", Some(42.0)),
            ("I'm 42, thanks", Some(42.0)),
            ("$1,200", Some(1200.0)),
            ("1,200.50", Some(1200.5)),
            ("12,345,678", Some(12_345_678.0)),
            ("50%", Some(50.0)),
            ("-3", Some(-3.0)),
            ("about -3", Some(-3.0)),
            (".5", Some(0.5)),
            ("0.25", Some(0.25)),
            ("2nd", Some(2.0)),
            ("３", Some(3.0)),
            ("007", Some(7.0)),
            // not a number
            ("", None),
            ("forty-two", None),
            ("no idea", None),
            ("1,5", None),
            ("1,20", None),
            ("1234,567", None),
            ("5-10", None),
            ("2 or 3", None),
            ("1 000", None),
            ("1.2.3", None),
            ("1e5", None),
            ("call 555-1234", None),
            ("x-3", Some(3.0)),
            ("3, 4", None),
            (",5", Some(5.0)),
        ];
        for (text, want) in cases {
            assert_eq!(read_number(text), want, "{text:?}");
        }
    }

    #[test]
    fn numeric_tests() {
        let contact: BTreeMap<String, String> = [
            ("Contact._Budget", "$1,000"),
            ("Contact._Min", "10"),
            ("Contact._Max", "20"),
            ("Contact._Blank", ""),
            ("Contact._Text", "lots"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let field = |f: &str| Operand::Field(ContactField::parse(f).expect("test field"));
        let n = Operand::Number;
        let bound = |operand, inclusive| Bound { operand, inclusive };
        let between = |lower, upper| Test::Between { lower, upper };
        let closed_1_to_5 = between(bound(n(1.0), true), bound(n(5.0), true));
        let open_1_to_5 = between(bound(n(1.0), false), bound(n(5.0), false));
        let min_to_below_max = between(
            bound(field("Contact._Min"), true),
            bound(field("Contact._Max"), false),
        );
        let cases: Vec<(&str, Test, &str, bool)> = vec![
            ("less, static", Test::LessThan(n(3.0)), "2", true),
            ("less, equal", Test::LessThan(n(3.0)), "3", false),
            ("less, not a number", Test::LessThan(n(3.0)), "few", false),
            (
                "greater, static",
                Test::GreaterThan(n(3.0)),
                "about 4",
                true,
            ),
            ("greater, equal", Test::GreaterThan(n(3.0)), "3", false),
            (
                "greater, field",
                Test::GreaterThan(field("Contact._Budget")),
                "$1,500",
                true,
            ),
            (
                "less, field",
                Test::LessThan(field("Contact._Budget")),
                "1500",
                false,
            ),
            (
                "blank field never matches",
                Test::LessThan(field("Contact._Blank")),
                "1",
                false,
            ),
            (
                "non-numeric field never matches",
                Test::GreaterThan(field("Contact._Text")),
                "1",
                false,
            ),
            (
                "missing field never matches",
                Test::GreaterThan(field("Contact._Nope")),
                "1",
                false,
            ),
            (
                "between inclusive, lower edge",
                closed_1_to_5.clone(),
                "1",
                true,
            ),
            (
                "between inclusive, upper edge",
                closed_1_to_5.clone(),
                "5",
                true,
            ),
            (
                "between exclusive, lower edge",
                between(bound(n(1.0), false), bound(n(5.0), true)),
                "1",
                false,
            ),
            (
                "between exclusive, upper edge",
                between(bound(n(1.0), true), bound(n(5.0), false)),
                "5",
                false,
            ),
            ("between, inside", open_1_to_5.clone(), "2.5", true),
            ("between, outside", open_1_to_5.clone(), "7", false),
            ("between fields", min_to_below_max.clone(), "15", true),
            (
                "between fields, at the exclusive upper field",
                min_to_below_max.clone(),
                "20",
                false,
            ),
            (
                "between static and field",
                between(bound(n(0.0), false), bound(field("Contact._Min"), true)),
                "10",
                true,
            ),
            (
                "between with a blank field bound",
                between(bound(n(0.0), false), bound(field("Contact._Blank"), true)),
                "1",
                false,
            ),
            (
                "equals is not numeric",
                Test::EqualsAny(vec![pattern("3")]),
                "3.0",
                false,
            ),
            (
                "equals any of several",
                Test::EqualsAny(vec![pattern("no"), pattern("*yes*")]),
                "oh yes",
                true,
            ),
        ];
        for (name, test, reply, want) in cases {
            let facts = Facts {
                contact: &contact,
                sent: &MessageWindow::default(),
                now: Timestamp::from_millis(0),
            };
            assert_eq!(test.matches(reply, &facts), want, "{name}");
        }
    }
}

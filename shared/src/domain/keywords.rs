//! Opt-out, opt-in and help words in inbound texts, and whether Twilio already answered them.
//!
//! Matching (Twilio's default opt-out handling, plus the local policy written here):
//! - the **whole body** is the keyword: `STOP` and `stop` match, `STOP please` and
//!   `don't stop` do not;
//! - case-insensitive, ASCII only: the keywords are ASCII, and Unicode case folding would
//!   make look-alikes match (`ſtop` upper-cases to `STOP`);
//! - leading and trailing whitespace is ignored, Unicode whitespace included (NBSP, the
//!   ideographic space) and the invisible zero-width characters phones sometimes add;
//! - trailing punctuation is ignored (`STOP.`, ` stop! `, `Stop!!`, `STOP…`); leading
//!   punctuation is not (`"STOP` is not a keyword), as the rule is about trailing marks;
//! - fullwidth letters (`ＳＴＯＰ`, typed with CJK input methods) are read as ASCII;
//! - emoji are content, not punctuation: `STOP 🛑` is not a bare keyword, like `STOP please`;
//! - `OPT OUT` / `OPT-OUT` are opt-outs too: Twilio does not match them (it supports no
//!   spaces in keywords) but the FCC counts "opt out" as a reasonable revocation, and we
//!   keep our own suppression list;
//! - `YES` is not an opt-in on toll-free senders (only START and UNSTOP lift a toll-free
//!   block there).
//!
//! When Twilio sends `OptOutType` (Advanced Opt-Out matched a keyword, possibly a custom one),
//! it is authoritative and overrides the body.
//!
//! Sequences: the classifier knows nothing of them, on purpose. STOP wins: the use case
//! classifies every inbound text before looking for an active sequence, and an opt-out ends
//! the sequence instead of being read as an answer ([`KeywordClass::stops_sequence`]).

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::account::SenderKind;
pub use super::account::TwilioKeywordHandling;
use super::words::enum_words;

/// Twilio's default opt-out words (REVOKE and OPTOUT since 2025-05-14).
pub const OPT_OUT_KEYWORDS: [&str; 8] = [
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "REVOKE",
    "OPTOUT",
];
/// Twilio's default opt-in words; YES does not count on toll-free senders.
pub const OPT_IN_KEYWORDS: [&str; 3] = ["START", "YES", "UNSTOP"];
pub const HELP_KEYWORDS: [&str; 2] = ["HELP", "INFO"];

/// What an inbound text asks for, as far as consent is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeywordClass {
    OptOut,
    OptIn,
    Help,
    /// An ordinary message.
    None,
}

impl KeywordClass {
    /// Whether this text ends any active sequence rather than being handed to it as an
    /// answer: only an opt-out does (STOP wins). Opt-in and help words are handled first
    /// too, but `YES` is also an everyday answer to a sequence question.
    pub fn stops_sequence(self) -> bool {
        self == KeywordClass::OptOut
    }
}

/// Twilio's `OptOutType` webhook parameter, present only when Advanced Opt-Out matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum OptOutType {
    Stop,
    Start,
    Help,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a Twilio OptOutType (expected STOP, START or HELP)")]
pub struct UnknownOptOutType(pub String);

impl FromStr for OptOutType {
    type Err = UnknownOptOutType;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_uppercase().as_str() {
            "STOP" => Ok(OptOutType::Stop),
            "START" => Ok(OptOutType::Start),
            "HELP" => Ok(OptOutType::Help),
            _ => Err(UnknownOptOutType(s.to_string())),
        }
    }
}

impl OptOutType {
    pub fn class(self) -> KeywordClass {
        match self {
            OptOutType::Stop => KeywordClass::OptOut,
            OptOutType::Start => KeywordClass::OptIn,
            OptOutType::Help => KeywordClass::Help,
        }
    }
}

enum_words!(OptOutType,
    OptOutType::Stop => "STOP",
    OptOutType::Start => "START",
    OptOutType::Help => "HELP",
);

/// Whether the person already got an automatic answer to their keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TwilioAutoReply {
    /// Twilio (or the toll-free network) answered: do not send a second confirmation.
    /// (One case is knowingly reported as `Sent` though Twilio stays silent: HELP to a
    /// toll-free number from someone opted out. Silence is right there, since nothing may
    /// be sent to an opted-out number.)
    Sent,
    /// Nothing answered the keyword: any confirmation is ours to send.
    NotSent,
    /// Twilio's matching of this exact body is undocumented (trailing punctuation, padding,
    /// fullwidth letters). Treat as sent: a duplicate confirmation is worse than none, and
    /// if Twilio did block the number a send of ours would fail with 21610 anyway.
    Unknown,
}

/// Where the class came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeywordSource {
    /// Twilio's `OptOutType` parameter.
    TwilioOptOutType,
    /// Our reading of the body.
    Body,
}

/// The facts about one inbound text that keyword handling needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeywordInput<'a> {
    pub body: &'a str,
    /// The kind of our number the text was sent to.
    pub sender_kind: SenderKind,
    /// The parsed `OptOutType` parameter, when Twilio sent one.
    pub opt_out_type: Option<OptOutType>,
    pub handling: TwilioKeywordHandling,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeywordDecision {
    pub class: KeywordClass,
    pub source: KeywordSource,
    /// Meaningful for keywords only; `NotSent` for ordinary messages.
    pub twilio_reply: TwilioAutoReply,
}

impl KeywordDecision {
    /// Whether a reply of ours (opt-out confirmation, opt-in welcome, the account's HELP
    /// text) would be the only answer the person gets.
    pub fn we_should_reply(&self) -> bool {
        self.class != KeywordClass::None && self.twilio_reply == TwilioAutoReply::NotSent
    }
}

/// Classifies a body by our matching rules alone (no `OptOutType`).
pub fn classify_body(body: &str, sender_kind: SenderKind) -> KeywordClass {
    let text = normalise(body);
    if is_opt_out_phrase(&text) {
        return KeywordClass::OptOut;
    }
    match text.split_whitespace().collect::<Vec<_>>().as_slice() {
        [word] => classify_word(word, sender_kind),
        _ => KeywordClass::None,
    }
}

/// Classifies an inbound text and says whether Twilio already answered it.
pub fn classify_inbound(input: &KeywordInput<'_>) -> KeywordDecision {
    if let Some(opt_out_type) = input.opt_out_type {
        // Twilio matched (maybe a custom or foreign-language word) and has replied.
        return KeywordDecision {
            class: opt_out_type.class(),
            source: KeywordSource::TwilioOptOutType,
            twilio_reply: TwilioAutoReply::Sent,
        };
    }
    let class = classify_body(input.body, input.sender_kind);
    let twilio_reply = if class == KeywordClass::None {
        TwilioAutoReply::NotSent
    } else {
        auto_reply_without_opt_out_type(input, class)
    };
    KeywordDecision {
        class,
        source: KeywordSource::Body,
        twilio_reply,
    }
}

/// Words the toll-free network layer is documented to answer itself.
const TOLL_FREE_NETWORK_KEYWORDS: [&str; 3] = ["STOP", "START", "UNSTOP"];

fn auto_reply_without_opt_out_type(
    input: &KeywordInput<'_>,
    class: KeywordClass,
) -> TwilioAutoReply {
    // Twilio's built-in handling covers long codes and toll-free numbers, not standalone
    // short codes; alphanumeric senders take no replies at all. Under Advanced Opt-Out a
    // match would have come with OptOutType, so its absence means no match.
    let twilio_listens = input.handling == TwilioKeywordHandling::Default
        && matches!(
            input.sender_kind,
            SenderKind::LongCode | SenderKind::TollFree
        );
    // On toll-free, a carrier layer answers opt-out/opt-in words whatever Twilio's setup.
    let network_listens = input.sender_kind == SenderKind::TollFree && class != KeywordClass::Help;
    if !twilio_listens && !network_listens {
        return TwilioAutoReply::NotSent;
    }
    let body = input.body;
    if classify_word(body, input.sender_kind) != KeywordClass::None {
        // The raw body is a standard word (case aside): the one form documented to match.
        let network_answers = TOLL_FREE_NETWORK_KEYWORDS
            .iter()
            .any(|k| k.eq_ignore_ascii_case(body));
        if twilio_listens || network_answers {
            TwilioAutoReply::Sent
        } else {
            TwilioAutoReply::Unknown
        }
    } else if is_opt_out_phrase(&normalise(body)) {
        // Twilio documents that it supports no spaces in keywords.
        TwilioAutoReply::NotSent
    } else {
        TwilioAutoReply::Unknown
    }
}

/// `OPT OUT` (any inner whitespace) or `OPT-OUT`, on normalised text.
fn is_opt_out_phrase(text: &str) -> bool {
    match text.split_whitespace().collect::<Vec<_>>().as_slice() {
        [word] => word.eq_ignore_ascii_case("OPT-OUT"),
        [opt, out] => opt.eq_ignore_ascii_case("OPT") && out.eq_ignore_ascii_case("OUT"),
        _ => false,
    }
}

/// One of Twilio's standard words (case aside).
fn classify_word(word: &str, sender_kind: SenderKind) -> KeywordClass {
    let is = |list: &[&str]| list.iter().any(|k| k.eq_ignore_ascii_case(word));
    if is(&OPT_OUT_KEYWORDS) {
        KeywordClass::OptOut
    } else if is(&OPT_IN_KEYWORDS) {
        if sender_kind == SenderKind::TollFree && word.eq_ignore_ascii_case("YES") {
            KeywordClass::None
        } else {
            KeywordClass::OptIn
        }
    } else if is(&HELP_KEYWORDS) {
        KeywordClass::Help
    } else {
        KeywordClass::None
    }
}

/// Fullwidth forms folded to ASCII, then padding and trailing punctuation removed.
pub(crate) fn normalise(body: &str) -> String {
    let folded: String = body.chars().map(fold_fullwidth).collect();
    folded
        .trim_start_matches(is_padding)
        .trim_end_matches(|c| is_padding(c) || is_trailing_punctuation(c))
        .to_string()
}

fn fold_fullwidth(c: char) -> char {
    match c {
        // U+FF01..U+FF5E mirror U+0021..U+007E.
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        other => other,
    }
}

fn is_padding(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}'
        )
}

fn is_trailing_punctuation(c: char) -> bool {
    c.is_ascii_punctuation()
        || matches!(
            c,
            '…' | '¡' | '¿' | '。' | '、' | '‼' | '⁉' | '“' | '”' | '‘' | '’' | '«' | '»'
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use KeywordClass::{Help, OptIn, OptOut};
    use SenderKind::{Alphanumeric, LongCode, ShortCode, TollFree};

    const NONE: KeywordClass = KeywordClass::None;

    #[test]
    fn every_standard_word_in_any_case() {
        let lists: [(&[&str], KeywordClass); 3] = [
            (&OPT_OUT_KEYWORDS, OptOut),
            (&OPT_IN_KEYWORDS, OptIn),
            (&HELP_KEYWORDS, Help),
        ];
        for (words, class) in lists {
            for word in words {
                let capitalised = format!("{}{}", &word[..1], word[1..].to_lowercase());
                for body in [word.to_string(), word.to_lowercase(), capitalised] {
                    assert_eq!(classify_body(&body, LongCode), class, "{body:?}");
                }
            }
        }
    }

    #[test]
    fn body_classification() {
        let cases = [
            // Padding and trailing punctuation.
            ("STOP.", OptOut),
            (" stop! ", OptOut),
            ("Stop!!!", OptOut),
            ("stop?!", OptOut),
            ("STOP …", OptOut),
            ("STOP…", OptOut),
            ("stop :)", OptOut),
            ("\tSTOP\r\n", OptOut),
            ("\u{00A0}STOP\u{00A0}", OptOut),
            ("\u{3000}STOP\u{3000}", OptOut),
            ("\u{200B}STOP\u{FEFF}", OptOut),
            ("unsubscribe.", OptOut),
            ("Help?", Help),
            ("info", Help),
            ("Start!", OptIn),
            ("unstop", OptIn),
            // Fullwidth letters and punctuation.
            ("ＳＴＯＰ", OptOut),
            ("ｓｔｏｐ！", OptOut),
            ("ＨＥＬＰ", Help),
            // Spaced / hyphenated opt-out (FCC's "opt out").
            ("OPT OUT", OptOut),
            ("opt  out.", OptOut),
            ("Opt-Out", OptOut),
            ("optout", OptOut),
            // Not the whole body.
            ("STOP please", NONE),
            ("please stop", NONE),
            ("don't stop", NONE),
            ("STOP STOP", NONE),
            ("stop it", NONE),
            ("I want to unsubscribe", NONE),
            ("opt in", NONE),
            ("opt out now", NONE),
            ("STOP 🛑", NONE),
            ("🛑", NONE),
            ("STOP👍", NONE),
            // Leading punctuation is kept, so these are not bare keywords.
            ("\"STOP\"", NONE),
            ("-stop", NONE),
            // Internal punctuation.
            ("S.T.O.P", NONE),
            ("st op", NONE),
            // Look-alikes that only Unicode folding would turn into keywords.
            ("ſtop", NONE),
            ("ЅТОР", NONE),
            ("quıt", NONE),
            // Near misses and empties.
            ("STOPS", NONE),
            ("stopp", NONE),
            ("ending", NONE),
            ("yes please", NONE),
            ("", NONE),
            ("   ", NONE),
            ("!!!", NONE),
            ("ok", NONE),
        ];
        for (body, expected) in cases {
            assert_eq!(classify_body(body, LongCode), expected, "{body:?}");
        }
    }

    #[test]
    fn yes_is_not_an_opt_in_on_toll_free() {
        let cases = [
            ("YES", LongCode, OptIn),
            ("yes.", LongCode, OptIn),
            ("YES", ShortCode, OptIn),
            ("YES", Alphanumeric, OptIn),
            ("YES", TollFree, NONE),
            ("yes!", TollFree, NONE),
            ("START", TollFree, OptIn),
            ("UNSTOP", TollFree, OptIn),
            ("STOP", TollFree, OptOut),
            ("HELP", TollFree, Help),
        ];
        for (body, kind, expected) in cases {
            assert_eq!(classify_body(body, kind), expected, "{body:?} on {kind:?}");
        }
    }

    #[test]
    fn opt_out_type_parsing() {
        let cases = [
            ("STOP", Some(OptOutType::Stop)),
            ("START", Some(OptOutType::Start)),
            ("HELP", Some(OptOutType::Help)),
            ("stop", Some(OptOutType::Stop)),
            (" HELP ", Some(OptOutType::Help)),
            ("UNSTOP", None),
            ("", None),
        ];
        for (raw, expected) in cases {
            assert_eq!(raw.parse::<OptOutType>().ok(), expected, "{raw:?}");
        }
        for t in [OptOutType::Stop, OptOutType::Start, OptOutType::Help] {
            assert_eq!(t.to_string().parse::<OptOutType>(), Ok(t));
        }
    }

    #[test]
    fn opt_out_type_overrides_the_body() {
        let cases = [
            // Custom or foreign words Advanced Opt-Out knows and we do not.
            ("ARRET", OptOutType::Stop, OptOut),
            ("Baja", OptOutType::Stop, OptOut),
            ("AIDE", OptOutType::Help, Help),
            // Twilio's word beats ours.
            ("YES", OptOutType::Stop, OptOut),
            ("STOP", OptOutType::Start, OptIn),
            ("STOP please", OptOutType::Stop, OptOut),
            // YES on toll-free counts when Twilio says so.
            ("YES", OptOutType::Start, OptIn),
        ];
        for kind in [LongCode, TollFree, ShortCode] {
            for (body, opt_out_type, expected) in cases {
                let decision = classify_inbound(&KeywordInput {
                    body,
                    sender_kind: kind,
                    opt_out_type: Some(opt_out_type),
                    handling: TwilioKeywordHandling::Advanced,
                });
                assert_eq!(
                    decision,
                    KeywordDecision {
                        class: expected,
                        source: KeywordSource::TwilioOptOutType,
                        twilio_reply: TwilioAutoReply::Sent,
                    },
                    "{body:?} {opt_out_type} on {kind:?}"
                );
                assert!(!decision.we_should_reply());
            }
        }
    }

    #[test]
    fn whether_twilio_already_replied() {
        use TwilioAutoReply::{NotSent, Sent, Unknown};
        use TwilioKeywordHandling::{Advanced, Default, Disabled};
        let cases = [
            // Long code, built-in handling: exact standard words are answered.
            ("STOP", LongCode, Default, OptOut, Sent),
            ("stop", LongCode, Default, OptOut, Sent),
            ("Revoke", LongCode, Default, OptOut, Sent),
            ("YES", LongCode, Default, OptIn, Sent),
            ("INFO", LongCode, Default, Help, Sent),
            // ...padding, punctuation and fullwidth are undocumented...
            ("STOP.", LongCode, Default, OptOut, Unknown),
            (" stop ", LongCode, Default, OptOut, Unknown),
            ("ＳＴＯＰ", LongCode, Default, OptOut, Unknown),
            ("help?", LongCode, Default, Help, Unknown),
            // ...and spaced keywords are documented as unsupported.
            ("OPT OUT", LongCode, Default, OptOut, NotSent),
            ("opt-out", LongCode, Default, OptOut, NotSent),
            ("opt out!", LongCode, Default, OptOut, NotSent),
            // Advanced Opt-Out without OptOutType: it did not match, so it did not reply.
            ("STOP", LongCode, Advanced, OptOut, NotSent),
            ("REVOKE", LongCode, Advanced, OptOut, NotSent),
            ("HELP", LongCode, Advanced, Help, NotSent),
            ("STOP", LongCode, Disabled, OptOut, NotSent),
            ("STOP.", LongCode, Disabled, OptOut, NotSent),
            // Toll-free: the network answers STOP/START/UNSTOP whatever Twilio's setup.
            ("STOP", TollFree, Default, OptOut, Sent),
            ("STOP", TollFree, Advanced, OptOut, Sent),
            ("STOP", TollFree, Disabled, OptOut, Sent),
            ("unstop", TollFree, Disabled, OptIn, Sent),
            ("START", TollFree, Advanced, OptIn, Sent),
            ("HELP", TollFree, Default, Help, Sent),
            ("HELP", TollFree, Advanced, Help, NotSent),
            ("HELP", TollFree, Disabled, Help, NotSent),
            ("Stop!", TollFree, Disabled, OptOut, Unknown),
            ("help?", TollFree, Disabled, Help, NotSent),
            ("REVOKE", TollFree, Default, OptOut, Sent),
            ("REVOKE", TollFree, Disabled, OptOut, Unknown),
            ("OPT OUT", TollFree, Default, OptOut, NotSent),
            // Standalone short codes and alphanumeric senders: nobody answers for us.
            ("STOP", ShortCode, Default, OptOut, NotSent),
            ("HELP", ShortCode, Default, Help, NotSent),
            ("YES", Alphanumeric, Default, OptIn, NotSent),
            // Ordinary messages.
            ("hello", LongCode, Default, NONE, NotSent),
            ("YES", TollFree, Default, NONE, NotSent),
            ("STOP please", LongCode, Default, NONE, NotSent),
        ];
        for (body, kind, handling, class, reply) in cases {
            let decision = classify_inbound(&KeywordInput {
                body,
                sender_kind: kind,
                opt_out_type: None,
                handling,
            });
            assert_eq!(
                decision,
                KeywordDecision {
                    class,
                    source: KeywordSource::Body,
                    twilio_reply: reply,
                },
                "{body:?} on {kind:?} with {handling:?}"
            );
            assert_eq!(
                decision.we_should_reply(),
                class != NONE && reply == NotSent,
                "{body:?} on {kind:?} with {handling:?}"
            );
        }
    }

    #[test]
    fn only_opt_out_stops_a_sequence() {
        assert!(OptOut.stops_sequence());
        for class in [OptIn, Help, NONE] {
            assert!(!class.stops_sequence(), "{class:?}");
        }
    }
}

//! The CRM goal catalogue: call names smsflow fires as `<integration>.<call name>` API goals
//! (the standard goals, spelled as turboDial spells them: see `docs/glossary.md`), and which
//! of them one inbound text fires.

use super::ids::validated_text;
use serde::{Deserialize, Serialize};

use super::contact::ContactOutcome;
use super::email::EmailAddress;
use super::keywords::KeywordClass;
use super::phone::PhoneNumber;

/// Longest call name we accept. Keap documents no limit; this keeps URLs sane.
pub const MAX_GOAL_NAME_LEN: usize = 100;

/// A goal's call name: `[A-Za-z0-9_]`, 1 to [`MAX_GOAL_NAME_LEN`] characters, because Keap's
/// v1 API puts it in a URL path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct GoalName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GoalNameError {
    #[error("a goal call name cannot be empty")]
    Empty,
    #[error("goal call name '{name}' is {len} characters long; the limit is {MAX_GOAL_NAME_LEN}")]
    TooLong { name: String, len: usize },
    #[error("goal call name '{name}' contains '{found}': use letters, digits and '_' only")]
    InvalidChar { name: String, found: char },
}

/// The goals with fixed call names, spelled as turboDial spells them (`docs/glossary.md`,
/// "Standard goals").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StandardGoal {
    // Inbound.
    Inbound,
    EmailInstalled,
    /// A contact was created for an unknown sender. turboDial mentions this goal without
    /// naming it, so the name is ours.
    ContactAutoCreated,
    OptOut,
    OptIn,
    // Send side.
    SmsSendRequestReceived,
    QueueExceeded,
    SendFailed,
    SendManual,
    SendAuto,
    GoodNumber,
    BadNumber,
    BlockedNumber,
    SpamBlock,
    // "Has received SMS" checks (`POST /crm/{account}/received`).
    ReceivedSms,
    NotReceivedSms,
}

impl StandardGoal {
    pub const ALL: [StandardGoal; 16] = [
        StandardGoal::Inbound,
        StandardGoal::EmailInstalled,
        StandardGoal::ContactAutoCreated,
        StandardGoal::OptOut,
        StandardGoal::OptIn,
        StandardGoal::SmsSendRequestReceived,
        StandardGoal::QueueExceeded,
        StandardGoal::SendFailed,
        StandardGoal::SendManual,
        StandardGoal::SendAuto,
        StandardGoal::GoodNumber,
        StandardGoal::BadNumber,
        StandardGoal::BlockedNumber,
        StandardGoal::SpamBlock,
        StandardGoal::ReceivedSms,
        StandardGoal::NotReceivedSms,
    ];

    pub fn call_name(self) -> &'static str {
        match self {
            StandardGoal::Inbound => "Inbound",
            StandardGoal::EmailInstalled => "EmailInstalled",
            StandardGoal::ContactAutoCreated => "ContactAutoCreated",
            StandardGoal::OptOut => "OptOut",
            StandardGoal::OptIn => "OptIn",
            StandardGoal::SmsSendRequestReceived => "SMSsendRequestReceived",
            StandardGoal::QueueExceeded => "QueueExceeded",
            StandardGoal::SendFailed => "SendFailed",
            StandardGoal::SendManual => "SendManual",
            StandardGoal::SendAuto => "SendAuto",
            StandardGoal::GoodNumber => "GoodNumber",
            StandardGoal::BadNumber => "BadNumber",
            StandardGoal::BlockedNumber => "BlockedNumber",
            StandardGoal::SpamBlock => "SpamBlock",
            StandardGoal::ReceivedSms => "ReceivedSMS",
            StandardGoal::NotReceivedSms => "NotReceivedSMS",
        }
    }
}

impl From<StandardGoal> for GoalName {
    fn from(goal: StandardGoal) -> GoalName {
        // The fixed names are valid by construction (tested below).
        GoalName(goal.call_name().to_string())
    }
}

impl GoalName {
    /// Accepts a configured or user-typed call name, refusing what cannot go in a URL path.
    pub fn parse(name: &str) -> Result<GoalName, GoalNameError> {
        if name.is_empty() {
            return Err(GoalNameError::Empty);
        }
        if let Some(found) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
        {
            return Err(GoalNameError::InvalidChar {
                name: name.to_string(),
                found,
            });
        }
        if name.len() > MAX_GOAL_NAME_LEN {
            return Err(GoalNameError::TooLong {
                name: name.to_string(),
                len: name.len(),
            });
        }
        Ok(GoalName(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Fired for every inbound text on an identified contact.
    pub fn inbound() -> GoalName {
        StandardGoal::Inbound.into()
    }

    /// `Inbound<digits of To>`, country code included: `+19523142318` → `Inbound19523142318`.
    pub fn inbound_to(number: &PhoneNumber) -> GoalName {
        // E.164 has at most 15 digits: always valid.
        GoalName(format!("Inbound{}", number.digits()))
    }

    /// The address the text was forwarded to, reduced to lower-case letters and digits:
    /// `Mary.Anders@zmail.com` → `maryanderszmailcom`. Cut to [`MAX_GOAL_NAME_LEN`]
    /// characters in the (absurd) case it is longer; never empty, since every address
    /// has a letter in its top-level domain.
    pub fn forwarded_to(address: &EmailAddress) -> GoalName {
        GoalName(
            address
                .as_str()
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .map(|c| c.to_ascii_lowercase())
                .take(MAX_GOAL_NAME_LEN)
                .collect(),
        )
    }

    pub fn email_installed() -> GoalName {
        StandardGoal::EmailInstalled.into()
    }

    pub fn contact_auto_created() -> GoalName {
        StandardGoal::ContactAutoCreated.into()
    }

    pub fn opt_out() -> GoalName {
        StandardGoal::OptOut.into()
    }

    pub fn opt_in() -> GoalName {
        StandardGoal::OptIn.into()
    }
}

validated_text!(GoalName, GoalNameError, GoalName::parse);

/// What happened with one inbound text, as far as goals care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboundGoalContext<'a> {
    pub contact: ContactOutcome,
    /// Our number the text was sent to.
    pub to: &'a PhoneNumber,
    /// Where the text was forwarded by e-mail, if it was.
    pub forwarded_to: Option<&'a EmailAddress>,
    /// Whether an address from the text was written into the contact.
    pub email_installed: bool,
    pub keyword: KeywordClass,
}

/// The goals one inbound text fires, in the order things happened: the keyword (handled
/// first: STOP wins, so the CRM can stop its campaigns before anything else), the contact's
/// creation, the e-mail install, then the inbound goals. None without a contact: goals are
/// achieved on a contact.
pub fn inbound_goals(ctx: &InboundGoalContext<'_>) -> Vec<GoalName> {
    if !ctx.contact.is_identified() {
        return Vec::new();
    }
    let mut goals = Vec::with_capacity(6);
    match ctx.keyword {
        KeywordClass::OptOut => goals.push(GoalName::opt_out()),
        KeywordClass::OptIn => goals.push(GoalName::opt_in()),
        // The catalogue has no goal for HELP.
        KeywordClass::Help | KeywordClass::None => {}
    }
    if ctx.contact == ContactOutcome::AutoCreated {
        goals.push(GoalName::contact_auto_created());
    }
    if ctx.email_installed {
        goals.push(GoalName::email_installed());
    }
    goals.push(GoalName::inbound());
    goals.push(GoalName::inbound_to(ctx.to));
    // All lower-case, so it never collides with the fixed names (`op@to.ut` → `optout`).
    goals.extend(ctx.forwarded_to.map(GoalName::forwarded_to));
    goals
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{email, phone};
    use super::*;

    #[test]
    fn goal_name_validation() {
        for ok in [
            "Inbound",
            "a",
            "send_failed_2",
            &"x".repeat(MAX_GOAL_NAME_LEN),
        ] {
            assert_eq!(GoalName::parse(ok).map(String::from), Ok(ok.to_string()));
        }
        let long = "x".repeat(MAX_GOAL_NAME_LEN + 1);
        let cases = [
            ("", GoalNameError::Empty),
            (
                long.as_str(),
                GoalNameError::TooLong {
                    name: long.clone(),
                    len: MAX_GOAL_NAME_LEN + 1,
                },
            ),
            (
                "opt-out",
                GoalNameError::InvalidChar {
                    name: "opt-out".into(),
                    found: '-',
                },
            ),
            (
                "a b",
                GoalNameError::InvalidChar {
                    name: "a b".into(),
                    found: ' ',
                },
            ),
            (
                "in/bound",
                GoalNameError::InvalidChar {
                    name: "in/bound".into(),
                    found: '/',
                },
            ),
            (
                "maryé",
                GoalNameError::InvalidChar {
                    name: "maryé".into(),
                    found: 'é',
                },
            ),
            (
                "Inbound.",
                GoalNameError::InvalidChar {
                    name: "Inbound.".into(),
                    found: '.',
                },
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(GoalName::parse(input), Err(expected), "{input:?}");
        }
    }

    #[test]
    fn goal_names_round_trip_through_serde() {
        let goal = GoalName::parse("OptOut").expect("valid");
        let json = serde_json::to_string(&goal).expect("serialise");
        assert_eq!(json, "\"OptOut\"");
        assert_eq!(serde_json::from_str::<GoalName>(&json).ok(), Some(goal));
        assert!(serde_json::from_str::<GoalName>("\"opt out\"").is_err());
    }

    #[test]
    fn standard_names_match_the_catalogue() {
        // turboDial's spellings (docs/glossary.md), except ContactAutoCreated and the
        // "has received SMS" checks' goals, which it does not have.
        let expected = [
            "Inbound",
            "EmailInstalled",
            "ContactAutoCreated",
            "OptOut",
            "OptIn",
            "SMSsendRequestReceived",
            "QueueExceeded",
            "SendFailed",
            "SendManual",
            "SendAuto",
            "GoodNumber",
            "BadNumber",
            "BlockedNumber",
            "SpamBlock",
            "ReceivedSMS",
            "NotReceivedSMS",
        ];
        let names: Vec<&str> = StandardGoal::ALL.iter().map(|g| g.call_name()).collect();
        assert_eq!(names, expected);
        for goal in StandardGoal::ALL {
            // The infallible From must agree with the validating constructor.
            assert_eq!(
                GoalName::parse(goal.call_name()),
                Ok(GoalName::from(goal)),
                "{goal:?}"
            );
        }
    }

    #[test]
    fn per_number_goal() {
        let cases = [
            ("+19523142318", "Inbound19523142318"),
            ("+442071838750", "Inbound442071838750"),
            ("+34911234567", "Inbound34911234567"),
        ];
        for (number, expected) in cases {
            let goal = GoalName::inbound_to(&phone(number));
            assert_eq!(goal.as_str(), expected);
            assert_eq!(GoalName::parse(goal.as_str()), Ok(goal));
        }
    }

    #[test]
    fn forward_address_goal() {
        let long_local = "a".repeat(64);
        let long_address = format!("{long_local}@{}.example.com", "b".repeat(60));
        let long_expected: String = format!("{long_local}{}examplecom", "b".repeat(60))
            .chars()
            .take(MAX_GOAL_NAME_LEN)
            .collect();
        let cases = [
            ("MaryAnders@zmail.com", "maryanderszmailcom".to_string()),
            ("Mary.Anders@zmail.com", "maryanderszmailcom".to_string()),
            (
                "mary_anders+sms@Z-Mail.co.uk",
                "maryanderssmszmailcouk".to_string(),
            ),
            ("o'brien@example.com", "obrienexamplecom".to_string()),
            ("_@ex.io", "exio".to_string()),
            (long_address.as_str(), long_expected),
        ];
        for (address, expected) in cases {
            let goal = GoalName::forwarded_to(&email(address));
            assert_eq!(goal.as_str(), expected, "{address}");
            assert_eq!(GoalName::parse(goal.as_str()), Ok(goal), "{address}");
        }
    }

    /// Contact outcome, forward address, e-mail installed, keyword → expected goals.
    type GoalCase<'a> = (
        ContactOutcome,
        Option<&'a EmailAddress>,
        bool,
        KeywordClass,
        &'a [&'a str],
    );

    #[test]
    fn goals_for_one_inbound_text() {
        use ContactOutcome::{AutoCreated, Found, Unidentified};
        use KeywordClass::{Help, OptIn, OptOut};
        let to = phone("+19523142318");
        let mary = email("Mary.Anders@zmail.com");
        let clash = email("op@to.ut");
        let none = KeywordClass::None;
        let cases: [GoalCase; 14] = [
            (
                Found,
                Some(&mary),
                false,
                none,
                &["Inbound", "Inbound19523142318", "maryanderszmailcom"],
            ),
            (Found, None, false, none, &["Inbound", "Inbound19523142318"]),
            (
                Found,
                Some(&mary),
                true,
                none,
                &[
                    "EmailInstalled",
                    "Inbound",
                    "Inbound19523142318",
                    "maryanderszmailcom",
                ],
            ),
            (
                AutoCreated,
                Some(&mary),
                true,
                none,
                &[
                    "ContactAutoCreated",
                    "EmailInstalled",
                    "Inbound",
                    "Inbound19523142318",
                    "maryanderszmailcom",
                ],
            ),
            (
                AutoCreated,
                None,
                false,
                none,
                &["ContactAutoCreated", "Inbound", "Inbound19523142318"],
            ),
            (
                Found,
                Some(&mary),
                false,
                OptOut,
                &[
                    "OptOut",
                    "Inbound",
                    "Inbound19523142318",
                    "maryanderszmailcom",
                ],
            ),
            (
                Found,
                None,
                false,
                OptIn,
                &["OptIn", "Inbound", "Inbound19523142318"],
            ),
            (Found, None, false, Help, &["Inbound", "Inbound19523142318"]),
            (
                AutoCreated,
                None,
                false,
                OptOut,
                &[
                    "OptOut",
                    "ContactAutoCreated",
                    "Inbound",
                    "Inbound19523142318",
                ],
            ),
            // A forward goal that reads like a fixed one is still its own (lower-case) goal.
            (
                Found,
                Some(&clash),
                false,
                none,
                &["Inbound", "Inbound19523142318", "optout"],
            ),
            // No contact, no goals: whatever else happened.
            (Unidentified, Some(&mary), false, none, &[]),
            (Unidentified, None, false, OptOut, &[]),
            (Unidentified, None, false, OptIn, &[]),
            (Unidentified, Some(&mary), true, Help, &[]),
        ];
        for (contact, forwarded_to, email_installed, keyword, expected) in cases {
            let ctx = InboundGoalContext {
                contact,
                to: &to,
                forwarded_to,
                email_installed,
                keyword,
            };
            let goals = inbound_goals(&ctx);
            let names: Vec<&str> = goals.iter().map(GoalName::as_str).collect();
            assert_eq!(names, expected, "{ctx:?}");
        }
    }
}

//! Who gets an inbound text by e-mail (turboDial-style "most recent interaction" routing;
//! the rules and the numbered routing cases are in `docs/glossary.md`). In priority order:
//! 1. the user of the most recent SMS sent to the contact (case 1; for a campaign SMS the
//!    reply-to user the campaign named: case 4);
//! 2. the user of the most recent call note;
//! 3. the contact's owner in the CRM;
//! 4. the inbound number's backup address, which also gets every text from a sender who is
//!    not a contact (case 3).
//!
//! A rule whose user cannot be reached (not a user of the account, no e-mail known) falls
//! through to the next, and the decision says so.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::account::User;
use super::email::EmailAddress;
use super::time::Timestamp;

/// A CRM user as the CRM describes them (owner of a contact, user of a call note).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrmUserRef<'a> {
    pub crm_user_id: &'a str,
    pub name: Option<&'a str>,
    pub email: Option<&'a EmailAddress>,
}

/// The most recent SMS sent to the contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastSms<'a> {
    /// The account user it went out for: the sender of a manual SMS, the reply-to user
    /// of a campaign SMS (`MessageRecord::user_id`; see `MessageRecord::as_last_sms`).
    pub user_id: Option<&'a str>,
    pub sent_at: Timestamp,
    /// Set for campaign (automated) sends.
    pub campaign: Option<&'a str>,
}

/// The most recent call note on the contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastCallNote<'a> {
    /// The CRM user the note is assigned to, if any.
    pub user: Option<CrmUserRef<'a>>,
    pub logged_at: Option<Timestamp>,
}

/// What we know of the contact's history with the team.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContactHistory<'a> {
    pub last_sms: Option<LastSms<'a>>,
    pub last_call_note: Option<LastCallNote<'a>>,
    pub owner: Option<CrmUserRef<'a>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoutingFacts<'a> {
    /// `None` when the sender is not a contact in the CRM (none found, none created).
    pub contact: Option<ContactHistory<'a>>,
    /// The account's users by id.
    pub users: &'a BTreeMap<String, User>,
    /// The inbound number's backup address.
    pub backup_email: &'a EmailAddress,
}

/// Which rule chose the recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoutingRule {
    /// Case 1: the user who sent the last SMS.
    LastSms,
    /// Case 4: the reply-to user of the campaign that sent the last SMS.
    CampaignReplyTo,
    LastCallNote,
    ContactOwner,
    /// A contact nobody on the team is linked to.
    BackupEmail,
    /// Case 3: the sender is not a contact.
    UnknownSender,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingDecision {
    pub to: EmailAddress,
    /// The account user who gets the text, when it is one.
    pub user_id: Option<String>,
    pub rule: RoutingRule,
    /// Why, for the forwarded e-mail: the choice first, then any rule that was skipped.
    pub reason: String,
}

/// Chooses who gets one inbound text.
pub fn route_inbound(facts: &RoutingFacts<'_>) -> RoutingDecision {
    let Some(history) = facts.contact else {
        return backup(
            facts,
            RoutingRule::UnknownSender,
            "The sender is not a contact in the CRM, so the number's backup address gets it."
                .to_string(),
            Vec::new(),
        );
    };
    let mut skipped = Vec::new();

    if let Some(sms) = history.last_sms {
        let on = format_utc(sms.sent_at);
        match sms.user_id {
            Some(id) => match facts.users.get(id) {
                Some(user) => {
                    let (rule, reason) = match sms.campaign {
                        Some(c) => (
                            RoutingRule::CampaignReplyTo,
                            format!(
                                "{} is the reply-to user of campaign '{c}', which sent the \
                                 last SMS to this contact on {on}.",
                                user.name
                            ),
                        ),
                        None => (
                            RoutingRule::LastSms,
                            format!("{} sent the last SMS to this contact on {on}.", user.name),
                        ),
                    };
                    return chosen(user, rule, reason, skipped);
                }
                None => skipped.push(format!(
                    "The last SMS to this contact (on {on}) went out for user '{id}', \
                     who is no longer on this account."
                )),
            },
            None => skipped.push(match sms.campaign {
                Some(c) => format!(
                    "The last SMS to this contact came from campaign '{c}' on {on} \
                     with no reply-to user."
                ),
                None => format!("The last SMS to this contact (on {on}) has no user."),
            }),
        }
    }

    if let Some(note) = history.last_call_note {
        let when = note
            .logged_at
            .map(|t| format!(" on {}", format_utc(t)))
            .unwrap_or_default();
        match note.user {
            Some(crm_user) => match resolve(facts.users, &crm_user) {
                Some(target) => {
                    let reason = format!(
                        "{} logged the last call with this contact{when}.",
                        target.name
                    );
                    return decision(target, RoutingRule::LastCallNote, reason, skipped);
                }
                None => skipped.push(format!(
                    "The last call note's user ({}) is not on this account and the CRM \
                     has no e-mail for them.",
                    describe(&crm_user)
                )),
            },
            None => skipped.push(format!(
                "The last call note on this contact{when} has no user."
            )),
        }
    }

    if let Some(owner) = history.owner {
        match resolve(facts.users, &owner) {
            Some(target) => {
                let reason = format!("{} owns this contact in the CRM.", target.name);
                return decision(target, RoutingRule::ContactOwner, reason, skipped);
            }
            None => skipped.push(format!(
                "The contact's owner ({}) is not on this account and the CRM has no \
                 e-mail for them.",
                describe(&owner)
            )),
        }
    }

    let reason = if skipped.is_empty() {
        "No teammate is linked to this contact, so the number's backup address gets it."
    } else {
        "No reachable teammate is linked to this contact, so the number's backup address gets it."
    };
    backup(facts, RoutingRule::BackupEmail, reason.to_string(), skipped)
}

/// Who a rule resolved to: an account user, or a CRM user known only by e-mail.
struct Target<'a> {
    name: String,
    email: &'a EmailAddress,
    user_id: Option<&'a str>,
}

/// A CRM user as an account user (by CRM id, then by e-mail), else by the CRM's e-mail.
fn resolve<'a>(users: &'a BTreeMap<String, User>, crm_user: &CrmUserRef<'a>) -> Option<Target<'a>> {
    let account_user = users
        .values()
        .find(|u| u.crm_user_id.as_deref() == Some(crm_user.crm_user_id))
        .or_else(|| crm_user.email.and_then(|e| user_with_email(users, e)));
    if let Some(user) = account_user {
        return Some(Target {
            name: user.name.clone(),
            email: &user.email,
            user_id: Some(&user.id),
        });
    }
    crm_user.email.map(|email| Target {
        name: crm_user
            .name
            .map_or_else(|| email.to_string(), str::to_string),
        email,
        user_id: None,
    })
}

fn user_with_email<'a>(
    users: &'a BTreeMap<String, User>,
    email: &EmailAddress,
) -> Option<&'a User> {
    // Mailboxes are case-insensitive in practice; the domain is already lower-cased.
    users
        .values()
        .find(|u| u.email.as_str().eq_ignore_ascii_case(email.as_str()))
}

fn describe(crm_user: &CrmUserRef<'_>) -> String {
    match crm_user.name {
        Some(name) => format!("{name}, CRM user {}", crm_user.crm_user_id),
        None => format!("CRM user {}", crm_user.crm_user_id),
    }
}

fn chosen(user: &User, rule: RoutingRule, reason: String, skipped: Vec<String>) -> RoutingDecision {
    let target = Target {
        name: user.name.clone(),
        email: &user.email,
        user_id: Some(&user.id),
    };
    decision(target, rule, reason, skipped)
}

fn decision(
    target: Target<'_>,
    rule: RoutingRule,
    reason: String,
    skipped: Vec<String>,
) -> RoutingDecision {
    RoutingDecision {
        to: target.email.clone(),
        user_id: target.user_id.map(str::to_string),
        rule,
        reason: with_skipped(reason, skipped),
    }
}

fn backup(
    facts: &RoutingFacts<'_>,
    rule: RoutingRule,
    reason: String,
    skipped: Vec<String>,
) -> RoutingDecision {
    RoutingDecision {
        to: facts.backup_email.clone(),
        // The backup address is often a teammate's own: then the text is theirs.
        user_id: user_with_email(facts.users, facts.backup_email).map(|u| u.id.clone()),
        rule,
        reason: with_skipped(reason, skipped),
    }
}

fn with_skipped(reason: String, skipped: Vec<String>) -> String {
    std::iter::once(reason)
        .chain(skipped)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `2024-05-01 14:03 UTC`. Routing reasons are read by people in many time zones; UTC
/// is the one they can all convert.
fn format_utc(t: Timestamp) -> String {
    let secs = t.as_secs();
    let (days, secs_of_day) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        secs_of_day / 3600,
        secs_of_day % 3600 / 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAY_1_2024: Timestamp = Timestamp::from_millis(1_714_572_180_000);
    const MAY_1: &str = "2024-05-01 14:03 UTC";

    fn email(s: &str) -> EmailAddress {
        EmailAddress::parse(s).expect("test address")
    }

    fn users() -> BTreeMap<String, User> {
        [
            ("mary", "Mary Anders", "mary@team.example", Some("17")),
            ("bob", "Bob Stone", "bob@team.example", Some("18")),
            ("ann", "Ann Lee", "Ann@Team.example", None),
        ]
        .into_iter()
        .map(|(id, name, mail, crm)| {
            let user = User {
                id: id.to_string(),
                name: name.to_string(),
                email: email(mail),
                crm_user_id: crm.map(str::to_string),
            };
            (id.to_string(), user)
        })
        .collect()
    }

    fn crm(id: &'static str) -> CrmUserRef<'static> {
        CrmUserRef {
            crm_user_id: id,
            name: None,
            email: None,
        }
    }

    fn sms(user: Option<&'static str>, campaign: Option<&'static str>) -> LastSms<'static> {
        LastSms {
            user_id: user,
            sent_at: MAY_1_2024,
            campaign,
        }
    }

    fn note(user: Option<CrmUserRef<'static>>) -> LastCallNote<'static> {
        LastCallNote {
            user,
            logged_at: Some(MAY_1_2024),
        }
    }

    struct Case<'a> {
        name: &'static str,
        contact: Option<ContactHistory<'a>>,
        to: &'static str,
        user_id: Option<&'static str>,
        rule: RoutingRule,
        reason: String,
    }

    #[test]
    fn routing_cases() {
        let backup = email("front-desk@team.example");
        let pat_email = email("pat@elsewhere.example");
        let ann_email = email("ann@team.example");
        let pat = CrmUserRef {
            crm_user_id: "40",
            name: Some("Pat Kim"),
            email: Some(&pat_email),
        };
        let ann_by_email = CrmUserRef {
            crm_user_id: "41",
            name: Some("Ann L."),
            email: Some(&ann_email),
        };
        let ghost = CrmUserRef {
            crm_user_id: "99",
            name: Some("Gone Person"),
            email: None,
        };
        let history = |last_sms, last_call_note, owner| {
            Some(ContactHistory {
                last_sms,
                last_call_note,
                owner,
            })
        };
        let no_teammate =
            "No teammate is linked to this contact, so the number's backup address gets it.";
        let unreachable = "No reachable teammate is linked to this contact, so the number's \
                           backup address gets it.";
        let cases = [
            // Case 1: reply to a manual SMS, whatever else is known.
            Case {
                name: "last manual sms",
                contact: history(
                    Some(sms(Some("mary"), None)),
                    Some(note(Some(crm("18")))),
                    Some(crm("18")),
                ),
                to: "mary@team.example",
                user_id: Some("mary"),
                rule: RoutingRule::LastSms,
                reason: format!("Mary Anders sent the last SMS to this contact on {MAY_1}."),
            },
            // Case 4: reply to a campaign SMS goes to its reply-to user.
            Case {
                name: "campaign reply-to",
                contact: history(
                    Some(sms(Some("bob"), Some("spring-promo"))),
                    None,
                    Some(crm("17")),
                ),
                to: "bob@team.example",
                user_id: Some("bob"),
                rule: RoutingRule::CampaignReplyTo,
                reason: format!(
                    "Bob Stone is the reply-to user of campaign 'spring-promo', which sent the \
                     last SMS to this contact on {MAY_1}."
                ),
            },
            // Case 2: never texted; the last call decides.
            Case {
                name: "last call note",
                contact: history(None, Some(note(Some(crm("18")))), Some(crm("17"))),
                to: "bob@team.example",
                user_id: Some("bob"),
                rule: RoutingRule::LastCallNote,
                reason: format!("Bob Stone logged the last call with this contact on {MAY_1}."),
            },
            Case {
                name: "call note without date",
                contact: history(
                    None,
                    Some(LastCallNote {
                        user: Some(crm("18")),
                        logged_at: None,
                    }),
                    None,
                ),
                to: "bob@team.example",
                user_id: Some("bob"),
                rule: RoutingRule::LastCallNote,
                reason: "Bob Stone logged the last call with this contact.".into(),
            },
            // Case 2, no call either: the owner.
            Case {
                name: "owner",
                contact: history(None, None, Some(crm("17"))),
                to: "mary@team.example",
                user_id: Some("mary"),
                rule: RoutingRule::ContactOwner,
                reason: "Mary Anders owns this contact in the CRM.".into(),
            },
            Case {
                name: "owner matched to a user by e-mail",
                contact: history(None, None, Some(ann_by_email)),
                to: "Ann@team.example",
                user_id: Some("ann"),
                rule: RoutingRule::ContactOwner,
                reason: "Ann Lee owns this contact in the CRM.".into(),
            },
            Case {
                name: "owner known only to the CRM",
                contact: history(None, None, Some(pat)),
                to: "pat@elsewhere.example",
                user_id: None,
                rule: RoutingRule::ContactOwner,
                reason: "Pat Kim owns this contact in the CRM.".into(),
            },
            // Nobody linked: the backup address.
            Case {
                name: "no history, no owner",
                contact: history(None, None, None),
                to: "front-desk@team.example",
                user_id: None,
                rule: RoutingRule::BackupEmail,
                reason: no_teammate.into(),
            },
            // Case 3: not a contact at all.
            Case {
                name: "unknown sender",
                contact: None,
                to: "front-desk@team.example",
                user_id: None,
                rule: RoutingRule::UnknownSender,
                reason: "The sender is not a contact in the CRM, so the number's backup \
                         address gets it."
                    .into(),
            },
            // Fall-throughs, each said in the reason.
            Case {
                name: "last sms user left the account",
                contact: history(
                    Some(sms(Some("carol"), None)),
                    Some(note(Some(crm("18")))),
                    None,
                ),
                to: "bob@team.example",
                user_id: Some("bob"),
                rule: RoutingRule::LastCallNote,
                reason: format!(
                    "Bob Stone logged the last call with this contact on {MAY_1}. The last SMS \
                     to this contact (on {MAY_1}) went out for user 'carol', who is no longer \
                     on this account."
                ),
            },
            Case {
                name: "campaign without reply-to",
                contact: history(Some(sms(None, Some("drip"))), None, Some(crm("17"))),
                to: "mary@team.example",
                user_id: Some("mary"),
                rule: RoutingRule::ContactOwner,
                reason: format!(
                    "Mary Anders owns this contact in the CRM. The last SMS to this contact \
                     came from campaign 'drip' on {MAY_1} with no reply-to user."
                ),
            },
            Case {
                name: "manual sms without user",
                contact: history(Some(sms(None, None)), None, Some(crm("17"))),
                to: "mary@team.example",
                user_id: Some("mary"),
                rule: RoutingRule::ContactOwner,
                reason: format!(
                    "Mary Anders owns this contact in the CRM. The last SMS to this contact \
                     (on {MAY_1}) has no user."
                ),
            },
            Case {
                name: "call note user unknown, owner too",
                contact: history(None, Some(note(Some(ghost))), Some(crm("99"))),
                to: "front-desk@team.example",
                user_id: None,
                rule: RoutingRule::BackupEmail,
                reason: format!(
                    "{unreachable} The last call note's user (Gone Person, CRM user 99) is not \
                     on this account and the CRM has no e-mail for them. The contact's owner \
                     (CRM user 99) is not on this account and the CRM has no e-mail for them."
                ),
            },
            Case {
                name: "call note without user",
                contact: history(None, Some(note(None)), Some(crm("18"))),
                to: "bob@team.example",
                user_id: Some("bob"),
                rule: RoutingRule::ContactOwner,
                reason: format!(
                    "Bob Stone owns this contact in the CRM. The last call note on this \
                     contact on {MAY_1} has no user."
                ),
            },
            Case {
                name: "every rule skipped",
                contact: history(
                    Some(sms(Some("carol"), Some("drip"))),
                    Some(note(None)),
                    Some(ghost),
                ),
                to: "front-desk@team.example",
                user_id: None,
                rule: RoutingRule::BackupEmail,
                reason: format!(
                    "{unreachable} The last SMS to this contact (on {MAY_1}) went out for user \
                     'carol', who is no longer on this account. The last call note on this \
                     contact on {MAY_1} has no user. The contact's owner (Gone Person, CRM \
                     user 99) is not on this account and the CRM has no e-mail for them."
                ),
            },
        ];
        let users = users();
        for case in cases {
            let facts = RoutingFacts {
                contact: case.contact,
                users: &users,
                backup_email: &backup,
            };
            let decision = route_inbound(&facts);
            assert_eq!(
                decision,
                RoutingDecision {
                    to: email(case.to),
                    user_id: case.user_id.map(str::to_string),
                    rule: case.rule,
                    reason: case.reason,
                },
                "{}",
                case.name
            );
        }
    }

    #[test]
    fn backup_address_of_a_teammate_names_them() {
        let users = users();
        let backup = email("BOB@team.example");
        for contact in [None, Some(ContactHistory::default())] {
            let decision = route_inbound(&RoutingFacts {
                contact,
                users: &users,
                backup_email: &backup,
            });
            assert_eq!(decision.to, backup);
            assert_eq!(decision.user_id.as_deref(), Some("bob"), "{contact:?}");
        }
    }

    #[test]
    fn utc_formatting() {
        let cases = [
            (0, "1970-01-01 00:00 UTC"),
            (1_714_572_180_000, MAY_1),
            (951_782_400_000, "2000-02-29 00:00 UTC"),
            (1_735_689_599_999, "2024-12-31 23:59 UTC"),
            (-60_000, "1969-12-31 23:59 UTC"),
        ];
        for (ms, expected) in cases {
            assert_eq!(format_utc(Timestamp::from_millis(ms)), expected, "{ms}");
        }
    }
}

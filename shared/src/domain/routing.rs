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
    // The rules in priority order; each one that cannot choose says why in `skipped`.
    let mut skipped = Vec::new();
    let choice = history
        .last_sms
        .and_then(|sms| by_last_sms(facts.users, sms, &mut skipped))
        .or_else(|| {
            let note = history.last_call_note?;
            by_last_call_note(facts.users, note, &mut skipped)
        })
        .or_else(|| by_owner(facts.users, history.owner?, &mut skipped));
    if let Some(choice) = choice {
        return choice.decision(skipped);
    }
    let reason = if skipped.is_empty() {
        "No teammate is linked to this contact, so the number's backup address gets it."
    } else {
        "No reachable teammate is linked to this contact, so the number's backup address gets it."
    };
    backup(facts, RoutingRule::BackupEmail, reason.to_string(), skipped)
}

/// What one rule chose, before the skipped rules are added to the reason.
struct Choice<'a> {
    target: Target<'a>,
    rule: RoutingRule,
    reason: String,
}

impl Choice<'_> {
    /// The decision, its reason followed by why each rule before was skipped.
    fn decision(self, skipped: Vec<String>) -> RoutingDecision {
        RoutingDecision {
            to: self.target.email.clone(),
            user_id: self.target.user_id.map(str::to_string),
            rule: self.rule,
            reason: with_skipped(self.reason, skipped),
        }
    }
}

/// Rule 1: the user the last SMS went out for (a campaign's reply-to user: case 4).
fn by_last_sms<'a>(
    users: &'a BTreeMap<String, User>,
    sms: LastSms<'_>,
    skipped: &mut Vec<String>,
) -> Option<Choice<'a>> {
    let on = format_utc(sms.sent_at);
    let Some(id) = sms.user_id else {
        skipped.push(match sms.campaign {
            Some(c) => format!(
                "The last SMS to this contact came from campaign '{c}' on {on} \
                 with no reply-to user."
            ),
            None => format!("The last SMS to this contact (on {on}) has no user."),
        });
        return None;
    };
    let Some(user) = users.get(id) else {
        skipped.push(format!(
            "The last SMS to this contact (on {on}) went out for user '{id}', \
             who is no longer on this account."
        ));
        return None;
    };
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
    Some(Choice {
        target: Target::user(user),
        rule,
        reason,
    })
}

/// Rule 2: the user of the last call note.
fn by_last_call_note<'a>(
    users: &'a BTreeMap<String, User>,
    note: LastCallNote<'a>,
    skipped: &mut Vec<String>,
) -> Option<Choice<'a>> {
    let when = note
        .logged_at
        .map(|t| format!(" on {}", format_utc(t)))
        .unwrap_or_default();
    let Some(crm_user) = note.user else {
        skipped.push(format!(
            "The last call note on this contact{when} has no user."
        ));
        return None;
    };
    by_crm_user(
        users,
        &crm_user,
        "The last call note's user",
        RoutingRule::LastCallNote,
        |name| format!("{name} logged the last call with this contact{when}."),
        skipped,
    )
}

/// Rule 3: the contact's owner in the CRM.
fn by_owner<'a>(
    users: &'a BTreeMap<String, User>,
    owner: CrmUserRef<'a>,
    skipped: &mut Vec<String>,
) -> Option<Choice<'a>> {
    by_crm_user(
        users,
        &owner,
        "The contact's owner",
        RoutingRule::ContactOwner,
        |name| format!("{name} owns this contact in the CRM."),
        skipped,
    )
}

/// A rule that names a CRM user: chooses who they resolve to, else says that `whose`
/// user cannot be reached.
fn by_crm_user<'a>(
    users: &'a BTreeMap<String, User>,
    crm_user: &CrmUserRef<'a>,
    whose: &str,
    rule: RoutingRule,
    reason: impl FnOnce(&str) -> String,
    skipped: &mut Vec<String>,
) -> Option<Choice<'a>> {
    let Some(target) = resolve(users, crm_user) else {
        skipped.push(format!(
            "{whose} ({}) is not on this account and the CRM has no e-mail for them.",
            describe(crm_user)
        ));
        return None;
    };
    let reason = reason(&target.name);
    Some(Choice {
        target,
        rule,
        reason,
    })
}

/// Who a rule resolved to: an account user, or a CRM user known only by e-mail.
struct Target<'a> {
    name: String,
    email: &'a EmailAddress,
    user_id: Option<&'a str>,
}

impl<'a> Target<'a> {
    fn user(user: &'a User) -> Target<'a> {
        Target {
            name: user.name.clone(),
            email: &user.email,
            user_id: Some(&user.id),
        }
    }
}

/// A CRM user as an account user (by CRM id, then by e-mail), else by the CRM's e-mail.
fn resolve<'a>(users: &'a BTreeMap<String, User>, crm_user: &CrmUserRef<'a>) -> Option<Target<'a>> {
    let account_user = users
        .values()
        .find(|u| u.crm_user_id.as_deref() == Some(crm_user.crm_user_id))
        .or_else(|| crm_user.email.and_then(|e| user_with_email(users, e)));
    if let Some(user) = account_user {
        return Some(Target::user(user));
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
mod tests;

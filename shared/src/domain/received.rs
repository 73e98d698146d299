//! "Has received SMS" (Connectif's condition node): whether a contact was sent messages of
//! a kind, a campaign and a status within a time window, answered from the conversation's
//! stored messages. The CRM route (`POST /crm/{account}/received`) and the sequence
//! condition `has_received` share this filter and its reading of the words.
//!
//! Only outbound messages count. `status: sent` (the default) counts messages the carrier
//! took and did not report failed (`sent`, `delivered`, `read`); `status: delivered` only
//! those delivered to the handset (`delivered`, `read`). A kind filter matches messages
//! stored with their kind (every message sent since the kind was recorded); the campaign
//! is compared ignoring case and surrounding spaces. `since` is a day (`2024-05-01`, from
//! 00:00 UTC) or an RFC 3339 time; `withinDays` counts back from now.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::consent::SendKind;
use super::message::{Direction, MessageRecord, MessageStatus};
use super::time::Timestamp;
use super::{MessageId, PhoneNumber};

/// The longest window `withinDays` takes (ten years).
pub const MAX_WITHIN_DAYS: u32 = 3650;
/// How many of a conversation's newest messages in the window one check reads: one
/// bounded read however long the conversation is (`ReceivedTally::complete` says when the
/// window held more).
pub const MESSAGES_READ: usize = 200;

/// A conversation's newest messages in a time window, newest first: what a check reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MessageWindow {
    pub messages: Vec<MessageRecord>,
    /// False when the window held more messages than were read.
    pub complete: bool,
}

/// Which delivery state a message must have reached to count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceivedStatus {
    #[default]
    Sent,
    Delivered,
}

impl ReceivedStatus {
    fn counts(self, status: MessageStatus) -> bool {
        match self {
            ReceivedStatus::Sent => matches!(
                status,
                MessageStatus::Sent | MessageStatus::Delivered | MessageStatus::Read
            ),
            ReceivedStatus::Delivered => {
                matches!(status, MessageStatus::Delivered | MessageStatus::Read)
            }
        }
    }
}

/// How far back messages count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// Every message the conversation holds.
    Always,
    Since(Timestamp),
    WithinDays(u32),
}

impl Window {
    /// The earliest creation time that counts, at `now`.
    pub fn since(self, now: Timestamp) -> Option<Timestamp> {
        match self {
            Window::Always => None,
            Window::Since(at) => Some(at),
            Window::WithinDays(days) => Some(Timestamp::from_millis(
                now.as_millis() - i64::from(days) * DAY.as_millis() as i64,
            )),
        }
    }
}

const DAY: Duration = Duration::from_secs(24 * 3600);

/// What a message must be to count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedFilter {
    /// Empty: any kind.
    pub kinds: Vec<SendKind>,
    pub campaign: Option<String>,
    pub status: ReceivedStatus,
    pub window: Window,
}

/// The filter as written: in a CRM request's fields or a sequence file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterWords<'a> {
    /// Kinds, comma-separated (`bulk,transactional`) or one per value.
    pub kinds: Vec<&'a str>,
    pub campaign: Option<&'a str>,
    pub status: Option<&'a str>,
    pub since: Option<&'a str>,
    pub within_days: Option<&'a str>,
}

/// Why a filter cannot be read. `code()` is stable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceivedFilterError {
    #[error("'{0}' is not a message type: use bulk, transactional or alert")]
    UnknownKind(String),
    #[error("'{0}' is not a status to filter on: use sent or delivered")]
    UnknownStatus(String),
    #[error("since '{0}' is not a day (2024-05-01) or an RFC 3339 time (2024-05-01T09:00:00Z)")]
    BadSince(String),
    #[error("withinDays '{0}' must be a whole number of days from 1 to {MAX_WITHIN_DAYS}")]
    BadWithinDays(String),
    #[error("give since or withinDays, not both")]
    TwoWindows,
    #[error("campaign is longer than 200 characters")]
    CampaignTooLong,
}

impl ReceivedFilterError {
    pub fn code(&self) -> &'static str {
        match self {
            ReceivedFilterError::UnknownKind(_) => "invalid_type",
            ReceivedFilterError::UnknownStatus(_) => "invalid_status",
            ReceivedFilterError::BadSince(_) => "invalid_since",
            ReceivedFilterError::BadWithinDays(_) => "invalid_within_days",
            ReceivedFilterError::TwoWindows => "two_windows",
            ReceivedFilterError::CampaignTooLong => "invalid_campaign",
        }
    }
}

impl ReceivedFilter {
    pub fn parse(words: &FilterWords<'_>) -> Result<ReceivedFilter, ReceivedFilterError> {
        let kinds = parse_kinds(&words.kinds)?;
        let status = match words.status.map(str::trim).filter(|s| !s.is_empty()) {
            None => ReceivedStatus::Sent,
            Some(s) if s.eq_ignore_ascii_case("sent") => ReceivedStatus::Sent,
            Some(s) if s.eq_ignore_ascii_case("delivered") => ReceivedStatus::Delivered,
            Some(other) => return Err(ReceivedFilterError::UnknownStatus(other.into())),
        };
        let campaign = words
            .campaign
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_string);
        if campaign.as_ref().is_some_and(|c| c.chars().count() > 200) {
            return Err(ReceivedFilterError::CampaignTooLong);
        }
        let window = parse_window(words.since, words.within_days)?;
        Ok(ReceivedFilter {
            kinds,
            campaign,
            status,
            window,
        })
    }

    /// Whether `message` counts, given the window's start (`since`, from [`Window::since`]).
    pub fn counts(&self, message: &MessageRecord, since: Option<Timestamp>) -> bool {
        message.direction == Direction::Outbound
            && since.is_none_or(|at| message.created_at >= at)
            && self.status.counts(message.status)
            && (self.kinds.is_empty() || message.kind.is_some_and(|k| self.kinds.contains(&k)))
            && self.campaign.as_deref().is_none_or(|wanted| {
                message
                    .campaign
                    .as_deref()
                    .is_some_and(|c| c.trim().eq_ignore_ascii_case(wanted))
            })
    }

    /// What `read` (a conversation's newest messages in the window) says at `now`.
    pub fn tally(&self, read: &MessageWindow, now: Timestamp) -> ReceivedTally {
        let since = self.window.since(now);
        let counted: Vec<&MessageRecord> = read
            .messages
            .iter()
            .filter(|m| self.counts(m, since))
            .collect();
        ReceivedTally {
            received: !counted.is_empty(),
            count: counted.len(),
            complete: read.complete,
            last: counted.first().map(|m| LastReceived::of(m)),
        }
    }
}

/// Where a read that serves every one of `filters` starts at `now`: the earliest of their
/// windows' starts (`None`: every message; `now` when there are no filters).
pub fn widest_since(filters: &[&ReceivedFilter], now: Timestamp) -> Option<Timestamp> {
    if filters.is_empty() {
        return Some(now);
    }
    filters
        .iter()
        .map(|f| f.window.since(now))
        .try_fold(Timestamp::from_millis(i64::MAX), |earliest, since| {
            since.map(|at| earliest.min(at))
        })
}

fn parse_kinds(words: &[&str]) -> Result<Vec<SendKind>, ReceivedFilterError> {
    let mut kinds = Vec::new();
    for word in words.iter().flat_map(|w| w.split(',')).map(str::trim) {
        if word.is_empty() {
            continue;
        }
        let kind = word
            .parse::<SendKind>()
            .map_err(|_| ReceivedFilterError::UnknownKind(word.to_string()))?;
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    Ok(kinds)
}

fn parse_window(
    since: Option<&str>,
    within_days: Option<&str>,
) -> Result<Window, ReceivedFilterError> {
    let since = since.map(str::trim).filter(|s| !s.is_empty());
    let within_days = within_days.map(str::trim).filter(|s| !s.is_empty());
    match (since, within_days) {
        (Some(_), Some(_)) => Err(ReceivedFilterError::TwoWindows),
        (Some(at), None) => parse_since(at).map(Window::Since),
        (None, Some(days)) => match days.parse::<u32>() {
            Ok(n) if (1..=MAX_WITHIN_DAYS).contains(&n) => Ok(Window::WithinDays(n)),
            _ => Err(ReceivedFilterError::BadWithinDays(days.to_string())),
        },
        (None, None) => Ok(Window::Always),
    }
}

/// A day (00:00 UTC) or an RFC 3339 time.
fn parse_since(text: &str) -> Result<Timestamp, ReceivedFilterError> {
    let bad = || ReceivedFilterError::BadSince(text.to_string());
    let instant = match text.parse::<jiff::Timestamp>() {
        Ok(instant) => instant,
        Err(_) => text
            .parse::<jiff::civil::Date>()
            .map_err(|_| bad())?
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map_err(|_| bad())?
            .timestamp(),
    };
    Ok(Timestamp::from_millis(instant.as_millisecond()))
}

/// What a check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedTally {
    pub received: bool,
    /// How many messages counted among those read.
    pub count: usize,
    /// False when the window held more than [`MESSAGES_READ`] messages: `count` is then
    /// the count among the newest of them.
    pub complete: bool,
    /// The newest message that counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last: Option<LastReceived>,
}

/// The newest message that counted, as the CRM is told of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastReceived {
    pub message_id: MessageId,
    pub to: PhoneNumber,
    /// RFC 3339, UTC.
    pub sent_at: String,
    pub status: MessageStatus,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<SendKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
}

impl LastReceived {
    fn of(message: &MessageRecord) -> LastReceived {
        LastReceived {
            message_id: message.id.clone(),
            to: message.contact_phone.clone(),
            sent_at: rfc3339(message.created_at),
            status: message.status,
            kind: message.kind,
            campaign: message.campaign.clone(),
        }
    }
}

fn rfc3339(at: Timestamp) -> String {
    jiff::Timestamp::from_millisecond(at.as_millis())
        .map(|t| t.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
#[path = "received_tests.rs"]
mod tests;

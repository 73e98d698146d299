//! Quiet hours: an account may hold bulk messages outside a daily window in the
//! recipient's local time (held, never dropped; transactional messages and alerts are not
//! held).
//!
//! The recipient's time zone comes from the number. Where its country spans several zones
//! (the US, Canada, Australia...), the message goes only when the window is open in all of
//! them: without the CRM's time zone we cannot tell a New York number from a Los Angeles
//! one, and it is better to text a little later than at night. A country not in the table
//! uses the account's own zone.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use jiff::Timestamp as Instant;
use jiff::civil::Time;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use super::phone::PhoneNumber;
use super::time::Timestamp;

/// A time of day, `HH:MM` in 24-hour form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeOfDay {
    minutes: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuietHoursError {
    #[error("'{0}' is not a time of day: write HH:MM, 24-hour (e.g. 08:00, 21:30)")]
    Time(String),
    #[error("'{0}' is not an IANA time zone (e.g. America/New_York)")]
    Zone(String),
    #[error("the quiet hours start and end at the same time, which leaves no window to send in")]
    Empty,
}

impl TimeOfDay {
    pub fn new(hour: u16, minute: u16) -> Option<TimeOfDay> {
        (hour < 24 && minute < 60).then_some(TimeOfDay {
            minutes: hour * 60 + minute,
        })
    }

    fn of(time: Time) -> TimeOfDay {
        let hour = u16::try_from(time.hour()).unwrap_or(0);
        let minute = u16::try_from(time.minute()).unwrap_or(0);
        TimeOfDay {
            minutes: hour * 60 + minute,
        }
    }
}

impl FromStr for TimeOfDay {
    type Err = QuietHoursError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || QuietHoursError::Time(s.to_string());
        let (h, m) = s.trim().split_once(':').ok_or_else(bad)?;
        if h.is_empty() || h.len() > 2 || m.len() != 2 {
            return Err(bad());
        }
        let hour = h.parse().map_err(|_| bad())?;
        let minute = m.parse().map_err(|_| bad())?;
        TimeOfDay::new(hour, minute).ok_or_else(bad)
    }
}

impl TryFrom<String> for TimeOfDay {
    type Error = QuietHoursError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<TimeOfDay> for String {
    fn from(t: TimeOfDay) -> String {
        t.to_string()
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.minutes / 60, self.minutes % 60)
    }
}

/// An account's quiet hours: from `start` to `end` local time (across midnight when
/// `start` is later than `end`), bulk messages wait.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuietHours {
    pub start: TimeOfDay,
    pub end: TimeOfDay,
    /// The zone of recipients whose country the table below does not know.
    pub default_zone: String,
}

/// How finely the next open time is searched for (windows start on whole minutes; five
/// minutes late is fine for a held bulk message).
const STEP_MINUTES: i64 = 5;
/// A window is open at least once a day in every zone; two days covers any intersection.
const SEARCH_DAYS: i64 = 2;

impl QuietHours {
    pub fn new(
        start: TimeOfDay,
        end: TimeOfDay,
        default_zone: &str,
    ) -> Result<Self, QuietHoursError> {
        if start == end {
            return Err(QuietHoursError::Empty);
        }
        TimeZone::get(default_zone).map_err(|_| QuietHoursError::Zone(default_zone.to_string()))?;
        Ok(QuietHours {
            start,
            end,
            default_zone: default_zone.to_string(),
        })
    }

    fn quiet_at(&self, local: TimeOfDay) -> bool {
        if self.start < self.end {
            self.start <= local && local < self.end
        } else {
            local >= self.start || local < self.end
        }
    }

    /// `None` if a bulk message to `phone` may go at `now`; else the earliest time it may.
    /// The recipient's zone is `known_zone` (the CRM's, when it is a valid IANA zone), else
    /// guessed from the number's country.
    pub fn hold_until(
        &self,
        phone: &PhoneNumber,
        known_zone: Option<&str>,
        now: Timestamp,
    ) -> Option<Timestamp> {
        let zones = match known_zone.and_then(|z| TimeZone::get(z.trim()).ok()) {
            Some(zone) => vec![zone],
            None => recipient_zones(phone, &self.default_zone),
        };
        let open_at = |ms: i64| {
            let Ok(instant) = Instant::from_millisecond(ms) else {
                return true;
            };
            zones.iter().all(|zone| {
                let local = instant.to_zoned(zone.clone()).time();
                !self.quiet_at(TimeOfDay::of(local))
            })
        };
        let now_ms = now.as_millis();
        if open_at(now_ms) {
            return None;
        }
        let step = STEP_MINUTES * 60_000;
        // The next step boundary after now, then every step: windows open on whole minutes.
        let first = (now_ms / step + 1) * step;
        let steps = SEARCH_DAYS * 24 * 60 / STEP_MINUTES;
        (0..steps)
            .map(|i| first + i * step)
            .find(|ms| open_at(*ms))
            .map(Timestamp::from_millis)
            // No common window (zones too far apart for it): hold one day and look again.
            .or(Some(now.plus(Duration::from_secs(24 * 3600))))
    }
}

/// The zones a number's recipient may be in: by its country code (E.164 prefix), else the
/// account's default zone.
fn recipient_zones(phone: &PhoneNumber, default_zone: &str) -> Vec<TimeZone> {
    let names: &[&str] = zones_by_prefix(phone.digits()).unwrap_or(&[]);
    let mut zones: Vec<TimeZone> = names.iter().filter_map(|n| TimeZone::get(n).ok()).collect();
    if zones.is_empty() {
        zones.extend(TimeZone::get(default_zone).ok());
    }
    if zones.is_empty() {
        zones.push(TimeZone::UTC);
    }
    zones
}

/// Zones by E.164 country code, longest prefix first where codes nest. NANP (`1`) is the
/// continental US and Canada: Hawaii and Alaska numbers cannot be told apart without the
/// area code and are left to the continental window.
fn zones_by_prefix(digits: &str) -> Option<&'static [&'static str]> {
    const TABLE: &[(&str, &[&str])] = &[
        (
            "1",
            &[
                "America/St_Johns",
                "America/Halifax",
                "America/New_York",
                "America/Chicago",
                "America/Denver",
                "America/Phoenix",
                "America/Los_Angeles",
            ],
        ),
        ("44", &["Europe/London"]),
        ("353", &["Europe/Dublin"]),
        ("33", &["Europe/Paris"]),
        ("34", &["Europe/Madrid", "Atlantic/Canary"]),
        ("351", &["Europe/Lisbon"]),
        ("49", &["Europe/Berlin"]),
        ("39", &["Europe/Rome"]),
        ("31", &["Europe/Amsterdam"]),
        ("32", &["Europe/Brussels"]),
        ("41", &["Europe/Zurich"]),
        ("43", &["Europe/Vienna"]),
        ("45", &["Europe/Copenhagen"]),
        ("46", &["Europe/Stockholm"]),
        ("47", &["Europe/Oslo"]),
        ("48", &["Europe/Warsaw"]),
        ("358", &["Europe/Helsinki"]),
        ("30", &["Europe/Athens"]),
        (
            "52",
            &["America/Mexico_City", "America/Tijuana", "America/Cancun"],
        ),
        ("55", &["America/Sao_Paulo", "America/Manaus"]),
        ("54", &["America/Argentina/Buenos_Aires"]),
        ("56", &["America/Santiago"]),
        ("57", &["America/Bogota"]),
        (
            "61",
            &["Australia/Sydney", "Australia/Adelaide", "Australia/Perth"],
        ),
        ("64", &["Pacific/Auckland"]),
        ("27", &["Africa/Johannesburg"]),
        ("91", &["Asia/Kolkata"]),
        ("65", &["Asia/Singapore"]),
        ("81", &["Asia/Tokyo"]),
        ("972", &["Asia/Jerusalem"]),
        ("971", &["Asia/Dubai"]),
    ];
    TABLE
        .iter()
        .filter(|(prefix, _)| digits.starts_with(prefix))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, zones)| *zones)
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::phone;
    use super::*;

    fn at(rfc3339: &str) -> Timestamp {
        let instant: Instant = rfc3339.parse().expect("test instant");
        Timestamp::from_millis(instant.as_millisecond())
    }

    fn hours(start: &str, end: &str) -> QuietHours {
        QuietHours::new(
            start.parse().expect("start"),
            end.parse().expect("end"),
            "Europe/London",
        )
        .expect("valid quiet hours")
    }

    #[test]
    fn times_of_day() {
        for (input, ok) in [
            ("08:00", true),
            ("8:30", true),
            ("23:59", true),
            ("24:00", false),
            ("12:60", false),
            ("noon", false),
            ("12", false),
            ("12:5", false),
            ("", false),
        ] {
            assert_eq!(input.parse::<TimeOfDay>().is_ok(), ok, "{input}");
        }
        assert_eq!(
            "8:05".parse::<TimeOfDay>().map(|t| t.to_string()),
            Ok("08:05".into())
        );
        assert_eq!(
            QuietHours::new(
                "09:00".parse().expect("t"),
                "09:00".parse().expect("t"),
                "UTC"
            ),
            Err(QuietHoursError::Empty)
        );
        assert!(matches!(
            QuietHours::new(
                "21:00".parse().expect("t"),
                "08:00".parse().expect("t"),
                "Mars/Base"
            ),
            Err(QuietHoursError::Zone(_))
        ));
    }

    #[test]
    fn holds_until_the_window_opens_everywhere_the_number_may_be() {
        let night = hours("21:00", "08:00");
        let cases = [
            // A UK number at 22:00 London (winter, UTC): held until 08:00.
            (
                "+447911123456",
                "2026-01-15T22:00:00Z",
                Some("2026-01-16T08:00:00Z"),
            ),
            // At 12:00: sent.
            ("+447911123456", "2026-01-15T12:00:00Z", None),
            // Summer time: 07:30 BST is 06:30 UTC, held until 08:00 BST = 07:00 UTC.
            (
                "+447911123456",
                "2026-07-15T06:30:00Z",
                Some("2026-07-15T07:00:00Z"),
            ),
            // A US number at 12:00 UTC (7:00 New York, 4:00 Los Angeles, winter): held until
            // 08:00 in Los Angeles (16:00 UTC), the last continental zone to open.
            (
                "+16125550100",
                "2026-01-15T12:00:00Z",
                Some("2026-01-15T16:00:00Z"),
            ),
            // 18:00 UTC: 13:00 New York, 10:00 Los Angeles: sent.
            ("+16125550100", "2026-01-15T18:00:00Z", None),
            // 02:30 UTC: 21:30 New York (closed there), 18:30 Los Angeles: held until the
            // next common window, 16:00 UTC.
            (
                "+16125550100",
                "2026-01-15T02:30:00Z",
                Some("2026-01-15T16:00:00Z"),
            ),
            // A country not in the table uses the account's zone (London).
            (
                "+2348031234567",
                "2026-01-15T23:00:00Z",
                Some("2026-01-16T08:00:00Z"),
            ),
        ];
        for (number, now, want) in cases {
            assert_eq!(
                night.hold_until(&phone(number), None, at(now)),
                want.map(at),
                "{number} at {now}"
            );
        }
    }

    #[test]
    fn the_crms_zone_wins_over_the_numbers_guess() {
        let night = hours("21:00", "08:00");
        let us = phone("+16125550100");
        // 12:00 UTC: 7:00 in New York and earlier further west, held by the guess; the CRM
        // says the contact lives in Berlin (13:00 there): sent.
        let now = at("2026-01-15T12:00:00Z");
        let cases = [
            (None, Some(at("2026-01-15T16:00:00Z"))),
            (Some("Europe/Berlin"), None),
            (Some(" Europe/Berlin "), None),
            // New York alone opens at 08:00 there, 13:00 UTC.
            (Some("America/New_York"), Some(at("2026-01-15T13:00:00Z"))),
            // Not a zone: the guess.
            (Some("Central"), Some(at("2026-01-15T16:00:00Z"))),
        ];
        for (zone, want) in cases {
            assert_eq!(night.hold_until(&us, zone, now), want, "{zone:?}");
        }
    }

    #[test]
    fn a_window_within_one_day() {
        // Quiet over lunch only (start < end).
        let lunch = hours("12:00", "13:00");
        let uk = phone("+447911123456");
        assert_eq!(
            lunch.hold_until(&uk, None, at("2026-01-15T11:59:00Z")),
            None
        );
        assert_eq!(
            lunch.hold_until(&uk, None, at("2026-01-15T12:10:00Z")),
            Some(at("2026-01-15T13:00:00Z"))
        );
        assert_eq!(
            lunch.hold_until(&uk, None, at("2026-01-15T13:00:00Z")),
            None
        );
    }
}

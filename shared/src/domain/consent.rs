//! Who may be texted, following Connectif's consent model (see "Consent" in
//! `docs/glossary.md`): each contact's phone has a status (`active`, `bounced`, `paused`)
//! and an SMS subscription (`subscribed`, `unsubscribed`, `none`), and each send is bulk,
//! transactional or an alert. On top of both, smsflow's own opt-out list (STOP) always wins.
//!
//! Also here: how a phone's status follows delivery outcomes (bounce handling).

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::twilio_errors::ErrorClass;
use super::words::enum_words;

/// Whether a phone may be texted at all ("Phone health" in `docs/glossary.md`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhoneStatus {
    #[default]
    Active,
    /// The last attempts failed for good: no more sends until it proves reachable again.
    Bounced,
    /// Stopped by an operator: only an operator resumes it.
    Paused,
}

/// The contact's SMS subscription ("Subscription" in `docs/glossary.md`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    /// Receives bulk and transactional messages.
    Subscribed,
    /// Receives transactional messages only.
    Unsubscribed,
    /// `none`, the default: nothing is known, treated like `unsubscribed`.
    #[default]
    #[serde(rename = "none")]
    Unknown,
}

/// What a message is, which decides the consent it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendKind {
    /// Marketing to many contacts.
    Bulk,
    /// A message the contact's own action triggered (a receipt, a reminder).
    Transactional,
    /// An alert: sent to the account's fixed alert number, not to the contact.
    Alert,
}

/// A value that is not one of the words above.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{value}' is not a {what}: use one of {allowed}")]
pub struct UnknownConsentValue {
    pub value: String,
    pub what: &'static str,
    pub allowed: &'static str,
}

macro_rules! words {
    ($ty:ty, $what:literal, $($word:literal => $variant:path),+ $(,)?) => {
        enum_words!($ty, $($variant => $word),+);

        impl FromStr for $ty {
            type Err = UnknownConsentValue;
            /// Case-insensitive; surrounding spaces ignored.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let word = s.trim().to_ascii_lowercase();
                $(if word == $word {
                    return Ok($variant);
                })+
                Err(UnknownConsentValue {
                    value: s.to_string(),
                    what: $what,
                    allowed: concat!($($word, " "),+).trim_ascii_end(),
                })
            }
        }
    };
}

words!(PhoneStatus, "phone status",
    "active" => PhoneStatus::Active,
    "bounced" => PhoneStatus::Bounced,
    "paused" => PhoneStatus::Paused,
);
words!(SubscriptionStatus, "subscription status",
    "subscribed" => SubscriptionStatus::Subscribed,
    "unsubscribed" => SubscriptionStatus::Unsubscribed,
    "none" => SubscriptionStatus::Unknown,
);
words!(SendKind, "send kind",
    "bulk" => SendKind::Bulk,
    "transactional" => SendKind::Transactional,
    "alert" => SendKind::Alert,
);

/// Why a message may not be sent; each can be told to the CRM as is. `code()` is stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum ConsentRefusal {
    #[error("the recipient opted out (replied STOP) and has not opted back in")]
    OptedOut,
    #[error("the recipient's phone is bounced: recent messages to it failed permanently")]
    PhoneBounced,
    #[error("the recipient's phone is paused by an operator")]
    PhonePaused,
    #[error("bulk messages need a subscribed contact; this one is '{subscription}'")]
    NotSubscribed { subscription: SubscriptionStatus },
}

impl ConsentRefusal {
    pub fn code(&self) -> &'static str {
        match self {
            ConsentRefusal::OptedOut => "opted_out",
            ConsentRefusal::PhoneBounced => "phone_bounced",
            ConsentRefusal::PhonePaused => "phone_paused",
            ConsentRefusal::NotSubscribed { .. } => "not_subscribed",
        }
    }
}

/// Whether a message of `kind` may go to a recipient in this state.
///
/// - Opted out (smsflow's own STOP list): always refused. STOP wins over any CRM field.
/// - The phone must be `active`: `bounced` and `paused` phones get nothing.
/// - Bulk also needs `subscribed`; transactional takes any subscription (`unsubscribed`
///   and `none` still receive transactional messages).
/// - Alert: the recipient is the account's alert number, so pass *that number's* state,
///   not the contact's. It needs what transactional needs: the team chose the number
///   (no subscription applies), but its STOP and an operator's pause are still honoured,
///   and a bounced alert number is not retried forever.
///
/// When several reasons apply, the first in this order is given: opted out, paused,
/// bounced, not subscribed.
pub fn may_send(
    kind: SendKind,
    phone_status: PhoneStatus,
    subscription: SubscriptionStatus,
    opted_out: bool,
) -> Result<(), ConsentRefusal> {
    if opted_out {
        return Err(ConsentRefusal::OptedOut);
    }
    match phone_status {
        PhoneStatus::Active => {}
        PhoneStatus::Paused => return Err(ConsentRefusal::PhonePaused),
        PhoneStatus::Bounced => return Err(ConsentRefusal::PhoneBounced),
    }
    match (kind, subscription) {
        (SendKind::Bulk, SubscriptionStatus::Subscribed) => Ok(()),
        (SendKind::Bulk, subscription) => Err(ConsentRefusal::NotSubscribed { subscription }),
        (SendKind::Transactional | SendKind::Alert, _) => Ok(()),
    }
}

/// A phone's status with what bounce detection needs to remember.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneHealth {
    pub status: PhoneStatus,
    /// Hard failures since the last sign of life (delivery, inbound text, operator reset).
    pub consecutive_hard_failures: u32,
}

/// Something that tells us about a phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneEvent {
    /// A send failed in a way that says the number cannot get SMS (see `after_failure`).
    HardFailure,
    /// A delivery report of `delivered`.
    Delivered,
    /// The phone texted us.
    InboundText,
    /// An operator set the status (the only way in or out of `paused`).
    OperatorSet(PhoneStatus),
}

impl PhoneEvent {
    /// The event a failed send is for its recipient's phone, if any.
    ///
    /// Hard: the number cannot get SMS (not SMS capable, invalid) or the carrier blocks
    /// it. Not counted: opt-outs (recorded as such, not as bounces), filtering and sender
    /// problems (the fix is on our side), rate limits, transient failures (handset off)
    /// and anything unclassified. Those neither count nor reset the run of hard failures:
    /// they say nothing about the phone.
    pub fn after_failure(class: ErrorClass) -> Option<PhoneEvent> {
        match class {
            ErrorClass::NotSmsCapable | ErrorClass::InvalidNumber | ErrorClass::Blocked => {
                Some(PhoneEvent::HardFailure)
            }
            ErrorClass::OptedOut
            | ErrorClass::SpamFiltered
            | ErrorClass::RateOrQueue
            | ErrorClass::Transient
            | ErrorClass::Other => None,
        }
    }
}

/// How many hard failures in a row bounce a phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BouncePolicy {
    /// Values below 1 act as 1.
    pub hard_failures_to_bounce: u32,
}

impl Default for BouncePolicy {
    fn default() -> Self {
        BouncePolicy {
            hard_failures_to_bounce: 3,
        }
    }
}

/// The phone's state after `event`.
///
/// - `N` hard failures in a row (the policy's threshold) turn an `active` phone `bounced`.
/// - A delivery or an inbound text proves the phone works: `active` again, count cleared.
/// - `paused` is changed only by an operator; traffic leaves a paused phone as it is.
/// - An operator's setting always applies and clears the count.
pub fn phone_status_after(
    current: PhoneHealth,
    event: PhoneEvent,
    policy: BouncePolicy,
) -> PhoneHealth {
    let cleared = |status| PhoneHealth {
        status,
        consecutive_hard_failures: 0,
    };
    match (current.status, event) {
        (_, PhoneEvent::OperatorSet(status)) => cleared(status),
        (PhoneStatus::Paused, _) => current,
        (_, PhoneEvent::Delivered | PhoneEvent::InboundText) => cleared(PhoneStatus::Active),
        (status, PhoneEvent::HardFailure) => {
            let failures = current.consecutive_hard_failures.saturating_add(1);
            let bounced = failures >= policy.hard_failures_to_bounce.max(1);
            PhoneHealth {
                status: if bounced {
                    PhoneStatus::Bounced
                } else {
                    status
                },
                consecutive_hard_failures: failures,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConsentRefusal::*;
    use PhoneStatus::{Active, Bounced, Paused};
    use SendKind::{Alert, Bulk, Transactional};
    use SubscriptionStatus::{Subscribed, Unknown, Unsubscribed};

    #[test]
    fn consent_matrix() {
        let not_subscribed = |subscription| Err(NotSubscribed { subscription });
        let bounced = [Err(PhoneBounced), Err(PhoneBounced), Err(PhoneBounced)];
        let paused = [Err(PhonePaused), Err(PhonePaused), Err(PhonePaused)];
        let always = [Ok(()), Ok(()), Ok(())];
        // Every combination: kind x phone status x subscription x opted out. The outcomes
        // are by subscription, in this order:
        let subscriptions = [Subscribed, Unsubscribed, Unknown];
        let cases = [
            (
                Bulk,
                Active,
                [
                    Ok(()),
                    not_subscribed(Unsubscribed),
                    not_subscribed(Unknown),
                ],
            ),
            (Bulk, Bounced, bounced),
            (Bulk, Paused, paused),
            (Transactional, Active, always),
            (Transactional, Bounced, bounced),
            (Transactional, Paused, paused),
            (Alert, Active, always),
            (Alert, Bounced, bounced),
            (Alert, Paused, paused),
        ];
        for (kind, phone, outcomes) in cases {
            for (subscription, want) in subscriptions.into_iter().zip(outcomes) {
                let opted_out = false;
                assert_eq!(
                    may_send(kind, phone, subscription, opted_out),
                    want,
                    "{kind} {phone} {subscription} opted_out={opted_out}"
                );
                // STOP wins over everything else.
                assert_eq!(
                    may_send(kind, phone, subscription, true),
                    Err(OptedOut),
                    "{kind} {phone} {subscription} opted out"
                );
            }
        }
    }

    #[test]
    fn refusal_codes_and_messages() {
        let cases = [
            (OptedOut, "opted_out"),
            (PhoneBounced, "phone_bounced"),
            (PhonePaused, "phone_paused"),
            (
                NotSubscribed {
                    subscription: Unknown,
                },
                "not_subscribed",
            ),
        ];
        for (refusal, code) in cases {
            assert_eq!(refusal.code(), code);
        }
        assert_eq!(
            NotSubscribed {
                subscription: Unknown
            }
            .to_string(),
            "bulk messages need a subscribed contact; this one is 'none'"
        );
    }

    #[test]
    fn words_round_trip_and_parse_leniently() {
        for s in [Active, Bounced, Paused] {
            assert_eq!(s.as_str().parse(), Ok(s));
        }
        for s in [Subscribed, Unsubscribed, Unknown] {
            assert_eq!(s.as_str().parse(), Ok(s));
        }
        for k in [Bulk, Transactional, Alert] {
            assert_eq!(k.as_str().parse(), Ok(k));
        }
        assert_eq!(" Bounced ".parse(), Ok(Bounced));
        assert_eq!("NONE".parse(), Ok(Unknown));
        assert_eq!("Transactional".parse(), Ok(Transactional));
        let e = "newsletter".parse::<SendKind>().expect_err("not a kind");
        assert_eq!(
            e.to_string(),
            "'newsletter' is not a send kind: use one of bulk transactional alert"
        );
        assert!("unknown".parse::<SubscriptionStatus>().is_err());
        assert!("inactive".parse::<PhoneStatus>().is_err());
    }

    #[test]
    fn serde_uses_connectifs_words() {
        let json = serde_json::to_string(&(Bounced, Unknown, Transactional)).expect("serialise");
        assert_eq!(json, r#"["bounced","none","transactional"]"#);
        let back: (PhoneStatus, SubscriptionStatus, SendKind) =
            serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back, (Bounced, Unknown, Transactional));
    }

    fn health(status: PhoneStatus, failures: u32) -> PhoneHealth {
        PhoneHealth {
            status,
            consecutive_hard_failures: failures,
        }
    }

    #[test]
    fn phone_status_transitions() {
        use PhoneEvent::*;
        let three = BouncePolicy::default();
        let one = BouncePolicy {
            hard_failures_to_bounce: 1,
        };
        let zero = BouncePolicy {
            hard_failures_to_bounce: 0,
        };
        let cases = [
            (
                "first hard failure",
                health(Active, 0),
                HardFailure,
                three,
                health(Active, 1),
            ),
            (
                "second hard failure",
                health(Active, 1),
                HardFailure,
                three,
                health(Active, 2),
            ),
            (
                "third bounces",
                health(Active, 2),
                HardFailure,
                three,
                health(Bounced, 3),
            ),
            (
                "threshold 1",
                health(Active, 0),
                HardFailure,
                one,
                health(Bounced, 1),
            ),
            (
                "threshold 0 acts as 1",
                health(Active, 0),
                HardFailure,
                zero,
                health(Bounced, 1),
            ),
            (
                "more failures keep it bounced",
                health(Bounced, 3),
                HardFailure,
                three,
                health(Bounced, 4),
            ),
            (
                "count saturates",
                health(Bounced, u32::MAX),
                HardFailure,
                three,
                health(Bounced, u32::MAX),
            ),
            (
                "delivery clears the count",
                health(Active, 2),
                Delivered,
                three,
                health(Active, 0),
            ),
            (
                "inbound clears the count",
                health(Active, 2),
                InboundText,
                three,
                health(Active, 0),
            ),
            (
                "delivery revives a bounced phone",
                health(Bounced, 5),
                Delivered,
                three,
                health(Active, 0),
            ),
            (
                "inbound revives a bounced phone",
                health(Bounced, 5),
                InboundText,
                three,
                health(Active, 0),
            ),
            (
                "paused ignores failures",
                health(Paused, 0),
                HardFailure,
                one,
                health(Paused, 0),
            ),
            (
                "paused ignores deliveries",
                health(Paused, 1),
                Delivered,
                three,
                health(Paused, 1),
            ),
            (
                "paused ignores inbound",
                health(Paused, 1),
                InboundText,
                three,
                health(Paused, 1),
            ),
            (
                "operator pauses",
                health(Active, 2),
                OperatorSet(Paused),
                three,
                health(Paused, 0),
            ),
            (
                "operator resumes",
                health(Paused, 2),
                OperatorSet(Active),
                three,
                health(Active, 0),
            ),
            (
                "operator unbounces",
                health(Bounced, 3),
                OperatorSet(Active),
                three,
                health(Active, 0),
            ),
            (
                "operator bounces",
                health(Active, 0),
                OperatorSet(Bounced),
                three,
                health(Bounced, 0),
            ),
        ];
        for (name, current, event, policy, want) in cases {
            assert_eq!(phone_status_after(current, event, policy), want, "{name}");
        }
    }

    #[test]
    fn a_run_of_failures_broken_by_a_delivery_does_not_bounce() {
        use PhoneEvent::*;
        let policy = BouncePolicy::default();
        let events = [
            HardFailure,
            HardFailure,
            Delivered,
            HardFailure,
            HardFailure,
        ];
        let end = events.into_iter().fold(PhoneHealth::default(), |h, e| {
            phone_status_after(h, e, policy)
        });
        assert_eq!(end, health(Active, 2));
        assert_eq!(
            phone_status_after(end, HardFailure, policy),
            health(Bounced, 3)
        );
    }

    #[test]
    fn which_failures_are_hard() {
        let cases = [
            (ErrorClass::NotSmsCapable, Some(PhoneEvent::HardFailure)),
            (ErrorClass::InvalidNumber, Some(PhoneEvent::HardFailure)),
            (ErrorClass::Blocked, Some(PhoneEvent::HardFailure)),
            (ErrorClass::OptedOut, None),
            (ErrorClass::SpamFiltered, None),
            (ErrorClass::RateOrQueue, None),
            (ErrorClass::Transient, None),
            (ErrorClass::Other, None),
        ];
        for (class, want) in cases {
            assert_eq!(PhoneEvent::after_failure(class), want, "{class:?}");
        }
    }
}

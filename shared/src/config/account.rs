//! An `[[accounts]]` entry: the account's own settings (send key, goal integration,
//! limits, replies, quiet hours), with its numbers, users, Twilio credentials and CRM
//! validated by their own sections.

use serde::Deserialize;

use super::crm::{RawCrm, RawEventWebhook};
use super::instasent::RawInstasent;
use super::numbers::RawNumber;
use super::twilio::RawTwilio;
use super::users::RawUser;
use super::validator::{ConfigError, Validator};
use crate::domain::account::KeywordReplies;
use crate::domain::consent::BouncePolicy;
use crate::domain::quiet_hours::{QuietHours, QuietHoursError, TimeOfDay};
use crate::domain::{Account, AccountId, Country, KeyHash, PhoneNumber, SendLimits};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAccount {
    id: String,
    name: String,
    default_country: String,
    goal_integration: String,
    /// Plain send key (local convenience) or its SHA-256 hex digest.
    send_key: Option<String>,
    send_key_sha256: Option<String>,
    queue_limit: Option<u32>,
    alert_number: Option<String>,
    #[serde(default)]
    replies: RawReplies,
    subscription_field: Option<String>,
    sms_notes: Option<bool>,
    /// `twilio` (the default) or `instasent`.
    provider: Option<String>,
    twilio: Option<RawTwilio>,
    instasent: Option<RawInstasent>,
    #[serde(default)]
    numbers: Vec<RawNumber>,
    #[serde(default)]
    users: Vec<RawUser>,
    crm: RawCrm,
    event_webhook: Option<RawEventWebhook>,
    quiet_hours: Option<RawQuietHours>,
    debug_log_bodies: Option<bool>,
    bounce_after: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuietHours {
    start: String,
    end: String,
    /// For numbers whose country's zones smsflow does not know.
    time_zone: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawReplies {
    help: Option<String>,
    opt_out: Option<String>,
    opt_in: Option<String>,
}

impl Validator {
    /// Every field checked in the order of the file, each problem recorded; `None` when
    /// any was found.
    pub(super) fn account(&self, at: &str, raw: RawAccount) -> Option<Account> {
        let id = self.keep(
            AccountId::parse(&raw.id).map_err(|e| self.err(format!("{at}.id"), e.to_string())),
        );
        let default_country = self.keep(raw.default_country.parse().map_err(
            |e: crate::domain::PhoneError| self.err(format!("{at}.default_country"), e.to_string()),
        ));
        let send_key_hash = self.keep(self.send_key(at, raw.send_key, raw.send_key_sha256));
        let providers = self.providers(at, raw.provider, raw.twilio, raw.instasent);
        // Numbers are read in the default country: without one they cannot be checked.
        let numbers = default_country.and_then(|c| self.numbers(at, raw.numbers, c));
        let users = self.users(at, raw.users);
        let goal_integration = self.keep(self.goal_integration(at, raw.goal_integration));
        let alert_number = self.alert_number(at, raw.alert_number, default_country);
        let limits = self.keep(self.limits(at, raw.queue_limit));
        let bounce_policy = self.keep(self.bounce_policy(at, raw.bounce_after));
        let name = self.keep(self.non_empty(&format!("{at}.name"), raw.name));
        let crm = self.keep(self.crm(&format!("{at}.crm"), raw.crm));
        let replies = self.replies(&format!("{at}.replies"), raw.replies);
        let subscription_field = self.keep(
            raw.subscription_field
                .map(|f| self.non_empty(&format!("{at}.subscription_field"), f))
                .transpose(),
        );
        let quiet_hours = self.keep(
            raw.quiet_hours
                .map(|q| self.quiet_hours(&format!("{at}.quiet_hours"), q))
                .transpose(),
        );
        let event_webhook = self.keep(
            raw.event_webhook
                .map(|w| self.event_webhook(&format!("{at}.event_webhook"), w))
                .transpose(),
        );
        let providers = providers?;
        let account = Account {
            name: name?,
            id: id?,
            default_country: default_country?,
            provider: providers.provider,
            twilio: providers.twilio,
            instasent: providers.instasent,
            numbers: numbers?,
            users: users?,
            crm: crm?,
            goal_integration: goal_integration?,
            limits: limits?,
            send_key_hash: send_key_hash?,
            alert_number: alert_number?,
            replies: replies?,
            subscription_field: subscription_field?,
            sms_notes: raw.sms_notes.unwrap_or(true),
            debug_log_bodies: raw.debug_log_bodies.unwrap_or(false),
            bounce_policy: bounce_policy?,
            quiet_hours: quiet_hours?,
            event_webhook: event_webhook?,
        };
        self.provider_fit(at, &account)?;
        Some(account)
    }

    /// The optional alert number, read in the default country (unchecked without one: that
    /// problem is reported already).
    fn alert_number(
        &self,
        at: &str,
        raw: Option<String>,
        country: Option<Country>,
    ) -> Option<Option<PhoneNumber>> {
        match (raw, country) {
            (Some(n), Some(c)) => self
                .keep(self.phone(format!("{at}.alert_number"), &n, c))
                .map(Some),
            (Some(_), None) => None,
            (None, _) => Some(None),
        }
    }

    fn limits(&self, at: &str, queue_limit: Option<u32>) -> Result<SendLimits, ConfigError> {
        let queue_limit = queue_limit.unwrap_or(SendLimits::default().queue_limit);
        if queue_limit == 0 {
            return Err(self.err(format!("{at}.queue_limit"), "must be at least 1"));
        }
        Ok(SendLimits { queue_limit })
    }

    /// The hash of the key CRMs send requests with, given as the key or as its digest.
    fn send_key(
        &self,
        at: &str,
        key: Option<String>,
        sha256: Option<String>,
    ) -> Result<KeyHash, ConfigError> {
        match (key, sha256) {
            (Some(key), None) if key.len() >= 16 => Ok(KeyHash::of(&key)),
            (Some(_), None) => Err(self.err(
                format!("{at}.send_key"),
                "must be at least 16 characters (generate one with `smsflow keygen`)",
            )),
            (None, Some(hex)) => KeyHash::from_hex(&hex).ok_or_else(|| {
                self.err(
                    format!("{at}.send_key_sha256"),
                    "must be 64 hexadecimal characters (a SHA-256 digest)",
                )
            }),
            (Some(_), Some(_)) => Err(self.err(
                format!("{at}.send_key"),
                "give either send_key or send_key_sha256, not both",
            )),
            (None, None) => Err(self.err(
                format!("{at}.send_key"),
                "missing: CRMs authenticate send requests with it",
            )),
        }
    }

    fn goal_integration(&self, at: &str, raw: String) -> Result<String, ConfigError> {
        let goal_integration = self.non_empty(&format!("{at}.goal_integration"), raw)?;
        if !goal_integration
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(self.err(
                format!("{at}.goal_integration"),
                "use letters, digits and '_' only (it goes into CRM URL paths)",
            ));
        }
        Ok(goal_integration)
    }

    fn bounce_policy(
        &self,
        at: &str,
        bounce_after: Option<u32>,
    ) -> Result<BouncePolicy, ConfigError> {
        match bounce_after {
            Some(0) => Err(self.err(format!("{at}.bounce_after"), "must be at least 1")),
            Some(n) => Ok(BouncePolicy {
                hard_failures_to_bounce: n,
            }),
            None => Ok(BouncePolicy::default()),
        }
    }

    fn quiet_hours(&self, at: &str, raw: RawQuietHours) -> Result<QuietHours, ConfigError> {
        let time = |name: &str, value: &str| {
            value
                .parse::<TimeOfDay>()
                .map_err(|e| self.err(format!("{at}.{name}"), e.to_string()))
        };
        let start = time("start", &raw.start)?;
        let end = time("end", &raw.end)?;
        QuietHours::new(start, end, &raw.time_zone).map_err(|e| {
            let field = match e {
                QuietHoursError::Zone(_) => "time_zone",
                _ => "end",
            };
            self.err(format!("{at}.{field}"), e.to_string())
        })
    }

    fn replies(&self, at: &str, raw: RawReplies) -> Option<KeywordReplies> {
        let check = |name: &str, text: Option<String>| match text {
            Some(t) if t.trim().is_empty() => Err(self.err(
                format!("{at}.{name}"),
                "must not be empty (leave it out to send nothing)",
            )),
            // Twilio's limit for one message body.
            Some(t) if t.encode_utf16().count() > 1600 => {
                Err(self.err(format!("{at}.{name}"), "is longer than 1600 characters"))
            }
            other => Ok(other),
        };
        let help = self.keep(check("help", raw.help));
        let opt_out = self.keep(check("opt_out", raw.opt_out));
        let opt_in = self.keep(check("opt_in", raw.opt_in));
        Some(KeywordReplies {
            help: help?,
            opt_out: opt_out?,
            opt_in: opt_in?,
        })
    }
}

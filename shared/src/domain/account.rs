//! Account configuration: who owns which numbers, how to reach Twilio and the CRM, who the
//! users are and what limits apply. Built only through validation (see `crate::config`), so
//! a value of these types is always internally consistent.

use std::collections::{BTreeMap, BTreeSet};

use super::ids::validated_text;
use serde::{Deserialize, Serialize};

use super::email::EmailAddress;
use super::phone::{Country, PhoneNumber};
use super::provider::{InstasentCredentials, ProviderCredentials, SmsProviderKind};
use super::secret::{KeyHash, Secret};

/// An account's id: the tenant key in every stored item and in CRM URLs
/// (`/crm/{account}/send`). Lower-case letters, digits and `-`, 1 to 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AccountId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not an account id: use 1-64 lower-case letters, digits or '-'")]
pub struct AccountIdError(pub String);

impl AccountId {
    pub fn parse(s: &str) -> Result<Self, AccountIdError> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !s.starts_with('-');
        if ok {
            Ok(AccountId(s.to_string()))
        } else {
            Err(AccountIdError(s.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

validated_text!(AccountId, AccountIdError, AccountId::parse);

/// The kind of sender, which sets its default throughput.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SenderKind {
    LongCode,
    TollFree,
    ShortCode,
    /// Alphanumeric sender ids and international senders.
    Alphanumeric,
}

impl SenderKind {
    /// Twilio's default message segments per second for this kind of sender.
    pub fn default_segments_per_second(self) -> f64 {
        match self {
            SenderKind::LongCode => 1.0,
            SenderKind::TollFree => 3.0,
            SenderKind::ShortCode => 100.0,
            SenderKind::Alphanumeric => 10.0,
        }
    }
}

/// How Twilio treats keywords sent to the receiving number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TwilioKeywordHandling {
    /// Twilio's built-in handling: it blocks and replies to the standard words on long codes
    /// and toll-free numbers (not on standalone short codes).
    #[default]
    Default,
    /// The number is in a Messaging Service with Advanced Opt-Out: Twilio replies exactly
    /// when it matched a keyword, and then it sends `OptOutType`.
    Advanced,
    /// Twilio Support turned built-in handling off for the account: nothing is answered for
    /// us (toll-free numbers still get the carrier's "NETWORK MSG" replies).
    Disabled,
}

/// One of the account's Twilio numbers. Inbound texts to it belong to this account; when
/// nobody better can be found, they are forwarded to `backup_email`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundNumber {
    pub number: PhoneNumber,
    pub kind: SenderKind,
    pub backup_email: EmailAddress,
    /// Overrides the kind's default send rate (segments per second).
    pub segments_per_second: Option<f64>,
    /// How Twilio treats STOP/START/HELP on this number (decides whether a confirmation
    /// is ours to send).
    #[serde(default)]
    pub keyword_handling: TwilioKeywordHandling,
    /// The provider this number sends through, when not the account's.
    #[serde(default)]
    pub provider: Option<SmsProviderKind>,
}

impl InboundNumber {
    pub fn segments_per_second(&self) -> f64 {
        self.segments_per_second
            .unwrap_or_else(|| self.kind.default_segments_per_second())
    }
}

/// A teammate who sends texts and receives forwarded replies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Stable id used in send requests (`reply=`, `user=`).
    pub id: String,
    pub name: String,
    pub email: EmailAddress,
    /// The user's id in the CRM (owner of contacts, author of notes), when known.
    pub crm_user_id: Option<String>,
    /// Sees every conversation in the team inbox, not only those routed to them.
    #[serde(default)]
    pub admin: bool,
}

/// Why [`Account::find_user`] found no one user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserLookupError {
    #[error("no user has that id or e-mail")]
    Unknown,
    /// The e-mail is shared by these users (by id).
    #[error("the e-mail is shared by users {}", .0.join(", "))]
    Ambiguous(Vec<String>),
}

/// How to reach Twilio for this account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TwilioCredentials {
    /// `AC…`: in every REST path and in every webhook Twilio sends.
    pub account_sid: String,
    /// The primary auth token: signs webhooks; also REST auth unless an API key is given.
    pub auth_token: Secret,
    /// Optional API key (`SK…`) for REST calls, Twilio's recommended auth.
    pub api_key: Option<TwilioApiKey>,
    /// Messaging Services (`MG…`) of this account, for senders drawn from a pool.
    #[serde(default)]
    pub messaging_service_sids: Vec<String>,
}

impl TwilioCredentials {
    /// The account's Messaging Services in [`canonical_service_sid`] form, each once.
    pub fn canonical_service_sids(&self) -> BTreeSet<String> {
        self.messaging_service_sids
            .iter()
            .map(|sid| canonical_service_sid(sid))
            .collect()
    }
}

/// A Messaging Service SID as it is indexed and compared: Twilio's own spelling, `MG` then
/// lower-case hex. SIDs are matched regardless of ASCII case (a webhook's `mg0A…` is the
/// configured `MG0a…`), and two SIDs match exactly when their canonical forms are equal.
pub fn canonical_service_sid(sid: &str) -> String {
    sid.chars()
        .enumerate()
        .map(|(i, c)| {
            if i < 2 {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TwilioApiKey {
    pub sid: String,
    pub secret: Secret,
}

/// Which CRM the account uses and how to authenticate to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CrmConnection {
    /// The embedded sandbox CRM of local mode.
    Sandbox,
    /// Keap (Infusionsoft) REST.
    Keap {
        base_url: Option<String>,
        auth: KeapAuth,
    },
    /// Any CRM: events are POSTed as signed JSON to `url`.
    Webhook { url: String, signing_secret: Secret },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum KeapAuth {
    /// Personal access token or service account key, sent as `X-Keap-API-Key`.
    ApiKey { key: Secret },
    /// OAuth2 with refresh-token rotation.
    OAuth {
        client_id: String,
        client_secret: Secret,
        refresh_token: Secret,
    },
}

/// Limits that protect the account and its carriers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendLimits {
    /// Most send requests admitted but not yet sent; beyond it requests are refused.
    pub queue_limit: u32,
}

impl Default for SendLimits {
    fn default() -> Self {
        SendLimits { queue_limit: 1000 }
    }
}

/// One tenant of smsflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    /// Country used to read numbers written without `+<cc>`.
    pub default_country: Country,
    /// The provider of the account's senders unless a number names another.
    #[serde(default)]
    pub provider: SmsProviderKind,
    /// Twilio's credentials; `None` for an account that sends through Instasent only.
    #[serde(default)]
    pub twilio: Option<TwilioCredentials>,
    /// Instasent's, when the account or one of its numbers sends through Instasent.
    #[serde(default)]
    pub instasent: Option<InstasentCredentials>,
    pub numbers: Vec<InboundNumber>,
    /// Users by id.
    pub users: BTreeMap<String, User>,
    pub crm: CrmConnection,
    /// The integration half of every CRM goal this account fires (`integration.callName`).
    pub goal_integration: String,
    pub limits: SendLimits,
    /// Hash of the secret key CRMs put in the send URL.
    pub send_key_hash: KeyHash,
    /// Where alert sends go (send kind `alert`, see `docs/glossary.md`), if the account uses
    /// them.
    pub alert_number: Option<PhoneNumber>,
    /// Answers to keywords, sent only where Twilio did not already answer.
    #[serde(default)]
    pub replies: KeywordReplies,
    /// The CRM contact field that holds the SMS subscription (`subscribed`,
    /// `unsubscribed`, `none`), read when a send request does not say.
    #[serde(default)]
    pub subscription_field: Option<String>,
    /// Whether each sent SMS is also written as a note on the CRM contact (the "SMS note" of
    /// `docs/glossary.md`), so the CRM shows the SMS history.
    #[serde(default = "sms_notes_default")]
    pub sms_notes: bool,
    /// Where delivery events (queued, sent, delivered, undelivered, failed, opted out) are
    /// POSTed as signed JSON, if anywhere ("Delivery event" in `docs/glossary.md`).
    #[serde(default)]
    pub event_webhook: Option<EventWebhook>,
    /// When bulk messages wait (recipient's local time), if the account wants that.
    #[serde(default)]
    pub quiet_hours: Option<super::quiet_hours::QuietHours>,
    /// Whether message bodies of this account are written to the logs (for debugging a
    /// customer's flow; bodies are never logged otherwise).
    #[serde(default)]
    pub debug_log_bodies: bool,
    /// When repeated hard failures mark a phone bounced (no more sends until it texts in).
    #[serde(default)]
    pub bounce_policy: super::consent::BouncePolicy,
}

fn sms_notes_default() -> bool {
    true
}

/// An account's delivery event receiver: `url` gets each event as JSON, signed with
/// `signing_secret` exactly as webhook CRM events are (`X-Smsflow-Signature`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventWebhook {
    pub url: String,
    pub signing_secret: Secret,
}

/// What smsflow answers to a keyword when Twilio has not (Advanced Opt-Out without a
/// match, built-in handling turned off, short codes). `None`: answer nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeywordReplies {
    pub help: Option<String>,
    pub opt_out: Option<String>,
    pub opt_in: Option<String>,
}

impl Account {
    pub fn number(&self, number: &PhoneNumber) -> Option<&InboundNumber> {
        self.numbers.iter().find(|n| &n.number == number)
    }

    pub fn user(&self, id: &str) -> Option<&User> {
        self.users.get(id)
    }

    /// The provider a message from this sender goes through: the number's own, else the
    /// account's (a Messaging Service is Twilio's; an alphanumeric id is the account's).
    pub fn provider_of(&self, sender_number: Option<&PhoneNumber>) -> SmsProviderKind {
        sender_number
            .and_then(|n| self.number(n))
            .and_then(|n| n.provider)
            .unwrap_or(self.provider)
    }

    /// The credentials of `provider`, when the account has them (configuration checks
    /// that every provider it names has them).
    pub fn credentials(&self, provider: SmsProviderKind) -> Option<ProviderCredentials<'_>> {
        match provider {
            SmsProviderKind::Twilio => self.twilio.as_ref().map(ProviderCredentials::Twilio),
            SmsProviderKind::Instasent => {
                self.instasent.as_ref().map(ProviderCredentials::Instasent)
            }
        }
    }

    /// The Twilio Account SID, when the account has Twilio credentials.
    pub fn twilio_account_sid(&self) -> Option<&str> {
        self.twilio.as_ref().map(|t| t.account_sid.as_str())
    }

    /// The account's Messaging Services in canonical form (none without Twilio).
    pub fn canonical_service_sids(&self) -> BTreeSet<String> {
        self.twilio
            .as_ref()
            .map(TwilioCredentials::canonical_service_sids)
            .unwrap_or_default()
    }

    /// The user named by its id or by its e-mail address, the e-mail matched without regard
    /// to case (turboDial's campaign `reply` field holds the teammate's e-mail). An exact id
    /// wins over an e-mail; an e-mail two users share names neither.
    pub fn find_user(&self, id_or_email: &str) -> Result<&User, UserLookupError> {
        if let Some(user) = self.users.get(id_or_email) {
            return Ok(user);
        }
        let mut by_email = self
            .users
            .values()
            .filter(|u| u.email.as_str().eq_ignore_ascii_case(id_or_email.trim()));
        match (by_email.next(), by_email.next()) {
            (Some(user), None) => Ok(user),
            (None, _) => Err(UserLookupError::Unknown),
            (Some(first), Some(second)) => Err(UserLookupError::Ambiguous(
                [first, second]
                    .into_iter()
                    .chain(by_email)
                    .map(|u| u.id.clone())
                    .collect(),
            )),
        }
    }

    /// Reads a number as this account writes it (national format in its default country).
    pub fn parse_phone(&self, input: &str) -> Result<PhoneNumber, super::phone::PhoneError> {
        PhoneNumber::parse(input, self.default_country)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids() {
        for ok in ["acme", "acme-roofing", "a1"] {
            assert!(AccountId::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Acme", "acme_roofing", "-acme", "a/b", &"a".repeat(65)] {
            assert!(AccountId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn users_are_found_by_id_or_email() {
        let user = |id: &str, email: &str| User {
            id: id.into(),
            name: id.into(),
            email: EmailAddress::parse(email).expect("email"),
            crm_user_id: None,
            admin: false,
        };
        let users = [
            user("mary", "Mary.Anders@example.com"),
            user("bob", "bob@example.com"),
            user("desk-1", "desk@example.com"),
            user("desk-2", "desk@example.com"),
            // An id that looks like another user's e-mail: the id wins.
            user("jo@example.com", "jo.other@example.com"),
            user("jo", "jo@example.com"),
        ];
        let users = users.into_iter().map(|u| (u.id.clone(), u)).collect();
        let account = Account {
            users,
            ..crate::domain::fixtures::account()
        };
        let ambiguous = || {
            Err(UserLookupError::Ambiguous(vec![
                "desk-1".into(),
                "desk-2".into(),
            ]))
        };
        let cases: [(&str, Result<&str, UserLookupError>); 10] = [
            ("mary", Ok("mary")),
            ("Mary.Anders@example.com", Ok("mary")),
            ("mary.anders@EXAMPLE.COM", Ok("mary")),
            ("  bob@example.com ", Ok("bob")),
            ("jo@example.com", Ok("jo@example.com")),
            ("MARY", Err(UserLookupError::Unknown)),
            ("nobody@example.com", Err(UserLookupError::Unknown)),
            ("", Err(UserLookupError::Unknown)),
            ("desk@example.com", ambiguous()),
            ("DESK@example.com", ambiguous()),
        ];
        for (given, want) in cases {
            let found = account.find_user(given).map(|u| u.id.as_str());
            assert_eq!(found, want, "{given:?}");
        }
    }

    #[test]
    fn service_sids_match_regardless_of_case() {
        let canonical = "MG0123456789abcdef0123456789abcdef";
        for spelling in [
            canonical,
            "mg0123456789ABCDEF0123456789ABCDEF",
            "Mg0123456789AbCdEf0123456789aBcDeF",
        ] {
            assert_eq!(canonical_service_sid(spelling), canonical, "{spelling}");
            assert!(spelling.eq_ignore_ascii_case(canonical), "{spelling}");
        }
        assert_ne!(
            canonical_service_sid("MG0123456789abcdef0123456789abcdee"),
            canonical
        );
    }

    #[test]
    fn default_rates_by_sender_kind() {
        let cases = [
            (SenderKind::LongCode, 1.0),
            (SenderKind::TollFree, 3.0),
            (SenderKind::ShortCode, 100.0),
            (SenderKind::Alphanumeric, 10.0),
        ];
        for (kind, rate) in cases {
            assert_eq!(kind.default_segments_per_second(), rate, "{kind:?}");
        }
    }
}

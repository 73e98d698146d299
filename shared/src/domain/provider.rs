//! Which SMS provider carries an account's (or a sender's) messages, and how to reach
//! Instasent. Twilio's credentials live with the account (`account.rs`); Instasent needs
//! only an API token, an optional base URL and the secret of its callback URL.

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::account::TwilioCredentials;
use super::secret::Secret;

/// Instasent's Transactional API (the one with delivery-report webhooks); see
/// `README.md` ("Instasent").
pub const INSTASENT_API_BASE_URL: &str = "https://api.instasent.com/transactional/v1";

/// The SMS provider of an account or sender. Twilio unless configured otherwise.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmsProviderKind {
    #[default]
    Twilio,
    Instasent,
}

impl SmsProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SmsProviderKind::Twilio => "twilio",
            SmsProviderKind::Instasent => "instasent",
        }
    }

    /// Reads a configuration value (`"twilio"`, `"instasent"`).
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "twilio" => Some(SmsProviderKind::Twilio),
            "instasent" => Some(SmsProviderKind::Instasent),
            _ => None,
        }
    }

    pub fn is_twilio(self) -> bool {
        self == SmsProviderKind::Twilio
    }
}

impl std::fmt::Display for SmsProviderKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The credentials of the provider one message goes through.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ProviderCredentials<'a> {
    Twilio(&'a TwilioCredentials),
    Instasent(&'a InstasentCredentials),
}

impl ProviderCredentials<'_> {
    pub fn kind(&self) -> SmsProviderKind {
        match self {
            ProviderCredentials::Twilio(_) => SmsProviderKind::Twilio,
            ProviderCredentials::Instasent(_) => SmsProviderKind::Instasent,
        }
    }
}

/// How to reach Instasent for one account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstasentCredentials {
    /// The project's `api_sms` token, sent as `Authorization: Bearer`.
    pub api_token: Secret,
    /// The API's base URL; `None` is [`INSTASENT_API_BASE_URL`].
    #[serde(default)]
    pub base_url: Option<String>,
    /// The unguessable last segment of the account's callback URL: Instasent signs
    /// nothing, so only a caller who knows it may post statuses. Given in the
    /// configuration, or generated when the account is first stored.
    #[serde(default)]
    pub callback_secret: Option<Secret>,
}

impl InstasentCredentials {
    /// The base URL requests go to, without a trailing `/`.
    pub fn api_base_url(&self) -> &str {
        self.base_url
            .as_deref()
            .unwrap_or(INSTASENT_API_BASE_URL)
            .trim_end_matches('/')
    }

    /// Whether `candidate` is the callback secret, compared in constant time; never
    /// true while the account has none.
    pub fn callback_secret_matches(&self, candidate: &str) -> bool {
        match &self.callback_secret {
            Some(secret) if !secret.is_empty() => secret
                .expose()
                .as_bytes()
                .ct_eq(candidate.as_bytes())
                .into(),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_names_read_back() {
        for kind in [SmsProviderKind::Twilio, SmsProviderKind::Instasent] {
            assert_eq!(SmsProviderKind::parse(kind.as_str()), Some(kind));
            let json = serde_json::to_value(kind).expect("serialises");
            assert_eq!(json, kind.as_str());
        }
        assert_eq!(SmsProviderKind::parse("Twilio"), None);
        assert_eq!(SmsProviderKind::default(), SmsProviderKind::Twilio);
    }

    #[test]
    fn the_callback_secret_must_match_exactly() {
        let with = |secret: Option<&str>| InstasentCredentials {
            api_token: Secret::new("token"),
            base_url: None,
            callback_secret: secret.map(Secret::new),
        };
        // (configured secret, candidate, matches)
        let cases = [
            (Some("s3cret-s3cret"), "s3cret-s3cret", true),
            (Some("s3cret-s3cret"), "s3cret-s3cre", false),
            (Some("s3cret-s3cret"), "S3CRET-S3CRET", false),
            (Some("s3cret-s3cret"), "", false),
            (Some(""), "", false),
            (None, "", false),
            (None, "anything", false),
        ];
        for (secret, candidate, want) in cases {
            let got = with(secret).callback_secret_matches(candidate);
            assert_eq!(got, want, "{secret:?} vs {candidate:?}");
        }
    }

    #[test]
    fn the_base_url_defaults_to_the_transactional_api() {
        let mut credentials = InstasentCredentials {
            api_token: Secret::new("token"),
            base_url: None,
            callback_secret: None,
        };
        assert_eq!(credentials.api_base_url(), INSTASENT_API_BASE_URL);
        credentials.base_url = Some("http://127.0.0.1:9/v1/".into());
        assert_eq!(credentials.api_base_url(), "http://127.0.0.1:9/v1");
    }
}

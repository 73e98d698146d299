//! An account's `[accounts.twilio]`: its Twilio Account SID and auth token, an optional
//! API key, and the Messaging Services it sends through.

use serde::Deserialize;

use super::validator::{ConfigError, Validator};
use crate::domain::{Secret, TwilioApiKey, TwilioCredentials};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTwilio {
    account_sid: String,
    auth_token: String,
    api_key_sid: Option<String>,
    api_key_secret: Option<String>,
    #[serde(default)]
    messaging_service_sids: Vec<String>,
}

/// Whether `s` is a Twilio SID of the kind `prefix` names: the prefix and 32 hex digits.
fn sid_ok(s: &str, prefix: &str) -> bool {
    s.len() == 34 && s.starts_with(prefix) && s[2..].chars().all(|c| c.is_ascii_hexdigit())
}

impl Validator {
    pub(super) fn twilio(&self, at: &str, raw: RawTwilio) -> Option<TwilioCredentials> {
        let account_sid = self.sid(
            format!("{at}.account_sid"),
            &raw.account_sid,
            "AC",
            "a Twilio Account SID",
        );
        let auth_token = self.keep(self.non_empty(&format!("{at}.auth_token"), raw.auth_token));
        let api_key = self.keep(self.api_key(at, raw.api_key_sid, raw.api_key_secret));
        let services: Vec<Option<()>> = (raw.messaging_service_sids.iter().enumerate())
            .map(|(k, mg)| {
                let field = format!("{at}.messaging_service_sids[{k}]");
                self.sid(field, mg, "MG", "a Messaging Service SID")
            })
            .collect();
        account_sid?;
        services.into_iter().collect::<Option<Vec<()>>>()?;
        Some(TwilioCredentials {
            account_sid: raw.account_sid,
            auth_token: Secret::new(auth_token?),
            api_key: api_key?,
            messaging_service_sids: raw.messaging_service_sids,
        })
    }

    /// Checks that `value` is a SID of the kind `prefix` names (`what`), else reports it.
    fn sid(&self, field: String, value: &str, prefix: &str, what: &str) -> Option<()> {
        if sid_ok(value, prefix) {
            return Some(());
        }
        let problem = format!("'{value}' is not {what} ({prefix} + 32 hex digits)");
        self.keep(Err(self.err(field, problem)))
    }

    /// An API key: its SID and secret together, or neither.
    fn api_key(
        &self,
        at: &str,
        sid: Option<String>,
        secret: Option<String>,
    ) -> Result<Option<TwilioApiKey>, ConfigError> {
        match (sid, secret) {
            (Some(sid), Some(secret)) if sid_ok(&sid, "SK") => Ok(Some(TwilioApiKey {
                sid,
                secret: Secret::new(secret),
            })),
            (Some(sid), Some(_)) => Err(self.err(
                format!("{at}.api_key_sid"),
                format!("'{sid}' is not an API key SID (SK + 32 hex digits)"),
            )),
            (Some(_), None) => Err(self.err(
                format!("{at}.api_key_secret"),
                "missing: api_key_sid is set",
            )),
            (None, Some(_)) => Err(self.err(
                format!("{at}.api_key_sid"),
                "missing: api_key_secret is set",
            )),
            (None, None) => Ok(None),
        }
    }
}

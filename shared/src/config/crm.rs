//! What an account calls out to: its CRM (`[accounts.crm]`: the sandbox, Keap with an
//! API key or OAuth, or a signed webhook) and its optional event webhook.

use serde::Deserialize;

use super::validator::{ConfigError, Validator};
use crate::domain::{CrmConnection, EventWebhook, KeapAuth, Secret};

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub(super) enum RawCrm {
    Sandbox,
    Keap {
        base_url: Option<String>,
        api_key: Option<String>,
        oauth_client_id: Option<String>,
        oauth_client_secret: Option<String>,
        oauth_refresh_token: Option<String>,
    },
    Webhook {
        url: String,
        signing_secret: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEventWebhook {
    url: String,
    signing_secret: String,
}

impl Validator {
    pub(super) fn crm(&self, at: &str, raw: RawCrm) -> Result<CrmConnection, ConfigError> {
        Ok(match raw {
            RawCrm::Sandbox => CrmConnection::Sandbox,
            RawCrm::Keap {
                base_url,
                api_key,
                oauth_client_id,
                oauth_client_secret,
                oauth_refresh_token,
            } => {
                let auth = match (
                    api_key,
                    oauth_client_id,
                    oauth_client_secret,
                    oauth_refresh_token,
                ) {
                    (Some(key), None, None, None) => KeapAuth::ApiKey {
                        key: Secret::new(self.non_empty(&format!("{at}.api_key"), key)?),
                    },
                    (None, Some(client_id), Some(secret), Some(refresh)) => KeapAuth::OAuth {
                        client_id,
                        client_secret: Secret::new(secret),
                        refresh_token: Secret::new(refresh),
                    },
                    _ => {
                        return Err(self.err(
                            at,
                            "Keap needs either api_key, or oauth_client_id + oauth_client_secret + oauth_refresh_token",
                        ));
                    }
                };
                CrmConnection::Keap { base_url, auth }
            }
            RawCrm::Webhook {
                url,
                signing_secret,
            } => CrmConnection::Webhook {
                url: self.http_url(&format!("{at}.url"), url)?,
                signing_secret: Secret::new(
                    self.non_empty(&format!("{at}.signing_secret"), signing_secret)?,
                ),
            },
        })
    }

    pub(super) fn event_webhook(
        &self,
        at: &str,
        raw: RawEventWebhook,
    ) -> Result<EventWebhook, ConfigError> {
        Ok(EventWebhook {
            url: self.http_url(&format!("{at}.url"), raw.url)?,
            signing_secret: Secret::new(
                self.non_empty(&format!("{at}.signing_secret"), raw.signing_secret)?,
            ),
        })
    }
}

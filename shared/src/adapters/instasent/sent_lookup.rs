//! Finding a message Instasent took when our process died before its answer came back:
//! `GET {base}/sms?page=N&per_page=100`, matched on the `clientId` we gave it (smsflow's
//! message id).
//!
//! Assumed (Instasent documents the list and its paging, not its order nor its fields): the
//! list is newest first and each item has `id`, `clientId` and an ISO-8601 `createdAt`. The
//! lookup reads at most [`MAX_PAGES`] pages and stops at the first page that is short or
//! whose every dated message is older than the attempt.

use jiff::Timestamp as Instant;
use serde::Deserialize;

use super::{InstasentClient, InstasentId};
use crate::adapters::sms_http::{snippet, transport_error};
use crate::domain::{InstasentCredentials, MessageStatus, Timestamp};
use crate::ports::sms::{OutboundSms, ProviderAccepted, SmsError};

const PER_PAGE: usize = 100;
/// A lost send is looked up within minutes of the attempt: it is among the newest
/// `MAX_PAGES * PER_PAGE` messages unless the account sent that many since.
const MAX_PAGES: usize = 5;
/// Slack for clocks that disagree a little.
const CLOCK_SLACK_MS: i64 = 60_000;

#[derive(Debug, Deserialize)]
struct Page {
    #[serde(default)]
    entities: Vec<Listed>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Listed {
    id: Option<InstasentId>,
    client_id: Option<String>,
    created_at: Option<String>,
}

impl Listed {
    fn created_at_ms(&self) -> Option<i64> {
        let text = self.created_at.as_deref()?;
        let parsed: Instant = text.parse().ok()?;
        Some(parsed.as_millisecond())
    }

    fn older_than(&self, since: Timestamp) -> bool {
        self.created_at_ms()
            .is_some_and(|ms| ms + CLOCK_SLACK_MS < since.as_millis())
    }
}

impl InstasentClient {
    pub(super) async fn find_sent_message(
        &self,
        credentials: &InstasentCredentials,
        sms: &OutboundSms,
        since: Timestamp,
    ) -> Result<Option<ProviderAccepted>, SmsError> {
        // Without our id there is nothing to tell our message from another with its text.
        let Some(client_id) = sms.client_id.as_deref() else {
            return Ok(None);
        };
        for page in 1..=MAX_PAGES {
            let listed = self.page(credentials, page).await?;
            let found = listed
                .iter()
                .find(|m| m.client_id.as_deref() == Some(client_id) && !m.older_than(since));
            if let Some(sid) = found.and_then(|m| m.id.clone()?.into_sid()) {
                return Ok(Some(ProviderAccepted {
                    sid,
                    status: MessageStatus::Queued,
                    segments: None,
                }));
            }
            let past = !listed.is_empty() && listed.iter().all(|m| m.older_than(since));
            if listed.len() < PER_PAGE || past {
                break;
            }
        }
        Ok(None)
    }

    async fn page(
        &self,
        credentials: &InstasentCredentials,
        page: usize,
    ) -> Result<Vec<Listed>, SmsError> {
        let base = credentials.api_base_url();
        let url = format!("{base}/sms?page={page}&per_page={PER_PAGE}");
        let response = self
            .http
            .get(url)
            .bearer_auth(credentials.api_token.expose())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| match transport_error(e) {
                // A read changes nothing at Instasent: any failure is safe to retry.
                SmsError::OutcomeUnknown(why) => SmsError::Unavailable(why),
                other => other,
            })?;
        let status = response.status();
        let body = response.bytes().await.unwrap_or_default();
        if !status.is_success() {
            return Err(SmsError::Unavailable(format!(
                "listing messages: HTTP {status}: {}",
                snippet(&body)
            )));
        }
        let page: Page = serde_json::from_slice(&body).map_err(|e| {
            SmsError::Unavailable(format!("listing messages: unreadable page ({e})"))
        })?;
        Ok(page.entities)
    }
}

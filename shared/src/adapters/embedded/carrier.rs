//! The sandbox carrier of local mode: an `SmsProvider` that accepts sends like Twilio does,
//! keeps them for `/_sandbox/messages`, and posts signed status callbacks (`sent`, then
//! `delivered`) to the message's status callback URL, as Twilio would.
//!
//! Twilio's documented magic test numbers produce their documented errors:
//!
//! | From           | error |   | To             | error |
//! |----------------|-------|---|----------------|-------|
//! | +15005550001   | 21212 invalid From | | +15005550001 | 21211 invalid To |
//! | +15005550007   | 21606 not owned / not SMS capable | | +15005550002 | 21612 cannot route |
//! | +15005550008   | 21611 sender queue full (rate limited) | | +15005550003 | 21408 no permission for region |
//! | +15005550006   | passes | | +15005550004 | 21610 recipient unsubscribed |
//! |                |        | | +15005550009 | 21614 not a mobile number |
//! |                |        | | +15005550010 | sandbox only: accepted, then `sent` and `undelivered` 30006 |
//!
//! Every magic number above fails at once, when the send is made. Twilio's test
//! credentials have no number for a failure reported after acceptance, which is how a real
//! landline fails (`sent`, then `undelivered` 30006: landline or unreachable carrier), so
//! the sandbox adds [`UNDELIVERABLE_LANDLINE`], a number of Twilio's test range that no
//! magic number uses: its messages are accepted and reported `sent`, then `undelivered`
//! with `ErrorCode` 30006. Every other number is accepted and delivered.
//!
//! Playing Instasent (an account or number on `provider = "instasent"`), no magic number
//! refuses a send: every message is accepted with a 32-hex-digit id, and JSON delivery
//! reports (`{id, clientId, status, code, eventAt}`) are posted to the callback URL:
//! `sent`, then `delivered`, `failed` for [`UNDELIVERABLE_LANDLINE`] or `stop` for
//! [`INSTASENT_OPTING_OUT`].
//!
//! Callbacks are posted to the URL the message names, unless a [`CallbackRoute`] says that
//! URL's public origin is served elsewhere (the stack runner's API front on a loopback
//! port): then the callback still carries the signature of the public URL, as Twilio's
//! would, but travels to the local origin with the public `Host`.

mod callbacks;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redb::TableDefinition;
use serde::{Deserialize, Serialize};

pub use self::callbacks::{CallbackRoute, CallbackTarget};
use self::callbacks::{DeliveryReport, report_delivery};
use super::json_log::newest_where;
use super::{DbError, EmbeddedDb};
use crate::domain::MessageSid;
use crate::domain::twilio_errors::{ErrorClass, classify_error_code};
use crate::domain::{InstasentCredentials, MessageStatus, ProviderCredentials};
use crate::domain::{SmsProviderKind, Timestamp};
use crate::ports::{
    Clock, IdGenerator, OutboundSms, ProviderAccepted, Sender, SmsError, SmsProvider,
};

/// `message id (ULID)` → accepted message, so iteration order is acceptance order.
const MESSAGES: TableDefinition<&str, &[u8]> = TableDefinition::new("sandbox_carrier_messages");
/// What a message that does not decode is called in the error.
const CORRUPT: &str = "corrupt carrier message";

/// One message the sandbox carrier accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarrierMessage {
    pub sid: String,
    /// The provider the carrier played for it.
    #[serde(default)]
    pub provider: SmsProviderKind,
    /// The Twilio Account SID; for Instasent, [`instasent_account_key`].
    pub account_sid: String,
    /// Instasent's `clientId` (smsflow's message id), when it played Instasent.
    #[serde(default)]
    pub client_id: Option<String>,
    pub from: String,
    pub to: String,
    pub body: String,
    pub media_urls: Vec<String>,
    pub status_callback: Option<String>,
    pub accepted_at: Timestamp,
}

/// A Twilio-shaped SID (a two-letter prefix and 32 hex digits) made from a fresh ULID: its
/// random tail makes it unique.
pub fn sandbox_sid(prefix: &str, ulid: &str) -> String {
    format!(
        "{prefix}{}",
        hex::encode(&ulid.as_bytes()[ulid.len().saturating_sub(16)..])
    )
}

/// The sandbox's landline: accepted, then reported `sent` and `undelivered` with 30006.
pub const UNDELIVERABLE_LANDLINE: &str = "+15005550010";

/// Playing Instasent: accepted, then reported `sent` and `stop` (the recipient opted out),
/// as Twilio's 21610 magic number is an unsubscribed recipient.
pub const INSTASENT_OPTING_OUT: &str = "+15005550004";

/// The delivery reports the carrier posts playing Instasent, in order: `sent`, then
/// `failed` for [`UNDELIVERABLE_LANDLINE`], `stop` for [`INSTASENT_OPTING_OUT`], else
/// `delivered`.
fn instasent_reports(to: &str) -> &'static [&'static str] {
    match to {
        UNDELIVERABLE_LANDLINE => &["sent", "failed"],
        INSTASENT_OPTING_OUT => &["sent", "stop"],
        _ => &["sent", "delivered"],
    }
}

/// The status callbacks the carrier posts for a message it accepted, in order, each with
/// its `ErrorCode`.
fn delivery_reports(to: &str) -> &'static [(MessageStatus, Option<u32>)] {
    match to {
        UNDELIVERABLE_LANDLINE => &[
            (MessageStatus::Sent, None),
            (MessageStatus::Undelivered, Some(30006)),
        ],
        _ => &[
            (MessageStatus::Sent, None),
            (MessageStatus::Delivered, None),
        ],
    }
}

/// A magic number's documented refusal, if `sms` uses one.
fn magic_error(sms: &OutboundSms) -> Option<SmsError> {
    let rejected = |code: u32, message: &str| SmsError::Rejected {
        code,
        class: classify_error_code(code),
        message: message.to_string(),
        http_status: 400,
    };
    if let Sender::Number(from) = &sms.sender {
        match from.as_str() {
            "+15005550001" => {
                return Some(rejected(
                    21212,
                    "The 'From' number is not a valid phone number",
                ));
            }
            "+15005550007" => {
                return Some(rejected(
                    21606,
                    "The 'From' phone number is not a valid, SMS-capable inbound phone number for your account",
                ));
            }
            "+15005550008" => {
                return Some(SmsError::RateLimited {
                    code: 21611,
                    retry_after: None,
                });
            }
            _ => {}
        }
    }
    match sms.to.as_str() {
        "+15005550001" => Some(rejected(
            21211,
            "The 'To' number is not a valid phone number",
        )),
        "+15005550002" => Some(rejected(
            21612,
            "The 'To' phone number is not currently reachable via SMS",
        )),
        "+15005550003" => Some(rejected(
            21408,
            "Permission to send an SMS has not been enabled for the region indicated by the 'To' number",
        )),
        "+15005550004" => Some(rejected(21610, "Attempt to send to unsubscribed recipient")),
        "+15005550009" => Some(rejected(21614, "'To' number is not a valid mobile number")),
        _ => None,
    }
}

pub struct SandboxCarrier {
    db: EmbeddedDb,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    /// Pause between the status callbacks, like a real carrier's reports.
    callback_delay: Duration,
    /// Where callbacks to a public origin really go (none: to the URL as given).
    callback_route: Option<CallbackRoute>,
}

impl SandboxCarrier {
    pub fn new(
        db: EmbeddedDb,
        http: reqwest::Client,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
    ) -> Self {
        SandboxCarrier {
            db,
            http,
            clock,
            ids,
            callback_delay: Duration::from_millis(200),
            callback_route: None,
        }
    }

    /// Posts callbacks for `route`'s public origin to its local origin (see
    /// [`CallbackRoute`]); local mode has none, its callback URLs are reachable as given.
    pub fn with_callback_route(mut self, route: CallbackRoute) -> Self {
        self.callback_route = Some(route);
        self
    }

    /// Sets the pause before each status callback (tests use a short one).
    pub fn with_callback_delay(mut self, delay: Duration) -> Self {
        self.callback_delay = delay;
        self
    }

    /// Everything the carrier accepted, newest first.
    pub async fn messages(&self, limit: usize) -> Result<Vec<CarrierMessage>, DbError> {
        self.messages_where(limit, |_| true).await
    }

    /// The `limit` newest messages that `keep` accepts, newest first.
    pub async fn messages_where(
        &self,
        limit: usize,
        keep: impl Fn(&CarrierMessage) -> bool + Send + 'static,
    ) -> Result<Vec<CarrierMessage>, DbError> {
        self.db
            .read(move |tx| newest_where(tx, MESSAGES, CORRUPT, limit, keep))
            .await
    }
}

/// What stands for the Twilio Account SID on a message the carrier took playing Instasent
/// (which has no account id of its own): `instasent:` and the start of the API token's
/// SHA-256, so the sandbox can tell accounts apart without keeping the token.
pub fn instasent_account_key(credentials: &InstasentCredentials) -> String {
    use sha2::{Digest, Sha256};
    let digest = hex::encode(Sha256::digest(credentials.api_token.expose().as_bytes()));
    format!("instasent:{}", &digest[..16])
}

/// What the carrier plays for one message: Twilio (its magic numbers, `SM`/`MM` SIDs,
/// signed form callbacks) or Instasent (hex ids, JSON delivery reports, no media).
struct Played {
    provider: SmsProviderKind,
    account_sid: String,
    /// Signs Twilio's callbacks; Instasent signs nothing.
    auth_token: String,
}

fn played(credentials: ProviderCredentials<'_>) -> Played {
    match credentials {
        ProviderCredentials::Twilio(twilio) => Played {
            provider: SmsProviderKind::Twilio,
            account_sid: twilio.account_sid.clone(),
            auth_token: twilio.auth_token.expose().to_string(),
        },
        ProviderCredentials::Instasent(instasent) => Played {
            provider: SmsProviderKind::Instasent,
            account_sid: instasent_account_key(instasent),
            auth_token: String::new(),
        },
    }
}

/// Why the carrier refuses `sms` at once, if it does: Twilio's magic numbers, or media
/// on Instasent (which sends text only, as its adapter refuses it).
fn refusal(played: &Played, sms: &OutboundSms) -> Option<SmsError> {
    match played.provider {
        SmsProviderKind::Twilio => magic_error(sms),
        SmsProviderKind::Instasent if !sms.media_urls.is_empty() => Some(SmsError::Rejected {
            code: 0,
            class: ErrorClass::Other,
            message: "Instasent sends text only: the message has media".into(),
            http_status: 0,
        }),
        SmsProviderKind::Instasent => None,
    }
}

/// The id the provider gives: Twilio's `SM`/`MM` SID, or Instasent's (32 hex digits).
fn provider_id(provider: SmsProviderKind, sms: &OutboundSms, ulid: &str) -> String {
    match provider {
        SmsProviderKind::Instasent => sandbox_sid("", ulid),
        SmsProviderKind::Twilio if sms.media_urls.is_empty() => sandbox_sid("SM", ulid),
        SmsProviderKind::Twilio => sandbox_sid("MM", ulid),
    }
}

#[async_trait]
impl SmsProvider for SandboxCarrier {
    async fn send(
        &self,
        credentials: ProviderCredentials<'_>,
        sms: &OutboundSms,
    ) -> Result<ProviderAccepted, SmsError> {
        let played = played(credentials);
        if let Some(error) = refusal(&played, sms) {
            return Err(error);
        }
        let id = self.ids.new_id();
        let sid = provider_id(played.provider, sms, &id);
        let message = CarrierMessage {
            sid: sid.clone(),
            provider: played.provider,
            account_sid: played.account_sid,
            client_id: (played.provider == SmsProviderKind::Instasent)
                .then(|| sms.client_id.clone())
                .flatten(),
            from: sms.sender.as_str().to_string(),
            to: sms.to.to_string(),
            body: sms.body.clone(),
            media_urls: sms.media_urls.clone(),
            status_callback: sms.status_callback.clone(),
            accepted_at: self.clock.now(),
        };
        let stored = serde_json::to_vec(&message)
            .map_err(|e| SmsError::Unavailable(format!("sandbox carrier: {e}")))?;
        self.db
            .write(move |tx| {
                tx.open_table(MESSAGES)?
                    .insert(id.as_str(), stored.as_slice())?;
                Ok::<_, DbError>(())
            })
            .await
            .map_err(|e| SmsError::Unavailable(format!("sandbox carrier: {e}")))?;
        tokio::spawn(report_delivery(DeliveryReport {
            http: self.http.clone(),
            auth_token: played.auth_token,
            message,
            delay: self.callback_delay,
            route: self.callback_route.clone(),
        }));
        Ok(ProviderAccepted {
            sid: MessageSid::new(sid),
            status: MessageStatus::Queued,
            segments: None,
        })
    }

    /// As Twilio's message list: the newest message of this account to this recipient
    /// from this sender with this text, accepted at or after `since` (playing Instasent,
    /// also with the message's `clientId`).
    async fn find_sent(
        &self,
        credentials: ProviderCredentials<'_>,
        sms: &OutboundSms,
        since: Timestamp,
    ) -> Result<Option<ProviderAccepted>, SmsError> {
        let played = played(credentials);
        let client_id = (played.provider == SmsProviderKind::Instasent)
            .then(|| sms.client_id.clone())
            .flatten();
        let (account_sid, to) = (played.account_sid, sms.to.to_string());
        let (from, body) = (sms.sender.as_str().to_string(), sms.body.clone());
        let sent = move |message: &CarrierMessage| {
            message.accepted_at >= since
                && message.client_id == client_id
                && (
                    &message.account_sid,
                    &message.to,
                    &message.from,
                    &message.body,
                ) == (&account_sid, &to, &from, &body)
        };
        let newest = self
            .db
            .read(move |tx| newest_where(tx, MESSAGES, CORRUPT, 1, sent))
            .await
            .map_err(|e| SmsError::Unavailable(format!("sandbox carrier: {e}")))?;
        Ok(newest.into_iter().next().map(|message| ProviderAccepted {
            sid: MessageSid::new(message.sid),
            status: MessageStatus::Queued,
            segments: None,
        }))
    }
}

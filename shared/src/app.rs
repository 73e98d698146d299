//! The application: every port an adapter plugged in, built once per cold start (Lambda)
//! or once per process (local server) and shared by all handlers.

use std::sync::Arc;

use crate::domain::leases::Leases;
use crate::domain::reply_address::ReplyAddressing;
use crate::domain::retry_backoff::RetryBackoff;
use crate::domain::{AccountId, EmailAddress, MessageId};
use crate::ports::{
    Clock, Crm, EventPublisher, IdGenerator, JobQueue, Mailer, MediaStore, SmsProvider, Store,
};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppSettings {
    /// Public base URL Twilio calls (webhook signatures; status callback URLs).
    pub public_base_url: Option<String>,
    /// Sender address of the e-mails smsflow sends.
    pub mail_from: Option<EmailAddress>,
    /// How long a failed queue job waits before it is delivered again.
    pub retry_backoff: RetryBackoff,
    /// How long claimed work is left to a holder that may have died.
    pub leases: Leases,
    /// Where teammates' e-mail replies to forwards are received; `None`: forwards carry
    /// no reply address (README "Reply by e-mail").
    pub replies: Option<ReplyAddressing>,
}

impl AppSettings {
    /// The status callback URL given to the provider with each send. It names the account
    /// (whose auth token signs the callback) and our message, so a callback that arrives
    /// before the send worker attached the provider's SID still finds its message.
    /// Account ids and message ids (ULIDs) need no URL encoding.
    pub fn status_callback_url(
        &self,
        account: &AccountId,
        message_id: &MessageId,
    ) -> Option<String> {
        self.public_base_url.as_ref().map(|base| {
            format!(
                "{base}{}?account={account}&message={message_id}",
                crate::routes::STATUS_PATH
            )
        })
    }
}

impl AppSettings {
    /// The URL an Instasent account pastes into its API token's "Callback URL" field:
    /// the account and its secret in the path (Instasent signs nothing).
    pub fn instasent_callback_url(&self, account: &AccountId, secret: &str) -> Option<String> {
        self.public_base_url.as_ref().map(|base| {
            format!(
                "{base}{}",
                crate::routes::instasent_callback_path(account, secret)
            )
        })
    }
}

pub struct App {
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn JobQueue>,
    pub mailer: Arc<dyn Mailer>,
    /// Pictures of reply e-mails, where the SMS provider fetches them.
    pub media: Arc<dyn MediaStore>,
    pub sms: Arc<dyn SmsProvider>,
    pub crm: Arc<dyn Crm>,
    /// Delivery events to accounts' event webhooks.
    pub events: Arc<dyn EventPublisher>,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdGenerator>,
    pub settings: AppSettings,
}

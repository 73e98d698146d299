//! The SMS provider of a deployment: each message goes to the adapter of the provider its
//! credentials name (Twilio or Instasent), so the send path stays one.

use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::{ProviderCredentials, SmsProviderKind, Timestamp};
use crate::ports::sms::{OutboundSms, ProviderAccepted, SmsError, SmsProvider};

pub struct SmsRouter {
    twilio: Arc<dyn SmsProvider>,
    instasent: Arc<dyn SmsProvider>,
}

impl SmsRouter {
    pub fn new(twilio: Arc<dyn SmsProvider>, instasent: Arc<dyn SmsProvider>) -> Self {
        SmsRouter { twilio, instasent }
    }

    fn provider(&self, credentials: ProviderCredentials<'_>) -> &dyn SmsProvider {
        match credentials.kind() {
            SmsProviderKind::Twilio => self.twilio.as_ref(),
            SmsProviderKind::Instasent => self.instasent.as_ref(),
        }
    }
}

#[async_trait]
impl SmsProvider for SmsRouter {
    async fn send(
        &self,
        credentials: ProviderCredentials<'_>,
        sms: &OutboundSms,
    ) -> Result<ProviderAccepted, SmsError> {
        self.provider(credentials).send(credentials, sms).await
    }

    async fn find_sent(
        &self,
        credentials: ProviderCredentials<'_>,
        sms: &OutboundSms,
        since: Timestamp,
    ) -> Result<Option<ProviderAccepted>, SmsError> {
        (self.provider(credentials))
            .find_sent(credentials, sms, since)
            .await
    }
}

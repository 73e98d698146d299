//! The ports a function does not use. Each AWS function wires only the services its events
//! reach (as its IAM role in template.yaml grants only those), so the clients of the others
//! are not linked into its binary (BENCHMARKS.md, "Binary size"). A call that reaches one
//! anyway is a wiring mistake; it fails as that service being unavailable, so a job is
//! retried and then dead-lettered, never dropped.

use async_trait::async_trait;

use crate::domain::delivery::DeliveryEvent;
use crate::domain::{EventWebhook, ProviderCredentials, Timestamp};
use crate::ports::{
    Email, EventError, EventPublisher, MailError, Mailer, MediaError, MediaStore, OutboundSms,
    Picture, ProviderAccepted, SmsError, SmsProvider,
};

/// Stands in for a port this function was not wired with.
pub struct Unwired;

fn not_wired(service: &str) -> String {
    format!("this function is not wired to {service} (see its wiring in functions/)")
}

#[async_trait]
impl Mailer for Unwired {
    async fn send(&self, _email: &Email) -> Result<String, MailError> {
        Err(MailError::Unavailable(not_wired("send e-mail")))
    }
}

#[async_trait]
impl MediaStore for Unwired {
    async fn share(
        &self,
        _picture: Picture<'_>,
        _valid_for: std::time::Duration,
    ) -> Result<String, MediaError> {
        Err(MediaError::Unavailable(not_wired("keep media")))
    }
}

#[async_trait]
impl SmsProvider for Unwired {
    async fn send(
        &self,
        _credentials: ProviderCredentials<'_>,
        _sms: &OutboundSms,
    ) -> Result<ProviderAccepted, SmsError> {
        Err(SmsError::Unavailable(not_wired("send SMS")))
    }

    async fn find_sent(
        &self,
        _credentials: ProviderCredentials<'_>,
        _sms: &OutboundSms,
        _since: Timestamp,
    ) -> Result<Option<ProviderAccepted>, SmsError> {
        Err(SmsError::Unavailable(not_wired("look up sent SMS")))
    }
}

#[async_trait]
impl EventPublisher for Unwired {
    async fn publish(
        &self,
        _webhook: &EventWebhook,
        _event: &DeliveryEvent,
    ) -> Result<(), EventError> {
        Err(EventError::Unavailable(not_wired("post delivery events")))
    }
}

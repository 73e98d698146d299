//! The `Mailer` port on Amazon SES.
//!
//! Why SES v2 (`aws-sdk-sesv2`) and not `aws-sdk-ses` (v1): v2 is the current API AWS develops,
//! its `SendEmail` needs the same `ses:SendEmail` IAM action, it brings configuration sets and
//! list management (bulk mail, one-click unsubscribe) should we need them, and moto serves its
//! `SendEmail`, so the adapter is tested against an emulator rather than mocked.

use async_trait::async_trait;
use aws_sdk_sesv2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};

use crate::ports::mail::{Email, MailError, Mailer};

const CHARSET: &str = "UTF-8";

/// Sends e-mail through SES v2 `SendEmail` with simple (text) content.
#[derive(Debug, Clone)]
pub struct SesMailer {
    client: aws_sdk_sesv2::Client,
    /// SES configuration set to tag every message with (event publishing, suppression).
    configuration_set: Option<String>,
}

impl SesMailer {
    pub fn new(client: aws_sdk_sesv2::Client, configuration_set: Option<String>) -> Self {
        SesMailer {
            client,
            configuration_set,
        }
    }
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, email: &Email) -> Result<String, MailError> {
        // SES rejects a message without destinations, but moto accepts it: check here so
        // every environment behaves like production.
        if email.to.is_empty() {
            return Err(MailError::Rejected("the e-mail has no recipient".into()));
        }
        let content = simple_content(email)
            .map_err(|e| MailError::Rejected(format!("cannot build the SES message: {e}")))?;
        let output = self
            .client
            .send_email()
            .from_email_address(email.from.as_str())
            .destination(
                Destination::builder()
                    .set_to_addresses(Some(email.to.iter().map(|a| a.to_string()).collect()))
                    .build(),
            )
            .set_reply_to_addresses(email.reply_to.as_ref().map(|r| vec![r.to_string()]))
            .set_configuration_set_name(self.configuration_set.clone())
            .content(content)
            .send()
            .await
            .map_err(mail_error)?;
        // SES always answers with a MessageId; a 2xx without one still means "sent", and
        // reporting an error would make the caller send the e-mail twice.
        let id = output.message_id().unwrap_or_default().to_string();
        if id.is_empty() {
            tracing::warn!("SES accepted an e-mail without returning a MessageId");
        }
        Ok(id)
    }
}

fn simple_content(email: &Email) -> Result<EmailContent, aws_sdk_sesv2::error::BuildError> {
    let text = |data: &str| Content::builder().data(data).charset(CHARSET).build();
    let message = Message::builder()
        .subject(text(&email.subject)?)
        .body(Body::builder().text(text(&email.text)?).build())
        .build();
    Ok(EmailContent::builder().simple(message).build())
}

/// Whether SES refused this message for good or may take it later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Permanent,
    Transient,
}

fn mail_error(err: SdkError<SendEmailError>) -> MailError {
    let detail = DisplayErrorContext(&err).to_string();
    let outcome = match &err {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            classify_service_error(service.err(), status)
        }
        // The SDK could not serialise the request: the same request will fail again.
        SdkError::ConstructionFailure(_) => Outcome::Permanent,
        // Timeouts, connection failures and unreadable responses: SES may be fine later.
        _ => Outcome::Transient,
    };
    match outcome {
        Outcome::Permanent => MailError::Rejected(detail),
        Outcome::Transient => MailError::Unavailable(detail),
    }
}

fn classify_service_error(err: &SendEmailError, status: u16) -> Outcome {
    match err {
        SendEmailError::MessageRejected(_)
        | SendEmailError::MailFromDomainNotVerifiedException(_)
        | SendEmailError::BadRequestException(_)
        | SendEmailError::AccountSuspendedException(_)
        | SendEmailError::SendingPausedException(_)
        // A configuration set or contact list that does not exist: fix the configuration.
        | SendEmailError::NotFoundException(_) => Outcome::Permanent,
        SendEmailError::TooManyRequestsException(_) | SendEmailError::LimitExceededException(_) => {
            Outcome::Transient
        }
        other => classify_unmodelled(other.code(), status),
    }
}

/// Errors SES's model does not list for `SendEmail` (the generic AWS ones).
fn classify_unmodelled(code: Option<&str>, status: u16) -> Outcome {
    // Throttling, and our own credentials or permissions: a deploy or a token refresh fixes
    // those, and the e-mail must wait for it rather than be dropped.
    const RETRY_CODES: &[&str] = &[
        "Throttling",
        "ThrottlingException",
        "RequestTimeout",
        "ServiceUnavailable",
        "AccessDenied",
        "AccessDeniedException",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
    ];
    if status >= 500 || status == 429 || code.is_some_and(|c| RETRY_CODES.contains(&c)) {
        Outcome::Transient
    } else {
        Outcome::Permanent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::test_support::{unreachable_origin, untouched_server};
    use crate::domain::EmailAddress;
    use aws_sdk_sesv2::config::retry::RetryConfig;
    use aws_sdk_sesv2::config::{BehaviorVersion, Credentials, Region};
    use wiremock::matchers::{body_partial_json, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn address(s: &str) -> EmailAddress {
        EmailAddress::parse(s).expect("test address is valid")
    }

    fn email() -> Email {
        Email {
            from: address("alerts@smsflow.example.com"),
            to: vec![address("mary@example.com")],
            reply_to: Some(address("office@example.com")),
            subject: "New text from +1 415 555 2671".into(),
            text: "Can you call me back?".into(),
        }
    }

    /// A mailer talking to `endpoint`, without retries so one mocked answer decides.
    fn mailer(endpoint: &str, configuration_set: Option<&str>) -> SesMailer {
        let config = aws_sdk_sesv2::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .endpoint_url(endpoint)
            .retry_config(RetryConfig::disabled())
            .build();
        SesMailer::new(
            aws_sdk_sesv2::Client::from_conf(config),
            configuration_set.map(str::to_string),
        )
    }

    #[tokio::test]
    async fn sends_text_utf8_content_with_reply_to_and_configuration_set() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v2/email/outbound-emails"))
            .and(header("content-type", "application/json"))
            .and(body_partial_json(serde_json::json!({
                "FromEmailAddress": "alerts@smsflow.example.com",
                "Destination": {"ToAddresses": ["mary@example.com"]},
                "ReplyToAddresses": ["office@example.com"],
                "ConfigurationSetName": "smsflow",
                "Content": {"Simple": {
                    "Subject": {"Data": "New text from +1 415 555 2671", "Charset": "UTF-8"},
                    "Body": {"Text": {"Data": "Can you call me back?", "Charset": "UTF-8"}}
                }}
            })))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(serde_json::json!({"MessageId": "m-1"})),
            )
            .expect(1)
            .mount(&server)
            .await;

        let id = mailer(&server.uri(), Some("smsflow"))
            .send(&email())
            .await
            .expect("the mocked SES accepts");
        assert_eq!(id, "m-1");
    }

    #[tokio::test]
    async fn maps_ses_errors_to_rejected_or_unavailable() {
        // (HTTP status, SES error type, whether the message is refused for good)
        let cases = [
            (400, "MessageRejected", true),
            (400, "MailFromDomainNotVerifiedException", true),
            (400, "BadRequestException", true),
            (400, "AccountSuspendedException", true),
            (400, "SendingPausedException", true),
            (404, "NotFoundException", true),
            (429, "TooManyRequestsException", false),
            (400, "LimitExceededException", false),
            (400, "ThrottlingException", false),
            (403, "AccessDeniedException", false),
            (500, "InternalFailure", false),
            (503, "ServiceUnavailable", false),
            (400, "SomethingNew", true),
        ];
        for (status, error_type, permanent) in cases {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .respond_with(
                    ResponseTemplate::new(status)
                        .insert_header("x-amzn-ErrorType", error_type)
                        .set_body_json(serde_json::json!({"message": "mocked"})),
                )
                .mount(&server)
                .await;
            let result = mailer(&server.uri(), None).send(&email()).await;
            match (permanent, &result) {
                (true, Err(MailError::Rejected(detail)))
                | (false, Err(MailError::Unavailable(detail))) => {
                    assert!(detail.contains(error_type), "{error_type}: {detail}")
                }
                _ => panic!("{status} {error_type}: unexpected {result:?}"),
            }
        }
    }

    #[tokio::test]
    async fn unreachable_ses_is_unavailable() {
        let result = mailer(&unreachable_origin(), None).send(&email()).await;
        assert!(
            matches!(result, Err(MailError::Unavailable(_))),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn an_email_without_recipients_is_rejected_before_calling_ses() {
        let server = untouched_server().await;
        let mut no_one = email();
        no_one.to.clear();
        let result = mailer(&server.uri(), None).send(&no_one).await;
        assert!(matches!(result, Err(MailError::Rejected(_))), "{result:?}");
    }
}

//! Mailer conformance: what every `Mailer` (SES, the outbox) must do.
//!
//! Each adapter comes with a way to read back what it delivered (moto's record of SES
//! sends, the outbox's list) and with one message it must refuse for good, because each
//! service refuses different things (SES: an unverified sender; outbox: a magic domain).

use std::sync::Arc;

use async_trait::async_trait;
use smsflow_shared::domain::EmailAddress;
use smsflow_shared::ports::mail::{Email, MailError, Mailer};

/// One adapter under test, fresh for each case.
pub struct MailUnderTest {
    pub mailer: Arc<dyn Mailer>,
    /// A sender address the adapter accepts.
    pub sender: EmailAddress,
    pub delivered: Arc<dyn DeliveredMail>,
    /// A message this adapter must refuse with `MailError::Rejected`.
    pub must_reject: Email,
}

/// Reads back what an adapter delivered.
#[async_trait]
pub trait DeliveredMail: Send + Sync {
    /// The delivered e-mail whose id `send` returned, if it was delivered.
    async fn find(&self, id: &str) -> Option<DeliveredEmail>;
}

/// An e-mail as the service recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveredEmail {
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
}

fn address(s: &str) -> EmailAddress {
    EmailAddress::parse(s).expect("test address is valid")
}

fn email(sender: &EmailAddress, to: &[&str], subject: &str, text: &str) -> Email {
    Email {
        from: sender.clone(),
        to: to.iter().map(|a| address(a)).collect(),
        reply_to: Some(address("office@example.com")),
        subject: subject.into(),
        text: text.into(),
    }
}

pub async fn accepts_a_valid_email_and_returns_an_id(t: MailUnderTest) {
    let sent = email(&t.sender, &["mary@example.com"], "Hello", "A text arrived.");
    let id = t
        .mailer
        .send(&sent)
        .await
        .expect("a valid e-mail is accepted");
    assert!(!id.trim().is_empty(), "the message id is empty");
}

pub async fn delivers_recipients_subject_and_body(t: MailUnderTest) {
    // Non-ASCII on purpose: the adapter must declare and keep UTF-8.
    let subject = "New text from +1 415-555-2671 — Grüße ✓";
    let text = "Hi Mary,\n\nCan you call me back? 🙂\n\n— smsflow";
    let sent = email(
        &t.sender,
        &["mary@example.com", "john@example.org"],
        subject,
        text,
    );
    let id = t.mailer.send(&sent).await.expect("accepted");
    let delivered = t
        .delivered
        .find(&id)
        .await
        .expect("the sent e-mail was delivered under the returned id");
    assert_eq!(
        delivered,
        DeliveredEmail {
            from: t.sender.to_string(),
            to: vec!["mary@example.com".into(), "john@example.org".into()],
            subject: subject.into(),
            text: text.into(),
        }
    );
}

pub async fn each_send_is_its_own_message(t: MailUnderTest) {
    let first = email(&t.sender, &["mary@example.com"], "First", "one");
    let second = email(&t.sender, &["mary@example.com"], "Second", "two");
    let first_id = t.mailer.send(&first).await.expect("accepted");
    let second_id = t.mailer.send(&second).await.expect("accepted");
    assert_ne!(first_id, second_id);
    for (id, subject) in [(first_id, "First"), (second_id, "Second")] {
        let delivered = t.delivered.find(&id).await.expect("delivered");
        assert_eq!(delivered.subject, subject, "message {id}");
    }
}

pub async fn rejects_what_the_service_refuses(t: MailUnderTest) {
    let result = t.mailer.send(&t.must_reject).await;
    assert!(
        matches!(result, Err(MailError::Rejected(_))),
        "expected Rejected, got {result:?}"
    );
}

pub async fn rejects_an_email_without_recipients(t: MailUnderTest) {
    let result = t
        .mailer
        .send(&email(&t.sender, &[], "Nobody", "to no one"))
        .await;
    assert!(
        matches!(result, Err(MailError::Rejected(_))),
        "expected Rejected, got {result:?}"
    );
}

/// `mail_conformance!(module_name, factory)` adds a module with one `#[tokio::test]` per
/// case; `factory` is an async fn (in scope where the macro is used) returning a fresh
/// [`MailUnderTest`].
#[macro_export]
macro_rules! mail_conformance {
    ($name:ident, $factory:path) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $crate::mail_conformance!(@cases $factory;
                accepts_a_valid_email_and_returns_an_id,
                delivers_recipients_subject_and_body,
                each_send_is_its_own_message,
                rejects_what_the_service_refuses,
                rejects_an_email_without_recipients,
            );
        }
    };
    (@cases $factory:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                $crate::conformance::mail::$case($factory().await).await;
            }
        )*
    };
}

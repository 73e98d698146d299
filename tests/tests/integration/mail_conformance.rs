//! The mailer conformance suite against the outbox (in memory) and SES (moto).

use std::sync::Arc;

use async_trait::async_trait;
use smsflow_shared::adapters::aws::ses::SesMailer;
use smsflow_shared::adapters::embedded::{EmbeddedDb, Outbox};
use smsflow_shared::domain::EmailAddress;
use smsflow_shared::ports::clock::{SystemClock, UlidIds};
use smsflow_shared::ports::mail::Email;
use smsflow_tests::conformance::mail::{DeliveredEmail, DeliveredMail, MailUnderTest};
use smsflow_tests::{mail_conformance, moto};

fn address(s: &str) -> EmailAddress {
    EmailAddress::parse(s).expect("test address is valid")
}

fn message_from(from: EmailAddress, to: &str) -> Email {
    Email {
        from,
        to: vec![address(to)],
        reply_to: None,
        subject: "Must not be sent".into(),
        text: "-".into(),
    }
}

struct OutboxContents(Outbox);

#[async_trait]
impl DeliveredMail for OutboxContents {
    async fn find(&self, id: &str) -> Option<DeliveredEmail> {
        let entries = self.0.list(usize::MAX).await.expect("outbox readable");
        entries
            .into_iter()
            .find(|e| e.id == id)
            .map(|e| DeliveredEmail {
                from: e.email.from.to_string(),
                to: e.email.to.iter().map(|a| a.to_string()).collect(),
                subject: e.email.subject,
                text: e.email.text,
            })
    }
}

async fn outbox() -> MailUnderTest {
    let db = EmbeddedDb::in_memory().expect("in-memory db");
    let outbox = Outbox::new(db, Arc::new(SystemClock), Arc::new(UlidIds::default()));
    let sender = address("alerts@smsflow.example.com");
    MailUnderTest {
        mailer: Arc::new(outbox.clone()),
        must_reject: message_from(sender.clone(), "nobody@bounce.invalid"),
        sender,
        delivered: Arc::new(OutboxContents(outbox)),
    }
}

struct MotoSes;

#[async_trait]
impl DeliveredMail for MotoSes {
    async fn find(&self, id: &str) -> Option<DeliveredEmail> {
        moto::sent_emails()
            .await
            .into_iter()
            .find(|m| m.id == id)
            .map(|m| DeliveredEmail {
                from: m.source,
                to: m.to,
                subject: m.subject,
                text: m.body,
            })
    }
}

async fn ses() -> MailUnderTest {
    let client = aws_sdk_sesv2::Client::new(&moto::sdk_config().await);
    let verified = format!("{}.example.com", moto::unique_name("mail"));
    client
        .create_email_identity()
        .email_identity(&verified)
        .send()
        .await
        .expect("moto creates the sender's domain identity");
    let unverified = format!("{}.example.com", moto::unique_name("unverified"));
    MailUnderTest {
        mailer: Arc::new(SesMailer::new(client, None)),
        sender: address(&format!("alerts@{verified}")),
        must_reject: message_from(address(&format!("alerts@{unverified}")), "mary@example.com"),
        delivered: Arc::new(MotoSes),
    }
}

mail_conformance!(outbox_mailer, outbox);
mail_conformance!(ses_mailer, ses);

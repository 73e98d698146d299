//! The local mailer: e-mails are kept in the embedded database instead of being sent, and
//! the local server shows them under `/_sandbox/emails`.

use std::sync::Arc;

use async_trait::async_trait;
use redb::TableDefinition;
use serde::{Deserialize, Serialize};

use super::json_log::newest_where;
use super::{DbError, EmbeddedDb};
use crate::domain::{EmailAddress, Timestamp};
use crate::ports::clock::{Clock, IdGenerator};
use crate::ports::mail::{Email, MailError, Mailer};

/// Key: (sent at in epoch ms, id) so iteration order is send order. Value: `OutboxEntry` JSON.
const OUTBOX: TableDefinition<(i64, &str), &[u8]> = TableDefinition::new("outbox");

/// Recipients at this domain are refused for good (`MailError::Rejected`).
pub const BOUNCE_DOMAIN: &str = "bounce.invalid";
/// Recipients at this domain make the send fail as if the service were down
/// (`MailError::Unavailable`).
pub const UNAVAILABLE_DOMAIN: &str = "unavailable.invalid";

/// One e-mail the outbox accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub id: String,
    pub sent_at: Timestamp,
    #[serde(flatten)]
    pub email: Email,
}

/// A `Mailer` that stores every e-mail in the embedded database.
///
/// Sandbox magic, so local runs and tests can exercise failures (`.invalid` is a reserved
/// top-level domain, so no real address is affected):
/// - any recipient at `bounce.invalid` (e.g. `nobody@bounce.invalid`): the e-mail is
///   refused with `MailError::Rejected`, like SES refusing a message;
/// - any recipient at `unavailable.invalid`: `MailError::Unavailable`, like an SES outage
///   or throttling.
///
/// A bounce wins when both kinds of recipient are present; neither kind of e-mail is stored. An e-mail without recipients is `Rejected`, as SES does.
#[derive(Clone)]
pub struct Outbox {
    db: EmbeddedDb,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
}

impl Outbox {
    pub fn new(db: EmbeddedDb, clock: Arc<dyn Clock>, ids: Arc<dyn IdGenerator>) -> Self {
        Outbox { db, clock, ids }
    }

    /// The `limit` most recently sent e-mails, newest first.
    pub async fn list(&self, limit: usize) -> Result<Vec<OutboxEntry>, DbError> {
        self.list_where(limit, |_| true).await
    }

    /// The `limit` most recently sent e-mails that `keep` accepts, newest first.
    pub async fn list_where(
        &self,
        limit: usize,
        keep: impl Fn(&Email) -> bool + Send + 'static,
    ) -> Result<Vec<OutboxEntry>, DbError> {
        self.db
            .read(move |tx| {
                let keep = |entry: &OutboxEntry| keep(&entry.email);
                newest_where(tx, OUTBOX, "unreadable outbox entry", limit, keep)
            })
            .await
    }
}

#[async_trait]
impl Mailer for Outbox {
    async fn send(&self, email: &Email) -> Result<String, MailError> {
        if email.to.is_empty() {
            return Err(MailError::Rejected("the e-mail has no recipient".into()));
        }
        if let Some(to) = email.to.iter().find(|a| domain(a) == BOUNCE_DOMAIN) {
            return Err(MailError::Rejected(format!(
                "sandbox: {to} is at {BOUNCE_DOMAIN}, which always bounces"
            )));
        }
        if let Some(to) = email.to.iter().find(|a| domain(a) == UNAVAILABLE_DOMAIN) {
            return Err(MailError::Unavailable(format!(
                "sandbox: {to} is at {UNAVAILABLE_DOMAIN}, which simulates an outage"
            )));
        }
        let entry = OutboxEntry {
            id: self.ids.new_id(),
            sent_at: self.clock.now(),
            email: email.clone(),
        };
        let json = serde_json::to_vec(&entry)
            .map_err(|e| MailError::Unavailable(format!("cannot encode the e-mail: {e}")))?;
        let id = entry.id;
        let key_id = id.clone();
        let sent_at = entry.sent_at.as_millis();
        self.db
            .write(move |tx| {
                tx.open_table(OUTBOX)?
                    .insert((sent_at, key_id.as_str()), json.as_slice())?;
                Ok::<_, DbError>(())
            })
            .await
            .map_err(|e| MailError::Unavailable(e.to_string()))?;
        Ok(id)
    }
}

fn domain(address: &EmailAddress) -> &str {
    address
        .as_str()
        .rsplit_once('@')
        .map_or("", |(_, domain)| domain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::clock::{ManualClock, UlidIds};
    use std::time::Duration;

    fn address(s: &str) -> EmailAddress {
        EmailAddress::parse(s).expect("test address is valid")
    }

    fn email_to(to: &[&str], subject: &str) -> Email {
        Email {
            from: address("alerts@smsflow.example.com"),
            to: to.iter().map(|a| address(a)).collect(),
            reply_to: Some(address("office@example.com")),
            subject: subject.into(),
            text: "body".into(),
        }
    }

    fn outbox(db: EmbeddedDb, clock: Arc<ManualClock>) -> Outbox {
        Outbox::new(db, clock, Arc::new(UlidIds::default()))
    }

    #[tokio::test]
    async fn lists_newest_first_with_time_and_reply_to() {
        let clock = Arc::new(ManualClock::at(Timestamp::from_millis(1_000)));
        let outbox = outbox(
            EmbeddedDb::in_memory().expect("in-memory db"),
            clock.clone(),
        );
        let mut ids = Vec::new();
        for subject in ["first", "second", "third"] {
            ids.push(
                outbox
                    .send(&email_to(&["mary@example.com"], subject))
                    .await
                    .expect("accepted"),
            );
            clock.advance(Duration::from_secs(1));
        }

        let listed = outbox.list(2).await.expect("list");
        let seen: Vec<(&str, &str, i64)> = listed
            .iter()
            .map(|e| {
                (
                    e.id.as_str(),
                    e.email.subject.as_str(),
                    e.sent_at.as_millis(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            vec![
                (ids[2].as_str(), "third", 3_000),
                (ids[1].as_str(), "second", 2_000)
            ]
        );
        assert_eq!(
            listed[0].email.reply_to,
            Some(address("office@example.com"))
        );
    }

    #[tokio::test]
    async fn same_millisecond_sends_keep_their_order() {
        let clock = Arc::new(ManualClock::at(Timestamp::from_millis(5)));
        let outbox = outbox(EmbeddedDb::in_memory().expect("in-memory db"), clock);
        for subject in ["a", "b", "c"] {
            outbox
                .send(&email_to(&["mary@example.com"], subject))
                .await
                .expect("accepted");
        }
        let subjects: Vec<String> = outbox
            .list(10)
            .await
            .expect("list")
            .into_iter()
            .map(|e| e.email.subject)
            .collect();
        assert_eq!(subjects, ["c", "b", "a"]);
    }

    #[tokio::test]
    async fn magic_domains_fail_and_store_nothing() {
        let clock = Arc::new(ManualClock::at(Timestamp::from_millis(5)));
        let outbox = outbox(EmbeddedDb::in_memory().expect("in-memory db"), clock);
        // (recipients, expected failure) — one magic recipient among normal ones is enough.
        let cases: [(&[&str], &str); 5] = [
            (&["x@bounce.invalid"], "rejected"),
            (&["mary@example.com", "x@bounce.invalid"], "rejected"),
            (&["x@unavailable.invalid"], "unavailable"),
            (&["x@unavailable.invalid", "y@bounce.invalid"], "rejected"),
            (&[], "rejected"),
        ];
        for (to, expected) in cases {
            let failure = match outbox.send(&email_to(to, "magic")).await {
                Err(MailError::Rejected(_)) => "rejected",
                Err(MailError::Unavailable(_)) => "unavailable",
                Ok(id) => panic!("{to:?}: accepted as {id}"),
            };
            assert_eq!(failure, expected, "{to:?}");
        }
        assert!(outbox.list(10).await.expect("list").is_empty());
    }

    #[tokio::test]
    async fn entries_survive_reopening_the_database_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("sandbox").join("smsflow.redb");
        let clock = Arc::new(ManualClock::at(Timestamp::from_millis(42)));
        let id = {
            let outbox = outbox(EmbeddedDb::open(&path).expect("open db"), clock.clone());
            outbox
                .send(&email_to(&["mary@example.com"], "kept"))
                .await
                .expect("accepted")
        };
        let reopened = outbox(EmbeddedDb::open(&path).expect("reopen db"), clock);
        let listed = reopened.list(10).await.expect("list");
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].id, id);
        assert_eq!(listed[0].email, email_to(&["mary@example.com"], "kept"));
    }

    #[test]
    fn entry_json_is_flat() {
        let entry = OutboxEntry {
            id: "01J".into(),
            sent_at: Timestamp::from_millis(7),
            email: email_to(&["mary@example.com"], "hi"),
        };
        let json = serde_json::to_value(&entry).expect("serialises");
        assert_eq!(
            json,
            serde_json::json!({
                "id": "01J",
                "sent_at": 7,
                "from": "alerts@smsflow.example.com",
                "to": ["mary@example.com"],
                "reply_to": "office@example.com",
                "subject": "hi",
                "text": "body"
            })
        );
    }
}

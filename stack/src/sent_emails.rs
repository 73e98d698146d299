//! The e-mails the stack's functions sent through SES, as the AWS proxy saw moto accept
//! them: what `/_sandbox/emails` lists. Kept as they pass rather than read back from moto,
//! whose state dump holds every service's data (it grew slow and then failed after a few
//! hundred sends) and keeps neither an e-mail's Reply-To nor when it was sent.

use std::sync::Mutex;

use serde::Serialize;
use serde_json::Value;
use smsflow_shared::domain::Timestamp;

/// An e-mail in the local outbox's shape (`shared/src/adapters/embedded/outbox.rs`,
/// `OutboxEntry`); `id` is SES's message id, where the outbox has a ULID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SentEmail {
    pub id: String,
    /// When moto accepted it.
    pub sent_at: Timestamp,
    pub from: String,
    pub to: Vec<String>,
    pub reply_to: Option<String>,
    pub subject: String,
    pub text: String,
}

/// Every e-mail sent, oldest first.
#[derive(Debug, Default)]
pub struct SentEmails(Mutex<Vec<SentEmail>>);

impl SentEmails {
    /// Keeps an SES v2 `SendEmail` with simple content (what smsflow's mailer sends) that
    /// moto answered with a message id; anything else is not an e-mail sent.
    pub fn keep(&self, request: &[u8], answer: &[u8], at: Timestamp) {
        let read = |bytes: &[u8]| serde_json::from_slice::<Value>(bytes).ok();
        let (Some(request), Some(answer)) = (read(request), read(answer)) else {
            return;
        };
        let Some(id) = answer["MessageId"].as_str() else {
            return;
        };
        let text = |value: &Value| value.as_str().unwrap_or_default().to_string();
        let simple = &request["Content"]["Simple"];
        self.push(SentEmail {
            id: id.to_string(),
            sent_at: at,
            from: text(&request["FromEmailAddress"]),
            to: addresses(&request["Destination"]["ToAddresses"]),
            reply_to: addresses(&request["ReplyToAddresses"]).into_iter().next(),
            subject: text(&simple["Subject"]["Data"]),
            text: text(&simple["Body"]["Text"]["Data"]),
        });
    }

    pub fn push(&self, email: SentEmail) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(email);
    }

    /// The last `limit` e-mails, newest first.
    pub fn newest_first(&self, limit: usize) -> Vec<SentEmail> {
        let emails = self.0.lock().unwrap_or_else(|p| p.into_inner());
        emails.iter().rev().take(limit).cloned().collect()
    }
}

fn addresses(list: &Value) -> Vec<String> {
    list.as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn keeps_what_moto_accepted_as_the_outbox_shows_it() {
        let emails = SentEmails::default();
        let request = json!({
            "FromEmailAddress": "alerts@smsflow.example.com",
            "Destination": {"ToAddresses": ["mary@acme.example"]},
            "ReplyToAddresses": ["reply+abc@reply.acme.example"],
            "Content": {"Simple": {
                "Subject": {"Data": "SMS from +14155552671", "Charset": "UTF-8"},
                "Body": {"Text": {"Data": "Is the roof done?", "Charset": "UTF-8"}},
            }},
        });
        let bytes = |v: &Value| serde_json::to_vec(v).expect("JSON");
        let at = Timestamp::from_millis(7);
        emails.keep(&bytes(&request), &bytes(&json!({"MessageId": "ses-1"})), at);
        // Refused (no message id) or not JSON: not sent.
        emails.keep(
            &bytes(&request),
            &bytes(&json!({"__type": "MessageRejected"})),
            at,
        );
        emails.keep(b"<xml/>", b"{}", at);
        assert_eq!(
            emails.newest_first(10),
            [SentEmail {
                id: "ses-1".into(),
                sent_at: at,
                from: "alerts@smsflow.example.com".into(),
                to: vec!["mary@acme.example".into()],
                reply_to: Some("reply+abc@reply.acme.example".into()),
                subject: "SMS from +14155552671".into(),
                text: "Is the roof done?".into(),
            }]
        );
    }
}

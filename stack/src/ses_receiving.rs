//! SES receiving, played for the stack's receipt rules (`template.yaml`'s reply rule): an
//! e-mail to a recipient an enabled rule covers gets an SES message id, then each of the
//! rule's actions runs in order: S3 stores the raw message under `<prefix><message id>`
//! in moto (as SES, whose right to write there moto_stack checked when the rule was
//! created), Lambda invokes the function with SES's event and its verdicts.
//!
//! Where this differs from SES: the rule set is used as if activated (only the operator
//! can activate one, README "Reply by e-mail"); the Lambda action is awaited even when its
//! invocation type is `Event`, so the sandbox can answer with what became of the reply;
//! and the verdicts are the ones the request gives, not SES's own checks.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use serde_json::{Value, json};
use smsflow_shared::domain::email_reply::read_email;
use smsflow_shared::usecases::email_reply::{Verdict, Verdicts};

use crate::lambda::FunctionPool;
use crate::manifest::{ReceiptAction, ReceiptRule};

/// The stack's receipt rules and what their actions reach.
pub struct SesReceiving {
    pub rules: Vec<ReceiptRule>,
    /// Function pools by logical id.
    pub pools: BTreeMap<String, Arc<FunctionPool>>,
    pub moto_endpoint: String,
    /// ARNs of the functions by logical id, as SES names them in the event.
    pub function_arns: BTreeMap<String, String>,
    pub http: reqwest::Client,
}

/// Why an e-mail was not received.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    #[error("no enabled receipt rule of the stack receives mail for {0}")]
    NoRule(String),
    #[error("the body is not an e-mail")]
    NotMime,
    #[error("SES's S3 action failed: {0}")]
    Store(String),
    #[error("SES's Lambda action failed: {0}")]
    Invoke(String),
    #[error("the stack has no function {0}")]
    NoFunction(String),
}

impl SesReceiving {
    /// Receives `raw` with `verdicts`: the last Lambda action's answer.
    pub async fn receive(&self, raw: &[u8], verdicts: &Verdicts) -> Result<Value, ReceiveError> {
        let email = read_email(raw).map_err(|_| ReceiveError::NotMime)?;
        let (rule, recipients) = self
            .rule_for(&email.recipients)
            .ok_or_else(|| ReceiveError::NoRule(email.recipients.join(", ")))?;
        let message_id = ses_message_id();
        let mut answer = Value::Null;
        for action in &rule.actions {
            match action {
                ReceiptAction::S3 { bucket, prefix } => {
                    self.store(bucket, &format!("{prefix}{message_id}"), raw)
                        .await?;
                }
                ReceiptAction::Lambda {
                    function,
                    invocation_type,
                } => {
                    let event = Event {
                        raw,
                        message_id: &message_id,
                        recipients: &recipients,
                        verdicts,
                        function_arn: self.function_arns.get(function).map_or("", |a| a),
                        invocation_type,
                    };
                    answer = self.invoke(function, &event.json(&email.from)).await?;
                }
            }
        }
        Ok(answer)
    }

    /// The first enabled rule covering a recipient, and the recipients it covers.
    fn rule_for(&self, recipients: &[String]) -> Option<(&ReceiptRule, Vec<String>)> {
        self.rules.iter().filter(|r| r.enabled).find_map(|rule| {
            let covered: Vec<String> = recipients
                .iter()
                .filter(|address| rule.recipients.iter().any(|r| covers(r, address)))
                .cloned()
                .collect();
            (!covered.is_empty()).then_some((rule, covered))
        })
    }

    async fn store(&self, bucket: &str, key: &str, raw: &[u8]) -> Result<(), ReceiveError> {
        let url = format!(
            "{}/{bucket}/{key}",
            self.moto_endpoint.trim_end_matches('/')
        );
        let answer = self
            .http
            .put(&url)
            .body(raw.to_vec())
            .send()
            .await
            .map_err(|e| ReceiveError::Store(e.to_string()))?;
        if !answer.status().is_success() {
            return Err(ReceiveError::Store(format!(
                "PUT {url}: {}",
                answer.status()
            )));
        }
        Ok(())
    }

    async fn invoke(&self, function: &str, event: &Value) -> Result<Value, ReceiveError> {
        let pool = self
            .pools
            .get(function)
            .ok_or_else(|| ReceiveError::NoFunction(function.to_string()))?;
        let answer = pool
            .invoke(Bytes::from(event.to_string()))
            .await
            .map_err(|e| ReceiveError::Invoke(e.to_string()))?;
        serde_json::from_slice(&answer).map_err(|e| ReceiveError::Invoke(e.to_string()))
    }
}

/// SES's rule recipients: an address, a domain, or `.domain` for its subdomains.
fn covers(rule_recipient: &str, address: &str) -> bool {
    let rule_recipient = rule_recipient.to_ascii_lowercase();
    let address = address.to_ascii_lowercase();
    if rule_recipient.contains('@') {
        return rule_recipient == address;
    }
    let Some((_, domain)) = address.rsplit_once('@') else {
        return false;
    };
    match rule_recipient.strip_prefix('.') {
        Some(parent) => domain.ends_with(&format!(".{parent}")),
        None => domain == rule_recipient,
    }
}

/// SES's message ids are 40 lower-case letters and digits.
fn ses_message_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..40)
        .map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())] as char)
        .collect()
}

/// One SES Lambda action's event.
struct Event<'a> {
    raw: &'a [u8],
    message_id: &'a str,
    recipients: &'a [String],
    verdicts: &'a Verdicts,
    function_arn: &'a str,
    invocation_type: &'a str,
}

impl Event<'_> {
    /// SES's event for a Lambda action: `Records[0].ses.{mail, receipt}`.
    fn json(&self, from: &Option<String>) -> Value {
        let now = jiff::Timestamp::now().to_string();
        let headers = header_list(self.raw);
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let status = |v: Verdict| json!({ "status": verdict_name(v) });
        let v = self.verdicts;
        json!({"Records": [{
            "eventSource": "aws:ses",
            "eventVersion": "1.0",
            "ses": {
                "mail": {
                    "timestamp": now,
                    "source": from,
                    "messageId": self.message_id,
                    "destination": self.recipients,
                    "headersTruncated": false,
                    "headers": headers.iter().map(|(n, v)| json!({"name": n, "value": v})).collect::<Vec<_>>(),
                    "commonHeaders": {
                        "returnPath": from,
                        "from": header("From").into_iter().collect::<Vec<_>>(),
                        "to": header("To").into_iter().collect::<Vec<_>>(),
                        "date": header("Date"),
                        "messageId": header("Message-ID"),
                        "subject": header("Subject"),
                    },
                },
                "receipt": {
                    "timestamp": now,
                    "processingTimeMillis": 12,
                    "recipients": self.recipients,
                    "spamVerdict": status(v.spam),
                    "virusVerdict": status(v.virus),
                    "spfVerdict": status(v.spf),
                    "dkimVerdict": status(v.dkim),
                    "dmarcVerdict": status(v.dmarc),
                    "action": {
                        "type": "Lambda",
                        "functionArn": self.function_arn,
                        "invocationType": self.invocation_type,
                    },
                },
            },
        }]})
    }
}

fn verdict_name(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "PASS",
        Verdict::Fail => "FAIL",
        Verdict::Gray => "GRAY",
        Verdict::ProcessingFailed => "PROCESSING_FAILED",
        Verdict::Disabled => "DISABLED",
    }
}

/// The message's header fields in order, unfolded, as SES lists them.
fn header_list(raw: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(raw);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    let head = head.split("\n\n").next().unwrap_or_default();
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            fields.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_recipients_cover_addresses_domains_and_subdomains() {
        let cases = [
            ("reply.acme.example", "reply+abc@reply.acme.example", true),
            ("reply.acme.example", "reply+abc@REPLY.acme.example", true),
            ("reply.acme.example", "x@other.example", false),
            ("reply.acme.example", "x@sub.reply.acme.example", false),
            (".acme.example", "x@reply.acme.example", true),
            (".acme.example", "x@acme.example", false),
            ("mary@acme.example", "mary@acme.example", true),
            ("mary@acme.example", "john@acme.example", false),
        ];
        for (rule, address, want) in cases {
            assert_eq!(covers(rule, address), want, "{rule} {address}");
        }
    }

    #[test]
    fn the_event_is_the_one_lambda_events_reads() {
        let raw = b"From: Mary <mary@acme.example>\r\nTo: reply+x@reply.acme.example\r\nSubject: Re:\r\n  folded\r\nMessage-ID: <m1@acme.example>\r\n\r\nYes\r\n";
        let verdicts = Verdicts {
            spam: Verdict::Fail,
            ..Verdicts::default()
        };
        let recipients = vec!["reply+x@reply.acme.example".to_string()];
        let event = Event {
            raw,
            message_id: "abc",
            recipients: &recipients,
            verdicts: &verdicts,
            function_arn: "arn:aws:lambda:us-east-1:123456789012:function:f",
            invocation_type: "Event",
        }
        .json(&Some("mary@acme.example".into()));
        let read: aws_lambda_events::ses::SimpleEmailEvent =
            serde_json::from_value(event).expect("SES's shape");
        let ses = &read.records[0].ses;
        assert_eq!(ses.mail.message_id.as_deref(), Some("abc"));
        assert_eq!(
            ses.mail.common_headers.subject.as_deref(),
            Some("Re: folded")
        );
        assert_eq!(ses.receipt.spam_verdict.status.as_deref(), Some("FAIL"));
        assert_eq!(
            ses.receipt.dmarc_verdict.status.as_deref(),
            Some("DISABLED")
        );
    }
}

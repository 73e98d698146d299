//! Where a deployed function finds its queues: one environment variable per queue URL,
//! read by the function's configuration and by the SQS adapter alike.

use crate::ports::queue::QueueName;

/// Environment variables holding the queue URLs of a deployed function.
pub const SEND_QUEUE_URL_VAR: &str = "SMSFLOW_SEND_QUEUE_URL";
pub const SEND_DLQ_URL_VAR: &str = "SMSFLOW_SEND_DLQ_URL";
pub const AUTOMATION_QUEUE_URL_VAR: &str = "SMSFLOW_AUTOMATION_QUEUE_URL";
pub const AUTOMATION_DLQ_URL_VAR: &str = "SMSFLOW_AUTOMATION_DLQ_URL";

/// One queue's URL and, where the caller reads dead letters, its dead-letter queue's URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueUrl {
    pub queue: String,
    pub dead_letter: Option<String>,
}

/// The URL of every queue smsflow uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueUrls {
    pub send: QueueUrl,
    pub automation: QueueUrl,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueUrlsError {
    #[error("environment variable {var} is not set: it holds the {queue} queue's URL")]
    Missing { var: &'static str, queue: QueueName },
}

impl QueueUrls {
    pub fn get(&self, queue: QueueName) -> &QueueUrl {
        match queue {
            QueueName::Send => &self.send,
            QueueName::Automation => &self.automation,
        }
    }

    /// Reads `SMSFLOW_SEND_QUEUE_URL` and `SMSFLOW_AUTOMATION_QUEUE_URL` (required) and
    /// `SMSFLOW_SEND_DLQ_URL` / `SMSFLOW_AUTOMATION_DLQ_URL` (optional).
    pub fn from_env() -> Result<Self, QueueUrlsError> {
        Self::from_lookup(|var| std::env::var(var).ok())
    }

    /// As [`QueueUrls::from_env`], reading variables through `lookup`; empty values count
    /// as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, QueueUrlsError> {
        let read = |var: &str| lookup(var).filter(|v| !v.trim().is_empty());
        let one = |queue, var, dlq_var| {
            Ok(QueueUrl {
                queue: read(var).ok_or(QueueUrlsError::Missing { var, queue })?,
                dead_letter: read(dlq_var),
            })
        };
        Ok(QueueUrls {
            send: one(QueueName::Send, SEND_QUEUE_URL_VAR, SEND_DLQ_URL_VAR)?,
            automation: one(
                QueueName::Automation,
                AUTOMATION_QUEUE_URL_VAR,
                AUTOMATION_DLQ_URL_VAR,
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| vars.get(name).cloned()
    }

    #[test]
    fn queue_urls_come_from_the_environment() {
        let urls = QueueUrls::from_lookup(env(&[
            (SEND_QUEUE_URL_VAR, "https://sqs/send"),
            (AUTOMATION_QUEUE_URL_VAR, "https://sqs/automation"),
            (AUTOMATION_DLQ_URL_VAR, "https://sqs/automation-dlq"),
            (SEND_DLQ_URL_VAR, " "),
        ]))
        .expect("complete environment");
        assert_eq!(
            urls.get(QueueName::Send),
            &QueueUrl {
                queue: "https://sqs/send".into(),
                dead_letter: None,
            }
        );
        assert_eq!(
            urls.get(QueueName::Automation),
            &QueueUrl {
                queue: "https://sqs/automation".into(),
                dead_letter: Some("https://sqs/automation-dlq".into()),
            }
        );
    }

    #[test]
    fn a_missing_queue_url_is_named() {
        let cases = [
            (
                env(&[(AUTOMATION_QUEUE_URL_VAR, "https://sqs/automation")]),
                SEND_QUEUE_URL_VAR,
                QueueName::Send,
            ),
            (
                env(&[
                    (SEND_QUEUE_URL_VAR, "https://sqs/send"),
                    (AUTOMATION_QUEUE_URL_VAR, ""),
                ]),
                AUTOMATION_QUEUE_URL_VAR,
                QueueName::Automation,
            ),
        ];
        for (lookup, var, queue) in cases {
            let err = QueueUrls::from_lookup(lookup).expect_err("incomplete environment");
            assert_eq!(err, QueueUrlsError::Missing { var, queue });
            assert!(err.to_string().contains(var));
        }
    }
}

//! Counters per account in CloudWatch's Embedded Metric Format (EMF): one JSON line on
//! stdout per event, which CloudWatch Logs turns into metrics in the `smsflow` namespace.
//! No API call, no permission, nothing on the request path but a write to stdout.
//!
//! Each counter is published twice: per account (with its reason or failure class where it
//! has one), and as a service-wide total (dimension `service = smsflow`) for the dashboard
//! and the alarms of `template.yaml`. Outside Lambda (local mode, tests) the lines go to the
//! `smsflow::metrics` tracing target at debug level instead of stdout.

use std::sync::LazyLock;

use serde_json::{Map, Value, json};

use std::time::Duration;

use crate::domain::twilio_errors::ErrorClass;
use crate::domain::{AccountId, MessageStatus, Timestamp};
use crate::ports::QueueName;

pub const NAMESPACE: &str = "smsflow";
const SERVICE: &str = "smsflow";

/// What is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric<'a> {
    InboundReceived,
    SendsRequested,
    SendsAdmitted,
    /// Refused before queueing: `opted_out`, `queue_full`, `bounced`...
    SendsRefused(&'a str),
    /// Accepted by the provider.
    Sent,
    Delivered,
    /// Failed or undelivered, by error class (`not_sms_capable`, `transient`...).
    SendsFailed(&'a str),
    GoalsFired,
    /// The CRM failed a goal call (the job is retried).
    GoalsFailed,
    /// How long a job waited in its queue (`send`, `automation`) before a worker first took
    /// it, deliberate delays (pacing, quiet hours) included; in milliseconds.
    QueueAge(&'a str),
}

impl Metric<'_> {
    pub fn name(&self) -> &'static str {
        match self {
            Metric::InboundReceived => "InboundReceived",
            Metric::SendsRequested => "SendsRequested",
            Metric::SendsAdmitted => "SendsAdmitted",
            Metric::SendsRefused(_) => "SendsRefused",
            Metric::Sent => "Sent",
            Metric::Delivered => "Delivered",
            Metric::SendsFailed(_) => "SendsFailed",
            Metric::GoalsFired => "GoalsFired",
            Metric::GoalsFailed => "GoalsFailed",
            Metric::QueueAge(_) => "QueueAge",
        }
    }

    fn unit(&self) -> &'static str {
        match self {
            Metric::QueueAge(_) => "Milliseconds",
            _ => "Count",
        }
    }

    /// The extra dimension of the per-account metric, if any.
    fn detail(&self) -> Option<(&'static str, &str)> {
        match self {
            Metric::SendsRefused(reason) => Some(("reason", reason)),
            Metric::SendsFailed(class) => Some(("class", class)),
            Metric::QueueAge(queue) => Some(("queue", queue)),
            _ => None,
        }
    }
}

/// One EMF document: `metric` of `account` at `at` is `value` (1 for a counter).
pub fn emf_line(account: &AccountId, metric: Metric<'_>, value: u64, at: Timestamp) -> String {
    let name = metric.name();
    let mut per_account = vec!["account"];
    let mut doc = Map::new();
    doc.insert("account".into(), Value::from(account.as_str()));
    doc.insert("service".into(), Value::from(SERVICE));
    if let Some((key, value)) = metric.detail() {
        per_account.push(key);
        doc.insert(key.into(), Value::from(value));
    }
    doc.insert(name.into(), Value::from(value));
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": at.as_millis(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [per_account, ["service"]],
                "Metrics": [{"Name": name, "Unit": metric.unit()}],
            }],
        }),
    );
    Value::Object(doc).to_string()
}

/// Whether this process runs on Lambda, where stdout goes to CloudWatch Logs.
static ON_LAMBDA: LazyLock<bool> =
    LazyLock::new(|| std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some());

fn now() -> Timestamp {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    Timestamp::from_millis(millis)
}

/// Counts `metric` once for `account`.
pub fn count(account: &AccountId, metric: Metric<'_>) {
    publish(emf_line(account, metric, 1, now()));
}

/// Records how long a job of `account` waited in `queue`.
pub fn queue_age(account: &AccountId, queue: QueueName, age: Duration) {
    let millis = u64::try_from(age.as_millis()).unwrap_or(u64::MAX);
    publish(emf_line(
        account,
        Metric::QueueAge(queue.as_str()),
        millis,
        now(),
    ));
}

fn publish(line: String) {
    if *ON_LAMBDA {
        println!("{line}");
    } else {
        tracing::debug!(target: "smsflow::metrics", "{line}");
    }
}

/// Counts what a delivery status means: `Delivered`, or `SendsFailed` by the failure's
/// class as its provider classified it (`unknown` without one). Other statuses count nothing.
pub fn delivery(account: &AccountId, status: MessageStatus, class: Option<ErrorClass>) {
    match status {
        MessageStatus::Delivered => count(account, Metric::Delivered),
        MessageStatus::Failed | MessageStatus::Undelivered => {
            let class = class
                .and_then(|c| serde_json::to_value(c).ok())
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_else(|| "unknown".to_string());
            count(account, Metric::SendsFailed(&class));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(metric: Metric<'_>) -> Value {
        let account = AccountId::parse("acme").expect("valid id");
        serde_json::from_str(&emf_line(
            &account,
            metric,
            1,
            Timestamp::from_millis(1_700),
        ))
        .expect("one JSON document")
    }

    #[test]
    fn documents_follow_the_embedded_metric_format() {
        let d = doc(Metric::Sent);
        assert_eq!(d["Sent"], 1);
        assert_eq!(d["account"], "acme");
        assert_eq!(d["service"], "smsflow");
        let directive = &d["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(d["_aws"]["Timestamp"], 1_700);
        assert_eq!(directive["Namespace"], "smsflow");
        assert_eq!(directive["Dimensions"], json!([["account"], ["service"]]));
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "Sent", "Unit": "Count"}])
        );
    }

    #[test]
    fn queue_age_is_a_measure_in_milliseconds_by_queue() {
        let account = AccountId::parse("acme").expect("valid id");
        let line = emf_line(
            &account,
            Metric::QueueAge("send"),
            2_500,
            Timestamp::from_millis(1_700),
        );
        let d: Value = serde_json::from_str(&line).expect("one JSON document");
        assert_eq!(d["QueueAge"], 2_500);
        assert_eq!(d["queue"], "send");
        let directive = &d["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "QueueAge", "Unit": "Milliseconds"}])
        );
        assert_eq!(
            directive["Dimensions"],
            json!([["account", "queue"], ["service"]])
        );
    }

    #[test]
    fn reasons_and_classes_are_dimensions_of_the_per_account_metric() {
        let cases = [
            (Metric::SendsRefused("opted_out"), "reason", "opted_out"),
            (Metric::SendsFailed("transient"), "class", "transient"),
        ];
        for (metric, key, value) in cases {
            let d = doc(metric);
            assert_eq!(d[key], value);
            assert_eq!(
                d["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
                json!([["account", key], ["service"]])
            );
            // Every dimension named has a value in the document (EMF requires it).
            for set in d["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
                .as_array()
                .expect("dimension sets")
            {
                for dimension in set.as_array().expect("names") {
                    let name = dimension.as_str().expect("name");
                    assert!(d[name].is_string(), "{name}");
                }
            }
        }
    }
}

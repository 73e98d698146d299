//! Connection to the moto server that the test command (`scripts/test.sh`) starts.
//!
//! The AWS adapters are tested against moto, never skipped: when the endpoint is not set
//! the test fails and says how to run it.

use std::sync::atomic::{AtomicU32, Ordering};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;

/// Environment variable holding moto's URL, e.g. `http://127.0.0.1:5123`.
pub const ENDPOINT_VAR: &str = "SMSFLOW_TEST_AWS_ENDPOINT";

pub fn endpoint() -> String {
    std::env::var(ENDPOINT_VAR).unwrap_or_else(|_| {
        panic!(
            "{ENDPOINT_VAR} is not set: the AWS adapter tests run against moto. \
             Run ./scripts/test.sh (it installs and starts moto), or start \
             `moto_server -H 127.0.0.1 -p 5123` and export {ENDPOINT_VAR}=http://127.0.0.1:5123"
        )
    })
}

/// SDK configuration pointing every AWS client at moto with dummy credentials.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "moto"))
        .load()
        .await
}

/// A name no other test in this run uses (tables, queues, identities).
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{n}-{nanos}", std::process::id())
}

/// An e-mail moto's SES recorded as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentEmail {
    pub id: String,
    pub source: String,
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
}

/// Every e-mail sent through moto's SES (v1 and v2 share one store), read from moto's
/// internal dump `GET /moto-api/data.json` → `ses.Message[]`. That format is internal to
/// moto, so it is read only here.
pub async fn sent_emails() -> Vec<SentEmail> {
    let url = format!("{}/moto-api/data.json", endpoint());
    let dump: serde_json::Value = reqwest::get(&url)
        .await
        .and_then(|r| r.error_for_status())
        .unwrap_or_else(|e| panic!("cannot read {url}: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("{url} is not JSON: {e}"));
    let text = |m: &serde_json::Value, key: &str| m[key].as_str().unwrap_or_default().to_string();
    dump["ses"]["Message"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|m| SentEmail {
            id: text(m, "id"),
            source: text(m, "source"),
            to: m["destinations"]["ToAddresses"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter_map(|a| a.as_str().map(str::to_string))
                .collect(),
            subject: text(m, "subject"),
            body: text(m, "body"),
        })
        .collect()
}

//! Connection to the moto server that the test command (`scripts/test.sh`) starts.
//!
//! The AWS adapters are tested against moto, never skipped: when the endpoint is not set
//! the test fails and says how to run it.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex as StdMutex};

use aws_smithy_http_client::tls::Provider;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, SharedHttpClient, SharedHttpConnector,
    http_client_fn,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use tokio::sync::Mutex;

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
    sdk_config_at(&endpoint(), "us-east-1").await
}

/// SDK configuration for the moto at `endpoint` (a stack's own), in `region`.
pub async fn sdk_config_at(endpoint: &str, region: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(region.to_string()))
        .credentials_provider(Credentials::new("test", "test", None, None, "moto"))
        .load()
        .await
}

/// The operations an SDK client sent, in order (`DynamoDB_20120810.GetItem`,
/// `AmazonSQS.SendMessage`...), read from each request's `x-amz-target` header.
pub type OperationLog = Arc<StdMutex<Vec<String>>>;

/// `sdk_config()` with an HTTP client that sends one request at a time and, when given a
/// log, records each request's operation.
///
/// moto's server handles requests on parallel threads without making a conditional write's
/// check-and-write atomic, which DynamoDB guarantees; concurrent conditional writes then both
/// pass their conditions (seen: 8 of 25 `try_admit` with limit 7 admitted). Sending one
/// request at a time restores DynamoDB's per-request atomicity while tasks still interleave
/// between requests, so an adapter's own concurrency logic is still what is tested.
pub async fn serialized_sdk_config(log: Option<OperationLog>) -> SdkConfig {
    // The SDK's own default client (rustls on aws-lc), made explicit so it can be wrapped.
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
        .build_https();
    sdk_config()
        .await
        .into_builder()
        .http_client(one_request_at_a_time(http, log))
        .build()
}

fn one_request_at_a_time(inner: SharedHttpClient, log: Option<OperationLog>) -> SharedHttpClient {
    let turn = Arc::new(Mutex::new(()));
    http_client_fn(move |settings, components| {
        SharedHttpConnector::new(OneAtATime {
            inner: inner.http_connector(settings, components),
            turn: Arc::clone(&turn),
            log: log.clone(),
        })
    })
}

#[derive(Debug)]
struct OneAtATime {
    inner: SharedHttpConnector,
    turn: Arc<Mutex<()>>,
    log: Option<OperationLog>,
}

impl HttpConnector for OneAtATime {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        if let Some(log) = &self.log {
            let operation = request
                .headers()
                .get("x-amz-target")
                .unwrap_or("(no x-amz-target)")
                .to_string();
            log.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(operation);
        }
        let inner = self.inner.clone();
        let turn = Arc::clone(&self.turn);
        HttpConnectorFuture::new(async move {
            // moto answers only after applying the write, so holding the turn until the
            // response arrives covers the whole server-side operation.
            let _turn = turn.lock_owned().await;
            inner.call(request).await
        })
    }
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

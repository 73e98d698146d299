//! Builds the application on AWS: DynamoDB, SQS, SES v2 and Twilio, from the function's
//! environment. Called once per cold start; clients are reused by every invocation.

use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};

use super::dynamodb::DynamoStore;
use super::ses::SesMailer;
use super::sqs::SqsQueue;
use crate::adapters::crm_router::CrmRouter;
use crate::adapters::event_webhook::WebhookEvents;
use crate::adapters::twilio::{TWILIO_API_BASE_URL, TwilioClient};
use crate::app::{App, AppSettings};
use crate::config::FunctionEnv;
use crate::domain::leases::Leases;
use crate::domain::retry_backoff::RetryBackoff;
use crate::ports::{Clock, IdGenerator, SystemClock, UlidIds};

#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client: {0}")]
pub struct WiringError(String);

pub async fn app_from_env(env: &FunctionEnv) -> Result<App, WiringError> {
    let sdk = aws_config::load_defaults(BehaviorVersion::latest()).await;
    app_from_sdk(&sdk, env)
}

/// As [`app_from_env`], on an SDK configuration the caller loaded (the CLI's, with its
/// `--profile` and `--region`).
pub fn app_from_sdk(sdk: &SdkConfig, env: &FunctionEnv) -> Result<App, WiringError> {
    // Twilio must answer well inside the function timeout; a send that times out is
    // treated as "outcome unknown" and never resent blindly.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(3))
        .build()
        .map_err(|e| WiringError(e.to_string()))?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let ids: Arc<dyn IdGenerator> = Arc::new(UlidIds::default());
    let store = Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(sdk),
        env.table.clone(),
    ));
    // Keap's rotating OAuth refresh tokens live in the table, so cold starts use the newest.
    let crm = CrmRouter::with_real_crms(
        http.clone(),
        clock.clone(),
        ids.clone(),
        store.clone(),
        None,
    );
    Ok(App {
        store,
        queue: Arc::new(SqsQueue::new(
            aws_sdk_sqs::Client::new(sdk),
            env.queues.clone(),
        )),
        mailer: Arc::new(SesMailer::new(aws_sdk_sesv2::Client::new(sdk), None)),
        events: Arc::new(WebhookEvents::new(http.clone(), clock.clone())),
        sms: Arc::new(TwilioClient::new(
            http,
            env.twilio_api_base_url
                .clone()
                .unwrap_or_else(|| TWILIO_API_BASE_URL.to_string()),
        )),
        crm: Arc::new(crm),
        clock,
        ids,
        settings: AppSettings {
            public_base_url: env.public_base_url.clone(),
            mail_from: env.mail_from.clone(),
            retry_backoff: env
                .retry_backoff
                .map(RetryBackoff::starting_at)
                .unwrap_or_default(),
            leases: env.lease.map(Leases::all).unwrap_or_default(),
        },
    })
}

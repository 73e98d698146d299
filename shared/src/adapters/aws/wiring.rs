//! Builds the application on AWS from the function's environment: DynamoDB and SQS always;
//! SES v2, Twilio, the CRMs and event webhooks only for the functions that call them, so each
//! binary links only the clients it uses (BENCHMARKS.md, "Binary size"). Called once per cold
//! start; clients are reused by every invocation.

use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};

use super::dynamodb::DynamoStore;
use super::ses::SesMailer;
use super::sqs::SqsQueue;
use crate::adapters::crm_router::CrmRouter;
use crate::adapters::event_webhook::WebhookEvents;
use crate::adapters::instasent::InstasentClient;
use crate::adapters::sms_router::SmsRouter;
use crate::adapters::twilio::{TWILIO_API_BASE_URL, TwilioClient};
use crate::adapters::unwired::Unwired;
use crate::app::{App, AppSettings};
use crate::config::FunctionEnv;
use crate::domain::leases::Leases;
use crate::domain::retry_backoff::RetryBackoff;
use crate::ports::{SystemClock, UlidIds};

#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client: {0}")]
pub struct WiringError(String);

/// Every service wired: the automation worker's jobs reach all of them, and so does the CLI.
pub async fn app_from_env(env: &FunctionEnv) -> Result<App, WiringError> {
    let sdk = aws_config::load_defaults(BehaviorVersion::latest()).await;
    app_from_sdk(&sdk, env)
}

/// As [`app_from_env`], on an SDK configuration the caller loaded (the CLI's, with its
/// `--profile` and `--region`).
pub fn app_from_sdk(sdk: &SdkConfig, env: &FunctionEnv) -> Result<App, WiringError> {
    Ok(FunctionWiring::from_sdk(sdk, env)
        .with_crm()?
        .with_sms()?
        .with_events()?
        .with_mail()
        .into_app())
}

/// One function's application: the table, the queues, the clock and ids, then each outside
/// service its events reach. What is not added stays [`Unwired`].
pub struct FunctionWiring<'a> {
    sdk: SdkConfig,
    env: &'a FunctionEnv,
    http: Option<reqwest::Client>,
    /// The table, also the CRMs' credential store.
    store: Arc<DynamoStore>,
    app: App,
}

impl<'a> FunctionWiring<'a> {
    pub async fn from_env(env: &'a FunctionEnv) -> Self {
        let sdk = aws_config::load_defaults(BehaviorVersion::latest()).await;
        Self::from_sdk(&sdk, env)
    }

    pub fn from_sdk(sdk: &SdkConfig, env: &'a FunctionEnv) -> Self {
        let store = Arc::new(DynamoStore::new(
            aws_sdk_dynamodb::Client::new(sdk),
            env.table.clone(),
        ));
        let app = App {
            store: store.clone(),
            queue: Arc::new(SqsQueue::new(
                aws_sdk_sqs::Client::new(sdk),
                env.queues.clone(),
            )),
            mailer: Arc::new(Unwired),
            media: Arc::new(Unwired),
            sms: Arc::new(Unwired),
            crm: Arc::new(CrmRouter::default()),
            events: Arc::new(Unwired),
            clock: Arc::new(SystemClock),
            ids: Arc::new(UlidIds::default()),
            settings: settings(env),
        };
        FunctionWiring {
            sdk: sdk.clone(),
            env,
            http: None,
            store,
            app,
        }
    }

    /// Keap and webhook CRMs. Keap's rotating OAuth refresh tokens live in the table, so
    /// cold starts use the newest.
    pub fn with_crm(mut self) -> Result<Self, WiringError> {
        let http = self.http()?;
        let (clock, ids) = (self.app.clock.clone(), self.app.ids.clone());
        let crm = CrmRouter::with_real_crms(http, clock, ids, self.store.clone(), None);
        self.app.crm = Arc::new(crm);
        Ok(self)
    }

    /// Twilio's REST API and Instasent's (each account's credentials say which; an
    /// Instasent account's base URL is its own).
    pub fn with_sms(mut self) -> Result<Self, WiringError> {
        let base_url = (self.env.twilio_api_base_url.clone())
            .unwrap_or_else(|| TWILIO_API_BASE_URL.to_string());
        let http = self.http()?;
        self.app.sms = Arc::new(SmsRouter::new(
            Arc::new(TwilioClient::new(http.clone(), base_url)),
            Arc::new(InstasentClient::new(http)),
        ));
        Ok(self)
    }

    /// Accounts' delivery-event webhooks.
    pub fn with_events(mut self) -> Result<Self, WiringError> {
        let clock = self.app.clock.clone();
        self.app.events = Arc::new(WebhookEvents::new(self.http()?, clock));
        Ok(self)
    }

    /// SES v2.
    pub fn with_mail(mut self) -> Self {
        self.app.mailer = Arc::new(SesMailer::new(aws_sdk_sesv2::Client::new(&self.sdk), None));
        self
    }

    /// Where a reply's pictures are kept for the SMS provider (inbound-email).
    pub fn with_media(mut self, media: Arc<dyn crate::ports::MediaStore>) -> Self {
        self.app.media = media;
        self
    }

    /// The SDK configuration, for a client only one function uses.
    pub fn sdk(&self) -> &SdkConfig {
        &self.sdk
    }

    pub fn into_app(self) -> App {
        self.app
    }

    /// One HTTP client for every outside service of the function. Twilio must answer well
    /// inside the function timeout; a send that times out is treated as "outcome unknown"
    /// and never resent blindly.
    fn http(&mut self) -> Result<reqwest::Client, WiringError> {
        if let Some(http) = &self.http {
            return Ok(http.clone());
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(3))
            .build()
            .map_err(|e| WiringError(e.to_string()))?;
        self.http = Some(http.clone());
        Ok(http)
    }
}

fn settings(env: &FunctionEnv) -> AppSettings {
    AppSettings {
        public_base_url: env.public_base_url.clone(),
        mail_from: env.mail_from.clone(),
        retry_backoff: env
            .retry_backoff
            .map(RetryBackoff::starting_at)
            .unwrap_or_default(),
        leases: env.lease.map(Leases::all).unwrap_or_default(),
        replies: env.replies.clone(),
    }
}

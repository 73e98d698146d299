//! An App on moto's DynamoDB and SQS with every AWS call it makes recorded (to count the calls of a hot path); the App's
//! mail, SMS and CRM stay local, so they are not AWS calls.

use std::sync::Arc;

use smsflow_shared::adapters::aws::dynamodb::{DynamoStore, create_table};
use smsflow_shared::adapters::aws::sqs::{SqsQueue, create_queues};
use smsflow_shared::adapters::crm_router::CrmRouter;
use smsflow_shared::adapters::embedded::{
    EmbeddedDb, EmbeddedStore, Outbox, SandboxCarrier, SandboxCrm,
};
use smsflow_shared::adapters::event_webhook::WebhookEvents;
use smsflow_shared::app::{App, AppSettings};
use smsflow_shared::domain::Account;
use smsflow_shared::ports::{AccountStore, SystemClock, UlidIds};

use crate::example::ExampleConfig;
use crate::moto::{OperationLog, serialized_sdk_config, unique_name};

/// The CRM of the App.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MotoCrm {
    /// No CRM configured (`CrmRouter::default()`): for paths that never reach the CRM.
    None,
    /// The sandbox CRM on the embedded database, so CRM calls are not AWS calls. (Keap
    /// refresh tokens would live in the embedded store: the sandbox needs none.)
    Sandbox,
}

/// The App, its SQS queues (to take jobs off) and the example account `acme`, stored.
pub struct MotoApp {
    pub app: App,
    pub queue: Arc<SqsQueue>,
    pub account: Account,
    log: OperationLog,
}

impl MotoApp {
    /// A fresh table and queues named after `name`, with the example's first account in
    /// the table; webhook URLs use `public_base_url`.
    pub async fn start(name: &str, crm: MotoCrm, public_base_url: Option<&str>) -> Self {
        let log = OperationLog::default();
        let config = serialized_sdk_config(Some(log.clone())).await;
        let dynamodb = aws_sdk_dynamodb::Client::new(&config);
        let sqs = aws_sdk_sqs::Client::new(&config);
        let table = unique_name(name);
        create_table(&dynamodb, &table).await.expect("table");
        let queues = create_queues(&sqs, &unique_name(name), 3)
            .await
            .expect("queues");
        let account = ExampleConfig::new().parse().accounts[0].clone();
        let db = EmbeddedDb::in_memory().expect("db");
        let ids = Arc::new(UlidIds::default());
        let clock = Arc::new(SystemClock);
        let store = DynamoStore::new(dynamodb, table);
        store.put_account(&account).await.expect("account");
        let queue = Arc::new(SqsQueue::new(sqs, queues));
        let crm = match crm {
            MotoCrm::None => CrmRouter::default(),
            MotoCrm::Sandbox => CrmRouter::with_real_crms(
                reqwest::Client::new(),
                clock.clone(),
                ids.clone(),
                Arc::new(EmbeddedStore::new(db.clone())),
                Some(Arc::new(SandboxCrm::new(db.clone(), clock.clone()))),
            ),
        };
        let app = App {
            store: Arc::new(store),
            queue: queue.clone(),
            mailer: Arc::new(Outbox::new(db.clone(), clock.clone(), ids.clone())),
            media: Arc::new(smsflow_shared::adapters::unwired::Unwired),
            sms: Arc::new(SandboxCarrier::new(
                db,
                reqwest::Client::new(),
                clock.clone(),
                ids.clone(),
            )),
            crm: Arc::new(crm),
            events: Arc::new(WebhookEvents::new(reqwest::Client::new(), clock.clone())),
            clock,
            ids,
            settings: AppSettings {
                public_base_url: public_base_url.map(str::to_string),
                mail_from: None,
                ..AppSettings::default()
            },
        };
        MotoApp {
            app,
            queue,
            account,
            log,
        }
    }

    /// The operations (`GetItem`, `SendMessage`...) made since the last call, in order.
    pub fn take_calls(&self) -> Vec<String> {
        std::mem::take(&mut *self.log.lock().unwrap_or_else(|p| p.into_inner()))
            .into_iter()
            .map(|op| op.rsplit('.').next().unwrap_or_default().to_string())
            .collect()
    }
}

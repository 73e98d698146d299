//! An App to test on without a server: the local runtime on an in-memory database with no
//! consumers running (every effect stays on its queue), and what tests do with an App.

use std::time::Duration;

use smsflow_shared::adapters::embedded::EmbeddedDb;
use smsflow_shared::app::App;
use smsflow_shared::config::LocalConfig;
use smsflow_shared::domain::Account;
use smsflow_shared::jobs::SendJob;
use smsflow_shared::jobs::{AutomationEnvelope, AutomationJob};
use smsflow_shared::local::{LocalOptions, LocalRuntime};
use smsflow_shared::ports::{
    Contact, NewContact, OutgoingMessage, QueueName, QueueReceiver, ReceivedMessage,
};

/// The local runtime of `config` on an in-memory database, behind `public_base_url`
/// (`None`: webhook URLs are rebuilt from each request's host, as on Lambda).
pub async fn in_memory(config: &LocalConfig, public_base_url: Option<&str>) -> LocalRuntime {
    LocalRuntime::build_on(
        EmbeddedDb::in_memory().expect("in-memory db"),
        config,
        public_base_url.map(str::to_string),
    )
    .await
    .expect("runtime")
}

/// The stored account `id` (from the configuration).
pub async fn account(app: &App, id: &str) -> Account {
    app.store
        .account(&id.parse().expect("account id"))
        .await
        .expect("store")
        .unwrap_or_else(|| panic!("account {id} is configured"))
}

/// Creates `contact` in the account's CRM.
pub async fn add_contact(app: &App, account: &Account, contact: NewContact) -> Contact {
    app.crm
        .create_contact(account, &contact)
        .await
        .expect("CRM contact created")
}

/// What [`drain`] does with each message it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drain {
    /// Leaves it hidden for a minute, longer than a test looks.
    Hide,
    /// Deletes it, as a worker that handled it does.
    Delete,
}

/// Every message visible on `queue` now, oldest batches first.
pub async fn drain(queue: &dyn QueueReceiver, name: QueueName, how: Drain) -> Vec<ReceivedMessage> {
    let mut messages = Vec::new();
    loop {
        let batch = queue
            .receive(name, 10, Duration::from_secs(60), Duration::ZERO)
            .await
            .expect("receive");
        if batch.is_empty() {
            return messages;
        }
        if how == Drain::Delete {
            for message in &batch {
                queue.delete(name, &message.receipt).await.expect("delete");
            }
        }
        messages.extend(batch);
    }
}

/// Puts `job` on the send queue, due now, as a send request does.
pub async fn enqueue_send(app: &App, job: &SendJob) {
    app.queue
        .enqueue(
            QueueName::Send,
            OutgoingMessage::now(serde_json::to_string(job).expect("send job")),
        )
        .await
        .expect("enqueued");
}

/// As [`in_memory`], with `options` (short leases, fast retries).
pub async fn in_memory_with(config: &LocalConfig, options: LocalOptions) -> LocalRuntime {
    LocalRuntime::build_with(
        EmbeddedDb::in_memory().expect("in-memory db"),
        config,
        None,
        options,
    )
    .await
    .expect("runtime")
}

/// The call names of the goal jobs waiting on the automation queue (taken off it).
pub async fn queued_goals(queue: &dyn QueueReceiver) -> Vec<String> {
    drain(queue, QueueName::Automation, Drain::Delete)
        .await
        .iter()
        .filter_map(|m| {
            let envelope: AutomationEnvelope = serde_json::from_str(&m.body).ok()?;
            match envelope.job {
                AutomationJob::AchieveGoal { call_name, .. } => Some(call_name.to_string()),
                _ => None,
            }
        })
        .collect()
}

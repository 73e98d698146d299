//! smsflow's common crate: everything the Lambda functions, the CLI and the local server share.
//! `docs/architecture.md` draws the layers and the job flow; `docs/glossary.md` explains the
//! product terms; `docs/storage.md` the stored records and the reliability rules.
//!
//! - [`domain`]: the pure core (phone numbers, accounts, message status, routing, quiet hours,
//!   sequences...), no I/O.
//! - [`ports`]: traits for storage, queues, SMS, mail, CRM, events, credentials, clock and ids.
//! - [`jobs`]: the work use cases leave on the queues (sends, inbound texts, CRM effects), their
//!   ids and the functions that queue them; imports no use case.
//! - [`usecases`]: one function per job (receive a text, queue a send, deliver it, record a
//!   status, run a sequence step, achieve a goal), written against the ports only.
//! - [`adapters`]: the ports implemented on DynamoDB / SQS / SES / Twilio / Keap / a webhook
//!   CRM, and the embedded backends of local mode (redb store and queues, sandbox carrier).
//! - [`handlers`]: HTTP routers and queue consumers shared by Lambda and the local server.
//! - [`routes`]: the HTTP paths, shared by the routers and the URLs smsflow hands out.
//! - [`app`]: the [`app::App`] every handler runs on: the adapters plugged into the ports, built
//!   once per cold start or process.
//! - [`config`]: the local server's file and the Lambda environment, validated at startup.
//! - [`local`]: local mode: every route and consumer in one process, plus the `/_sandbox` API.
//! - [`metrics`]: per-account counters as CloudWatch Embedded Metric Format lines.

pub mod adapters;
pub mod app;
pub mod config;
pub mod domain;
pub mod handlers;
pub mod jobs;
pub mod local;
pub mod metrics;
pub mod ports;
pub mod routes;
pub mod usecases;

//! smsflow's common crate.
//!
//! - [`domain`]: the pure core (phone numbers, accounts, message status...), no I/O.
//! - [`ports`]: traits for storage, queues, SMS, mail, CRM, clock and ids.
//! - [`adapters`]: DynamoDB / SQS / SES / Twilio, and the embedded backends of local mode.
//! - [`handlers`]: HTTP routers and queue consumers shared by Lambda and the local server.

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

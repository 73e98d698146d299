//! Shared helpers for the workspace's integration tests: the moto connection, an App on it
//! and a fresh store of each backend, a mock Keap, a Twilio numbers mock held to Twilio's OpenAPI definition, the example configuration, the local runtime in memory and the local
//! server over HTTP, and one conformance suite per port, run against every adapter of that
//! port.

pub mod aws_app;
pub mod browser;
pub mod conformance;
pub mod example;
pub mod fixtures;
pub mod handler;
/// The stateful Keap mock, now the stack runner's Keap stand-in.
pub use smsflow_stack::keap as keap_mock;
pub mod local_server;
pub mod moto;
pub mod poll;
pub mod raw_http;
pub mod runtime;
pub mod shape;
pub mod stores;
pub mod twilio;
/// The Twilio numbers mock, also the stack runner's Twilio stand-in's number resources.
pub use smsflow_stack::twilio_numbers;

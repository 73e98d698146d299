//! Conformance suites: the behaviour every adapter of a port must have. Each suite is a set
//! of async functions taking the adapter under test, plus a macro that turns them into one
//! `#[tokio::test]` per case for a given adapter factory.

pub mod credentials;
pub mod crm;
pub mod mail;
pub mod queue;
pub mod sms;
pub mod store;

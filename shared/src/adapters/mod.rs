//! Adapters: the ports implemented against real services and embedded backends.

pub mod aws;
pub mod embedded;
pub mod twilio;

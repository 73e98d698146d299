//! Handlers: HTTP requests, SQS batches and SES deliveries in, use-case calls, responses out. Shared by the
//! Lambda binaries and the local server so both run the same code.

pub mod automation;
pub mod consumer;
pub mod error;
pub mod http;
pub mod http_errors;
pub mod inbound_email;
pub mod inbox;

pub use error::ApiError;

//! Adapters: the ports implemented against real services and embedded backends.

pub mod aws;
mod crm_input;
pub mod crm_router;
pub mod embedded;
pub mod event_webhook;
pub mod http_retry;
pub mod instasent;
pub mod keap;
mod queue_limits;
mod sms_http;
pub mod sms_router;
#[cfg(test)]
pub(crate) mod test_support;
pub mod twilio;
pub mod unwired;
pub mod webhook_crm;

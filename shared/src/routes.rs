//! The public HTTP routes' paths: where Twilio posts its webhooks and the CRMs their
//! requests. The handlers route them; the application builds the status callback URL it
//! gives Twilio from them.

pub const INBOUND_PATH: &str = "/twilio/inbound";
pub const STATUS_PATH: &str = "/twilio/status";
/// Instasent's delivery reports: the account and its callback secret in the path.
pub const INSTASENT_CALLBACK_PATH: &str = "/instasent/callback/{account}/{secret}";
pub const SEND_PATH: &str = "/crm/{account}/send";
pub const SEQUENCE_START_PATH: &str = "/crm/{account}/sequences/{sequence}/start";
pub const RECEIVED_PATH: &str = "/crm/{account}/received";
pub const GOALS_RESET_PATH: &str = "/crm/{account}/goals/reset";

/// [`INSTASENT_CALLBACK_PATH`] for one account. Account ids need no encoding; secrets are
/// generated from URL-safe characters (`domain/secret.rs::generate_key`), and the
/// configuration accepts no other.
pub fn instasent_callback_path(account: &crate::domain::AccountId, secret: &str) -> String {
    format!("/instasent/callback/{account}/{secret}")
}

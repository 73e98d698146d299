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

/// The team inbox (README "Team inbox"): the `inbox` function's pages, also served by
/// `smsflow serve`. One account per inbox URL.
pub const INBOX_PATH: &str = "/inbox/{account}";
pub const INBOX_SIGN_IN_PATH: &str = "/inbox/{account}/sign-in";
/// Where an e-mailed sign-in link points: a page whose button uses it (a mail scanner that
/// follows links uses nothing).
pub const INBOX_LINK_PATH: &str = "/inbox/{account}/link";
pub const INBOX_SIGN_OUT_PATH: &str = "/inbox/{account}/sign-out";
pub const INBOX_THREAD_PATH: &str = "/inbox/{account}/c/{phone}";
/// Texts routed to the signed-in user since a time: what the page polls for its alerts.
pub const INBOX_EVENTS_PATH: &str = "/inbox/{account}/events";
/// The page's style sheet and script, built into the binary.
pub const INBOX_ASSET_PATH: &str = "/inbox/_assets/{name}";

/// [`INBOX_PATH`] for one account.
pub fn inbox_path(account: &crate::domain::AccountId) -> String {
    format!("/inbox/{account}")
}

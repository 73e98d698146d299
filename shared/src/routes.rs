//! The public HTTP routes' paths: where Twilio posts its webhooks and the CRMs their
//! requests. The handlers route them; the application builds the status callback URL it
//! gives Twilio from them.

pub const INBOUND_PATH: &str = "/twilio/inbound";
pub const STATUS_PATH: &str = "/twilio/status";
pub const SEND_PATH: &str = "/crm/{account}/send";
pub const SEQUENCE_START_PATH: &str = "/crm/{account}/sequences/{sequence}/start";
pub const RECEIVED_PATH: &str = "/crm/{account}/received";
pub const GOALS_RESET_PATH: &str = "/crm/{account}/goals/reset";

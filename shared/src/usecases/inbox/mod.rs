//! The team inbox (README "Team inbox"): sign-in by e-mailed link, each teammate's
//! conversations and threads in the terms of `smsflow conversations`, alerts of texts routed
//! to them, and replies through the one send path. The `inbox` function and `smsflow serve`
//! serve it (`handlers/inbox`).

mod listing;
mod reply;
mod sign_in;

pub use listing::{
    Alert, INBOX_CONVERSATIONS, InboxRow, Opened, THREAD_MESSAGES, ThreadView, alerts_since,
    inbox_rows, open_thread,
};
pub use reply::{InboxReply, Replied, reply};
pub use sign_in::{
    Access, LinkRequest, Redeemed, SignedIn, access, redeem, request_link, sign_out,
};

//! The team inbox (README "Team inbox"): who signs in, how, and which conversations each
//! teammate sees.
//!
//! Sign-in has no passwords: a one-time link is e-mailed to a user's address, and
//! following it starts a session held in a cookie. Links and session cookies are random
//! secrets; the store keys them by their SHA-256 digest, so a copy of the table lets no one
//! in. A session carries its own CSRF token, which every change must present.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::account::{Account, AccountId, User};
use super::message::{Direction, MessageRecord};
use super::phone::PhoneNumber;
use super::time::Timestamp;

/// How long an e-mailed sign-in link works.
pub const SIGN_IN_LINK_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// How long a session lasts: a working week, so a rep signs in on Monday.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
/// At most this many sign-in links per address per [`SIGN_IN_WINDOW`]: enough to retry a
/// lost e-mail, too few to flood a mailbox.
pub const SIGN_IN_LINKS_PER_WINDOW: u32 = 3;
pub const SIGN_IN_WINDOW: Duration = SIGN_IN_LINK_LIFETIME;

/// 32 random bytes in URL-safe base 64, no padding.
const SECRET_LEN: usize = 43;

/// A secret a browser holds (the session cookie) or an e-mail carries (a sign-in link).
#[derive(Clone, PartialEq, Eq)]
pub struct InboxSecret(String);

impl InboxSecret {
    pub fn generate() -> InboxSecret {
        use base64::Engine;
        use rand::RngCore;
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        InboxSecret(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    }

    /// A secret as a link or cookie gives it back; `None` if it cannot be one.
    pub fn parse(text: &str) -> Option<InboxSecret> {
        let valid = text.len() == SECRET_LEN
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        valid.then(|| InboxSecret(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What the store keys it by.
    pub fn digest(&self) -> SecretDigest {
        SecretDigest(hex::encode(Sha256::digest(self.0.as_bytes())))
    }
}

impl fmt::Debug for InboxSecret {
    /// Never the secret itself: a log line must not let its reader sign in.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InboxSecret(…)")
    }
}

/// The SHA-256 of an [`InboxSecret`], hex: 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecretDigest(String);

impl SecretDigest {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What an e-mailed sign-in link signs in as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInLink {
    pub account: AccountId,
    pub user_id: String,
    pub expires_at: Timestamp,
}

/// A signed-in browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxSession {
    pub account: AccountId,
    pub user_id: String,
    /// What every change (a reply, sign-out) must carry: a form field or header a page on
    /// another site cannot read, so it cannot forge the request with the user's cookie.
    pub csrf: String,
    pub expires_at: Timestamp,
}

impl InboxSession {
    /// A session for `user_id` starting at `now`, with a fresh CSRF token.
    pub fn start(account: AccountId, user_id: String, now: Timestamp) -> InboxSession {
        InboxSession {
            account,
            user_id,
            csrf: InboxSecret::generate().0,
            expires_at: now.plus(SESSION_LIFETIME),
        }
    }

    /// Whether `given` is this session's CSRF token (in constant time).
    pub fn csrf_matches(&self, given: &str) -> bool {
        self.csrf.as_bytes().ct_eq(given.as_bytes()).into()
    }
}

/// The start of the rate window `now` falls in.
pub fn sign_in_window(now: Timestamp) -> Timestamp {
    let width = SIGN_IN_WINDOW.as_millis() as i64;
    Timestamp::from_millis(now.as_millis().div_euclid(width) * width)
}

/// The teammate a conversation belongs to: the user its latest message names (who an
/// inbound text was routed to, or who sent a manual text). `messages` newest first.
pub fn conversation_owner(messages: &[MessageRecord]) -> Option<&str> {
    messages.iter().find_map(|m| match m.direction {
        Direction::Inbound => m.routing.as_ref().and_then(|r| r.user_id.as_deref()),
        Direction::Outbound => m.user_id.as_deref(),
    })
}

/// Whether `user` sees a conversation owned by `owner`: their own, or all for an admin.
pub fn sees(user: &User, owner: Option<&str>) -> bool {
    user.admin || owner == Some(user.id.as_str())
}

/// How many of `messages` are texts received after `read_through`.
pub fn unread(messages: &[MessageRecord], read_through: Option<Timestamp>) -> usize {
    messages
        .iter()
        .filter(|m| m.direction == Direction::Inbound)
        .filter(|m| read_through.is_none_or(|read| m.created_at > read))
        .count()
}

/// The account's number a conversation last used (`messages` newest first), so the contact
/// hears back from the number they know; none for a conversation held on a Messaging
/// Service or on a number the account no longer has, where the send path picks.
pub fn conversation_number(account: &Account, messages: &[MessageRecord]) -> Option<PhoneNumber> {
    messages.iter().find_map(|m| {
        let number = PhoneNumber::trusted_e164(&m.our_sender).ok()?;
        let ours = account.numbers.iter().any(|n| n.number == number);
        ours.then_some(number)
    })
}

#[cfg(test)]
mod tests;

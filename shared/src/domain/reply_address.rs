//! The reply address of a forwarded text, `reply+<token>@<reply domain>`: a random token
//! (26 characters of lower-case base 32, 130 bits) stored with what it grants, rather than
//! a signed one, because what it must name (account, contact phone, user, the number
//! texted) does not fit in the 64 characters of an address's local part once signed, and a
//! stored grant can expire and be revoked without a second secret per account. It expires
//! (30 days unless configured) and stops working when the account's send key is rotated:
//! the grant keeps a fingerprint of the key it was issued under.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::account::{Account, AccountId};
use super::phone::PhoneNumber;
use super::time::Timestamp;

/// How long a reply address works unless the deployment says otherwise.
pub const DEFAULT_REPLY_WINDOW: Duration = Duration::from_secs(DEFAULT_REPLY_DAYS * 24 * 3600);

/// The local part's prefix: `reply+<token>`.
const PREFIX: &str = "reply+";
const TOKEN_LEN: usize = 26;
/// Crockford's base 32 in lower case: no i, l, o, u to misread.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// Where replies to forwards are received and how long a reply address works: set when the
/// deployment has a reply domain (`[mail] reply_domain`, `SMSFLOW_REPLY_DOMAIN`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyAddressing {
    domain: String,
    window: Duration,
}

/// Why a reply domain or window cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyAddressingError {
    #[error("'{0}' is not a domain name such as reply.example.com")]
    Domain(String),
    #[error("a reply address must work for 1 to 365 days, not {0}")]
    Days(u64),
}

impl ReplyAddressing {
    /// `domain` (a host name, lower-cased) and the days a reply address works (1–365).
    pub fn new(domain: &str, days: u64) -> Result<ReplyAddressing, ReplyAddressingError> {
        let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
        if domain.len() > 253 || !super::email::domain_ok(&domain) {
            return Err(ReplyAddressingError::Domain(domain));
        }
        if !(1..=365).contains(&days) {
            return Err(ReplyAddressingError::Days(days));
        }
        Ok(ReplyAddressing {
            domain,
            window: Duration::from_secs(days * 24 * 3600),
        })
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    pub fn window(&self) -> Duration {
        self.window
    }
}

/// How many days a reply address works unless the deployment says otherwise.
pub const DEFAULT_REPLY_DAYS: u64 = 30;

/// A reply address's token.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ReplyToken(String);

impl ReplyToken {
    pub fn generate() -> ReplyToken {
        use rand::Rng;
        let mut rng = rand::rng();
        let token = (0..TOKEN_LEN)
            .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
            .collect();
        ReplyToken(token)
    }

    /// A token as written in an address, any case.
    pub fn parse(text: &str) -> Option<ReplyToken> {
        let token = text.to_ascii_lowercase();
        let valid = token.len() == TOKEN_LEN && token.bytes().all(|b| ALPHABET.contains(&b));
        valid.then_some(ReplyToken(token))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `reply+<token>@<domain>`.
    pub fn address(&self, domain: &str) -> String {
        format!("{PREFIX}{}@{domain}", self.0)
    }

    /// The token of the first of `recipients` that is a reply address at `domain`.
    pub fn find_in(recipients: &[String], domain: &str) -> Option<ReplyToken> {
        recipients.iter().find_map(|address| {
            let (local, at) = address.rsplit_once('@')?;
            let local = local.to_ascii_lowercase();
            let token = local.strip_prefix(PREFIX)?;
            at.eq_ignore_ascii_case(domain)
                .then(|| ReplyToken::parse(token))
                .flatten()
        })
    }
}

impl fmt::Debug for ReplyToken {
    /// Only a prefix: a whole token in a log line would let its reader answer as the user.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReplyToken({}…)", &self.0[..4])
    }
}

impl TryFrom<String> for ReplyToken {
    type Error = String;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        ReplyToken::parse(&text).ok_or_else(|| "not a reply token".to_string())
    }
}

impl From<ReplyToken> for String {
    fn from(token: ReplyToken) -> String {
        token.0
    }
}

/// What a reply address lets its e-mail do: text the contact from the number they texted,
/// as the user the text was forwarded to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyGrant {
    pub account: AccountId,
    pub contact_phone: PhoneNumber,
    /// The user the text was routed to; `None` for a forward to a number's backup address.
    pub user_id: Option<String>,
    /// The account number the contact texted: the reply goes out from it.
    pub our_number: PhoneNumber,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
    /// The start of the account's send-key hash when issued: a rotated key revokes it.
    pub key_fingerprint: String,
}

/// Why a reply address no longer works. `code()` is stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GrantRefusal {
    #[error("this reply address has expired; answer from a newer forward")]
    Expired,
    #[error("this reply address was revoked when the account's key was rotated")]
    Revoked,
}

impl GrantRefusal {
    pub fn code(&self) -> &'static str {
        match self {
            GrantRefusal::Expired => "reply_address_expired",
            GrantRefusal::Revoked => "reply_address_revoked",
        }
    }
}

impl ReplyGrant {
    /// A grant for a text forwarded at `now` by `account`, working for `window`.
    pub fn issue(
        account: &Account,
        contact_phone: &PhoneNumber,
        user_id: Option<&str>,
        our_number: &PhoneNumber,
        now: Timestamp,
        window: Duration,
    ) -> ReplyGrant {
        ReplyGrant {
            account: account.id.clone(),
            contact_phone: contact_phone.clone(),
            user_id: user_id.map(str::to_string),
            our_number: our_number.clone(),
            issued_at: now,
            expires_at: now.plus(window),
            key_fingerprint: key_fingerprint(account),
        }
    }

    /// Whether the grant still works for `account` (its own) at `now`.
    pub fn check(&self, account: &Account, now: Timestamp) -> Result<(), GrantRefusal> {
        if now >= self.expires_at {
            return Err(GrantRefusal::Expired);
        }
        if self.key_fingerprint != key_fingerprint(account) {
            return Err(GrantRefusal::Revoked);
        }
        Ok(())
    }
}

/// 16 hex characters of the send key's hash: enough to tell keys apart, too little to
/// learn anything about the key from a stored grant.
fn key_fingerprint(account: &Account) -> String {
    account.send_key_hash.as_hex()[..16].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures;
    use crate::domain::secret::KeyHash;

    #[test]
    fn tokens_are_random_and_read_back_in_any_case() {
        let token = ReplyToken::generate();
        assert_ne!(token, ReplyToken::generate());
        assert_eq!(
            ReplyToken::parse(&token.as_str().to_uppercase()),
            Some(token.clone())
        );
        let address = token.address("reply.acme.example");
        let cases = [
            (vec![address.clone()], Some(token.clone())),
            (
                vec!["mary@acme.example".into(), address.to_uppercase()],
                Some(token.clone()),
            ),
            (vec![token.address("other.example")], None),
            (vec!["reply+short@reply.acme.example".into()], None),
            (
                vec!["reply+0123456789abcdefghjkmnpqri@reply.acme.example".into()],
                None,
            ),
            (vec![], None),
        ];
        for (recipients, want) in cases {
            assert_eq!(
                ReplyToken::find_in(&recipients, "reply.acme.example"),
                want,
                "{recipients:?}"
            );
        }
        assert!(!format!("{token:?}").contains(token.as_str()));
    }

    #[test]
    fn a_reply_domain_and_window_are_checked() {
        let cases: [(&str, u64, Result<&str, ReplyAddressingError>); 7] = [
            ("reply.acme.example", 30, Ok("reply.acme.example")),
            (" Reply.Acme.Example. ", 1, Ok("reply.acme.example")),
            (
                "localhost",
                30,
                Err(ReplyAddressingError::Domain("localhost".into())),
            ),
            (
                "a..example",
                30,
                Err(ReplyAddressingError::Domain("a..example".into())),
            ),
            (
                "-a.example",
                30,
                Err(ReplyAddressingError::Domain("-a.example".into())),
            ),
            ("reply.acme.example", 0, Err(ReplyAddressingError::Days(0))),
            (
                "reply.acme.example",
                366,
                Err(ReplyAddressingError::Days(366)),
            ),
        ];
        for (domain, days, want) in cases {
            let got = ReplyAddressing::new(domain, days);
            assert_eq!(
                got.as_ref().map(|r| r.domain()),
                want.as_ref().map(|d| *d),
                "{domain} {days}"
            );
        }
        let month = ReplyAddressing::new("reply.acme.example", DEFAULT_REPLY_DAYS);
        assert_eq!(month.map(|r| r.window()), Ok(DEFAULT_REPLY_WINDOW));
    }

    #[test]
    fn a_grant_expires_and_is_revoked_by_a_new_key() {
        let account = fixtures::account();
        let phone = fixtures::phone("+14155552671");
        let number = fixtures::phone("+19523142318");
        let t0 = Timestamp::from_millis(1_714_521_600_000);
        let grant = ReplyGrant::issue(
            &account,
            &phone,
            Some("mary"),
            &number,
            t0,
            DEFAULT_REPLY_WINDOW,
        );
        assert_eq!(grant.check(&account, t0), Ok(()));
        let last_moment = t0.plus(DEFAULT_REPLY_WINDOW - Duration::from_millis(1));
        assert_eq!(grant.check(&account, last_moment), Ok(()));
        assert_eq!(
            grant.check(&account, t0.plus(DEFAULT_REPLY_WINDOW)),
            Err(GrantRefusal::Expired)
        );
        let rotated = Account {
            send_key_hash: KeyHash::of("a new key"),
            ..account
        };
        assert_eq!(grant.check(&rotated, t0), Err(GrantRefusal::Revoked));
    }
}

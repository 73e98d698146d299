//! Signing in to the inbox without a password: a one-time link e-mailed to a user's
//! address starts a session; signing out ends it.

use crate::app::App;
use crate::domain::inbox::{
    InboxSecret, InboxSession, SIGN_IN_LINK_LIFETIME, SIGN_IN_LINKS_PER_WINDOW, SIGN_IN_WINDOW,
    SignInLink, sign_in_window,
};
use crate::domain::{Account, AccountId, EmailAddress, User};
use crate::ports::Email;
use crate::usecases::Unavailable;

/// What asking for a sign-in link did. The page says the same for [`LinkRequest::Sent`] and
/// [`LinkRequest::NotAUser`], so it tells no one who is on the team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkRequest {
    Sent,
    NotAUser,
    /// More than [`SIGN_IN_LINKS_PER_WINDOW`] links for the address in the window.
    TooMany,
    /// Not an e-mail address.
    Invalid,
}

/// E-mails a sign-in link to `address` if it is a user's of `account`. `inbox_url` is where
/// the account's inbox is (`https://…/inbox/acme`).
pub async fn request_link(
    app: &App,
    account: &Account,
    address: &str,
    inbox_url: &str,
) -> Result<LinkRequest, Unavailable> {
    let Ok(email) = EmailAddress::parse(address.trim()) else {
        return Ok(LinkRequest::Invalid);
    };
    let now = app.clock.now();
    // Counted before the address is looked up: a stranger's address is limited the same.
    let window = sign_in_window(now);
    let count = app
        .store
        .count_sign_in_request(&email, window, window.plus(SIGN_IN_WINDOW))
        .await
        .map_err(|e| Unavailable(format!("cannot count sign-in requests: {e}")))?;
    if count > SIGN_IN_LINKS_PER_WINDOW {
        return Ok(LinkRequest::TooMany);
    }
    let Some(user) = user_with_email(account, &email) else {
        tracing::info!(account = %account.id, "sign-in link asked for an address that is no user's");
        return Ok(LinkRequest::NotAUser);
    };
    let secret = InboxSecret::generate();
    let link = SignInLink {
        account: account.id.clone(),
        user_id: user.id.clone(),
        expires_at: now.plus(SIGN_IN_LINK_LIFETIME),
    };
    app.store
        .put_sign_in_link(&secret.digest(), &link)
        .await
        .map_err(|e| Unavailable(format!("cannot store the sign-in link: {e}")))?;
    mail_link(
        app,
        account,
        user,
        &format!("{inbox_url}/link?token={}", secret.as_str()),
    )
    .await?;
    Ok(LinkRequest::Sent)
}

/// The account's user with this e-mail (unique within an account).
fn user_with_email<'a>(account: &'a Account, email: &EmailAddress) -> Option<&'a User> {
    account
        .users
        .values()
        .find(|u| u.email.as_str().eq_ignore_ascii_case(email.as_str()))
}

async fn mail_link(
    app: &App,
    account: &Account,
    user: &User,
    link: &str,
) -> Result<(), Unavailable> {
    let from = app.settings.mail_from.clone().ok_or_else(|| {
        Unavailable("no sender address is configured for e-mail (mail_from)".into())
    })?;
    let minutes = SIGN_IN_LINK_LIFETIME.as_secs() / 60;
    let email = Email {
        from,
        to: vec![user.email.clone()],
        reply_to: None,
        subject: format!("Sign in to the {} inbox", account.name),
        text: format!(
            "Hello {},\n\nSign in to the {} inbox:\n\n{link}\n\nThe link works once, for \
             {minutes} minutes. If you did not ask for it, ignore this e-mail.\n",
            user.name, account.name
        ),
    };
    app.mailer
        .send(&email)
        .await
        .map(|_| ())
        .map_err(|e| Unavailable(format!("cannot e-mail the sign-in link: {e}")))
}

/// What following a sign-in link did.
#[derive(Debug)]
pub enum Redeemed {
    /// A new session: `secret` goes in the cookie.
    SignedIn {
        secret: InboxSecret,
        session: InboxSession,
    },
    /// Used, expired, another account's, or never made; or its user was removed.
    Invalid,
}

/// Uses the link whose secret is `token` to start a session on `account`.
pub async fn redeem(app: &App, account: &Account, token: &str) -> Result<Redeemed, Unavailable> {
    let Some(secret) = InboxSecret::parse(token) else {
        return Ok(Redeemed::Invalid);
    };
    let now = app.clock.now();
    let link = app
        .store
        .take_sign_in_link(&secret.digest(), now)
        .await
        .map_err(|e| Unavailable(format!("cannot read the sign-in link: {e}")))?;
    let Some(link) = link.filter(|l| l.account == account.id) else {
        return Ok(Redeemed::Invalid);
    };
    if !account.users.contains_key(&link.user_id) {
        return Ok(Redeemed::Invalid);
    }
    let secret = InboxSecret::generate();
    let session = InboxSession::start(link.account, link.user_id, now);
    app.store
        .put_inbox_session(&secret.digest(), &session)
        .await
        .map_err(|e| Unavailable(format!("cannot store the session: {e}")))?;
    tracing::info!(account = %account.id, user = %session.user_id, "signed in to the inbox");
    Ok(Redeemed::SignedIn { secret, session })
}

/// A browser signed in to an account's inbox, as one of its current users.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub account: Account,
    pub user: User,
    pub session: InboxSession,
    /// The session cookie's secret, to sign out.
    pub secret: InboxSecret,
}

/// Who a request's session cookie signs in as on `account`.
#[derive(Debug)]
pub enum Access {
    SignedIn(Box<SignedIn>),
    /// No cookie, an expired or ended session, or its user was removed.
    SignedOut,
    /// Signed in, to another account.
    OtherAccount(AccountId),
}

/// The session of the cookie `cookie` (the secret) on `account`.
pub async fn access(
    app: &App,
    account: Account,
    cookie: Option<&str>,
) -> Result<Access, Unavailable> {
    let Some(secret) = cookie.and_then(InboxSecret::parse) else {
        return Ok(Access::SignedOut);
    };
    let session = app
        .store
        .inbox_session(&secret.digest(), app.clock.now())
        .await
        .map_err(|e| Unavailable(format!("cannot read the session: {e}")))?;
    let Some(session) = session else {
        return Ok(Access::SignedOut);
    };
    if session.account != account.id {
        return Ok(Access::OtherAccount(session.account));
    }
    let Some(user) = account.users.get(&session.user_id).cloned() else {
        return Ok(Access::SignedOut);
    };
    Ok(Access::SignedIn(Box::new(SignedIn {
        account,
        user,
        session,
        secret,
    })))
}

/// Ends the session.
pub async fn sign_out(app: &App, signed_in: &SignedIn) -> Result<(), Unavailable> {
    app.store
        .end_inbox_session(&signed_in.secret.digest())
        .await
        .map_err(|e| Unavailable(format!("cannot end the session: {e}")))
}

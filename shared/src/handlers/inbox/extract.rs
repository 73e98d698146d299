//! What a page's handler starts from, as axum extractors: the account its path names
//! ([`PathAccount`]), or the user signed in to it ([`Signed`]). Each rejection is the page to
//! answer instead: "No such inbox", the sign-in redirect, "Not your team's inbox".

use std::sync::Arc;

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::{SESSION_COOKIE, bare_notice, unavailable};
use crate::app::App;
use crate::domain::{Account, AccountId};
use crate::routes::inbox_path;
use crate::usecases::Unavailable;
use crate::usecases::inbox::{self, Access, SignedIn};

/// The account the path names.
pub(super) struct PathAccount(pub Account);

/// The user signed in to the account the path names.
pub(super) struct Signed(pub SignedIn);

impl FromRequestParts<Arc<App>> for PathAccount {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Response> {
        let id = account_in_path(parts, app).await?;
        account(app, &id).await.map(PathAccount)
    }
}

impl FromRequestParts<Arc<App>> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Response> {
        let id = account_in_path(parts, app).await?;
        signed_in(app, &id, &parts.headers).await.map(Signed)
    }
}

/// The `{account}` of the path (every page's route has one).
async fn account_in_path(parts: &mut Parts, app: &Arc<App>) -> Result<String, Response> {
    let params = RawPathParams::from_request_parts(parts, app)
        .await
        .map_err(IntoResponse::into_response)?;
    let id = params.iter().find(|(name, _)| *name == "account");
    Ok(id.map(|(_, value)| value.to_string()).unwrap_or_default())
}

/// The account named `id`, or the page that says there is none.
async fn account(app: &App, id: &str) -> Result<Account, Response> {
    let found = match AccountId::parse(id) {
        Ok(id) => app.store.account(&id).await,
        Err(_) => Ok(None),
    };
    match found {
        Ok(Some(account)) => Ok(account),
        Ok(None) => Err(bare_notice(
            StatusCode::NOT_FOUND,
            "No such inbox",
            "There is no inbox at this address. Ask your account's admin for its link.",
        )),
        Err(e) => Err(unavailable(Unavailable(format!(
            "cannot read the account: {e}"
        )))),
    }
}

/// The session cookie's value, if the request has one.
fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == SESSION_COOKIE)
        .map(|c| c.value().to_string())
}

/// Who the request is signed in as on account `id`; otherwise the answer to give (the
/// sign-in page, or "signed in to another account").
pub(super) async fn signed_in(
    app: &App,
    id: &str,
    headers: &HeaderMap,
) -> Result<SignedIn, Response> {
    let account = account(app, id).await?;
    let inbox = inbox_path(&account.id);
    match inbox::access(app, account, session_cookie(headers).as_deref()).await {
        Ok(Access::SignedIn(signed_in)) => Ok(*signed_in),
        Ok(Access::SignedOut) => Err(Redirect::to(&format!("{inbox}/sign-in")).into_response()),
        Ok(Access::OtherAccount(other)) => Err(bare_notice(
            StatusCode::FORBIDDEN,
            "Not your team's inbox",
            &format!(
                "You are signed in to the {other} inbox, not this one. Sign out there to sign \
                 in here."
            ),
        )),
        Err(e) => Err(unavailable(e)),
    }
}

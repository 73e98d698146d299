//! Sign-in pages: ask for a link, confirm the link, sign out.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::extract::{PathAccount, Signed};
use super::markup::{self, Frame};
use super::{html_page, session_cookie_header, unavailable};
use crate::app::App;
use crate::domain::inbox::{SESSION_LIFETIME, SIGN_IN_LINK_LIFETIME};
use crate::domain::{Account, Timestamp};
use crate::handlers::http::public_base;
use crate::routes::inbox_path;
use crate::usecases::inbox::{self, LinkRequest, Redeemed};

/// How long a sign-in link works, for the pages to say.
fn link_minutes() -> u64 {
    SIGN_IN_LINK_LIFETIME.as_secs() / 60
}

fn signed_out_frame<'a>(account: &'a Account, title: &'a str, inbox: &'a str) -> Frame<'a> {
    Frame {
        title,
        inbox,
        account_name: &account.name,
        user: None,
        now: Timestamp::from_millis(0),
    }
}

fn email_form(inbox: &str, problem: Option<&str>) -> Markup {
    html! {
        section.notice {
            h1 { "Sign in" }
            p { "We e-mail you a link that signs you in. No password." }
            form.stack method="post" action={ (inbox) "/sign-in" } {
                label for="email" { "Your work e-mail" }
                input #email type="email" name="email" autocomplete="email" required
                    aria-describedby=[problem.map(|_| "problem")];
                @if let Some(problem) = problem {
                    p #problem.problem role="alert" { (problem) }
                }
                button type="submit" { "E-mail me a sign-in link" }
            }
        }
    }
}

/// `GET /inbox/{account}/sign-in`.
pub(super) async fn form(PathAccount(account): PathAccount) -> Response {
    let inbox = inbox_path(&account.id);
    let frame = signed_out_frame(&account, "Sign in", &inbox);
    html_page(
        StatusCode::OK,
        markup::page(&frame, email_form(&inbox, None)),
    )
}

#[derive(Deserialize)]
pub(super) struct EmailField {
    #[serde(default)]
    email: String,
}

/// `POST /inbox/{account}/sign-in`: e-mails a link, if the address is a user's.
pub(super) async fn send_link(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    uri: Uri,
    PathAccount(account): PathAccount,
    Form(field): Form<EmailField>,
) -> Response {
    let inbox = inbox_path(&account.id);
    let url = format!("{}{inbox}", public_base(&app.settings, &headers, &uri));
    match inbox::request_link(&app, &account, &field.email, &url).await {
        Ok(outcome) => link_request_page(&account, &field.email, outcome),
        Err(e) => unavailable(e),
    }
}

/// What the sign-in form's post answers.
fn link_request_page(account: &Account, address: &str, outcome: LinkRequest) -> Response {
    let inbox = inbox_path(&account.id);
    let frame = signed_out_frame(account, "Sign in", &inbox);
    let minutes = link_minutes();
    let (status, problem) = match outcome {
        LinkRequest::Sent | LinkRequest::NotAUser => {
            let text = format!(
                "If {} is on the {} team, a sign-in link is on its way. It works once, for \
                 {minutes} minutes.",
                address.trim(),
                account.name
            );
            let page = markup::notice(&frame, "Check your e-mail", &text, None);
            return html_page(StatusCode::OK, page);
        }
        LinkRequest::TooMany => (
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many links were asked for this address. Use the last one, or try again \
                 in {minutes} minutes."
            ),
        ),
        LinkRequest::Invalid => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "That is not an e-mail address.".to_string(),
        ),
    };
    html_page(
        status,
        markup::page(&frame, email_form(&inbox, Some(&problem))),
    )
}

#[derive(Deserialize)]
pub(super) struct TokenField {
    #[serde(default)]
    token: String,
}

/// `GET /inbox/{account}/link?token=…`: a button that uses the link. Following the link
/// changes nothing, so a mail scanner that opens it does not use it up.
pub(super) async fn confirm(
    PathAccount(account): PathAccount,
    Query(field): Query<TokenField>,
) -> Response {
    let inbox = inbox_path(&account.id);
    let frame = signed_out_frame(&account, "Sign in", &inbox);
    let main = html! {
        section.notice {
            h1 { "Sign in to the " (account.name) " inbox" }
            form method="post" action={ (inbox) "/link" } {
                input type="hidden" name="token" value=(field.token);
                button type="submit" autofocus { "Sign in" }
            }
        }
    };
    html_page(StatusCode::OK, markup::page(&frame, main))
}

/// `POST /inbox/{account}/link`: uses the link, sets the session cookie.
pub(super) async fn use_link(
    State(app): State<Arc<App>>,
    PathAccount(account): PathAccount,
    Form(field): Form<TokenField>,
) -> Response {
    let inbox = inbox_path(&account.id);
    match inbox::redeem(&app, &account, &field.token).await {
        Ok(Redeemed::SignedIn { secret, .. }) => {
            let max_age = SESSION_LIFETIME.as_secs() as i64;
            let cookie = session_cookie_header(Some(secret.as_str()), max_age);
            let mut response = Redirect::to(&inbox).into_response();
            response.headers_mut().insert(header::SET_COOKIE, cookie);
            response
        }
        Ok(Redeemed::Invalid) => {
            let frame = signed_out_frame(&account, "Link expired", &inbox);
            let again = format!("{inbox}/sign-in");
            let text = format!(
                "A sign-in link works once, for {} minutes. Ask for a new one.",
                link_minutes()
            );
            let next = Some((again.as_str(), "E-mail me a new link"));
            let page = markup::notice(&frame, "This link no longer works", &text, next);
            html_page(StatusCode::BAD_REQUEST, page)
        }
        Err(e) => unavailable(e),
    }
}

#[derive(Deserialize)]
pub(super) struct CsrfField {
    #[serde(default)]
    csrf: String,
}

/// `POST /inbox/{account}/sign-out`.
pub(super) async fn sign_out(
    State(app): State<Arc<App>>,
    Signed(signed_in): Signed,
    Form(field): Form<CsrfField>,
) -> Response {
    if !signed_in.session.csrf_matches(&field.csrf) {
        return super::conversations::forged(&app, &signed_in);
    }
    if let Err(e) = inbox::sign_out(&app, &signed_in).await {
        return unavailable(e);
    }
    let sign_in = format!("{}/sign-in", inbox_path(&signed_in.account.id));
    let mut response = Redirect::to(&sign_in).into_response();
    let removed = session_cookie_header(None, 0);
    response.headers_mut().insert(header::SET_COOKIE, removed);
    response
}

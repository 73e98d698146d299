//! The team inbox's routes (README "Team inbox"): the `inbox` function's router, which
//! `smsflow serve` also mounts. Pages answer HTML; the alerts route answers JSON.
//!
//! Every page carries a strict Content-Security-Policy (the script and sheet are files of
//! this origin, nothing inline), `no-store`, and no referrer: a sign-in link's page must
//! not hand its URL to anyone.

mod assets;
mod conversations;
mod extract;
mod markup;
mod sign_in;
mod views;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::Markup;

use crate::app::App;
use crate::domain::Timestamp;
use crate::routes::{
    INBOX_ASSET_PATH, INBOX_EVENTS_PATH, INBOX_LINK_PATH, INBOX_PATH, INBOX_SIGN_IN_PATH,
    INBOX_SIGN_OUT_PATH, INBOX_THREAD_PATH,
};
use crate::usecases::Unavailable;
use crate::usecases::inbox::SignedIn;
use markup::Frame;

/// The session cookie. `__Host-`: browsers keep it only if it is `Secure`, for this host
/// alone, on every path.
const SESSION_COOKIE: &str = "__Host-smsflow-inbox";

pub fn inbox(app: Arc<App>) -> Router {
    Router::new()
        .route(INBOX_PATH, get(conversations::list))
        .route(
            INBOX_SIGN_IN_PATH,
            get(sign_in::form).post(sign_in::send_link),
        )
        .route(
            INBOX_LINK_PATH,
            get(sign_in::confirm).post(sign_in::use_link),
        )
        .route(INBOX_SIGN_OUT_PATH, post(sign_in::sign_out))
        .route(
            INBOX_THREAD_PATH,
            get(conversations::thread).post(conversations::reply),
        )
        .route(INBOX_EVENTS_PATH, get(conversations::events))
        .route(INBOX_ASSET_PATH, get(assets::asset))
        .with_state(app)
}

/// An HTML page with the inbox's security headers.
fn html_page(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, markup.into_string()).into_response();
    let headers = response.headers_mut();
    let set = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' https: data:; object-src 'none'; \
             base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    for (name, value) in set {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// A notice page outside any account.
fn bare_notice(status: StatusCode, heading: &str, text: &str) -> Response {
    let frame = Frame {
        title: heading,
        inbox: "/inbox",
        account_name: "smsflow",
        user: None,
        now: Timestamp::from_millis(0),
    };
    html_page(status, markup::notice(&frame, heading, text, None))
}

/// A store or mail failure: logged, and the user asked to try again.
fn unavailable(e: Unavailable) -> Response {
    tracing::error!(error = %e, "inbox request failed");
    bare_notice(
        StatusCode::SERVICE_UNAVAILABLE,
        "Try again in a moment",
        "The inbox could not reach its storage or mail service. Nothing was changed.",
    )
}

/// The frame of a signed-in page.
fn frame<'a>(app: &App, signed_in: &'a SignedIn, title: &'a str, inbox: &'a str) -> Frame<'a> {
    Frame {
        title,
        inbox,
        account_name: &signed_in.account.name,
        user: Some((&signed_in.user.name, &signed_in.session.csrf)),
        now: app.clock.now(),
    }
}

/// `Set-Cookie` for a new session, or (`None`) one that removes it.
fn session_cookie_header(secret: Option<&str>, max_age_secs: i64) -> HeaderValue {
    let value = match secret {
        Some(secret) => format!(
            "{SESSION_COOKIE}={secret}; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age={max_age_secs}"
        ),
        None => format!("{SESSION_COOKIE}=; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age=0"),
    };
    // The secret is URL-safe base 64: always a valid header value.
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

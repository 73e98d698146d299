//! The signed-in pages: the conversation list, a thread with its reply box, the reply, and
//! the alerts the page polls for.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use serde::Deserialize;
use serde_json::json;

use super::extract::{Signed, signed_in};
use super::views;
use super::{frame, html_page, unavailable};
use crate::app::App;
use crate::domain::{PhoneNumber, Timestamp};
use crate::handlers::ApiError;
use crate::routes::inbox_path;
use crate::usecases::inbox::{self, InboxReply, Opened, Replied, SignedIn};
use crate::usecases::send_request::{SendOutcome, SendReply};

/// `GET /inbox/{account}`: the user's conversations.
pub(super) async fn list(State(app): State<Arc<App>>, Signed(signed_in): Signed) -> Response {
    let rows = match inbox::inbox_rows(&app, &signed_in).await {
        Ok(rows) => rows,
        Err(e) => return unavailable(e),
    };
    let inbox = inbox_path(&signed_in.account.id);
    let frame = frame(&app, &signed_in, "Conversations", &inbox);
    html_page(
        StatusCode::OK,
        views::list(&frame, &rows, signed_in.user.admin),
    )
}

/// The thread's path parameters.
type ThreadPath = Path<(String, String)>;

/// The number in a thread's path, or the page that says it is none.
fn thread_phone(signed_in: &SignedIn, text: &str) -> Result<PhoneNumber, Box<Response>> {
    PhoneNumber::parse(text, signed_in.account.default_country).map_err(|e| {
        Box::new(super::bare_notice(
            StatusCode::NOT_FOUND,
            "No such conversation",
            &format!("'{text}' is not a phone number: {e}."),
        ))
    })
}

#[derive(Deserialize)]
pub(super) struct ThreadQuery {
    /// Set after a reply was queued: the page says so.
    sent: Option<String>,
}

/// `GET /inbox/{account}/c/{phone}`: one thread, marked read.
pub(super) async fn thread(
    State(app): State<Arc<App>>,
    Signed(signed_in): Signed,
    Path((_, phone)): ThreadPath,
    Query(query): Query<ThreadQuery>,
) -> Response {
    let phone = match thread_phone(&signed_in, &phone) {
        Ok(phone) => phone,
        Err(answer) => return *answer,
    };
    let notice = query.sent.is_some().then_some(views::Notice::Sent);
    thread_page(&app, &signed_in, &phone, notice, StatusCode::OK).await
}

/// The thread page with `notice` above the reply box.
async fn thread_page(
    app: &App,
    signed_in: &SignedIn,
    phone: &PhoneNumber,
    notice: Option<views::Notice>,
    status: StatusCode,
) -> Response {
    let inbox = inbox_path(&signed_in.account.id);
    let opened = match inbox::open_thread(app, signed_in, phone).await {
        Ok(opened) => opened,
        Err(e) => return unavailable(e),
    };
    let frame = frame(app, signed_in, "Conversation", &inbox);
    match opened {
        Opened::Thread(view) => {
            let reply = views::ReplyBox {
                request_id: app.ids.new_id(),
                notice,
            };
            html_page(
                status,
                views::thread(&frame, &signed_in.user, &view, &reply),
            )
        }
        Opened::Empty => html_page(
            StatusCode::NOT_FOUND,
            super::markup::notice(
                &frame,
                "No such conversation",
                &format!("Nothing was ever sent to or received from {phone}."),
                Some((&inbox, "Back to the conversations")),
            ),
        ),
        Opened::NotYours => not_yours(&frame, &inbox),
    }
}

fn not_yours(frame: &super::markup::Frame<'_>, inbox: &str) -> Response {
    html_page(
        StatusCode::FORBIDDEN,
        super::markup::notice(
            frame,
            "Another teammate's conversation",
            "This conversation is routed to someone else on the team.",
            Some((inbox, "Back to your conversations")),
        ),
    )
}

#[derive(Deserialize)]
pub(super) struct ReplyForm {
    #[serde(default)]
    text: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    request_id: String,
}

/// `POST /inbox/{account}/c/{phone}`: sends the reply as the signed-in user.
pub(super) async fn reply(
    State(app): State<Arc<App>>,
    Signed(signed_in): Signed,
    Path((_, phone)): ThreadPath,
    Form(form): Form<ReplyForm>,
) -> Response {
    if !signed_in.session.csrf_matches(&form.csrf) {
        return forged(&app, &signed_in);
    }
    let phone = match thread_phone(&signed_in, &phone) {
        Ok(phone) => phone,
        Err(answer) => return *answer,
    };
    let Some(request_id) = request_id(&form.request_id) else {
        let notice = views::Notice::Refused {
            code: "invalid_form".into(),
            detail: "The form was incomplete; send it again.".into(),
            draft: form.text,
        };
        return thread_page(
            &app,
            &signed_in,
            &phone,
            Some(notice),
            StatusCode::BAD_REQUEST,
        )
        .await;
    };
    let sent = InboxReply {
        phone: &phone,
        text: &form.text,
        request_id,
    };
    match inbox::reply(&app, &signed_in, &sent).await {
        Ok(Replied::Answered(answer)) => {
            answered(&app, &signed_in, &phone, answer, form.text).await
        }
        Ok(Replied::NotYours) => {
            let inbox = inbox_path(&signed_in.account.id);
            not_yours(&frame(&app, &signed_in, "Conversation", &inbox), &inbox)
        }
        Err(e) => unavailable(e),
    }
}

/// The send path's answer: on to the thread when queued, else the thread saying why not.
async fn answered(
    app: &App,
    signed_in: &SignedIn,
    phone: &PhoneNumber,
    answer: SendReply,
    draft: String,
) -> Response {
    if answer.outcome == SendOutcome::Queued {
        let thread = format!("{}/c/{phone}?sent=1", inbox_path(&signed_in.account.id));
        return Redirect::to(&thread).into_response();
    }
    let notice = views::Notice::Refused {
        code: answer.code.unwrap_or_else(|| "not_sent".into()),
        detail: answer.detail.unwrap_or_default(),
        draft,
    };
    thread_page(
        app,
        signed_in,
        phone,
        Some(notice),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

/// The form's request id: letters and digits, as the page made it.
fn request_id(text: &str) -> Option<&str> {
    let ok = (10..=64).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric());
    ok.then_some(text)
}

/// A change without the session's CSRF token: refused, nothing done.
pub(super) fn forged(app: &App, signed_in: &SignedIn) -> Response {
    tracing::warn!(account = %signed_in.account.id, "inbox change without its CSRF token refused");
    let inbox = inbox_path(&signed_in.account.id);
    html_page(
        StatusCode::FORBIDDEN,
        super::markup::notice(
            &frame(app, signed_in, "Refused", &inbox),
            "Refused",
            "That form did not come from this inbox page, so nothing was done. Reload the \
             page and try again.",
            Some((&inbox, "Back to the conversations")),
        ),
    )
}

#[derive(Deserialize)]
pub(super) struct Since {
    since: Option<i64>,
}

/// `GET /inbox/{account}/events?since=<ms>`: texts routed to the user since then.
pub(super) async fn events(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(since): Query<Since>,
) -> Response {
    let signed_in = match signed_in(&app, &id, &headers).await {
        Ok(signed_in) => signed_in,
        Err(page) => return as_json(page.status()),
    };
    let now = app.clock.now();
    let since = Timestamp::from_millis(since.since.unwrap_or(now.as_millis()));
    match inbox::alerts_since(&app, &signed_in, since).await {
        Ok(alerts) => Json(json!({ "now": now.as_millis(), "alerts": alerts })).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "inbox alerts failed");
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e.0).into_response()
        }
    }
}

/// What a page would have answered instead of the alerts, as JSON for the page's script.
fn as_json(page_status: StatusCode) -> Response {
    let (status, code, detail) = match page_status {
        StatusCode::SEE_OTHER => (
            StatusCode::UNAUTHORIZED,
            "signed_out",
            "sign in to the inbox again",
        ),
        StatusCode::FORBIDDEN => (
            StatusCode::FORBIDDEN,
            "other_account",
            "signed in to another account's inbox",
        ),
        StatusCode::NOT_FOUND => (StatusCode::NOT_FOUND, "unknown_account", "no such inbox"),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the store could not be reached; ask again",
        ),
    };
    ApiError::new(status, code, detail).into_response()
}

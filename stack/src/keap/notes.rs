//! Notes: the v1 create, read and update routes, v2's note list (both versions' notes, with
//! their type and assigned user), typed notes logged as a dialer would, and the sandbox's view
//! of them.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};
use smsflow_shared::adapters::embedded::crm::SandboxNote;
use smsflow_shared::domain::{ContactId, Timestamp};
use smsflow_shared::ports::crm::{CrmError, CrmResult, NewNote, Note};
use smsflow_shared::ports::{Clock, SystemClock};

use super::http::{
    Caller, KeapError, answer, error, json_body, only_known, page_size, path_id, path_record,
    record, record_mut,
};
use super::{App, KeapMock};

impl KeapMock {
    /// Logs a note of type `note_type` (`Call`...) on a contact, assigned to `user_id`,
    /// created at `created`; returns its id. Panics when the contact does not exist.
    pub fn add_note(
        &self,
        api_key: &str,
        contact_id: &str,
        note_type: &str,
        user_id: Option<&str>,
        created: Timestamp,
    ) -> String {
        let contact: u64 = contact_id.parse().expect("Keap contact ids are numbers");
        let user: Option<u64> = user_id.map(|u| u.parse().expect("Keap user ids are numbers"));
        self.with_app(api_key, |app| {
            assert!(
                app.contacts.contains_key(&contact),
                "no contact {contact} to add a note to"
            );
            let title = format!("{note_type} note");
            insert_typed_note(app, contact, user, (&title, ""), note_type, created).to_string()
        })
    }

    /// A note as the app holds it.
    pub fn note(&self, api_key: &str, note_id: &str) -> Option<Note> {
        let id: u64 = note_id.parse().ok()?;
        self.with_app(api_key, |app| {
            let note = app.notes.get(&id)?;
            // A PATCH may have set a contact id that is no number: no such note then.
            let numbered = note["id"].is_u64() && note["contact_id"].is_u64();
            numbered.then(|| port_note(note))
        })
    }

    /// The app's notes, by id, with their type and when they were created.
    pub fn notes(&self, api_key: &str) -> Vec<SandboxNote> {
        self.read_app(api_key, |app| {
            app.notes
                .iter()
                .map(|(id, note)| sandbox_note(note, app.note_times.get(id).copied()))
                .collect()
        })
    }

    /// Logs a note of type `note_type` on a contact, dated `created_at`, as a dialer logging
    /// a call would. Keap user ids are integers, so a `user_id` that is not one is refused.
    pub fn log_note(
        &self,
        api_key: &str,
        contact_id: &str,
        note: &NewNote,
        note_type: &str,
        created_at: Timestamp,
    ) -> CrmResult<SandboxNote> {
        if note_type.trim().is_empty() {
            return Err(CrmError::Rejected("a note type cannot be blank".into()));
        }
        if note.title.trim().is_empty() && note.body.trim().is_empty() {
            return Err(CrmError::Rejected("a note needs a title or a body".into()));
        }
        let user = match &note.user_id {
            None => None,
            Some(raw) => Some(raw.parse::<u64>().map_err(|_| {
                CrmError::Rejected(format!(
                    "user_id '{raw}' is not a Keap user id (an integer)"
                ))
            })?),
        };
        let missing = || CrmError::NotFound(format!("contact '{contact_id}'"));
        let contact: u64 = contact_id.parse().map_err(|_| missing())?;
        self.in_existing_app(api_key, |app| {
            if !app.contacts.contains_key(&contact) {
                return Err(missing());
            }
            let text = (note.title.as_str(), note.body.as_str());
            let id = insert_typed_note(app, contact, user, text, note_type, created_at);
            let stored = app.notes.get(&id).ok_or_else(missing)?;
            Ok(sandbox_note(stored, Some(created_at)))
        })
    }
}

const NOTE_PROPERTIES: [&str; 5] = ["title", "body", "type", "contact_id", "user_id"];

fn optional_int(body: &Map<String, Value>, key: &str) -> Result<Option<u64>, KeapError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| error(StatusCode::BAD_REQUEST, format!("{key} must be an int64"))),
    }
}

pub(super) async fn create_note(caller: Caller, body: Bytes) -> Response {
    caller.answer(|app| {
        let body = json_body(&body, &NOTE_PROPERTIES)?;
        let contact_id = optional_int(&body, "contact_id")?
            .ok_or_else(|| error(StatusCode::BAD_REQUEST, "contact_id is required"))?;
        let user_id = optional_int(&body, "user_id")?;
        let text = |key: &str| body.get(key).and_then(Value::as_str).unwrap_or_default();
        if text("title").is_empty() && text("body").is_empty() {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "Either a title or body is required",
            ));
        }
        record(&app.contacts, "Contact", contact_id)?;
        let id = app.new_id();
        let note = json!({
            "id": id,
            "contact_id": contact_id,
            "user_id": user_id,
            "title": text("title"),
            "body": text("body"),
            "type": body.get("type"),
            "date_created": "2026-01-01T00:00:00.000Z",
            "last_updated": "2026-01-01T00:00:00.000Z"
        });
        app.notes.insert(id, note.clone());
        app.note_times.insert(id, SystemClock.now());
        Ok(answer(StatusCode::CREATED, note))
    })
}

pub(super) async fn get_note(caller: Caller, Path(note_id): Path<String>) -> Response {
    caller.answer_record("Note", &note_id, |app| &app.notes)
}

pub(super) async fn update_note(
    caller: Caller,
    Path(note_id): Path<String>,
    body: Bytes,
) -> Response {
    caller.answer(|app| {
        let id = path_id(&note_id, "note")?;
        let body = json_body(&body, &NOTE_PROPERTIES)?;
        let note = record_mut(&mut app.notes, "Note", id)?;
        for (key, value) in body {
            note[key] = value;
        }
        Ok(answer(StatusCode::OK, note.clone()))
    })
}

/// A v1 note as v2 lists it (`Note`: string ids, `text`, `assigned_to_user`, ISO times).
fn v2_note(app: &App, note: &Value) -> Value {
    let user = note["user_id"].as_u64().map(|id| match app.users.get(&id) {
        Some(u) => json!({
            "id": id.to_string(),
            "given_name": u.given_name,
            "family_name": u.family_name,
            "email_address": u.email,
        }),
        None => json!({ "id": id.to_string() }),
    });
    json!({
        "id": note["id"].as_u64().map(|n| n.to_string()),
        "title": note["title"],
        "text": note["body"],
        "type": note["type"],
        "contact_id": note["contact_id"].as_u64().map(|n| n.to_string()),
        "assigned_to_user": user,
        "create_time": note["date_created"],
        "update_time": note["last_updated"],
        "created_by_user_id": note["user_id"].as_u64().map(|n| n.to_string()),
    })
}

pub(super) async fn list_notes(
    caller: Caller,
    Path(contact_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    caller.answer(|app| {
        only_known(
            query.keys(),
            &["filter", "order_by", "page_size", "page_token", "fields"],
            "query parameter",
        )?;
        if query.contains_key("filter") || query.contains_key("fields") {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "the mock serves note lists without filter or fields",
            ));
        }
        let (id, _) = path_record(&app.contacts, "Contact", &contact_id)?;
        let notes = contact_notes(app, id, query.get("order_by").map(String::as_str))?;
        let size = page_size(&query)?;
        let offset = page_offset(&query)?;
        let page: Vec<Value> = notes
            .iter()
            .skip(offset)
            .take(size)
            .map(|n| v2_note(app, n))
            .collect();
        let next = (offset + size < notes.len()).then(|| (offset + size).to_string());
        Ok(answer(
            StatusCode::OK,
            json!({ "notes": page, "next_page_token": next }),
        ))
    })
}

/// The contact's notes in the order `order_by` asks (by id when it asks none).
fn contact_notes<'a>(
    app: &'a App,
    contact: u64,
    order_by: Option<&str>,
) -> Result<Vec<&'a Value>, KeapError> {
    // Times are all written `YYYY-MM-DDTHH:MM:SS.mmmZ`, so text order is time order.
    let by_time = |n: &&Value| {
        (
            n["date_created"].as_str().unwrap_or_default().to_string(),
            n["id"].as_u64(),
        )
    };
    let mut notes: Vec<&Value> = app
        .notes
        .values()
        .filter(|n| n["contact_id"].as_u64() == Some(contact))
        .collect();
    match order_by {
        None | Some("id asc") => {}
        Some("id desc") => notes.reverse(),
        Some("create_time asc") => notes.sort_by_key(by_time),
        Some("create_time desc") => {
            notes.sort_by_key(by_time);
            notes.reverse();
        }
        Some(other) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                format!("unsupported order_by '{other}'"),
            ));
        }
    }
    Ok(notes)
}

/// Where the page `page_token` asks for starts (the first page without one).
fn page_offset(query: &HashMap<String, String>) -> Result<usize, KeapError> {
    match query.get("page_token") {
        None => Ok(0),
        Some(token) => token.parse().map_err(|_| {
            error(
                StatusCode::BAD_REQUEST,
                format!("invalid page_token '{token}'"),
            )
        }),
    }
}

/// Stores a v1 note of type `note_type` dated `created` on an existing contact; its id.
fn insert_typed_note(
    app: &mut App,
    contact: u64,
    user: Option<u64>,
    (title, body): (&str, &str),
    note_type: &str,
    created: Timestamp,
) -> u64 {
    let id = app.new_id();
    let at = iso_time(created);
    app.note_times.insert(id, created);
    app.notes.insert(
        id,
        json!({
            "id": id,
            "contact_id": contact,
            "user_id": user,
            "title": title,
            "body": body,
            "type": note_type,
            "date_created": at,
            "last_updated": at
        }),
    );
    id
}

/// A stored v1 note as the sandbox CRM's note.
fn sandbox_note(note: &Value, created_at: Option<Timestamp>) -> SandboxNote {
    SandboxNote {
        note: port_note(note),
        note_type: note["type"].as_str().map(str::to_string),
        created_at,
    }
}

/// A stored v1 note as the port's [`Note`] (ids that are no numbers read as empty).
fn port_note(note: &Value) -> Note {
    let text = |key: &str| note[key].as_str().unwrap_or_default().to_string();
    let number = |key: &str| note[key].as_u64().map(|n| n.to_string());
    Note {
        id: number("id").unwrap_or_default(),
        contact_id: ContactId::new(number("contact_id").unwrap_or_default()),
        title: text("title"),
        body: text("body"),
        user_id: number("user_id"),
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`, as Keap writes times.
pub fn iso_time(t: Timestamp) -> String {
    let ms = t.as_millis();
    let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let secs = ms_of_day / 1000;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
        ms_of_day % 1000
    )
}

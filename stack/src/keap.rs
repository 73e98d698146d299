//! Keap's stand-in: a small, stateful Keap serving the REST calls smsflow's Keap adapter
//! makes (`shared/src/adapters/keap.rs`), answered with the JSON shapes of Keap's OpenAPI
//! documents (REST v2 `Contact`, `ObjectModel`, `Tag`, `ApplyTagsResponse`, `User`,
//! `AchieveGoalResponse`, `Error`; REST v1 `Note`). Each API key (`X-Keap-API-Key`) is one
//! Keap app with its own contacts, tags, notes, users and goals, so two accounts are two
//! separate CRMs. The workspace's tests use it as `smsflow_tests::keap_mock`; the stack
//! runner's sandbox reads its state in the sandbox CRM's shapes ([`KeapMock::contacts`],
//! [`KeapMock::notes`], [`KeapMock::goals`]) and plays people working in the CRM
//! ([`KeapMock::create_contact`], [`KeapMock::log_note`]).
//!
//! Requests are checked the way Keap documents them: required fields, id types (v2 ids are
//! strings, v1 and goal `contact_id` integers), `phone_fields` with `phone_number`, known
//! custom field ids, unknown body properties refused. Where Keap's documents are silent,
//! the mock picks the plain answer: an unknown contact in a note or goal request is a 404,
//! and a goal no published campaign uses answers `success: false` (as Keap's XML-RPC
//! does).
//!
//! v2's note list (`GET /rest/v2/contacts/{id}/notes`) serves the notes of both versions,
//! newest first when asked `order_by=create_time desc`, with their `type` and
//! `assigned_to_user`; [`KeapMock::add_note`] logs a typed note (a call) at a given time.
//! Unknown query parameters are refused, as with every list route of the mock.
//!
//! Outages are scripted per app: [`KeapMock::fail_next`] queues answers (5xx, 429 with
//! `Retry-After`) given to that app's next requests, whatever they are, before any handler
//! runs. Every request is logged with its answer ([`KeapMock::requests`]), so a test can
//! assert the exact calls made and when.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};
use smsflow_shared::adapters::embedded::crm::SandboxNote;
use smsflow_shared::domain::ContactId;
use smsflow_shared::domain::{EmailAddress, PhoneNumber, Timestamp};
use smsflow_shared::ports::crm::{Contact, CrmError, CrmResult, NewContact, NewNote, Note};
use smsflow_shared::ports::{Clock, SystemClock};

/// A user of a mock Keap app.
#[derive(Debug, Clone)]
pub struct KeapUser {
    pub id: u64,
    pub given_name: String,
    pub family_name: String,
    pub email: String,
}

/// A goal the mock achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AchievedGoal {
    pub integration: String,
    pub call_name: String,
    pub contact_id: u64,
    pub achieved_at: Timestamp,
}

/// An answer the mock gives instead of serving a request (see [`KeapMock::fail_next`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptedFailure {
    /// This 5xx status, with Keap's error body.
    ServerError(u16),
    /// 429 with `Retry-After` in seconds and the body Keap's gateway sends.
    RateLimited { retry_after_secs: u64 },
}

impl IntoResponse for ScriptedFailure {
    fn into_response(self) -> Response {
        match self {
            ScriptedFailure::ServerError(code) => {
                let status = StatusCode::from_u16(code)
                    .ok()
                    .filter(StatusCode::is_server_error)
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                error(status, "Scripted outage").into_response()
            }
            ScriptedFailure::RateLimited { retry_after_secs } => (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", retry_after_secs.to_string())],
                axum::Json(json!({
                    "code": "429", "message": "Quota Exceeded", "status": "Request Throttled"
                })),
            )
                .into_response(),
        }
    }
}

/// A request the mock received, and its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    /// The decoded query pairs, in order.
    pub query: Vec<(String, String)>,
    pub status: u16,
    /// When the answer was ready.
    pub at: Instant,
}

#[derive(Debug, Default)]
struct App {
    /// Answers for the next requests, in order, before any handler runs; each for any
    /// request, or only for one method and path.
    scripted: VecDeque<(Option<(String, String)>, ScriptedFailure)>,
    /// Down: every request answers 503 until the app is up again.
    down: bool,
    requests: Vec<LoggedRequest>,
    next_id: u64,
    contacts: BTreeMap<u64, Value>,
    notes: BTreeMap<u64, Value>,
    /// When each note was really created: v1 notes created through the API all answer
    /// the same `date_created`, which the sandbox's note list should not show.
    note_times: BTreeMap<u64, Timestamp>,
    tags: BTreeMap<u64, String>,
    users: BTreeMap<u64, KeapUser>,
    /// `CustomFieldMetaData` of the contact model.
    custom_fields: Vec<Value>,
    unconfigured_goals: BTreeSet<(String, String)>,
    achieved_goals: Vec<AchievedGoal>,
}

impl App {
    fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Adds a TEXT custom field of the contact model labelled `label`.
    fn add_custom_field(&mut self, label: &str) {
        let id = self.new_id();
        self.custom_fields.push(json!({
            "id": id.to_string(),
            "label": label,
            "field_name": format!("{label}{id}"),
            "field_type": "TEXT",
            "record_type": "CONTACT",
            "options": []
        }));
    }

    fn has_custom_field(&self, label: &str) -> bool {
        self.custom_fields.iter().any(|f| f["label"] == label)
    }

    fn custom_field_ids(&self) -> Vec<String> {
        self.custom_fields
            .iter()
            .filter_map(|f| f["id"].as_str().map(str::to_string))
            .collect()
    }
}

type Apps = Arc<Mutex<HashMap<String, App>>>;

/// A running mock Keap on `127.0.0.1`; it stops when dropped.
pub struct KeapMock {
    addr: SocketAddr,
    apps: Apps,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for KeapMock {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl KeapMock {
    pub async fn start() -> KeapMock {
        let apps: Apps = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("mock Keap binds a local port");
        let addr = listener.local_addr().expect("bound address");
        let router = router(apps.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        KeapMock { addr, apps, task }
    }

    /// The base URL to configure (`…/crm`, like `https://api.infusionsoft.com/crm`).
    pub fn base_url(&self) -> String {
        format!("http://{}/crm", self.addr)
    }

    fn with_app<R>(&self, api_key: &str, f: impl FnOnce(&mut App) -> R) -> R {
        let mut apps = self.apps.lock().unwrap_or_else(|p| p.into_inner());
        f(apps.entry(api_key.to_string()).or_default())
    }

    /// Runs `f` on the app `api_key` opens, which must exist: the sandbox's calls neither
    /// create apps nor act in one that does not exist.
    fn in_existing_app<R>(
        &self,
        api_key: &str,
        f: impl FnOnce(&mut App) -> CrmResult<R>,
    ) -> CrmResult<R> {
        let mut apps = self.apps.lock().unwrap_or_else(|p| p.into_inner());
        match apps.get_mut(api_key) {
            Some(app) => f(app),
            None => Err(CrmError::Unauthorized(
                "no Keap app has this API key".into(),
            )),
        }
    }

    /// What `f` reads from the app `api_key` opens, or from an empty app when none does.
    fn read_app<R>(&self, api_key: &str, f: impl FnOnce(&App) -> R) -> R {
        let apps = self.apps.lock().unwrap_or_else(|p| p.into_inner());
        match apps.get(api_key) {
            Some(app) => f(app),
            None => f(&App::default()),
        }
    }

    /// Creates the Keap app reached with `api_key`, with these users and contact custom
    /// fields (labels).
    pub fn add_app(&self, api_key: &str, users: &[KeapUser], custom_field_labels: &[&str]) {
        self.with_app(api_key, |app| {
            for user in users {
                app.users.insert(user.id, user.clone());
            }
            for label in custom_field_labels {
                app.add_custom_field(label);
            }
        });
    }

    /// Makes this goal unconfigured, as when no published campaign uses it.
    pub fn unconfigure_goal(&self, api_key: &str, integration: &str, call_name: &str) {
        self.with_app(api_key, |app| {
            app.unconfigured_goals
                .insert((integration.to_string(), call_name.to_string()));
        });
    }

    pub fn achieved_goals(&self, api_key: &str) -> Vec<AchievedGoal> {
        self.with_app(api_key, |app| app.achieved_goals.clone())
    }

    /// Answers the app's next requests with `failures`, one each, in order (after any
    /// failures already queued).
    pub fn fail_next(&self, api_key: &str, failures: &[ScriptedFailure]) {
        self.with_app(api_key, |app| {
            app.scripted.extend(failures.iter().map(|f| (None, *f)));
        });
    }

    /// Takes the app down (every request answers 503, as Keap does in an outage) or brings
    /// it back up.
    pub fn set_down(&self, api_key: &str, down: bool) {
        self.with_app(api_key, |app| app.down = down);
    }

    /// As [`fail_next`](Self::fail_next), for requests with this method and path only
    /// (`POST`, `/crm/rest/v2/automations/goals/achieve`).
    pub fn fail_next_on(
        &self,
        api_key: &str,
        method: &str,
        path: &str,
        failures: &[ScriptedFailure],
    ) {
        let route = (method.to_string(), path.to_string());
        self.with_app(api_key, |app| {
            app.scripted
                .extend(failures.iter().map(|f| (Some(route.clone()), *f)));
        });
    }

    /// Every request made with `api_key` so far, oldest first.
    pub fn requests(&self, api_key: &str) -> Vec<LoggedRequest> {
        self.with_app(api_key, |app| app.requests.clone())
    }

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
            let text = |key: &str| note[key].as_str().unwrap_or_default().to_string();
            let number = |key: &str| note[key].as_u64().map(|n| n.to_string());
            Some(Note {
                id: number("id")?,
                contact_id: ContactId::new(number("contact_id")?),
                title: text("title"),
                body: text("body"),
                user_id: number("user_id"),
            })
        })
    }
}

/// The sandbox's view of an app: its records in the shapes of local mode's sandbox CRM
/// (`shared/src/adapters/embedded/crm.rs`), read the way smsflow's Keap adapter reads them
/// (tags by name, custom fields by label, the `EMAIL1` address and the `PHONE1` number
/// first), and what people working in the CRM do, refused as the sandbox CRM refuses it.
impl KeapMock {
    /// The app's contacts, by id.
    pub fn contacts(&self, api_key: &str) -> Vec<Contact> {
        self.read_app(api_key, |app| {
            app.contacts
                .values()
                .map(|contact| port_contact(app, contact))
                .collect()
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

    /// The `limit` goals achieved most recently, newest first.
    pub fn goals(&self, api_key: &str, limit: usize) -> Vec<AchievedGoal> {
        self.read_app(api_key, |app| {
            app.achieved_goals
                .iter()
                .rev()
                .take(limit)
                .cloned()
                .collect()
        })
    }

    /// Creates a contact, as someone working in Keap would: like a v2 create, plus the
    /// contact's time zone (Keap keeps one; the v2 create of this mock refuses it as an
    /// unknown property, as smsflow never sends one).
    pub fn create_contact(&self, api_key: &str, new: &NewContact) -> CrmResult<Contact> {
        if new.email.is_none() && new.phone.is_none() {
            return Err(CrmError::Rejected(
                "a contact needs an e-mail address or a phone number".into(),
            ));
        }
        let body = create_contact_body(new);
        self.in_existing_app(api_key, |app| {
            let mut contact = insert_contact(app, &body).map_err(CrmError::from)?;
            if let Some(zone) = &new.time_zone {
                contact["time_zone"] = json!(zone);
                if let Some(stored) = contact_id(&contact).and_then(|id| app.contacts.get_mut(&id))
                {
                    stored["time_zone"] = json!(zone);
                }
            }
            Ok(port_contact(app, &contact))
        })
    }

    /// Creates the contact custom fields labelled `labels` that the app lacks, as someone
    /// setting up Keap does before smsflow writes them (smsflow's Keap adapter only finds
    /// fields by label, it never creates one); the labels created, in order.
    pub fn create_custom_fields(&self, api_key: &str, labels: &[&str]) -> CrmResult<Vec<String>> {
        self.in_existing_app(api_key, |app| {
            let mut created = Vec::new();
            for label in labels {
                if !app.has_custom_field(label) {
                    app.add_custom_field(label);
                    created.push((*label).to_string());
                }
            }
            Ok(created)
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

/// A refusal of the mock as the port's error: a 404 names what is missing.
impl From<KeapError> for CrmError {
    fn from(refusal: KeapError) -> Self {
        if refusal.status == StatusCode::NOT_FOUND {
            CrmError::NotFound(refusal.message)
        } else {
            CrmError::Rejected(refusal.message)
        }
    }
}

/// The v2 create-contact body smsflow's adapter would send for `new` (without its time
/// zone).
fn create_contact_body(new: &NewContact) -> Map<String, Value> {
    let mut body = Map::new();
    let fields = [
        ("given_name", new.first_name.as_ref().map(|n| json!(n))),
        ("family_name", new.last_name.as_ref().map(|n| json!(n))),
        (
            "email_addresses",
            new.email
                .as_ref()
                .map(|e| json!([{ "email": e.as_str(), "field": "EMAIL1" }])),
        ),
        (
            "phone_numbers",
            new.phone
                .as_ref()
                .map(|p| json!([{ "number": p.as_str(), "field": "PHONE1" }])),
        ),
        ("owner_id", new.owner_id.as_ref().map(|o| json!(o))),
    ];
    for (key, value) in fields {
        if let Some(value) = value {
            body.insert(key.to_string(), value);
        }
    }
    body
}

fn contact_id(contact: &Value) -> Option<u64> {
    contact["id"].as_str()?.parse().ok()
}

/// A stored v2 contact as the port's [`Contact`].
fn port_contact(app: &App, contact: &Value) -> Contact {
    let text = |key: &str| {
        contact[key]
            .as_str()
            .filter(|s| !s.trim().is_empty())
            .map(str::to_string)
    };
    Contact {
        id: ContactId::new(text("id").unwrap_or_default()),
        first_name: text("given_name"),
        last_name: text("family_name"),
        email: slot_value(&contact["email_addresses"], "email", "EMAIL1")
            .and_then(|e| EmailAddress::parse(e).ok()),
        phone: slot_value(&contact["phone_numbers"], "number", "PHONE1")
            .and_then(|p| PhoneNumber::parse_e164(p).ok()),
        owner_id: text("owner_id").filter(|o| o != "0"),
        tags: tag_names(app, &contact["tag_ids"]),
        custom_fields: custom_field_texts(app, &contact["custom_fields"]),
        time_zone: text("time_zone"),
    }
}

/// `key` of the item in slot `preferred`, else of the first item.
fn slot_value<'a>(items: &'a Value, key: &str, preferred: &str) -> Option<&'a str> {
    let items = items.as_array()?;
    items
        .iter()
        .find(|item| item["field"] == preferred)
        .or_else(|| items.first())
        .and_then(|item| item[key].as_str())
}

fn tag_names(app: &App, ids: &Value) -> Vec<String> {
    ids.as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|id| app.tags.get(&id.as_str()?.parse().ok()?).cloned())
        .collect()
}

/// Custom fields with a value, by label (the field's name when it has no label).
fn custom_field_texts(app: &App, values: &Value) -> BTreeMap<String, String> {
    let name_of = |id: &str| {
        app.custom_fields
            .iter()
            .find(|f| f["id"] == id)
            .and_then(|f| f["label"].as_str().or(f["field_name"].as_str()))
            .unwrap_or(id)
            .to_string()
    };
    values
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|v| !v["content"].is_null())
        .filter_map(|v| {
            let text = match &v["content"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            Some((name_of(v["id"].as_str()?), text))
        })
        .collect()
}

/// A stored v1 note as the sandbox CRM's note.
fn sandbox_note(note: &Value, created_at: Option<Timestamp>) -> SandboxNote {
    let text = |key: &str| note[key].as_str().unwrap_or_default().to_string();
    let number = |key: &str| note[key].as_u64().map(|n| n.to_string());
    SandboxNote {
        note: Note {
            id: number("id").unwrap_or_default(),
            contact_id: ContactId::new(number("contact_id").unwrap_or_default()),
            title: text("title"),
            body: text("body"),
            user_id: number("user_id"),
        },
        note_type: note["type"].as_str().map(str::to_string),
        created_at,
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

fn router(apps: Apps) -> Router {
    Router::new()
        .route("/crm/rest/v2/contacts/{contact_id}/notes", get(list_notes))
        .route(
            "/crm/rest/v2/contacts",
            get(list_contacts).post(create_contact),
        )
        .route("/crm/rest/v2/contacts/model", get(contact_model))
        .route(
            "/crm/rest/v2/contacts/{contact_id}",
            get(get_contact).patch(update_contact),
        )
        .route("/crm/rest/v2/tags", get(list_tags).post(create_tag))
        .route(
            "/crm/rest/v2/tags/{tag_id}/contacts:applyTags",
            post(apply_tags),
        )
        .route("/crm/rest/v2/users/{user_id}", get(get_user))
        .route("/crm/rest/v2/automations/goals/achieve", post(achieve_goal))
        .route("/crm/rest/v1/notes", post(create_note))
        .route(
            "/crm/rest/v1/notes/{note_id}",
            get(get_note).patch(update_note),
        )
        .layer(middleware::from_fn_with_state(apps.clone(), script_and_log))
        .with_state(apps)
}

/// Answers a scripted failure instead of the request when one is queued for its app, and
/// logs the request with its answer.
async fn script_and_log(State(apps): State<Apps>, request: Request, next: Next) -> Response {
    let key = request
        .headers()
        .get("x-keap-api-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let query = Query::<Vec<(String, String)>>::try_from_uri(request.uri())
        .map(|q| q.0)
        .unwrap_or_default();
    let scripted = {
        let mut apps = apps.lock().unwrap_or_else(|p| p.into_inner());
        apps.get_mut(&key).and_then(|app| {
            let applies = |route: &Option<(String, String)>| {
                route
                    .as_ref()
                    .is_none_or(|(m, p)| *m == method && *p == path)
            };
            if app.down {
                return Some(ScriptedFailure::ServerError(503));
            }
            let index = app.scripted.iter().position(|(route, _)| applies(route))?;
            app.scripted.remove(index).map(|(_, failure)| failure)
        })
    };
    let response = match scripted {
        Some(failure) => failure.into_response(),
        None => next.run(request).await,
    };
    let mut apps = apps.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(app) = apps.get_mut(&key) {
        app.requests.push(LoggedRequest {
            method,
            path,
            query,
            status: response.status().as_u16(),
            at: Instant::now(),
        });
    }
    response
}

/// A refusal, answered with Keap's v2 `Error` body.
#[derive(Debug)]
struct KeapError {
    status: StatusCode,
    message: String,
}

fn error(status: StatusCode, message: impl Into<String>) -> KeapError {
    KeapError {
        status,
        message: message.into(),
    }
}

impl IntoResponse for KeapError {
    fn into_response(self) -> Response {
        let body = json!({
            "code": self.status.as_u16(),
            "message": self.message,
            "status": self
                .status
                .canonical_reason()
                .unwrap_or_default()
                .to_uppercase()
                .replace(' ', "_"),
            "details": []
        });
        (self.status, axum::Json(body)).into_response()
    }
}

/// A successful answer: status and JSON body.
type Reply = (StatusCode, Value);

fn answer(status: StatusCode, body: Value) -> Reply {
    (status, body)
}

type Outcome = Result<Reply, KeapError>;

/// Runs `f` on the app the request's API key opens (401 without a known key).
fn in_app(apps: &Apps, headers: &HeaderMap, f: impl FnOnce(&mut App) -> Outcome) -> Response {
    let key = headers
        .get("x-keap-api-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mut apps = apps.lock().unwrap_or_else(|p| p.into_inner());
    let outcome = match apps.get_mut(key) {
        Some(app) => f(app),
        None => Err(error(StatusCode::UNAUTHORIZED, "Invalid API key")),
    };
    match outcome {
        Ok((status, body)) => (status, axum::Json(body)).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

fn json_object(body: &Bytes) -> Result<Map<String, Value>, KeapError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(error(
            StatusCode::BAD_REQUEST,
            "request body must be a JSON object",
        )),
    }
}

fn only_known_properties(body: &Map<String, Value>, known: &[&str]) -> Result<(), KeapError> {
    match body.keys().find(|k| !known.contains(&k.as_str())) {
        Some(unknown) => Err(error(
            StatusCode::BAD_REQUEST,
            format!("Unrecognized field \"{unknown}\""),
        )),
        None => Ok(()),
    }
}

/// Record `id` of `records` (contacts, notes...), or Keap's 404 for it (`Contact 7 not
/// found`).
fn record<'a, T>(records: &'a BTreeMap<u64, T>, kind: &str, id: u64) -> Result<&'a T, KeapError> {
    records.get(&id).ok_or_else(|| not_found(kind, id))
}

/// [`record`], to change it.
fn record_mut<'a, T>(
    records: &'a mut BTreeMap<u64, T>,
    kind: &str,
    id: u64,
) -> Result<&'a mut T, KeapError> {
    records.get_mut(&id).ok_or_else(|| not_found(kind, id))
}

fn not_found(kind: &str, id: u64) -> KeapError {
    error(StatusCode::NOT_FOUND, format!("{kind} {id} not found"))
}

fn path_id(raw: &str, what: &str) -> Result<u64, KeapError> {
    raw.parse().map_err(|_| {
        error(
            StatusCode::BAD_REQUEST,
            format!("invalid {what} id '{raw}'"),
        )
    })
}

/// `key==value` conditions of a v2 `filter`, split on `;`.
fn filter_conditions(filter: Option<&String>) -> Result<HashMap<String, String>, KeapError> {
    let mut conditions = HashMap::new();
    for condition in filter.map(String::as_str).unwrap_or_default().split(';') {
        if condition.is_empty() {
            continue;
        }
        let (key, value) = condition.split_once("==").ok_or_else(|| {
            error(
                StatusCode::BAD_REQUEST,
                format!("unsupported filter '{condition}'"),
            )
        })?;
        conditions.insert(key.to_string(), value.to_string());
    }
    Ok(conditions)
}

fn only_known_query(query: &HashMap<String, String>, known: &[&str]) -> Result<(), KeapError> {
    match query.keys().find(|k| !known.contains(&k.as_str())) {
        Some(unknown) => Err(error(
            StatusCode::BAD_REQUEST,
            format!("Unrecognized query parameter \"{unknown}\""),
        )),
        None => Ok(()),
    }
}

fn page_size(query: &HashMap<String, String>) -> Result<usize, KeapError> {
    match query.get("page_size") {
        None => Ok(1000),
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if n <= 1000 => Ok(if n == 0 { 1000 } else { n }),
            _ => Err(error(
                StatusCode::BAD_REQUEST,
                format!("invalid page_size '{raw}'"),
            )),
        },
    }
}

const SLOTS_EMAIL: [&str; 3] = ["EMAIL1", "EMAIL2", "EMAIL3"];
const SLOTS_PHONE: [&str; 5] = ["PHONE1", "PHONE2", "PHONE3", "PHONE4", "PHONE5"];

/// Checks `EmailAddressRequest` / `PhoneNumber` items and returns them as stored.
fn slotted_items(
    value: &Value,
    what: &str,
    key: &str,
    slots: &[&str],
) -> Result<Vec<Value>, KeapError> {
    let bad = |why: &str| error(StatusCode::BAD_REQUEST, format!("{what}: {why}"));
    let items = value.as_array().ok_or_else(|| bad("must be an array"))?;
    items
        .iter()
        .map(|item| {
            let field = item["field"].as_str().unwrap_or_default();
            if !slots.contains(&field) {
                return Err(bad(&format!("field '{field}' is not one of {slots:?}")));
            }
            let text = item[key]
                .as_str()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| bad(&format!("{key} is required")))?;
            let mut stored = json!({ key: text, "field": field });
            if key == "number" && text.starts_with('+') {
                stored["number_e164"] = json!(text);
            }
            Ok(stored)
        })
        .collect()
}

fn custom_field_values(app: &App, value: &Value) -> Result<HashMap<String, Value>, KeapError> {
    let known = app.custom_field_ids();
    let items = value
        .as_array()
        .ok_or_else(|| error(StatusCode::BAD_REQUEST, "custom_fields must be an array"))?;
    let mut values = HashMap::new();
    for item in items {
        let id = item["id"].as_str().unwrap_or_default();
        if !known.iter().any(|k| k == id) {
            return Err(error(
                StatusCode::BAD_REQUEST,
                format!("custom field '{id}' does not exist"),
            ));
        }
        values.insert(id.to_string(), item["content"].clone());
    }
    Ok(values)
}

/// Every custom field of the model, with the content given (or null).
fn custom_field_list(app: &App, values: &HashMap<String, Value>) -> Value {
    Value::Array(
        app.custom_field_ids()
            .into_iter()
            .map(|id| {
                let content = values.get(&id).cloned().unwrap_or(Value::Null);
                json!({ "id": id, "content": content })
            })
            .collect(),
    )
}

const CONTACT_PROPERTIES: [&str; 8] = [
    "given_name",
    "family_name",
    "email_addresses",
    "phone_numbers",
    "owner_id",
    "custom_fields",
    "addresses",
    "middle_name",
];

async fn list_contacts(
    State(apps): State<Apps>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    in_app(&apps, &headers, |app| {
        let conditions = filter_conditions(query.get("filter"))?;
        let phone = conditions.get("phone_number");
        let slots: Vec<&str> = match (phone, conditions.get("phone_fields")) {
            (Some(_), None) => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "phone_number requires phone_fields",
                ));
            }
            (_, Some(fields)) => fields.split(',').collect(),
            (None, None) => Vec::new(),
        };
        let descending = match query.get("order_by").map(String::as_str) {
            None | Some("id asc") | Some("id") => false,
            Some("id desc") => true,
            Some(other) => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    format!("unsupported order_by '{other}'"),
                ));
            }
        };
        let size = page_size(&query)?;
        let mut contacts: Vec<&Value> = app
            .contacts
            .values()
            .filter(|c| {
                phone.is_none_or(|number| {
                    c["phone_numbers"].as_array().is_some_and(|numbers| {
                        numbers.iter().any(|n| {
                            n["number"].as_str() == Some(number.as_str())
                                && slots.contains(&n["field"].as_str().unwrap_or_default())
                        })
                    })
                })
            })
            .collect();
        if descending {
            contacts.reverse();
        }
        contacts.truncate(size);
        Ok(answer(
            StatusCode::OK,
            json!({ "contacts": contacts, "next_page_token": null }),
        ))
    })
}

async fn create_contact(State(apps): State<Apps>, headers: HeaderMap, body: Bytes) -> Response {
    in_app(&apps, &headers, |app| {
        let body = json_object(&body)?;
        let contact = insert_contact(app, &body)?;
        Ok(answer(StatusCode::CREATED, contact))
    })
}

/// Checks a v2 create-contact body and stores the contact; the stored contact.
fn insert_contact(app: &mut App, body: &Map<String, Value>) -> Result<Value, KeapError> {
    only_known_properties(body, &CONTACT_PROPERTIES)?;
    let emails = match body.get("email_addresses") {
        Some(v) => slotted_items(v, "email_addresses", "email", &SLOTS_EMAIL)?,
        None => Vec::new(),
    };
    let phones = match body.get("phone_numbers") {
        Some(v) => slotted_items(v, "phone_numbers", "number", &SLOTS_PHONE)?,
        None => Vec::new(),
    };
    if emails.is_empty() && phones.is_empty() {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "Contact must contain at least one item in email_addresses, phone_numbers, or addresses",
        ));
    }
    if body.get("owner_id").is_some_and(|o| !o.is_string()) {
        return Err(error(StatusCode::BAD_REQUEST, "owner_id must be a string"));
    }
    let values = match body.get("custom_fields") {
        Some(v) => custom_field_values(app, v)?,
        None => HashMap::new(),
    };
    let id = app.new_id();
    let contact = json!({
        "id": id.to_string(),
        "given_name": body.get("given_name"),
        "family_name": body.get("family_name"),
        "email_addresses": emails,
        "phone_numbers": phones,
        "owner_id": body.get("owner_id"),
        "tag_ids": [],
        "custom_fields": custom_field_list(app, &values),
        "create_time": "2026-01-01T00:00:00Z",
    });
    app.contacts.insert(id, contact.clone());
    Ok(contact)
}

async fn get_contact(
    State(apps): State<Apps>,
    headers: HeaderMap,
    Path(contact_id): Path<String>,
) -> Response {
    in_app(&apps, &headers, |app| {
        let id = path_id(&contact_id, "contact")?;
        let contact = record(&app.contacts, "Contact", id)?;
        Ok(answer(StatusCode::OK, contact.clone()))
    })
}

async fn update_contact(
    State(apps): State<Apps>,
    headers: HeaderMap,
    Path(contact_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    in_app(&apps, &headers, |app| {
        let id = path_id(&contact_id, "contact")?;
        let body = json_object(&body)?;
        only_known_properties(&body, &CONTACT_PROPERTIES)?;
        let mask: Option<Vec<&str>> = query.get("update_mask").map(|m| m.split(',').collect());
        let applies =
            |key: &str| body.contains_key(key) && mask.as_ref().is_none_or(|m| m.contains(&key));
        let emails = if applies("email_addresses") {
            Some(slotted_items(
                &body["email_addresses"],
                "email_addresses",
                "email",
                &SLOTS_EMAIL,
            )?)
        } else {
            None
        };
        let values = if applies("custom_fields") {
            Some(custom_field_values(app, &body["custom_fields"])?)
        } else {
            None
        };
        let fields = values.map(|v| custom_field_list(app, &v));
        let contact = record_mut(&mut app.contacts, "Contact", id)?;
        if let Some(emails) = emails {
            contact["email_addresses"] = Value::Array(emails);
        }
        if let Some(fields) = fields {
            contact["custom_fields"] = fields;
        }
        for key in ["given_name", "family_name", "owner_id"] {
            if applies(key) {
                contact[key] = body[key].clone();
            }
        }
        Ok(answer(StatusCode::OK, contact.clone()))
    })
}

async fn contact_model(State(apps): State<Apps>, headers: HeaderMap) -> Response {
    in_app(&apps, &headers, |app| {
        Ok(answer(
            StatusCode::OK,
            json!({
                "custom_fields": app.custom_fields,
                "optional_properties": ["custom_fields", "tag_ids"]
            }),
        ))
    })
}

fn tag_json(id: u64, name: &str) -> Value {
    json!({
        "id": id.to_string(),
        "name": name,
        "description": null,
        "category": null,
        "create_time": "2026-01-01T00:00:00Z",
        "update_time": "2026-01-01T00:00:00Z"
    })
}

async fn list_tags(
    State(apps): State<Apps>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    in_app(&apps, &headers, |app| {
        let conditions = filter_conditions(query.get("filter"))?;
        let ids: Option<Vec<u64>> = conditions
            .get("tag_ids")
            .map(|ids| ids.split(',').filter_map(|i| i.parse().ok()).collect());
        let size = page_size(&query)?;
        let tags: Vec<Value> = app
            .tags
            .iter()
            .filter(|(id, name)| {
                conditions.get("name").is_none_or(|n| n == *name)
                    && ids.as_ref().is_none_or(|ids| ids.contains(id))
            })
            .take(size)
            .map(|(id, name)| tag_json(*id, name))
            .collect();
        Ok(answer(
            StatusCode::OK,
            json!({ "tags": tags, "next_page_token": null }),
        ))
    })
}

async fn create_tag(State(apps): State<Apps>, headers: HeaderMap, body: Bytes) -> Response {
    in_app(&apps, &headers, |app| {
        let body = json_object(&body)?;
        only_known_properties(&body, &["name", "description", "category"])?;
        let name = body
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| error(StatusCode::BAD_REQUEST, "name is required"))?;
        if app.tags.values().any(|t| t == name) {
            return Err(error(
                StatusCode::CONFLICT,
                format!("A tag named '{name}' already exists"),
            ));
        }
        let id = app.new_id();
        app.tags.insert(id, name.to_string());
        Ok(answer(StatusCode::CREATED, tag_json(id, name)))
    })
}

async fn apply_tags(
    State(apps): State<Apps>,
    headers: HeaderMap,
    Path(tag_id): Path<String>,
    body: Bytes,
) -> Response {
    in_app(&apps, &headers, |app| {
        let tag = path_id(&tag_id, "tag")?;
        record(&app.tags, "Tag", tag)?;
        let body = json_object(&body)?;
        only_known_properties(&body, &["contact_ids"])?;
        let ids = body
            .get("contact_ids")
            .and_then(Value::as_array)
            .filter(|ids| ids.iter().all(Value::is_string))
            .ok_or_else(|| {
                error(
                    StatusCode::BAD_REQUEST,
                    "contact_ids must be an array of strings",
                )
            })?;
        let mut results = Map::new();
        for raw in ids.iter().filter_map(Value::as_str) {
            let contact = raw
                .parse::<u64>()
                .ok()
                .and_then(|id| app.contacts.get_mut(&id));
            let result = match contact {
                None => "CONTACT_NOT_FOUND",
                Some(contact) => {
                    let tag_ids = contact["tag_ids"].as_array_mut();
                    match tag_ids {
                        Some(tag_ids) if tag_ids.contains(&json!(tag.to_string())) => "DUPLICATE",
                        Some(tag_ids) => {
                            tag_ids.push(json!(tag.to_string()));
                            "SUCCESS"
                        }
                        None => "FAILURE",
                    }
                }
            };
            results.insert(raw.to_string(), json!(result));
        }
        Ok(answer(StatusCode::OK, json!({ "results": results })))
    })
}

async fn get_user(
    State(apps): State<Apps>,
    headers: HeaderMap,
    Path(user_id): Path<String>,
) -> Response {
    in_app(&apps, &headers, |app| {
        let id = path_id(&user_id, "user")?;
        let user = record(&app.users, "User", id)?;
        Ok(answer(
            StatusCode::OK,
            json!({
                "id": user.id.to_string(),
                "given_name": user.given_name,
                "family_name": user.family_name,
                "email_addresses": [{ "email": user.email, "field": "EMAIL1" }],
                "status": "ACTIVE",
                "admin": false,
                "partner": false
            }),
        ))
    })
}

async fn achieve_goal(State(apps): State<Apps>, headers: HeaderMap, body: Bytes) -> Response {
    in_app(&apps, &headers, |app| {
        let body = json_object(&body)?;
        only_known_properties(
            &body,
            &[
                "integration",
                "call_name",
                "automation_id",
                "goal_id",
                "contact_id",
            ],
        )?;
        let contact_id = body
            .get("contact_id")
            .and_then(Value::as_u64)
            .ok_or_else(|| error(StatusCode::BAD_REQUEST, "contact_id (int64) is required"))?;
        let text = |key: &str| {
            body.get(key)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let (Some(integration), Some(call_name)) = (text("integration"), text("call_name")) else {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "integration and call_name (or automation_id and goal_id) are required",
            ));
        };
        record(&app.contacts, "Contact", contact_id)?;
        let key = (integration.to_string(), call_name.to_string());
        let result = if app.unconfigured_goals.contains(&key) {
            json!({
                "success": false,
                "message": "No Goals were configured to be achieved by this event.",
                "automation_id": 0, "goal_id": 0,
                "flow_start_results": [], "flow_stop_results": []
            })
        } else {
            app.achieved_goals.push(AchievedGoal {
                integration: key.0,
                call_name: key.1,
                contact_id,
                achieved_at: SystemClock.now(),
            });
            json!({
                "success": true, "message": "",
                "automation_id": 3, "goal_id": 9,
                "flow_start_results": [{ "success": true, "message": "", "flow_id": 12 }],
                "flow_stop_results": []
            })
        };
        Ok(answer(StatusCode::OK, json!({ "results": [result] })))
    })
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

async fn create_note(State(apps): State<Apps>, headers: HeaderMap, body: Bytes) -> Response {
    in_app(&apps, &headers, |app| {
        let body = json_object(&body)?;
        only_known_properties(&body, &NOTE_PROPERTIES)?;
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

async fn get_note(
    State(apps): State<Apps>,
    headers: HeaderMap,
    Path(note_id): Path<String>,
) -> Response {
    in_app(&apps, &headers, |app| {
        let id = path_id(&note_id, "note")?;
        let note = record(&app.notes, "Note", id)?;
        Ok(answer(StatusCode::OK, note.clone()))
    })
}

async fn update_note(
    State(apps): State<Apps>,
    headers: HeaderMap,
    Path(note_id): Path<String>,
    body: Bytes,
) -> Response {
    in_app(&apps, &headers, |app| {
        let id = path_id(&note_id, "note")?;
        let body = json_object(&body)?;
        only_known_properties(&body, &NOTE_PROPERTIES)?;
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

async fn list_notes(
    State(apps): State<Apps>,
    headers: HeaderMap,
    Path(contact_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    in_app(&apps, &headers, |app| {
        only_known_query(
            &query,
            &["filter", "order_by", "page_size", "page_token", "fields"],
        )?;
        if query.contains_key("filter") || query.contains_key("fields") {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "the mock serves note lists without filter or fields",
            ));
        }
        let id = path_id(&contact_id, "contact")?;
        record(&app.contacts, "Contact", id)?;
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
            .filter(|n| n["contact_id"].as_u64() == Some(id))
            .collect();
        match query.get("order_by").map(String::as_str) {
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
        let size = page_size(&query)?;
        let offset: usize = match query.get("page_token") {
            None => 0,
            Some(token) => token.parse().map_err(|_| {
                error(
                    StatusCode::BAD_REQUEST,
                    format!("invalid page_token '{token}'"),
                )
            })?,
        };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_as_keap_writes_them() {
        let cases = [
            (0, "1970-01-01T00:00:00.000Z"),
            (1_714_572_180_007, "2024-05-01T14:03:00.007Z"),
            (951_782_400_000, "2000-02-29T00:00:00.000Z"),
            (-1, "1969-12-31T23:59:59.999Z"),
        ];
        for (ms, text) in cases {
            assert_eq!(iso_time(Timestamp::from_millis(ms)), text);
        }
    }

    const KEY: &str = "acme-key";

    /// A Keap app with user 1 and a `Rating` custom field, and Ann in it.
    async fn app_with_ann() -> (KeapMock, Contact) {
        let mock = KeapMock::start().await;
        let mary = KeapUser {
            id: 1,
            given_name: "Mary".into(),
            family_name: "Anders".into(),
            email: "mary@example.com".into(),
        };
        mock.add_app(KEY, &[mary], &["Rating"]);
        let ann = NewContact {
            first_name: Some("Ann".into()),
            last_name: None,
            email: EmailAddress::parse("ann@example.com").ok(),
            phone: PhoneNumber::parse_e164("+14155552671").ok(),
            owner_id: Some("1".into()),
            time_zone: Some("America/Denver".into()),
        };
        let created = mock.create_contact(KEY, &ann).expect("Ann is created");
        (mock, created)
    }

    /// A request to the mock as the app's API key; its status and JSON answer.
    async fn call(mock: &KeapMock, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let mut request = reqwest::Client::new()
            .request(method, format!("{}{path}", mock.base_url()))
            .header("X-Keap-API-Key", KEY);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the mock answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    #[tokio::test]
    async fn contacts_read_as_the_adapter_names_them() {
        let (mock, ann) = app_with_ann().await;
        let id = ann.id.clone();
        let (_, tag) = call(
            &mock,
            "POST",
            "/rest/v2/tags",
            Some(json!({"name": "sms-lead"})),
        )
        .await;
        let tag_id = tag["id"].as_str().expect("a tag id");
        let apply = format!("/rest/v2/tags/{tag_id}/contacts:applyTags");
        call(&mock, "POST", &apply, Some(json!({"contact_ids": [id]}))).await;
        let (_, model) = call(&mock, "GET", "/rest/v2/contacts/model", None).await;
        let field = model["custom_fields"][0]["id"].clone();
        let patch = format!("/rest/v2/contacts/{id}?update_mask=custom_fields");
        let fields = json!({"custom_fields": [{"id": field, "content": "9"}]});
        assert_eq!(call(&mock, "PATCH", &patch, Some(fields)).await.0, 200);
        let (_, served) = call(&mock, "GET", &format!("/rest/v2/contacts/{id}"), None).await;
        assert_eq!(
            served["time_zone"], "America/Denver",
            "the adapter reads it"
        );

        let expected = Contact {
            tags: vec!["sms-lead".into()],
            custom_fields: BTreeMap::from([("Rating".to_string(), "9".to_string())]),
            ..ann
        };
        assert_eq!(mock.contacts(KEY), [expected]);
        assert_eq!(
            mock.contacts(KEY)[0].time_zone.as_deref(),
            Some("America/Denver")
        );
    }

    #[tokio::test]
    async fn notes_and_goals_read_with_their_times_newest_goal_first() {
        let (mock, ann) = app_with_ann().await;
        let number: u64 = ann.id.parse().expect("a numeric id");
        let call_note = NewNote {
            title: "Call".into(),
            body: "Talked about the roof".into(),
            user_id: Some("1".into()),
        };
        let at = Timestamp::from_millis(1_714_572_180_000);
        let logged = mock
            .log_note(KEY, &ann.id, &call_note, "Call", at)
            .expect("logged");
        let before = SystemClock.now();
        let sms_note = json!({"contact_id": number, "title": "SMS", "body": "hi"});
        assert_eq!(
            call(&mock, "POST", "/rest/v1/notes", Some(sms_note))
                .await
                .0,
            201
        );

        let notes = mock.notes(KEY);
        assert_eq!(notes.len(), 2);
        assert_eq!(notes[0], logged);
        assert_eq!(
            (
                logged.note.user_id.as_deref(),
                logged.note_type.as_deref(),
                logged.created_at
            ),
            (Some("1"), Some("Call"), Some(at))
        );
        assert_eq!(
            (notes[1].note.title.as_str(), notes[1].note_type.as_deref()),
            ("SMS", None)
        );
        assert!(
            notes[1].created_at.is_some_and(|t| t >= before),
            "{notes:?}"
        );

        for call_name in ["Sent", "Delivered"] {
            let goal =
                json!({"integration": "smsflow", "call_name": call_name, "contact_id": number});
            call(
                &mock,
                "POST",
                "/rest/v2/automations/goals/achieve",
                Some(goal),
            )
            .await;
        }
        let names = |goals: Vec<AchievedGoal>| -> Vec<String> {
            goals.into_iter().map(|g| g.call_name).collect()
        };
        assert_eq!(names(mock.goals(KEY, 10)), ["Delivered", "Sent"]);
        assert_eq!(names(mock.goals(KEY, 1)), ["Delivered"]);
    }

    #[tokio::test]
    async fn what_people_do_in_the_crm_is_refused_as_the_sandbox_crm_refuses_it() {
        let (mock, ann) = app_with_ann().await;
        let note = |title: &str, user: Option<&str>| NewNote {
            title: title.into(),
            body: String::new(),
            user_id: user.map(str::to_string),
        };
        let at = Timestamp::from_millis(0);
        let rejected = |r: CrmResult<SandboxNote>| matches!(r, Err(CrmError::Rejected(_)));
        assert!(rejected(mock.log_note(
            KEY,
            &ann.id,
            &note("Call", None),
            " ",
            at
        )));
        assert!(rejected(mock.log_note(
            KEY,
            &ann.id,
            &note(" ", None),
            "Call",
            at
        )));
        assert!(rejected(mock.log_note(
            KEY,
            &ann.id,
            &note("Call", Some("mary")),
            "Call",
            at
        )));
        for missing in ["42", "not-a-number"] {
            assert_eq!(
                mock.log_note(KEY, missing, &note("Call", None), "Call", at),
                Err(CrmError::NotFound(format!("contact '{missing}'")))
            );
        }
        let nameless = NewContact {
            first_name: Some("Bob".into()),
            ..NewContact::default()
        };
        assert_eq!(
            mock.create_contact(KEY, &nameless),
            Err(CrmError::Rejected(
                "a contact needs an e-mail address or a phone number".into()
            ))
        );
        assert_eq!(mock.notes(KEY), []);
    }

    #[tokio::test]
    async fn custom_fields_created_as_in_keap_are_written_by_label() {
        let (mock, ann) = app_with_ann().await;
        let created = mock.create_custom_fields(KEY, &["Rating", "Feedback", "QuoteOk"]);
        assert_eq!(created, Ok(vec!["Feedback".into(), "QuoteOk".into()]));
        assert_eq!(mock.create_custom_fields(KEY, &["Feedback"]), Ok(vec![]));
        let (_, model) = call(&mock, "GET", "/rest/v2/contacts/model", None).await;
        let labels: Vec<&str> = model["custom_fields"]
            .as_array()
            .expect("custom fields")
            .iter()
            .filter_map(|f| f["label"].as_str())
            .collect();
        assert_eq!(labels, ["Rating", "Feedback", "QuoteOk"]);

        let feedback = model["custom_fields"][1]["id"].clone();
        let patch = format!("/rest/v2/contacts/{}?update_mask=custom_fields", ann.id);
        let fields = json!({"custom_fields": [{"id": feedback, "content": "Faster"}]});
        assert_eq!(call(&mock, "PATCH", &patch, Some(fields)).await.0, 200);
        let fields = &mock.contacts(KEY)[0].custom_fields;
        assert_eq!(fields.get("Feedback").map(String::as_str), Some("Faster"));
        assert!(matches!(
            mock.create_custom_fields("nobody", &["Rating"]),
            Err(CrmError::Unauthorized(_))
        ));
    }

    #[tokio::test]
    async fn the_sandbox_never_creates_an_app() {
        let mock = KeapMock::start().await;
        assert_eq!(mock.contacts("nobody"), []);
        assert_eq!(mock.notes("nobody"), []);
        assert_eq!(mock.goals("nobody", 10), []);
        let bob = NewContact {
            phone: PhoneNumber::parse_e164("+14155552672").ok(),
            ..NewContact::default()
        };
        assert!(matches!(
            mock.create_contact("nobody", &bob),
            Err(CrmError::Unauthorized(_))
        ));
        let (status, _) = reqwest::Client::new()
            .get(format!("{}/rest/v2/contacts", mock.base_url()))
            .header("X-Keap-API-Key", "nobody")
            .send()
            .await
            .map(|r| (r.status().as_u16(), ()))
            .expect("the mock answers");
        assert_eq!(status, 401, "still no app for that key");
    }
}

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
//!
//! The stand-in is split by what it serves: the conventions every route follows (`http.rs`:
//! the API key, Keap's error body, strict bodies and queries), scripted outages and the
//! request log (`requests.rs`), then `contacts.rs`, `fields.rs` (tags and custom fields),
//! `notes.rs`, `users.rs` and `goals.rs`. Each also holds the sandbox's view of its records:
//! in the shapes of local mode's sandbox CRM (`shared/src/adapters/embedded/crm.rs`), read
//! the way smsflow's Keap adapter reads them (tags by name, custom fields by label, the
//! `EMAIL1` address and the `PHONE1` number first), and what people working in the CRM do,
//! refused as the sandbox CRM refuses it.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::middleware;
use axum::routing::{get, post};
use serde_json::Value;
use smsflow_shared::domain::Timestamp;
use smsflow_shared::ports::crm::{CrmError, CrmResult};

mod contacts;
mod fields;
mod goals;
mod http;
mod notes;
mod requests;
#[cfg(test)]
mod tests;
mod users;

pub use notes::iso_time;
pub use requests::{LoggedRequest, ScriptedFailure};

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
}

fn router(apps: Apps) -> Router {
    Router::new()
        .route(
            "/crm/rest/v2/contacts/{contact_id}/notes",
            get(notes::list_notes),
        )
        .route(
            "/crm/rest/v2/contacts",
            get(contacts::list_contacts).post(contacts::create_contact),
        )
        .route("/crm/rest/v2/contacts/model", get(fields::contact_model))
        .route(
            "/crm/rest/v2/contacts/{contact_id}",
            get(contacts::get_contact).patch(contacts::update_contact),
        )
        .route(
            "/crm/rest/v2/tags",
            get(fields::list_tags).post(fields::create_tag),
        )
        .route(
            "/crm/rest/v2/tags/{tag_id}/contacts:applyTags",
            post(fields::apply_tags),
        )
        .route("/crm/rest/v2/users/{user_id}", get(users::get_user))
        .route(
            "/crm/rest/v2/automations/goals/achieve",
            post(goals::achieve_goal),
        )
        .route("/crm/rest/v1/notes", post(notes::create_note))
        .route(
            "/crm/rest/v1/notes/{note_id}",
            get(notes::get_note).patch(notes::update_note),
        )
        .layer(middleware::from_fn_with_state(
            apps.clone(),
            requests::script_and_log,
        ))
        .with_state(apps)
}

//! Keap (Infusionsoft) as a [`Crm`]: REST v2 where it has the call, REST v1 for notes.
//!
//! | Port call | Keap call |
//! |---|---|
//! | `find_contact_by_phone` | v2 `GET /rest/v2/contacts?filter=phone_number==…;phone_fields==PHONE1,…,PHONE5` (oldest first) |
//! | `contact` | v2 `GET /rest/v2/contacts/{id}?fields=…` |
//! | `create_contact` | v2 `POST /rest/v2/contacts` |
//! | `set_email` | v2 `GET` then `PATCH /rest/v2/contacts/{id}?update_mask=email_addresses` |
//! | `set_custom_field` | v2 `GET /rest/v2/contacts/model` (label → id, cached), `GET` then `PATCH …?update_mask=custom_fields` |
//! | `user` | v2 `GET /rest/v2/users/{id}` |
//! | `apply_tag` | v2 `GET /rest/v2/tags?filter=name==…` or `POST /rest/v2/tags` (id cached), then `POST /rest/v2/tags/{id}/contacts:applyTags` |
//! | `create_note` | v1 `POST /rest/v1/notes` |
//! | `append_to_note` | v1 `GET` then `PATCH /rest/v1/notes/{id}` |
//! | `last_call_note` | v2 `GET /rest/v2/contacts/{id}/notes?order_by=create_time desc&page_size=25` (more pages only while no call note is found, 4 at most) |
//! | `achieve_goal` | v2 `POST /rest/v2/automations/goals/achieve` |
//!
//! Why these choices:
//! - **Goals on v2.** v2 carries integration and call name in the JSON body, so no name
//!   needs escaping into a URL path (v1's `POST /rest/v1/campaigns/goals/{integration}/{callName}`
//!   does, which is why call names are limited to `[A-Za-z0-9_]`: see `GoalName`), and v2 is
//!   Keap's default API. An answer with no result `success: true` (including an empty
//!   list) is [`GoalOutcome::NotConfigured`]: Keap reports a goal no published campaign
//!   uses that way rather than as an error.
//! - **Notes on v1.** `append_to_note` only has the note id; v2's note routes are nested
//!   under the contact (`/contacts/{contact_id}/notes/{note_id}`) and its create/update
//!   bodies require a `user_id`, which the port leaves optional. v1 addresses a note by
//!   its id alone and takes `user_id` as optional.
//! - **Call notes on v2.** v1's `GET /rest/v1/notes?contact_id=` can neither order nor
//!   filter by type, so finding the newest call note would mean reading every note of the
//!   contact. v2's list orders by `create_time desc`, and each note carries its
//!   `assigned_to_user` with name and e-mail, so routing needs no user lookup after it.
//!   Neither version filters by type: pages are read newest first until a `Call` note
//!   turns up (small pages, since notes smsflow appends SMS to can be long), at most
//!   four pages of 25; a contact whose last call is older than its 100 newest notes
//!   routes as if it had none.
//! - **Array fields are read, then written whole.** v2's contact PATCH removes any
//!   `email_addresses` / `custom_fields` item not listed, so `set_email` keeps EMAIL2/3
//!   and `set_custom_field` keeps the other fields by sending the merged list. This is a
//!   read-modify-write: two concurrent writers to one contact can lose an update.
//! - **Custom fields by name**: the port's field name is matched against the field's
//!   label, then its `field_name`; contacts report custom fields by label. Tags are
//!   reported by name. Tag ids and the contact model are cached per account for the life
//!   of the process; a tag deleted in Keap is noticed (`TAG_ID_NOT_FOUND` / 404) and
//!   looked up again.
//! - **Phones**: created contacts get the number in E.164 in `PHONE1` (no phone `type`:
//!   it must match the app's configured list, and a wrong one fails the create). Search
//!   sends E.164; whether Keap matches numbers stored in other formats is not documented.
//!   Numbers read back are normalised to E.164 with the account's default country.
//!
//! Auth: `X-Keap-API-Key` for personal access tokens and service account keys, or OAuth2
//! bearer tokens from a rotating refresh token, the newest of which is kept in the
//! [`CredentialStore`] so restarts and other processes use it (the `oauth` module). Limits: calls are paced per token to Keap's
//! 10/s and 240/min ([`KeapRateLimit`]); a 429 whose `Retry-After` is short is waited out
//! and retried a bounded number of times, a longer one becomes
//! [`CrmError::RateLimited`] for the job queue to retry later. 5xx and transport
//! failures are `Unavailable`, 401/403 `Unauthorized`, 404 `NotFound` (or `Ok(None)` for
//! lookups), other 4xx `Rejected` with Keap's message. Tokens never reach a log line;
//! phone numbers only masked.

mod account_cache;
mod client;
mod contact;
mod errors;
mod oauth;
mod rate_limit;
mod wire;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

pub use rate_limit::KeapRateLimit;

use self::account_cache::AccountCache;
use self::client::{Call, KeapClient};
use self::contact::{full_name, new_contact_body, note_user, primary_email};
use super::crm_input::{check_field_name, check_goal_names, check_note_text, check_tag_name};
use crate::domain::{Account, AccountId, EmailAddress, PhoneNumber};
use crate::domain::{ContactId, GoalName};
use crate::ports::credentials::CredentialStore;
use crate::ports::crm::{
    CALL_NOTE_TYPE, CallNote, Contact, Crm, CrmError, CrmResult, CrmUser, GoalOutcome, NewContact,
    NewNote, Note,
};

/// Keap's REST API root (paths `/rest/v1/...`, `/rest/v2/...` go below it).
pub const KEAP_API_BASE_URL: &str = "https://api.infusionsoft.com/crm";
/// Keap's OAuth2 token endpoint.
pub const KEAP_TOKEN_URL: &str = "https://api.infusionsoft.com/token";

/// The contact properties smsflow reads (v2 `fields`).
const CONTACT_FIELDS: &str =
    "given_name,family_name,email_addresses,phone_numbers,owner_id,tag_ids,custom_fields,time_zone";
/// Every phone slot, for the phone search.
const PHONE_FIELDS: &str = "PHONE1,PHONE2,PHONE3,PHONE4,PHONE5";
/// The largest page Keap serves.
const MAX_PAGE_SIZE: &str = "1000";
/// Notes per page when looking for the last call note: most contacts' last call is
/// among their few newest notes, and note bodies can be long.
const NOTE_PAGE_SIZE: &str = "25";
/// Pages of notes read at most when looking for the last call note.
const MAX_NOTE_PAGES: usize = 4;

/// How the adapter talks to Keap. The defaults are Keap's production endpoints and
/// published limits.
#[derive(Debug, Clone)]
pub struct KeapSettings {
    /// Where OAuth refresh tokens are exchanged.
    pub token_url: String,
    pub rate_limit: KeapRateLimit,
    /// A 429 whose `Retry-After` is at most this is waited out and retried in place.
    pub max_inline_retry_after: Duration,
    /// How many 429s one call waits out before it gives up with `RateLimited`.
    pub max_rate_limit_retries: u32,
    /// An OAuth access token is renewed this long before Keap says it expires.
    pub token_refresh_margin: Duration,
}

impl Default for KeapSettings {
    fn default() -> Self {
        KeapSettings {
            token_url: KEAP_TOKEN_URL.to_string(),
            rate_limit: KeapRateLimit::default(),
            max_inline_retry_after: Duration::from_secs(5),
            max_rate_limit_retries: 2,
            token_refresh_margin: Duration::from_secs(60),
        }
    }
}

/// The Keap adapter for every Keap account of a deployment. Build one per process and
/// share it: the rate limit, OAuth sessions and caches live in it.
pub struct KeapCrm {
    client: KeapClient,
    caches: Mutex<HashMap<AccountId, AccountCache>>,
}

impl KeapCrm {
    /// `http` should carry a connect timeout and an overall timeout well inside the
    /// function's own. `credentials` keeps OAuth accounts' rotating refresh tokens (the
    /// deployment's store, so every process sees the newest).
    pub fn new(
        http: reqwest::Client,
        settings: KeapSettings,
        credentials: Arc<dyn CredentialStore>,
    ) -> Self {
        KeapCrm {
            client: KeapClient::new(http, settings, credentials),
            caches: Mutex::new(HashMap::new()),
        }
    }
}

#[async_trait]
impl Crm for KeapCrm {
    async fn find_contact_by_phone(
        &self,
        account: &Account,
        phone: &PhoneNumber,
    ) -> CrmResult<Option<Contact>> {
        let call = Call::get("/rest/v2/contacts".into(), "contacts".into())
            .query(
                "filter",
                format!(
                    "phone_number=={};phone_fields=={PHONE_FIELDS}",
                    phone.as_str()
                ),
            )
            .query("fields", CONTACT_FIELDS)
            .query("order_by", "id asc")
            .query("page_size", "1");
        let list: wire::ContactList = self.client.json(account, &call).await?;
        let found = list.contacts.into_iter().next();
        tracing::debug!(account = %account.id, phone = %phone.masked(), found = found.is_some(), "Keap phone search");
        match found {
            Some(keap) => Ok(Some(self.to_contact(account, keap, Some(phone)).await?)),
            None => Ok(None),
        }
    }

    async fn contact(
        &self,
        account: &Account,
        contact_id: &ContactId,
    ) -> CrmResult<Option<Contact>> {
        let Some(id) = numeric_id(contact_id) else {
            return Ok(None);
        };
        let call = Call::get(contact_path(id), contact_subject(contact_id))
            .query("fields", CONTACT_FIELDS);
        match self.client.json::<wire::Contact>(account, &call).await {
            Ok(keap) => Ok(Some(self.to_contact(account, keap, None).await?)),
            Err(CrmError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn create_contact(&self, account: &Account, contact: &NewContact) -> CrmResult<Contact> {
        if contact.email.is_none() && contact.phone.is_none() {
            return Err(CrmError::Rejected(
                "a Keap contact needs an e-mail address or a phone number".into(),
            ));
        }
        let call = Call::post(
            "/rest/v2/contacts".into(),
            "new contact".into(),
            new_contact_body(contact),
        )
        .query("fields", CONTACT_FIELDS);
        let created: wire::Contact = self.client.json(account, &call).await?;
        tracing::info!(account = %account.id, contact = %created.id, "created Keap contact");
        self.to_contact(account, created, contact.phone.as_ref())
            .await
    }

    async fn set_email(
        &self,
        account: &Account,
        contact_id: &ContactId,
        email: &EmailAddress,
    ) -> CrmResult<()> {
        let contact = contact_number(contact_id)?;
        let current = self
            .read_arrays(account, contact_id, contact, "email_addresses")
            .await?;
        // EMAIL1 is the address Keap mails; the other slots stay as they are.
        let mut emails = vec![json!({ "email": email.as_str(), "field": "EMAIL1" })];
        emails.extend(
            current
                .email_addresses
                .iter()
                .filter(|e| e.field.as_deref() != Some("EMAIL1"))
                .filter_map(|e| {
                    Some(json!({ "email": e.email.as_deref()?, "field": e.field.as_deref()? }))
                }),
        );
        self.write_array(account, contact_id, contact, "email_addresses", emails)
            .await
    }

    async fn set_custom_field(
        &self,
        account: &Account,
        contact_id: &ContactId,
        field: &str,
        value: &str,
    ) -> CrmResult<()> {
        check_field_name(field)?;
        let contact = contact_number(contact_id)?;
        let current = self
            .read_arrays(account, contact_id, contact, "custom_fields")
            .await?;
        let field_id = self.custom_field_id(account, field).await?;
        // Keap removes unlisted fields: send every other field that has a value, plus ours.
        let mut fields: Vec<Value> = current
            .custom_fields
            .into_iter()
            .filter(|f| f.id.0 != field_id && !f.content.is_null())
            .map(|f| json!({ "id": f.id.0, "content": f.content }))
            .collect();
        fields.push(json!({ "id": field_id, "content": value }));
        self.write_array(account, contact_id, contact, "custom_fields", fields)
            .await
    }

    async fn user(&self, account: &Account, user_id: &str) -> CrmResult<Option<CrmUser>> {
        let Some(id) = numeric_id(user_id) else {
            return Ok(None);
        };
        let call = Call::get(format!("/rest/v2/users/{id}"), format!("user '{user_id}'"));
        let user: wire::User = match self.client.json(account, &call).await {
            Ok(user) => user,
            Err(CrmError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let email = primary_email(&user.email_addresses);
        let name = full_name(user.given_name, user.family_name)
            .or(user.nickname.filter(|n| !n.trim().is_empty()))
            .or(email.as_ref().map(|e| e.to_string()))
            .unwrap_or_else(|| format!("Keap user {}", user.id));
        Ok(Some(CrmUser {
            id: user.id.0,
            name,
            email,
        }))
    }

    async fn apply_tag(
        &self,
        account: &Account,
        contact_id: &ContactId,
        tag: &str,
    ) -> CrmResult<()> {
        check_tag_name(tag)?;
        let contact = contact_number(contact_id)?.to_string();
        // Twice at most: a cached tag id may name a tag deleted in Keap since.
        for attempt in 0..2 {
            let (tag_id, from_cache) = self.tag_id(account, tag).await?;
            let call = Call::post(
                format!("/rest/v2/tags/{tag_id}/contacts:applyTags"),
                format!("contact '{contact}' or tag '{tag}'"),
                json!({ "contact_ids": [contact] }),
            );
            let answer: wire::ApplyTagsResponse = match self.client.json(account, &call).await {
                Ok(answer) => answer,
                Err(CrmError::NotFound(_)) if from_cache && attempt == 0 => {
                    self.forget_tag(&account.id, tag);
                    continue;
                }
                Err(e) => return Err(e),
            };
            match answer.results.get(&contact).map(String::as_str) {
                None | Some("SUCCESS") | Some("DUPLICATE") => return Ok(()),
                Some("CONTACT_NOT_FOUND") => {
                    return Err(CrmError::NotFound(contact_subject(&contact)));
                }
                Some("TAG_ID_NOT_FOUND") if attempt == 0 => {
                    self.forget_tag(&account.id, tag);
                }
                Some(other) => {
                    return Err(CrmError::Rejected(format!(
                        "Keap did not apply tag '{tag}': {other}"
                    )));
                }
            }
        }
        Err(CrmError::Rejected(format!(
            "Keap lost tag '{tag}' twice while applying it"
        )))
    }

    async fn create_note(
        &self,
        account: &Account,
        contact_id: &ContactId,
        note: &NewNote,
    ) -> CrmResult<Note> {
        check_note_text(note)?;
        let contact = contact_number(contact_id)?;
        let mut body = json!({ "contact_id": contact });
        if !note.title.is_empty() {
            body["title"] = json!(note.title);
        }
        if !note.body.is_empty() {
            body["body"] = json!(note.body);
        }
        if let Some(user) = &note.user_id {
            let user = numeric_id(user).ok_or_else(|| {
                CrmError::Rejected(format!("'{user}' is not a Keap user id (a number)"))
            })?;
            body["user_id"] = json!(user);
        }
        let call = Call::post("/rest/v1/notes".into(), contact_subject(contact_id), body);
        let created: wire::V1Note = self.client.json(account, &call).await?;
        Ok(Note {
            id: created.id.0,
            contact_id: created.contact_id.map_or_else(
                || ContactId::new(contact.to_string()),
                |c| ContactId::new(c.0),
            ),
            title: created.title.unwrap_or_default(),
            body: created.body.unwrap_or_default(),
            user_id: created
                .user_id
                .map(|u| u.0)
                .filter(|u| u != "0")
                .or_else(|| note.user_id.clone()),
        })
    }

    async fn append_to_note(&self, account: &Account, note_id: &str, text: &str) -> CrmResult<()> {
        let subject = format!("note '{note_id}'");
        let id = numeric_id(note_id).ok_or_else(|| CrmError::NotFound(subject.clone()))?;
        let path = format!("/rest/v1/notes/{id}");
        let current: wire::V1Note = self
            .client
            .json(account, &Call::get(path.clone(), subject.clone()))
            .await?;
        let body = format!("{}{text}", current.body.unwrap_or_default());
        let write = Call::patch(path, subject, json!({ "body": body }));
        self.client.send(account, &write).await.map(drop)
    }

    async fn last_call_note(
        &self,
        account: &Account,
        contact_id: &ContactId,
    ) -> CrmResult<Option<CallNote>> {
        let Some(id) = numeric_id(contact_id) else {
            return Ok(None);
        };
        let mut page_token: Option<String> = None;
        for _ in 0..MAX_NOTE_PAGES {
            let mut call = Call::get(
                format!("{}/notes", contact_path(id)),
                contact_subject(contact_id),
            )
            .query("order_by", "create_time desc")
            .query("page_size", NOTE_PAGE_SIZE);
            if let Some(token) = page_token.take() {
                call = call.query("page_token", token);
            }
            let page: wire::NoteList = match self.client.json(account, &call).await {
                Ok(page) => page,
                Err(CrmError::NotFound(_)) => return Ok(None),
                Err(e) => return Err(e),
            };
            let call_note = page.notes.into_iter().find(|n| {
                n.note_type
                    .as_deref()
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case(CALL_NOTE_TYPE))
            });
            if let Some(note) = call_note {
                return Ok(Some(CallNote {
                    id: note.id.0,
                    user: note.assigned_to_user.and_then(note_user),
                    logged_at: note.create_time.as_deref().and_then(wire::parse_time),
                }));
            }
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(token) => page_token = Some(token),
                None => return Ok(None),
            }
        }
        tracing::debug!(account = %account.id, contact = %id, "no call note among the newest Keap notes");
        Ok(None)
    }

    async fn achieve_goal(
        &self,
        account: &Account,
        contact_id: &ContactId,
        integration: &str,
        call_name: &GoalName,
    ) -> CrmResult<GoalOutcome> {
        let contact = contact_number(contact_id)?;
        check_goal_names(integration, call_name.as_str())?;
        let call = Call::post(
            "/rest/v2/automations/goals/achieve".into(),
            contact_subject(contact_id),
            json!({ "integration": integration, "call_name": call_name.as_str(), "contact_id": contact }),
        );
        let answer: wire::AchieveGoalResponse = self.client.json(account, &call).await?;
        let achieved = answer.results.iter().any(|r| r.success);
        tracing::debug!(
            account = %account.id, contact = %contact, integration, call_name = %call_name, achieved,
            "Keap goal"
        );
        Ok(if achieved {
            GoalOutcome::Achieved
        } else {
            GoalOutcome::NotConfigured
        })
    }
}

/// Keap ids are positive 64-bit integers; anything else names nothing (and never goes
/// into a URL path).
fn numeric_id(id: &str) -> Option<u64> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    id.parse::<u64>().ok().filter(|n| *n <= i64::MAX as u64)
}

fn contact_number(contact_id: &str) -> CrmResult<u64> {
    numeric_id(contact_id).ok_or_else(|| CrmError::NotFound(contact_subject(contact_id)))
}

fn contact_subject(contact_id: &str) -> String {
    format!("contact '{contact_id}'")
}

fn contact_path(id: u64) -> String {
    format!("/rest/v2/contacts/{id}")
}

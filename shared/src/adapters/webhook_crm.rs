//! A [`Crm`] for CRMs without a Keap-style API: every change smsflow would make in the CRM
//! is POSTed as a signed JSON event to a URL the account configures
//! (`crm = { kind = "webhook", url, signing_secret }`).
//!
//! # Events
//!
//! One `POST <url>` per event, `Content-Type: application/json`, body:
//!
//! ```json
//! {"event":"goal.achieved","account":"acme","contact_id":"123",
//!  "integration":"smsflow","call_name":"Inbound","occurred_at":1767225600000}
//! ```
//!
//! `account` is the smsflow account id and `occurred_at` the time of sending in
//! milliseconds since the Unix epoch. The other fields, by `event`:
//!
//! | `event` | fields |
//! |---|---|
//! | `goal.achieved` | `contact_id`, `integration`, `call_name` |
//! | `tag.applied` | `contact_id`, `tag` |
//! | `note.created` | `note_id`, `contact_id`, `title`, `body`, `user_id` (or null) |
//! | `note.appended` | `note_id`, `text` (append it to that note's body) |
//! | `contact.email_changed` | `contact_id`, `email` |
//! | `contact.custom_field_changed` | `contact_id`, `field`, `value` |
//! | `contact.create_requested` | `contact_id`, `first_name`, `last_name`, `email`, `phone`, `owner_id` (each may be null) |
//!
//! A webhook CRM cannot be asked anything, so the lookups (`find_contact_by_phone`,
//! `contact`, `user`, `last_call_note`) answer "nobody" / "none": inbound routing then
//! falls through to the number's backup address. Contact and note ids are therefore smsflow's:
//! - `create_contact` sends `contact.create_requested` and, once the receiver accepts it
//!   (2xx), returns a contact whose id is its phone number in E.164 (`+14155552671`), or
//!   its e-mail address when it has no phone. Every later event about that person carries
//!   that id, so the receiver can match it to its own record. Since lookups find nobody,
//!   each inbound text from an unknown sender asks again: treat the event as an upsert
//!   keyed by phone.
//! - `create_note` mints a note id (a ULID) and sends it; `note.appended` names it.
//!
//! Goals always answer `Achieved` once the receiver accepts them: the receiver decides
//! what a goal does.
//!
//! # Signature
//!
//! Each request carries:
//! - `X-Smsflow-Timestamp`: the same milliseconds as `occurred_at`, as decimal digits;
//! - `X-Smsflow-Signature`: `sha256=` followed by the lower-case hex HMAC-SHA256, keyed
//!   with the account's signing secret (its UTF-8 bytes), of the timestamp header value,
//!   a `.`, and the raw request body bytes: `HMAC(secret, "<timestamp>.<body>")`;
//! - `X-Smsflow-Event`: the `event` value, for routing without parsing.
//!
//! To verify: recompute the HMAC over the raw body as received (before any JSON parsing),
//! compare in constant time, and reject timestamps more than five minutes from your
//! clock, which stops a captured request from being replayed later. [`verify_signature`]
//! does the HMAC part.
//!
//! # Answers
//!
//! 2xx: done. 429: `RateLimited` (with `Retry-After` seconds when sent). 408 and 5xx,
//! timeouts and connection failures: `Unavailable`; the job queue retries, so a receiver
//! can see an event more than once. 401/403: `Unauthorized`. Any other status:
//! `Rejected` (not retried).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use serde::Serialize;
use sha2::Sha256;

use super::crm_input::{check_field_name, check_goal_names, check_note_text, check_tag_name};
use super::http_retry::retry_after;
use crate::domain::{Account, CrmConnection, EmailAddress, PhoneNumber, Secret};
use crate::ports::clock::{Clock, IdGenerator};
use crate::ports::crm::{
    CallNote, Contact, Crm, CrmError, CrmResult, CrmUser, GoalOutcome, NewContact, NewNote, Note,
};

pub const SIGNATURE_HEADER: &str = "X-Smsflow-Signature";
pub const TIMESTAMP_HEADER: &str = "X-Smsflow-Timestamp";
pub const EVENT_HEADER: &str = "X-Smsflow-Event";

/// How much of a refusing receiver's body goes into an error message.
const BODY_SNIPPET_CHARS: usize = 200;

type HmacSha256 = Hmac<Sha256>;

/// `sha256=<hex>` of `HMAC-SHA256(secret, "<timestamp>.<body>")`.
pub fn signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let digest = signing_mac(secret, timestamp, body).finalize().into_bytes();
    format!("sha256={}", hex::encode(digest))
}

/// Whether `signature` (the `X-Smsflow-Signature` value) signs `timestamp` and `body`
/// with `secret`, compared in constant time. Checking the timestamp's age is the
/// caller's part.
pub fn verify_signature(secret: &str, timestamp: &str, body: &[u8], signature: &str) -> bool {
    let Some(hex_digest) = signature.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_digest) else {
        return false;
    };
    signing_mac(secret, timestamp, body)
        .verify_slice(&expected)
        .is_ok()
}

fn signing_mac(secret: &str, timestamp: &str, body: &[u8]) -> HmacSha256 {
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// One event, tagged by its `event` name.
#[derive(Debug, Serialize)]
#[serde(tag = "event")]
enum Event<'a> {
    #[serde(rename = "goal.achieved")]
    GoalAchieved {
        contact_id: &'a str,
        integration: &'a str,
        call_name: &'a str,
    },
    #[serde(rename = "tag.applied")]
    TagApplied { contact_id: &'a str, tag: &'a str },
    #[serde(rename = "note.created")]
    NoteCreated {
        note_id: &'a str,
        contact_id: &'a str,
        title: &'a str,
        body: &'a str,
        user_id: Option<&'a str>,
    },
    #[serde(rename = "note.appended")]
    NoteAppended { note_id: &'a str, text: &'a str },
    #[serde(rename = "contact.email_changed")]
    EmailChanged {
        contact_id: &'a str,
        email: &'a EmailAddress,
    },
    #[serde(rename = "contact.custom_field_changed")]
    CustomFieldChanged {
        contact_id: &'a str,
        field: &'a str,
        value: &'a str,
    },
    #[serde(rename = "contact.create_requested")]
    CreateRequested {
        contact_id: &'a str,
        first_name: Option<&'a str>,
        last_name: Option<&'a str>,
        email: Option<&'a EmailAddress>,
        phone: Option<&'a PhoneNumber>,
        owner_id: Option<&'a str>,
    },
}

impl Event<'_> {
    fn name(&self) -> &'static str {
        match self {
            Event::GoalAchieved { .. } => "goal.achieved",
            Event::TagApplied { .. } => "tag.applied",
            Event::NoteCreated { .. } => "note.created",
            Event::NoteAppended { .. } => "note.appended",
            Event::EmailChanged { .. } => "contact.email_changed",
            Event::CustomFieldChanged { .. } => "contact.custom_field_changed",
            Event::CreateRequested { .. } => "contact.create_requested",
        }
    }
}

#[derive(Debug, Serialize)]
struct Envelope<'a> {
    #[serde(flatten)]
    event: &'a Event<'a>,
    account: &'a str,
    occurred_at: i64,
}

/// Posts CRM events to each webhook account's URL.
pub struct WebhookCrm {
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
}

impl WebhookCrm {
    /// `http` should carry a connect timeout and an overall timeout well inside the
    /// function's own. `ids` mints note ids.
    pub fn new(http: reqwest::Client, clock: Arc<dyn Clock>, ids: Arc<dyn IdGenerator>) -> Self {
        WebhookCrm { http, clock, ids }
    }

    async fn post(&self, account: &Account, event: &Event<'_>) -> CrmResult<()> {
        let (url, secret) = webhook_target(account)?;
        let occurred_at = self.clock.now().as_millis();
        let body = serde_json::to_vec(&Envelope {
            event,
            account: account.id.as_str(),
            occurred_at,
        })
        .map_err(|e| CrmError::Rejected(format!("cannot encode the event: {e}")))?;
        let timestamp = occurred_at.to_string();
        let signature = signature(secret.expose(), &timestamp, &body);
        let response = self
            .http
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, &timestamp)
            .header(SIGNATURE_HEADER, signature)
            .header(EVENT_HEADER, event.name())
            .body(body)
            .send()
            .await
            .map_err(|e| {
                CrmError::Unavailable(if e.is_timeout() {
                    format!("CRM webhook did not answer in time: {e}")
                } else {
                    format!("cannot reach the CRM webhook: {e}")
                })
            })?;
        let status = response.status();
        if status.is_success() {
            tracing::debug!(account = %account.id, event = event.name(), "CRM webhook accepted the event");
            return Ok(());
        }
        let retry_after = retry_after(response.headers());
        let body = response.bytes().await.unwrap_or_default();
        let error = error_for_status(status, retry_after, &body);
        tracing::warn!(account = %account.id, event = event.name(), %status, "CRM webhook refused the event");
        Err(error)
    }
}

fn webhook_target(account: &Account) -> CrmResult<(&str, &Secret)> {
    match &account.crm {
        CrmConnection::Webhook {
            url,
            signing_secret,
        } => Ok((url, signing_secret)),
        _ => Err(CrmError::Unsupported(format!(
            "account {} does not use a webhook CRM",
            account.id
        ))),
    }
}

fn error_for_status(status: StatusCode, retry_after: Option<Duration>, body: &[u8]) -> CrmError {
    let detail = || {
        let text = String::from_utf8_lossy(body);
        let snippet: String = text.chars().take(BODY_SNIPPET_CHARS).collect();
        format!("HTTP {status}: {}", snippet.trim())
    };
    match status {
        StatusCode::TOO_MANY_REQUESTS => CrmError::RateLimited { retry_after },
        StatusCode::REQUEST_TIMEOUT => CrmError::Unavailable(detail()),
        s if s.is_server_error() => CrmError::Unavailable(detail()),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => CrmError::Unauthorized(detail()),
        _ => CrmError::Rejected(detail()),
    }
}

#[async_trait]
impl Crm for WebhookCrm {
    async fn find_contact_by_phone(
        &self,
        account: &Account,
        _phone: &PhoneNumber,
    ) -> CrmResult<Option<Contact>> {
        webhook_target(account)?;
        Ok(None)
    }

    async fn contact(&self, account: &Account, _contact_id: &str) -> CrmResult<Option<Contact>> {
        webhook_target(account)?;
        Ok(None)
    }

    async fn create_contact(&self, account: &Account, contact: &NewContact) -> CrmResult<Contact> {
        let id = match (&contact.phone, &contact.email) {
            (Some(phone), _) => phone.to_string(),
            (None, Some(email)) => email.to_string(),
            (None, None) => {
                return Err(CrmError::Rejected(
                    "a contact needs an e-mail address or a phone number".into(),
                ));
            }
        };
        self.post(
            account,
            &Event::CreateRequested {
                contact_id: &id,
                first_name: contact.first_name.as_deref(),
                last_name: contact.last_name.as_deref(),
                email: contact.email.as_ref(),
                phone: contact.phone.as_ref(),
                owner_id: contact.owner_id.as_deref(),
            },
        )
        .await?;
        Ok(Contact {
            id,
            first_name: contact.first_name.clone(),
            last_name: contact.last_name.clone(),
            email: contact.email.clone(),
            phone: contact.phone.clone(),
            owner_id: contact.owner_id.clone(),
            tags: Vec::new(),
            custom_fields: Default::default(),
            time_zone: contact.time_zone.clone(),
        })
    }

    async fn set_email(
        &self,
        account: &Account,
        contact_id: &str,
        email: &EmailAddress,
    ) -> CrmResult<()> {
        self.post(account, &Event::EmailChanged { contact_id, email })
            .await
    }

    async fn set_custom_field(
        &self,
        account: &Account,
        contact_id: &str,
        field: &str,
        value: &str,
    ) -> CrmResult<()> {
        check_field_name(field)?;
        self.post(
            account,
            &Event::CustomFieldChanged {
                contact_id,
                field,
                value,
            },
        )
        .await
    }

    async fn user(&self, account: &Account, _user_id: &str) -> CrmResult<Option<CrmUser>> {
        webhook_target(account)?;
        Ok(None)
    }

    async fn apply_tag(&self, account: &Account, contact_id: &str, tag: &str) -> CrmResult<()> {
        check_tag_name(tag)?;
        self.post(account, &Event::TagApplied { contact_id, tag })
            .await
    }

    async fn create_note(
        &self,
        account: &Account,
        contact_id: &str,
        note: &NewNote,
    ) -> CrmResult<Note> {
        check_note_text(note)?;
        let note_id = self.ids.new_id();
        self.post(
            account,
            &Event::NoteCreated {
                note_id: &note_id,
                contact_id,
                title: &note.title,
                body: &note.body,
                user_id: note.user_id.as_deref(),
            },
        )
        .await?;
        Ok(Note {
            id: note_id,
            contact_id: contact_id.to_string(),
            title: note.title.clone(),
            body: note.body.clone(),
            user_id: note.user_id.clone(),
        })
    }

    async fn append_to_note(&self, account: &Account, note_id: &str, text: &str) -> CrmResult<()> {
        self.post(account, &Event::NoteAppended { note_id, text })
            .await
    }

    /// Call notes live in the receiver's CRM, which smsflow cannot ask: none.
    async fn last_call_note(
        &self,
        account: &Account,
        _contact_id: &str,
    ) -> CrmResult<Option<CallNote>> {
        webhook_target(account)?;
        Ok(None)
    }

    async fn achieve_goal(
        &self,
        account: &Account,
        contact_id: &str,
        integration: &str,
        call_name: &str,
    ) -> CrmResult<GoalOutcome> {
        check_goal_names(integration, call_name)?;
        self.post(
            account,
            &Event::GoalAchieved {
                contact_id,
                integration,
                call_name,
            },
        )
        .await?;
        Ok(GoalOutcome::Achieved)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;
    use crate::domain::Timestamp;
    use crate::ports::clock::ManualClock;

    /// An answer, its name, and what the adapter must make of it.
    type ErrorCase = (ResponseTemplate, &'static str, fn(&CrmError) -> bool);

    const SECRET: &str = "whsec-test-signing-secret";
    const NOW_MS: i64 = 1_767_225_600_000;

    struct FixedIds;

    impl IdGenerator for FixedIds {
        fn new_id(&self) -> String {
            "01JNOTE0000000000000000000".into()
        }
    }

    fn account(crm: CrmConnection) -> Account {
        Account {
            users: BTreeMap::new(),
            crm,
            ..crate::domain::fixtures::account()
        }
    }

    fn webhook_account(url: String) -> Account {
        account(CrmConnection::Webhook {
            url,
            signing_secret: Secret::new(SECRET),
        })
    }

    fn crm() -> WebhookCrm {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(5))
            .build()
            .expect("test HTTP client builds");
        WebhookCrm::new(
            http,
            Arc::new(ManualClock::at(Timestamp::from_millis(NOW_MS))),
            Arc::new(FixedIds),
        )
    }

    fn phone(e164: &str) -> PhoneNumber {
        PhoneNumber::parse_e164(e164).expect("test phone is valid")
    }

    fn email(address: &str) -> EmailAddress {
        EmailAddress::parse(address).expect("test e-mail is valid")
    }

    /// The documented scheme, computed here independently of the adapter's helper.
    fn expected_signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
        let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("any key length");
        mac.update(format!("{timestamp}.").as_bytes());
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[tokio::test]
    async fn every_event_is_posted_as_signed_json() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/hooks/crm"))
            .and(header("content-type", "application/json"))
            .and(header(TIMESTAMP_HEADER, NOW_MS.to_string().as_str()))
            .respond_with(ResponseTemplate::new(204))
            .expect(7)
            .mount(&server)
            .await;
        let crm = crm();
        let account = webhook_account(format!("{}/hooks/crm", server.uri()));

        let outcome = crm
            .achieve_goal(&account, "123", "smsflow", "Inbound")
            .await;
        assert_eq!(outcome, Ok(GoalOutcome::Achieved));
        crm.apply_tag(&account, "123", "sms-lead")
            .await
            .expect("tag event");
        let note = crm
            .create_note(
                &account,
                "123",
                &NewNote {
                    title: "SMS: Welcome".into(),
                    body: "Sent: Hi".into(),
                    user_id: Some("7".into()),
                },
            )
            .await
            .expect("note event");
        assert_eq!(note.id, "01JNOTE0000000000000000000");
        crm.append_to_note(&account, &note.id, "\nReceived: Thanks")
            .await
            .expect("append event");
        crm.set_email(&account, "123", &email("ann@example.com"))
            .await
            .expect("e-mail event");
        crm.set_custom_field(&account, "123", "LastSms", "Thanks!")
            .await
            .expect("field event");
        let created = crm
            .create_contact(
                &account,
                &NewContact {
                    first_name: Some("(auto-created)".into()),
                    phone: Some(phone("+14155552671")),
                    ..NewContact::default()
                },
            )
            .await
            .expect("create event");
        assert_eq!(created.id, "+14155552671");

        let common =
            |event: &str| json!({ "event": event, "account": "acme", "occurred_at": NOW_MS });
        let with = |event: &str, fields: serde_json::Value| {
            let mut all = common(event);
            for (k, v) in fields.as_object().expect("object").clone() {
                all[k] = v;
            }
            all
        };
        let expected = [
            with(
                "goal.achieved",
                json!({ "contact_id": "123", "integration": "smsflow", "call_name": "Inbound" }),
            ),
            with(
                "tag.applied",
                json!({ "contact_id": "123", "tag": "sms-lead" }),
            ),
            with(
                "note.created",
                json!({
                    "note_id": "01JNOTE0000000000000000000", "contact_id": "123",
                    "title": "SMS: Welcome", "body": "Sent: Hi", "user_id": "7"
                }),
            ),
            with(
                "note.appended",
                json!({ "note_id": "01JNOTE0000000000000000000", "text": "\nReceived: Thanks" }),
            ),
            with(
                "contact.email_changed",
                json!({ "contact_id": "123", "email": "ann@example.com" }),
            ),
            with(
                "contact.custom_field_changed",
                json!({ "contact_id": "123", "field": "LastSms", "value": "Thanks!" }),
            ),
            with(
                "contact.create_requested",
                json!({
                    "contact_id": "+14155552671", "first_name": "(auto-created)", "last_name": null,
                    "email": null, "phone": "+14155552671", "owner_id": null
                }),
            ),
        ];
        let received = server.received_requests().await.expect("recorded");
        assert_eq!(received.len(), expected.len());
        for (request, want) in received.iter().zip(expected) {
            let body: serde_json::Value = serde_json::from_slice(&request.body).expect("JSON body");
            assert_eq!(body, want);
            let header_value = |name: &str| {
                request
                    .headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
                    .unwrap_or_default()
            };
            assert_eq!(
                header_value(EVENT_HEADER),
                want["event"].as_str().unwrap_or_default()
            );
            let timestamp = header_value(TIMESTAMP_HEADER);
            let signed = header_value(SIGNATURE_HEADER);
            assert_eq!(
                signed,
                expected_signature(SECRET, &timestamp, &request.body)
            );
            assert!(verify_signature(SECRET, &timestamp, &request.body, &signed));
        }
    }

    #[test]
    fn signatures_verify_only_what_was_signed() {
        let body = br#"{"event":"goal.achieved"}"#;
        let good = signature(SECRET, "1767225600000", body);
        assert_eq!(good, expected_signature(SECRET, "1767225600000", body));
        assert!(verify_signature(SECRET, "1767225600000", body, &good));
        let cases: [(&str, &str, &[u8], &str); 5] = [
            ("other secret", "1767225600000", body, good.as_str()),
            (SECRET, "1767225600001", body, good.as_str()),
            (
                SECRET,
                "1767225600000",
                br#"{"event":"goal.achieved "}"#,
                good.as_str(),
            ),
            (
                SECRET,
                "1767225600000",
                body,
                good.trim_start_matches("sha256="),
            ),
            (SECRET, "1767225600000", body, "sha256=zz"),
        ];
        for (secret, timestamp, body, signature) in cases {
            assert!(
                !verify_signature(secret, timestamp, body, signature),
                "{secret} {timestamp} {signature}"
            );
        }
    }

    #[tokio::test]
    async fn lookups_find_nobody_without_calling_out() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200))
            .expect(0)
            .mount(&server)
            .await;
        let crm = crm();
        let account = webhook_account(format!("{}/hooks/crm", server.uri()));
        assert_eq!(
            crm.find_contact_by_phone(&account, &phone("+14155552671"))
                .await,
            Ok(None)
        );
        assert_eq!(crm.contact(&account, "123").await, Ok(None));
        assert_eq!(crm.user(&account, "7").await, Ok(None));
        assert_eq!(crm.last_call_note(&account, "123").await, Ok(None));
        let nobody = crm.create_contact(&account, &NewContact::default()).await;
        assert!(matches!(nobody, Err(CrmError::Rejected(_))));
    }

    #[tokio::test]
    async fn a_contact_without_phone_is_named_by_its_email() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(202))
            .expect(1)
            .mount(&server)
            .await;
        let contact = crm()
            .create_contact(
                &webhook_account(server.uri()),
                &NewContact {
                    email: Some(email("ann@example.com")),
                    ..NewContact::default()
                },
            )
            .await
            .expect("created");
        assert_eq!(contact.id, "ann@example.com");
        assert_eq!(contact.email, Some(email("ann@example.com")));
    }

    #[tokio::test]
    async fn receiver_answers_map_to_crm_errors() {
        let cases: Vec<ErrorCase> = vec![
            (ResponseTemplate::new(500), "500", |e| {
                matches!(e, CrmError::Unavailable(_))
            }),
            (ResponseTemplate::new(502), "502", |e| {
                matches!(e, CrmError::Unavailable(_))
            }),
            (ResponseTemplate::new(408), "408", |e| {
                matches!(e, CrmError::Unavailable(_))
            }),
            (
                ResponseTemplate::new(400).set_body_string("unknown event"),
                "400",
                |e| matches!(e, CrmError::Rejected(m) if m.contains("unknown event")),
            ),
            (ResponseTemplate::new(404), "404", |e| {
                matches!(e, CrmError::Rejected(_))
            }),
            (ResponseTemplate::new(410), "410", |e| {
                matches!(e, CrmError::Rejected(_))
            }),
            (ResponseTemplate::new(401), "401", |e| {
                matches!(e, CrmError::Unauthorized(_))
            }),
            (
                ResponseTemplate::new(429).insert_header("Retry-After", "30"),
                "429",
                |e| {
                    *e == CrmError::RateLimited {
                        retry_after: Some(Duration::from_secs(30)),
                    }
                },
            ),
        ];
        for (response, case, expected) in cases {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .respond_with(response)
                .expect(1)
                .mount(&server)
                .await;
            let result = crm()
                .achieve_goal(&webhook_account(server.uri()), "123", "smsflow", "Sent")
                .await;
            match result {
                Err(e) => assert!(expected(&e), "{case}: got {e:?}"),
                Ok(o) => panic!("{case}: expected an error, got {o:?}"),
            }
        }
    }

    #[tokio::test]
    async fn an_unreachable_receiver_is_unavailable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        let result = crm()
            .apply_tag(&webhook_account(format!("http://{addr}/hook")), "1", "t")
            .await;
        assert!(
            matches!(result, Err(CrmError::Unavailable(_))),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn other_connections_are_not_ours() {
        let result = crm().user(&account(CrmConnection::Sandbox), "7").await;
        assert!(
            matches!(result, Err(CrmError::Unsupported(_))),
            "{result:?}"
        );
    }
}

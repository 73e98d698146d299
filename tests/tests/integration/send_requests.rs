//! Send requests (`POST /crm/{account}/send`), courier style: a request in -> the status,
//! the JSON answer, the send jobs queued and the goals queued. Run on the example account
//! (sandbox CRM, in-memory store and queues) with no consumers running, so every effect
//! is still on its queue to be inspected.

use std::sync::Arc;

use serde_json::Value;
use smsflow_shared::domain::Timestamp;
use smsflow_shared::domain::consent::{BouncePolicy, PhoneEvent};
use smsflow_shared::handlers::http;
use smsflow_shared::jobs::SendJob;
use smsflow_shared::jobs::{AutomationEnvelope, AutomationJob};
use smsflow_shared::local::LocalRuntime;
use smsflow_shared::ports::{ConsentRecord, NewContact, QueueName};
use smsflow_tests::example::{ACME_SEND_KEY, ExampleConfig};
use smsflow_tests::fixtures::{new_contact, phone};
use smsflow_tests::handler;
use smsflow_tests::runtime::{self, Drain, drain};

/// Ann, a contact of the sandbox CRM (created by `runtime`).
const ANN: &str = "+14155552671";
/// A phone no contact has.
const STRANGER: &str = "+14155552690";

struct Harness {
    rt: Arc<LocalRuntime>,
    ann_id: String,
}

async fn harness_with(queue_limit: u32) -> Harness {
    // The long code sends fast here, so queued jobs are due at once (pacing has its own
    // tests): at 1 segment/s, the 5th job of a burst waits 4 s in the queue.
    let config = ExampleConfig::new()
        .replace("queue_limit = 500", &format!("queue_limit = {queue_limit}"))
        .long_code_rate(1000)
        .parse();
    let rt = Arc::new(runtime::in_memory(&config, Some("https://sms.example.com")).await);
    let account = runtime::account(&rt.app, "acme").await;
    let ann = NewContact {
        last_name: Some("Lee".into()),
        time_zone: Some("America/Denver".into()),
        ..new_contact("Ann", ANN)
    };
    let ann = runtime::add_contact(&rt.app, &account, ann).await;
    Harness {
        rt,
        ann_id: ann.id.into_string(),
    }
}

async fn harness() -> Harness {
    harness_with(500).await
}

impl Harness {
    async fn post(&self, uri: &str, content_type: &str, body: String) -> (u16, Value) {
        let router = http::campaign_send(self.rt.app.clone());
        handler::post(router, uri, content_type, body).await
    }

    /// Posts a form with the account key added.
    async fn send(&self, form: &str) -> (u16, Value) {
        let form = form.replace("{ann_id}", &self.ann_id);
        self.post(
            "/crm/acme/send",
            "application/x-www-form-urlencoded",
            format!("key={ACME_SEND_KEY}&{form}"),
        )
        .await
    }

    async fn drain(&self, queue: QueueName) -> Vec<String> {
        drain(self.rt.queue.as_ref(), queue, Drain::Hide)
            .await
            .into_iter()
            .map(|m| m.body)
            .collect()
    }

    async fn send_jobs(&self) -> Vec<SendJob> {
        self.drain(QueueName::Send)
            .await
            .iter()
            .map(|b| serde_json::from_str(b).expect("send job"))
            .collect()
    }

    /// The goals queued, as `call_name@contact`, sorted.
    async fn goals(&self) -> Vec<String> {
        let mut goals: Vec<String> = self
            .drain(QueueName::Automation)
            .await
            .iter()
            .filter_map(|b| {
                match serde_json::from_str::<AutomationEnvelope>(b)
                    .expect("automation job")
                    .job
                {
                    AutomationJob::AchieveGoal {
                        call_name,
                        contact_id,
                        ..
                    } => Some(format!(
                        "{call_name}@{}",
                        if contact_id == self.ann_id {
                            "ann"
                        } else {
                            "other"
                        }
                    )),
                    _ => None,
                }
            })
            .collect();
        goals.sort();
        goals
    }
}

#[tokio::test]
async fn requests_in_answers_and_effects_out() {
    struct Case {
        name: &'static str,
        form: &'static str,
        status: u16,
        /// The answer's `outcome`, and `code` for refusals.
        outcome: &'static str,
        code: Option<&'static str>,
        /// (to, body) of the queued send job, if one is queued.
        job: Option<(&'static str, &'static str)>,
        goals: &'static [&'static str],
    }
    let ok = |name, form, to, body, goals| Case {
        name,
        form,
        status: 202,
        outcome: "queued",
        code: None,
        job: Some((to, body)),
        goals,
    };
    let invalid = |name, form, code| Case {
        name,
        form,
        status: 400,
        outcome: "invalid",
        code: Some(code),
        job: None,
        goals: &[],
    };
    let cases = [
        ok(
            "phone of a known contact, merge fields",
            "phone=%2B14155552671&message=Hi+~Contact.FirstName~,+this+is+~User.FirstName~&user=mary&type=transactional",
            ANN,
            "Hi Ann, this is Mary",
            &["SMSsendRequestReceived@ann"],
        ),
        ok(
            "contact id only: the CRM's phone",
            "contactId={ann_id}&message=Hello+~Contact.LastName~&subscription=subscribed",
            ANN,
            "Hello Lee",
            &["SMSsendRequestReceived@ann"],
        ),
        ok(
            "national phone, no contact: no goals",
            "phone=(415)+555-2690&message=Hi&type=transactional",
            STRANGER,
            "Hi",
            &[],
        ),
        ok(
            "no contact: a contact field's fallback is sent",
            "phone=(415)+555-2690&message=Hi+~Contact.FirstName|there~,+~User.FirstName~+here&user=mary&type=transactional",
            STRANGER,
            "Hi there, Mary here",
            &[],
        ),
        invalid(
            "no contact: a contact field without fallback",
            "phone=(415)+555-2690&message=Hi+~Contact.FirstName~&type=transactional",
            "unknown_merge_field",
        ),
        ok(
            "no user: a user field's fallback is sent",
            "phone=(415)+555-2690&message=Hi,+~User.FirstName|our+team~+here&type=transactional",
            STRANGER,
            "Hi, our team here",
            &[],
        ),
        invalid(
            "no user: a user field without fallback",
            "phone=(415)+555-2690&message=~User.FirstName~+here&type=transactional",
            "unknown_merge_field",
        ),
        invalid(
            "no contact: a mistyped contact field with a fallback",
            "phone=(415)+555-2690&message=Hi+~Contact.Frist|there~&type=transactional",
            "unknown_merge_field",
        ),
        ok(
            "alert to the account's alert number",
            "contactId={ann_id}&message=New+lead+~Contact.FirstName~&type=alert",
            "+14155550123",
            "New lead Ann",
            &["SMSsendRequestReceived@ann"],
        ),
        invalid("no recipient", "message=hi", "missing_recipient"),
        invalid("bad phone", "phone=12345&message=hi", "invalid_phone"),
        invalid("nothing to send", "phone=%2B14155552671", "empty_message"),
        invalid(
            "unknown sender",
            "phone=%2B14155552671&message=hi&from=%2B12025550199",
            "unknown_sender_number",
        ),
        invalid(
            "unknown user",
            "phone=%2B14155552671&message=hi&user=nobody",
            "unknown_user",
        ),
        invalid(
            "unknown user e-mail",
            "phone=%2B14155552671&message=hi&reply=Nobody%40acme.example",
            "unknown_user",
        ),
        invalid(
            "unknown merge field",
            "phone=%2B14155552671&message=Hi+~Contact.Nickname~&type=transactional",
            "unknown_merge_field",
        ),
        invalid(
            "bad media",
            "phone=%2B14155552671&media=file:///etc/passwd&type=transactional",
            "invalid_media_url",
        ),
        Case {
            name: "unknown contact",
            form: "contactId=999999&message=hi",
            status: 404,
            outcome: "unknown_contact",
            code: Some("unknown_contact"),
            job: None,
            goals: &[],
        },
        Case {
            name: "bulk needs a subscribed contact",
            form: "phone=%2B14155552671&message=Sale!",
            status: 409,
            outcome: "refused",
            code: Some("not_subscribed"),
            job: None,
            goals: &["SMSsendRequestReceived@ann", "SendFailed@ann"],
        },
        Case {
            name: "unsubscribed gets no bulk",
            form: "phone=%2B14155552671&message=Sale!&subscription=unsubscribed",
            status: 409,
            outcome: "refused",
            code: Some("not_subscribed"),
            job: None,
            goals: &["SMSsendRequestReceived@ann", "SendFailed@ann"],
        },
        ok(
            "unsubscribed still gets transactional",
            "phone=%2B14155552671&message=Your+order+shipped&subscription=unsubscribed&type=transactional",
            ANN,
            "Your order shipped",
            &["SMSsendRequestReceived@ann"],
        ),
    ];
    for case in cases {
        let h = harness().await;
        let (status, answer) = h.send(case.form).await;
        assert_eq!(status, case.status, "{}: {answer}", case.name);
        assert_eq!(answer["outcome"], case.outcome, "{}: {answer}", case.name);
        assert_eq!(
            answer["code"].as_str(),
            case.code,
            "{}: {answer}",
            case.name
        );
        let jobs = h.send_jobs().await;
        match case.job {
            Some((to, body)) => {
                assert_eq!(jobs.len(), 1, "{}", case.name);
                assert_eq!(jobs[0].to.as_str(), to, "{}", case.name);
                assert_eq!(jobs[0].body, body, "{}", case.name);
                assert_eq!(
                    answer["message_id"].as_str(),
                    Some(jobs[0].message_id.as_str()),
                    "{}",
                    case.name
                );
            }
            None => assert!(jobs.is_empty(), "{}: {jobs:?}", case.name),
        }
        assert_eq!(h.goals().await, case.goals, "{}", case.name);
        // Nothing is admitted that was not queued.
        let pending =
            h.rt.app
                .store
                .pending_sends(&"acme".parse().expect("id"))
                .await
                .expect("store");
        assert_eq!(
            pending,
            u32::from(case.job.is_some()),
            "{}: admission counter",
            case.name
        );
    }
}

#[tokio::test]
async fn the_recipients_state_refuses_sends() {
    let account = "acme".parse().expect("id");
    // Opted out: refused whatever the kind, and the CRM hears BlockedNumber.
    let h = harness().await;
    h.rt.app
        .store
        .set_consent(
            &account,
            &phone(ANN),
            &ConsentRecord {
                opted_out: true,
                changed_at: Timestamp::from_millis(1),
                source: "test".into(),
            },
        )
        .await
        .expect("consent");
    let (status, answer) = h
        .send("phone=%2B14155552671&message=hi&type=transactional")
        .await;
    assert_eq!((status, answer["code"].as_str()), (409, Some("opted_out")));
    assert!(h.send_jobs().await.is_empty());
    assert_eq!(
        h.goals().await,
        ["BlockedNumber@ann", "SMSsendRequestReceived@ann"]
    );

    // Bounced after repeated hard failures: refused.
    let h = harness().await;
    for _ in 0..3 {
        h.rt.app
            .store
            .record_phone_event(
                &account,
                &phone(ANN),
                PhoneEvent::HardFailure,
                BouncePolicy::default(),
            )
            .await
            .expect("phone event");
    }
    let (status, answer) = h
        .send("phone=%2B14155552671&message=hi&type=transactional")
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (409, Some("phone_bounced"))
    );
    assert!(h.send_jobs().await.is_empty());
}

#[tokio::test]
async fn the_contacts_time_zone_travels_with_the_job_for_quiet_hours() {
    let h = harness().await;
    for form in [
        "contactId={ann_id}&message=Hi+Ann&type=transactional",
        // A number no CRM contact has: no zone is known.
        "phone=%2B14155550177&message=Hi+there&type=transactional",
    ] {
        let (status, body) = h.send(form).await;
        assert_eq!(status, 202, "{form}: {body}");
    }
    let mut zones: Vec<(String, Option<String>)> = h
        .send_jobs()
        .await
        .into_iter()
        .map(|job| (job.body, job.time_zone))
        .collect();
    zones.sort();
    assert_eq!(
        zones,
        [
            ("Hi Ann".to_string(), Some("America/Denver".to_string())),
            ("Hi there".to_string(), None),
        ]
    );
}

#[tokio::test]
async fn keys_are_checked() {
    let h = harness().await;
    let cases = [
        (
            "/crm/acme/send",
            "phone=%2B14155552671&message=hi",
            401,
            "missing_key",
        ),
        (
            "/crm/acme/send?key=wrong",
            "phone=%2B14155552671&message=hi",
            403,
            "invalid_key",
        ),
        (
            "/crm/nobody/send",
            "key=x&phone=%2B14155552671&message=hi",
            404,
            "unknown_account",
        ),
    ];
    for (uri, form, status, error) in cases {
        let (got, answer) = h
            .post(uri, "application/x-www-form-urlencoded", form.into())
            .await;
        assert_eq!(
            (got, answer["error"].as_str()),
            (status, Some(error)),
            "{uri}"
        );
    }
    assert!(h.send_jobs().await.is_empty());

    // The key in the URL, the fields as JSON.
    let (status, answer) = h
        .post(
            &format!("/crm/acme/send?key={ACME_SEND_KEY}"),
            "application/json",
            r#"{"phone": "+14155552671", "message": "hi", "type": "transactional"}"#.into(),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(h.send_jobs().await.len(), 1);
}

#[tokio::test]
async fn a_retried_request_gets_the_first_answer_and_no_second_message() {
    let h = harness().await;
    for form in [
        "requestId=r-1&phone=%2B14155552671&message=hi&type=transactional",
        // Without a request id, the same recipient and body count as a repeat.
        "phone=%2B14155552671&message=same+body&type=transactional",
    ] {
        let (first_status, first) = h.send(form).await;
        let (second_status, second) = h.send(form).await;
        assert_eq!((first_status, second_status), (202, 202), "{form}");
        assert_eq!(first["message_id"], second["message_id"], "{form}");
        assert_eq!(second["repeated"], true, "{form}");
        assert_eq!(h.send_jobs().await.len(), 1, "{form}");
        assert_eq!(h.goals().await, ["SMSsendRequestReceived@ann"], "{form}");
    }
    // A refusal is repeated as it was, with no second set of goals.
    let refused = "requestId=r-2&phone=%2B14155552671&message=Sale!";
    let (_, first) = h.send(refused).await;
    let (status, second) = h.send(refused).await;
    assert_eq!(
        (status, second["code"].as_str()),
        (409, Some("not_subscribed"))
    );
    assert_eq!(first["code"], second["code"]);
    assert_eq!(
        h.goals().await,
        ["SMSsendRequestReceived@ann", "SendFailed@ann"]
    );
    // A corrected retry of an invalid request is handled afresh.
    let (status, _) = h.send("requestId=r-3&phone=12&message=hi").await;
    assert_eq!(status, 400);
    let (status, _) = h
        .send("requestId=r-3&phone=%2B14155552671&message=hi&type=transactional")
        .await;
    assert_eq!(status, 202);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_is_exact_under_concurrency() {
    let limit = 5;
    let h = Arc::new(harness_with(limit).await);
    let mut tasks = Vec::new();
    for i in 0..40 {
        let h = h.clone();
        tasks.push(tokio::spawn(async move {
            h.send(&format!(
                "phone=%2B14155552671&message=message+{i}&type=transactional"
            ))
            .await
        }));
    }
    let mut admitted = 0;
    let mut full = 0;
    for task in tasks {
        let (status, answer) = task.await.expect("task");
        match status {
            202 => admitted += 1,
            429 => {
                assert_eq!(answer["code"], "queue_full", "{answer}");
                full += 1;
            }
            other => panic!("unexpected {other}: {answer}"),
        }
    }
    assert_eq!((admitted, full), (limit, 40 - limit));
    assert_eq!(h.send_jobs().await.len(), limit as usize);
    let goals = h.goals().await;
    let count = |name: &str| goals.iter().filter(|g| g.starts_with(name)).count();
    assert_eq!(count("SMSsendRequestReceived@"), 40);
    assert_eq!(count("QueueExceeded@"), 35);
    assert_eq!(count("SendFailed@"), 35);
}

/// A merge field that came out empty for the contact, where it leaves a gap, is warned of
/// in the accepted answer (the message is queued all the same); a fallback fills it and
/// silences the warning; a field with a value, or glued to a word, warns of nothing. The
/// text is sent as rendered, fallback included.
#[tokio::test]
async fn an_empty_merge_is_warned_of_in_the_accepted_answer() {
    let h = harness().await;
    let account = runtime::account(&h.rt.app, "acme").await;
    let nameless = NewContact {
        first_name: None,
        ..new_contact("", STRANGER)
    };
    let nameless = runtime::add_contact(&h.rt.app, &account, nameless).await;
    let warning = serde_json::json!([{
        "code": "empty_merge_field",
        "field": "Contact.FirstName",
        "detail": "this message went out with it empty: ~Contact.FirstName~ can come out \
                   empty and leave a gap in the text; give it a fallback, e.g. \
                   ~Contact.FirstName|there~ (or ~Contact.FirstName|~ if empty is fine)",
    }]);
    let nameless_id = nameless.id.as_str();
    let cases = [
        (
            "empty, at a gap",
            nameless_id,
            "Hi ~Contact.FirstName~, ok",
            "Hi , ok",
            Some(&warning),
        ),
        (
            "a fallback",
            nameless_id,
            "Hi ~Contact.FirstName|there~, ok",
            "Hi there, ok",
            None,
        ),
        (
            "empty is fine",
            nameless_id,
            "Hi ~Contact.FirstName|~, ok",
            "Hi , ok",
            None,
        ),
        (
            "a value",
            h.ann_id.as_str(),
            "Hi ~Contact.FirstName~, ok",
            "Hi Ann, ok",
            None,
        ),
    ];
    for (what, contact, message, sent, warned) in cases {
        let form = format!(
            "contactId={contact}&type=transactional&message={}",
            urlencoding(message)
        );
        let (status, answer) = h.send(&form).await;
        assert_eq!(status, 202, "{what}: {answer}");
        assert_eq!(answer["outcome"], "queued", "{what}");
        assert_eq!(answer.get("warnings"), warned, "{what}");
        let jobs = h.send_jobs().await;
        assert_eq!(jobs.len(), 1, "{what}");
        assert_eq!(jobs[0].body, sent, "{what}");
    }
}

/// Percent-encodes every byte of `text` but letters and digits, for a form value.
fn urlencoding(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b if b.is_ascii_alphanumeric() => char::from(b).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

//! Sequence starts and replies, courier style: a request or a text in -> the answer, the
//! session and the jobs queued. On the example account (sandbox CRM, in-memory store and
//! queues) with no consumers running, so every effect is still on its queue.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use serde_json::Value;
use smsflow_shared::domain::MessageId;
use smsflow_shared::domain::keywords::KeywordClass;
use smsflow_shared::domain::sequence::Sequence;
use smsflow_shared::domain::{Account, Direction, EmailAddress, MessageRecord, Timestamp};
use smsflow_shared::handlers::http;
use smsflow_shared::jobs::InboundText;
use smsflow_shared::jobs::{AutomationEnvelope, AutomationJob};
use smsflow_shared::local::LocalRuntime;
use smsflow_shared::ports::{ConsentRecord, NewContact, QueueName, QueueReceiver};
use smsflow_shared::usecases::JobOutcome;
use smsflow_shared::usecases::inbound::{Processed, process_inner};
use smsflow_shared::usecases::sequence::{self, Handoff};
use smsflow_tests::example::{ACME_LONG_CODE, ACME_SEND_KEY, ExampleConfig};
use smsflow_tests::fixtures::{self, SURVEY, new_contact, phone};
use smsflow_tests::handler;
use smsflow_tests::runtime::{self, Drain, drain};

const ANN: &str = "+14155552671";

struct Harness {
    rt: Arc<LocalRuntime>,
    account: Account,
    ann_id: String,
}

async fn harness() -> Harness {
    let config = ExampleConfig::new().parse();
    let rt = Arc::new(runtime::in_memory(&config, Some("https://sms.example.com")).await);
    let account = runtime::account(&rt.app, "acme").await;
    let survey = Sequence::load("survey.yaml", SURVEY).expect("the test sequence is valid");
    sequence::apply(rt.app.store.as_ref(), &survey)
        .await
        .expect("applies");
    let ann = runtime::add_contact(&rt.app, &account, new_contact("Ann", ANN)).await;
    Harness {
        rt,
        account,
        ann_id: ann.id.into_string(),
    }
}

impl Harness {
    async fn post(&self, uri: &str, content_type: &str, body: String) -> (u16, Value) {
        let router = http::sequence_start(self.rt.app.clone());
        handler::post(router, uri, content_type, body).await
    }

    async fn start(&self, sequence: &str, form: &str) -> (u16, Value) {
        self.post(
            &format!("/crm/acme/sequences/{sequence}/start?key={ACME_SEND_KEY}"),
            "application/x-www-form-urlencoded",
            form.replace("{ann}", &self.ann_id),
        )
        .await
    }

    /// Starts the survey for Ann from the CRM, and takes its first jobs off the queue.
    async fn ann_in_the_survey(&self) {
        let (status, body) = self.start("survey", "contactId={ann}").await;
        assert_eq!(status, 202, "{body}");
        self.jobs().await;
    }

    /// Every automation job queued so far (taken off the queue).
    async fn jobs(&self) -> Vec<AutomationEnvelope> {
        drain(self.rt.queue.as_ref(), QueueName::Automation, Drain::Hide)
            .await
            .iter()
            .map(|m| serde_json::from_str(&m.body).expect("automation job"))
            .collect()
    }

    async fn active_step(&self, contact: &str) -> Option<String> {
        self.rt
            .app
            .store
            .active_session(&self.account.id, &phone(contact), self.rt.app.clock.now())
            .await
            .expect("store")
            .map(|s| s.sequence)
    }

    /// An inbound text as the webhook leaves it: recorded, and its processing job.
    async fn text(&self, from: &str, sid: &str, body: &str) -> InboundText {
        let text = InboundText {
            account: self.account.id.clone(),
            message_sid: sid.into(),
            message_id: MessageId::new(self.rt.app.ids.new_id()),
            from: phone(from),
            to: phone(ACME_LONG_CODE),
            body: body.into(),
            media_urls: vec![],
            keyword: match body {
                "STOP" => KeywordClass::OptOut,
                "YES" => KeywordClass::OptIn,
                _ => KeywordClass::None,
            },
            received_at: Timestamp::from_millis(1_795_000_000_000),
        };
        let record = MessageRecord {
            body: text.body.clone(),
            provider_sid: Some(sid.into()),
            ..fixtures::message(
                text.message_id.clone(),
                &text.account,
                from,
                Direction::Inbound,
                text.received_at,
            )
        };
        // A retry of the same text finds it recorded already.
        self.rt
            .app
            .store
            .record_message(&record)
            .await
            .expect("record the text");
        text
    }

    /// Ann's text `body` (Twilio's `sid`) recorded and processed as the inbound job does.
    async fn process(&self, sid: &str, body: &str) -> Processed {
        let text = self.text(ANN, sid, body).await;
        process_inner(&self.rt.app, &text)
            .await
            .unwrap_or_else(|o| panic!("{body}: {o:?}"))
    }
}

/// What the inbound job reports when the survey's run took a text.
fn took_by_survey() -> Handoff {
    Handoff::Took {
        sequence: "survey".into(),
    }
}

/// What a list of jobs does, in a form a case can spell out: `send:<body>`, `tag:<tag>`,
/// `field:<name>=<value>`, `email:<address>`, `note:<lines joined by |>`; goals and
/// inbound processing left out.
fn effects(jobs: &[AutomationEnvelope]) -> Vec<String> {
    jobs.iter()
        .filter_map(|envelope| match &envelope.job {
            AutomationJob::SequenceSend { message, .. } => Some(format!("send:{}", message.body)),
            AutomationJob::ApplyTag { tag, .. } => Some(format!("tag:{tag}")),
            AutomationJob::SetCustomField { field, value, .. } => {
                Some(format!("field:{field}={value}"))
            }
            AutomationJob::SetEmail { email, .. } => Some(format!("email:{email}")),
            AutomationJob::SequenceNote { lines, .. } => Some(format!("note:{}", lines.join("|"))),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn start_requests_in_answers_and_effects_out() {
    let h = harness().await;
    let account = &h.account;
    // A contact without a phone, and one who opted out.
    let noel = NewContact {
        first_name: Some("Noel".into()),
        email: Some("noel@example.com".parse().expect("address")),
        ..NewContact::default()
    };
    let no_phone = runtime::add_contact(&h.rt.app, account, noel).await;
    let stopped =
        runtime::add_contact(&h.rt.app, account, new_contact("Sam", "+14155552690")).await;
    h.rt.app
        .store
        .set_consent(
            &account.id,
            &phone("+14155552690"),
            &ConsentRecord {
                opted_out: true,
                changed_at: Timestamp::from_millis(1),
                source: "STOP keyword".into(),
            },
        )
        .await
        .expect("consent");

    // (sequence, form, status, error code or started step, effects queued)
    let no_phone_form = format!("contactId={}", no_phone.id);
    let stopped_form = format!("contactId={}", stopped.id);
    let cases: Vec<(&str, &str, u16, &str, Vec<&str>)> = vec![
        ("survey", "", 400, "missing_contact_id", vec![]),
        ("nope", "contactId={ann}", 404, "unknown_sequence", vec![]),
        ("survey", "contactId=999", 404, "unknown_contact", vec![]),
        (
            "survey",
            "contactId={ann}&step=ask-nothing",
            400,
            "unknown_step",
            vec![],
        ),
        (
            "survey",
            &no_phone_form,
            400,
            "contact_has_no_phone",
            vec![],
        ),
        ("survey", &stopped_form, 409, "opted_out", vec![]),
        (
            "survey",
            "contactId={ann}&step=ask-why",
            202,
            "ask-why",
            vec![
                "send:What could we do better?",
                "note:Sent: What could we do better?",
            ],
        ),
        // The CRM retries the start it got 202 for: the same answer, nothing more sent.
        (
            "survey",
            "contactId={ann}&step=ask-why",
            202,
            "ask-why",
            vec![],
        ),
        (
            "survey",
            "contactId={ann}",
            409,
            "already_in_sequence",
            vec![],
        ),
        (
            "survey",
            "contactId={ann}&requestId=crm-42",
            409,
            "already_in_sequence",
            vec![],
        ),
    ];
    let mut first_session = None;
    for (sequence, form, status, code_or_step, want) in cases {
        let (got, body) = h.start(sequence, form).await;
        assert_eq!(got, status, "{sequence} {form}: {body}");
        if status == 202 {
            assert_eq!(body["step"], code_or_step, "{form}");
            assert_eq!(body["sequence"], sequence);
            assert_eq!(body["contact_id"], h.ann_id.as_str());
            match &first_session {
                None => {
                    assert_eq!(body.get("repeated"), None, "{body}");
                    first_session = Some(body["session_id"].clone());
                }
                Some(first) => {
                    assert_eq!(body["repeated"], true, "{body}");
                    assert_eq!(&body["session_id"], first, "the first answer");
                }
            }
        } else {
            assert_eq!(body["error"], code_or_step, "{form}: {body}");
            assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
        }
        assert_eq!(effects(&h.jobs().await), want, "{form}");
    }
    assert_eq!(h.active_step(ANN).await.as_deref(), Some("survey"));
    assert_eq!(h.active_step("+14155552690").await, None);

    // JSON bodies work too, and the key is required.
    let (status, body) = h
        .post(
            "/crm/acme/sequences/survey/start",
            "application/json",
            r#"{"contactId": 1}"#.into(),
        )
        .await;
    assert_eq!((status, body["error"].as_str()), (401, Some("missing_key")));
}

#[tokio::test]
async fn concurrent_starts_start_one_run() {
    let h = harness().await;
    // Ten copies of one request: one starts the run; the others are told it is in
    // progress, or (once it is done) get its answer as a repeat.
    let answers = join_all((0..10).map(|_| h.start("survey", "contactId={ann}"))).await;
    let first: Vec<&Value> = answers
        .iter()
        .filter(|(s, b)| *s == 202 && b.get("repeated").is_none())
        .map(|(_, b)| b)
        .collect();
    assert_eq!(first.len(), 1, "{answers:?}");
    for (status, body) in &answers {
        let repeat = *status == 202 && body["repeated"] == true;
        let in_progress = *status == 409 && body["error"] == "in_progress";
        assert!(
            repeat || in_progress || (*status == 202 && body == first[0]),
            "{status} {body}"
        );
    }
    // Different requests for the same contact are refused while the run lasts.
    let forms: Vec<String> = (0..5)
        .map(|i| format!("contactId={{ann}}&requestId=other-{i}"))
        .collect();
    let answers = join_all(forms.iter().map(|form| h.start("survey", form))).await;
    for (status, body) in &answers {
        assert_eq!(
            (*status, body["error"].as_str()),
            (409, Some("already_in_sequence")),
            "{body}"
        );
    }
    let sends: Vec<String> = effects(&h.jobs().await)
        .into_iter()
        .filter(|e| e.starts_with("send:"))
        .collect();
    assert_eq!(sends, ["send:Hi Ann! How would you rate us, 1-10?"]);
}

#[tokio::test]
async fn a_keyword_text_starts_a_run_and_replies_walk_it() {
    let h = harness().await;
    // The keyword (any case) from Ann: the run starts; the text is not forwarded.
    let processed = h.process("SM01", "survey!").await;
    assert_eq!(processed.sequence, took_by_survey());
    assert_eq!(processed.forwarded_to, None);
    assert!(processed.goals.contains(&"Inbound".to_string()));
    let jobs = h.jobs().await;
    assert_eq!(
        effects(&jobs),
        [
            "send:Hi Ann! How would you rate us, 1-10?",
            "note:Sent: Hi Ann! How would you rate us, 1-10?"
        ]
    );
    assert!(
        !jobs
            .iter()
            .any(|j| matches!(j.job, AutomationJob::SendEmail { .. })),
        "a text the run took is not forwarded"
    );

    let steps: [(&str, &str, Vec<&str>); 2] = [
        (
            "SM02",
            "3",
            vec![
                "send:What could we do better?",
                "field:Rating=3",
                "tag:Detractor",
                "note:Reply: 3|Sent: What could we do better?",
            ],
        ),
        (
            "SM03",
            "Faster replies",
            vec![
                "send:Thanks, Ann: you rated us 3.",
                "field:Feedback=Faster replies",
                "note:Reply: Faster replies|Sent: Thanks, Ann: you rated us 3.",
            ],
        ),
    ];
    for (sid, body, want) in steps {
        let processed = h.process(sid, body).await;
        assert_eq!(processed.forwarded_to, None, "{body}");
        assert_eq!(effects(&h.jobs().await), want, "{body}");
    }
    // Finished: the lock is released, and the next text is an ordinary one again.
    assert_eq!(h.active_step(ANN).await, None);
    let processed = h.process("SM04", "Thanks!").await;
    assert_eq!(processed.sequence, Handoff::NotTaken);
    assert_eq!(
        processed.forwarded_to.as_deref(),
        Some("office@acme.example")
    );
    assert!(effects(&h.jobs().await).is_empty());
}

/// A job that is run again (a crash, a redelivery) re-queues the same job ids, so the
/// automation worker runs each effect once; a repeated reply changes nothing.
#[tokio::test]
async fn a_retried_text_queues_the_same_jobs_and_advances_once() {
    let h = harness().await;
    let app = &h.rt.app;
    h.ann_in_the_survey().await;

    let reply = h.text(ANN, "SM10", "9").await;
    process_inner(app, &reply).await.expect("first attempt");
    let first = h.jobs().await;
    process_inner(app, &reply).await.expect("retry");
    let retried = h.jobs().await;
    let ids = |jobs: &[AutomationEnvelope]| -> BTreeSet<String> {
        jobs.iter()
            .filter(|j| j.job_id.starts_with("seq:"))
            .map(|j| j.job_id.to_string())
            .collect()
    };
    assert!(!ids(&first).is_empty());
    assert_eq!(ids(&retried), ids(&first), "the retry queues the same jobs");
    // Running both copies sends the step's message once.
    let mut outcomes = Vec::new();
    for envelope in first.iter().chain(&retried) {
        if matches!(envelope.job, AutomationJob::SequenceSend { .. }) {
            outcomes.push(smsflow_shared::handlers::automation::run(app, envelope).await);
        }
    }
    assert_eq!(outcomes.len(), 2);
    assert_eq!(outcomes[0], JobOutcome::Done);
    assert!(
        matches!(outcomes[1], JobOutcome::Skipped(_)),
        "{outcomes:?}"
    );
    let sends =
        h.rt.queue
            .receive(QueueName::Send, 10, Duration::from_secs(60), Duration::ZERO)
            .await
            .expect("receive");
    assert_eq!(sends.len(), 1, "one send job for the step");

    // The next reply advances from the stored state, once. YES is an opt-in word too: its
    // consent change is the webhook's business; the run takes it as an answer.
    let processed = h.process("SM11", "YES").await;
    assert_eq!(processed.sequence, took_by_survey());
    assert_eq!(
        effects(&h.jobs().await),
        [
            "send:Thanks, Ann: you rated us 9.",
            "field:QuoteOk=YES",
            "tag:Quote OK",
            "note:Reply: YES|Sent: Thanks, Ann: you rated us 9."
        ]
    );
}

#[tokio::test]
async fn stop_inside_a_run_ends_it_with_the_opt_out_tag() {
    let h = harness().await;
    h.ann_in_the_survey().await;

    let processed = h.process("SM20", "STOP").await;
    assert_eq!(
        processed.sequence,
        Handoff::Ended {
            sequence: "survey".into()
        }
    );
    // STOP keeps its usual handling: forwarded, OptOut goal.
    assert!(processed.forwarded_to.is_some());
    assert!(processed.goals.contains(&"OptOut".to_string()));
    assert_eq!(
        effects(&h.jobs().await),
        [
            "tag:Survey opted out",
            "note:Opted out (STOP): the sequence ended."
        ]
    );
    assert_eq!(h.active_step(ANN).await, None);
}

/// A run whose sequence was deleted ends at its next text, which then goes on as an
/// ordinary text.
#[tokio::test]
async fn a_deleted_sequence_ends_its_runs() {
    let h = harness().await;
    let app = &h.rt.app;
    h.ann_in_the_survey().await;
    assert!(
        app.store
            .delete_sequence(&h.account.id, "survey")
            .await
            .expect("delete")
    );
    let processed = h.process("SM30", "8").await;
    assert_eq!(processed.sequence, Handoff::NotTaken);
    assert!(processed.forwarded_to.is_some());
    assert_eq!(h.active_step(ANN).await, None);
}

/// A step's message the carrier refuses because the number is no mobile (the sandbox's
/// magic +15005550009: 21614) ends the run with the invalid-number tag.
#[tokio::test]
async fn an_invalid_number_ends_the_run_with_its_tag() {
    use smsflow_shared::handlers::automation;
    use smsflow_shared::jobs::SendJob;
    use smsflow_shared::usecases::deliver;

    let h = harness().await;
    let app = &h.rt.app;
    const LANDLINE: &str = "+15005550009";
    let ivy = runtime::add_contact(app, &h.account, new_contact("Ivy", LANDLINE)).await;
    let (status, body) = h.start("survey", &format!("contactId={}", ivy.id)).await;
    assert_eq!(status, 202, "{body}");
    for envelope in h.jobs().await {
        if matches!(envelope.job, AutomationJob::SequenceSend { .. }) {
            assert_eq!(automation::run(app, &envelope).await, JobOutcome::Done);
        }
    }
    let sends =
        h.rt.queue
            .receive(QueueName::Send, 10, Duration::from_secs(60), Duration::ZERO)
            .await
            .expect("receive");
    assert_eq!(sends.len(), 1);
    let job: SendJob = serde_json::from_str(&sends[0].body).expect("send job");
    let outcome = deliver::deliver(app, &job).await;
    // Not a mobile is a routine refusal of the carrier's: refused (a warning), not dropped.
    assert!(matches!(outcome, JobOutcome::Refused(_)), "{outcome:?}");

    assert_eq!(h.active_step(LANDLINE).await, None, "the run ended");
    assert_eq!(
        effects(&h.jobs().await),
        [
            "tag:Survey invalid number",
            "note:Not a valid mobile number: the sequence ended."
        ]
    );
    // A redelivered failure changes nothing more.
    assert_eq!(
        sequence::on_invalid_number(app, &h.account, &phone(LANDLINE), &job.message_id)
            .await
            .expect("handled"),
        None
    );
}

/// A sequence that begins with the pre-made e-mail step.
const SIGNUP: &str = r#"
account: acme
name: signup
start: both
keywords: [JOIN]
sender: "+19523142318"
steps:
  - name: ask-city
    message: "Which city are you in?"
    next: finish
"#;

const EMAIL_QUESTION: &str =
    "send:Thanks for reaching out! What's your e-mail address? Reply with it to continue.";

/// The e-mail step asks only a contact whose address the CRM does not have: a keyword
/// start and a CRM start for a contact with one go straight to the next step, and so does
/// a second keyword run once the first saved the address (the cached contact holds it).
#[tokio::test]
async fn the_email_step_asks_only_contacts_without_an_address() {
    let h = harness().await;
    let signup = Sequence::load("signup.yaml", SIGNUP).expect("valid");
    sequence::apply(h.rt.app.store.as_ref(), &signup)
        .await
        .expect("applies");
    const BEA: &str = "+14155552672";
    let bea = NewContact {
        email: Some(EmailAddress::parse("bea@example.com").expect("address")),
        ..new_contact("Bea", BEA)
    };
    let bea = runtime::add_contact(&h.rt.app, &h.account, bea).await;
    let keyword = async |from: &str, sid: &str, body: &str| {
        let text = h.text(from, sid, body).await;
        process_inner(&h.rt.app, &text).await.expect("processed");
        effects(&h.jobs().await)
    };
    let asked = |body: &str| vec![body.to_string()];

    // Ann has no e-mail address: asked; her answer is saved and the run goes on.
    assert_eq!(keyword(ANN, "SM01", "JOIN").await, asked(EMAIL_QUESTION));
    assert_eq!(
        keyword(ANN, "SM02", "ann@example.com").await,
        ["send:Which city are you in?", "email:ann@example.com"]
    );
    assert_eq!(keyword(ANN, "SM03", "Oslo").await, Vec::<String>::new());
    assert_eq!(h.active_step(ANN).await, None, "the first run is over");
    let cases = [
        ("a second keyword run", ANN, "SM04"),
        ("a keyword start, the address on file", BEA, "SM05"),
    ];
    for (what, from, sid) in cases {
        assert_eq!(
            keyword(from, sid, "JOIN").await,
            asked("send:Which city are you in?"),
            "{what}"
        );
    }
    assert_eq!(keyword(BEA, "SM06", "Lisbon").await, Vec::<String>::new());
    let (status, body) = h.start("signup", &format!("contactId={}", bea.id)).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["step"], "ask-city", "a CRM start, the address on file");
    assert_eq!(
        effects(&h.jobs().await),
        asked("send:Which city are you in?")
    );
}

//! One note per conversation: a sequence's messages, and the replies its run takes, go in
//! the sequence's note only (no note per SMS), while a send outside a sequence still
//! writes its SMS note. Through the local server against the Keap mock, which logs every
//! request the Keap adapter makes.

use std::time::Duration;

use smsflow_shared::adapters::embedded::crm::SandboxNote;
use smsflow_shared::domain::sequence::Sequence;
use smsflow_shared::usecases::sequence;
use smsflow_tests::example::{ACME_SEND_KEY, ExampleConfig};
use smsflow_tests::fixtures::{SURVEY, new_contact};
use smsflow_tests::keap_mock::{KeapMock, KeapUser};
use smsflow_tests::local_server::{ExampleServer, crm_send, post_text_to_acme};
use smsflow_tests::poll::{Patience, eventually};
use smsflow_tests::runtime;

const KEAP_KEY: &str = "acme-keap-key";
const ANN: &str = "+14155550301";
const PATIENCE: Patience = Patience {
    within: Duration::from_secs(20),
    every: Duration::from_millis(50),
};

/// Waits until one of the mock's notes on `contact` satisfies `done`; returns them all,
/// as (title, body).
async fn notes_when(
    mock: &KeapMock,
    contact: &str,
    done: impl Fn(&(String, String)) -> bool,
) -> Vec<(String, String)> {
    eventually(PATIENCE, async || {
        let notes: Vec<(String, String)> = mock
            .notes(KEAP_KEY)
            .into_iter()
            .map(|n: SandboxNote| n.note)
            .filter(|n| n.contact_id.as_str() == contact)
            .map(|n| (n.title, n.body))
            .collect();
        if notes.iter().any(&done) {
            Ok(notes)
        } else {
            let requests: Vec<String> = mock
                .requests(KEAP_KEY)
                .iter()
                .map(|r| format!("{} {} {}", r.method, r.path, r.status))
                .collect();
            Err(format!(
                "the notes never got there: {notes:?}; requests: {requests:#?}"
            ))
        }
    })
    .await
}

/// The adapter's note requests (creations and appends), as `METHOD path`.
fn note_requests(mock: &KeapMock) -> Vec<String> {
    mock.requests(KEAP_KEY)
        .iter()
        .filter(|r| r.path.contains("/notes") && r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sequence_writes_its_own_note_only_and_a_plain_send_its_sms_note() {
    let mock = KeapMock::start().await;
    let mary = KeapUser {
        id: 1,
        given_name: "Mary".into(),
        family_name: "Team".into(),
        email: "mary@acme.example".into(),
    };
    mock.add_app(KEAP_KEY, &[mary], &["Rating", "Feedback", "QuoteOk"]);
    let server =
        ExampleServer::start(ExampleConfig::new().keap_crm(&mock.base_url(), KEAP_KEY)).await;
    let app = server.runtime.app.clone();
    let account = runtime::account(&app, "acme").await;
    let survey = Sequence::load("survey.yaml", SURVEY).expect("valid");
    sequence::apply(app.store.as_ref(), &survey)
        .await
        .expect("applies");
    let ann = runtime::add_contact(&app, &account, new_contact("Ann", ANN)).await;
    let ann = ann.id.as_str();

    let conversation = [
        (
            "SM0000000000000000000000000000n001",
            "Survey",
            "rate us, 1-10?",
        ),
        (
            "SM0000000000000000000000000000n002",
            "3",
            "could we do better?",
        ),
        (
            "SM0000000000000000000000000000n003",
            "Faster replies",
            "you rated us 3.",
        ),
    ];
    for (sid, body, last_sent) in conversation {
        assert_eq!(post_text_to_acme(&server, sid, ANN, body).await.0, 200);
        notes_when(&mock, ann, |(_, text)| text.trim_end().ends_with(last_sent)).await;
    }
    // A send outside the sequence: its SMS note. Its jobs come after every job of the run,
    // so once its note is in, any note the run's messages were to write is in too.
    let (status, answer) = crm_send(
        &server,
        "acme",
        ACME_SEND_KEY,
        &[
            ("contactId", ann),
            ("message", "Your quote is ready."),
            ("type", "transactional"),
        ],
    )
    .await;
    assert!((200..300).contains(&status), "{status} {answer}");
    let notes = notes_when(&mock, ann, |(title, _)| title.starts_with("SMS to")).await;
    let titles: Vec<&str> = notes.iter().map(|(title, _)| title.as_str()).collect();
    assert_eq!(
        titles,
        ["SMS sequence: survey", format!("SMS to {ANN}").as_str()]
    );
    assert_eq!(
        notes[0].1,
        "Sent: Hi Ann! How would you rate us, 1-10?\n\
         Reply: 3\n\
         Sent: What could we do better?\n\
         Reply: Faster replies\n\
         Sent: Thanks, Ann: you rated us 3."
    );
    assert!(notes[1].1.starts_with("Your quote is ready."), "{notes:?}");
    // Exactly what the adapter asked of Keap for notes: the sequence's note created once
    // and appended to for each later event, and the send's SMS note; no note per SMS.
    let sequence_note = mock
        .notes(KEAP_KEY)
        .into_iter()
        .find(|n| n.note.title == "SMS sequence: survey")
        .expect("the sequence's note")
        .note
        .id;
    let append = format!("PATCH /crm/rest/v1/notes/{sequence_note}");
    assert_eq!(
        note_requests(&mock),
        [
            "POST /crm/rest/v1/notes",
            &append,
            &append,
            "POST /crm/rest/v1/notes"
        ]
    );
    drop(app);
    server.stop().await;
}

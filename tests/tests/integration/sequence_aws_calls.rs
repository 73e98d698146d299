//! AWS calls per sequence step, counted against moto (DynamoDB + SQS; the CRM is the
//! sandbox one, so CRM calls are not AWS calls). Like `aws_calls.rs`: the counts are part
//! of the design, reported in BENCHMARKS.md; a change that adds a call here has to change
//! this test and say why.

use smsflow_shared::adapters::aws::sqs::SqsQueue;
use smsflow_shared::domain::Timestamp;
use smsflow_shared::domain::keywords::KeywordClass;
use smsflow_shared::domain::sequence::Sequence;
use smsflow_shared::handlers::automation;
use smsflow_shared::jobs::InboundText;
use smsflow_shared::jobs::{AutomationEnvelope, AutomationJob};
use smsflow_shared::ports::{Contact, QueueName};
use smsflow_shared::usecases::JobOutcome;
use smsflow_shared::usecases::sequence::{self, Handoff};
use smsflow_tests::aws_app::{MotoApp, MotoCrm};
use smsflow_tests::fixtures::{SURVEY, new_contact, phone};
use smsflow_tests::runtime::{self, Drain, drain};

const ANN: &str = "+14155552671";

fn text(sid: &str, body: &str) -> InboundText {
    InboundText {
        account: "acme".parse().expect("id"),
        message_sid: sid.into(),
        message_id: "01J00000000000000000000000".into(),
        from: phone(ANN),
        to: phone("+19523142318"),
        body: body.into(),
        media_urls: vec![],
        keyword: KeywordClass::None,
        received_at: Timestamp::from_millis(1_795_000_000_000),
    }
}

/// Ann's text `body` handed to the sequences (inside the inbound job): a run takes it.
async fn run_takes(moto: &MotoApp, ann: &Contact, sid: &str, body: &str) {
    let text = text(sid, body);
    let handoff = sequence::on_inbound(&moto.app, &moto.account, &text, Some(ann))
        .await
        .expect("handed off");
    assert!(matches!(handoff, Handoff::Took { .. }), "{handoff:?}");
}

/// Takes every job off the automation queue.
async fn queued_jobs(queue: &SqsQueue) -> Vec<AutomationEnvelope> {
    drain(queue, QueueName::Automation, Drain::Delete)
        .await
        .iter()
        .map(|m| serde_json::from_str(&m.body).expect("automation job"))
        .collect()
}

/// Runs every job on the automation queue, as the worker does (each must be done): the
/// kind of each and the AWS calls it made, in the order run.
async fn run_queued_jobs(moto: &MotoApp) -> Vec<(&'static str, Vec<String>)> {
    let mut calls = Vec::new();
    for envelope in queued_jobs(&moto.queue).await {
        moto.take_calls();
        let outcome = automation::run(&moto.app, &envelope).await;
        assert_eq!(outcome, JobOutcome::Done, "{:?}", envelope.job);
        calls.push((kind(&envelope.job), moto.take_calls()));
    }
    calls
}

/// The calls of the first job of `kind` among `run`.
fn calls_of(run: &[(&'static str, Vec<String>)], kind: &str) -> Vec<String> {
    run.iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, calls)| calls.clone())
        .unwrap_or_else(|| panic!("no {kind} job"))
}

fn kind(job: &AutomationJob) -> &'static str {
    match job {
        AutomationJob::SequenceSend { .. } => "sequence_send",
        AutomationJob::SetCustomField { .. } => "set_custom_field",
        AutomationJob::ApplyTag { .. } => "apply_tag",
        AutomationJob::SequenceNote { .. } => "sequence_note",
        AutomationJob::AchieveGoal { .. } => "achieve_goal",
        _ => "other",
    }
}

#[tokio::test]
async fn sequence_step_aws_calls() {
    let moto = MotoApp::start("seqcalls", MotoCrm::Sandbox, None).await;
    let (app, account) = (&moto.app, &moto.account);
    let take = || moto.take_calls();
    let survey = Sequence::load("survey.yaml", SURVEY).expect("valid");
    sequence::apply(app.store.as_ref(), &survey)
        .await
        .expect("applies");
    let ann = runtime::add_contact(app, account, new_contact("Ann", ANN)).await;
    take();

    let mut report = Vec::new();
    let mut check = |what: &str, calls: Vec<String>, expected: &[&str]| {
        report.push(format!(
            "{what}: {} calls: {}",
            calls.len(),
            calls.join(", ")
        ));
        assert_eq!(calls, expected, "{what}");
    };

    // 1. A keyword text starts a run (inside the inbound job, after the contact step).
    run_takes(&moto, &ann, "SM01", "survey").await;
    check(
        "keyword start",
        take(),
        &[
            "GetItem",          // active session of the contact (none)
            "Query",            // the account's sequences (keyword match)
            "GetItem",          // opt-out
            "PutItem",          // the session lock, conditional, with the first state
            "SendMessageBatch", // the first message's job and the note's job
        ],
    );

    // 2. Each effect job in the automation worker.
    let by_kind = run_queued_jobs(&moto).await;
    let job_calls = |kind: &str| calls_of(&by_kind, kind);
    check(
        "sequence_send job",
        job_calls("sequence_send"),
        &[
            "PutItem",            // the job's claim
            "GetItem",            // account
            "BatchGetItem",       // opt-out and phone health
            "TransactWriteItems", // admission: the message's slot and the counter
            "UpdateItem",         // the sender's next slot
            "SendMessage",        // the send job, delayed until its slot
            "SendMessage",        // SMSsendRequestReceived goal
            "UpdateItem",         // the job's outcome
        ],
    );
    check(
        "sequence_note job, first line (creates the note)",
        job_calls("sequence_note"),
        &[
            "PutItem",    // the job's claim
            "GetItem",    // account
            "GetItem",    // the note id (none yet)
            "PutItem",    // the note-creation lock
            "PutItem",    // the note id, written once
            "DeleteItem", // the lock given back
            "UpdateItem", // the job's outcome
        ],
    );

    // 3. A reply that does not finish the run ("9": the quote question next), its effect
    //    jobs run; then the reply that finishes it (a closing step). A reply that does not
    //    finish the run makes the same calls but the last (the lock stays).
    run_takes(&moto, &ann, "SM02", "9").await;
    run_queued_jobs(&moto).await;
    run_takes(&moto, &ann, "SM03", "Yes").await;
    check(
        "reply (last step)",
        take(),
        &[
            "GetItem",          // active session
            "GetItem",          // the sequence
            "PutItem",          // the new state, conditional on the revision read
            "SendMessageBatch", // the closing message's, field's, tag's and note's jobs
            "DeleteItem",       // the run is over: the lock is released
        ],
    );
    let seen = run_queued_jobs(&moto).await;
    for (kind, expected) in [
        (
            "set_custom_field",
            &["PutItem", "GetItem", "UpdateItem"][..],
        ),
        ("apply_tag", &["PutItem", "GetItem", "UpdateItem"][..]),
        (
            "achieve_goal",
            // The job's claim, the account with the goal's disabled flag, the goal's log
            // entry, the job's outcome (the CRM call between is not AWS).
            &["PutItem", "BatchGetItem", "PutItem", "UpdateItem"][..],
        ),
        (
            "sequence_note",
            // An existing note: read its id and append (a CRM call).
            &["PutItem", "GetItem", "GetItem", "UpdateItem"][..],
        ),
    ] {
        check(&format!("{kind} job"), calls_of(&seen, kind), expected);
    }

    for line in &report {
        println!("{line}");
    }
}

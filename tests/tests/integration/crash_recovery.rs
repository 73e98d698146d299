//! Work a process left behind when it died (a crash, a Lambda timeout, a lost instance) is
//! taken over, neither lost nor done twice. Each case sets up the store as the dead
//! process left it, then runs the worker (or the request) again, on the local runtime with
//! no consumers (every effect stays on its queue). The crash suite (`crash.rs`) kills real
//! processes; these cases pin each point a process can die at.

use std::time::Duration;

use smsflow_shared::domain::send_request::SendFields;
use smsflow_shared::domain::{
    IdempotencyKey, MessageId, MessageRecord, MessageSid, MessageStatus, Timestamp,
};
use smsflow_shared::handlers::automation;
use smsflow_shared::jobs::SendJob;
use smsflow_shared::jobs::{AutomationEnvelope, AutomationJob, JobId};
use smsflow_shared::local::{Leases, LocalOptions, LocalRuntime};
use smsflow_shared::ports::{
    AttemptState, ClaimTerms, ConsentRecord, QueueName, SmsProvider, derived_id,
};
use smsflow_shared::usecases::deliver;
use smsflow_shared::usecases::{JobOutcome, send_request};
use smsflow_tests::example::ExampleConfig;
use smsflow_tests::fixtures::{new_contact, phone, send_job};
use smsflow_tests::runtime::{self, Drain};

const TO: &str = "+14155552671";

/// The example's runtime in memory, its leases `lease` long.
async fn runtime_with(lease: Duration) -> LocalRuntime {
    let options = LocalOptions {
        leases: Leases::all(lease),
        ..LocalOptions::default()
    };
    runtime::in_memory_with(&ExampleConfig::new().parse(), options).await
}

/// How far the dead worker got with a send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DiedAfter {
    /// Recorded the attempt; the provider never got the request.
    Attempt,
    /// The provider took the message; its answer was lost.
    ProviderTook,
    /// The SID was attached (or a status callback attached it) before the end.
    SidAttached,
}

/// One case: where the worker died, whether the phone opted out since, and the lease
/// before the provider may be asked.
struct Case {
    name: &'static str,
    died_after: DiedAfter,
    opted_out_since: bool,
    lease: Duration,
    outcome: fn(&JobOutcome) -> bool,
    /// Messages at the carrier afterwards.
    at_carrier: usize,
    status: MessageStatus,
    goals: &'static [&'static str],
    /// Admitted sends left afterwards.
    pending: u32,
}

/// A case whose send is resolved as sent once: at the carrier, its goal fired, done.
const fn sent_once(name: &'static str, died_after: DiedAfter, lease: Duration) -> Case {
    Case {
        name,
        died_after,
        opted_out_since: false,
        lease,
        outcome: |o| *o == JobOutcome::Done,
        at_carrier: 1,
        status: MessageStatus::Queued,
        goals: &["SendAuto"],
        pending: 0,
    }
}

const CASES: &[Case] = &[
    sent_once(
        "died before the provider got it: sent once, after the lease",
        DiedAfter::Attempt,
        Duration::ZERO,
    ),
    sent_once(
        "the provider took it: found there, not sent again",
        DiedAfter::ProviderTook,
        Duration::ZERO,
    ),
    sent_once(
        "its SID is on the message: done without asking the provider",
        DiedAfter::SidAttached,
        Duration::from_secs(600),
    ),
    Case {
        name: "too soon to ask: back on the queue, nothing sent yet",
        died_after: DiedAfter::Attempt,
        opted_out_since: false,
        lease: Duration::from_secs(600),
        outcome: |o| matches!(o, JobOutcome::Skipped(why) if why.contains("asked at")),
        at_carrier: 0,
        status: MessageStatus::Queued,
        goals: &[],
        pending: 1,
    },
    Case {
        name: "a STOP stored since: not sent, canceled, the CRM told",
        died_after: DiedAfter::Attempt,
        opted_out_since: true,
        lease: Duration::ZERO,
        outcome: |o| matches!(o, JobOutcome::Refused(why) if why.contains("opted out")),
        at_carrier: 0,
        status: MessageStatus::Canceled,
        goals: &["BlockedNumber", "SendFailed"],
        pending: 0,
    },
];

#[tokio::test]
async fn a_send_whose_worker_died_is_resolved_not_dropped() {
    for case in CASES {
        resolve_after_a_dead_worker(case, false).await;
    }
}

/// The same on Instasent: a lost answer is found at the provider by our `clientId`.
#[tokio::test]
async fn a_send_on_instasent_whose_worker_died_is_resolved_not_dropped() {
    for case in CASES {
        resolve_after_a_dead_worker(case, true).await;
    }
}

/// acme moved to Instasent (the sandbox carrier plays it).
async fn move_to_instasent(app: &smsflow_shared::app::App) {
    use smsflow_shared::domain::{InstasentCredentials, Secret, SmsProviderKind};
    let mut acme = runtime::account(app, "acme").await;
    acme.provider = SmsProviderKind::Instasent;
    acme.instasent = Some(InstasentCredentials {
        api_token: Secret::new("token"),
        base_url: None,
        callback_secret: Some(Secret::new("crash-recovery-secret")),
    });
    app.store
        .put_account(&acme)
        .await
        .expect("acme on Instasent");
}

async fn resolve_after_a_dead_worker(case: &Case, on_instasent: bool) {
    let rt = runtime_with(case.lease).await;
    let app = rt.app.clone();
    if on_instasent {
        move_to_instasent(&app).await;
    }
    let acme = runtime::account(&app, "acme").await;
    let job = SendJob {
        contact_id: Some("c1".into()),
        ..send_job(app.ids.new_id(), &acme, phone(TO), "Your roof is booked")
    };
    leave_as_dead_worker(&rt, &job, case.died_after).await;
    if case.opted_out_since {
        let stop = ConsentRecord {
            opted_out: true,
            changed_at: app.clock.now(),
            source: "STOP keyword".into(),
        };
        app.store
            .set_consent(&acme.id, &job.to, &stop)
            .await
            .expect("STOP stored");
    }

    let outcome = deliver::deliver(&app, &job).await;
    let name = case.name;
    let provider =
        (rt.carrier.messages(1).await.expect("carrier").first()).map(|m| m.provider.as_str());
    if on_instasent && case.at_carrier == 1 {
        assert_eq!(provider, Some("instasent"), "{name}");
    }
    assert!((case.outcome)(&outcome), "{name}: {outcome:?}");
    let carrier = rt.carrier.messages(10).await.expect("carrier");
    assert_eq!(carrier.len(), case.at_carrier, "{name}");
    let stored = stored_message(&rt, &job).await;
    assert_eq!(stored.status, case.status, "{name}");
    if case.at_carrier == 1 && case.pending == 0 {
        assert_eq!(
            stored.provider_sid.as_ref().map(MessageSid::as_str),
            Some(carrier[0].sid.as_str()),
            "{name}"
        );
        assert!(
            matches!(
                app.store
                    .send_attempt(&job.message_id)
                    .await
                    .expect("attempt"),
                Some(AttemptState::Finished { .. })
            ),
            "{name}"
        );
    }
    assert_eq!(
        runtime::queued_goals(rt.queue.as_ref()).await,
        case.goals,
        "{name}"
    );
    let pending = app.store.pending_sends(&acme.id).await.expect("pending");
    assert_eq!(pending, case.pending, "{name}");

    // Delivered again (SQS's at-least-once): nothing more happens.
    let again = deliver::deliver(&app, &job).await;
    if case.pending == 0 {
        assert!(matches!(again, JobOutcome::Skipped(_)), "{name}: {again:?}");
    }
    let carrier_again = rt.carrier.messages(10).await.expect("carrier");
    assert_eq!(carrier_again.len(), case.at_carrier, "{name}: redelivered");
}

/// The store as a worker that died after `died_after` left it: the message admitted and
/// recorded, its attempt on record, and what the provider and the SID got.
async fn leave_as_dead_worker(rt: &LocalRuntime, job: &SendJob, died_after: DiedAfter) {
    let app = &rt.app;
    let account = runtime::account(app, job.account.as_str()).await;
    assert!(
        app.store
            .try_admit(&account.id, &job.message_id, 10)
            .await
            .expect("admitted")
    );
    let now = app.clock.now();
    app.store
        .record_message(&queued(job, now))
        .await
        .expect("recorded");
    app.store
        .begin_attempt(&account.id, &job.to, &job.message_id, None, now)
        .await
        .expect("attempt recorded");
    if died_after == DiedAfter::Attempt {
        return;
    }
    let request = smsflow_shared::ports::OutboundSms {
        to: job.to.clone(),
        sender: job.sender.clone(),
        body: job.body.clone(),
        media_urls: vec![],
        status_callback: None,
        client_id: Some(job.message_id.to_string()),
    };
    let provider = account.provider_of(job.sender.number());
    let credentials = account
        .credentials(provider)
        .expect("the sender's credentials");
    let accepted = rt
        .carrier
        .send(credentials, &request)
        .await
        .expect("carrier took it");
    if died_after == DiedAfter::SidAttached {
        app.store
            .attach_provider_sid(&account.id, &job.to, &job.message_id, &accepted.sid)
            .await
            .expect("SID attached");
    }
}

fn queued(job: &SendJob, now: Timestamp) -> MessageRecord {
    MessageRecord {
        id: job.message_id.clone(),
        account: job.account.clone(),
        contact_phone: job.to.clone(),
        our_sender: job.sender.as_str().to_string(),
        direction: smsflow_shared::domain::Direction::Outbound,
        body: job.body.clone(),
        media_urls: vec![],
        status: MessageStatus::Queued,
        provider_sid: None,
        error_code: None,
        user_id: None,
        campaign: None,
        kind: None,
        contact_id: job.contact_id.clone(),
        created_at: now,
        updated_at: now,
        routing: None,
    }
}

async fn stored_message(rt: &LocalRuntime, job: &SendJob) -> MessageRecord {
    rt.app
        .store
        .message(&job.account, &job.to, &job.message_id)
        .await
        .expect("store")
        .expect("the message is stored")
}

/// A CRM's retry of a request whose handler died after claiming it: answered `in_progress`
/// while the lease runs, then taken over, under the message id the first handler would
/// have used (so a send it queued before dying is the same message, sent once).
#[tokio::test]
async fn a_request_whose_handler_died_is_taken_over_after_its_lease() {
    let lease = Duration::from_millis(300);
    let rt = runtime_with(lease).await;
    let app = rt.app.clone();
    let acme = runtime::account(&app, "acme").await;
    let key = &IdempotencyKey::send_request_by_id(&acme.id, "crm-42");
    let died_at = app.clock.now();
    let terms = ClaimTerms {
        keep: Duration::from_secs(3600),
        lease,
    };
    app.store.claim(key, terms, died_at).await.expect("claimed");

    let fields = SendFields::from_form(
        format!(
            "phone={}&message=Hi&type=transactional&requestId=crm-42",
            TO.replace('+', "%2B")
        )
        .as_bytes(),
    )
    .expect("form");
    let retry = send_request::request_send(&app, &acme, &fields)
        .await
        .expect("handled");
    assert_eq!(retry.code.as_deref(), Some("in_progress"), "{retry:?}");

    tokio::time::sleep(lease + Duration::from_millis(50)).await;
    let taken_over = send_request::request_send(&app, &acme, &fields)
        .await
        .expect("handled");
    assert_eq!(
        taken_over.message_id.as_ref().map(MessageId::as_str),
        Some(derived_id(died_at, key.as_str()).as_str()),
        "{taken_over:?}"
    );
    let repeat = send_request::request_send(&app, &acme, &fields)
        .await
        .expect("handled");
    assert!(repeat.repeated, "{repeat:?}");
    assert_eq!(repeat.message_id, taken_over.message_id);
    assert_eq!(app.store.pending_sends(&acme.id).await.expect("pending"), 1);
    let queued = runtime::drain(rt.queue.as_ref(), QueueName::Send, Drain::Delete).await;
    assert_eq!(queued.len(), 1);
}

/// An automation job claimed by a worker that died: a redelivery while the lease runs goes
/// back on the queue (not a failed try), one after it runs the job.
#[tokio::test]
async fn an_automation_job_whose_worker_died_runs_after_its_lease() {
    let lease = Duration::from_millis(300);
    let rt = runtime_with(lease).await;
    let app = rt.app.clone();
    let acme = runtime::account(&app, "acme").await;
    let ann = runtime::add_contact(&app, &acme, new_contact("Ann", TO)).await;
    let envelope = AutomationEnvelope {
        job_id: JobId::fresh("tag:crash-test".into()),
        job: AutomationJob::ApplyTag {
            account: acme.id.clone(),
            contact_id: ann.id.clone(),
            tag: "crash-test".into(),
        },
    };
    let terms = ClaimTerms {
        keep: Duration::from_secs(3600),
        lease,
    };
    app.store
        .claim(
            &IdempotencyKey::automation_job("tag:crash-test"),
            terms,
            app.clock.now(),
        )
        .await
        .expect("claimed by the worker that died");

    let held = automation::run(&app, &envelope).await;
    assert!(
        matches!(&held, JobOutcome::Skipped(why) if why.contains("running elsewhere")),
        "{held:?}"
    );
    let requeued = runtime::drain(rt.queue.as_ref(), QueueName::Automation, Drain::Hide).await;
    assert!(
        requeued.is_empty(),
        "delayed until the lease ends: {requeued:?}"
    );

    tokio::time::sleep(lease + Duration::from_millis(50)).await;
    let requeued = runtime::drain(rt.queue.as_ref(), QueueName::Automation, Drain::Delete).await;
    assert_eq!(requeued.len(), 1, "back when the lease ended");
    assert_eq!(automation::run(&app, &envelope).await, JobOutcome::Done);
    let again = automation::run(&app, &envelope).await;
    assert_eq!(again, JobOutcome::Skipped("job already handled".into()));
}

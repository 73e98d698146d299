//! A failing CRM delays an inbound text's goals and loses none: the local server on a mock
//! Keap that answers 503, then 429s with `Retry-After`, then works again. The webhook
//! answers at once (it never calls the CRM); the automation queue's redelivery is what
//! brings the work back, with retries made fast for the test.

use std::time::{Duration, Instant};

use smsflow_shared::local::{LocalOptions, RetryBackoff, RunningServer};
use smsflow_tests::example::{ExampleConfig, NEW_TEXT_WITH_EMAIL_GOALS};
use smsflow_tests::keap_mock::{KeapMock, KeapUser, LoggedRequest, ScriptedFailure};
use smsflow_tests::local_server::{ExampleServer, post_text_to_acme};
use smsflow_tests::poll::{Patience, eventually};

const KEAP_KEY: &str = "acme-keap-key";
const SID: &str = "SM0000000000000000000000000000f001";
const GOALS_PATH: &str = "/crm/rest/v2/automations/goals/achieve";
/// The queue's first redelivery delay in this test (then 2x, 4x...).
const FIRST_RETRY: Duration = Duration::from_millis(200);

/// Posts a Twilio-signed inbound text; returns the status, the body and how long the
/// answer took.
async fn text_us(server: &RunningServer) -> (u16, String, Duration) {
    let started = Instant::now();
    let text = "Anyone there? I'm at ann@example.com";
    let (status, body) = post_text_to_acme(server, SID, "+14155552679", text).await;
    (status, body, started.elapsed())
}

fn summary(requests: &[LoggedRequest]) -> Vec<(String, String, u16)> {
    requests
        .iter()
        .map(|r| (r.method.clone(), r.path.clone(), r.status))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goals_arrive_once_each_after_5xx_and_429s() {
    let mock = KeapMock::start().await;
    mock.add_app(
        KEAP_KEY,
        &[KeapUser {
            id: 1,
            given_name: "Mary".into(),
            family_name: "Anders".into(),
            email: "mary@acme.example".into(),
        }],
        &[],
    );
    // Attempt 1 meets a 503. Attempt 2 meets 429s: the adapter waits out two short
    // Retry-Afters in place, then leaves the job to the queue. Attempt 3 goes through.
    let rate_limited = ScriptedFailure::RateLimited {
        retry_after_secs: 1,
    };
    mock.fail_next(
        KEAP_KEY,
        &[
            ScriptedFailure::ServerError(503),
            rate_limited,
            rate_limited,
            rate_limited,
        ],
    );
    // Then Keap fails two goal calls: those goal jobs go back to the queue on their own.
    mock.fail_next_on(
        KEAP_KEY,
        "POST",
        GOALS_PATH,
        &[
            ScriptedFailure::ServerError(502),
            ScriptedFailure::ServerError(500),
        ],
    );
    let options = LocalOptions {
        retry_backoff: RetryBackoff {
            first: FIRST_RETRY,
            max: Duration::from_secs(2),
        },
        ..LocalOptions::default()
    };
    let config = ExampleConfig::new().keap_crm(&mock.base_url(), KEAP_KEY);
    let server = ExampleServer::start_with(config, options).await;

    let (status, body, took) = text_us(&server).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.ends_with("<Response/>"), "{body}");
    assert!(took < Duration::from_secs(1), "the webhook took {took:?}");

    let expected = NEW_TEXT_WITH_EMAIL_GOALS;
    let patience = Patience {
        within: Duration::from_secs(15),
        every: Duration::from_millis(50),
    };
    eventually(patience, async || {
        if mock.achieved_goals(KEAP_KEY).len() < expected.len() {
            Err(format!(
                "goals never arrived: {:?}",
                summary(&mock.requests(KEAP_KEY))
            ))
        } else {
            Ok(())
        }
    })
    .await;
    // Longer than any redelivery that could still be pending: nothing more arrives.
    tokio::time::sleep(4 * FIRST_RETRY + Duration::from_millis(500)).await;

    let mut goals: Vec<String> = mock
        .achieved_goals(KEAP_KEY)
        .into_iter()
        .map(|g| g.call_name)
        .collect();
    goals.sort_unstable();
    assert_eq!(goals, expected, "each goal exactly once");

    let requests = mock.requests(KEAP_KEY);
    let searched = |status: u16| {
        (
            "GET".to_string(),
            "/crm/rest/v2/contacts".to_string(),
            status,
        )
    };
    assert_eq!(
        summary(&requests[..5]),
        [
            searched(503),
            searched(429),
            searched(429),
            searched(429),
            searched(200)
        ],
        "the phone search, tried by three deliveries of the job"
    );
    let gap = |i: usize| requests[i].at - requests[i - 1].at;
    // The 503 failed delivery 1: the queue delivered the job again after its backoff.
    assert!(gap(1) >= FIRST_RETRY, "redelivered after {:?}", gap(1));
    // Retry-After: 1 was obeyed in place, twice.
    for i in [2, 3] {
        assert!(
            gap(i) >= Duration::from_secs(1),
            "request {i}: {:?}",
            gap(i)
        );
    }
    // The third 429 failed delivery 2: the queue's second, longer backoff.
    assert!(gap(4) >= 2 * FIRST_RETRY, "redelivered after {:?}", gap(4));
    let goal_answers: Vec<u16> = requests
        .iter()
        .filter(|r| r.path == GOALS_PATH)
        .map(|r| r.status)
        .collect();
    assert_eq!(
        goal_answers.iter().filter(|s| **s >= 500).count(),
        2,
        "{goal_answers:?}"
    );
    assert_eq!(
        goal_answers.iter().filter(|s| **s == 200).count(),
        expected.len(),
        "one successful call per goal: {goal_answers:?}"
    );
    let created: Vec<_> = requests
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/crm/rest/v2/contacts")
        .collect();
    assert_eq!(created.len(), 1, "one contact, not one per delivery");

    let emails = server.runtime.outbox.list(10).await.expect("outbox");
    let forwards = emails
        .iter()
        .filter(|e| serde_json::to_string(e).is_ok_and(|json| json.contains(SID)))
        .count();
    assert_eq!(forwards, 1, "the text is forwarded once");
    server.stop().await;
}

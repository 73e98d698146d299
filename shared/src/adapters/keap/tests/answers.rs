//! How Keap's answers and failures map to `CrmError`, ids that are not Keap's, and the
//! rate limits: 429s waited out or handed back, calls paced per token.

use std::time::Instant;

use super::*;
use crate::adapters::keap::client::rate_limit_key;
use crate::adapters::test_support::{
    CrmErrorCase, assert_crm_errors, unauthorized, unavailable, unreachable_origin,
};

#[tokio::test]
async fn keap_answers_map_to_crm_errors() {
    let cases: Vec<CrmErrorCase> = vec![
        (ResponseTemplate::new(500), "500", unavailable),
        (ResponseTemplate::new(503), "503", unavailable),
        (ResponseTemplate::new(401), "401", unauthorized),
        (ResponseTemplate::new(403), "403", unauthorized),
        (
            ResponseTemplate::new(404),
            "404",
            |e| matches!(e, CrmError::NotFound(m) if m == "contact '5'"),
        ),
        (
            ResponseTemplate::new(400).set_body_json(json!({
                "code": 400, "message": "Invalid call_name", "status": "BAD_REQUEST"
            })),
            "400 with Keap's message",
            |e| matches!(e, CrmError::Rejected(m) if m.contains("Invalid call_name")),
        ),
        (
            ResponseTemplate::new(429).insert_header("Retry-After", "120"),
            "429, long Retry-After",
            |e| {
                *e == CrmError::RateLimited {
                    retry_after: Some(Duration::from_secs(120)),
                }
            },
        ),
        (
            ResponseTemplate::new(200).set_body_string("<html>maintenance</html>"),
            "200 that is not JSON",
            unavailable,
        ),
    ];
    assert_crm_errors(cases, async |server| achieve(server, "Sent").await).await;
}

#[tokio::test]
async fn an_unreachable_keap_is_unavailable() {
    let account = account_with(
        format!("{}/crm", unreachable_origin()),
        KeapAuth::ApiKey {
            key: Secret::new(KEY),
        },
    );
    let crm = KeapCrm::new(http(), KeapSettings::default(), memory_store());
    assert_unavailable(crm.user(&account, "1").await);
}

#[test]
fn ids_that_are_not_keap_ids_are_refused() {
    let cases = [
        ("5", Some(5)),
        ("9223372036854775807", Some(i64::MAX as u64)),
        ("9223372036854775808", None),
        ("", None),
        ("-5", None),
        ("5/../6", None),
        ("+5", None),
        ("５", None),
    ];
    for (input, expected) in cases {
        assert_eq!(numeric_id(input), expected, "{input:?}");
    }
}

/// Keap's 429 asking to wait `seconds`.
fn too_many_requests(seconds: &str) -> ResponseTemplate {
    ResponseTemplate::new(429).insert_header("Retry-After", seconds)
}

#[tokio::test]
async fn a_short_retry_after_is_waited_out_then_retried() {
    let server = MockServer::start().await;
    expect_first(&server, keap_get(USER_1), too_many_requests("1")).await;
    expect(&server, 1, keap_get(USER_1), mary()).await;
    let started = Instant::now();
    let user = keap(&server)
        .user(&api_key_account(&server), "1")
        .await
        .expect("succeeds after the wait");
    assert_eq!(user.map(|u| u.name), Some("Mary".into()));
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn repeated_429s_give_up_after_the_retry_budget() {
    let server = MockServer::start().await;
    expect(&server, 3, keap_get(USER_1), too_many_requests("0")).await;
    let result = keap(&server).user(&api_key_account(&server), "1").await;
    assert_eq!(
        result,
        Err(CrmError::RateLimited {
            retry_after: Some(Duration::ZERO)
        })
    );
}

#[tokio::test]
async fn calls_are_paced_to_ten_per_second_per_token() {
    let server = MockServer::start().await;
    expect(&server, 25, keap_get(USER_1), mary()).await;
    let (crm, account) = keap_and_account(&server);

    let started = Instant::now();
    for _ in 0..25 {
        crm.user(&account, "1").await.expect("read");
    }
    let elapsed = started.elapsed();

    let CrmConnection::Keap { auth, .. } = &account.crm else {
        unreachable!("the test account uses Keap")
    };
    let reserved = crm
        .client
        .rate_limiter()
        .reserved(&rate_limit_key(&account, auth));
    assert_eq!(reserved.len(), 25);
    // Calls 11-20 start a second after calls 1-10, calls 21-25 a second after 11-15.
    for i in 10..25 {
        assert!(
            reserved[i] - reserved[i - 10] >= Duration::from_secs(1),
            "call {} started too early",
            i + 1
        );
    }
    assert!(
        elapsed >= Duration::from_millis(1900),
        "25 calls took {elapsed:?}"
    );
}

//! Keywords at the webhook: STOP wins before anything else, consent is recorded before the
//! answer, and smsflow answers a keyword only where Twilio did not.

use smsflow_shared::domain::AccountId;
use smsflow_shared::usecases::WebhookRequest;
use smsflow_shared::usecases::inbound::{self, EMPTY_TWIML, twiml};
use smsflow_tests::example::{ACME_TWILIO_SID, ExampleConfig};
use smsflow_tests::{fixtures, runtime, twilio};

const URL: &str = "https://sms.example.com/twilio/inbound";
const LONG_CODE: &str = "+19523142318"; // Twilio's default keyword handling
const ADVANCED: &str = "+18885550100"; // Advanced Opt-Out (example config), as a long code

/// (to, body, OptOutType, opted out afterwards (None: unchanged), our answer)
type Case<'a> = (
    &'a str,
    &'a str,
    Option<&'a str>,
    Option<bool>,
    Option<&'a str>,
);

fn request(n: u32, to: &str, body: &str, opt_out_type: Option<&str>) -> WebhookRequest {
    let sid = format!("SM{n:032x}");
    let mut params = vec![
        ("AccountSid", ACME_TWILIO_SID),
        ("MessageSid", sid.as_str()),
        ("From", "+14155552671"),
        ("To", to),
        ("Body", body),
    ];
    if let Some(kind) = opt_out_type {
        params.push(("OptOutType", kind));
    }
    twilio::webhook_request(URL, &params)
}

#[tokio::test]
async fn keywords_set_consent_and_answer_only_where_twilio_did_not() {
    // The example's second number is toll-free with Advanced Opt-Out; on toll-free the
    // carrier answers STOP/START itself, so make it a long code to see our answers.
    let config = ExampleConfig::new()
        .replace_first("kind = \"toll_free\"", "kind = \"long_code\"")
        .parse();
    let replies = config.accounts[0].replies.clone();
    let rt = runtime::in_memory(&config, Some("https://sms.example.com")).await;
    let acme = AccountId::parse("acme").expect("id");
    let phone = fixtures::phone("+14155552671");
    let help = replies.help.as_deref();
    let stop = replies.opt_out.as_deref();
    let start = replies.opt_in.as_deref();

    let cases: &[Case] = &[
        (LONG_CODE, "Hello", None, None, None),
        // Twilio's built-in handling answered these on a long code: we stay silent.
        (LONG_CODE, "STOP", None, Some(true), None),
        (LONG_CODE, "start", None, Some(false), None),
        (LONG_CODE, "HELP", None, Some(false), None),
        (LONG_CODE, " stop! ", None, Some(true), None),
        (LONG_CODE, "Please stop texting me", None, None, None),
        (LONG_CODE, "unstop", None, Some(false), None),
        // Advanced Opt-Out: Twilio sends OptOutType when it matched and answered...
        (ADVANCED, "ARRET", Some("STOP"), Some(true), None),
        (ADVANCED, "yes", Some("START"), Some(false), None),
        // ...and a keyword it did not match is ours to answer.
        (ADVANCED, "QUIT", None, Some(true), stop),
        (ADVANCED, "UNSTOP", None, Some(false), start),
        (ADVANCED, "info", None, Some(false), help),
    ];
    for (n, (to, body, opt_out_type, opted_out, answer)) in cases.iter().enumerate() {
        let n = u32::try_from(n).expect("few cases");
        let got = inbound::receive(&rt.app, &request(n + 1, to, body, *opt_out_type))
            .await
            .unwrap_or_else(|e| panic!("{body:?}: {e}"));
        assert_eq!(got, twiml(*answer), "{to} {body:?}");
        let consent = rt.app.store.consent(&acme, &phone).await.expect("store");
        assert_eq!(
            consent.map(|c| c.opted_out),
            opted_out.or(consent_before(cases, n as usize)),
            "{to} {body:?}"
        );
    }
    assert_ne!(
        twiml(help),
        EMPTY_TWIML,
        "the example configures a HELP reply"
    );
}

/// Consent is only changed by opt-out/opt-in words; HELP and plain texts leave it as it was.
fn consent_before(cases: &[Case], upto: usize) -> Option<bool> {
    cases[..upto].iter().rev().find_map(|c| c.3)
}

#[tokio::test]
async fn a_retried_old_stop_does_not_undo_a_later_start() {
    let rt = runtime::in_memory(
        &ExampleConfig::new().parse(),
        Some("https://sms.example.com"),
    )
    .await;
    let acme = AccountId::parse("acme").expect("id");
    let phone = fixtures::phone("+14155552671");
    let stop = request(1, LONG_CODE, "STOP", None);
    let start = request(2, LONG_CODE, "START", None);
    for step in [&stop, &start, &stop] {
        inbound::receive(&rt.app, step).await.expect("accepted");
        // Distinct receipt times (milliseconds).
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let consent = rt.app.store.consent(&acme, &phone).await.expect("store");
    assert_eq!(
        consent.map(|c| c.opted_out),
        Some(false),
        "Twilio's retry of the first STOP must not undo the START after it"
    );
}

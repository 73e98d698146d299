//! An account on Instasent, end to end: it sends through Instasent (the sandbox carrier
//! playing it locally, the Instasent stand-in on the stack), gets delivery reports on its
//! callback URL, and fires the same goals and phone states a Twilio account would: a
//! delivery (`GoodNumber`), a bounce (`BadNumber`, the phone bounced after `bounce_after`
//! hard failures), a `stop` (`OptOut`, then a refused send; a survey run ended with its
//! opt-out tag). A report with another secret changes nothing.

use smsflow_shared::adapters::embedded::carrier::INSTASENT_OPTING_OUT;

use super::*;

/// The callback secret of acme on Instasent (given in the file, so both shapes know it).
const CALLBACK_SECRET: &str = "e2e-instasent-callback-secret";

/// acme sending through Instasent (its Twilio account kept for texts in), without what
/// only Twilio offers, bouncing a phone after two hard failures.
pub(super) fn acme_on_instasent() -> ExampleConfig {
    ExampleConfig::new()
        .replace_first(
            "queue_limit = 500",
            "provider = \"instasent\"\nbounce_after = 2\nqueue_limit = 500",
        )
        .replace(
            "messaging_service_sids = [\"MG00000000000000000000000000000001\"]\n",
            "",
        )
        .replace("twilio_keywords = \"advanced\"", "")
        .replace_first(
            "[accounts.twilio]",
            &format!(
                "[accounts.instasent]\napi_token = \"e2e-instasent-token\"\n\
                 callback_secret = \"{CALLBACK_SECRET}\"\n\n[accounts.twilio]"
            ),
        )
}

/// A transactional send to `contact`: the request's answer.
async fn send_to(d: &Deployment, contact: &str, message: &str) -> (u16, Value) {
    let fields = [
        ("contactId", contact),
        ("message", message),
        ("type", "transactional"),
    ];
    send(d, &fields).await
}

/// The messages the carrier took for `to`, once there are `count`.
async fn taken_for(d: &Deployment, to: &str, count: usize) -> Vec<Value> {
    let for_to = |b: &Value| -> Vec<Value> {
        (b["messages"].as_array().into_iter().flatten())
            .filter(|m| m["to"] == to)
            .cloned()
            .collect()
    };
    let path = "/_sandbox/messages?limit=1000";
    let messages = d
        .eventually_sandbox(path, PATIENCE, |b| for_to(b).len() >= count)
        .await;
    for_to(&messages)
}

pub(super) async fn an_instasent_account_sends_is_reported_and_bounces_as_twilio_would(
    d: &Deployment,
) {
    // Sent through Instasent, delivered: GoodNumber.
    let ben = crm_contact(d, "Ben", BEN).await;
    let (status, answer) = send_to(d, &ben, "Hola ~Contact.FirstName~, hasta mañana.").await;
    assert_eq!(status, 202, "{answer}");
    let taken = taken_for(d, BEN, 1).await;
    assert_eq!(taken[0]["provider"], "instasent", "{taken:?}");
    assert_eq!(taken[0]["body"], "Hola Ben, hasta mañana.");
    assert_eq!(
        taken[0]["client_id"], answer["message_id"],
        "clientId is our id"
    );
    assert_eq!(
        goals(d, Some(&ben), 3).await,
        ["GoodNumber", "SMSsendRequestReceived", "SendAuto"]
    );

    // A forged report (another secret) changes nothing: Ben is not opted out.
    let forged = format!(
        "{}/instasent/callback/acme/not-the-secret-at-all",
        d.twilio_local
    );
    let report = json!({"id": taken[0]["sid"], "clientId": answer["message_id"], "status": "stop"});
    let (status, refused) = d.post_json(&forged, &report).await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (403, Some("invalid_secret")),
        "{refused}"
    );
    let (status, again) = send_to(d, &ben, "Still there?").await;
    assert_eq!(status, 202, "a forged stop opted nobody out: {again}");

    // A landline fails twice (`failed`): BadNumber each time, then the phone is bounced.
    let landline = crm_contact(d, "Desk", UNDELIVERABLE_LANDLINE).await;
    for sent in 1..=2 {
        // Each its own text: the same text again would be the same request.
        let text = format!("Your appointment, reminder {sent}");
        let (status, answer) = send_to(d, &landline, &text).await;
        assert_eq!(status, 202, "send {sent}: {answer}");
        taken_for(d, UNDELIVERABLE_LANDLINE, sent).await;
        // One BadNumber per message; the phone's failure is counted before it fires.
        goals_when(d, Some(&landline), |names| {
            names.iter().filter(|n| *n == "BadNumber").count() >= sent
        })
        .await;
    }
    let (status, refused) = send_to(d, &landline, "Third time").await;
    assert_eq!(refused["code"], "phone_bounced", "{status} {refused}");

    // `stop`: the phone opts out (OptOut), and the next send is refused.
    let quitter = crm_contact(d, "Quinn", INSTASENT_OPTING_OUT).await;
    let (status, answer) = send_to(d, &quitter, "Last chance").await;
    assert_eq!(status, 202, "{answer}");
    goals_including(d, &quitter, &["OptOut", "SendAuto"]).await;
    let (status, refused) = send_to(d, &quitter, "One more").await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (409, Some("opted_out")),
        "{refused}"
    );
}

/// A `stop` report ends the contact's sequence run as a STOP text does: the opt-out tag.
pub(super) async fn a_stop_report_mid_survey_ends_the_run_with_the_opt_out_tag(d: &Deployment) {
    d.apply_sequence(SURVEY).await;
    let quinn = crm_contact(d, "Quinn", INSTASENT_OPTING_OUT).await;
    // Quinn texts in (through Twilio); the survey's question goes out through Instasent,
    // which reports it `sent`, then `stop`.
    text(
        d,
        INSTASENT_OPTING_OUT,
        "SM00000000000000000000000000000021",
        "survey",
    )
    .await;
    assert_eq!(
        sent_to(d, INSTASENT_OPTING_OUT, 1).await,
        ["Hi Quinn! How would you rate us, 1-10?"]
    );
    let contact = contact_when(d, &quinn, |c| tags(c).contains(&"Survey opted out")).await;
    assert_eq!(tags(&contact), ["Survey opted out"]);
    goals_including(d, &quinn, &["OptOut"]).await;
}

//! CRM send requests out: sent, delivered and their goals fired; refused for a STOP or an
//! unknown contact; failing as Twilio's magic numbers do; paced; retried then dead-lettered.

use super::*;

/// A send request of acme's CRM with the form `fields`, which must be refused with `status`
/// and the error `code`.
async fn send_refused(d: &Deployment, fields: &[(&str, &str)], status: u16, code: &str) {
    let (got, answer) = send(d, fields).await;
    assert_eq!(
        (got, answer["code"].as_str()),
        (status, Some(code)),
        "{answer}"
    );
}

pub(super) async fn a_crm_send_is_sent_delivered_and_fires_its_goals(d: &Deployment) {
    let ben = crm_contact(d, "Ben", BEN).await;
    let request = [
        ("contactId", ben.as_str()),
        ("message", "Hi ~Contact.FirstName~, see you at 3."),
        ("type", "transactional"),
        ("requestId", "req-1"),
    ];
    let (status, answer) = send(d, &request).await;
    assert_eq!(status, 202, "{answer}");
    let messages = d
        .eventually_sandbox("/_sandbox/messages", PATIENCE, |b| {
            b["messages"].as_array().is_some_and(|m| !m.is_empty())
        })
        .await;
    let sent = &messages["messages"][0];
    assert_eq!(sent["to"], BEN);
    assert_eq!(sent["body"], "Hi Ben, see you at 3.");
    assert_eq!(
        goals(d, Some(&ben), 3).await,
        ["GoodNumber", "SMSsendRequestReceived", "SendAuto"]
    );
    // The CRM retries the request: the first answer, no second message.
    let (status, again) = send(d, &request).await;
    assert_eq!((status, &again["repeated"]), (202, &json!(true)), "{again}");
    assert_eq!(again["message_id"], answer["message_id"]);
    assert_eq!(sent_to_after_a_pause(d, BEN).await.len(), 1);
}

pub(super) async fn magic_numbers_fail_as_twilio_says(d: &Deployment) {
    // (recipient, the goal its send ends in)
    let cases = [
        ("+15005550009", "BadNumber"),
        ("+15005550004", "BlockedNumber"),
    ];
    for (phone, goal) in cases {
        let contact = crm_contact(d, "Test", phone).await;
        let (status, answer) = send(
            d,
            &[
                ("contactId", &contact),
                ("message", "Hello"),
                ("type", "transactional"),
            ],
        )
        .await;
        assert_eq!(status, 202, "{answer}");
        let fired = goals_including(d, &contact, &["SMSsendRequestReceived", goal]).await;
        assert!(
            !fired.contains(&"GoodNumber".to_string()),
            "{phone}: {fired:?}"
        );
    }
}

pub(super) async fn stop_wins_over_a_later_send(d: &Deployment) {
    let ann = crm_contact(d, "Ann", ANN).await;
    text(d, ANN, "SMfedcba9876543210fedcba9876543210", " Stop. ").await;
    let sale = [
        ("contactId", ann.as_str()),
        ("message", "Our spring sale!"),
        ("type", "transactional"),
    ];
    send_refused(d, &sale, 409, "opted_out").await;
    goals_including(
        d,
        &ann,
        &["OptOut", "SMSsendRequestReceived", "BlockedNumber"],
    )
    .await;
    let messages = d.sandbox_json("/_sandbox/messages").await;
    assert_eq!(messages["messages"], json!([]), "nothing sent to Ann");
}

pub(super) async fn a_send_for_an_unknown_contact_is_sent_when_the_crm_retries_it_corrected(
    d: &Deployment,
) {
    let unknown = [
        ("contactId", "999999"),
        ("message", "Hi ~Contact.FirstName~, see you at 3."),
        ("type", "transactional"),
        ("requestId", "req-ben"),
    ];
    send_refused(d, &unknown, 404, "unknown_contact").await;
    // A refusal a corrected retry can fix is not kept: the same requestId is handled afresh.
    let ben = crm_contact(d, "Ben", BEN).await;
    let (status, answer) = send(
        d,
        &[
            ("contactId", &ben),
            ("message", "Hi ~Contact.FirstName~, see you at 3."),
            ("type", "transactional"),
            ("requestId", "req-ben"),
        ],
    )
    .await;
    assert_eq!(
        (status, &answer["repeated"]),
        (202, &Value::Null),
        "{answer}"
    );
    assert_eq!(sent_to(d, BEN, 1).await, ["Hi Ben, see you at 3."]);
}

pub(super) async fn sends_from_one_number_are_paced(d: &Deployment) {
    // The long code sends one segment a second; three requests arrive at once.
    let phones = ["+14155550161", "+14155550162", "+14155550163"];
    let requested_at = now_ms();
    for phone in phones {
        let (status, answer) = send(
            d,
            &[
                ("phone", phone),
                ("message", "Your roof is done."),
                ("type", "transactional"),
            ],
        )
        .await;
        assert_eq!(status, 202, "{answer}");
    }
    let messages = d
        .eventually_sandbox("/_sandbox/messages", PATIENCE, |b| {
            b["messages"]
                .as_array()
                .is_some_and(|m| m.len() == phones.len())
        })
        .await;
    let last_accepted = messages["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["accepted_at"].as_i64())
        .max()
        .expect("accept times");
    // No message leaves before its slot, a second after the one before: the third cannot
    // be accepted sooner than two seconds after the requests (a slow instance only delays).
    assert!(
        last_accepted - requested_at >= 2000,
        "three texts from one long code within {} ms",
        last_accepted - requested_at
    );
}

pub(super) async fn a_rate_limited_send_is_retried_then_dead_lettered(d: &Deployment) {
    let (status, answer) = send(
        d,
        &[
            ("phone", ANN),
            ("message", "Hello"),
            ("type", "transactional"),
            ("from", RATE_LIMITED_FROM),
        ],
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    let message_id = answer["message_id"]
        .as_str()
        .expect("message id")
        .to_string();
    // Twilio refuses every try for now (21611). Each try gives its attempt back, so the next
    // one sends again instead of being skipped as "already attempted"; after the queue's
    // tries the job waits in the dead-letter queue for an operator.
    let dead = eventually(DEAD_LETTER_PATIENCE, async || {
        let bodies = d.dead_letter_bodies(QueueName::Send).await;
        if bodies.iter().any(|b| b.contains(&message_id)) {
            Ok(bodies)
        } else {
            Err(format!(
                "{:?}: {message_id} not dead-lettered yet: {bodies:?}",
                d.shape
            ))
        }
    })
    .await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    let messages = d.sandbox_json("/_sandbox/messages").await;
    assert_eq!(messages["messages"], json!([]), "Twilio accepted nothing");
}

//! Texts in: forwarded by e-mail with their goals fired once, through a CRM outage, routed
//! to one teammate by the routing rules, and a text SQS cannot carry as is.

use super::*;

pub(super) async fn an_inbound_text_is_forwarded_and_fires_goals_once(d: &Deployment) {
    let text = twilio::text_to_acme(
        "SM0123456789abcdef0123456789abcdef",
        ANN,
        "Hi! It's Ann, my email is Ann.Lee@Example.com ",
    );
    let (status, answer) = d.twilio_inbound(&text).await;
    assert_eq!(status, 200, "{answer}");
    let expected = NEW_TEXT_WITH_EMAIL_GOALS;
    assert_eq!(goals(d, None, expected.len()).await, expected);
    let emails = d
        .eventually_sandbox("/_sandbox/emails", PATIENCE, |b| {
            b["emails"].as_array().is_some_and(|e| !e.is_empty())
        })
        .await;
    assert_eq!(emails["emails"][0]["to"], json!(["office@acme.example"]));
    // Times are epoch milliseconds with their RFC 3339 text alongside, in both shapes.
    assert_eq!(rfc3339_times_in(&emails), 1, "{emails}");
    let goal_list = d.sandbox_json("/_sandbox/crm/acme/goals").await;
    let goal_count = goal_list["goals"].as_array().map_or(0, Vec::len);
    assert_eq!(rfc3339_times_in(&goal_list), goal_count, "{goal_list}");
    let forwarded = emails["emails"][0]["text"].as_str().unwrap_or_default();
    assert!(
        forwarded.contains("my email is Ann.Lee@Example.com"),
        "{forwarded}"
    );

    // Twilio retries the same MessageSid: the same answer, and nothing happens again.
    let (status, again) = d.twilio_inbound(&text).await;
    assert_eq!((status, again.as_str()), (200, answer.as_str()));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(goals(d, None, expected.len()).await, expected);
    let emails = d.sandbox_json("/_sandbox/emails").await;
    assert_eq!(emails["emails"].as_array().map(Vec::len), Some(1));
}

pub(super) async fn a_crm_outage_delays_goals_and_loses_none(d: &Deployment) {
    d.crm_outage(true).await;
    // The webhook does not touch the CRM: it answers at once.
    text(
        d,
        "+14155552673",
        "SM00000000000000000000000000000777",
        "Anyone there?",
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let goals_so_far = d.sandbox_json("/_sandbox/crm/acme/goals").await;
    assert_eq!(
        goals_so_far["goals"],
        json!([]),
        "nothing reaches a CRM that is down"
    );

    d.crm_outage(false).await;
    assert_eq!(
        goals(d, None, NEW_TEXT_GOALS.len()).await,
        NEW_TEXT_GOALS,
        "each goal exactly once after the outage"
    );
    let contacts = d.sandbox_json("/_sandbox/crm/acme/contacts").await;
    assert_eq!(
        contacts["contacts"].as_array().map(Vec::len),
        Some(1),
        "one contact, not one per retry"
    );
}

/// One routing case: a text from `from` with a unique `body`, and where its forward goes.
struct Routed {
    name: &'static str,
    from: &'static str,
    body: &'static str,
    to: &'static str,
    /// The start of the forward's "Why you" line.
    why: &'static str,
}

/// A call `user` (a Keap user id) logged on `contact` `hours_ago`.
async fn logged_call(d: &Deployment, contact: &str, user: &str, hours_ago: i64) {
    let (status, body) = d
        .post_json(
            &format!("{}/_sandbox/crm/acme/notes", d.sandbox),
            &json!({
                "contact_id": contact, "type": "Call", "title": "Call", "body": "Left a message",
                "user_id": user, "created_at": now_ms() - hours_ago * 3_600_000
            }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(rfc3339_times_in(&body), 1, "the note's created_at: {body}");
}

/// A contact created in the CRM with an owner (a Keap user id) or none.
async fn owned_contact(d: &Deployment, phone: &str, owner: Option<&str>) -> String {
    new_contact(
        d,
        json!({"first_name": "Ann", "last_name": "Lee", "phone": phone, "owner_id": owner}),
    )
    .await
}

/// A send request, waited for until the carrier accepted it (so a reply finds it).
async fn sent_before(d: &Deployment, contact: &str, phone: &str, fields: &[(&str, &str)]) {
    let mut form = vec![
        ("contactId", contact),
        ("message", "Your quote is ready."),
        ("type", "transactional"),
    ];
    form.extend_from_slice(fields);
    let (status, answer) = send(d, &form).await;
    assert_eq!(status, 202, "{answer}");
    sent_to(d, phone, 1).await;
    let messages = d.sandbox_json("/_sandbox/messages").await;
    let count = messages["messages"].as_array().map_or(0, Vec::len);
    assert_eq!(
        rfc3339_times_in(&messages),
        count,
        "accepted_at: {messages}"
    );
}

pub(super) async fn texts_are_routed_by_the_four_rules_of_seed_001(d: &Deployment) {
    // Case 1: a reply to John's manual SMS, though Mary owns the contact and logged a call.
    let c1 = owned_contact(d, "+14155550101", Some("1")).await;
    logged_call(d, &c1, "1", 2).await;
    sent_before(d, &c1, "+14155550101", &[("user", "john")]).await;
    // Case 4: a reply to a campaign SMS goes to the campaign's reply-to user.
    let c4 = owned_contact(d, "+14155550104", Some("1")).await;
    sent_before(
        d,
        &c4,
        "+14155550104",
        &[("campaign", "spring-promo"), ("reply", "john")],
    )
    .await;
    // Case 4 as turboDial sends it: the reply-to user named by e-mail, in any case.
    let c4_email = owned_contact(d, "+14155550114", Some("1")).await;
    sent_before(
        d,
        &c4_email,
        "+14155550114",
        &[("campaign", "autumn-promo"), ("reply", "John@ACME.example")],
    )
    .await;
    // Case 2, called: never texted; John logged the newest call (Mary an older one).
    let c2 = owned_contact(d, "+14155550102", Some("1")).await;
    logged_call(d, &c2, "1", 3).await;
    logged_call(d, &c2, "2", 1).await;
    // Case 2, not called: the owner. Then a contact nobody on the team is linked to.
    owned_contact(d, "+14155550103", Some("1")).await;
    owned_contact(d, "+14155550105", None).await;
    let cases = [
        Routed {
            name: "case 1: last manual SMS",
            from: "+14155550101",
            body: "Sounds good",
            to: "john@acme.example",
            why: "John Smith sent the last SMS to this contact",
        },
        Routed {
            name: "case 4: campaign reply-to",
            from: "+14155550104",
            body: "Tell me more",
            to: "john@acme.example",
            why: "John Smith is the reply-to user of campaign 'spring-promo'",
        },
        Routed {
            name: "case 4: campaign reply-to named by e-mail",
            from: "+14155550114",
            body: "Is it still on?",
            to: "john@acme.example",
            why: "John Smith is the reply-to user of campaign 'autumn-promo'",
        },
        Routed {
            name: "case 2: last call note",
            from: "+14155550102",
            body: "Returning your call",
            to: "john@acme.example",
            why: "John Smith logged the last call with this contact",
        },
        Routed {
            name: "case 2: owner",
            from: "+14155550103",
            body: "Saw your e-mail",
            to: "mary@acme.example",
            why: "Mary Anders owns this contact in the CRM.",
        },
        Routed {
            name: "no owner: backup address",
            from: "+14155550105",
            body: "Hello?",
            to: "office@acme.example",
            why: "No teammate is linked to this contact",
        },
        Routed {
            name: "case 3: unknown number",
            from: "+14155550106",
            body: "Who is this?",
            to: "office@acme.example",
            why: "No teammate is linked to this contact",
        },
    ];
    for (i, case) in cases.iter().enumerate() {
        let sid = format!("SM000000000000000000000000000r{i:04}");
        text(d, case.from, &sid, case.body).await;
    }
    let emails = d
        .eventually_sandbox("/_sandbox/emails?limit=1000", PATIENCE, |b| {
            b["emails"]
                .as_array()
                .is_some_and(|e| e.len() >= cases.len())
        })
        .await;
    for case in &cases {
        let forward = emails["emails"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["text"].as_str().is_some_and(|t| t.contains(case.body)))
            .unwrap_or_else(|| panic!("{}: no forward in {emails}", case.name));
        assert_eq!(forward["to"], json!([case.to]), "{}", case.name);
        let text = forward["text"].as_str().unwrap_or_default();
        assert!(
            text.contains(&format!("Why you: {}", case.why)),
            "{}: {text}",
            case.name
        );
    }
}

pub(super) async fn text_sqs_cannot_carry_as_is_is_still_processed(d: &Deployment) {
    // SQS refuses U+FFFE and U+FFFF in a message body (the stack runner refuses them as SQS
    // does): the jobs carrying such a text escape them, and the text is processed.
    const DANA: &str = "+14155550177";
    text(
        d,
        DANA,
        "SM00000000000000000000000000000fff",
        "hi\u{FFFF} there",
    )
    .await;
    d.eventually_sandbox("/_sandbox/emails", PATIENCE, |b| {
        b["emails"].as_array().is_some_and(|e| {
            e.iter()
                .any(|m| m["text"].as_str().is_some_and(|t| t.contains(DANA)))
        })
    })
    .await;
    let (status, answer) = send(
        d,
        &[
            ("phone", "+14155550178"),
            ("message", "hi\u{FFFE} back"),
            ("type", "transactional"),
        ],
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(sent_to(d, "+14155550178", 1).await, ["hi\u{FFFE} back"]);
}

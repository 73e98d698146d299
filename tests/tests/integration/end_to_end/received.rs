//! "Has received SMS" checks from a CRM campaign: answered from the conversation and told
//! to the CRM as a goal for each filter; a repeat fires nothing more.

use super::*;

/// Form fields of a check, by name.
type Fields<'a> = &'a [(&'a str, &'a str)];

/// A "has received SMS" check of acme's CRM with the form `fields`.
async fn check(d: &Deployment, fields: &[(&str, &str)]) -> (u16, Value) {
    let url = format!("{}/crm/acme/received?key={ACME_SEND_KEY}", d.crm);
    d.post_form(&url, fields).await
}

/// The transactional "spring" campaign's text sent to `contact` and delivered.
async fn spring_sale_delivered_to(d: &Deployment, contact: &str) {
    let spring = [
        ("contactId", contact),
        ("message", "Spring sale: 20% off."),
        ("type", "transactional"),
        ("campaign", "spring"),
    ];
    let (status, answer) = send(d, &spring).await;
    assert_eq!(status, 202, "{answer}");
    goals_including(d, contact, &["GoodNumber"]).await;
}

pub(super) async fn a_received_check_fires_the_goal_each_filter_calls_for(d: &Deployment) {
    let ben = crm_contact(d, "Ben", BEN).await;
    let ann = crm_contact(d, "Ann", ANN).await;
    spring_sale_delivered_to(d, &ben).await;
    let tomorrow = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_hours(24))
        .expect("a time")
        .strftime("%Y-%m-%d")
        .to_string();
    // (fields besides contactId and requestId, received, count, the goal fired)
    let cases: [(Fields, bool, u64, &str); 6] = [
        (
            &[("type", "transactional"), ("status", "delivered")],
            true,
            1,
            "ReceivedSMS",
        ),
        (&[("type", "bulk")], false, 0, "NotReceivedSMS"),
        (&[("campaign", "autumn")], false, 0, "NotReceivedSMS"),
        (
            &[
                ("campaign", "Spring"),
                ("withinDays", "1"),
                ("receivedGoal", "GotSpring"),
            ],
            true,
            1,
            "GotSpring",
        ),
        (&[("since", tomorrow.as_str())], false, 0, "NotReceivedSMS"),
        (&[("type", "alert,transactional")], true, 1, "ReceivedSMS"),
    ];
    for (n, (filters, received, count, goal)) in cases.iter().enumerate() {
        let request_id = format!("check-{n}");
        let mut fields = vec![
            ("contactId", ben.as_str()),
            ("requestId", request_id.as_str()),
        ];
        fields.extend_from_slice(filters);
        let (status, answer) = check(d, &fields).await;
        assert_eq!(status, 200, "{filters:?}: {answer}");
        assert_eq!(
            (&answer["received"], &answer["count"], &answer["goal"]),
            (&json!(received), &json!(count), &json!(goal)),
            "{filters:?}: {answer}"
        );
        assert_eq!(answer["complete"], true, "{answer}");
    }
    // Asked by phone, for a contact never texted.
    let (status, by_phone) = check(d, &[("phone", ANN), ("requestId", "check-ann")]).await;
    assert_eq!(status, 200, "{by_phone}");
    assert_eq!(
        (&by_phone["received"], &by_phone["contact_id"]),
        (&json!(false), &json!(ann)),
        "{by_phone}"
    );
    // The CRM retries the first check: its first answer, and no second goal.
    let (status, again) = check(d, &[("contactId", &ben), ("requestId", "check-0")]).await;
    assert_eq!((status, &again["repeated"]), (200, &json!(true)), "{again}");
    assert_eq!(again["last"]["campaign"], "spring", "{again}");
    let expected = [
        "GoodNumber",
        "GotSpring",
        "NotReceivedSMS",
        "NotReceivedSMS",
        "NotReceivedSMS",
        "ReceivedSMS",
        "ReceivedSMS",
        "SMSsendRequestReceived",
        "SendAuto",
    ];
    let fired = goals(d, Some(&ben), expected.len()).await;
    assert_eq!(fired, expected);
    assert_eq!(goals(d, Some(&ann), 1).await, ["NotReceivedSMS"]);
    // A check it cannot read changes nothing.
    let (status, bad) = check(d, &[("contactId", &ben), ("withinDays", "0")]).await;
    assert_eq!(
        (status, bad["code"].as_str()),
        (400, Some("invalid_within_days")),
        "{bad}"
    );
}

/// A sequence that answers a reply by what the contact was sent before.
const OFFER: &str = "account: acme
name: offer
start: keyword
keywords: [OFFER]
sender: '+19523142318'
collect_email_first: false
steps:
  - name: ask
    message: Hi ~Contact.FirstName|there~! Reply with anything for our offer.
    next:
      conditions:
        - has_received: { type: transactional, campaign: spring, within_days: 30 }
          goto: again
      fallback: new
  - name: again
    message: You already have the spring deal.
    await_reply: false
  - name: new
    message: Here is the spring deal.
    await_reply: false
";

pub(super) async fn a_sequence_branches_on_what_the_contact_has_received(d: &Deployment) {
    d.apply_sequence(OFFER).await;
    let ben = crm_contact(d, "Ben", BEN).await;
    crm_contact(d, "Ann", ANN).await;
    spring_sale_delivered_to(d, &ben).await;
    // (who texts, their texts' SIDs, what they are told last)
    let cases = [
        (
            BEN,
            [
                "SM0000000000000000000000000000b001",
                "SM0000000000000000000000000000b002",
            ],
            "You already have the spring deal.",
        ),
        (
            ANN,
            [
                "SM0000000000000000000000000000a001",
                "SM0000000000000000000000000000a002",
            ],
            "Here is the spring deal.",
        ),
    ];
    for (phone, [keyword_sid, reply_sid], last) in cases {
        let before = sent_to_after_a_pause(d, phone).await.len();
        text(d, phone, keyword_sid, "OFFER").await;
        sent_to(d, phone, before + 1).await;
        text(d, phone, reply_sid, "ok").await;
        let sent = sent_to(d, phone, before + 2).await;
        assert_eq!(
            sent.last().map(String::as_str),
            Some(last),
            "{phone}: {sent:?}"
        );
    }
}

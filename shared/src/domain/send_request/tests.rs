use super::super::fixtures;
use super::*;

fn form(body: &str) -> SendFields {
    SendFields::from_form(body.as_bytes()).expect("form")
}

fn parse(body: &str) -> Result<SendRequest, SendRequestError> {
    parse_send_request(&form(body), &fixtures::account())
}

fn code(body: &str) -> &'static str {
    match parse(body) {
        Ok(_) => "ok",
        Err(e) => e.code(),
    }
}

#[test]
fn media_is_refused_for_a_sender_on_instasent() {
    let mut account = fixtures::account();
    account.numbers[1].provider = Some(super::super::SmsProviderKind::Instasent);
    let media = "phone=%2B14155552671&message=hi&media=https://x.test/a.png";
    // (the request, its code: the first number is on Twilio, the second on Instasent)
    let cases = [
        (media.to_string(), "ok"),
        (format!("{media}&from=%2B12025550101"), "ok"),
        (
            format!("{media}&from=%2B18005550102"),
            "media_not_supported",
        ),
        (
            "phone=%2B14155552671&message=hi&from=%2B18005550102".to_string(),
            "ok",
        ),
    ];
    for (body, want) in cases {
        let got = parse_send_request(&form(&body), &account).map_or_else(|e| e.code(), |_| "ok");
        assert_eq!(got, want, "{body}");
    }
}

#[test]
fn refusals_name_the_problem() {
    let long_body = "a".repeat(1601);
    let eleven_media = (0..11)
        .map(|i| format!("media=https://x.test/{i}.png"))
        .collect::<Vec<_>>()
        .join("&");
    let cases = [
        ("message=hi", "missing_recipient"),
        ("phone=12&message=hi", "invalid_phone"),
        ("phone=not+a+phone&message=hi", "invalid_phone"),
        ("phone=%2B15005550006", "empty_message"),
        ("phone=%2B15005550006&message=+++", "empty_message"),
        (
            &format!("phone=%2B15005550006&message={long_body}"),
            "body_too_long",
        ),
        (
            &format!("phone=%2B15005550006&message={long_body}~Contact.FirstName~"),
            "body_too_long",
        ),
        (
            &format!("phone=%2B15005550006&message=hi&{eleven_media}"),
            "too_many_media",
        ),
        (
            "phone=%2B15005550006&message=hi&media=ftp://x.test/a.png",
            "invalid_media_url",
        ),
        (
            "phone=%2B15005550006&message=Hi+~Contact.First",
            "unterminated_merge_field",
        ),
        (
            "phone=%2B15005550006&message=hi&from=%2B12025550199",
            "unknown_sender_number",
        ),
        (
            "phone=%2B15005550006&message=hi&from=TooLongSender1",
            "invalid_alphanumeric_sender",
        ),
        (
            "phone=%2B15005550006&message=hi&user=nobody",
            "unknown_user",
        ),
        (
            "phone=%2B15005550006&message=hi&reply=nobody",
            "unknown_user",
        ),
        (
            "phone=%2B15005550006&message=hi&reply=nobody%40example.com",
            "unknown_user",
        ),
        (
            "phone=%2B15005550006&message=hi&reply=Mary%40Example.com",
            "ok",
        ),
        ("phone=%2B15005550006&message=hi&type=spam", "invalid_value"),
        (
            "phone=%2B15005550006&message=hi&subscription=maybe",
            "invalid_value",
        ),
        (
            &format!(
                "phone=%2B15005550006&message=hi&requestId={}",
                "r".repeat(129)
            ),
            "field_too_long",
        ),
        ("phone=%2B15005550006&message=hi", "ok"),
        ("contactId=42&message=hi", "ok"),
        ("phone=%2B15005550006&media=https://x.test/a.png", "ok"),
    ];
    for (body, want) in cases {
        assert_eq!(code(body), want, "{body}");
    }
}

#[test]
fn the_body_length_is_checked_once_rendered() {
    // Merge fields may render to nothing, so a template is refused only when even its
    // shortest rendering is over the limit.
    let fields = "~Contact.FirstName~".repeat(100);
    assert_eq!(
        code(&format!("phone=%2B15005550006&message={fields}")),
        "ok"
    );
    let over = "a".repeat(1601);
    assert_eq!(
        parse(&format!("phone=%2B15005550006&message={over}")).map(|_| ()),
        Err(SendRequestError::Content(ContentError::BodyTooLong {
            length: 1601
        }))
    );
}

#[test]
fn reads_every_field() {
    let account = fixtures::account();
    let user = account.users.keys().next().expect("fixture user").clone();
    let request = parse(&format!(
        "contactId=42&phone=(612)+555-0100&message=Hi+~Contact.FirstName~%0A&media=https://x.test/a.png,+https://x.test/b.png\
         &user={user}&reply={user}&type=Transactional&subscription=subscribed&campaign=spring&requestId=r-1&key=secret"
    ))
    .expect("valid");
    assert_eq!(request.contact_id.as_deref(), Some("42"));
    assert_eq!(
        request.recipient,
        Recipient::Phone(fixtures::phone("+16125550100"))
    );
    assert_eq!(request.template, "Hi ~Contact.FirstName~\n");
    assert_eq!(
        request.media_urls,
        ["https://x.test/a.png", "https://x.test/b.png"]
    );
    assert_eq!(request.user.as_deref(), Some(user.as_str()));
    assert_eq!(request.routing_user(), Some(user.as_str()));
    assert_eq!(request.kind, SendKind::Transactional);
    assert_eq!(request.subscription, Some(SubscriptionStatus::Subscribed));
    assert_eq!(request.campaign.as_deref(), Some("spring"));
    assert_eq!(request.request_id.as_deref(), Some("r-1"));
    assert!(request.needs_contact_fields());
    assert_eq!(
        request.sender,
        SenderSpec::Number(account.numbers[0].number.clone())
    );
}

#[test]
fn users_named_by_email_become_their_ids() {
    let request = parse("phone=%2B15005550006&message=hi&reply=MARY%40example.com").expect("valid");
    assert_eq!(request.reply_to.as_deref(), Some("mary"));
    let request = parse("phone=%2B15005550006&message=hi&user=mary%40example.com").expect("valid");
    assert_eq!(request.user.as_deref(), Some("mary"));

    let mut account = fixtures::account();
    let mut desk = account.users["mary"].clone();
    desk.id = "desk".into();
    account.users.insert("desk".into(), desk);
    let fields = form("phone=%2B15005550006&message=hi&reply=mary%40example.com");
    let refused = parse_send_request(&fields, &account).expect_err("ambiguous");
    assert_eq!(refused.code(), "ambiguous_user");
    assert!(refused.to_string().contains("desk, mary"), "{refused}");
}

#[test]
fn json_bodies_read_like_forms() {
    let json = br#"{"phone": "+15005550006", "message": "hi", "media": ["https://x.test/a.png"], "contactId": 42, "campaign": null}"#;
    let fields = SendFields::from_json(json).expect("json");
    let request = parse_send_request(&fields, &fixtures::account()).expect("valid");
    assert_eq!(request.contact_id.as_deref(), Some("42"));
    assert_eq!(request.media_urls, ["https://x.test/a.png"]);
    assert_eq!(request.campaign, None);
    assert_eq!(SendFields::from_json(b"[1]"), Err(FieldsError::NotAnObject));
    assert_eq!(
        SendFields::from_json(br#"{"phone": {"a": 1}}"#),
        Err(FieldsError::NestedValue("phone".into()))
    );
    assert!(matches!(
        SendFields::from_json(b"{"),
        Err(FieldsError::Json(_))
    ));
}

#[test]
fn alert_sends_go_to_the_account_alert_number() {
    let mut account = fixtures::account();
    account.alert_number = None;
    let fields = form("contactId=42&message=New+lead&type=alert");
    assert_eq!(
        parse_send_request(&fields, &account).map(|_| ()),
        Err(SendRequestError::NoAlertNumber)
    );
    let alert = fixtures::phone("+16125550199");
    account.alert_number = Some(alert.clone());
    let request = parse_send_request(&fields, &account).expect("valid");
    assert_eq!(request.recipient, Recipient::AlertNumber(alert));
    assert_eq!(request.kind, SendKind::Alert);
}

#[test]
fn later_values_win_and_names_ignore_case() {
    let mut fields = form("PHONE=%2B15005550001&message=query");
    fields.extend([("Message".to_string(), "body".to_string())]);
    let request = parse_send_request(&fields, &fixtures::account()).expect("valid");
    assert_eq!(request.template, "body");
    assert_eq!(
        request.recipient,
        Recipient::Phone(fixtures::phone("+15005550001"))
    );
}

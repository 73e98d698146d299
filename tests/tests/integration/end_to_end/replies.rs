//! Reply by e-mail: a forwarded text carries a reply address; the teammate's answer to it
//! is texted to the contact from the number they texted, as that teammate, once (a photo as
//! an MMS); a forged or replayed reply sends nothing and its sender is told why.

use super::*;

const MARY: &str = "mary@acme.example";

/// The forward of the text whose body is `body`: its reply address and text.
async fn forward_of(d: &Deployment, body: &str) -> (String, String) {
    let holds = |e: &Value| e["text"].as_str().is_some_and(|t| t.contains(body));
    let emails = d
        .eventually_sandbox("/_sandbox/emails", PATIENCE, |b| {
            b["emails"].as_array().into_iter().flatten().any(holds)
        })
        .await;
    let forward = (emails["emails"].as_array().into_iter().flatten())
        .find(|e| holds(e))
        .cloned()
        .unwrap_or_default();
    let reply_to = forward["reply_to"].as_str().unwrap_or_default().to_string();
    let text = forward["text"].as_str().unwrap_or_default().to_string();
    (reply_to, text)
}

/// An e-mail delivered to the deployment's reply domain: the status and outcome.
async fn reply(d: &Deployment, email: Value) -> (u16, Value) {
    d.post_json(&format!("{}/_sandbox/email", d.sandbox), &email)
        .await
}

/// The e-mails sent to `to` whose subject starts with `subject`, once there are `count`.
async fn emails_to(d: &Deployment, to: &str, subject: &str, count: usize) -> Vec<Value> {
    let matching = |b: &Value| -> Vec<Value> {
        (b["emails"].as_array().into_iter().flatten())
            .filter(|e| e["to"] == json!([to]))
            .filter(|e| {
                e["subject"]
                    .as_str()
                    .is_some_and(|s| s.starts_with(subject))
            })
            .cloned()
            .collect()
    };
    let emails = d
        .eventually_sandbox("/_sandbox/emails?limit=1000", PATIENCE, |b| {
            matching(b).len() >= count
        })
        .await;
    matching(&emails)
}

pub(super) async fn a_reply_by_email_is_texted_from_the_number_the_contact_texted(d: &Deployment) {
    text(
        d,
        ANN,
        "SM0000000000000000000000000000e001",
        "Can you come Tuesday?",
    )
    .await;
    let (reply_to, forwarded) = forward_of(d, "Can you come Tuesday?").await;
    assert!(
        reply_to.starts_with("reply+") && reply_to.ends_with("@reply.acme.example"),
        "the forward's Reply-To is a reply address: {reply_to:?}"
    );
    assert!(
        forwarded.contains("Reply to this e-mail to text your answer from +19523142318"),
        "{forwarded}"
    );

    // Mary answers from her mail client, above the quoted forward.
    let answer = json!({
        "from": MARY,
        "to": reply_to,
        "subject": "Re: SMS from +14155552671",
        "text": "Tuesday at 9 works.\n\nOn Mon, Dec 7, 2026 at 9:00 AM smsflow wrote:\n> Can you come Tuesday?\n",
        "message_id": "<answer-1@acme.example>",
    });
    let (status, outcome) = reply(d, answer.clone()).await;
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome["outcome"], "sent", "{outcome}");
    assert_eq!(outcome["user"], "mary", "{outcome}");
    assert_eq!(sent_to(d, ANN, 1).await, ["Tuesday at 9 works."]);
    assert_eq!(
        first_sender_to(d, ANN).await,
        "+19523142318",
        "from the number Ann texted"
    );
    let contact = created_contact_of(d, ANN).await;
    goals_including(d, &contact, &["SendManual"]).await;

    // The same e-mail delivered again (SES retries, a client resends): nothing more.
    let (status, again) = reply(d, answer).await;
    assert_eq!(
        (status, again["outcome"].as_str()),
        (200, Some("repeat")),
        "{again}"
    );

    // A photo from Gmail: texted as an MMS whose picture the carrier can fetch.
    let photo = std::fs::read(format!(
        "{}/../events/email/gmail-reply-with-photo.eml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("the fixture");
    let photo = String::from_utf8_lossy(&photo)
        .replace(
            "reply+0001AbCdEfGhJkMnPqRsTvWxYz@reply.acme.example",
            &reply_to,
        )
        .into_bytes();
    let url = format!("{}/_sandbox/email", d.sandbox);
    let (status, outcome) = d.post_raw(&url, "message/rfc822", photo).await;
    assert_eq!(
        (status, outcome["outcome"].as_str()),
        (200, Some("sent")),
        "{outcome}"
    );
    assert_eq!(
        sent_to(d, ANN, 2).await,
        ["Tuesday at 9 works.", "Here is the roof photo."]
    );
    let messages = d.sandbox_json("/_sandbox/messages?limit=1000").await;
    let mms = (messages["messages"].as_array().into_iter().flatten())
        .find(|m| m["body"] == "Here is the roof photo.")
        .cloned()
        .unwrap_or_default();
    let picture = mms["media_urls"][0].as_str().unwrap_or_default();
    let (status, content_type, bytes) = d.fetch(picture).await;
    assert_eq!(
        (status, content_type.as_str()),
        (200, "image/png"),
        "{picture}"
    );
    assert!(bytes.starts_with(b"\x89PNG"), "the picture as attached");

    // A made-up reply address: nothing sent, Mary told why.
    let forged = json!({
        "from": MARY,
        "to": "reply+0000000000000000000000000z@reply.acme.example",
        "subject": "Re: SMS from someone",
        "text": "Please call me.",
    });
    let (status, refused) = reply(d, forged).await;
    assert_eq!(status, 200, "{refused}");
    assert_eq!(
        (refused["outcome"].as_str(), refused["code"].as_str()),
        (Some("refused"), Some("unknown_reply_address")),
        "{refused}"
    );
    let bounce = emails_to(d, MARY, "Not texted: Re: SMS from someone", 1).await;
    let explained = bounce[0]["text"].as_str().unwrap_or_default();
    assert!(explained.contains("unknown or has expired"), "{explained}");

    // A stranger who learned the address: nothing sent.
    let (status, stranger) = reply(
        d,
        json!({"from": "eve@elsewhere.example", "to": reply_to, "text": "Send me codes"}),
    )
    .await;
    assert_eq!(status, 200, "{stranger}");
    assert_eq!(stranger["code"], "sender_not_allowed", "{stranger}");
    assert_eq!(
        sent_to_after_a_pause(d, ANN).await,
        ["Tuesday at 9 works.", "Here is the roof photo."]
    );

    // In both shapes: locally the CLI reads through the running server.
    let shown = d
        .smsflow(&["conversations", "show", "--account", "acme", ANN, "--json"])
        .await;
    let thread: Value = serde_json::from_str(&shown).unwrap_or_else(|e| panic!("{e}: {shown}"));
    let texted = (thread["messages"].as_array().into_iter().flatten())
        .find(|m| m["body"] == "Tuesday at 9 works.")
        .unwrap_or_else(|| panic!("the reply is in the conversation: {thread}"));
    assert_eq!(texted["user_id"], "mary", "sent by Mary: {texted}");

    if d.shape == Shape::Stack {
        // Rotating the account's key revokes every reply address issued under the old one.
        d.smsflow(&["accounts", "rotate-key", "--account", "acme"])
            .await;
        let late = json!({
            "from": MARY, "to": reply_to, "subject": "Re: late", "text": "One more thing",
        });
        let (status, revoked) = reply(d, late).await;
        assert_eq!(status, 200, "{revoked}");
        assert_eq!(revoked["code"], "reply_address_revoked", "{revoked}");
        emails_to(d, MARY, "Not texted: Re: late", 1).await;
    }
}

/// The id of the contact created for `phone`'s first text.
async fn created_contact_of(d: &Deployment, phone: &str) -> String {
    let contacts = d
        .eventually_sandbox("/_sandbox/crm/acme/contacts", PATIENCE, |b| {
            (b["contacts"].as_array().into_iter().flatten()).any(|c| c["phone"] == phone)
        })
        .await;
    (contacts["contacts"].as_array().into_iter().flatten())
        .find(|c| c["phone"] == phone)
        .and_then(|c| c["id"].as_str().map(str::to_string))
        .unwrap_or_default()
}

//! Replies by e-mail to forwarded texts (`usecases/email_reply.rs`) on the local runtime with
//! no consumers: the real-shaped messages of `events/email/` answered to a stored reply
//! address, each sent as a manual SMS from the number the contact texted, or refused with
//! the reason told to the right person, once.

use std::time::Duration;

use smsflow_shared::domain::Timestamp;
use smsflow_shared::domain::reply_address::{ReplyGrant, ReplyToken};
use smsflow_shared::jobs::SendJob;
use smsflow_shared::local::LocalRuntime;
use smsflow_shared::ports::{ConsentRecord, QueueName};
use smsflow_shared::usecases::email_reply::{ReplyOutcome, Verdict, Verdicts, answer_by_email};
use smsflow_tests::example::{ACME_LONG_CODE, ExampleConfig};
use smsflow_tests::fixtures::phone;
use smsflow_tests::runtime::{self, Drain, drain};

const REPLY_DOMAIN: &str = "reply.acme.example";
/// The reply address of every fixture in `events/email/`.
const FIXTURE_TOKEN: &str = "0001abcdefghjkmnpqrstvwxyz";
const JANE: &str = "+14155552671";

const PASSED: Verdicts = Verdicts {
    spam: Verdict::Pass,
    virus: Verdict::Pass,
    spf: Verdict::Pass,
    dkim: Verdict::Pass,
    dmarc: Verdict::Pass,
};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/../events/email/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The example's runtime with the fixtures' reply address granted for Jane's text to
/// acme's number, routed to Mary, issued now and working for `window`.
async fn granted(window: Duration) -> LocalRuntime {
    let rt = runtime::in_memory(
        &ExampleConfig::new().parse(),
        Some("https://sms.example.com"),
    )
    .await;
    let acme = runtime::account(&rt.app, "acme").await;
    let now = rt.app.clock.now();
    let grant = ReplyGrant::issue(
        &acme,
        &phone(JANE),
        Some("mary"),
        &phone(ACME_LONG_CODE),
        now,
        window,
    );
    let token = ReplyToken::parse(FIXTURE_TOKEN).expect("the fixtures' token");
    rt.app
        .store
        .put_reply_grant(&token, &grant)
        .await
        .expect("grant stored");
    rt
}

async fn answer(rt: &LocalRuntime, raw: &[u8], verdicts: &Verdicts) -> ReplyOutcome {
    answer_by_email(&rt.app, REPLY_DOMAIN, raw, verdicts)
        .await
        .expect("handled")
}

async fn queued_sends(rt: &LocalRuntime) -> Vec<SendJob> {
    drain(rt.queue.as_ref(), QueueName::Send, Drain::Hide)
        .await
        .iter()
        .map(|m| serde_json::from_str(&m.body).expect("a send job"))
        .collect()
}

/// (to, subject, body) of every e-mail sent, newest first.
async fn outbox(rt: &LocalRuntime) -> Vec<(String, String, String)> {
    rt.outbox
        .list(100)
        .await
        .expect("outbox")
        .into_iter()
        .map(|entry| {
            let to = entry.email.to.iter().map(|a| a.to_string()).collect();
            (to, entry.email.subject, entry.email.text)
        })
        .collect()
}

#[tokio::test]
async fn each_clients_reply_is_texted_as_mary_once() {
    let cases = [
        (
            "gmail-top-reply.eml",
            "Sure, I'll call her at 3pm today.\n\nMary",
        ),
        (
            "outlook-top-reply.eml",
            "Yes – please tell her the café meeting is moved to Friday.\n\nThanks,\nMary",
        ),
        ("apple-mail-iphone-reply.eml", "Thanks! I’ll be there 👍"),
        (
            "mutt-bottom-reply.eml",
            "I called her: the roof visit is on Tuesday, déjà booked.",
        ),
    ];
    for (name, text) in cases {
        let rt = granted(Duration::from_secs(3600)).await;
        let raw = fixture(name);
        let outcome = answer(&rt, &raw, &PASSED).await;
        let ReplyOutcome::Sent { user, .. } = &outcome else {
            panic!("{name}: {outcome:?}");
        };
        assert_eq!(user, "mary", "{name}");
        let [send] = queued_sends(&rt).await.try_into().expect("one send queued");
        assert_eq!(send.body, text, "{name}");
        assert_eq!(send.to.as_str(), JANE, "{name}");
        assert_eq!(send.sender.as_str(), ACME_LONG_CODE, "{name}");
        assert_eq!(send.user_id.as_deref(), Some("mary"), "{name}");
        assert!(send.manual, "{name}: a manual send fires SendManual");
        // The mail server delivers it again: nothing more.
        assert_eq!(
            answer(&rt, &raw, &PASSED).await,
            ReplyOutcome::Repeat,
            "{name}"
        );
        assert!(queued_sends(&rt).await.is_empty(), "{name}");
        assert!(
            outbox(&rt).await.is_empty(),
            "{name}: nobody is told anything"
        );
    }
}

/// The fixture `name` with its `From` replaced by `from`.
fn from(name: &str, from: &str) -> Vec<u8> {
    String::from_utf8_lossy(&fixture(name))
        .replace(
            "From: Mary Smith <mary@acme.example>",
            &format!("From: {from}"),
        )
        .into_bytes()
}

/// A reply, what the receiving service said of it, the refusal's code (empty: texted) and
/// who is told.
struct Case {
    name: &'static str,
    raw: Vec<u8>,
    verdicts: Verdicts,
    code: &'static str,
    told: Option<&'static str>,
}

#[tokio::test]
async fn a_reply_that_cannot_be_texted_is_refused_and_told_once() {
    let stranger = "Eve <eve@elsewhere.example>";
    let unchecked = Verdicts::default();
    let only_quote = String::from_utf8_lossy(&fixture("apple-mail-iphone-reply.eml"))
        .replace("Thanks! I=E2=80=99ll be there =F0=9F=91=8D", "")
        .replace("Sent from my iPhone", "")
        .into_bytes();
    let case = |name, raw, verdicts, code, told| Case {
        name,
        raw,
        verdicts,
        code,
        told,
    };
    let mary = Some("mary@acme.example");
    let cases = [
        case(
            "a document, not a picture",
            String::from_utf8_lossy(&fixture("gmail-reply-with-photo.eml"))
                .replace(
                    "Content-Type: image/png; name=\"roof.png\"",
                    "Content-Type: application/pdf; name=\"roof.pdf\"",
                )
                .into_bytes(),
            PASSED,
            "attachments_not_sent",
            mary,
        ),
        case("only the quote", only_quote, PASSED, "empty_reply", mary),
        case(
            "a stranger, vouched for",
            from("gmail-top-reply.eml", stranger),
            PASSED,
            "sender_not_allowed",
            Some("eve@elsewhere.example"),
        ),
        case(
            "a stranger, unchecked",
            from("gmail-top-reply.eml", stranger),
            unchecked,
            "sender_not_allowed",
            None,
        ),
        // Sent: a teammate other than Mary, and mail in HTML only.
        case(
            "a teammate, unchecked",
            from("gmail-top-reply.eml", "John <john@acme.example>"),
            unchecked,
            "",
            None,
        ),
        case(
            "html only",
            fixture("html-only-reply.eml"),
            PASSED,
            "",
            None,
        ),
    ];
    for Case {
        name: case,
        raw,
        verdicts,
        code,
        told,
    } in cases
    {
        let rt = granted(Duration::from_secs(3600)).await;
        let outcome = answer(&rt, &raw, &verdicts).await;
        if code.is_empty() {
            assert!(
                matches!(outcome, ReplyOutcome::Sent { .. }),
                "{case}: {outcome:?}"
            );
            continue;
        }
        let ReplyOutcome::Refused {
            code: got,
            told: got_told,
            ..
        } = &outcome
        else {
            panic!("{case}: {outcome:?}");
        };
        assert_eq!(got, code, "{case}");
        assert_eq!(
            got_told.as_ref().map(|a| a.to_string()).as_deref(),
            told,
            "{case}"
        );
        assert!(queued_sends(&rt).await.is_empty(), "{case}: nothing texted");
        let mail = outbox(&rt).await;
        assert_eq!(mail.len(), usize::from(told.is_some()), "{case}: {mail:?}");
        // Delivered again: not told twice.
        assert_eq!(
            answer(&rt, &raw, &verdicts).await,
            ReplyOutcome::Repeat,
            "{case}"
        );
        assert_eq!(outbox(&rt).await.len(), mail.len(), "{case}");
    }
}

#[tokio::test]
async fn expired_revoked_and_unknown_addresses_send_nothing() {
    let raw = fixture("gmail-top-reply.eml");
    // Expired: the grant worked for a millisecond.
    let rt = granted(Duration::from_millis(1)).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let outcome = answer(&rt, &raw, &PASSED).await;
    assert!(
        matches!(&outcome, ReplyOutcome::Refused { code, .. } if code == "unknown_reply_address"),
        "{outcome:?}"
    );
    assert!(queued_sends(&rt).await.is_empty());

    // Revoked: the account's key rotated since the forward.
    let rt = granted(Duration::from_secs(3600)).await;
    let mut acme = runtime::account(&rt.app, "acme").await;
    acme.send_key_hash = smsflow_shared::domain::KeyHash::of("rotated");
    rt.app.store.put_account(&acme).await.expect("rotated");
    let outcome = answer(&rt, &raw, &PASSED).await;
    assert!(
        matches!(&outcome, ReplyOutcome::Refused { code, told: Some(to), .. }
            if code == "reply_address_revoked" && to.as_str() == "mary@acme.example"),
        "{outcome:?}"
    );

    // Spam and forged mail are dropped, unanswered.
    let rt = granted(Duration::from_secs(3600)).await;
    for verdicts in [
        Verdicts {
            spam: Verdict::Fail,
            ..PASSED
        },
        Verdicts {
            virus: Verdict::Fail,
            ..PASSED
        },
        Verdicts {
            dmarc: Verdict::Fail,
            ..PASSED
        },
        Verdicts {
            spf: Verdict::Fail,
            dkim: Verdict::Fail,
            dmarc: Verdict::Disabled,
            ..PASSED
        },
    ] {
        let outcome = answer(&rt, &raw, &verdicts).await;
        assert!(
            matches!(outcome, ReplyOutcome::Dropped { .. }),
            "{verdicts:?}: {outcome:?}"
        );
    }
    assert!(queued_sends(&rt).await.is_empty());
    assert!(outbox(&rt).await.is_empty());
}

#[tokio::test]
async fn an_opted_out_contact_is_not_texted_and_mary_is_told_why() {
    let rt = granted(Duration::from_secs(3600)).await;
    let acme = runtime::account(&rt.app, "acme").await;
    let now: Timestamp = rt.app.clock.now();
    rt.app
        .store
        .set_consent(
            &acme.id,
            &phone(JANE),
            &ConsentRecord {
                opted_out: true,
                changed_at: now,
                source: "STOP keyword".into(),
            },
        )
        .await
        .expect("opted out");
    let outcome = answer(&rt, &fixture("gmail-top-reply.eml"), &PASSED).await;
    assert!(
        matches!(&outcome, ReplyOutcome::Refused { code, .. } if code == "opted_out"),
        "{outcome:?}"
    );
    let mail = outbox(&rt).await;
    let [(to, subject, text)] = mail.as_slice() else {
        panic!("one notice: {mail:?}");
    };
    assert_eq!(to, "mary@acme.example");
    assert!(
        subject.starts_with("Not texted: Re: SMS from Jane Doe"),
        "{subject}"
    );
    assert!(text.contains("opted out"), "{text}");
}

/// `inbound-email` as Lambda runs it: `events/ses-inbound-email.json` replayed after SES's
/// S3 action stored `gmail-top-reply.eml` under the event's message id in moto.
#[tokio::test]
async fn the_ses_event_is_answered_from_the_message_in_s3() {
    use smsflow_shared::adapters::aws::s3::InboundMailBucket;
    use smsflow_shared::handlers::inbound_email::inbound_email;

    let sdk = smsflow_tests::moto::sdk_config().await;
    let bucket = format!("replies-{}", ulid::Ulid::new().to_string().to_lowercase());
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");
    s3.put_object()
        .bucket(&bucket)
        .key("inbound/o3vrnil0e2ic28trm7dfhrc2v0clambda4nbp0g1")
        .body(fixture("gmail-top-reply.eml").into())
        .send()
        .await
        .expect("stored as SES stores it");
    let event = serde_json::from_slice(&fixture("../ses-inbound-email.json")).expect("SES event");

    let rt = granted(Duration::from_secs(3600)).await;
    let mailbox = InboundMailBucket::new(&sdk, bucket.clone(), "inbound/".into());
    let outcomes = inbound_email(&rt.app, &mailbox, event)
        .await
        .expect("handled");
    assert!(
        matches!(&outcomes[..], [ReplyOutcome::Sent { user, .. }] if user == "mary"),
        "{outcomes:?}"
    );
    let [send] = queued_sends(&rt).await.try_into().expect("one send queued");
    assert_eq!(send.body, "Sure, I'll call her at 3pm today.\n\nMary");

    // A message the bucket does not hold fails the invocation, so Lambda retries it.
    let missing = InboundMailBucket::new(&sdk, bucket, "elsewhere/".into());
    let event = serde_json::from_slice(&fixture("../ses-inbound-email.json")).expect("SES event");
    let failed = inbound_email(&rt.app, &missing, event).await;
    assert!(failed.is_err(), "{failed:?}");
}

/// A picture goes to the contact as an MMS from a US number; to a phone abroad, no MMS can
/// carry it and Mary is told.
#[tokio::test]
async fn a_picture_is_texted_as_mms_where_the_number_can_send_one() {
    let raw = fixture("gmail-reply-with-photo.eml");
    let rt = granted(Duration::from_secs(3600)).await;
    let outcome = answer(&rt, &raw, &PASSED).await;
    assert!(matches!(outcome, ReplyOutcome::Sent { .. }), "{outcome:?}");
    let [send] = queued_sends(&rt).await.try_into().expect("one send queued");
    assert_eq!(send.body, "Here is the roof photo.");
    let [url] = send.media_urls.as_slice() else {
        panic!("one picture: {:?}", send.media_urls);
    };
    let key = url.rsplit('/').next().unwrap_or_default();
    let kept = rt.media.picture(key).await.expect("read").expect("kept");
    assert_eq!(kept.content_type, "image/png");
    assert!(
        kept.bytes.starts_with(b"\x89PNG"),
        "the picture as attached"
    );

    let abroad = runtime::in_memory(
        &ExampleConfig::new().parse(),
        Some("https://sms.example.com"),
    )
    .await;
    let acme = runtime::account(&abroad.app, "acme").await;
    let now = abroad.app.clock.now();
    let uk = phone("+447911123456");
    let grant = ReplyGrant::issue(
        &acme,
        &uk,
        Some("mary"),
        &phone(ACME_LONG_CODE),
        now,
        Duration::from_secs(3600),
    );
    let token = ReplyToken::parse(FIXTURE_TOKEN).expect("the fixtures' token");
    abroad
        .app
        .store
        .put_reply_grant(&token, &grant)
        .await
        .expect("grant stored");
    let outcome = answer(&abroad, &raw, &PASSED).await;
    let ReplyOutcome::Refused { code, detail, .. } = &outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(code, "attachments_not_sent");
    assert!(detail.contains("cannot send pictures"), "{detail}");
    assert!(queued_sends(&abroad).await.is_empty());
}

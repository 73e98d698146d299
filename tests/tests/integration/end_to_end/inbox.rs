//! The team inbox in a real browser (Debian's headless Chromium over WebDriver): Mary signs
//! in through the link the inbox e-mails her, sees her conversation with Ann, gets an
//! alert when Ann texts again, and replies; the reply reaches Ann from the number she
//! texted, as Mary, with `SendManual`. The page counts segments as the send path does. A
//! user of another account can neither read nor post to acme's inbox.

use std::path::PathBuf;

use smsflow_shared::domain::segments::count_segments;
use smsflow_tests::browser::Browser;
use smsflow_tests::example::{ACME_LONG_CODE, OtherAccount};

use super::*;

const MARY: &str = "mary@acme.example";
const ZOE: &str = "zoe@globex.example";

/// The example with Mary a rep like John (not the inbox admin she is in the example),
/// and a second account, globex, with its one user, Zoe.
pub(super) fn with_globex() -> ExampleConfig {
    ExampleConfig::new()
        .replace("admin = true", "admin = false")
        .with_account(&OtherAccount {
            id: "globex",
            name: "Globex",
            send_key: "globex-key-change-me-0123456789abc",
            auth_token: "globex-auth-token",
            number: "+16125550199",
            backup_email: "office@globex.example",
            crm: "kind = \"sandbox\"",
        })
        .append(&format!(
            "\n[[accounts.users]]\nid = \"zoe\"\nname = \"Zoe Park\"\nemail = \"{ZOE}\"\n"
        ))
}

/// Where the test writes its screenshots: under the target dir, or where
/// `SMSFLOW_SCREENSHOTS` says (`docs/screenshots` makes the README's).
fn screenshot_path(d: &Deployment, name: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("SMSFLOW_SCREENSHOTS")?;
    let shape = match d.shape {
        Shape::Local => "local",
        Shape::Stack => return None,
    };
    Some(PathBuf::from(dir).join(format!("{name}-{shape}.png")))
}

/// The sign-in link last e-mailed to `to`, as the browser reaches it.
async fn sign_in_link(d: &Deployment, account_name: &str, to: &str, count: usize) -> String {
    let subject = format!("Sign in to the {account_name} inbox");
    let is_link = |e: &&Value| e["to"] == json!([to]) && e["subject"] == subject.as_str();
    let emails = d
        .eventually_sandbox("/_sandbox/emails?limit=1000", PATIENCE, |b| {
            b["emails"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(is_link)
                .count()
                >= count
        })
        .await;
    let text = (emails["emails"].as_array().into_iter().flatten())
        .rfind(is_link)
        .and_then(|e| e["text"].as_str())
        .unwrap_or_default()
        .to_string();
    let link = text
        .split_whitespace()
        .find(|w| w.contains("/link?token="))
        .unwrap_or_else(|| panic!("no sign-in link in {text:?}"));
    assert!(
        link.starts_with(&d.inbox_public),
        "{link} is on {}",
        d.inbox_public
    );
    link.replacen(&d.inbox_public, &d.inbox, 1)
}

/// Signs `email` in to `account`'s inbox in the browser, through the e-mailed link.
async fn sign_in(browser: &Browser, d: &Deployment, account: (&str, &str), email: &str) {
    let (id, name) = account;
    browser.goto(&format!("{}/inbox/{id}", d.inbox)).await;
    assert!(
        browser.current_url().await.ends_with("/sign-in"),
        "signed out: sign-in page"
    );
    browser.type_into("#email", email).await;
    browser.click("form button[type=submit]").await;
    browser.text_until("h1", |t| t == "Check your e-mail").await;
    let link = sign_in_link(d, name, email, 1).await;
    browser.goto(&link).await;
    browser.click("main form button").await;
    browser
        .text_until("h1", |t| t.ends_with("conversations"))
        .await;
}

pub(super) async fn a_rep_signs_in_sees_an_alert_and_replies(d: &Deployment) {
    // Ann is Mary's contact; Ben is John's.
    let ann = new_contact(
        d,
        json!({"first_name": "Ann", "last_name": "Lee", "phone": ANN, "owner_id": "1"}),
    )
    .await;
    new_contact(
        d,
        json!({"first_name": "Ben", "phone": BEN, "owner_id": "2"}),
    )
    .await;
    text(
        d,
        ANN,
        "SM0000000000000000000000000000f001",
        "Is the roof done?",
    )
    .await;
    text(
        d,
        BEN,
        "SM0000000000000000000000000000f002",
        "Invoice please",
    )
    .await;
    routed(d, "Is the roof done?").await;
    routed(d, "Invoice please").await;

    let browser = Browser::start(900, 760).await;
    sign_in(&browser, d, ("acme", "Acme Roofing"), MARY).await;
    // Her conversation, by the CRM's name, unread; not John's.
    let row = browser.text("ul.conversations li").await;
    assert!(
        row.contains("Ann Lee") && row.contains("Is the roof done?"),
        "{row}"
    );
    assert_eq!(browser.text("li .unread").await, "1", "{row}");
    let rows = browser
        .run(
            "return document.querySelectorAll('ul.conversations li').length",
            vec![],
        )
        .await;
    assert_eq!(rows, json!(1), "John's conversation with Ben is not Mary's");
    // A new text appears without a reload, and as a browser notification.
    browser
        .run(
            "window.notes = []; window.Notification = class { \
               constructor(title, options) { window.notes.push([title, options.body]); } \
               static get permission() { return 'granted'; } };",
            vec![],
        )
        .await;
    text(
        d,
        ANN,
        "SM0000000000000000000000000000f003",
        "Also the gutters?",
    )
    .await;
    let alert = browser
        .text_until("#alerts .alert", |t| !t.is_empty())
        .await;
    assert_eq!(alert, "New text from Ann Lee: Also the gutters?");
    assert_eq!(browser.text("li .unread").await, "2");
    let notes = browser.run("return window.notes", vec![]).await;
    assert_eq!(
        notes,
        json!([["New text from Ann Lee", "Also the gutters?"]])
    );
    if let Some(path) = screenshot_path(d, "inbox") {
        browser.screenshot(&path).await;
    }

    // The thread, in the CLI's terms, with a reply box that counts as the send path does.
    browser.click("#alerts .alert").await;
    browser.text_until("h1", |t| t.starts_with("Ann Lee")).await;
    let thread = browser.text("ol.thread").await;
    for words in [
        "Is the roof done?",
        "Also the gutters?",
        "Routed to mary",
        "received",
    ] {
        assert!(thread.contains(words), "{words:?} in {thread}");
    }
    segment_counts_agree(&browser).await;
    browser.type_into("#text", "Yes, both on Tuesday.").await;
    let label = browser.text("label[for=text]").await;
    assert_eq!(label, format!("Reply as Mary Anders from {ACME_LONG_CODE}"));
    if let Some(path) = screenshot_path(d, "thread") {
        browser
            .run("window.scrollTo(0, document.body.scrollHeight)", vec![])
            .await;
        browser.screenshot(&path).await;
    }
    browser.click("form.reply button[type=submit]").await;
    browser
        .text_until("p.sent", |t| t.starts_with("Sent"))
        .await;
    assert_eq!(sent_to(d, ANN, 1).await, ["Yes, both on Tuesday."]);
    assert_eq!(
        first_sender_to(d, ANN).await,
        ACME_LONG_CODE,
        "from the number Ann texted"
    );
    goals_including(d, &ann, &["SendManual"]).await;
    // Opened, the thread is read.
    browser.goto(&format!("{}/inbox/acme", d.inbox)).await;
    let unread = browser
        .run(
            "return document.querySelectorAll('li .unread').length",
            vec![],
        )
        .await;
    assert_eq!(unread, json!(0));
    fits_a_phone_and_labels_every_field(&browser, &format!("{}/inbox/acme/c/{ANN}", d.inbox)).await;

    // Ann opts out: the thread says so and the box is closed.
    text(d, ANN, "SM0000000000000000000000000000f004", "STOP").await;
    let thread_url = format!("{}/inbox/acme/c/{ANN}", d.inbox);
    let banner = eventually(PATIENCE, async || {
        browser.goto(&thread_url).await;
        match browser
            .client
            .find(fantoccini::Locator::Css("p.banner"))
            .await
        {
            Ok(banner) => Ok(banner.text().await.unwrap_or_default()),
            Err(_) => Err("no opt-out banner yet".to_string()),
        }
    })
    .await;
    assert!(banner.starts_with("Ann Lee opted out of texts"), "{banner}");
    let disabled = browser
        .run("return document.getElementById('text').disabled", vec![])
        .await;
    assert_eq!(disabled, json!(true));
    browser.stop().await;

    another_account_cannot_see_or_post(d).await;
}

/// On a phone's screen (390 px wide) the thread needs no sideways scrolling, and every
/// field has a label a screen reader reads out.
async fn fits_a_phone_and_labels_every_field(browser: &Browser, thread: &str) {
    let window = browser.client.get_window_rect().await.expect("window size");
    browser
        .client
        .set_window_size(390, 844)
        .await
        .expect("resized");
    browser.goto(thread).await;
    let layout = browser
        .run(
            "return [document.documentElement.scrollWidth, window.innerWidth,                [...document.querySelectorAll('input:not([type=hidden]), textarea')]                  .filter(f => !(f.labels && f.labels.length)).map(f => f.name)];",
            vec![],
        )
        .await;
    let (width, viewport) = (layout[0].as_i64(), layout[1].as_i64());
    assert!(
        width <= viewport,
        "no sideways scrolling on a phone: {layout}"
    );
    assert_eq!(layout[2], json!([]), "fields without a label");
    let (w, h) = (window.2 as u32, window.3 as u32);
    browser
        .client
        .set_window_size(w, h)
        .await
        .expect("resized back");
}

/// The inbound text whose body is `body`, once it was routed.
async fn routed(d: &Deployment, body: &str) {
    d.eventually_sandbox("/_sandbox/emails?limit=1000", PATIENCE, |b| {
        (b["emails"].as_array().into_iter().flatten())
            .any(|e| e["text"].as_str().is_some_and(|t| t.contains(body)))
    })
    .await;
}

/// The page's count of a table of bodies equals `domain/segments.rs`'s.
async fn segment_counts_agree(browser: &Browser) {
    let bodies = [
        "Tuesday at 9 works.".to_string(),
        "a".repeat(160),
        "a".repeat(161),
        "€".repeat(80),
        "€".repeat(81),
        "Café ☕ at 9?".into(),
        "😀".repeat(70),
        "ç".into(),
    ];
    for body in bodies {
        let shown = browser
            .run(
                "const t = document.getElementById('text'); t.value = arguments[0]; \
                 t.dispatchEvent(new Event('input')); \
                 return document.getElementById('count').value;",
                vec![json!(body)],
            )
            .await;
        let count = count_segments(&body);
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        let expected = format!(
            "{} · {} · {}",
            plural(body.chars().count(), "character"),
            count.encoding.as_str(),
            plural(count.segments as usize, "segment")
        );
        assert_eq!(shown, json!(expected), "{body:?}");
    }
}

/// Zoe, of globex, signs in to her own inbox; acme's pages and reply refuse her, and no
/// link to acme's inbox is e-mailed to her.
async fn another_account_cannot_see_or_post(d: &Deployment) {
    let browser = Browser::start(900, 760).await;
    sign_in(&browser, d, ("globex", "Globex"), ZOE).await;
    browser.goto(&format!("{}/inbox/acme", d.inbox)).await;
    assert_eq!(browser.text("h1").await, "Not your team's inbox");
    browser
        .goto(&format!("{}/inbox/acme/c/{ANN}", d.inbox))
        .await;
    assert_eq!(browser.text("h1").await, "Not your team's inbox");
    // A reply posted from her page with her own CSRF token changes nothing.
    let before = bodies_to(&d.sandbox_json("/_sandbox/messages?limit=1000").await, ANN);
    browser.goto(&format!("{}/inbox/globex", d.inbox)).await;
    let status = browser
        .run(
            "const form = new URLSearchParams({text: 'Hi from Globex', \
               csrf: document.body.dataset.csrf, request_id: '01JZZZZZZZZZZZZZZZZZZZZZZZ'}); \
             return fetch(arguments[0], {method: 'POST', body: form}).then(r => r.status);",
            vec![json!(format!("/inbox/acme/c/{ANN}"))],
        )
        .await;
    assert_eq!(status, json!(403));
    let alerts = browser
        .run(
            "return fetch(arguments[0]).then(r => r.json()).then(b => b.error);",
            vec![json!("/inbox/acme/events?since=0")],
        )
        .await;
    assert_eq!(alerts, json!("other_account"));
    assert_eq!(
        sent_to_after_a_pause(d, ANN).await,
        before,
        "nothing sent for Zoe"
    );
    // Asking acme's inbox for a link to her address e-mails nothing.
    browser
        .client
        .delete_all_cookies()
        .await
        .expect("signed out");
    browser
        .goto(&format!("{}/inbox/acme/sign-in", d.inbox))
        .await;
    browser.type_into("#email", ZOE).await;
    browser.click("form button[type=submit]").await;
    browser.text_until("h1", |t| t == "Check your e-mail").await;
    let emails = d.sandbox_json("/_sandbox/emails?limit=1000").await;
    let to_zoe = (emails["emails"].as_array().into_iter().flatten())
        .filter(|e| e["to"] == json!([ZOE]))
        .count();
    assert_eq!(to_zoe, 1, "only her globex link");
    browser.stop().await;
}

//! Reply extraction on real-shaped messages of several mail clients (`events/email/`), and
//! on bodies written every way a reply is written.

use super::*;

fn fixture(name: &str) -> ReceivedEmail {
    let path = format!("{}/../events/email/{name}", env!("CARGO_MANIFEST_DIR"));
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    read_email(&raw).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn each_clients_reply_yields_only_what_was_written() {
    // (fixture, what the person wrote)
    let cases = [
        // Gmail, written above the quote; its attribution wrapped over two lines.
        (
            "gmail-top-reply.eml",
            "Sure, I'll call her at 3pm today.\n\nMary",
        ),
        // Outlook: Windows-1252, base64, the rule and header block.
        (
            "outlook-top-reply.eml",
            "Yes – please tell her the café meeting is moved to Friday.\n\nThanks,\nMary",
        ),
        // Apple Mail on an iPhone: "Sent from my iPhone", the attribution quoted.
        ("apple-mail-iphone-reply.eml", "Thanks! I’ll be there 👍"),
        // mutt: ISO-8859-1 in 8 bits, written below the quote, a signature.
        (
            "mutt-bottom-reply.eml",
            "I called her: the roof visit is on Tuesday, déjà booked.",
        ),
        // HTML only, ISO-8859-1 quoted-printable, Outlook's header; a link keeps its URL.
        (
            "html-only-reply.eml",
            "Yes, tell her I'll call at 3.\nCafé hours are fine: see our hours (https://acme.example/hours).",
        ),
    ];
    for (name, want) in cases {
        let email = fixture(name);
        assert_eq!(email.new_text(), want, "{name}; body:\n{}", email.body);
        assert_eq!(email.from.as_deref(), Some("mary@acme.example"), "{name}");
        assert_eq!(
            email.recipients,
            ["reply+0001abcdefghjkmnpqrstvwxyz@reply.acme.example"],
            "{name}"
        );
        assert!(email.message_id.is_some(), "{name}");
        assert!(email.attachments.is_empty(), "{name}");
    }
}

#[test]
fn reads_the_headers_a_reply_is_checked_by() {
    let email = fixture("gmail-top-reply.eml");
    assert_eq!(
        email.message_id.as_deref(),
        Some("CAJx9Lk3gmail0001@mail.gmail.com")
    );
    assert_eq!(
        email.subject.as_deref(),
        Some("Re: SMS from Jane Doe (+1 415-555-2671)")
    );
}

#[test]
fn strips_quotes_headers_and_signatures_in_plain_bodies() {
    // (case, body, new text)
    let cases = [
        ("no quote", "Call me back.\n", "Call me back."),
        (
            "blank lines tidied",
            "\n\nOne\n\n\n\nTwo  \n\n",
            "One\n\nTwo",
        ),
        ("quote below", "Yes.\n\n> Can we meet?\n", "Yes."),
        (
            "attribution",
            "Yes.\nOn Tue, 7 May 2024 at 10:00, Ann <a@x.example> wrote:\n> hi",
            "Yes.",
        ),
        (
            "wrapped attribution",
            "Yes.\nOn Tue, 7 May 2024 at 10:00, A very long name\n<a@x.example> wrote:\nhi",
            "Yes.",
        ),
        (
            "french",
            "Oui.\nLe mar. 7 mai 2024 à 10:00, Ann a écrit :\n> salut",
            "Oui.",
        ),
        (
            "german",
            "Ja.\nAm 07.05.2024 um 10:00 schrieb Ann <a@x.example>:\n> hallo",
            "Ja.",
        ),
        (
            "spanish",
            "Sí.\nEl mar, 7 may 2024 a las 10:00, Ann escribió:\n> hola",
            "Sí.",
        ),
        (
            "outlook original message",
            "OK\n\n-----Original Message-----\nFrom: smsflow\nSent: today\n",
            "OK",
        ),
        (
            "outlook header block without a rule",
            "OK\n\nFrom: smsflow <f@x.example>\nSent: Monday\nTo: Mary\nSubject: SMS\n\nhi",
            "OK",
        ),
        (
            "signature",
            "See you.\n-- \nMary\n(952) 314-2318",
            "See you.",
        ),
        (
            "signature without its space",
            "See you.\n--\nMary",
            "See you.",
        ),
        (
            "device line",
            "On my way\n\nSent from my Android phone\n",
            "On my way",
        ),
        (
            "interleaved",
            "On Mon, Ann wrote:\n> Tuesday?\nYes, Tuesday.\n> 3pm?\nBetter 4pm.\n",
            "Yes, Tuesday.\nBetter 4pm.",
        ),
        ("only a quote", "> hi\n> there\n", ""),
        (
            "a dash list is text",
            "Bring:\n- ID\n- the key",
            "Bring:\n- ID\n- the key",
        ),
        (
            "a From line of the text itself",
            "From: tomorrow on, call me at home.",
            "From: tomorrow on, call me at home.",
        ),
    ];
    for (case, body, want) in cases {
        assert_eq!(new_text(body), want, "{case}");
    }
}

#[test]
fn html_bodies_are_cut_at_their_quote_and_read_as_text() {
    // (case, html, new text)
    let cases = [
        (
            "gmail",
            r#"<div dir="ltr">See you at 4.</div><br><div class="gmail_quote"><div class="gmail_attr">On Mon, smsflow wrote:</div><blockquote>hi</blockquote></div>"#,
            "See you at 4.",
        ),
        (
            "apple mail",
            r#"<div>Done.</div><div><br><blockquote type="cite">hi</blockquote></div>"#,
            "Done.",
        ),
        (
            "link text is its URL",
            r#"<p><a href="https://acme.example/x">https://acme.example/x</a></p>"#,
            "https://acme.example/x",
        ),
        (
            "mailto link",
            r#"<p>Write to <a href="mailto:ann@x.example">ann@x.example</a></p>"#,
            "Write to ann@x.example",
        ),
        (
            "entities",
            "<p>Tom &amp; Jerry&nbsp;&lt;3</p>",
            "Tom & Jerry\u{a0}<3",
        ),
    ];
    for (case, html, want) in cases {
        assert_eq!(new_text(&html::to_text(html)), want, "{case}");
    }
}

#[test]
fn attachments_come_with_their_type_and_bytes() {
    let email = fixture("gmail-reply-with-photo.eml");
    assert_eq!(email.new_text(), "Here is the roof photo.");
    let [photo] = email.attachments.as_slice() else {
        panic!("one attachment: {:?}", email.attachments);
    };
    assert_eq!(photo.file_name.as_deref(), Some("roof.png"));
    assert_eq!(photo.content_type, "image/png");
    assert!(!photo.inline);
    assert_eq!(email.attached().count(), 1);
    assert!(
        photo.bytes.starts_with(b"\x89PNG"),
        "{:?}",
        &photo.bytes[..8]
    );
}

#[test]
fn what_is_not_mime_is_refused() {
    assert_eq!(read_email(b""), Err(EmailReadError::NotMime));
}

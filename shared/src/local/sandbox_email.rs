//! `POST /_sandbox/email`: a teammate's e-mail to a reply address, delivered as the
//! receiving service (SES) would deliver it. The body is the raw message (RFC 5322 with
//! MIME parts, any content type but JSON), or a JSON shortcut composed into one; the
//! receiving service's verdicts come from the query (`?spam=FAIL&dmarc=FAIL`), each
//! `PASS` unless given. Local mode answers the reply in process; the stack runner plays SES
//! receiving (the template's receipt rule: the message stored in S3, then `inbound-email`
//! invoked with SES's event). Both answer what became of the reply.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use mail_builder::MessageBuilder;
use serde::Deserialize;

pub use super::sandbox_api::EMAIL_PATH;
use super::sandbox_api::{invalid, json_body};
use crate::domain::email_reply::read_email;
use crate::handlers::ApiError;
use crate::usecases::email_reply::{Verdict, Verdicts};

/// The JSON shortcut: a plain-text e-mail.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailShortcut {
    pub from: String,
    /// The reply address (`reply+<token>@<reply domain>`), as the forward's `Reply-To`.
    pub to: String,
    #[serde(default)]
    pub subject: Option<String>,
    pub text: String,
    /// A repeat delivery carries the same one; a new one is made when absent.
    #[serde(default)]
    pub message_id: Option<String>,
}

/// The receiving service's verdicts, each `PASS` unless the query says otherwise.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerdictQuery {
    spam: Option<Verdict>,
    virus: Option<Verdict>,
    spf: Option<Verdict>,
    dkim: Option<Verdict>,
    dmarc: Option<Verdict>,
}

impl VerdictQuery {
    pub fn verdicts(&self) -> Verdicts {
        let or_pass = |v: Option<Verdict>| v.unwrap_or(Verdict::Pass);
        Verdicts {
            spam: or_pass(self.spam),
            virus: or_pass(self.virus),
            spf: or_pass(self.spf),
            dkim: or_pass(self.dkim),
            dmarc: or_pass(self.dmarc),
        }
    }
}

/// An e-mail as the receiving service delivers it.
#[derive(Debug, Clone)]
pub struct DeliveredEmail {
    pub raw: Vec<u8>,
    pub verdicts: Verdicts,
}

/// The request's e-mail: the body as it is, or the JSON shortcut composed (with
/// `fresh_id` in a new `Message-ID`); a body that is no MIME message is a 400.
pub fn delivered_email(
    headers: &HeaderMap,
    query: &VerdictQuery,
    body: &Bytes,
    fresh_id: &str,
) -> Result<DeliveredEmail, ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    let raw = if is_json {
        compose(&json_body::<EmailShortcut>(body)?, fresh_id)?
    } else {
        body.to_vec()
    };
    if read_email(&raw).is_err() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body is not an e-mail: send the raw message (RFC 5322, as message/rfc822) \
             or the JSON shortcut {from, to, subject, text, message_id}",
        ));
    }
    Ok(DeliveredEmail {
        raw,
        verdicts: query.verdicts(),
    })
}

/// The shortcut as a plain-text MIME message.
fn compose(shortcut: &EmailShortcut, fresh_id: &str) -> Result<Vec<u8>, ApiError> {
    for (field, value) in [("from", &shortcut.from), ("to", &shortcut.to)] {
        if crate::domain::EmailAddress::parse(value).is_err() {
            return Err(invalid(
                field,
                format!("'{value}' is not an e-mail address"),
            ));
        }
    }
    let one_line = |field: &str, value: &str| {
        if value.contains(['\r', '\n']) {
            Err(invalid(field, "must be one line"))
        } else {
            Ok(value.to_string())
        }
    };
    let subject = one_line("subject", shortcut.subject.as_deref().unwrap_or("Re: SMS"))?;
    let message_id = match &shortcut.message_id {
        Some(id) => one_line("message_id", id.trim_matches(['<', '>']))?,
        None => format!("{fresh_id}@sandbox.smsflow.invalid"),
    };
    MessageBuilder::new()
        .from(shortcut.from.as_str())
        .to(shortcut.to.as_str())
        .subject(subject)
        .message_id(message_id)
        .text_body(shortcut.text.as_str())
        .write_to_vec()
        .map_err(|e| ApiError::internal(format!("cannot compose the e-mail: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::email_reply::read_email;

    fn json_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        headers
    }

    #[test]
    fn the_shortcut_becomes_a_message_read_back_as_written() {
        let body = Bytes::from(
            serde_json::json!({
                "from": "mary@acme.example",
                "to": "reply+0001abcdefghjkmnpqrstvwxyz@reply.acme.example",
                "subject": "Re: SMS from Jane — ¿mañana?",
                "text": "Yes, 9 works. ¿Mañana? = fine\nMary",
            })
            .to_string(),
        );
        let delivered = delivered_email(&json_headers(), &VerdictQuery::default(), &body, "01J0ID")
            .expect("composed");
        let email = read_email(&delivered.raw).expect("MIME");
        assert_eq!(email.from.as_deref(), Some("mary@acme.example"));
        assert_eq!(
            email.recipients,
            vec!["reply+0001abcdefghjkmnpqrstvwxyz@reply.acme.example".to_string()]
        );
        assert_eq!(
            email.subject.as_deref(),
            Some("Re: SMS from Jane — ¿mañana?")
        );
        assert_eq!(
            email.body.replace("\r\n", "\n").trim_end(),
            "Yes, 9 works. ¿Mañana? = fine\nMary"
        );
        assert_eq!(
            email.message_id.as_deref(),
            Some("01J0ID@sandbox.smsflow.invalid")
        );
        assert_eq!(delivered.verdicts.dmarc, Verdict::Pass);
    }

    #[test]
    fn bad_requests_are_refused_with_the_field() {
        let cases = [
            (
                json_headers(),
                r#"{"from":"mary","to":"a@b.example","text":"x"}"#,
                "from:",
            ),
            (
                json_headers(),
                r#"{"from":"m@a.example","to":"a@b.example","text":"x","subject":"a\nBcc: x@y.example"}"#,
                "subject:",
            ),
            (json_headers(), r#"{"from":"m@a.example"}"#, "missing field"),
            (HeaderMap::new(), "", "not an e-mail"),
        ];
        for (headers, body, want) in cases {
            let err = delivered_email(&headers, &VerdictQuery::default(), &Bytes::from(body), "id")
                .expect_err(body);
            assert!(err.detail.contains(want), "{body}: {}", err.detail);
        }
    }

    #[test]
    fn verdicts_default_to_pass() {
        let query: VerdictQuery =
            serde_urlencoded::from_str("spam=FAIL&dmarc=GRAY").expect("query");
        let v = query.verdicts();
        assert_eq!(
            (v.spam, v.virus, v.spf, v.dkim, v.dmarc),
            (
                Verdict::Fail,
                Verdict::Pass,
                Verdict::Pass,
                Verdict::Pass,
                Verdict::Gray
            )
        );
    }
}

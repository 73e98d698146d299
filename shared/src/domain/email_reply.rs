//! A reply to a forwarded text, as the mail server received it: the MIME message read
//! (plain and HTML-only mail, quoted-printable and base64 parts, any charset) and only the
//! new text taken from it, for the reply to become an SMS. This is the first piece of
//! reply by e-mail; the function that receives the replies is built on it next.
//!
//! What is stripped from the body ([`new_text`]):
//! - the quoted original: `>` lines, and everything from a reply header on — the
//!   attribution line of Gmail, Apple Mail, Thunderbird and mutt ("On … wrote:", also
//!   wrapped over two lines and in French, German, Spanish, Italian, Dutch and Portuguese),
//!   Outlook's header block ("From: … Sent: … To: … Subject: …", after a rule or not) and
//!   "-----Original Message-----";
//! - a signature after the `-- ` line, and the mobile clients' "Sent from my iPhone" lines;
//! - in HTML-only mail, everything from the quote's element on (Gmail's `gmail_quote`,
//!   Outlook's `divRplyFwdMsg` and its rule, `<blockquote>`), then the HTML as plain text
//!   with links kept as "text (URL)".
//!
//! A reply written below the quote (bottom posting, interleaved answers) keeps the
//! unquoted lines after the quote instead.

use mail_parser::{MessageParser, MimeHeaders};

mod html;
mod text;

pub use text::new_text;

/// An e-mail as smsflow reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedEmail {
    /// The `Message-ID`, without angle brackets: a repeat delivery of the same e-mail
    /// carries the same one.
    pub message_id: Option<String>,
    /// The sender's address, lower-cased.
    pub from: Option<String>,
    /// The `To` and `Cc` addresses, lower-cased, in order.
    pub recipients: Vec<String>,
    pub subject: Option<String>,
    /// The body as text: the plain part, else the HTML part up to its quote, as text.
    pub body: String,
    pub attachments: Vec<Attachment>,
}

impl ReceivedEmail {
    /// What the sender wrote: the body without the quoted original and signature.
    pub fn new_text(&self) -> String {
        new_text(&self.body)
    }
}

/// A part that is not the message's text (a picture, a document, an inline image).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub file_name: Option<String>,
    /// `type/subtype`, lower-cased.
    pub content_type: String,
    /// Shown inside the HTML body (a `Content-ID` the HTML refers to): most often a
    /// signature's logo rather than something sent on purpose.
    pub inline: bool,
    pub bytes: Vec<u8>,
}

impl ReceivedEmail {
    /// The attachments the sender attached on purpose (not inline images).
    pub fn attached(&self) -> impl Iterator<Item = &Attachment> {
        self.attachments.iter().filter(|a| !a.inline)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailReadError {
    #[error("the message is not a MIME message (no header could be read)")]
    NotMime,
}

/// Reads a raw message (RFC 5322 with MIME parts), as SES stores it.
pub fn read_email(raw: &[u8]) -> Result<ReceivedEmail, EmailReadError> {
    let message = MessageParser::default()
        .parse(raw)
        .filter(|m| !m.headers().is_empty())
        .ok_or(EmailReadError::NotMime)?;
    let addresses = |list: Option<&mail_parser::Address<'_>>| -> Vec<String> {
        list.map(|a| {
            a.iter()
                .filter_map(|addr| addr.address())
                .map(str::to_lowercase)
                .collect()
        })
        .unwrap_or_default()
    };
    let mut recipients = addresses(message.to());
    recipients.extend(addresses(message.cc()));
    // Without a plain part the parser offers the HTML part as the text one.
    let html_only = message.text_part(0).is_none_or(|part| part.is_text_html());
    let body = if html_only && message.html_part(0).is_some() {
        html::to_text(&message.body_html(0).unwrap_or_default())
    } else {
        message
            .body_text(0)
            .map(|t| t.into_owned())
            .unwrap_or_default()
    };
    Ok(ReceivedEmail {
        message_id: message.message_id().map(str::to_string),
        from: addresses(message.from()).into_iter().next(),
        recipients,
        subject: message.subject().map(str::to_string),
        body,
        attachments: message.attachments().map(attachment).collect(),
    })
}

fn attachment(part: &mail_parser::MessagePart<'_>) -> Attachment {
    let content_type = part
        .content_type()
        .map(|c| match c.subtype() {
            Some(sub) => format!("{}/{}", c.ctype(), sub),
            None => c.ctype().to_string(),
        })
        .unwrap_or_else(|| "application/octet-stream".into())
        .to_lowercase();
    let inline = part.content_id().is_some()
        && part
            .content_disposition()
            .is_none_or(|d| !d.ctype().eq_ignore_ascii_case("attachment"));
    Attachment {
        file_name: part.attachment_name().map(str::to_string),
        content_type,
        inline,
        bytes: part.contents().to_vec(),
    }
}

#[cfg(test)]
mod tests;

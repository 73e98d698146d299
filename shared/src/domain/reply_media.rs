//! Which of a reply e-mail's attachments can go to the contact as MMS pictures, and why not
//! when they cannot. Twilio sends MMS from US and Canadian long codes, toll-free numbers and
//! short codes to US and Canadian phones, and fully supports JPEG, PNG and GIF pictures of
//! up to 5 MB in all per message; Instasent and alphanumeric senders send text only.

use super::account::{Account, SenderKind};
use super::email_reply::Attachment;
use super::phone::PhoneNumber;
use super::provider::SmsProviderKind;
use super::send_content::MAX_MEDIA_URLS;

/// The picture types every carrier shows as they are.
pub const MMS_PICTURE_TYPES: [&str; 3] = ["image/jpeg", "image/png", "image/gif"];
/// Twilio's limit on a message's media, all of it together.
pub const MAX_MMS_BYTES: usize = 5 * 1024 * 1024;

/// Why a reply's attachments cannot be texted. Told to the teammate as `attachments_not_sent`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaRefusal {
    #[error(
        "{sender} cannot send pictures: MMS goes out only from Twilio numbers in the US and Canada to phones there. Send the text without attachments."
    )]
    NoMms { sender: PhoneNumber },
    #[error(
        "{name} is {content_type}: only pictures (JPEG, PNG, GIF) can be texted. Send the text without it."
    )]
    NotAPicture { name: String, content_type: String },
    #[error("{count} pictures attached: a text can carry {MAX_MEDIA_URLS}.")]
    TooMany { count: usize },
    #[error(
        "The pictures come to {:.1} MB: a text can carry 5 MB in all.",
        *bytes as f64 / (1024.0 * 1024.0)
    )]
    TooLarge { bytes: usize },
}

/// Whether a message from `our_number` to `contact` can carry pictures.
pub fn sends_mms(account: &Account, our_number: &PhoneNumber, contact: &PhoneNumber) -> bool {
    let kind = account.number(our_number).map(|n| n.kind);
    let mms_kind = matches!(
        kind,
        Some(SenderKind::LongCode | SenderKind::TollFree | SenderKind::ShortCode)
    );
    let north_american = |phone: &PhoneNumber| phone.as_str().starts_with("+1");
    account.provider_of(Some(our_number)) == SmsProviderKind::Twilio
        && mms_kind
        && north_american(our_number)
        && north_american(contact)
}

/// The pictures to send, or why they cannot be sent; no attachments is no pictures.
pub fn mms_pictures<'a>(
    attached: &[&'a Attachment],
    sender: &PhoneNumber,
    can_send_mms: bool,
) -> Result<Vec<&'a Attachment>, MediaRefusal> {
    if attached.is_empty() {
        return Ok(Vec::new());
    }
    if !can_send_mms {
        return Err(MediaRefusal::NoMms {
            sender: sender.clone(),
        });
    }
    if let Some(other) = attached
        .iter()
        .find(|a| !MMS_PICTURE_TYPES.contains(&a.content_type.as_str()))
    {
        return Err(MediaRefusal::NotAPicture {
            name: other
                .file_name
                .clone()
                .unwrap_or_else(|| "An attachment".into()),
            content_type: other.content_type.clone(),
        });
    }
    if attached.len() > MAX_MEDIA_URLS {
        return Err(MediaRefusal::TooMany {
            count: attached.len(),
        });
    }
    let total: usize = attached.iter().map(|a| a.bytes.len()).sum();
    if total > MAX_MMS_BYTES {
        return Err(MediaRefusal::TooLarge { bytes: total });
    }
    Ok(attached.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures;

    fn attachment(content_type: &str, size: usize) -> Attachment {
        Attachment {
            file_name: Some(format!(
                "file.{}",
                content_type.rsplit('/').next().unwrap_or("x")
            )),
            content_type: content_type.into(),
            inline: false,
            bytes: vec![0; size],
        }
    }

    #[test]
    fn pictures_go_as_mms_from_north_american_twilio_numbers_only() {
        let account = fixtures::account();
        let ours = account.numbers[0].number.clone();
        let us = fixtures::phone("+14155552671");
        let uk = fixtures::phone("+447911123456");
        assert!(sends_mms(&account, &ours, &us));
        assert!(!sends_mms(&account, &ours, &uk));
        assert!(
            !sends_mms(&account, &fixtures::phone("+14155550199"), &us),
            "not ours"
        );
    }

    #[test]
    fn attachments_are_pictures_within_twilios_limits_or_refused() {
        let sender = fixtures::phone("+19523142318");
        let png = attachment("image/png", 1000);
        let pdf = attachment("application/pdf", 1000);
        let huge = attachment("image/jpeg", MAX_MMS_BYTES + 1);
        let many: Vec<Attachment> = (0..11).map(|_| attachment("image/gif", 10)).collect();
        let many: Vec<&Attachment> = many.iter().collect();
        // (attachments, the sender can send MMS, pictures sent or the refusal's code)
        let cases: Vec<(Vec<&Attachment>, bool, Result<usize, &str>)> = vec![
            (vec![], false, Ok(0)),
            (vec![&png], true, Ok(1)),
            (vec![&png, &png], true, Ok(2)),
            (vec![&png], false, Err("cannot send pictures")),
            (vec![&png, &pdf], true, Err("file.pdf is application/pdf")),
            (many, true, Err("11 pictures attached")),
            (vec![&huge], true, Err("5 MB in all")),
        ];
        for (attached, mms, want) in cases {
            let got = mms_pictures(&attached, &sender, mms)
                .map(|p| p.len())
                .map_err(|e| e.to_string());
            match (got, want) {
                (Ok(n), Ok(w)) => assert_eq!(n, w),
                (Err(e), Err(w)) => assert!(e.contains(w), "{e}"),
                (got, want) => panic!("{got:?}, wanted {want:?}"),
            }
        }
    }
}

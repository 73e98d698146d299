//! The automation queue's effects that are one call each: a tag, a note, an e-mail address
//! or a custom field on a CRM contact, and an e-mail. Each takes only the port it calls.

use super::{JobOutcome, crm_outcome};
use crate::domain::ContactId;
use crate::domain::{Account, EmailAddress};
use crate::ports::{Crm, Email, MailError, Mailer, NewNote};

pub async fn apply_tag(
    crm: &dyn Crm,
    account: &Account,
    contact_id: &ContactId,
    tag: &str,
) -> JobOutcome {
    crm_outcome(crm.apply_tag(account, contact_id, tag).await.map(|_| ()))
}

pub async fn create_note(
    crm: &dyn Crm,
    account: &Account,
    contact_id: &ContactId,
    note: &NewNote,
) -> JobOutcome {
    crm_outcome(crm.create_note(account, contact_id, note).await.map(|_| ()))
}

pub async fn set_email(
    crm: &dyn Crm,
    account: &Account,
    contact_id: &ContactId,
    email: &EmailAddress,
) -> JobOutcome {
    crm_outcome(crm.set_email(account, contact_id, email).await)
}

pub async fn set_custom_field(
    crm: &dyn Crm,
    account: &Account,
    contact_id: &ContactId,
    field: &str,
    value: &str,
) -> JobOutcome {
    crm_outcome(
        crm.set_custom_field(account, contact_id, field, value)
            .await,
    )
}

/// An e-mail (a forwarded text, an alert): SES trouble is retried, a refusal is final.
pub async fn send_email(mailer: &dyn Mailer, email: &Email) -> JobOutcome {
    match mailer.send(email).await {
        Ok(_) => JobOutcome::Done,
        Err(MailError::Unavailable(e)) => JobOutcome::Retry(e),
        Err(MailError::Rejected(e)) => JobOutcome::Dropped(format!("e-mail rejected: {e}")),
    }
}

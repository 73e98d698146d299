//! Definitions: applying a sequence file to the store, checked against the account.

use crate::domain::sender::{SenderError, SenderSpec};
use crate::domain::sequence::{ContactField, Sequence};
use crate::domain::{Account, AccountId, PhoneNumber};
use crate::ports::{Contact, Store, StoreError};

/// Why a valid definition cannot be stored for its account.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{origin}: account '{account}' does not exist (push it first: smsflow accounts push)")]
    UnknownAccount { origin: String, account: AccountId },
    #[error("{origin}: {source}")]
    Sender {
        origin: String,
        #[source]
        source: SenderError,
    },
    #[error(
        "{origin}: phone_field '{field}': smsflow reads and writes the mobile number in \
         Contact.Phone1 or a custom field (Contact._Name)"
    )]
    PhoneField { origin: String, field: String },
    #[error(
        "{origin}: keyword '{keyword}' already starts sequence '{other}' of account \
         {account}: keywords must be unique within an account"
    )]
    KeywordTaken {
        origin: String,
        keyword: String,
        other: String,
        account: AccountId,
    },
    #[error("storage: {0}")]
    Store(#[from] StoreError),
}

/// What [`apply`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    Created,
    Replaced,
}

/// Stores a validated definition after checking it against its account: the sender is
/// one the account may send from, the phone field is one the CRM port reads, and no other
/// sequence of the account starts on one of its keywords.
pub async fn apply(store: &dyn Store, sequence: &Sequence) -> Result<Applied, ApplyError> {
    let origin = sequence.origin().to_string();
    let Some(account) = store.account(sequence.account()).await? else {
        return Err(ApplyError::UnknownAccount {
            origin,
            account: sequence.account().clone(),
        });
    };
    SenderSpec::parse(sequence.sender(), &account).map_err(|source| ApplyError::Sender {
        origin: origin.clone(),
        source,
    })?;
    if !is_readable_phone_field(sequence.phone_field()) {
        return Err(ApplyError::PhoneField {
            origin,
            field: sequence.phone_field().to_string(),
        });
    }
    let mut replaced = false;
    for other in store.sequences(&account.id).await? {
        // One no longer valid starts nothing: it cannot hold a keyword.
        let Ok(other) = other else { continue };
        if other.name() == sequence.name() {
            replaced = true;
            continue;
        }
        if !sequence.start_mode().by_keyword() {
            continue;
        }
        if let Some(keyword) = sequence.keywords().iter().find(|k| other.is_started_by(k)) {
            return Err(ApplyError::KeywordTaken {
                origin,
                keyword: keyword.clone(),
                other: other.name().to_string(),
                account: account.id.clone(),
            });
        }
    }
    // An entry that no longer validates is replaced too.
    if !replaced {
        replaced = store
            .sequence(&account.id, sequence.name())
            .await?
            .is_some();
    }
    store.put_sequence(sequence).await?;
    Ok(if replaced {
        Applied::Replaced
    } else {
        Applied::Created
    })
}

/// `Contact.Phone1` or a custom field: what the CRM port's contact carries.
pub(super) fn is_readable_phone_field(field: &ContactField) -> bool {
    match field {
        ContactField::Standard(standard) => standard.name() == "Phone1",
        ContactField::Custom(_) => true,
    }
}

/// The contact's mobile number as the sequence's phone field holds it.
pub(super) fn phone_in_field(
    account: &Account,
    field: &ContactField,
    contact: &Contact,
) -> Option<PhoneNumber> {
    match field {
        ContactField::Custom(custom) => contact
            .custom_field(custom.name())
            .and_then(|value| account.parse_phone(value).ok()),
        ContactField::Standard(_) if is_readable_phone_field(field) => contact.phone.clone(),
        ContactField::Standard(_) => None,
    }
}

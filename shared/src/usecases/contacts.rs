//! CRM contacts looked up by phone, through a short-lived cache: CRM quotas are tight and
//! inbound texts and send requests often ask for the same contact within minutes.

use std::time::Duration;

use crate::domain::{Account, PhoneNumber, Timestamp};
use crate::ports::{CachedContact, Contact, ContactCache, Crm, CrmError};

/// How long a CRM contact lookup is reused (contacts change rarely).
const CONTACT_CACHE: Duration = Duration::from_secs(10 * 60);

/// The contact with this phone: from the cache, else from the CRM (and then cached).
pub(crate) async fn cached_or_found_contact(
    cache: &dyn ContactCache,
    crm: &dyn Crm,
    account: &Account,
    phone: &PhoneNumber,
    now: Timestamp,
) -> Result<Option<Contact>, CrmError> {
    let cached = match cache.cached_contact(&account.id, phone, now).await {
        Ok(cached) => cached,
        Err(e) => {
            tracing::warn!(error = %e, "contact cache unavailable; asking the CRM");
            None
        }
    };
    found_contact(cached, cache, crm, account, phone, now).await
}

/// The contact with this phone if the cache holds it: no CRM call.
pub(crate) async fn cached_only(
    cache: &dyn ContactCache,
    account: &Account,
    phone: &PhoneNumber,
    now: Timestamp,
) -> Option<Contact> {
    decoded(cache.cached_contact(&account.id, phone, now).await.ok()?)
}

/// The contact a cache entry holds, if it reads as one.
fn decoded(cached: Option<CachedContact>) -> Option<Contact> {
    cached.and_then(|c| serde_json::from_value::<Contact>(c.contact).ok())
}

/// As [`cached_or_found_contact`], with the cache already read (`cached`: what it held).
pub(crate) async fn found_contact(
    cached: Option<CachedContact>,
    cache: &dyn ContactCache,
    crm: &dyn Crm,
    account: &Account,
    phone: &PhoneNumber,
    now: Timestamp,
) -> Result<Option<Contact>, CrmError> {
    if let Some(contact) = decoded(cached) {
        return Ok(Some(contact));
    }
    let found = crm.find_contact_by_phone(account, phone).await?;
    if let Some(contact) = &found {
        cache_contact(cache, account, phone, contact, now).await;
    }
    Ok(found)
}

/// Caches a contact just found or created (best effort: a failure only costs a lookup).
pub(crate) async fn cache_contact(
    cache: &dyn ContactCache,
    account: &Account,
    phone: &PhoneNumber,
    contact: &Contact,
    now: Timestamp,
) {
    let Ok(value) = serde_json::to_value(contact) else {
        return;
    };
    let cached = CachedContact {
        contact: value,
        expires_at: now.plus(CONTACT_CACHE),
    };
    if let Err(e) = cache.cache_contact(&account.id, phone, &cached).await {
        tracing::warn!(error = %e, "could not cache the contact");
    }
}

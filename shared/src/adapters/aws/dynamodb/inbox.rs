//! The team inbox's sign-in and read marks on DynamoDB. Links, sessions and sign-in counts
//! are one expiring item each (TTL deletes them; reads skip what has expired); a user's read
//! marks share one partition, one item per conversation, so one Query reads them all.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;

use super::DynamoStore;
use super::errors::{backend, condition_failed};
use super::item::{
    Item, Key, corrupt, decode, encode, expiry_attributes, is_live, item_with, n, number_attr,
    string_attr, timestamp_attr,
};
use crate::domain::inbox::{InboxSession, SecretDigest, SignInLink};
use crate::domain::{AccountId, EmailAddress, PhoneNumber, Timestamp};
use crate::ports::store::{InboxStore, StoreError, StoreResult};

/// The attribute of a read mark holding how far it reads, in epoch milliseconds.
const READ_THROUGH: &str = "read_through_ms";

fn link_key(digest: &SecretDigest) -> Key {
    Key::new(format!("INBOXLINK#{}", digest.as_str()), "INBOXLINK")
}

fn session_key(digest: &SecretDigest) -> Key {
    Key::new(format!("INBOXSESSION#{}", digest.as_str()), "INBOXSESSION")
}

/// Addresses are counted case-insensitively: `Mary@x` and `mary@x` share one counter.
fn sign_in_count_key(email: &EmailAddress, window: Timestamp) -> Key {
    let email = email.as_str().to_ascii_lowercase();
    Key::new(format!("SIGNIN#{email}#{}", window.as_millis()), "SIGNIN")
}

/// Account ids hold no `#`, so the user id after the second one is unambiguous.
fn read_marks_pk(account: &AccountId, user: &str) -> String {
    format!("READ#{account}#{user}")
}

#[async_trait]
impl InboxStore for DynamoStore {
    async fn put_sign_in_link(&self, digest: &SecretDigest, link: &SignInLink) -> StoreResult<()> {
        let key = link_key(digest);
        let [expires_ms, expires_s] = expiry_attributes(link.expires_at);
        let data = encode(link, &key)?;
        self.put(item_with(&key, [("data", data), expires_ms, expires_s]))
            .await
    }

    /// One DeleteItem returning what it deleted: of two concurrent takes, only one gets the
    /// old item back.
    async fn take_sign_in_link(
        &self,
        digest: &SecretDigest,
        now: Timestamp,
    ) -> StoreResult<Option<SignInLink>> {
        match self.delete(&link_key(digest)).await? {
            Some(item) if is_live(&item, now)? => Ok(Some(decode(&item)?)),
            _ => Ok(None),
        }
    }

    /// One atomic `ADD`, which also (re)sets the expiry so TTL removes the counter.
    async fn count_sign_in_request(
        &self,
        email: &EmailAddress,
        window: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<u32> {
        let key = sign_in_count_key(email, window);
        let [(ms_name, ms), (s_name, s)] = expiry_attributes(expires_at);
        let context = format!("UpdateItem {key}");
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key.item()))
            .update_expression(format!("ADD n :one SET {ms_name} = :ms, {s_name} = :s"))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":ms", ms)
            .expression_attribute_values(":s", s)
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| backend(&context, &e))?;
        let item = out
            .attributes
            .ok_or_else(|| StoreError::Backend(format!("{context} returned no attributes")))?;
        let count = number_attr(&item, "n")?;
        u32::try_from(count).map_err(|_| corrupt(&item, format!("count out of range: {count}")))
    }

    async fn put_inbox_session(
        &self,
        digest: &SecretDigest,
        session: &InboxSession,
    ) -> StoreResult<()> {
        let key = session_key(digest);
        let [expires_ms, expires_s] = expiry_attributes(session.expires_at);
        let data = encode(session, &key)?;
        self.put(item_with(&key, [("data", data), expires_ms, expires_s]))
            .await
    }

    /// Strongly consistent: a session just ended must not let its cookie back in.
    async fn inbox_session(
        &self,
        digest: &SecretDigest,
        now: Timestamp,
    ) -> StoreResult<Option<InboxSession>> {
        match self.get(&session_key(digest), true).await? {
            Some(item) if is_live(&item, now)? => Ok(Some(decode(&item)?)),
            _ => Ok(None),
        }
    }

    async fn end_inbox_session(&self, digest: &SecretDigest) -> StoreResult<()> {
        self.delete(&session_key(digest)).await.map(|_| ())
    }

    /// A conditional update that only moves the mark forward; a failed condition means a
    /// later (or equal) mark is already there, which is what the caller wants.
    async fn mark_read(
        &self,
        account: &AccountId,
        user: &str,
        phone: &PhoneNumber,
        through: Timestamp,
    ) -> StoreResult<()> {
        let key = Key::new(read_marks_pk(account, user), phone.as_str());
        let context = format!("UpdateItem {key}");
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key.item()))
            .update_expression(format!("SET {READ_THROUGH} = :t"))
            .condition_expression(format!(
                "attribute_not_exists({READ_THROUGH}) OR {READ_THROUGH} < :t"
            ))
            .expression_attribute_values(":t", n(through.as_millis()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => condition_failed(&context, err).map(|_| ()),
        }
    }

    async fn read_marks(
        &self,
        account: &AccountId,
        user: &str,
    ) -> StoreResult<BTreeMap<PhoneNumber, Timestamp>> {
        let items = self
            .query_partition(&read_marks_pk(account, user), None)
            .await?;
        items.iter().map(read_mark).collect()
    }
}

/// One read mark item as (conversation, read through).
fn read_mark(item: &Item) -> StoreResult<(PhoneNumber, Timestamp)> {
    let phone = PhoneNumber::trusted_e164(string_attr(item, "sk")?)
        .map_err(|e| corrupt(item, format!("sk: {e}")))?;
    Ok((phone, timestamp_attr(item, READ_THROUGH)?))
}

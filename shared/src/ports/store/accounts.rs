//! Accounts and the numbers and Messaging Services they own.

use async_trait::async_trait;

use crate::domain::{Account, AccountId, PhoneNumber};

use super::StoreResult;

/// The account a text to one of its senders belongs to, and by which claim it was found.
#[derive(Debug, Clone, PartialEq)]
pub enum ReceivingAccount {
    /// The account owns the number the text was sent to.
    OwnsNumber(Account),
    /// No account owns the number; this one lists the Messaging Service the number is
    /// pooled in (the caller still checks that it is the Twilio account that sent it).
    ListsService(Account),
}

#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Creates or replaces an account and claims its inbound numbers and its Messaging
    /// Services (by [`canonical_service_sid`](crate::domain::canonical_service_sid), so
    /// case does not matter) atomically. Fails, changing nothing, with `NumberTaken` or
    /// `ServiceTaken` if another account owns one of them (numbers are checked first);
    /// numbers and services the account no longer lists are released.
    async fn put_account(&self, account: &Account) -> StoreResult<()>;
    async fn account(&self, id: &AccountId) -> StoreResult<Option<Account>>;
    async fn account_by_number(&self, number: &PhoneNumber) -> StoreResult<Option<Account>>;
    /// The account receiving a text to `number`: its owner, else (given `service_sid`) the
    /// account listing that Messaging Service, as [`Self::account_by_messaging_service`]
    /// finds it. The inbound webhook's lookup: the backend reads both claims at once.
    async fn receiving_account(
        &self,
        number: &PhoneNumber,
        service_sid: Option<&str>,
    ) -> StoreResult<Option<ReceivingAccount>>;
    /// The account that lists the Messaging Service `service_sid` (any ASCII case), read
    /// through the claims `put_account` keeps: a constant number of reads, however many
    /// accounts there are. Accounts stored by versions before this index have no claims: the
    /// first lookup that misses indexes them all once (see the backends), so they are found
    /// without an operator step.
    async fn account_by_messaging_service(&self, service_sid: &str)
    -> StoreResult<Option<Account>>;
    /// All account ids, sorted.
    async fn account_ids(&self) -> StoreResult<Vec<AccountId>>;
}

//! Finding an account by the sender a text came to, in as few requests as possible: each
//! number and Messaging Service claim carries a copy of its account (`data`), written in the
//! transaction that writes the account (`accounts::put_account_items`), so the two cannot
//! disagree. Claims written before the copy existed hold only `account_id`: their account is
//! read from its own item, one request more, until `accounts push` (any `put_account`)
//! rewrites them with the copy.

use super::DynamoStore;
use super::item::{Item, Key, corrupt, decode, string_attr};
use crate::domain::{Account, AccountId, PhoneNumber, canonical_service_sid};
use crate::ports::store::{AccountStore, ReceivingAccount, StoreResult};

impl DynamoStore {
    /// The account a claim item (number or service) names: its copy, or for a claim
    /// written without one, the account item.
    pub(super) async fn claimed_account(&self, claim: &Item) -> StoreResult<Option<Account>> {
        if claim.contains_key("data") {
            return decode(claim).map(Some);
        }
        let owner = string_attr(claim, "account_id")?;
        let owner = AccountId::parse(owner).map_err(|e| corrupt(claim, e.to_string()))?;
        self.account(&owner).await
    }

    /// The account listing `service` (canonical) when no claim of it is stored: none once
    /// every stored account's services are claimed; otherwise they are claimed first (see
    /// `services_index`).
    pub(super) async fn account_by_unclaimed_service(
        &self,
        service: &str,
    ) -> StoreResult<Option<Account>> {
        if self.services_indexed().await? {
            return Ok(None);
        }
        self.index_stored_services().await?;
        match self.get(&Key::service(service), true).await? {
            Some(claim) => self.claimed_account(&claim).await,
            None => Ok(None),
        }
    }

    /// The number's claim and the service's, read in one BatchGetItem: the number's owner
    /// wins, else the account listing the service.
    pub(super) async fn account_by_number_or_service(
        &self,
        number: &PhoneNumber,
        service_sid: &str,
    ) -> StoreResult<Option<ReceivingAccount>> {
        let service = canonical_service_sid(service_sid);
        let (number_key, service_key) = (Key::number(number), Key::service(&service));
        let mut claims = self.batch_get(&[&number_key, &service_key]).await?;
        if let Some(claim) = claims.remove(&number_key.pair()) {
            return Ok(self
                .claimed_account(&claim)
                .await?
                .map(ReceivingAccount::OwnsNumber));
        }
        let account = match claims.remove(&service_key.pair()) {
            Some(claim) => self.claimed_account(&claim).await?,
            None => self.account_by_unclaimed_service(&service).await?,
        };
        Ok(account.map(ReceivingAccount::ListsService))
    }
}

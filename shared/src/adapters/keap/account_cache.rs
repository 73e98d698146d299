//! What one account's Keap app told us that rarely changes: tag ids and names, and the
//! contact model's custom fields, cached per account for the life of the process and read
//! again when a name or id is unknown (a tag or field may be new, or deleted in Keap).

use std::collections::HashMap;

use serde_json::json;

use super::client::Call;
use super::{KeapCrm, MAX_PAGE_SIZE, numeric_id, wire};
use crate::domain::{Account, AccountId};
use crate::ports::crm::{CrmError, CrmResult};

/// What one account's Keap app told us that rarely changes.
#[derive(Debug, Default)]
pub(super) struct AccountCache {
    /// Tag ids by exact name.
    tag_ids: HashMap<String, String>,
    /// Tag names by id.
    tag_names: HashMap<String, String>,
    /// The contact model's custom fields, once read.
    custom_fields: Option<Vec<wire::CustomFieldMetaData>>,
}

impl KeapCrm {
    pub(super) fn with_cache<R>(
        &self,
        account: &AccountId,
        f: impl FnOnce(&mut AccountCache) -> R,
    ) -> R {
        let mut caches = self.caches.lock().unwrap_or_else(|p| p.into_inner());
        f(caches.entry(account.clone()).or_default())
    }

    /// The contact model's custom fields, from the cache unless `refresh`.
    pub(super) async fn custom_fields(
        &self,
        account: &Account,
        refresh: bool,
    ) -> CrmResult<Vec<wire::CustomFieldMetaData>> {
        if !refresh && let Some(fields) = self.with_cache(&account.id, |c| c.custom_fields.clone())
        {
            return Ok(fields);
        }
        let call = Call::get("/rest/v2/contacts/model".into(), "contact model".into());
        let model: wire::ObjectModel = self.client.json(account, &call).await?;
        let fields = model.custom_fields;
        self.with_cache(&account.id, |c| c.custom_fields = Some(fields.clone()));
        Ok(fields)
    }

    /// The id of the custom field named `name` (label first, then field name); the model
    /// is read again once when the name is unknown, in case the field is new.
    pub(super) async fn custom_field_id(&self, account: &Account, name: &str) -> CrmResult<String> {
        for refresh in [false, true] {
            let fields = self.custom_fields(account, refresh).await?;
            let by_label = fields.iter().find(|f| f.label.as_deref() == Some(name));
            let by_name = || {
                fields
                    .iter()
                    .find(|f| f.field_name.as_deref() == Some(name))
            };
            if let Some(field) = by_label.or_else(by_name) {
                return Ok(field.id.0.clone());
            }
        }
        Err(CrmError::Rejected(format!(
            "Keap has no contact custom field labelled '{name}'"
        )))
    }

    /// Names for the custom field ids of a contact (label, else field name).
    pub(super) async fn custom_field_names(
        &self,
        account: &Account,
        ids: &[&wire::KeapId],
    ) -> CrmResult<HashMap<String, String>> {
        let mut fields = self.custom_fields(account, false).await?;
        let known = |fields: &[wire::CustomFieldMetaData], id: &wire::KeapId| {
            fields.iter().any(|f| &f.id == id)
        };
        if ids.iter().any(|id| !known(&fields, id)) {
            fields = self.custom_fields(account, true).await?;
        }
        Ok(fields
            .into_iter()
            .filter_map(|f| {
                let name = f.label.filter(|l| !l.is_empty()).or(f.field_name)?;
                Some((f.id.0, name))
            })
            .collect())
    }

    /// Names of the tags with these ids, in order; ids Keap no longer knows are dropped.
    pub(super) async fn tag_names(
        &self,
        account: &Account,
        ids: &[wire::KeapId],
    ) -> CrmResult<Vec<String>> {
        let unknown: Vec<&str> = self.with_cache(&account.id, |c| {
            ids.iter()
                .filter(|id| !c.tag_names.contains_key(&id.0))
                .map(|id| id.0.as_str())
                .collect()
        });
        if !unknown.is_empty() {
            let call = Call::get("/rest/v2/tags".into(), "tags".into())
                .query("filter", format!("tag_ids=={}", unknown.join(",")))
                .query("page_size", MAX_PAGE_SIZE);
            let list: wire::TagList = self.client.json(account, &call).await?;
            self.with_cache(&account.id, |c| {
                for tag in list.tags {
                    if let Some(name) = tag.name {
                        c.tag_ids.insert(name.clone(), tag.id.0.clone());
                        c.tag_names.insert(tag.id.0, name);
                    }
                }
            });
        }
        Ok(self.with_cache(&account.id, |c| {
            ids.iter()
                .filter_map(|id| c.tag_names.get(&id.0).cloned())
                .collect()
        }))
    }

    /// The id of the tag named `name`, creating the tag when Keap has none; and whether
    /// the id came from the cache (and so may be stale).
    pub(super) async fn tag_id(&self, account: &Account, name: &str) -> CrmResult<(String, bool)> {
        if let Some(id) = self.with_cache(&account.id, |c| c.tag_ids.get(name).cloned()) {
            return Ok((id, true));
        }
        if name.contains(';') {
            // `;` separates conditions in Keap's filter syntax: the name cannot be searched.
            return Err(CrmError::Rejected(format!(
                "tag '{name}': Keap's tag search cannot express ';' in a name"
            )));
        }
        let id = match self.find_tag(account, name).await? {
            Some(id) => id,
            None => match self.create_tag(account, name).await {
                Ok(id) => id,
                // Another worker may have created it a moment ago (tag names are unique).
                Err(CrmError::Rejected(why)) => self
                    .find_tag(account, name)
                    .await?
                    .ok_or(CrmError::Rejected(why))?,
                Err(e) => return Err(e),
            },
        };
        if numeric_id(&id).is_none() {
            return Err(CrmError::Rejected(format!(
                "Keap gave tag '{name}' the id '{id}', which is not a number"
            )));
        }
        self.with_cache(&account.id, |c| {
            c.tag_ids.insert(name.to_string(), id.clone());
            c.tag_names.insert(id.clone(), name.to_string());
        });
        Ok((id, false))
    }

    pub(super) async fn find_tag(
        &self,
        account: &Account,
        name: &str,
    ) -> CrmResult<Option<String>> {
        let call = Call::get("/rest/v2/tags".into(), "tags".into())
            .query("filter", format!("name=={name}"))
            .query("page_size", MAX_PAGE_SIZE);
        let list: wire::TagList = self.client.json(account, &call).await?;
        // The name filter may match more loosely than equality (a trailing `*` is a prefix
        // search): only an exact name counts.
        Ok(list
            .tags
            .into_iter()
            .find(|t| t.name.as_deref() == Some(name))
            .map(|t| t.id.0))
    }

    pub(super) async fn create_tag(&self, account: &Account, name: &str) -> CrmResult<String> {
        let call = Call::post(
            "/rest/v2/tags".into(),
            format!("tag '{name}'"),
            json!({ "name": name }),
        );
        let tag: wire::Tag = self.client.json(account, &call).await?;
        tracing::info!(account = %account.id, tag = %name, id = %tag.id, "created Keap tag");
        Ok(tag.id.0)
    }

    pub(super) fn forget_tag(&self, account: &AccountId, name: &str) {
        self.with_cache(account, |c| {
            if let Some(id) = c.tag_ids.remove(name) {
                c.tag_names.remove(&id);
            }
        });
    }
}

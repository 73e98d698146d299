//! Opt-out lists on redb: the consent table is keyed `account \0 phone`, so an account's
//! opt-outs are one prefix range in E.164 order. An import batch is one write transaction
//! (each entry still decided on its own), which keeps a 100,000-line import to a few
//! hundred commits.

use async_trait::async_trait;

use super::{CONSENT, EmbeddedStore, encode, get_json, pair_key, prefix_end};
use crate::adapters::embedded::open_read_table;
use crate::domain::{AccountId, PhoneNumber};
use crate::ports::store::{
    ConsentRecord, OptOut, OptOutImport, OptOutStore, StoreError, StoreResult,
};

/// What importing `opt_out` over the stored consent does.
fn import_outcome(current: Option<&ConsentRecord>, opt_out: &OptOut) -> OptOutImport {
    match current {
        Some(c) if c.opted_out => OptOutImport::AlreadyOptedOut,
        Some(c) if c.changed_at > opt_out.changed_at => OptOutImport::NewerOptIn,
        _ => OptOutImport::Added,
    }
}

#[async_trait]
impl OptOutStore for EmbeddedStore {
    async fn import_opt_outs(
        &self,
        account: &AccountId,
        opt_outs: &[OptOut],
    ) -> StoreResult<Vec<OptOutImport>> {
        let account = account.clone();
        let opt_outs = opt_outs.to_vec();
        self.db
            .write(move |tx| {
                let mut table = tx.open_table(CONSENT)?;
                let mut outcomes = Vec::with_capacity(opt_outs.len());
                for opt_out in opt_outs {
                    let key = pair_key(&account, opt_out.phone.as_str());
                    let current: Option<ConsentRecord> = get_json(&table, &key)?;
                    let outcome = import_outcome(current.as_ref(), &opt_out);
                    if outcome == OptOutImport::Added {
                        let record = ConsentRecord {
                            opted_out: true,
                            changed_at: opt_out.changed_at,
                            source: opt_out.source,
                        };
                        table.insert(key.as_str(), encode(&key, &record)?.as_slice())?;
                    }
                    outcomes.push(outcome);
                }
                Ok(outcomes)
            })
            .await
    }

    async fn opt_outs(
        &self,
        account: &AccountId,
        after: Option<&PhoneNumber>,
        limit: usize,
    ) -> StoreResult<Vec<OptOut>> {
        let prefix = pair_key(account, "");
        let after = after.map(|p| pair_key(account, p.as_str()));
        self.db
            .read(move |tx| {
                let Some(table) = open_read_table(tx, CONSENT)? else {
                    return Ok(vec![]);
                };
                // The prefix ends in \0; the same prefix ending in \x01 bounds it above.
                let end = prefix_end(&prefix);
                let start = after.as_deref().unwrap_or(prefix.as_str());
                let mut out = Vec::new();
                for entry in table.range(start..end.as_str())? {
                    if out.len() >= limit {
                        break;
                    }
                    let (key, value) = entry?;
                    let key = key.value();
                    if Some(key) == after.as_deref() {
                        continue;
                    }
                    let record: ConsentRecord = super::decode(key, value.value())?;
                    if !record.opted_out {
                        continue;
                    }
                    let phone = PhoneNumber::trusted_e164(&key[prefix.len()..]).map_err(|e| {
                        StoreError::Corrupt {
                            key: key.to_string(),
                            detail: e.to_string(),
                        }
                    })?;
                    out.push(OptOut {
                        phone,
                        changed_at: record.changed_at,
                        source: record.source,
                    });
                }
                Ok(out)
            })
            .await
    }
}

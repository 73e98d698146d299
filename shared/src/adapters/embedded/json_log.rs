//! The sandbox's append-only JSON logs (the carrier's accepted messages, the outbox's
//! e-mails): tables whose keys sort in the order rows were written, read newest first.

use redb::{ReadableTable, TableDefinition};
use serde::de::DeserializeOwned;

use super::{DbError, open_read_table};

/// Up to `limit` of `table`'s rows that `keep` accepts, newest (last key) first. A row that
/// does not decode fails the read, named by `corrupt`.
pub(super) fn newest_where<K, T>(
    tx: &redb::ReadTransaction,
    table: TableDefinition<'static, K, &'static [u8]>,
    corrupt: &str,
    limit: usize,
    keep: impl Fn(&T) -> bool,
) -> Result<Vec<T>, DbError>
where
    K: redb::Key + 'static,
    T: DeserializeOwned,
{
    let Some(table) = open_read_table(tx, table)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for row in table.iter()?.rev() {
        if out.len() == limit {
            break;
        }
        let (_, value) = row?;
        let item: T = serde_json::from_slice(value.value())
            .map_err(|e| DbError(format!("{corrupt}: {e}")))?;
        if keep(&item) {
            out.push(item);
        }
    }
    Ok(out)
}

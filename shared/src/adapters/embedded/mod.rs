//! Embedded backends for local mode and fast tests: one redb database file holds the store,
//! the in-process queues and everything the sandbox carrier, outbox and CRM did, so all of
//! it survives a restart of `smsflow serve`.

use std::path::Path;
use std::sync::Arc;

use redb::ReadableDatabase;

pub mod carrier;
pub mod crm;
pub mod outbox;
pub mod queue;
pub mod store;

pub use carrier::SandboxCarrier;
pub use crm::SandboxCrm;
pub use outbox::Outbox;
pub use queue::EmbeddedQueue;
pub use store::EmbeddedStore;

/// Errors from the embedded database, flattened: callers map them into their port's
/// backend error.
#[derive(Debug, thiserror::Error)]
#[error("embedded database: {0}")]
pub struct DbError(pub String);

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for DbError {
            fn from(e: $t) -> Self {
                DbError(e.to_string())
            }
        }
    )*};
}
from_redb!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    tokio::task::JoinError
);

/// A shared handle to the embedded database.
#[derive(Clone)]
pub struct EmbeddedDb {
    db: Arc<redb::Database>,
}

impl EmbeddedDb {
    /// Opens (or creates) the database file at `path`, creating its parent directory.
    pub fn open(path: &Path) -> Result<Self, DbError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| DbError(format!("cannot create {}: {e}", parent.display())))?;
        }
        let db = redb::Database::create(path)?;
        Ok(EmbeddedDb { db: Arc::new(db) })
    }

    /// A database that lives in memory only (tests).
    pub fn in_memory() -> Result<Self, DbError> {
        let db =
            redb::Database::builder().create_with_backend(redb::backends::InMemoryBackend::new())?;
        Ok(EmbeddedDb { db: Arc::new(db) })
    }

    /// How many handles to this database exist, this one included: the file stays open
    /// (and locked) until the last one is dropped.
    pub fn handles(&self) -> usize {
        Arc::strong_count(&self.db)
    }

    /// Runs `f` in one write transaction on the blocking pool and commits if it returns
    /// `Ok`. redb allows one writer at a time, so everything inside `f` is atomic and
    /// isolated: check-then-write inside one call is safe.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: FnOnce(&redb::WriteTransaction) -> Result<T, E> + Send + 'static,
    {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let tx = db.begin_write().map_err(DbError::from)?;
            let out = f(&tx)?;
            tx.commit().map_err(DbError::from)?;
            Ok(out)
        })
        .await
        .map_err(DbError::from)?
    }

    /// Runs `f` in one read transaction (a consistent snapshot) on the blocking pool.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: FnOnce(&redb::ReadTransaction) -> Result<T, E> + Send + 'static,
    {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let tx = db.begin_read().map_err(DbError::from)?;
            f(&tx)
        })
        .await
        .map_err(DbError::from)?
    }
}

/// Opens a table for reading, treating "never written" as empty (`None`).
pub fn open_read_table<K, V>(
    tx: &redb::ReadTransaction,
    def: redb::TableDefinition<'static, K, V>,
) -> Result<Option<redb::ReadOnlyTable<K, V>>, DbError>
where
    K: redb::Key + 'static,
    V: redb::Value + 'static,
{
    match tx.open_table(def) {
        Ok(t) => Ok(Some(t)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

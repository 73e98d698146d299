//! Embedded backends for local mode and fast tests: one redb database file holds the store,
//! the in-process queues and everything the sandbox carrier, outbox and CRM did, so all of
//! it survives a restart of `smsflow serve`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use redb::ReadableDatabase;

pub mod carrier;
pub mod crm;
mod json_log;
pub mod media;
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
    db: Arc<OpenDatabase>,
}

/// The database, and who to tell once it is closed. The database is dropped (its file
/// closed and its lock released) before they are told: the last `Arc` reaching zero is not
/// enough, since the drop that follows still holds the file for a moment.
struct OpenDatabase {
    db: Option<redb::Database>,
    closed: tokio::sync::watch::Sender<bool>,
}

impl OpenDatabase {
    fn new(db: redb::Database) -> Arc<Self> {
        Arc::new(OpenDatabase {
            db: Some(db),
            closed: tokio::sync::watch::Sender::new(false),
        })
    }

    fn get(&self) -> Result<&redb::Database, DbError> {
        self.db
            .as_ref()
            .ok_or_else(|| DbError("the database is closed".into()))
    }
}

impl Drop for OpenDatabase {
    fn drop(&mut self) {
        drop(self.db.take());
        self.closed.send_replace(true);
    }
}

impl EmbeddedDb {
    /// Opens (or creates) the database file at `path`, creating its parent directory.
    pub fn open(path: &Path) -> Result<Self, DbError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| DbError(format!("cannot create {}: {e}", parent.display())))?;
        }
        let db = redb::Database::create(path)?;
        Ok(EmbeddedDb {
            db: OpenDatabase::new(db),
        })
    }

    /// Something to wait on until every handle to the database is gone, without keeping
    /// it open: a blocking task that outlives its caller (a cancelled long poll) holds a
    /// handle for a moment after the server stops, and the file stays locked until then.
    pub fn close_watch(&self) -> DbCloseWatch {
        DbCloseWatch(self.db.closed.subscribe())
    }

    /// A database that lives in memory only (tests).
    pub fn in_memory() -> Result<Self, DbError> {
        let db =
            redb::Database::builder().create_with_backend(redb::backends::InMemoryBackend::new())?;
        Ok(EmbeddedDb {
            db: OpenDatabase::new(db),
        })
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
            let tx = db.get()?.begin_write().map_err(DbError::from)?;
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
            let tx = db.get()?.begin_read().map_err(DbError::from)?;
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

/// See [`EmbeddedDb::close_watch`].
#[derive(Clone)]
pub struct DbCloseWatch(tokio::sync::watch::Receiver<bool>);

impl DbCloseWatch {
    /// Waits until the database is closed (its file lock released), for at most `limit`;
    /// returns whether it is.
    pub async fn closed(&self, limit: Duration) -> bool {
        let mut closed = self.0.clone();
        // The handle sends `true` after closing and only then drops the sender, so a
        // finished wait (`Ok`, or `Err` for a sender gone) means closed.
        tokio::time::timeout(limit, closed.wait_for(|is| *is))
            .await
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn closed_means_the_file_can_be_opened_again() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("smsflow.redb");
        for round in 0..20 {
            let db = EmbeddedDb::open(&path).expect("opens");
            let watch = db.close_watch();
            assert!(!watch.closed(Duration::from_millis(10)).await, "open");
            // The last handle goes away on the blocking pool, as a finished transaction's
            // does when the server stops.
            let last = db.clone();
            drop(db);
            let read = tokio::task::spawn_blocking(move || {
                let tx = last
                    .db
                    .get()
                    .and_then(|db| db.begin_read().map_err(DbError::from));
                assert!(tx.is_ok(), "round {round}: a read while open");
            });
            assert!(watch.closed(Duration::from_secs(5)).await, "round {round}");
            EmbeddedDb::open(&path).unwrap_or_else(|e| panic!("round {round}: reopen: {e}"));
            read.await.expect("the read task");
        }
    }
}

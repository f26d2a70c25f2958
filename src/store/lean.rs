//! Long reads (a batch's results and 835, page by page) on SQLite with a
//! small page cache. Every pooled connection has a 64 MiB cache for the
//! writes (batch inserts touch index pages all over the file), and a read
//! through a multi-GB batch filled the cache of every connection it ran
//! on: four concurrent downloads held over 400 MB more, for good (issue
//! 15 point 3). Pages read here come from the OS's file cache instead.

use sqlx::any::AnyRow;

use super::{Backend, Result, Store};

/// The page cache of a long read: 2 MiB.
const LEAN: &str = "PRAGMA cache_size = -2048";
/// The cache every connection has otherwise (as `Store::open` sets it).
const FULL: &str = "PRAGMA cache_size = -65536";

impl Store {
    /// Runs `query` on one connection, with a small page cache on SQLite
    /// for its duration (lowering it frees what the cache held).
    pub(super) async fn fetch_lean<'q>(
        &self,
        query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> Result<Vec<AnyRow>> {
        let mut conn = self.pool.acquire().await?;
        if self.backend != Backend::Sqlite {
            return Ok(query.fetch_all(&mut *conn).await?);
        }
        sqlx::query(LEAN).execute(&mut *conn).await?;
        let rows = query.fetch_all(&mut *conn).await;
        // The connection goes back to the pool for writes too: its cache
        // must be the writers' again (it refills as they need it).
        if let Err(e) = sqlx::query(FULL).execute(&mut *conn).await {
            tracing::warn!(error = %e, "page cache not restored; the connection is dropped");
            conn.detach();
        }
        Ok(rows?)
    }
}

//! Changes pushed between instances on PostgreSQL (`LISTEN/NOTIFY`): a
//! rule set put in force, a signing key added or retired, a batch queued.
//! A notification is sent inside the transaction that makes the change,
//! so PostgreSQL delivers it on commit, to every listening instance. The
//! instances still poll (2 s) as the fallback for a dropped listener
//! connection, and SQLite (one instance) has polling alone.

use sqlx::postgres::PgListener;

use super::{Backend, Result, Store};

/// What another instance changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A rule set was put in force.
    Rules,
    /// Signing keys were added or retired.
    Keys,
    /// A batch has chunks to work.
    Batches,
}

impl Change {
    fn channel(self) -> &'static str {
        match self {
            Change::Rules => "priorauth_rules",
            Change::Keys => "priorauth_keys",
            Change::Batches => "priorauth_batches",
        }
    }

    fn from_channel(name: &str) -> Option<Change> {
        [Change::Rules, Change::Keys, Change::Batches]
            .into_iter()
            .find(|c| c.channel() == name)
    }
}

/// PostgreSQL notifications of [`Change`]s, on a connection of its own.
pub struct Listener(PgListener);

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Listener")
    }
}

impl Listener {
    /// Connects to the PostgreSQL database at `url` and listens; `None` on
    /// SQLite (nothing to listen to: one instance).
    pub async fn connect(url: &str) -> Result<Option<Listener>> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Ok(None);
        }
        let mut l = PgListener::connect(url).await?;
        l.listen_all([Change::Rules, Change::Keys, Change::Batches].map(Change::channel))
            .await?;
        Ok(Some(Listener(l)))
    }

    /// The next change. After a lost connection sqlx reconnects and
    /// listens again; what was sent meanwhile is lost, which the polling
    /// covers.
    pub async fn recv(&mut self) -> Result<Change> {
        loop {
            let n = self.0.recv().await?;
            if let Some(c) = Change::from_channel(n.channel()) {
                return Ok(c);
            }
        }
    }
}

/// Sends `change` to every listening instance when `conn`'s transaction
/// commits (PostgreSQL; nothing on SQLite).
pub(super) async fn notify(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    change: Change,
) -> Result<()> {
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(change.channel())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

impl Store {
    /// Tells the other instances about `change` now (its own transaction).
    pub async fn announce(&self, change: Change) -> Result<()> {
        if self.backend == Backend::Postgres {
            let mut conn = self.pool.acquire().await?;
            notify(&mut conn, self.backend, change).await?;
        }
        Ok(())
    }
}

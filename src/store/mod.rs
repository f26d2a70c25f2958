//! The store (SPEC §6): rule sets, authorizations with units used, claims
//! and their decisions, the unit-consumption ledger, idempotency keys,
//! batches and control numbers, on SQLite (embedded default) or PostgreSQL
//! (several instances sharing one database).
//!
//! One set of queries serves both backends through sqlx's `Any` driver:
//! `$N` placeholders, TEXT for decimals and dates (exact on both; the one
//! conversion point is [`AuthorizationRecord`](crate::authorizations::AuthorizationRecord)), BIGINT for numbers and
//! flags. Where the backends differ it is said at the spot: SQLite
//! serializes writers (`BEGIN IMMEDIATE` behind an in-process lock);
//! PostgreSQL locks the authorization rows a submission uses
//! (`SELECT … FOR UPDATE`, in number order) and the claim keys it adjudicates
//! (transaction advisory locks), so two instances never over-consume.
//!
//! The store decides nothing: it loads what a submission needs into an
//! [`AuthBook`](crate::authorizations::AuthBook) and a
//! [`MemoryHistory`](crate::adjudication::MemoryHistory), hands them to
//! [`decide_submission`](crate::adjudication::decide_submission), and
//! writes what that decided, all in one transaction (`submit.rs`).
//! Authorizations and batches have files of their own.

mod access;
mod authorizations;
mod batch_work;
mod batches;
mod console;
mod denials;
mod exemptions;
mod json_rows;
mod lean;
mod network;
mod notify;
mod outbox;
mod readjudicate;
mod record;
mod replay;
mod search;
mod submit;

use std::fmt::Write as _;

use chrono::{NaiveDateTime, Utc};
use serde::Serialize;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyConnection, AnyPool, Row, Transaction};
use tokio::sync::{Mutex, MutexGuard};

use crate::authorizations::FieldProblem;

pub use access::{AuditEntry, AuditFilter, ClientRecord, CodeRecord, SigningKeyRecord, UserRecord};
pub use authorizations::{AuthFilter, AuthImport, AuthImported, IMPORT_BATCH};
pub use batch_work::ChunkDone;
pub use batches::{Batch, BatchState};
pub use console::ConsoleSession;
pub use denials::Denial;
pub use exemptions::{ExemptionsAdded, StoredExemption, SOURCE_GOLDCARD, SOURCE_IMPORT};
pub use network::NetworkImported;
pub use notify::{Change, Listener};
pub use outbox::{OutboxCounts, WebhookEvent};
pub use readjudicate::HistoryEntry;
pub use replay::ReplayWindow;
pub use search::{
    decode_cursor, BadCursor, ClaimPage, ClaimSearch, LedgerEntry, SearchError, SearchParams,
    STATUSES,
};
pub use submit::{SubmitOptions, Submitted};

static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");

/// Which database the store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// An SQLite file.
    Sqlite,
    /// A PostgreSQL database.
    Postgres,
}

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no backend priorauth has.
    #[error("database URL must start with sqlite:// or postgres:// (got {0:?})")]
    Url(String),
    /// The database refused or failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed.
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A stored row cannot be read back.
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    /// The same Idempotency-Key came with a different body.
    #[error("Idempotency-Key {0:?} was used before with a different request body")]
    IdempotencyMismatch(String),
    /// Another writer changed what this transaction read; it is retried.
    #[error("a concurrent change got there first")]
    Conflict,
    /// Another worker already recorded this batch step.
    #[error("batch {0} was advanced by another worker")]
    BatchMoved(String),
    /// No such record.
    #[error("{0} not found")]
    NotFound(String),
    /// The record exists already.
    #[error("{0} already exists")]
    Exists(String),
    /// The record is not valid.
    #[error("invalid authorization")]
    Invalid(Vec<FieldProblem>),
}

impl StoreError {
    /// True when the whole transaction may simply be run again: a deadlock,
    /// a serialization failure, a unique key taken by a concurrent writer.
    fn retriable(&self) -> bool {
        match self {
            StoreError::Conflict => true,
            StoreError::Database(sqlx::Error::Database(e)) => matches!(
                e.code().as_deref(),
                // PostgreSQL: deadlock, serialization, unique violation.
                Some("40P01" | "40001" | "23505")
                // SQLite: busy, locked, unique and primary key constraints.
                | Some("5" | "6" | "517" | "2067" | "1555")
            ),
            _ => false,
        }
    }
}

impl StoreError {
    /// True when the database could not be reached or went away mid-way (a
    /// restart, a cut connection, a full pool): the same work may succeed
    /// once it is back. A transaction cut off before its commit left
    /// nothing behind; one cut off in its commit may or may not have
    /// committed, which the batch progress compare-and-set and duplicate
    /// detection make safe to run again.
    pub fn unavailable(&self) -> bool {
        let StoreError::Database(e) = self else {
            return false;
        };
        match e {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => true,
            // PostgreSQL: connection exceptions (class 08), and the server
            // shutting down or starting up.
            sqlx::Error::Database(d) => d
                .code()
                .is_some_and(|c| c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03")),
            _ => false,
        }
    }
}

type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The stored rule set that is in force.
#[derive(Debug, Clone)]
pub struct StoredRuleSet {
    /// Row id (increases with every upload).
    pub id: i64,
    /// Its `version`.
    pub version: String,
    /// The TOML text.
    pub source: String,
}

/// A stored claim as payer staff look it up.
#[derive(Debug, Clone, Serialize)]
pub struct StoredClaim {
    /// The payer's id.
    pub payer_claim_id: String,
    /// CLM01.
    pub claim_id: String,
    /// Billing provider NPI.
    pub billing_npi: String,
    /// CLM05-3 frequency code.
    pub frequency: String,
    /// Claim status.
    pub status: String,
    /// True while this claim answers for its billing NPI and CLM01 (false
    /// once replaced or voided, and for duplicates and voids themselves).
    pub current: bool,
    /// Rule set version it was adjudicated under.
    pub rule_set: String,
    /// Batch it came in, if any.
    pub batch_id: Option<String>,
    /// When it was received (UTC).
    pub received_at: String,
    /// The decision, as SPEC §4 shows a claim (stored JSON, fields in
    /// the order the core writes them).
    pub decision: Box<serde_json::value::RawValue>,
    /// When the decision in force replaced an earlier one (issue 18:
    /// decided again when an authorization was), if it did.
    pub changed_at: Option<String>,
    /// Why it was decided again.
    pub changed_because: Option<String>,
    /// The decisions it had before, oldest first (read with one claim,
    /// empty in search pages).
    pub history: Vec<HistoryEntry>,
}

/// A database URL fit for a message: any password replaced by `***`.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = url.get(scheme + 3..at).unwrap_or("");
            match creds.split_once(':') {
                Some((user, _)) => format!(
                    "{}{user}:***{}",
                    url.get(..scheme + 3).unwrap_or(""),
                    url.get(at..).unwrap_or("")
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// The clock, read at the edge: when rows were written.
#[allow(clippy::disallowed_methods)] // the store stamps rows; adjudication never reads the clock
pub fn now() -> NaiveDateTime {
    Utc::now().naive_utc()
}

/// [`now`] as Unix milliseconds: lockouts, sessions, webhook due times.
pub fn now_ms() -> i64 {
    now().and_utc().timestamp_millis()
}

fn stamp() -> String {
    now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

impl Backend {
    /// `n` parameters numbered from `start`, for a generated statement:
    /// `$start, $start+1, …` on PostgreSQL, `?, ?, …` on SQLite. (sqlx looks
    /// every named SQLite parameter up by name, a linear scan in SQLite, so
    /// thousands of `$N` in one insert made it quadratic.) A statement uses
    /// one style throughout: its parameters are bound in order.
    fn placeholders(self, start: usize, n: usize) -> String {
        let mut s = String::with_capacity(n * 4);
        for i in start..start + n {
            if i > start {
                s.push(',');
            }
            match self {
                Backend::Sqlite => s.push('?'),
                Backend::Postgres => {
                    let _ = write!(s, "${i}");
                }
            }
        }
        s
    }

    /// The rows of a multi-row `VALUES` list: `($1,$2),($3,$4)…`.
    fn value_rows(self, rows: usize, cols: usize) -> String {
        let mut s = String::with_capacity(rows * cols * 5);
        for r in 0..rows {
            if r > 0 {
                s.push(',');
            }
            s.push('(');
            s.push_str(&self.placeholders(r * cols + 1, cols));
            s.push(')');
        }
        s
    }
}

/// The decision JSON of a claims row: from its record (`body`), or the
/// `decision` text of a row stored before records.
fn decision_of(row: &AnyRow) -> Result<String> {
    match row.try_get::<Option<Vec<u8>>, _>("body")? {
        Some(record) => record::decision(&record),
        None => Ok(row.try_get("decision")?),
    }
}

fn claim_from_row(row: &AnyRow) -> Result<StoredClaim> {
    let decision = decision_of(row)?;
    Ok(StoredClaim {
        payer_claim_id: row.try_get("payer_claim_id")?,
        claim_id: row.try_get("claim_id")?,
        billing_npi: row.try_get("billing_npi")?,
        frequency: row.try_get("frequency")?,
        status: row.try_get("status")?,
        current: row.try_get::<i64, _>("live")? == 1,
        rule_set: row.try_get("rule_set")?,
        batch_id: row.try_get("batch_id")?,
        received_at: row.try_get("received_at")?,
        decision: serde_json::value::RawValue::from_string(decision)
            .map_err(|e| StoreError::Corrupt(format!("claim decision: {e}")))?,
        changed_at: row.try_get("changed_at")?,
        changed_because: row.try_get("changed_because")?,
        history: Vec::new(),
    })
}

/// A write transaction: on SQLite it also holds the process's writer lock.
struct Write<'s> {
    tx: Transaction<'static, Any>,
    _writer: Option<MutexGuard<'s, ()>>,
}

/// The store: a connection pool and the backend it talks to.
#[derive(Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// SQLite has one writer at a time; waiting here instead of in SQLite's
    /// busy handler keeps latency even under load.
    writer: Mutex<()>,
}

impl Store {
    /// Opens (creating an SQLite file when needed) and migrates the
    /// database at `url`.
    pub async fn open(url: &str, max_connections: u32) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::Url(url.to_string()));
        };
        let url = if backend == Backend::Sqlite && !url.contains("mode=") {
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}mode=rwc")
        } else {
            url.to_string()
        };
        // One direct connection first: a pool only says it timed out, this
        // says why (refused, unknown database, no such file).
        {
            use sqlx::Connection;
            AnyConnection::connect(&url).await?.close().await?;
        }
        let sqlite = backend == Backend::Sqlite;
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(std::time::Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        // WAL lets readers run beside the writer; NORMAL sync
                        // is durable across process crashes in WAL mode.
                        for pragma in [
                            "PRAGMA journal_mode = WAL",
                            "PRAGMA synchronous = NORMAL",
                            "PRAGMA busy_timeout = 10000",
                            // 64 MiB of page cache: batch inserts touch
                            // index pages all over a growing file.
                            "PRAGMA cache_size = -65536",
                            // No checkpoint inside a commit: it ran under
                            // the writer lock and stalled every request
                            // queued behind it. `checkpoint` runs beside the
                            // writers instead (the service calls it every
                            // second).
                            "PRAGMA wal_autocheckpoint = 0",
                        ] {
                            sqlx::query(pragma).execute(&mut *conn).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        match backend {
            Backend::Sqlite => SQLITE.run(&pool).await?,
            Backend::Postgres => POSTGRES.run(&pool).await?,
        }
        Ok(Store {
            pool,
            backend,
            writer: Mutex::new(()),
        })
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Copies what the SQLite WAL holds into the database file without
    /// waiting for readers or writers (PASSIVE), so commits never do it.
    /// Nothing to do on PostgreSQL.
    pub async fn checkpoint(&self) -> Result<()> {
        if self.backend == Backend::Sqlite {
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// Checkpoints (SQLite) and closes the pool.
    pub async fn close(&self) {
        if self.backend == Backend::Sqlite {
            let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&self.pool)
                .await;
        }
        self.pool.close().await;
    }

    /// Answers when the database does.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn write(&self) -> Result<Write<'_>> {
        match self.backend {
            Backend::Sqlite => {
                let guard = self.writer.lock().await;
                let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
                Ok(Write {
                    tx,
                    _writer: Some(guard),
                })
            }
            Backend::Postgres => Ok(Write {
                tx: self.pool.begin().await?,
                _writer: None,
            }),
        }
    }

    /// Rows of a query ending in `… IN (values)`, 500 values a statement.
    /// `head` is the query up to `IN`, with placeholders of its own for the
    /// `fixed` parameters bound first; `tail` follows the list.
    async fn fetch_in(
        &self,
        conn: &mut AnyConnection,
        head: &str,
        fixed: &[&str],
        values: &[&str],
        tail: &str,
    ) -> Result<Vec<AnyRow>> {
        let mut rows = Vec::new();
        if self.backend == Backend::Postgres && !values.is_empty() {
            // One statement and one parameter, however many values: round
            // trips, not rows, were what PostgreSQL batches waited on. The
            // array is unpacked once (an init plan): `= ANY($1::text[])`
            // on a text parameter parses the whole array again for every
            // row it is tested against (measured: 240 s for 5000 members).
            let sql = format!(
                "{head} = ANY(ARRAY(SELECT unnest(${}::text[]))){tail}",
                fixed.len() + 1
            );
            let mut q = sqlx::query(&sql);
            for v in fixed {
                q = q.bind(*v);
            }
            return Ok(q.bind(pg_array(values)).fetch_all(&mut *conn).await?);
        }
        for chunk in values.chunks(500) {
            let sql = format!(
                "{head} IN ({}){tail}",
                self.backend.placeholders(fixed.len() + 1, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for v in fixed.iter().chain(chunk) {
                q = q.bind(*v);
            }
            rows.extend(q.fetch_all(&mut *conn).await?);
        }
        Ok(rows)
    }

    /// ` FOR UPDATE` on PostgreSQL (SQLite's writer lock covers it).
    fn for_update(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }

    // ---- rule sets ----

    /// The rule set in force, if one was ever stored.
    pub async fn active_rules(&self) -> Result<Option<StoredRuleSet>> {
        let row = sqlx::query(
            "SELECT id, version, source FROM rule_sets WHERE active = 1 ORDER BY id DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(StoredRuleSet {
                id: r.try_get("id")?,
                version: r.try_get("version")?,
                source: r.try_get("source")?,
            })
        })
        .transpose()
    }

    /// Id of the rule set in force (cheap: instances poll it to pick up a
    /// set another instance stored).
    pub async fn active_rules_id(&self) -> Result<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT MAX(id) FROM rule_sets WHERE active = 1")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Stores a validated rule set and makes it the one in force.
    pub async fn activate_rules(&self, version: &str, source: &str) -> Result<i64> {
        let mut w = self.write().await?;
        sqlx::query("UPDATE rule_sets SET active = 0 WHERE active = 1")
            .execute(&mut *w.tx)
            .await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO rule_sets (version, source, active, loaded_at) VALUES ($1, $2, 1, $3) RETURNING id",
        )
        .bind(version)
        .bind(source)
        .bind(stamp())
        .fetch_one(&mut *w.tx)
        .await?;
        notify::notify(&mut w.tx, self.backend, Change::Rules).await?;
        w.tx.commit().await?;
        Ok(id)
    }

    // ---- authorizations ----
    /// One stored claim.
    pub async fn claim(&self, payer_claim_id: &str) -> Result<Option<StoredClaim>> {
        let row = sqlx::query("SELECT * FROM claims WHERE payer_claim_id = $1")
            .bind(payer_claim_id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(mut c) = row.as_ref().map(claim_from_row).transpose()? else {
            return Ok(None);
        };
        c.history = self.claim_history(&c.payer_claim_id).await?;
        Ok(Some(c))
    }

    /// Every stored claim with this billing NPI and CLM01, oldest first.
    pub async fn claims_by_key(
        &self,
        billing_npi: &str,
        claim_id: &str,
    ) -> Result<Vec<StoredClaim>> {
        let rows = sqlx::query(
            "SELECT * FROM claims WHERE billing_npi = $1 AND claim_id = $2 ORDER BY received_at, payer_claim_id",
        )
        .bind(billing_npi)
        .bind(claim_id)
        .fetch_all(&self.pool)
        .await?;
        let mut claims = rows
            .iter()
            .map(claim_from_row)
            .collect::<Result<Vec<_>>>()?;
        for c in &mut claims {
            c.history = self.claim_history(&c.payer_claim_id).await?;
        }
        Ok(claims)
    }

    /// The answer stored under an idempotency key: (request hash, response).
    pub async fn idempotent_response(&self, key: &str) -> Result<Option<(String, String)>> {
        let row = sqlx::query("SELECT request_hash, response FROM idempotency_keys WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok((r.try_get("request_hash")?, r.try_get("response")?)))
            .transpose()
    }

    /// The stored decision JSON of one claim.
    pub async fn decision(&self, payer_claim_id: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT decision, body FROM claims WHERE payer_claim_id = $1")
            .bind(payer_claim_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(decision_of).transpose()
    }

    /// The facts of a stored claim: the claim model as it was adjudicated,
    /// so that it can be decided again without its X12. `None` when no
    /// such claim is stored, or it was stored before records kept facts.
    pub async fn claim_facts(&self, payer_claim_id: &str) -> Result<Option<crate::model::Claim>> {
        let body: Option<Option<Vec<u8>>> =
            sqlx::query_scalar("SELECT body FROM claims WHERE payer_claim_id = $1")
                .bind(payer_claim_id)
                .fetch_optional(&self.pool)
                .await?;
        match body.flatten() {
            Some(record) => record::facts(&record),
            None => Ok(None),
        }
    }

    // ---- control numbers ----

    /// The next control number of a kind of X12 answer (999, 835, 277CA),
    /// from 1 to 999,999,999 and round again.
    pub async fn next_control_number(&self, kind: &str) -> Result<u32> {
        let mut w = self.write().await?;
        let last: i64 = sqlx::query_scalar(
            "INSERT INTO control_numbers (kind, last) VALUES ($1, 1) ON CONFLICT (kind) DO UPDATE SET last = control_numbers.last % 999999999 + 1 RETURNING last",
        )
        .bind(kind)
        .fetch_one(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        Ok(u32::try_from(last).unwrap_or(1))
    }
}

/// A PostgreSQL array literal of `values` (`{"a","b"}`), to bind as one
/// text parameter cast to `text[]` (sqlx's `Any` driver binds no arrays).
fn pg_array<S: AsRef<str>>(values: &[S]) -> String {
    let mut s =
        String::with_capacity(values.iter().map(|v| v.as_ref().len() + 3).sum::<usize>() + 2);
    s.push('{');
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push('"');
        for ch in v.as_ref().chars() {
            if ch == '"' || ch == '\\' {
                s.push('\\');
            }
            s.push(ch);
        }
        s.push('"');
    }
    s.push('}');
    s
}

/// Inserts `rows` on PostgreSQL in one statement: the rows as one JSON
/// parameter, unpacked by `json_to_recordset`. `target` is `table
/// (columns)`, `select` what is inserted from the record `r` whose
/// columns and types `record` declares.
async fn insert_json<T: Serialize>(
    conn: &mut AnyConnection,
    target: &str,
    select: &str,
    record: &str,
    rows: &[T],
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let json = serde_json::to_string(rows)
        .map_err(|e| StoreError::Corrupt(format!("rows of {target}: {e}")))?;
    let sql = format!(
        "INSERT INTO {target} SELECT {select} FROM json_to_recordset($1::json) AS r({record})"
    );
    sqlx::query(&sql).bind(json).execute(&mut *conn).await?;
    Ok(())
}

type AnyQuery<'q> = sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>;

/// Inserts `rows` with multi-row `VALUES` statements of at most about 3000
/// parameters (far below both backends' limits). `head` is `INSERT INTO
/// table (columns)`, `cols` how many, and `bind` binds one row's values in
/// that order.
async fn insert_rows<T>(
    conn: &mut AnyConnection,
    backend: Backend,
    head: &str,
    cols: usize,
    rows: &[T],
    bind: impl for<'q> Fn(AnyQuery<'q>, &T) -> AnyQuery<'q>,
) -> Result<()> {
    for chunk in rows.chunks((3000 / cols).max(1)) {
        let sql = format!("{head} VALUES {}", backend.value_rows(chunk.len(), cols));
        let q = chunk.iter().fold(sqlx::query(&sql), &bind);
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

//! The store (SPEC §6): rule sets, authorizations with units used, claims
//! and their decisions, the unit-consumption ledger, idempotency keys,
//! batches and control numbers, on SQLite (embedded default) or PostgreSQL
//! (several instances sharing one database).
//!
//! One set of queries serves both backends through sqlx's `Any` driver:
//! `$N` placeholders, TEXT for decimals and dates (exact on both; the one
//! conversion point is [`AuthorizationRecord`]), BIGINT for numbers and
//! flags. Where the backends differ it is said at the spot: SQLite
//! serializes writers (`BEGIN IMMEDIATE` behind an in-process lock);
//! PostgreSQL locks the authorization rows a submission uses
//! (`SELECT … FOR UPDATE`, in number order) and the claim keys it adjudicates
//! (transaction advisory locks), so two instances never over-consume.
//!
//! Adjudication itself stays pure: the store loads what a submission needs
//! into an [`AuthBook`](crate::authorizations::AuthBook) and a
//! [`MemoryHistory`](crate::adjudication::MemoryHistory), runs the
//! [`Adjudicator`](crate::adjudication::Adjudicator),
//! then writes the effects, all in one transaction.

mod access;
mod submit;

use std::collections::HashMap;
use std::fmt::Write as _;

use chrono::{NaiveDateTime, Utc};
use serde::Serialize;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyConnection, AnyPool, Row, Transaction};
use tokio::sync::{Mutex, MutexGuard};

use crate::authorizations::{Authorization, AuthorizationRecord, FieldProblem};

pub use access::{AuditEntry, ClientRecord, CodeRecord, SigningKeyRecord, UserRecord};
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
}

/// A batch job.
#[derive(Debug, Clone, Serialize)]
pub struct Batch {
    /// Batch id.
    pub id: String,
    /// queued, running, done or failed.
    pub state: String,
    /// Bytes received.
    pub bytes: i64,
    /// Claims in the file.
    pub claims_total: i64,
    /// Claims adjudicated so far.
    pub claims_done: i64,
    /// Rejected transaction sets (SPEC §4 `rejected`).
    pub rejected: serde_json::Value,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// When it was received (UTC).
    pub created_at: String,
    /// When it finished (UTC).
    pub finished_at: Option<String>,
    /// Where the file is spooled (not shown to clients).
    #[serde(skip)]
    pub spool: String,
    /// The client that sent it (billing systems read only their own).
    #[serde(skip)]
    pub submitted_by: Option<String>,
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

const AUTH_COLUMNS: &str =
    "number, member_id, provider_npi, codes, units, units_used, start_date, end_date, status";

fn auth_from_row(row: &AnyRow) -> Result<Authorization> {
    let rec = AuthorizationRecord {
        number: row.try_get("number")?,
        member_id: row.try_get("member_id")?,
        provider_npi: row.try_get("provider_npi")?,
        codes: row.try_get("codes")?,
        units: row.try_get("units")?,
        units_used: Some(row.try_get("units_used")?),
        start_date: row.try_get("start_date")?,
        end_date: row.try_get("end_date")?,
        status: row.try_get("status")?,
    };
    rec.validate().map_err(|p| {
        StoreError::Corrupt(format!(
            "authorization {}: {}",
            rec.number,
            p.iter()
                .map(|p| format!("{} {}", p.field, p.message))
                .collect::<Vec<_>>()
                .join("; ")
        ))
    })
}

fn claim_from_row(row: &AnyRow) -> Result<StoredClaim> {
    let decision: String = row.try_get("decision")?;
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
    })
}

fn batch_from_row(row: &AnyRow) -> Result<Batch> {
    let rejected: String = row.try_get("rejected")?;
    Ok(Batch {
        id: row.try_get("id")?,
        state: row.try_get("state")?,
        bytes: row.try_get("bytes")?,
        claims_total: row.try_get("claims_total")?,
        claims_done: row.try_get("claims_done")?,
        rejected: serde_json::from_str(&rejected)
            .map_err(|e| StoreError::Corrupt(format!("batch rejected sets: {e}")))?,
        error: row.try_get("error")?,
        created_at: row.try_get("created_at")?,
        finished_at: row.try_get("finished_at")?,
        spool: row.try_get("spool")?,
        submitted_by: row.try_get("submitted_by")?,
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
        w.tx.commit().await?;
        Ok(id)
    }

    // ---- authorizations ----

    /// One authorization.
    pub async fn authorization(&self, number: &str) -> Result<Option<Authorization>> {
        let row = sqlx::query(&format!(
            "SELECT {AUTH_COLUMNS} FROM authorizations WHERE number = $1"
        ))
        .bind(number)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(auth_from_row).transpose()
    }

    /// Adds one authorization; refuses a number already on file.
    pub async fn add_authorization(&self, a: &Authorization) -> Result<()> {
        let mut w = self.write().await?;
        let exists = sqlx::query("SELECT number FROM authorizations WHERE number = $1")
            .bind(&a.number)
            .fetch_optional(&mut *w.tx)
            .await?;
        if exists.is_some() {
            return Err(StoreError::Exists(format!("authorization {}", a.number)));
        }
        insert_authorizations(&mut w.tx, self.backend, std::slice::from_ref(a)).await?;
        w.tx.commit().await?;
        Ok(())
    }

    /// Imports authorizations all or nothing: new numbers are added, known
    /// ones are replaced, except that their units used never go down.
    pub async fn import_authorizations(&self, auths: &[Authorization]) -> Result<(u64, u64)> {
        let mut w = self.write().await?;
        // Units used on file: an import never lowers them (the store is the
        // truth of what claims consumed; a file exported earlier would
        // otherwise hand consumed units out again).
        let mut known: HashMap<String, rust_decimal::Decimal> = HashMap::new();
        let numbers: Vec<&str> = auths.iter().map(|a| a.number.as_str()).collect();
        let head = format!("SELECT {AUTH_COLUMNS} FROM authorizations WHERE number");
        for row in self
            .fetch_in(&mut w.tx, &head, &[], &numbers, self.for_update())
            .await?
        {
            let a = auth_from_row(&row)?;
            known.insert(a.number, a.units_used);
        }
        let auths: Vec<Authorization> = auths
            .iter()
            .map(|a| {
                let mut a = a.clone();
                if let Some(&used) = known.get(&a.number) {
                    a.units_used = a.units_used.max(used);
                }
                a
            })
            .collect();
        let auths = auths.as_slice();
        for chunk in auths.chunks(500) {
            let sql = format!(
                "DELETE FROM authorizations WHERE number IN ({})",
                self.backend.placeholders(1, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for a in chunk {
                q = q.bind(&a.number);
            }
            q.execute(&mut *w.tx).await?;
        }
        insert_authorizations(&mut w.tx, self.backend, auths).await?;
        w.tx.commit().await?;
        let replaced = known.len() as u64;
        Ok((auths.len() as u64 - replaced, replaced))
    }

    /// Changes an authorization under the row lock: `change` gets the
    /// stored record and returns the new one (validated here).
    pub async fn update_authorization(
        &self,
        number: &str,
        change: impl FnOnce(&mut AuthorizationRecord),
    ) -> Result<Authorization> {
        let mut w = self.write().await?;
        let row = sqlx::query(&format!(
            "SELECT {AUTH_COLUMNS} FROM authorizations WHERE number = $1{}",
            self.for_update()
        ))
        .bind(number)
        .fetch_optional(&mut *w.tx)
        .await?;
        let Some(row) = row else {
            return Err(StoreError::NotFound(format!("authorization {number}")));
        };
        let old = auth_from_row(&row)?;
        let mut rec = AuthorizationRecord::from(&old);
        change(&mut rec);
        rec.number = old.number.clone();
        let new = rec.validate().map_err(StoreError::Invalid)?;
        sqlx::query(
            "UPDATE authorizations SET member_id = $2, provider_npi = $3, codes = $4, units = $5, units_used = $6, start_date = $7, end_date = $8, status = $9, updated_at = $10 WHERE number = $1",
        )
        .bind(&new.number)
        .bind(&new.member_id)
        .bind(&new.provider_npi)
        .bind(new.codes_text())
        .bind(new.units.map(|u| u.to_string()))
        .bind(new.units_used.to_string())
        .bind(new.start_date.to_string())
        .bind(new.end_date.to_string())
        .bind(new.status.as_str())
        .bind(stamp())
        .execute(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        Ok(new)
    }

    // ---- claims ----

    /// One stored claim.
    pub async fn claim(&self, payer_claim_id: &str) -> Result<Option<StoredClaim>> {
        let row = sqlx::query("SELECT * FROM claims WHERE payer_claim_id = $1")
            .bind(payer_claim_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(claim_from_row).transpose()
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
        rows.iter().map(claim_from_row).collect()
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

    // ---- batches ----

    /// Records a received batch.
    pub async fn create_batch(
        &self,
        id: &str,
        spool: &str,
        bytes: i64,
        claims_total: i64,
        submitted_by: &str,
    ) -> Result<()> {
        let mut w = self.write().await?;
        sqlx::query(
            "INSERT INTO batches (id, state, spool, bytes, claims_total, claims_done, rejected, created_at, submitted_by) VALUES ($1, 'queued', $2, $3, $4, 0, '[]', $5, $6)",
        )
        .bind(id)
        .bind(spool)
        .bind(bytes)
        .bind(claims_total)
        .bind(stamp())
        .bind(submitted_by)
        .execute(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        Ok(())
    }

    /// One batch.
    pub async fn batch(&self, id: &str) -> Result<Option<Batch>> {
        let row = sqlx::query("SELECT * FROM batches WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(batch_from_row).transpose()
    }

    /// Batches not finished (after a restart: the ones to resume).
    pub async fn unfinished_batches(&self) -> Result<Vec<Batch>> {
        let rows = sqlx::query(
            "SELECT * FROM batches WHERE state IN ('queued', 'running') ORDER BY created_at",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(batch_from_row).collect()
    }

    /// Sets a batch's state (and its rejected sets or error when it ends).
    pub async fn set_batch_state(
        &self,
        id: &str,
        state: &str,
        rejected: Option<&serde_json::Value>,
        error: Option<&str>,
    ) -> Result<()> {
        let finished = matches!(state, "done" | "failed").then(stamp);
        let mut w = self.write().await?;
        sqlx::query(
            "UPDATE batches SET state = $2, rejected = COALESCE($3, rejected), error = $4, finished_at = $5 WHERE id = $1",
        )
        .bind(id)
        .bind(state)
        .bind(rejected.map(|r| r.to_string()))
        .bind(error)
        .bind(finished)
        .execute(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        Ok(())
    }

    /// Decisions of a batch's claims in file order, as SPEC §4 claim JSON,
    /// `limit` at a time after position `after`.
    pub async fn batch_results(
        &self,
        id: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<(i64, String)>> {
        Ok(self
            .batch_decisions(id, after, limit)
            .await?
            .into_iter()
            .map(|(seq, json, _)| (seq, json))
            .collect())
    }

    /// As [`Store::batch_results`], with the payer claim id each claim took
    /// back (a replacement or void), for the 835's reversals.
    pub async fn batch_decisions(
        &self,
        id: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<(i64, String, Option<String>)>> {
        let rows = sqlx::query(
            "SELECT batch_seq, decision, replaces FROM claims WHERE batch_id = $1 AND batch_seq > $2 ORDER BY batch_seq LIMIT $3",
        )
        .bind(id)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("batch_seq")?,
                    r.try_get("decision")?,
                    r.try_get("replaces")?,
                ))
            })
            .collect()
    }

    /// The stored decision JSON of one claim.
    pub async fn decision(&self, payer_claim_id: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT decision FROM claims WHERE payer_claim_id = $1")
                .bind(payer_claim_id)
                .fetch_optional(&self.pool)
                .await?,
        )
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

async fn insert_authorizations(
    tx: &mut AnyConnection,
    backend: Backend,
    auths: &[Authorization],
) -> Result<()> {
    let at = stamp();
    insert_rows(
        tx,
        backend,
        &format!("INSERT INTO authorizations ({AUTH_COLUMNS}, updated_at)"),
        10,
        auths,
        |q, a| {
            q.bind(a.number.clone())
                .bind(a.member_id.clone())
                .bind(a.provider_npi.clone())
                .bind(a.codes_text())
                .bind(a.units.map(|u| u.to_string()))
                .bind(a.units_used.to_string())
                .bind(a.start_date.to_string())
                .bind(a.end_date.to_string())
                .bind(a.status.as_str())
                .bind(at.clone())
        },
    )
    .await
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

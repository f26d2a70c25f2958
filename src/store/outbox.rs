//! The webhook outbox (issue 18): one row per claim whose decision
//! changed, written by `readjudicate.rs` in the transaction that wrote the
//! change (a crash loses none), sent by the service's delivery loop
//! (`api/webhook.rs`) and marked delivered when the receiver accepted it.
//!
//! Order per claim: only the head of a claim's queue (its oldest
//! undelivered row) is ever handed out, so a claim's newer event is never
//! sent before its older one was accepted. A row handed out is leased:
//! its `due_ms` moves ahead by the lease, so another instance does not
//! send it meanwhile, and a sender that crashes leaves it due again when
//! the lease runs out (at least once). On PostgreSQL the rows are taken
//! with `FOR UPDATE SKIP LOCKED`, so instances asking at once get
//! different rows; SQLite has one instance and its writer lock.
//!
//! The rows carry no PHI: the payer claim id, billing NPI and CLM01, the
//! statuses, when and why.

use sqlx::{AnyConnection, Row};

use super::{stamp, Backend, Result, Store};

/// A claim's decision change, as the outbox keeps it.
pub(super) struct Change<'a> {
    pub(super) payer_claim_id: &'a str,
    pub(super) billing_npi: &'a str,
    pub(super) claim_id: &'a str,
    pub(super) old_status: &'a str,
    pub(super) new_status: &'a str,
    pub(super) changed_at: &'a str,
    pub(super) changed_because: &'a str,
}

/// Adds `change` to the outbox, due at `due_ms` (Unix milliseconds), in
/// the caller's transaction.
pub(super) async fn enqueue(
    conn: &mut AnyConnection,
    change: &Change<'_>,
    due_ms: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO webhook_outbox (event_id, payer_claim_id, billing_npi, claim_id, old_status, new_status, changed_at, changed_because, attempts, due_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(change.payer_claim_id)
    .bind(change.billing_npi)
    .bind(change.claim_id)
    .bind(change.old_status)
    .bind(change.new_status)
    .bind(change.changed_at)
    .bind(change.changed_because)
    .bind(due_ms)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// An outbox row handed out for sending.
#[derive(Debug, Clone)]
pub struct WebhookEvent {
    /// Its row (what [`Store::webhook_delivered`] and
    /// [`Store::webhook_failed`] take).
    pub id: i64,
    /// Its id for the receiver: the same on every attempt.
    pub event_id: String,
    /// The payer's claim id.
    pub payer_claim_id: String,
    /// The claim's billing provider NPI.
    pub billing_npi: String,
    /// Its CLM01.
    pub claim_id: String,
    /// Its status before.
    pub old_status: String,
    /// Its status now.
    pub new_status: String,
    /// When it changed (UTC).
    pub changed_at: String,
    /// Why.
    pub changed_because: String,
    /// Attempts that failed so far.
    pub attempts: i64,
}

/// How many rows the outbox holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxCounts {
    /// Not yet accepted by the receiver.
    pub pending: i64,
    /// Accepted, kept until the retention runs out.
    pub delivered: i64,
}

/// The head rows of their claims' queues due by `now_ms`.
const HEADS: &str = "SELECT id, event_id, payer_claim_id, billing_npi, claim_id, old_status, new_status, changed_at, changed_because, attempts FROM webhook_outbox o WHERE delivered_at IS NULL AND due_ms <= $1 AND NOT EXISTS (SELECT 1 FROM webhook_outbox e WHERE e.payer_claim_id = o.payer_claim_id AND e.delivered_at IS NULL AND e.id < o.id) ORDER BY id LIMIT $2";

impl Store {
    /// Leases up to `limit` rows due by `now_ms`, each the oldest
    /// undelivered row of its claim, for `lease_ms`; oldest first.
    pub async fn lease_webhook_events(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<WebhookEvent>> {
        // Most polls find nothing: ask without the writer lock first.
        let any = sqlx::query(
            "SELECT 1 FROM webhook_outbox WHERE delivered_at IS NULL AND due_ms <= $1 LIMIT 1",
        )
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await?;
        if any.is_none() {
            return Ok(Vec::new());
        }
        let mut w = self.write().await?;
        let sql = match self.backend {
            Backend::Sqlite => HEADS.to_string(),
            Backend::Postgres => format!("{HEADS} FOR UPDATE SKIP LOCKED"),
        };
        let rows = sqlx::query(&sql)
            .bind(now_ms)
            .bind(limit)
            .fetch_all(&mut *w.tx)
            .await?;
        let mut events = Vec::with_capacity(rows.len());
        for r in rows {
            events.push(WebhookEvent {
                id: r.try_get("id")?,
                event_id: r.try_get("event_id")?,
                payer_claim_id: r.try_get("payer_claim_id")?,
                billing_npi: r.try_get("billing_npi")?,
                claim_id: r.try_get("claim_id")?,
                old_status: r.try_get("old_status")?,
                new_status: r.try_get("new_status")?,
                changed_at: r.try_get("changed_at")?,
                changed_because: r.try_get("changed_because")?,
                attempts: r.try_get("attempts")?,
            });
        }
        for e in &events {
            sqlx::query("UPDATE webhook_outbox SET due_ms = $2 WHERE id = $1")
                .bind(e.id)
                .bind(now_ms.saturating_add(lease_ms))
                .execute(&mut *w.tx)
                .await?;
        }
        w.tx.commit().await?;
        Ok(events)
    }

    /// Marks rows accepted by the receiver (one transaction).
    pub async fn webhook_delivered(&self, ids: &[i64]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let now = stamp();
        let mut w = self.write().await?;
        for id in ids {
            sqlx::query(
                "UPDATE webhook_outbox SET delivered_at = $2, last_error = NULL WHERE id = $1",
            )
            .bind(id)
            .bind(now.as_str())
            .execute(&mut *w.tx)
            .await?;
        }
        w.tx.commit().await?;
        Ok(())
    }

    /// Records a failed attempt: the row is due again at `due_ms`.
    /// `error` says what failed (a status, a kind of error; no URL).
    pub async fn webhook_failed(&self, id: i64, due_ms: i64, error: &str) -> Result<()> {
        let mut w = self.write().await?;
        sqlx::query(
            "UPDATE webhook_outbox SET attempts = attempts + 1, due_ms = $2, last_error = $3 WHERE id = $1 AND delivered_at IS NULL",
        )
        .bind(id)
        .bind(due_ms)
        .bind(error)
        .execute(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        Ok(())
    }

    /// Deletes the rows delivered before `delivered_before`, and when
    /// `undelivered_before` is given (no webhook is configured: nobody
    /// will send them) the undelivered rows of changes made before it.
    /// Both are UTC stamps; the number deleted.
    pub async fn purge_webhook_events(
        &self,
        delivered_before: &str,
        undelivered_before: Option<&str>,
    ) -> Result<u64> {
        let mut w = self.write().await?;
        let mut n = sqlx::query(
            "DELETE FROM webhook_outbox WHERE delivered_at IS NOT NULL AND delivered_at < $1",
        )
        .bind(delivered_before)
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        if let Some(before) = undelivered_before {
            n += sqlx::query(
                "DELETE FROM webhook_outbox WHERE delivered_at IS NULL AND changed_at < $1",
            )
            .bind(before)
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
        }
        w.tx.commit().await?;
        Ok(n)
    }

    /// How many rows the outbox holds, pending and delivered.
    pub async fn webhook_outbox_counts(&self) -> Result<OutboxCounts> {
        let r = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM webhook_outbox WHERE delivered_at IS NULL) AS pending, (SELECT COUNT(*) FROM webhook_outbox WHERE delivered_at IS NOT NULL) AS delivered",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(OutboxCounts {
            pending: r.try_get("pending")?,
            delivered: r.try_get("delivered")?,
        })
    }
}

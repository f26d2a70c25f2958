//! Batch jobs: received, claimed, moved through their states, and their
//! decisions read back in file order.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{stamp, Result, Store, StoreError};

/// Where a batch is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchState {
    /// Received, not started.
    Queued,
    /// Chunks are being committed.
    Running,
    /// Every claim adjudicated.
    Done,
    /// Stopped by an error.
    Failed,
}

impl BatchState {
    /// The word stored and answered.
    pub fn as_str(self) -> &'static str {
        match self {
            BatchState::Queued => "queued",
            BatchState::Running => "running",
            BatchState::Done => "done",
            BatchState::Failed => "failed",
        }
    }

    fn parse(word: &str) -> Result<BatchState> {
        match word {
            "queued" => Ok(BatchState::Queued),
            "running" => Ok(BatchState::Running),
            "done" => Ok(BatchState::Done),
            "failed" => Ok(BatchState::Failed),
            other => Err(StoreError::Corrupt(format!("batch state {other:?}"))),
        }
    }

    /// True once the batch has ended (done or failed).
    pub fn ended(self) -> bool {
        matches!(self, BatchState::Done | BatchState::Failed)
    }
}

impl std::fmt::Display for BatchState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A batch job.
#[derive(Debug, Clone, Serialize)]
pub struct Batch {
    /// Batch id.
    pub id: String,
    /// Where it is.
    pub state: BatchState,
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

fn batch_from_row(row: &AnyRow) -> Result<Batch> {
    let rejected: String = row.try_get("rejected")?;
    Ok(Batch {
        id: row.try_get("id")?,
        state: BatchState::parse(&row.try_get::<String, _>("state")?)?,
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

impl Store {
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
        state: BatchState,
        rejected: Option<&serde_json::Value>,
        error: Option<&str>,
    ) -> Result<()> {
        let finished = state.ended().then(stamp);
        let mut w = self.write().await?;
        sqlx::query(
            "UPDATE batches SET state = $2, rejected = COALESCE($3, rejected), error = $4, finished_at = $5 WHERE id = $1",
        )
        .bind(id)
        .bind(state.as_str())
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
            "SELECT batch_seq, decision, body, replaces FROM claims WHERE batch_id = $1 AND batch_seq > $2 ORDER BY batch_seq LIMIT $3",
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
                    super::decision_of(r)?,
                    r.try_get("replaces")?,
                ))
            })
            .collect()
    }
}

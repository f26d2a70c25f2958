//! Batches kept in the database and worked by any instance (issue 17):
//! the received file in pieces, its claims in chunks, and the step that
//! claims the next chunk of a batch and commits it with its claims, their
//! consumption and the batch's progress in one transaction.
//!
//! Chunks of one batch are committed in file order (units are consumed in
//! file order within a submission, SPEC §3), so a batch's result does not
//! depend on how many instances work it: an instance takes the first
//! chunk not yet done of a batch, and while it holds that row locked
//! (PostgreSQL: `FOR UPDATE SKIP LOCKED`) the others skip that batch and
//! take the first chunk of another one. A crashed instance's transaction
//! is rolled back by the database and its chunk is taken by the next
//! instance that asks. SQLite has one instance and its writer lock.

use sqlx::Row;

use super::{record, stamp, Backend, Result, Store, StoreError, SubmitOptions};
use crate::model::{Claim, ClaimDecision};
use crate::rules::RulesIndex;

/// A chunk one instance committed.
#[derive(Debug)]
pub struct ChunkDone {
    /// The batch.
    pub batch_id: String,
    /// The chunk's place in the batch (0, 1, …).
    pub seq: i64,
    /// The decisions committed.
    pub decisions: Vec<ClaimDecision>,
    /// True when this was the batch's last chunk (the batch is done).
    pub finished: bool,
}

impl Store {
    /// Stores a piece of a received batch file (pieces are numbered from 0).
    pub async fn add_batch_piece(&self, batch_id: &str, piece: i64, data: &[u8]) -> Result<()> {
        let mut w = self.write().await?;
        sqlx::query("INSERT INTO batch_files (batch_id, piece, data) VALUES ($1, $2, $3)")
            .bind(batch_id)
            .bind(piece)
            .bind(data.to_vec())
            .execute(&mut *w.tx)
            .await?;
        w.tx.commit().await?;
        Ok(())
    }

    /// Stores chunk `seq` of a received batch: `claims`, the claims of the
    /// batch's accepted sets after the first `first_claim` of them.
    pub async fn add_batch_chunk(
        &self,
        batch_id: &str,
        seq: i64,
        first_claim: i64,
        claims: &[Claim],
    ) -> Result<()> {
        let data = record::encode_claims(claims)?;
        let mut w = self.write().await?;
        sqlx::query(
            "INSERT INTO batch_chunks (batch_id, seq, first_claim, claims, data, done) VALUES ($1, $2, $3, $4, $5, 0)",
        )
        .bind(batch_id)
        .bind(seq)
        .bind(first_claim)
        .bind(claims.len() as i64)
        .bind(data)
        .execute(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        Ok(())
    }

    /// Forgets the pieces and chunks of a batch whose upload failed.
    pub async fn discard_batch_upload(&self, batch_id: &str) -> Result<()> {
        let mut w = self.write().await?;
        for sql in [
            "DELETE FROM batch_files WHERE batch_id = $1",
            "DELETE FROM batch_chunks WHERE batch_id = $1",
        ] {
            sqlx::query(sql).bind(batch_id).execute(&mut *w.tx).await?;
        }
        w.tx.commit().await?;
        Ok(())
    }

    /// Records a batch whose pieces and chunks are stored: from now on
    /// every instance may work it (and is told so on PostgreSQL).
    pub async fn queue_stored_batch(
        &self,
        id: &str,
        bytes: i64,
        claims_total: i64,
        rejected: &serde_json::Value,
        submitted_by: &str,
    ) -> Result<()> {
        let mut w = self.write().await?;
        // A batch with no claim has no chunk to finish it: done at once.
        let (state, finished) = if claims_total == 0 {
            ("done", Some(stamp()))
        } else {
            ("queued", None)
        };
        sqlx::query(
            "INSERT INTO batches (id, state, spool, bytes, claims_total, claims_done, rejected, created_at, submitted_by, finished_at) VALUES ($1, $2, '', $3, $4, 0, $5, $6, $7, $8)",
        )
        .bind(id)
        .bind(state)
        .bind(bytes)
        .bind(claims_total)
        .bind(rejected.to_string())
        .bind(stamp())
        .bind(submitted_by)
        .bind(finished)
        .execute(&mut *w.tx)
        .await?;
        super::notify::notify(&mut w.tx, self.backend, super::Change::Batches).await?;
        w.tx.commit().await?;
        Ok(())
    }

    /// The first bytes of a stored batch file (up to `n`): its ISA.
    pub async fn batch_file_head(&self, batch_id: &str, n: usize) -> Result<Vec<u8>> {
        let data: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT data FROM batch_files WHERE batch_id = $1 AND piece = 0")
                .bind(batch_id)
                .fetch_optional(&self.pool)
                .await?;
        let mut data = data.unwrap_or_default();
        data.truncate(n);
        Ok(data)
    }

    /// Works one chunk of some batch, if any is waiting: the first chunk
    /// not yet done of the oldest batch that has one no other instance
    /// holds. Conflicts with concurrent writers are retried. `worker`
    /// names this instance on the chunk row.
    pub async fn work_batch_chunk(
        &self,
        rules: &RulesIndex,
        worker: &str,
    ) -> Result<Option<ChunkDone>> {
        // Idle instances ask often: a read first, the writer lock only
        // when there is work.
        let waiting: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM batch_chunks WHERE done = 0 LIMIT 1")
                .fetch_optional(&self.pool)
                .await?;
        if waiting.is_none() {
            return Ok(None);
        }
        let mut attempt = 0;
        loop {
            let mut working = None;
            match self
                .work_batch_chunk_once(rules, worker, &mut working)
                .await
            {
                Err(e) if e.retriable() && attempt < 20 => {
                    attempt += 1;
                    tracing::debug!(attempt, error = %e, "batch chunk retried");
                    tokio::time::sleep(std::time::Duration::from_millis(2 * attempt)).await;
                }
                // The database refused what the chunk wrote, or the chunk
                // cannot be read: it would fail again on any instance.
                Err(
                    e @ (StoreError::Corrupt(_) | StoreError::Database(sqlx::Error::Database(_))),
                ) => {
                    let Some(id) = working else { return Err(e) };
                    tracing::error!(batch = %id, error = %e, "batch failed");
                    self.set_batch_state(
                        &id,
                        super::BatchState::Failed,
                        None,
                        Some(&e.to_string()),
                    )
                    .await?;
                    return Ok(None);
                }
                other => return other,
            }
        }
    }

    async fn work_batch_chunk_once(
        &self,
        rules: &RulesIndex,
        worker: &str,
        working: &mut Option<String>,
    ) -> Result<Option<ChunkDone>> {
        let mut w = self.write().await?;
        let lock = match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE OF c SKIP LOCKED",
        };
        let row = sqlx::query(&format!(
            "SELECT c.batch_id, c.seq, c.first_claim, c.data FROM batch_chunks c JOIN batches b ON b.id = c.batch_id \
             WHERE c.done = 0 AND b.state IN ('queued', 'running') \
             AND c.seq = (SELECT MIN(d.seq) FROM batch_chunks d WHERE d.batch_id = c.batch_id AND d.done = 0) \
             ORDER BY b.created_at, c.batch_id LIMIT 1{lock}"
        ))
        .fetch_optional(&mut *w.tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let batch_id: String = row.try_get("batch_id")?;
        let seq: i64 = row.try_get("seq")?;
        let first_claim: i64 = row.try_get("first_claim")?;
        let data: Option<Vec<u8>> = row.try_get("data")?;
        *working = Some(batch_id.clone());
        let claims = match data.as_deref().map(record::decode_claims) {
            Some(Ok(c)) => c,
            Some(Err(e)) => return Err(e),
            None => {
                return Err(StoreError::Corrupt(format!(
                    "batch {batch_id} chunk {seq} has no claims"
                )))
            }
        };
        let opts = SubmitOptions {
            idempotency: None,
            batch: Some((&batch_id, first_claim)),
            audit: None,
        };
        let decisions = self.decide_and_write(&mut w, rules, &claims, opts).await?;
        sqlx::query(
            "UPDATE batch_chunks SET done = 1, data = NULL, worker = $1 WHERE batch_id = $2 AND seq = $3",
        )
        .bind(worker)
        .bind(&batch_id)
        .bind(seq)
        .execute(&mut *w.tx)
        .await?;
        let left: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM batch_chunks WHERE batch_id = $1 AND done = 0",
        )
        .bind(&batch_id)
        .fetch_one(&mut *w.tx)
        .await?;
        let finished = left == 0;
        if finished {
            sqlx::query("UPDATE batches SET state = 'done', finished_at = $2 WHERE id = $1")
                .bind(&batch_id)
                .bind(stamp())
                .execute(&mut *w.tx)
                .await?;
        } else {
            // The next chunk is free once this commits: any instance may
            // take it.
            super::notify::notify(&mut w.tx, self.backend, super::Change::Batches).await?;
        }
        w.tx.commit().await?;
        Ok(Some(ChunkDone {
            batch_id,
            seq,
            decisions,
            finished,
        }))
    }
}

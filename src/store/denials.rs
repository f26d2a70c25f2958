//! A batch's claims denied in full, read back page by page for its 835
//! (SPEC §4): grouped by billing provider, file order within each.

use sqlx::Row;

use super::{Result, Store};

/// One claim denied in full, as the claims row has it.
#[derive(Debug, Clone)]
pub struct Denial {
    /// Its place in the batch file.
    pub batch_seq: i64,
    /// Billing provider NPI (the payee of the 835).
    pub billing_npi: String,
    /// CLM05-3 frequency code.
    pub frequency: String,
    /// The decision JSON (SPEC §4 claim).
    pub decision: String,
}

impl Store {
    /// Claims of batch `id` with status `denied`, ordered by billing NPI
    /// then file order, the page after (`billing_npi`, `batch_seq`) =
    /// `after` (`None`: from the start), at most `limit` of them.
    pub async fn batch_denials(
        &self,
        id: &str,
        after: Option<(&str, i64)>,
        limit: i64,
    ) -> Result<Vec<Denial>> {
        let (npi, seq) = after.unwrap_or(("", -1));
        let rows = sqlx::query(
            "SELECT batch_seq, billing_npi, frequency, decision, body FROM claims \
             WHERE batch_id = $1 AND status = 'denied' \
             AND (billing_npi > $2 OR (billing_npi = $2 AND batch_seq > $3)) \
             ORDER BY billing_npi, batch_seq LIMIT $4",
        )
        .bind(id)
        .bind(npi)
        .bind(seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Denial {
                    batch_seq: r.try_get("batch_seq")?,
                    billing_npi: r.try_get("billing_npi")?,
                    frequency: r.try_get("frequency")?,
                    decision: super::decision_of(r)?,
                })
            })
            .collect()
    }
}

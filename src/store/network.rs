//! The network directory (SPEC §2.4): replaced as a whole, read by NPI,
//! and loaded for a submission as the rows of its claims' billing NPIs
//! (one query on the NPI index).

use std::collections::HashSet;

use chrono::NaiveDate;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::access::insert_audit;
use super::{insert_rows, stamp, AuditEntry, Result, Store, StoreError};
use crate::model::{Claim, NetworkDirectory};
use crate::network::NetworkRow;
use crate::rules::{Network, RulesIndex};

const COLUMNS: &str = "npi, network_start, network_end";

fn date(text: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| StoreError::Corrupt(format!("network directory date {text:?}")))
}

fn from_row(row: &AnyRow) -> Result<NetworkRow> {
    let start: String = row.try_get("network_start")?;
    let end: Option<String> = row.try_get("network_end")?;
    Ok(NetworkRow {
        npi: row.try_get("npi")?,
        network_start: date(&start)?,
        network_end: end.as_deref().map(date).transpose()?,
    })
}

/// What replacing the directory did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct NetworkImported {
    /// Rows stored now.
    pub imported: u64,
    /// Distinct NPIs among them.
    pub providers: u64,
    /// Rows the directory had before (all replaced).
    pub replaced: u64,
}

impl Store {
    /// Replaces the whole directory with `rows` in one transaction (no
    /// row: no directory, everyone in network). With `audit`, the entry is
    /// written in the same transaction, naming the NPIs imported.
    pub async fn replace_network(
        &self,
        rows: &[NetworkRow],
        audit: Option<&AuditEntry>,
    ) -> Result<NetworkImported> {
        let mut w = self.write().await?;
        let replaced = sqlx::query("DELETE FROM network_directory")
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
        let at = stamp();
        insert_rows(
            &mut w.tx,
            self.backend,
            &format!("INSERT INTO network_directory ({COLUMNS}, imported_at)"),
            4,
            rows,
            |q, r| {
                q.bind(r.npi.clone())
                    .bind(r.network_start.to_string())
                    .bind(r.network_end.map(|d| d.to_string()))
                    .bind(at.clone())
            },
        )
        .await?;
        let mut npis: Vec<&str> = rows.iter().map(|r| r.npi.as_str()).collect();
        npis.sort_unstable();
        npis.dedup();
        if let Some(a) = audit {
            insert_audit(&mut w.tx, a, &npis.join(" ")).await?;
        }
        w.tx.commit().await?;
        Ok(NetworkImported {
            imported: rows.len() as u64,
            providers: npis.len() as u64,
            replaced,
        })
    }

    /// The directory rows of one NPI, by start.
    pub async fn network_rows(&self, npi: &str) -> Result<Vec<NetworkRow>> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM network_directory WHERE npi = $1 ORDER BY network_start, network_end"
        ))
        .bind(npi)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(from_row)
        .collect()
    }

    /// The whole directory as the store has it, by NPI and start.
    pub async fn network_directory(&self) -> Result<Vec<NetworkRow>> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM network_directory ORDER BY npi, network_start, network_end"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(from_row)
        .collect()
    }

    /// The directory as far as `claims` need it: the rows of their
    /// billing NPIs. With no row at all in the store, no directory (every
    /// provider in network); otherwise a loaded one, in which a billing
    /// NPI without rows is out of network. A rule set without a
    /// `network = "out"` rule asks nothing of the directory: no query.
    pub(super) async fn network_of(
        &self,
        conn: &mut AnyConnection,
        rules: &RulesIndex,
        claims: &[Claim],
    ) -> Result<NetworkDirectory> {
        if !rules
            .rule_set()
            .rules
            .iter()
            .any(|r| r.network == Network::Out)
        {
            return Ok(NetworkDirectory::new());
        }
        let any = sqlx::query("SELECT 1 AS one FROM network_directory LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?;
        if any.is_none() {
            return Ok(NetworkDirectory::new());
        }
        let npis: HashSet<&str> = claims.iter().map(|c| c.billing_npi.as_str()).collect();
        let mut npis: Vec<&str> = npis.into_iter().collect();
        npis.sort_unstable();
        let head = format!("SELECT {COLUMNS} FROM network_directory WHERE npi");
        let mut dir = NetworkDirectory::loaded();
        for row in self.fetch_in(conn, &head, &[], &npis, "").await? {
            let r = from_row(&row)?;
            dir.add(&r.npi, r.network_start, r.network_end);
        }
        Ok(dir)
    }
}

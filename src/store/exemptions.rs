//! Gold-card exemptions (SPEC §3.5): stored, listed, revoked, and loaded
//! into an [`ExemptionBook`] for a submission (one indexed query).

use std::collections::HashSet;

use chrono::NaiveDate;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::access::insert_audit;
use super::authorizations::{auth_from_row, AUTH_COLUMNS};
use super::{insert_rows, stamp, AuditEntry, Result, Store, StoreError};
use crate::authorizations::Authorization;
use crate::exemptions::goldcard::{self, GoldCard, Params, ParamsError};
use crate::exemptions::{Exemption, ExemptionBook};
use crate::model::Claim;
use crate::rules::RuleSet;

const COLUMNS: &str =
    "id, provider_npi, rule_id, start_date, end_date, source, evidence, created_at, revoked_at";

/// Where a stored exemption came from.
pub const SOURCE_IMPORT: &str = "import";
/// A stored exemption the gold-card computation earned.
pub const SOURCE_GOLDCARD: &str = "goldcard";

/// An exemption as the store keeps it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredExemption {
    /// The exemption.
    #[serde(flatten)]
    pub exemption: Exemption,
    /// `import` or `goldcard`.
    pub source: String,
    /// For a computed exemption: the counts, rate, window and the
    /// authorization numbers counted.
    pub evidence: Option<serde_json::Value>,
    /// When it was stored (UTC).
    pub created_at: String,
    /// When it was revoked (UTC); null while in force.
    pub revoked_at: Option<String>,
}

fn date(row: &AnyRow, col: &str) -> Result<NaiveDate> {
    let text: String = row.try_get(col)?;
    NaiveDate::parse_from_str(&text, "%Y-%m-%d")
        .map_err(|_| StoreError::Corrupt(format!("exemption {col} {text:?}")))
}

fn from_row(row: &AnyRow) -> Result<StoredExemption> {
    let evidence: Option<String> = row.try_get("evidence")?;
    Ok(StoredExemption {
        exemption: Exemption {
            id: row.try_get("id")?,
            provider_npi: row.try_get("provider_npi")?,
            rule_id: row.try_get("rule_id")?,
            start_date: date(row, "start_date")?,
            end_date: date(row, "end_date")?,
        },
        source: row.try_get("source")?,
        evidence: evidence.and_then(|e| serde_json::from_str(&e).ok()),
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

/// What storing a list of exemptions did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExemptionsAdded {
    /// Ids stored now.
    pub added: Vec<String>,
    /// Ids on file already (in force or revoked), left as they are.
    pub known: Vec<String>,
}

/// Exemption rows ([`COLUMNS`]) as a book.
fn book_of(rows: &[AnyRow]) -> Result<ExemptionBook> {
    let list = rows
        .iter()
        .map(|row| Ok(from_row(row)?.exemption))
        .collect::<Result<Vec<_>>>()?;
    Ok(ExemptionBook::new(list))
}

impl Store {
    /// Stores exemptions all or nothing, each with its evidence (JSON
    /// text). An id on file already is left alone, in force or revoked: a
    /// recomputation never brings back an exemption staff revoked. With
    /// `audit`, the entry is written in the same transaction, naming the
    /// ids added (none added, no entry).
    pub async fn add_exemptions(
        &self,
        list: &[(Exemption, Option<String>)],
        source: &str,
        audit: Option<&AuditEntry>,
    ) -> Result<ExemptionsAdded> {
        let mut w = self.write().await?;
        let ids: Vec<&str> = list.iter().map(|(e, _)| e.id.as_str()).collect();
        let mut on_file = HashSet::new();
        for row in self
            .fetch_in(
                &mut w.tx,
                "SELECT id FROM exemptions WHERE id",
                &[],
                &ids,
                "",
            )
            .await?
        {
            on_file.insert(row.try_get::<String, _>("id")?);
        }
        let mut out = ExemptionsAdded::default();
        let mut fresh = Vec::new();
        for (e, ev) in list {
            if on_file.contains(&e.id) || out.added.contains(&e.id) {
                out.known.push(e.id.clone());
            } else {
                out.added.push(e.id.clone());
                fresh.push((e, ev));
            }
        }
        let at = stamp();
        insert_rows(
            &mut w.tx,
            self.backend,
            &format!("INSERT INTO exemptions ({COLUMNS})"),
            9,
            &fresh,
            |q, (e, ev)| {
                q.bind(e.id.clone())
                    .bind(e.provider_npi.clone())
                    .bind(e.rule_id.clone())
                    .bind(e.start_date.to_string())
                    .bind(e.end_date.to_string())
                    .bind(source.to_string())
                    .bind((*ev).clone())
                    .bind(at.clone())
                    .bind(None::<String>)
            },
        )
        .await?;
        if let Some(a) = audit.filter(|_| !out.added.is_empty()) {
            insert_audit(&mut w.tx, a, &out.added.join(" ")).await?;
        }
        w.tx.commit().await?;
        Ok(out)
    }

    /// Stored exemptions, by provider, rule and start; of one provider
    /// and/or rule when given; revoked ones only with `revoked`.
    pub async fn exemptions(
        &self,
        provider_npi: Option<&str>,
        rule_id: Option<&str>,
        revoked: bool,
    ) -> Result<Vec<StoredExemption>> {
        let mut sql = format!("SELECT {COLUMNS} FROM exemptions WHERE 1 = 1");
        let mut n = 0;
        let mut binds = Vec::new();
        for (col, v) in [("provider_npi", provider_npi), ("rule_id", rule_id)] {
            if let Some(v) = v {
                n += 1;
                sql.push_str(&format!(" AND {col} = ${n}"));
                binds.push(v);
            }
        }
        if !revoked {
            sql.push_str(" AND revoked_at IS NULL");
        }
        sql.push_str(" ORDER BY provider_npi, rule_id, start_date, id");
        let mut q = sqlx::query(&sql);
        for b in binds {
            q = q.bind(b);
        }
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(from_row)
            .collect()
    }

    /// One stored exemption, revoked or not.
    pub async fn exemption(&self, id: &str) -> Result<Option<StoredExemption>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM exemptions WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Revokes an exemption: lines are no longer decided by it from now
    /// on. Revoking a revoked exemption changes nothing. With `audit`, the
    /// entry is written in the same transaction.
    pub async fn revoke_exemption(
        &self,
        id: &str,
        audit: Option<&AuditEntry>,
    ) -> Result<StoredExemption> {
        let mut w = self.write().await?;
        sqlx::query("UPDATE exemptions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(stamp())
            .execute(&mut *w.tx)
            .await?;
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM exemptions WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *w.tx)
            .await?;
        let Some(row) = row else {
            return Err(StoreError::NotFound(format!("exemption {id}")));
        };
        let e = from_row(&row)?;
        if let Some(a) = audit {
            insert_audit(&mut w.tx, a, id).await?;
        }
        w.tx.commit().await?;
        Ok(e)
    }

    /// Authorizations whose start_date is in `from..=to` (what a
    /// gold-card computation counts).
    pub async fn authorizations_started(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<Authorization>> {
        sqlx::query(&format!(
            "SELECT {AUTH_COLUMNS} FROM authorizations WHERE start_date >= $1 AND start_date <= $2 ORDER BY number"
        ))
        .bind(from.to_string())
        .bind(to.to_string())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(auth_from_row)
        .collect()
    }

    /// The exemptions in force of every provider NPI (§3.1) of `claims`'
    /// lines, as a book (one query on the provider index).
    pub(super) async fn exemptions_of(
        &self,
        conn: &mut AnyConnection,
        claims: &[Claim],
    ) -> Result<ExemptionBook> {
        let npis: HashSet<&str> = claims
            .iter()
            .flat_map(|c| c.lines.iter().flat_map(|l| c.provider_npis(l)))
            .collect();
        let mut npis: Vec<&str> = npis.into_iter().collect();
        npis.sort_unstable();
        let head =
            format!("SELECT {COLUMNS} FROM exemptions WHERE revoked_at IS NULL AND provider_npi");
        let rows = self.fetch_in(conn, &head, &[], &npis, "").await?;
        book_of(&rows)
    }

    /// Every exemption in force, as a book: what a replay decides with
    /// (one query for the whole replay rather than one for each page's
    /// providers; a plan's gold-card list is thousands of rows at most).
    pub(super) async fn exemptions_in_force(
        &self,
        conn: &mut AnyConnection,
    ) -> Result<ExemptionBook> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM exemptions WHERE revoked_at IS NULL"
        ))
        .fetch_all(&mut *conn)
        .await?;
        book_of(&rows)
    }

    /// The gold-card computation (SPEC §3.5) over the stored
    /// authorizations and `set`: load, compute (the pure function), and
    /// with `apply` store the exemptions earned with their evidence (and
    /// `audit`, naming the ids added, in the same transaction).
    pub async fn goldcard(
        &self,
        set: &RuleSet,
        params: Params,
        apply: Option<Option<&AuditEntry>>,
    ) -> Result<std::result::Result<(GoldCard, Option<ExemptionsAdded>), ParamsError>> {
        let Some((from, to)) = params.window() else {
            return Ok(Err(ParamsError::Calendar));
        };
        let auths = self.authorizations_started(from, to).await?;
        let card = match goldcard::compute(&auths, set, params) {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        let Some(audit) = apply else {
            return Ok(Ok((card, None)));
        };
        let list: Vec<(Exemption, Option<String>)> = card
            .rows
            .iter()
            .filter_map(|r| {
                let e = r.exemption.clone()?;
                let evidence = serde_json::json!({
                    "rule_set": set.version,
                    "as_of": card.params.as_of,
                    "window_start": card.window_start,
                    "window_end": card.window_end,
                    "min_requests": card.params.min_requests,
                    "threshold": card.params.threshold.to_string(),
                    "requests": r.requests,
                    "approved": r.approved,
                    "denied": r.denied,
                    "rate": r.rate.map(|d| d.to_string()),
                    "authorizations": r.authorizations,
                });
                Some((e, Some(evidence.to_string())))
            })
            .collect();
        let added = self.add_exemptions(&list, SOURCE_GOLDCARD, audit).await?;
        Ok(Ok((card, Some(added))))
    }
}

//! Pended claims decided again when their authorization is (issue 18),
//! inside the write transaction that changed the authorization: the
//! claims are read back from their records (their facts, not X12),
//! decided by the core in submission order with the active rule set,
//! and their new decisions, units and line rows written with the change,
//! with a webhook outbox row per claim changed (`outbox.rs`), so a crash
//! leaves either all or none. Locks are those of a
//! submission (claim keys, then the authorizations, FOR UPDATE on
//! PostgreSQL); units used are written compare-and-set as a submission's.

use rust_decimal::Decimal;
use rustc_hash::FxHashMap;
use serde::Serialize;
use sqlx::{AnyConnection, Row};

use super::{record, stamp, Result, Store, StoreError, Write};
use crate::adjudication::Adjudicator;
use crate::model::{Claim, ClaimDecision, Consumption, Decision};
use crate::rules::{RuleSet, RulesIndex};

/// An authorization that was pending and changed: its number and what
/// changed, in words (the reason kept with the decision it replaced).
#[derive(Debug, Clone)]
pub(super) struct Released {
    pub(super) number: String,
    pub(super) what: String,
}

/// A decision a claim had before it was decided again.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    /// Its claim status.
    pub status: String,
    /// The rule set it was made under.
    pub rule_set: String,
    /// When it was made (UTC).
    pub decided_at: String,
    /// When the next decision replaced it (UTC).
    pub replaced_at: String,
    /// Why the claim was decided again.
    pub replaced_because: String,
    /// The decision, as SPEC §4 shows a claim.
    pub decision: Box<serde_json::value::RawValue>,
}

/// One claim to decide again, as read.
struct Pended {
    payer_claim_id: String,
    received_at: String,
    decided_at: String,
    rule_set: String,
    status: String,
    earlier_json: String,
    facts: Claim,
}

/// A ledger row's line, authorization number and units (stored as text)
/// as the units a claim holds.
pub(super) fn consumption(line: i64, authorization: String, units: &str) -> Result<Consumption> {
    let units = units
        .parse::<Decimal>()
        .map_err(|e| StoreError::Corrupt(format!("ledger units {units:?}: {e}")))?;
    Ok(Consumption {
        authorization,
        // The line plays no part in giving units back.
        line: u32::try_from(line).unwrap_or(0),
        units,
    })
}

impl Store {
    /// The units each claim holds now: its ledger rows not reversed, in
    /// the order they were written. A stored decision's JSON does not
    /// carry its consumption, so deciding a claim again gives back what
    /// this says it holds.
    pub(super) async fn held_units(
        &self,
        conn: &mut AnyConnection,
        payer_claim_ids: &[&str],
    ) -> Result<FxHashMap<String, Vec<Consumption>>> {
        /// A ledger row as the query aggregates it.
        #[derive(serde::Deserialize)]
        struct Held {
            payer_claim_id: String,
            line: i64,
            authorization_number: String,
            units: String,
        }
        let fields = [
            ("payer_claim_id", "payer_claim_id"),
            ("line", "line"),
            ("authorization_number", "authorization_number"),
            ("units", "units"),
        ];
        let from = "FROM consumption_ledger WHERE reversed_by IS NULL AND payer_claim_id";
        let rows = self
            .select_in(conn, &fields, from, payer_claim_ids, "id", |row| {
                Ok(Held {
                    payer_claim_id: row.try_get("payer_claim_id")?,
                    line: row.try_get("line")?,
                    authorization_number: row.try_get("authorization_number")?,
                    units: row.try_get("units")?,
                })
            })
            .await?;
        let mut held: FxHashMap<String, Vec<Consumption>> = FxHashMap::default();
        for row in rows {
            let taken = consumption(row.line, row.authorization_number, &row.units)?;
            held.entry(row.payer_claim_id).or_default().push(taken);
        }
        Ok(held)
    }

    /// Decides again every live claim with a line pended on one of the
    /// `released` authorizations; the number decided again.
    pub(super) async fn readjudicate_pended(
        &self,
        w: &mut Write<'_>,
        released: &[Released],
    ) -> Result<u64> {
        if released.is_empty() {
            return Ok(0);
        }
        let numbers: Vec<&str> = released.iter().map(|r| r.number.as_str()).collect();
        let head = "SELECT payer_claim_id, received_at, changed_at, rule_set, status, body FROM claims WHERE live = 1 AND payer_claim_id IN (SELECT payer_claim_id FROM line_decisions WHERE decision = 'pended' AND authorization_number";
        let rows = self.fetch_in(&mut w.tx, head, &[], &numbers, ")").await?;
        let mut pended = Vec::with_capacity(rows.len());
        for row in rows {
            let payer_claim_id: String = row.try_get("payer_claim_id")?;
            // Claims stored before records kept facts cannot be decided
            // again without their X12: they stay as they are.
            let Some(body) = row.try_get::<Option<Vec<u8>>, _>("body")? else {
                tracing::warn!(payer_claim_id, "pended claim has no stored facts");
                continue;
            };
            let (earlier_json, facts) = record::decision_and_facts(&body)?;
            let Some(facts) = facts else {
                tracing::warn!(payer_claim_id, "pended claim has no stored facts");
                continue;
            };
            let received_at: String = row.try_get("received_at")?;
            let changed_at: Option<String> = row.try_get("changed_at")?;
            pended.push(Pended {
                payer_claim_id,
                decided_at: changed_at.unwrap_or_else(|| received_at.clone()),
                received_at,
                rule_set: row.try_get("rule_set")?,
                status: row.try_get("status")?,
                earlier_json,
                facts,
            });
        }
        if pended.is_empty() {
            return Ok(0);
        }
        // Submission order (payer claim ids are time-ordered within a
        // millisecond).
        pended.sort_by(|a, b| {
            (a.received_at.as_str(), a.payer_claim_id.as_str())
                .cmp(&(b.received_at.as_str(), b.payer_claim_id.as_str()))
        });

        let rules = self.active_rules_in(&mut w.tx).await?;
        let claims: Vec<Claim> = pended.iter().map(|p| p.facts.clone()).collect();
        if self.backend == super::Backend::Postgres {
            super::submit::lock_claim_keys(&mut w.tx, &claims).await?;
        }
        let mut loaded = self.load(&mut w.tx, &claims, true).await?;
        let exemptions = self.exemptions_of(&mut w.tx, &claims).await?;
        let network = self.network_of(&mut w.tx, &rules, &claims).await?;
        let adjudicator = Adjudicator::new(&rules)
            .with_exemptions(&exemptions)
            .with_network(&network);
        let now = stamp();
        let due_ms = super::now_ms();
        // What each claim holds now goes back to the book before it is
        // decided again (a pended claim's other lines may have consumed).
        let ids: Vec<&str> = pended.iter().map(|p| p.payer_claim_id.as_str()).collect();
        let mut held = self.held_units(&mut w.tx, &ids).await?;
        let mut decided = Vec::with_capacity(pended.len());
        for p in &pended {
            let mut earlier: ClaimDecision = serde_json::from_str(&p.earlier_json)
                .map_err(|e| StoreError::Corrupt(format!("claim decision: {e}")))?;
            earlier.consumption = held.remove(&p.payer_claim_id).unwrap_or_default();
            let new = adjudicator.readjudicate(&p.facts, &earlier, &mut loaded.book);
            decided.push((earlier, new));
        }

        // Units used: compare-and-set on what was read, as a submission.
        loaded.write_units_used(&mut w.tx).await?;

        for (p, (earlier, new)) in pended.iter().zip(&decided) {
            let new_json = serde_json::to_string(new)
                .map_err(|e| StoreError::Corrupt(format!("decision JSON: {e}")))?;
            if new_json == p.earlier_json {
                continue; // decided the same: nothing changed
            }
            let because = because(earlier, released);
            write_change(
                &mut w.tx,
                p,
                new,
                &new_json,
                &because,
                rules.version(),
                &now,
            )
            .await?;
            super::outbox::enqueue(
                &mut w.tx,
                &super::outbox::Change {
                    payer_claim_id: &p.payer_claim_id,
                    billing_npi: &p.facts.billing_npi,
                    claim_id: &p.facts.claim_id,
                    old_status: &p.status,
                    new_status: new.status.as_str(),
                    changed_at: &now,
                    changed_because: &because,
                },
                due_ms,
            )
            .await?;
        }
        tracing::info!(
            claims = pended.len(),
            authorizations = released.len(),
            "pended claims decided again"
        );
        Ok(pended.len() as u64)
    }

    /// The active rule set, read in the caller's transaction.
    async fn active_rules_in(&self, conn: &mut AnyConnection) -> Result<RulesIndex> {
        let row = sqlx::query(
            "SELECT version, source FROM rule_sets WHERE active = 1 ORDER BY id DESC LIMIT 1",
        )
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::Corrupt("claims are stored but no rule set is".into()))?;
        let version: String = row.try_get("version")?;
        let source: String = row.try_get("source")?;
        let set = RuleSet::from_toml(&source)
            .map_err(|e| StoreError::Corrupt(format!("stored rule set {version}: {e}")))?;
        Ok(RulesIndex::new(set))
    }

    /// The decisions a claim had before the one in force, oldest first.
    pub(super) async fn claim_history(&self, payer_claim_id: &str) -> Result<Vec<HistoryEntry>> {
        let rows = sqlx::query(
            "SELECT status, rule_set, decided_at, replaced_at, replaced_because, body FROM claim_history WHERE payer_claim_id = $1 ORDER BY seq",
        )
        .bind(payer_claim_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let body: Vec<u8> = r.try_get("body")?;
                Ok(HistoryEntry {
                    status: r.try_get("status")?,
                    rule_set: r.try_get("rule_set")?,
                    decided_at: r.try_get("decided_at")?,
                    replaced_at: r.try_get("replaced_at")?,
                    replaced_because: r.try_get("replaced_because")?,
                    decision: serde_json::value::RawValue::from_string(record::decision(&body)?)
                        .map_err(|e| StoreError::Corrupt(format!("claim decision: {e}")))?,
                })
            })
            .collect()
    }
}

/// Why a claim was decided again: the released authorizations its lines
/// were pended on, and what changed in each.
fn because(earlier: &ClaimDecision, released: &[Released]) -> String {
    let mine: Vec<&str> = released
        .iter()
        .filter(|r| {
            earlier.lines.iter().any(|l| {
                l.decision == Decision::Pended && l.authorization.as_deref() == Some(&r.number)
            })
        })
        .map(|r| r.what.as_str())
        .collect();
    format!("decided again: {}", mine.join("; "))
}

/// Writes a claim's new decision: the one it replaces into its history,
/// the claim row, its ledger (the earlier rows given back, the new ones
/// added) and its searchable line rows.
async fn write_change(
    conn: &mut AnyConnection,
    p: &Pended,
    new: &ClaimDecision,
    new_json: &str,
    because: &str,
    rule_set: &str,
    now: &str,
) -> Result<()> {
    let id = p.payer_claim_id.as_str();
    sqlx::query(
        "INSERT INTO claim_history (payer_claim_id, seq, status, rule_set, decided_at, replaced_at, replaced_because, body) VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM claim_history WHERE payer_claim_id = $1), $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(p.status.as_str())
    .bind(p.rule_set.as_str())
    .bind(p.decided_at.as_str())
    .bind(now)
    .bind(because)
    .bind(record::encode(&p.earlier_json, None)?)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE claims SET status = $2, rule_set = $3, decision = '', body = $4, changed_at = $5, changed_because = $6 WHERE payer_claim_id = $1",
    )
    .bind(id)
    .bind(new.status.as_str())
    .bind(rule_set)
    .bind(record::encode(new_json, Some(&p.facts))?)
    .bind(now)
    .bind(because)
    .execute(&mut *conn)
    .await?;
    // The earlier units were given back to the authorizations: its ledger
    // rows are marked reversed by the claim itself.
    sqlx::query(
        "UPDATE consumption_ledger SET reversed_by = $1 WHERE payer_claim_id = $1 AND reversed_by IS NULL",
    )
    .bind(id)
    .execute(&mut *conn)
    .await?;
    for c in &new.consumption {
        sqlx::query(
            "INSERT INTO consumption_ledger (payer_claim_id, line, authorization_number, units, reversed_by) VALUES ($1, $2, $3, $4, NULL)",
        )
        .bind(id)
        .bind(i64::from(c.line))
        .bind(c.authorization.as_str())
        .bind(c.units.to_string())
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query("DELETE FROM line_decisions WHERE payer_claim_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    for (seq, l) in new.lines.iter().enumerate() {
        if !super::submit::searchable(l) {
            continue;
        }
        sqlx::query(
            "INSERT INTO line_decisions (payer_claim_id, seq, line, decision, rule_id, authorization_number, adjustments, remarks, amount_denied) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(id)
        .bind(seq as i64)
        .bind(i64::from(l.line))
        .bind(l.decision.as_str())
        .bind(l.rule.clone())
        .bind(l.authorization.clone())
        .bind(
            l.adjustments
                .iter()
                .map(|a| format!("{}-{}", a.group.as_str(), a.carc.as_str()))
                .collect::<Vec<_>>()
                .join(" "),
        )
        .bind(
            l.remarks
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        )
        .bind(crate::model::money(l.adjusted()).to_string())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

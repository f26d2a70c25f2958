//! A submission in one transaction: load what its claims need, adjudicate
//! in memory, write the decisions, the ledger and the units used.

use std::collections::{HashMap, HashSet};

use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

use super::authorizations::{auth_from_row, AUTH_COLUMNS};
use super::{insert_json, insert_rows, stamp, Backend, Result, Store, StoreError};
use crate::adjudication::{
    content_key, content_key_text, decide_submission, Adjudicator, ClaimHistory, MemoryHistory,
    PriorClaim, Submission,
};
use crate::authorizations::AuthBook;
use crate::model::{Claim, ClaimDecision, Consumption, Frequency, LineDecision};
use crate::rules::RulesIndex;

/// What a submission is besides its claims.
#[derive(Debug, Clone, Copy, Default)]
pub struct SubmitOptions<'a> {
    /// `Idempotency-Key` and the hash of the request it came with.
    pub idempotency: Option<(&'a str, &'a str)>,
    /// The batch step this is: (batch id, claims done before this step).
    pub batch: Option<(&'a str, i64)>,
    /// Who submitted, from where: written on every claim row stored (an
    /// audit record that costs no extra statement).
    pub audit: Option<&'a crate::store::AuditEntry>,
}

/// The outcome of a submission.
#[derive(Debug)]
pub enum Submitted {
    /// Adjudicated now: the decisions and the response stored with them.
    Fresh(Vec<ClaimDecision>, String),
    /// The idempotency key was seen with this body: the first response.
    Replay(String),
}

/// Everything a submission reads before adjudicating.
pub(super) struct Loaded {
    pub(super) book: AuthBook,
    /// Units used as read, per authorization number: the compare-and-set
    /// base of the write.
    pub(super) units_used: HashMap<String, Decimal>,
    history: MemoryHistory,
    /// Decisions of the stored claims that answer for the keys, as JSON:
    /// what a replacement or void takes back (for the 835's reversal).
    prior_decisions: HashMap<String, String>,
}

impl Loaded {
    /// Writes the units used that adjudicating changed, as a
    /// compare-and-set against what was read: on PostgreSQL the rows are
    /// locked, so this cannot miss; it is the guard that makes
    /// over-consumption impossible whatever the isolation. A submission
    /// and a re-adjudication write through it alike.
    pub(super) async fn write_units_used(&self, conn: &mut AnyConnection) -> Result<()> {
        let mut changed: Vec<(&str, Decimal, Decimal)> = self
            .book
            .iter()
            .filter_map(|a| {
                let before = self.units_used.get(&a.number).copied()?;
                (before != a.units_used).then_some((a.number.as_str(), before, a.units_used))
            })
            .collect();
        changed.sort_by(|a, b| a.0.cmp(b.0));
        for (number, before, after) in changed {
            let done = sqlx::query(
                "UPDATE authorizations SET units_used = $1 WHERE number = $2 AND units_used = $3",
            )
            .bind(after.to_string())
            .bind(number)
            .bind(before.to_string())
            .execute(&mut *conn)
            .await?;
            if done.rows_affected() != 1 {
                return Err(StoreError::Conflict);
            }
        }
        Ok(())
    }
}

/// A stored claim that answers for a key: the key, what it consumed (not
/// yet reversed) and its content key.
type Prior = ((String, String), Vec<Consumption>, Option<u64>);

fn key_of(c: &Claim) -> (String, String) {
    (c.billing_npi.clone(), c.claim_id.clone())
}

impl Store {
    /// Adjudicates `claims` in order and commits their effects in one
    /// transaction; `respond` renders the answer stored with an
    /// idempotency key. Conflicts with concurrent writers are retried.
    pub async fn submit(
        &self,
        rules: &RulesIndex,
        claims: &[Claim],
        opts: SubmitOptions<'_>,
        respond: &(dyn Fn(&[ClaimDecision]) -> String + Send + Sync),
    ) -> Result<Submitted> {
        let mut attempt = 0;
        loop {
            match self.submit_once(rules, claims, opts, respond).await {
                Err(e) if e.retriable() && attempt < 20 => {
                    attempt += 1;
                    tracing::debug!(attempt, error = %e, "submission retried");
                    tokio::time::sleep(std::time::Duration::from_millis(2 * attempt)).await;
                }
                other => return other,
            }
        }
    }

    /// Adjudicates without consuming or storing anything (`mode=check`):
    /// what a submission would answer now.
    pub async fn check(&self, rules: &RulesIndex, claims: &[Claim]) -> Result<Vec<ClaimDecision>> {
        let mut conn = self.pool.acquire().await?;
        let mut loaded = self.load(&mut conn, claims, false).await?;
        let exemptions = self.exemptions_of(&mut conn, claims).await?; // SPEC §3.5
        let network = self.network_of(&mut conn, rules, claims).await?; // SPEC §2.4
        let adjudicator = Adjudicator::new(rules)
            .with_exemptions(&exemptions)
            .with_network(&network);
        Ok(claims
            .iter()
            .map(|c| {
                adjudicator.adjudicate(
                    c,
                    &Uuid::new_v4().to_string(),
                    &mut loaded.book,
                    &mut loaded.history,
                )
            })
            .collect())
    }

    async fn submit_once(
        &self,
        rules: &RulesIndex,
        claims: &[Claim],
        opts: SubmitOptions<'_>,
        respond: &(dyn Fn(&[ClaimDecision]) -> String + Send + Sync),
    ) -> Result<Submitted> {
        let mut w = self.write().await?;
        if let Some((key, hash)) = opts.idempotency {
            let row =
                sqlx::query("SELECT request_hash, response FROM idempotency_keys WHERE key = $1")
                    .bind(key)
                    .fetch_optional(&mut *w.tx)
                    .await?;
            if let Some(row) = row {
                let stored_hash: String = row.try_get("request_hash")?;
                if stored_hash != hash {
                    return Err(StoreError::IdempotencyMismatch(key.to_string()));
                }
                return Ok(Submitted::Replay(row.try_get("response")?));
            }
        }
        let decisions = self.decide_and_write(&mut w, rules, claims, opts).await?;
        let t3 = std::time::Instant::now();
        let response = respond(&decisions);
        if let Some((key, hash)) = opts.idempotency {
            sqlx::query(
                "INSERT INTO idempotency_keys (key, request_hash, response, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(key)
            .bind(hash)
            .bind(&response)
            .bind(stamp())
            .execute(&mut *w.tx)
            .await?;
        }
        w.tx.commit().await?;
        tracing::debug!(
            claims = claims.len(),
            commit_us = t3.elapsed().as_micros() as u64,
            "submission committed"
        );
        Ok(Submitted::Fresh(decisions, response))
    }

    /// The body of a submission inside the caller's write transaction:
    /// load what the claims need, decide them, write what was decided (and
    /// the batch step). The caller commits.
    pub(super) async fn decide_and_write(
        &self,
        w: &mut super::Write<'_>,
        rules: &RulesIndex,
        claims: &[Claim],
        opts: SubmitOptions<'_>,
    ) -> Result<Vec<ClaimDecision>> {
        if self.backend == Backend::Postgres {
            lock_claim_keys(&mut w.tx, claims).await?;
        }
        let t0 = std::time::Instant::now();
        let mut loaded = self.load(&mut w.tx, claims, true).await?;
        let exemptions = self.exemptions_of(&mut w.tx, claims).await?; // SPEC §3.5
        let network = self.network_of(&mut w.tx, rules, claims).await?; // SPEC §2.4
        let t1 = std::time::Instant::now();
        let prior_decisions = std::mem::take(&mut loaded.prior_decisions);
        let submission = decide_submission(
            &Adjudicator::new(rules)
                .with_exemptions(&exemptions)
                .with_network(&network),
            claims,
            &mut loaded.book,
            &mut loaded.history,
            // Time-ordered (v7): new claims land at the end of the key
            // indexes instead of at random pages, which kept batches
            // I/O-bound.
            || Uuid::now_v7().to_string(),
            |id| {
                prior_decisions
                    .get(id)
                    .and_then(|json| serde_json::from_str(json).ok())
            },
        );
        let t2 = std::time::Instant::now();
        write_effects(
            &mut w.tx,
            self.backend,
            rules,
            claims,
            &loaded,
            &submission,
            opts,
        )
        .await?;
        let decisions: Vec<ClaimDecision> =
            submission.claims.into_iter().map(|p| p.decision).collect();
        tracing::debug!(
            claims = claims.len(),
            load_us = (t1 - t0).as_micros() as u64,
            adjudicate_us = (t2 - t1).as_micros() as u64,
            write_us = t2.elapsed().as_micros() as u64,
            "submission written"
        );
        Ok(decisions)
    }

    /// Reads the authorizations and earlier claims the submission needs.
    /// With `lock`, the authorizations that may be consumed are locked
    /// (PostgreSQL: `FOR UPDATE`, in number order, so two submissions
    /// lock in the same order and cannot deadlock on them).
    pub(super) async fn load(
        &self,
        conn: &mut AnyConnection,
        claims: &[Claim],
        lock: bool,
    ) -> Result<Loaded> {
        let mut history = MemoryHistory::default();

        // REF*F8 payer claim ids of replacements and voids → their keys.
        let f8: Vec<&str> = claims
            .iter()
            .filter(|c| matches!(c.frequency, Frequency::Replacement | Frequency::Void))
            .filter_map(|c| c.payer_claim_number.as_deref())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let mut keys: HashSet<(String, String)> = claims.iter().map(key_of).collect();
        let mut links = Vec::new();
        let head = "SELECT payer_claim_id, billing_npi, claim_id FROM claims WHERE payer_claim_id";
        for row in self.fetch_in(conn, head, &[], &f8, "").await? {
            let id: String = row.try_get("payer_claim_id")?;
            let key: (String, String) = (row.try_get("billing_npi")?, row.try_get("claim_id")?);
            keys.insert(key.clone());
            links.push((id, key));
        }

        // The claims that answer for those keys, and what they consumed.
        let keys: Vec<(String, String)> = keys.into_iter().collect();
        let mut priors: HashMap<String, Prior> = HashMap::new();
        let mut prior_decisions: HashMap<String, String> = HashMap::new();
        // By billing NPI, then CLM01s: both backends use the key index for
        // `npi = $1 AND claim_id IN (…)` (a row-value IN is not indexed on
        // SQLite, and a scan per chunk made batches quadratic).
        let mut by_npi: HashMap<&str, Vec<&str>> = HashMap::new();
        for (npi, id) in &keys {
            by_npi.entry(npi.as_str()).or_default().push(id.as_str());
        }
        // Earlier decisions are only wanted for what a replacement or void
        // takes back (the 835's reversal); duplicates need no JSON read.
        let corrections = claims
            .iter()
            .any(|c| matches!(c.frequency, Frequency::Replacement | Frequency::Void));
        let columns = format!(
            "payer_claim_id, billing_npi, claim_id, content_key, {}",
            if corrections {
                "decision, body"
            } else {
                "NULL AS decision"
            },
        );
        let mut found = Vec::new();
        match self.backend {
            // PostgreSQL joins the keys against the key index: one
            // statement instead of one per billing NPI.
            Backend::Postgres if !keys.is_empty() => {
                let (npis, ids): (Vec<&str>, Vec<&str>) =
                    keys.iter().map(|(n, c)| (n.as_str(), c.as_str())).unzip();
                found = sqlx::query(&format!(
                    "SELECT {columns} FROM claims WHERE live = 1 AND (billing_npi, claim_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))"
                ))
                .bind(super::pg_array(&npis))
                .bind(super::pg_array(&ids))
                .fetch_all(&mut *conn)
                .await?;
            }
            Backend::Postgres => {}
            Backend::Sqlite => {
                let head = format!(
                    "SELECT {columns} FROM claims WHERE live = 1 AND billing_npi = ? AND claim_id"
                );
                for (npi, ids) in by_npi {
                    found.extend(self.fetch_in(conn, &head, &[npi], &ids, "").await?);
                }
            }
        }
        {
            for row in found {
                let id: String = row.try_get("payer_claim_id")?;
                let npi: String = row.try_get("billing_npi")?;
                if corrections {
                    prior_decisions.insert(id.clone(), super::decision_of(&row)?);
                }
                let content = row
                    .try_get::<Option<String>, _>("content_key")?
                    .and_then(|k| u64::from_str_radix(&k, 16).ok());
                priors.insert(id, ((npi, row.try_get("claim_id")?), Vec::new(), content));
            }
        }
        let prior_ids: Vec<String> = priors.keys().cloned().collect();
        let prior_ids: Vec<&str> = prior_ids.iter().map(String::as_str).collect();
        let head = "SELECT payer_claim_id, line, authorization_number, units FROM consumption_ledger WHERE reversed_by IS NULL AND payer_claim_id";
        for row in self
            .fetch_in(conn, head, &[], &prior_ids, " ORDER BY id")
            .await?
        {
            let id: String = row.try_get("payer_claim_id")?;
            let units: String = row.try_get("units")?;
            let units = units
                .parse::<Decimal>()
                .map_err(|e| StoreError::Corrupt(format!("ledger units {units:?}: {e}")))?;
            if let Some((_, list, _)) = priors.get_mut(&id) {
                list.push(Consumption {
                    authorization: row.try_get("authorization_number")?,
                    line: u32::try_from(row.try_get::<i64, _>("line")?).unwrap_or(0),
                    units,
                });
            }
        }

        // Authorizations: those the claims cite and those their earlier
        // versions consumed (locked), and every one of their members (for
        // suggestions; read only).
        let mut numbers: Vec<String> = claims
            .iter()
            .flat_map(|c| {
                c.prior_auths
                    .iter()
                    .chain(c.lines.iter().flat_map(|l| l.prior_auths.iter()))
            })
            .cloned()
            .chain(
                priors
                    .values()
                    .flat_map(|(_, list, _)| list.iter().map(|c| c.authorization.clone())),
            )
            .collect();
        numbers.sort();
        numbers.dedup();
        let mut members: Vec<&str> = claims
            .iter()
            .map(|c| c.subscriber.member_id.as_str())
            .collect();
        members.sort_unstable();
        members.dedup();
        let mut book = AuthBook::default();
        for a in self
            .authorizations_where_in(conn, "member_id", &members)
            .await?
        {
            book.insert(a);
        }
        let lock_clause = if lock { self.for_update() } else { "" };
        if lock_clause.is_empty() {
            // Nothing to lock (SQLite's writer lock already covers the rows,
            // or this is a check): only the numbers the member read missed.
            numbers.retain(|n| book.get(n).is_none());
        }
        let numbers: Vec<&str> = numbers.iter().map(String::as_str).collect();
        let head = format!("SELECT {AUTH_COLUMNS} FROM authorizations WHERE number");
        let tail = format!(" ORDER BY number{lock_clause}");
        for row in self.fetch_in(conn, &head, &[], &numbers, &tail).await? {
            // Read after the lock: these rows win over the member read.
            book.insert(auth_from_row(&row)?);
        }
        let units_used = book
            .iter()
            .map(|a| (a.number.clone(), a.units_used))
            .collect();

        // SPEC §3.3: stored claims with the content of a claim submitted
        // now (one indexed read per claim, on claims_content).
        let contents: Vec<String> = claims
            .iter()
            .filter(|c| !matches!(c.frequency, Frequency::Replacement | Frequency::Void))
            .map(|c| content_key_text(content_key(c)))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let contents: Vec<&str> = contents.iter().map(String::as_str).collect();
        let head = "SELECT payer_claim_id, content_key FROM claims WHERE content_key";
        for row in self.fetch_in(conn, head, &[], &contents, "").await? {
            let id: String = row.try_get("payer_claim_id")?;
            let key: String = row.try_get("content_key")?;
            if let Ok(k) = u64::from_str_radix(&key, 16) {
                history.link_content(k, &id);
            }
        }
        for (payer_claim_id, ((npi, id), consumption, content_key)) in priors {
            history.record(
                &npi,
                &id,
                PriorClaim {
                    payer_claim_id,
                    consumption,
                    content_key,
                },
            );
        }
        for (f8, (npi, id)) in links {
            history.link(&f8, &npi, &id);
        }
        Ok(Loaded {
            book,
            units_used,
            history,
            prior_decisions,
        })
    }
}

/// The advisory lock every claim-key holder takes shared, and a
/// transaction with more keys than [`MANY_KEYS`] takes alone (outside
/// `hashtext`'s 32-bit range, so no key lock is the same lock).
const ALL_CLAIM_KEYS: i64 = 0x7072_696f_7261_7574; // "priorauth"

/// More claim keys than this in one transaction take [`ALL_CLAIM_KEYS`]
/// exclusively instead of a lock per key: each advisory lock is an entry
/// in PostgreSQL's shared lock table (`max_locks_per_transaction` × the
/// connections: 6400 entries by default), and 10,000 pended claims
/// released by one import (20,000 keys) filled it ("out of shared
/// memory"). A batch chunk of the default 5000 claims (up to 10,000
/// keys) stays under it alone, but not beside a second one: with the
/// defaults one transaction took 12,000 advisory locks and not 15,000
/// (measured 2026-12-07). Open: smaller chunks, a lower limit, or row
/// locks, each a trade against multi-instance batch speed.
const MANY_KEYS: usize = 10_000;

/// PostgreSQL: one transaction at a time per claim key (billing NPI +
/// CLM01), so two instances cannot both take the same original as new.
/// With more than [`MANY_KEYS`] keys, one transaction at a time among all
/// that lock claim keys.
pub(super) async fn lock_claim_keys(conn: &mut AnyConnection, claims: &[Claim]) -> Result<()> {
    // And per content (SPEC §3.3), so two instances cannot both take the
    // same services under different CLM01s as new.
    let mut keys: Vec<String> = claims
        .iter()
        .map(|c| format!("{}/{}", c.billing_npi, c.claim_id))
        .chain(
            claims
                .iter()
                .map(|c| format!("content/{}", content_key_text(content_key(c)))),
        )
        .collect();
    keys.sort();
    keys.dedup();
    if keys.len() > MANY_KEYS {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(ALL_CLAIM_KEYS)
            .execute(&mut *conn)
            .await?;
        return Ok(());
    }
    // One statement, the keys as one array parameter, locked in order
    // after the shared lock.
    sqlx::query(
        "SELECT COUNT(pg_advisory_xact_lock(hashtext(k))) FROM (SELECT k FROM unnest($1::text[]) AS v(k) WHERE pg_advisory_xact_lock_shared($2) IS NOT NULL ORDER BY k) AS s",
    )
    .bind(super::pg_array(&keys))
    .bind(ALL_CLAIM_KEYS)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Writes what the submission decided: superseded claims, reversed ledger
/// rows, units used (compare-and-set on what was read), the new claims,
/// their line decisions and ledger rows, and the batch step.
async fn write_effects(
    conn: &mut AnyConnection,
    backend: Backend,
    rules: &RulesIndex,
    claims: &[Claim],
    loaded: &Loaded,
    submission: &Submission,
    opts: SubmitOptions<'_>,
) -> Result<()> {
    let Submission {
        claims: pending,
        superseded,
    } = submission;
    for old in superseded {
        // A claim taken back by a replacement or void can no longer be
        // duplicated (SPEC §3.3); one superseded by its key still can.
        let sql = if old.reversed {
            "UPDATE claims SET live = 0, content_key = NULL WHERE payer_claim_id = $1"
        } else {
            "UPDATE claims SET live = 0 WHERE payer_claim_id = $1"
        };
        sqlx::query(sql)
            .bind(old.payer_claim_id.as_str())
            .execute(&mut *conn)
            .await?;
        if old.reversed {
            sqlx::query("UPDATE consumption_ledger SET reversed_by = $1 WHERE payer_claim_id = $2 AND reversed_by IS NULL")
                .bind(old.by.as_str())
                .bind(old.payer_claim_id.as_str())
                .execute(&mut *conn)
                .await?;
        }
    }

    loaded.write_units_used(&mut *conn).await?;

    let received = stamp();
    let who = opts.audit;
    let batch_id = opts.batch.map(|(id, _)| id);
    let first_seq = opts.batch.map_or(0, |(_, done)| done);
    let rule_set = rules.version();
    // Each claim's record: its decision JSON and its facts, compressed
    // (record.rs); `decision` stays '' on these rows.
    let rows = pending
        .iter()
        .map(|p| {
            let claim = claims.get(p.seq);
            let json = serde_json::to_string(&p.decision)
                .map_err(|e| StoreError::Corrupt(format!("decision JSON: {e}")))?;
            Ok(ClaimRow {
                payer_claim_id: &p.payer_claim_id,
                billing_npi: claim.map_or("", |c| c.billing_npi.as_str()),
                claim_id: &p.decision.claim_id,
                frequency: claim.map_or("", |c| c.frequency_code.as_str()),
                status: p.decision.status.as_str(),
                live: i64::from(p.live),
                rule_set,
                batch_id,
                batch_seq: batch_id.map(|_| first_seq + p.seq as i64 + 1),
                received_at: &received,
                replaces: p
                    .decision
                    .takes_back
                    .as_ref()
                    .map(|d| d.payer_claim_id.as_str()),
                submitted_by: who.map(|a| a.actor.as_str()),
                submitted_from: who.map(|a| a.remote_addr.as_str()),
                content_key: p.content_key.map(content_key_text),
                service_from: claim.and_then(|c| service_span(c).map(|s| s.0.to_string())),
                service_to: claim.and_then(|c| service_span(c).map(|s| s.1.to_string())),
                body: Body(super::record::encode(&json, claim)?),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    const CLAIM_COLUMNS: &str = "payer_claim_id, billing_npi, claim_id, frequency, status, live, rule_set, batch_id, batch_seq, received_at, decision, replaces, submitted_by, submitted_from, content_key, service_from, service_to, body";
    match backend {
        Backend::Postgres => {
            insert_json(
                conn,
                &format!("claims ({CLAIM_COLUMNS})"),
                "payer_claim_id, billing_npi, claim_id, frequency, status, live, rule_set, batch_id, batch_seq, received_at, '', replaces, submitted_by, submitted_from, content_key, service_from, service_to, decode(body, 'base64')",
                "payer_claim_id text, billing_npi text, claim_id text, frequency text, status text, live bigint, rule_set text, batch_id text, batch_seq bigint, received_at text, replaces text, submitted_by text, submitted_from text, content_key text, service_from text, service_to text, body text",
                &rows,
            )
            .await?
        }
        Backend::Sqlite => {
            insert_rows(
                conn,
                backend,
                &format!("INSERT INTO claims ({CLAIM_COLUMNS})"),
                18,
                &rows,
                |q, r| {
                    q.bind(r.payer_claim_id.to_string())
                        .bind(r.billing_npi.to_string())
                        .bind(r.claim_id.to_string())
                        .bind(r.frequency.to_string())
                        .bind(r.status)
                        .bind(r.live)
                        .bind(r.rule_set.to_string())
                        .bind(r.batch_id.map(str::to_string))
                        .bind(r.batch_seq)
                        .bind(r.received_at.to_string())
                        .bind("")
                        .bind(r.replaces.map(str::to_string))
                        .bind(r.submitted_by.map(str::to_string))
                        .bind(r.submitted_from.map(str::to_string))
                        .bind(r.content_key.clone())
                        .bind(r.service_from.clone())
                        .bind(r.service_to.clone())
                        .bind(r.body.0.clone())
                },
            )
            .await?
        }
    }

    let lines: Vec<LineRow> = pending
        .iter()
        .flat_map(|p| {
            p.decision
                .lines
                .iter()
                .enumerate()
                .filter(|(_, l)| searchable(l))
                .map(move |(i, l)| LineRow {
                    payer_claim_id: &p.payer_claim_id,
                    seq: i as i64,
                    line: i64::from(l.line),
                    decision: l.decision.as_str(),
                    rule_id: l.rule.as_deref(),
                    authorization_number: l.authorization.as_deref(),
                    adjustments: l
                        .adjustments
                        .iter()
                        .map(|a| format!("{}-{}", a.group.as_str(), a.carc.as_str()))
                        .collect::<Vec<_>>()
                        .join(" "),
                    remarks: l
                        .remarks
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join(" "),
                    amount_denied: crate::model::money(l.adjusted()).to_string(),
                })
        })
        .collect();
    const LINE_COLUMNS: &str = "payer_claim_id, seq, line, decision, rule_id, authorization_number, adjustments, remarks, amount_denied";
    match backend {
        Backend::Postgres => {
            insert_json(
                conn,
                &format!("line_decisions ({LINE_COLUMNS})"),
                LINE_COLUMNS,
                "payer_claim_id text, seq bigint, line bigint, decision text, rule_id text, authorization_number text, adjustments text, remarks text, amount_denied text",
                &lines,
            )
            .await?
        }
        Backend::Sqlite => {
            insert_rows(
                conn,
                backend,
                &format!("INSERT INTO line_decisions ({LINE_COLUMNS})"),
                9,
                &lines,
                |q, l| {
                    q.bind(l.payer_claim_id.to_string())
                        .bind(l.seq)
                        .bind(l.line)
                        .bind(l.decision)
                        .bind(l.rule_id.map(str::to_string))
                        .bind(l.authorization_number.map(str::to_string))
                        .bind(l.adjustments.clone())
                        .bind(l.remarks.clone())
                        .bind(l.amount_denied.clone())
                },
            )
            .await?
        }
    }

    let ledger: Vec<LedgerRow> = pending
        .iter()
        .flat_map(|p| {
            p.decision.consumption.iter().map(move |c| LedgerRow {
                payer_claim_id: &p.payer_claim_id,
                line: i64::from(c.line),
                authorization_number: &c.authorization,
                units: c.units.to_string(),
                reversed_by: p.reversed_by.as_deref(),
            })
        })
        .collect();
    const LEDGER_COLUMNS: &str = "payer_claim_id, line, authorization_number, units, reversed_by";
    match backend {
        Backend::Postgres => {
            // Ledger ids follow file order: a function scan hands the
            // records on in array order.
            insert_json(
                conn,
                &format!("consumption_ledger ({LEDGER_COLUMNS})"),
                LEDGER_COLUMNS,
                "payer_claim_id text, line bigint, authorization_number text, units text, reversed_by text",
                &ledger,
            )
            .await?
        }
        Backend::Sqlite => {
            insert_rows(
                conn,
                backend,
                &format!("INSERT INTO consumption_ledger ({LEDGER_COLUMNS})"),
                5,
                &ledger,
                |q, l| {
                    q.bind(l.payer_claim_id.to_string())
                        .bind(l.line)
                        .bind(l.authorization_number.to_string())
                        .bind(l.units.clone())
                        .bind(l.reversed_by.map(str::to_string))
                },
            )
            .await?
        }
    }

    if let Some((id, done)) = opts.batch {
        let moved = sqlx::query(
            "UPDATE batches SET claims_done = $1, state = 'running' WHERE id = $2 AND claims_done = $3",
        )
        .bind(done + pending.len() as i64)
        .bind(id)
        .bind(done)
        .execute(&mut *conn)
        .await?;
        if moved.rows_affected() != 1 {
            return Err(StoreError::BatchMoved(id.to_string()));
        }
    }
    Ok(())
}

/// First and last service day of a claim's lines (the search columns).
fn service_span(c: &Claim) -> Option<(chrono::NaiveDate, chrono::NaiveDate)> {
    let mut days = c.lines.iter().filter_map(|l| c.line_dates(l));
    let first = days.next()?;
    Some(days.fold((first.start, first.end), |(a, b), d| {
        (a.min(d.start), b.max(d.end))
    }))
}

/// True for a line that a rule, an adjustment, a remark, an authorization
/// number or an exemption touched: the lines `line_decisions` keeps (what
/// searches by CARC, rule and authorization find; migration 0022). The
/// others, most lines of most claims, are in the claim's record only.
pub(super) fn searchable(l: &LineDecision) -> bool {
    l.rule.is_some()
        || l.authorization.is_some()
        || l.exemption.is_some()
        || !l.adjustments.is_empty()
        || !l.remarks.is_empty()
}

/// A claims row as written (PostgreSQL gets the rows as JSON).
#[derive(Serialize)]
struct ClaimRow<'a> {
    payer_claim_id: &'a str,
    billing_npi: &'a str,
    claim_id: &'a str,
    frequency: &'a str,
    status: &'static str,
    live: i64,
    rule_set: &'a str,
    batch_id: Option<&'a str>,
    batch_seq: Option<i64>,
    received_at: &'a str,
    replaces: Option<&'a str>,
    submitted_by: Option<&'a str>,
    submitted_from: Option<&'a str>,
    content_key: Option<String>,
    service_from: Option<String>,
    service_to: Option<String>,
    body: Body,
}

/// A claim record: bytes bound as a BLOB, base64 in JSON.
struct Body(Vec<u8>);

impl Serialize for Body {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use base64::Engine as _;
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

/// A line_decisions row as written.
#[derive(Serialize)]
struct LineRow<'a> {
    payer_claim_id: &'a str,
    seq: i64,
    line: i64,
    decision: &'static str,
    rule_id: Option<&'a str>,
    authorization_number: Option<&'a str>,
    adjustments: String,
    remarks: String,
    amount_denied: String,
}

/// A consumption_ledger row as written.
#[derive(Serialize)]
struct LedgerRow<'a> {
    payer_claim_id: &'a str,
    line: i64,
    authorization_number: &'a str,
    units: String,
    reversed_by: Option<&'a str>,
}

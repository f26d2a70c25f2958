//! Staff searches over stored claims (`GET /v1/claims`, the console's
//! claims page) and the ledger of what claims took from an authorization.
//!
//! Results come newest first, a page at a time: the cursor is the last
//! row's (received_at, payer_claim_id), so a page costs an index range
//! read however deep it is (no OFFSET).

use base64::Engine as _;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{claim_from_row, Result, Store, StoredClaim};

/// Filters of [`Store::search_claims`]; each one given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaimSearch {
    /// CLM01, the patient control number.
    pub claim_id: Option<String>,
    /// Billing provider NPI.
    pub billing_npi: Option<String>,
    /// The payer's claim id.
    pub payer_claim_id: Option<String>,
    /// Claim status (approved, denied, partial, pended, voided, duplicate…).
    pub status: Option<String>,
    /// A CARC on some line: `197`, or with its group, `CO-197`.
    pub carc: Option<String>,
    /// A rule some line was decided under (`5.1.2-MRI`).
    pub rule: Option<String>,
    /// Service period overlapping these days (inclusive).
    pub service_from: Option<NaiveDate>,
    /// See `service_from`.
    pub service_to: Option<NaiveDate>,
    /// Received on or after this day (UTC).
    pub received_from: Option<NaiveDate>,
    /// Received on or before this day (UTC).
    pub received_to: Option<NaiveDate>,
    /// Only claims billed under these NPIs (a billing system's own).
    pub npis: Option<Vec<String>>,
    /// Only claims whose decision changed at or after this instant (UTC;
    /// decided again when an authorization was, issue 18).
    pub changed_since: Option<chrono::NaiveDateTime>,
}

/// A page of claims and the cursor of the next one.
#[derive(Debug, Clone, Serialize)]
pub struct ClaimPage {
    /// Newest first.
    pub claims: Vec<StoredClaim>,
    /// Give as `after` for the next page; absent on the last page.
    pub next: Option<String>,
}

/// One entry of an authorization's consumption ledger.
#[derive(Debug, Clone, Serialize)]
pub struct LedgerEntry {
    /// The claim that consumed.
    pub payer_claim_id: String,
    /// Its CLM01 (absent if the claim row is gone).
    pub claim_id: Option<String>,
    /// Its billing NPI.
    pub billing_npi: Option<String>,
    /// Its status.
    pub status: Option<String>,
    /// When it was received.
    pub received_at: Option<String>,
    /// The claim line (LX).
    pub line: i64,
    /// Units taken (normalised decimal text).
    pub units: String,
    /// The replacement or void that gave the units back, if any.
    pub reversed_by: Option<String>,
}

/// A cursor that does not decode.
#[derive(Debug, thiserror::Error)]
#[error("the cursor is not one this service gave out")]
pub struct BadCursor;

/// The cursor of a row: opaque to callers.
fn cursor(received_at: &str, payer_claim_id: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("{received_at}|{payer_claim_id}"))
}

/// (received_at, payer_claim_id) of a cursor.
pub fn decode_cursor(c: &str) -> std::result::Result<(String, String), BadCursor> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .map_err(|_| BadCursor)?;
    let text = String::from_utf8(raw).map_err(|_| BadCursor)?;
    let (a, b) = text.split_once('|').ok_or(BadCursor)?;
    Ok((a.to_string(), b.to_string()))
}

/// The search as a query string or form gives it (`GET /v1/claims`, the
/// console): every field text, checked by [`SearchParams::filter`].
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// CLM01.
    #[serde(default)]
    pub claim_id: Option<String>,
    /// Billing NPI (ten digits).
    #[serde(default)]
    pub billing_npi: Option<String>,
    /// Payer claim id.
    #[serde(default)]
    pub payer_claim_id: Option<String>,
    /// Claim status.
    #[serde(default)]
    pub status: Option<String>,
    /// CARC (`197` or `CO-197`).
    #[serde(default)]
    pub carc: Option<String>,
    /// Rule id.
    #[serde(default)]
    pub rule: Option<String>,
    /// YYYY-MM-DD.
    #[serde(default)]
    pub service_from: Option<String>,
    /// YYYY-MM-DD.
    #[serde(default)]
    pub service_to: Option<String>,
    /// YYYY-MM-DD.
    #[serde(default)]
    pub received_from: Option<String>,
    /// YYYY-MM-DD.
    #[serde(default)]
    pub received_to: Option<String>,
    /// RFC 3339 instant: claims whose decision changed since.
    #[serde(default)]
    pub changed_since: Option<String>,
    /// Page size (1 to 500, default 50).
    #[serde(default)]
    pub limit: Option<String>,
    /// Cursor: an earlier page's `next`.
    #[serde(default)]
    pub after: Option<String>,
}

/// A search parameter that cannot be used, named with what it takes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct SearchError(pub String);

/// Claims a service-date index range may hold before a search reads it
/// newest first instead (`Store::service_index`).
const SERVICE_PROBE: i64 = 5000;

/// Claim statuses a search takes.
pub const STATUSES: &[&str] = &["approved", "denied", "partial", "pended", "voided"];

fn date(name: &str, v: Option<&str>) -> std::result::Result<Option<NaiveDate>, SearchError> {
    v.map(|t| {
        NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .map_err(|_| SearchError(format!("{name}={t}: give a date as YYYY-MM-DD")))
    })
    .transpose()
}

impl SearchParams {
    /// Empty fields (a form's blank inputs) count as not given.
    fn get(v: &Option<String>) -> Option<&str> {
        v.as_deref().map(str::trim).filter(|t| !t.is_empty())
    }

    /// The filter, page size and decoded cursor, or what is wrong.
    #[allow(clippy::type_complexity)]
    pub fn filter(
        &self,
    ) -> std::result::Result<(ClaimSearch, u32, Option<(String, String)>), SearchError> {
        let g = Self::get;
        if let Some(n) = g(&self.billing_npi) {
            if !crate::access::valid_npi(n) {
                return Err(SearchError(format!(
                    "billing_npi={n}: an NPI is ten digits"
                )));
            }
        }
        if let Some(s) = g(&self.status) {
            if !STATUSES.contains(&s) {
                return Err(SearchError(format!(
                    "status={s}: not one of {}",
                    STATUSES.join(", ")
                )));
            }
        }
        let carc = g(&self.carc).map(str::to_ascii_uppercase);
        if let Some(c) = &carc {
            let (group, code) = c
                .split_once('-')
                .map_or((None, c.as_str()), |(a, b)| (Some(a), b));
            let code_ok = !code.is_empty()
                && code.len() <= 3
                && code.bytes().all(|b| b.is_ascii_alphanumeric());
            let group_ok = group.map_or(true, |g| {
                g.len() == 2 && g.bytes().all(|b| b.is_ascii_uppercase())
            });
            if !code_ok || !group_ok {
                return Err(SearchError(format!(
                    "carc={c}: give a CARC (197) or group and CARC (CO-197)"
                )));
            }
        }
        let limit = match g(&self.limit) {
            None => 50,
            Some(t) => match t.parse::<u32>() {
                Ok(n @ 1..=500) => n,
                _ => return Err(SearchError(format!("limit={t}: 1 to 500"))),
            },
        };
        let after = g(&self.after)
            .map(decode_cursor)
            .transpose()
            .map_err(|e| SearchError(format!("after: {e}")))?;
        let filter = ClaimSearch {
            claim_id: g(&self.claim_id).map(str::to_string),
            billing_npi: g(&self.billing_npi).map(str::to_string),
            payer_claim_id: g(&self.payer_claim_id).map(str::to_string),
            status: g(&self.status).map(str::to_string),
            carc,
            rule: g(&self.rule).map(str::to_string),
            service_from: date("service_from", g(&self.service_from))?,
            service_to: date("service_to", g(&self.service_to))?,
            received_from: date("received_from", g(&self.received_from))?,
            received_to: date("received_to", g(&self.received_to))?,
            npis: None,
            changed_since: g(&self.changed_since)
                .map(|t| {
                    chrono::DateTime::parse_from_rfc3339(t)
                        .map(|d| d.naive_utc())
                        .map_err(|_| {
                            SearchError(format!(
                                "changed_since={t}: give an RFC 3339 instant (2026-01-31T12:00:00Z)"
                            ))
                        })
                })
                .transpose()?,
        };
        Ok((filter, limit, after))
    }
}

impl ClaimSearch {
    /// Whether the claims are best read through line_carcs: a CARC and
    /// no claim id, payer claim id or NPI (whose indexes find fewer).
    fn by_carc(&self) -> bool {
        self.carc.is_some()
            && self.claim_id.is_none()
            && self.payer_claim_id.is_none()
            && self.billing_npi.is_none()
    }

    /// The WHERE conditions and their values, in `$N` order.
    fn conditions(&self, after: Option<&(String, String)>) -> (Vec<String>, Vec<String>) {
        let mut conds: Vec<String> = Vec::new();
        let mut binds: Vec<String> = Vec::new();
        let mut push = |conds: &mut Vec<String>, sql: &str, v: String| {
            binds.push(v);
            conds.push(sql.replace('#', &format!("${}", binds.len())));
        };
        for (column, value) in [
            ("claim_id", &self.claim_id),
            ("billing_npi", &self.billing_npi),
            ("payer_claim_id", &self.payer_claim_id),
            ("status", &self.status),
        ] {
            if let Some(v) = value {
                push(&mut conds, &format!("c.{column} = #"), v.clone());
            }
        }
        // By CARC alone (no claim id or NPI to start from) the claims are
        // read from line_carcs (migration 0026) newest first, its key
        // ordering them (`k`); else the claim's own key finds its row.
        let t = if self.by_carc() { "k" } else { "c" };
        if let Some(carc) = &self.carc {
            if self.by_carc() {
                push(&mut conds, "k.carc = #", carc.clone());
            } else {
                push(
                    &mut conds,
                    "EXISTS (SELECT 1 FROM line_carcs k WHERE k.carc = # AND k.received_at = c.received_at AND k.payer_claim_id = c.payer_claim_id)",
                    carc.clone(),
                );
            }
        }
        if let Some(rule) = &self.rule {
            push(
                &mut conds,
                "EXISTS (SELECT 1 FROM line_decisions l WHERE l.payer_claim_id = c.payer_claim_id AND l.rule_id = #)",
                rule.clone(),
            );
        }
        if let Some(d) = self.service_from {
            push(&mut conds, "c.service_to >= #", d.to_string());
        }
        if let Some(d) = self.service_to {
            push(&mut conds, "c.service_from <= #", d.to_string());
        }
        if let Some(d) = self.received_from {
            push(&mut conds, &format!("{t}.received_at >= #"), d.to_string());
        }
        if let Some(d) = self.received_to {
            // received_at is `YYYY-MM-DDTHH:…Z`: before the next day.
            let next = d.succ_opt().unwrap_or(d);
            push(
                &mut conds,
                &format!("{t}.received_at < #"),
                next.to_string(),
            );
        }
        if let Some(t) = self.changed_since {
            // changed_at is stamped `YYYY-MM-DDTHH:MM:SS.mmmZ`: text order
            // is time order.
            push(
                &mut conds,
                "c.changed_at >= #",
                t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            );
        }
        if let Some(npis) = &self.npis {
            if npis.is_empty() {
                conds.push("1 = 0".into());
            } else {
                let mut list = Vec::new();
                for n in npis {
                    binds.push(n.clone());
                    list.push(format!("${}", binds.len()));
                }
                conds.push(format!("c.billing_npi IN ({})", list.join(",")));
            }
        }
        if let Some((at, id)) = after {
            binds.push(at.clone());
            let a = binds.len();
            binds.push(id.clone());
            let b = binds.len();
            // A row value: both stores read it as one index range.
            conds.push(format!(
                "({t}.received_at, {t}.payer_claim_id) < (${a}, ${b})"
            ));
        }
        (conds, binds)
    }
}

impl Store {
    /// SQLite, by service dates and nothing more selective: the index to
    /// read when one side of the date range holds few claims. Newest
    /// first by received_at finds a page at once when many claims match,
    /// but walks every claim when few do (SQLite keeps no histograms to
    /// tell); so each side is counted up to [`SERVICE_PROBE`] through its
    /// index, and a side under it is read and sorted instead.
    /// PostgreSQL's planner judges this from its statistics.
    async fn service_index(&self, f: &ClaimSearch) -> Result<Option<&'static str>> {
        if self.backend() != super::Backend::Sqlite
            || f.claim_id.is_some()
            || f.payer_claim_id.is_some()
            || f.billing_npi.is_some()
            || f.carc.is_some()
        {
            return Ok(None);
        }
        let mut best: Option<(i64, &'static str)> = None;
        for (day, index, cond) in [
            (f.service_from, "claims_service_to", "service_to >= $1"),
            (f.service_to, "claims_service", "service_from <= $1"),
        ] {
            let Some(day) = day else { continue };
            let n: i64 = sqlx::query_scalar(&format!(
                "SELECT COUNT(*) FROM (SELECT 1 FROM claims INDEXED BY {index} WHERE {cond} LIMIT {SERVICE_PROBE})"
            ))
            .bind(day.to_string())
            .fetch_one(&self.pool)
            .await?;
            if n < SERVICE_PROBE && best.map_or(true, |(m, _)| n < m) {
                best = Some((n, index));
            }
        }
        Ok(best.map(|(_, index)| index))
    }
}

impl Store {
    /// Claims matching every filter, newest first, `limit` a page, after
    /// the cursor `after` (an earlier page's `next`, see [`decode_cursor`]).
    pub async fn search_claims(
        &self,
        filter: &ClaimSearch,
        after: Option<&(String, String)>,
        limit: u32,
    ) -> Result<ClaimPage> {
        let (conds, binds) = filter.conditions(after);
        let service_index = self.service_index(filter).await?;
        let (from, t) = if filter.by_carc() {
            (
                "line_carcs k JOIN claims c ON c.payer_claim_id = k.payer_claim_id".to_string(),
                "k",
            )
        } else if let Some(index) = service_index {
            (format!("claims c INDEXED BY {index}"), "c")
        } else {
            ("claims c".to_string(), "c")
        };
        let sql = format!(
            "SELECT c.* FROM {from}{}{} ORDER BY {t}.received_at DESC, {t}.payer_claim_id DESC LIMIT {}",
            if conds.is_empty() { "" } else { " WHERE " },
            conds.join(" AND "),
            u64::from(limit) + 1
        );
        // Not a cached statement: PostgreSQL then plans with the values.
        // A cached one goes to a generic plan after five runs, which
        // walks every claim newest first for a status or NPI no claim
        // has (0.9 s at 1M claims) instead of reading its index.
        let mut q = sqlx::query(&sql).persistent(false);
        for b in &binds {
            q = q.bind(b.as_str());
        }
        let rows = q.fetch_all(&self.pool).await?;
        let mut claims = rows
            .iter()
            .map(claim_from_row)
            .collect::<Result<Vec<_>>>()?;
        let next = if claims.len() > limit as usize {
            claims.truncate(limit as usize);
            claims
                .last()
                .map(|c| cursor(&c.received_at, &c.payer_claim_id))
        } else {
            None
        };
        Ok(ClaimPage { claims, next })
    }

    /// The batch a claim came in and its place there (1 = the batch's
    /// first claim of an accepted set); `None` for a claim sent alone.
    pub async fn claim_place(&self, payer_claim_id: &str) -> Result<Option<(String, i64)>> {
        let row = sqlx::query(
            "SELECT batch_id, batch_seq FROM claims WHERE payer_claim_id = $1 AND batch_id IS NOT NULL AND batch_seq IS NOT NULL",
        )
        .bind(payer_claim_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((r.try_get("batch_id")?, r.try_get("batch_seq")?)))
            .transpose()
    }

    /// What claims took from an authorization, in the order they took it.
    pub async fn ledger(&self, authorization_number: &str) -> Result<Vec<LedgerEntry>> {
        let rows = sqlx::query(
            "SELECT l.payer_claim_id, l.line, l.units, l.reversed_by, c.claim_id, c.billing_npi, c.status, c.received_at FROM consumption_ledger l LEFT JOIN claims c ON c.payer_claim_id = l.payer_claim_id WHERE l.authorization_number = $1 ORDER BY l.id",
        )
        .bind(authorization_number)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(LedgerEntry {
                    payer_claim_id: r.try_get("payer_claim_id")?,
                    claim_id: r.try_get("claim_id")?,
                    billing_npi: r.try_get("billing_npi")?,
                    status: r.try_get("status")?,
                    received_at: r.try_get("received_at")?,
                    line: r.try_get("line")?,
                    units: r.try_get("units")?,
                    reversed_by: r.try_get("reversed_by")?,
                })
            })
            .collect()
    }
}

//! A rule-change replay (issue 19): the live stored claims received in a
//! window, read a page at a time in the order they were received, with
//! the units each holds (the ledger), the authorizations, exemptions and
//! network rows they need as they are now, and handed to the core's
//! [`Replay`]. One read-only transaction (a snapshot on PostgreSQL),
//! rolled back: nothing is consumed or stored.

use std::collections::HashSet;

use chrono::NaiveDate;
use sqlx::{AnyConnection, Row};

use super::{record, Backend, Result, Store, StoreError};
use crate::adjudication::impact::{ImpactReport, Replay, StoredClaim};
use crate::adjudication::Adjudicator;
use crate::model::Claim;
use crate::rules::RulesIndex;

/// Claims read and decided per page: bounded memory whatever the window.
const PAGE: u32 = 2000;

/// A page of records being decoded: its payer claim ids and facts (None:
/// a record without them), in order.
type Decoding = std::thread::JoinHandle<Result<Vec<(String, Option<Claim>)>>>;

/// The facts of a page's records, decompressed and parsed on as many
/// threads as the machine has (at most 4): each record reads alone.
fn decode(read: Vec<(String, Option<Vec<u8>>)>) -> Result<Vec<(String, Option<Claim>)>> {
    let one = |part: &[(String, Option<Vec<u8>>)]| -> Result<Vec<Option<Claim>>> {
        part.iter()
            .map(|(_, body)| Ok(body.as_deref().map(record::facts).transpose()?.flatten()))
            .collect()
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let facts = if threads < 2 || read.len() < 64 {
        one(&read)?
    } else {
        let size = read.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let parts: Vec<_> = read
                .chunks(size)
                .map(|part| scope.spawn(move || one(part)))
                .collect();
            let mut out = Vec::with_capacity(read.len());
            for p in parts {
                out.extend(p.join().map_err(|_| panicked())??);
            }
            Ok::<_, StoreError>(out)
        })?
    };
    Ok(read.into_iter().map(|(id, _)| id).zip(facts).collect())
}

fn panicked() -> StoreError {
    StoreError::Corrupt("a claim record reader panicked".into())
}

/// A page of stored claims with facts: payer claim ids and claims.
#[derive(Clone, Copy)]
struct Page<'a> {
    ids: &'a [String],
    claims: &'a [Claim],
}

/// The claims a replay decides again: those received from `since` to
/// `until` (UTC dates, both included; None: no bound).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayWindow {
    /// First receipt date.
    pub since: Option<NaiveDate>,
    /// Last receipt date.
    pub until: Option<NaiveDate>,
}

impl Store {
    /// Decides the live stored claims of `window` again under `in_force`
    /// and under `candidate`, in the order they were received, with the
    /// authorizations as they are now, and reports what changes.
    pub async fn replay(
        &self,
        in_force: &RulesIndex,
        candidate: &RulesIndex,
        window: ReplayWindow,
    ) -> Result<ImpactReport> {
        self.replay_paged(in_force, candidate, window, PAGE).await
    }

    /// [`Store::replay`], reading `page` claims at a time (the same
    /// report whatever the page).
    pub async fn replay_paged(
        &self,
        in_force: &RulesIndex,
        candidate: &RulesIndex,
        window: ReplayWindow,
        page: u32,
    ) -> Result<ImpactReport> {
        let per_page = i64::from(page.max(1));
        let mut tx = match self.backend {
            Backend::Postgres => {
                self.pool
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .await?
            }
            Backend::Sqlite => self.pool.begin().await?,
        };
        let conn: &mut AnyConnection = &mut tx;
        // Received at is stored as `YYYY-MM-DDTHH:MM:SS.sssZ`: dates
        // compare as text.
        let from = window.since.map(|d| d.to_string()).unwrap_or_default();
        let to = window
            .until
            .and_then(|d| d.succ_opt())
            .map_or_else(|| "9999".to_string(), |d| d.to_string());
        let mut after = (String::new(), String::new());
        let mut replay = Replay::new();
        let mut members: HashSet<String> = HashSet::new();
        // A page's records are decompressed and parsed on threads of their
        // own while the next page is read and this one decided.
        let mut decoding: Option<Decoding> = None;
        loop {
            let rows = sqlx::query(
                "SELECT payer_claim_id, received_at, body FROM claims WHERE live = 1 AND received_at >= $1 AND received_at < $2 AND (received_at, payer_claim_id) > ($3, $4) ORDER BY received_at, payer_claim_id LIMIT $5",
            )
            .bind(from.as_str())
            .bind(to.as_str())
            .bind(after.0.as_str())
            .bind(after.1.as_str())
            .bind(per_page)
            .fetch_all(&mut *conn)
            .await?;
            let full = rows.len() as i64 == per_page;
            let next = match rows.last() {
                None => None,
                Some(last) => {
                    after = (
                        last.try_get("received_at")?,
                        last.try_get("payer_claim_id")?,
                    );
                    let mut read: Vec<(String, Option<Vec<u8>>)> = Vec::with_capacity(rows.len());
                    for row in &rows {
                        read.push((row.try_get("payer_claim_id")?, row.try_get("body")?));
                    }
                    Some(std::thread::spawn(move || decode(read)))
                }
            };
            drop(rows);
            if let Some(page) = decoding.take() {
                self.decoded_page(conn, &mut replay, &mut members, (in_force, candidate), page)
                    .await?;
            }
            decoding = next;
            if !full {
                break;
            }
        }
        if let Some(page) = decoding.take() {
            self.decoded_page(conn, &mut replay, &mut members, (in_force, candidate), page)
                .await?;
        }
        tx.rollback().await?;
        Ok(replay.report(in_force.version(), candidate.version()))
    }

    /// A page whose records were being decoded: those without facts
    /// counted, the rest decided again.
    async fn decoded_page(
        &self,
        conn: &mut AnyConnection,
        replay: &mut Replay,
        members: &mut HashSet<String>,
        sets: (&RulesIndex, &RulesIndex),
        decoding: Decoding,
    ) -> Result<()> {
        let decoded = decoding.join().map_err(|_| panicked())??;
        let mut ids: Vec<String> = Vec::with_capacity(decoded.len());
        let mut claims: Vec<Claim> = Vec::with_capacity(decoded.len());
        for (id, facts) in decoded {
            match facts {
                Some(facts) => {
                    ids.push(id);
                    claims.push(facts);
                }
                None => replay.without_facts(),
            }
        }
        let page = Page {
            ids: &ids,
            claims: &claims,
        };
        self.replay_page(conn, replay, members, sets, page).await
    }

    /// One page of claims: what they need loaded, then each decided again.
    async fn replay_page(
        &self,
        conn: &mut AnyConnection,
        replay: &mut Replay,
        members: &mut HashSet<String>,
        (in_force, candidate): (&RulesIndex, &RulesIndex),
        Page { ids, claims }: Page<'_>,
    ) -> Result<()> {
        // The units each claim holds now (its ledger rows not reversed).
        let id_list: Vec<&str> = ids.iter().map(String::as_str).collect();
        let held = self.held_units(conn, &id_list).await?;

        // Authorizations as they are now, once each: every one of the
        // members not seen before, and the numbers cited or held that
        // those missed. One already in the books keeps the replay's use.
        let new_members: Vec<&str> = {
            let mut m: Vec<&str> = claims
                .iter()
                .map(|c| c.subscriber.member_id.as_str())
                .filter(|m| !members.contains(*m))
                .collect();
            m.sort_unstable();
            m.dedup();
            m
        };
        for a in self
            .authorizations_where_in(conn, "member_id", &new_members)
            .await?
        {
            replay.add_authorization(a);
        }
        members.extend(new_members.iter().map(|m| m.to_string()));
        let mut numbers: Vec<&str> = claims
            .iter()
            .flat_map(|c| {
                c.prior_auths
                    .iter()
                    .chain(c.lines.iter().flat_map(|l| l.prior_auths.iter()))
            })
            .chain(held.values().flatten().map(|c| &c.authorization))
            .map(String::as_str)
            .filter(|n| !replay.knows(n))
            .collect();
        numbers.sort_unstable();
        numbers.dedup();
        for a in self
            .authorizations_where_in(conn, "number", &numbers)
            .await?
        {
            replay.add_authorization(a);
        }

        let exemptions = self.exemptions_of(conn, claims).await?;
        let network_now = self.network_of(conn, in_force, claims).await?;
        let network_then = self.network_of(conn, candidate, claims).await?;
        let now = Adjudicator::new(in_force)
            .with_exemptions(&exemptions)
            .with_network(&network_now);
        let then = Adjudicator::new(candidate)
            .with_exemptions(&exemptions)
            .with_network(&network_then);
        let stored: Vec<StoredClaim<'_>> = ids
            .iter()
            .zip(claims)
            .map(|(id, claim)| StoredClaim {
                payer_claim_id: id,
                claim,
                consumed: held.get(id).map(Vec::as_slice).unwrap_or_default(),
            })
            .collect();
        replay.claims(&now, &then, &stored);
        Ok(())
    }
}

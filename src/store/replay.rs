//! A rule-change replay (issue 19): the live stored claims received in a
//! window, read a page at a time in the order they were received, with
//! the units each holds (the ledger), the authorizations, exemptions and
//! network rows they need as they are now, and handed to the core's
//! [`Replay`]. One read-only transaction (a snapshot on PostgreSQL),
//! rolled back: nothing is consumed or stored.

use std::collections::HashSet;
use std::ops::Range;
use std::sync::Arc;

use chrono::NaiveDate;
use sqlx::{AnyConnection, Row};
use tokio::sync::mpsc;

use super::readjudicate::consumption;
use super::{record, Backend, Result, Store, StoreError};
use crate::adjudication::impact::{ImpactReport, Replay, StoredClaim};
use crate::adjudication::Adjudicator;
use crate::authorizations::Authorization;
use crate::exemptions::ExemptionBook;
use crate::model::{Claim, Consumption, NetworkDirectory};
use crate::rules::RulesIndex;

/// Claims read and decided per page: bounded memory whatever the window.
const PAGE: u32 = 2000;

/// A page of records being decoded, in order.
type Decoding = tokio::task::JoinHandle<Result<Vec<Decoded>>>;

/// A stored claim of a page, decoded.
struct Decoded {
    payer_claim_id: String,
    /// None: its record keeps no facts.
    facts: Option<Claim>,
    /// The units it holds now.
    held: Vec<Consumption>,
}

/// The facts of a page's records, decompressed and parsed on rayon's
/// threads (each record reads alone). A pool, not threads of each page's
/// own: a fresh thread's allocator touches fresh memory, and the page
/// faults cost a 100k-claim replay 0.3 s.
fn decode(page: ReadPage) -> Result<Vec<Decoded>> {
    use rayon::prelude::*;
    let ReadPage { claims, bodies } = page;
    let facts: Vec<Option<Claim>> = claims
        .par_iter()
        .with_min_len(64)
        .map(|c| {
            let body = c
                .body
                .clone()
                .map(|r| {
                    bodies.get(r).ok_or_else(|| {
                        StoreError::Corrupt("a replay page: records cut short".into())
                    })
                })
                .transpose()?;
            Ok(body.map(record::facts).transpose()?.flatten())
        })
        .collect::<Result<_>>()?;
    claims
        .into_iter()
        .zip(facts)
        .map(|(c, facts)| {
            let held = c
                .held
                .into_iter()
                .map(|(line, authorization, units)| consumption(line, authorization, &units))
                .collect::<Result<_>>()?;
            Ok(Decoded {
                payer_claim_id: c.payer_claim_id,
                facts,
                held,
            })
        })
        .collect()
}

/// A page of stored claims as read: the claims, and their records end to
/// end in one buffer (one allocation a page, not one a record).
struct ReadPage {
    claims: Vec<ReadClaim>,
    bodies: Vec<u8>,
}

/// A stored claim as a replay page reads it.
struct ReadClaim {
    payer_claim_id: String,
    received_at: String,
    /// Where its record (`claims.body`) is in the page's buffer.
    body: Option<Range<usize>>,
    /// Its ledger rows not reversed, in the order they were written.
    held: Vec<HeldRow>,
}

/// A ledger row as a page reads it: line, authorization number, units.
type HeldRow = (i64, String, String);

/// The live claims received in `[from, to)` after `after` (received at,
/// payer claim id), in that order, `limit` of them, with their records
/// and the units each holds (its ledger rows not reversed, as a JSON
/// array of `[line, authorization number, units]`): one index probe a
/// claim here cost less than a query of the page's ids (0.4 s of a
/// 100k-claim replay on SQLite).
fn page_sql(backend: Backend) -> String {
    let held = match backend {
        Backend::Sqlite => "(SELECT json_group_array(json_array(line, authorization_number, units)) FROM (SELECT line, authorization_number, units FROM consumption_ledger l WHERE l.payer_claim_id = c.payer_claim_id AND reversed_by IS NULL ORDER BY id))",
        Backend::Postgres => "(SELECT json_agg(json_build_array(line, authorization_number, units) ORDER BY id)::text FROM consumption_ledger l WHERE l.payer_claim_id = c.payer_claim_id AND reversed_by IS NULL)",
    };
    format!("SELECT payer_claim_id, received_at, body, {held} AS held FROM claims c WHERE live = 1 AND received_at >= $1 AND received_at < $2 AND (received_at, payer_claim_id) > ($3, $4) ORDER BY received_at, payer_claim_id LIMIT $5")
}

/// The units a claim holds, as [`page_sql`] reads them.
fn held_rows(json: Option<&str>) -> Result<Vec<HeldRow>> {
    match json {
        None => Ok(Vec::new()),
        Some(json) => serde_json::from_str(json)
            .map_err(|e| StoreError::Corrupt(format!("ledger rows of a replay page: {e}"))),
    }
}

fn panicked() -> StoreError {
    StoreError::Corrupt("a claim record reader panicked".into())
}

/// The deciding thread ended before the reader: it panicked (the core on
/// some stored claim).
fn decider_stopped() -> StoreError {
    StoreError::Corrupt("the replay's deciding thread stopped".into())
}

/// The two rule sets a replay decides with, and the exemptions in force:
/// shared by the task that reads pages and the thread that decides them.
#[derive(Clone)]
struct Sets {
    in_force: Arc<RulesIndex>,
    candidate: Arc<RulesIndex>,
    exemptions: Arc<ExemptionBook>,
}

impl Sets {
    /// The adjudicators of the set in force and of the candidate, each
    /// with its own network directory, writing no reasons (a replay
    /// reports none).
    fn adjudicators<'a>(
        &'a self,
        network_now: &'a NetworkDirectory,
        network_then: &'a NetworkDirectory,
    ) -> (Adjudicator<'a>, Adjudicator<'a>) {
        let now = Adjudicator::new(&self.in_force)
            .with_exemptions(&self.exemptions)
            .with_network(network_now)
            .without_reasons();
        let then = Adjudicator::new(&self.candidate)
            .with_exemptions(&self.exemptions)
            .with_network(network_then)
            .without_reasons();
        (now, then)
    }
}

/// A page ready to decide: its claims with facts, what each holds, which
/// a rule covers, and what the books need that they lack.
struct ReadyPage {
    ids: Vec<String>,
    claims: Vec<Claim>,
    held: Vec<Vec<Consumption>>,
    covered: Vec<bool>,
    network_now: NetworkDirectory,
    network_then: NetworkDirectory,
    /// Authorizations to put in the books before the page is decided.
    authorizations: Vec<Authorization>,
    /// Claims of the page whose records keep no facts.
    without_facts: u64,
}

/// Pages ready to decide, at most this many waiting: the reader stays a
/// page or two ahead of the decider, and memory stays bounded.
const READY_AHEAD: usize = 2;

/// The deciding side of a replay, on a thread of its own: takes each
/// ready page in order, puts its authorizations in the books and decides
/// its claims under both sets, until the reader has no more.
fn decide_pages(sets: Sets, mut pages: mpsc::Receiver<ReadyPage>) -> Replay {
    let mut replay = Replay::new();
    while let Some(page) = pages.blocking_recv() {
        replay.without_facts(page.without_facts);
        for a in page.authorizations {
            replay.add_authorization(a);
        }
        let (now, then) = sets.adjudicators(&page.network_now, &page.network_then);
        let stored: Vec<StoredClaim<'_>> = page
            .ids
            .iter()
            .zip(&page.claims)
            .zip(&page.held)
            .map(|((id, claim), held)| StoredClaim {
                payer_claim_id: id,
                claim,
                consumed: held,
            })
            .collect();
        replay.claims(&now, &then, &stored, &page.covered);
    }
    replay
}

/// What the reader has asked the store for so far: members whose
/// authorizations and authorization numbers already loaded (or found
/// missing), so that each is read once a replay.
#[derive(Default)]
struct Loaded {
    members: HashSet<String>,
    numbers: HashSet<String>,
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
        in_force: Arc<RulesIndex>,
        candidate: Arc<RulesIndex>,
        window: ReplayWindow,
    ) -> Result<ImpactReport> {
        self.replay_paged(in_force, candidate, window, PAGE).await
    }

    /// [`Store::replay`], reading `page` claims at a time (the same
    /// report whatever the page).
    ///
    /// Two sides work at once: this task reads a page (SQL), has rayon's
    /// threads decode it, and reads what deciding it needs (network rows,
    /// authorizations); a thread of its own decides the pages before it,
    /// in order (both rule sets at once, on rayon's threads). Each side
    /// waits only when it is ahead: the decider when no page is ready,
    /// the reader when two ready pages wait to be decided.
    pub async fn replay_paged(
        &self,
        in_force: Arc<RulesIndex>,
        candidate: Arc<RulesIndex>,
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
        let sets = Sets {
            exemptions: Arc::new(self.exemptions_in_force(conn).await?),
            in_force,
            candidate,
        };
        let (ready, pages) = mpsc::channel(READY_AHEAD);
        let decider = {
            let sets = sets.clone();
            tokio::task::spawn_blocking(move || decide_pages(sets, pages))
        };
        let read = self.read_pages(conn, &sets, window, per_page, ready).await;
        // The reader has dropped its end of the channel, so the decider
        // ends once it has decided what it was sent. A database error of
        // the reader is the one reported.
        let decided = decider.await;
        read?;
        let replay = decided.map_err(|_| decider_stopped())?;
        tx.rollback().await?;
        Ok(replay.report(sets.in_force.version(), sets.candidate.version()))
    }

    /// The reading side of a replay: every page of the window, read,
    /// decoded and made ready, sent in order to `ready`.
    async fn read_pages(
        &self,
        conn: &mut AnyConnection,
        sets: &Sets,
        window: ReplayWindow,
        per_page: i64,
        ready: mpsc::Sender<ReadyPage>,
    ) -> Result<()> {
        // Received at is stored as `YYYY-MM-DDTHH:MM:SS.sssZ`: dates
        // compare as text.
        let from = window.since.map(|d| d.to_string()).unwrap_or_default();
        let to = window
            .until
            .and_then(|d| d.succ_opt())
            .map_or_else(|| "9999".to_string(), |d| d.to_string());
        let mut after = (String::new(), String::new());
        let mut loaded = Loaded::default();
        // A page's records are decompressed and parsed on rayon's pool
        // while the next page is read.
        let mut decoding: Option<Decoding> = None;
        loop {
            // The page's lower bound is the last one's receipt time: SQLite
            // seeks the index to that bound, not to the row comparison
            // after it, and a bound of the window's start made every page
            // scan the pages before it again (0.8 s of a 100k-claim
            // replay). PostgreSQL seeks on the row comparison itself.
            let lower = from.as_str().max(after.0.as_str());
            let read = self
                .claims_page(conn, (lower, &to), (&after.0, &after.1), per_page)
                .await?;
            let full = read.claims.len() as i64 == per_page;
            let next = match read.claims.last() {
                None => None,
                Some(last) => {
                    after = (last.received_at.clone(), last.payer_claim_id.clone());
                    Some(tokio::task::spawn_blocking(move || decode(read)))
                }
            };
            if let Some(page) = decoding.take() {
                self.hand_over(conn, sets, &mut loaded, page, &ready)
                    .await?;
            }
            decoding = next;
            if !full {
                break;
            }
        }
        if let Some(page) = decoding.take() {
            self.hand_over(conn, sets, &mut loaded, page, &ready)
                .await?;
        }
        Ok(())
    }

    /// A decoded page made ready ([`Store::ready_page`]) and sent to the
    /// decider.
    async fn hand_over(
        &self,
        conn: &mut AnyConnection,
        sets: &Sets,
        loaded: &mut Loaded,
        decoding: Decoding,
        ready: &mpsc::Sender<ReadyPage>,
    ) -> Result<()> {
        let page = self.ready_page(conn, sets, loaded, decoding).await?;
        ready.send(page).await.map_err(|_| decider_stopped())
    }

    /// A page of claims to replay. On SQLite the page comes back as one
    /// row (see json_rows.rs for why): the ids, receipt times and record
    /// lengths as a JSON array, and the records end to end as one blob
    /// (`group_concat` keeps a blob's bytes; the cast keeps them a blob).
    async fn claims_page(
        &self,
        conn: &mut AnyConnection,
        (from, to): (&str, &str),
        (after_received, after_id): (&str, &str),
        limit: i64,
    ) -> Result<ReadPage> {
        let page = page_sql(self.backend);
        let sql = match self.backend {
            Backend::Postgres => page,
            Backend::Sqlite => format!(
                "SELECT json_group_array(json_array(payer_claim_id, received_at, length(body), json(held))) AS head, CAST(group_concat(body, '') AS BLOB) AS bodies FROM ({page})"
            ),
        };
        let query = sqlx::query(&sql)
            .bind(from)
            .bind(to)
            .bind(after_received)
            .bind(after_id)
            .bind(limit);
        if self.backend == Backend::Postgres {
            let rows = query.fetch_all(&mut *conn).await?;
            let mut bodies = Vec::new();
            let claims = rows
                .iter()
                .map(|row| {
                    let body: Option<&[u8]> = row.try_get("body")?;
                    Ok(ReadClaim {
                        payer_claim_id: row.try_get("payer_claim_id")?,
                        received_at: row.try_get("received_at")?,
                        body: body.map(|b| {
                            let at = bodies.len();
                            bodies.extend_from_slice(b);
                            at..bodies.len()
                        }),
                        held: held_rows(row.try_get("held")?)?,
                    })
                })
                .collect::<Result<_>>()?;
            return Ok(ReadPage { claims, bodies });
        }
        let row = query.fetch_one(&mut *conn).await?;
        let head: Vec<(String, String, Option<usize>, Vec<HeldRow>)> =
            serde_json::from_str(row.try_get("head")?)
                .map_err(|e| StoreError::Corrupt(format!("a replay page: {e}")))?;
        let bodies: Option<Vec<u8>> = row.try_get("bodies")?;
        let bodies = bodies.unwrap_or_default();
        let mut at = 0usize;
        let mut claims = head
            .into_iter()
            .map(|(payer_claim_id, received_at, len, held)| {
                let body = len.map(|len| {
                    let range = at..at.saturating_add(len);
                    at = range.end;
                    range
                });
                ReadClaim {
                    payer_claim_id,
                    received_at,
                    body,
                    held,
                }
            })
            .collect::<Vec<_>>();
        // A record cut short is found where it is decoded.
        // Both aggregates take the rows in one pass, so the ids and the
        // records pair up; the pass's order is SQLite's to choose (an
        // aggregate's own ORDER BY costs a sort of the records), so the
        // page is put in receipt order here.
        claims.sort_unstable_by(|a, b| {
            (&a.received_at, &a.payer_claim_id).cmp(&(&b.received_at, &b.payer_claim_id))
        });
        Ok(ReadPage { claims, bodies })
    }

    /// A page whose records were being decoded, made ready to decide:
    /// which claims a rule of either set covers, the network rows both
    /// sets ask about, and the authorizations the books lack, as they
    /// are now: every one of the members of claims to decide, not read
    /// before, and the numbers those claims cite or any claim holds that
    /// the members' missed. One already in the books keeps the replay's
    /// use. A claim that is not decided needs only the authorizations it
    /// holds units of (to give them back); its member's others wait until
    /// a claim of that member is decided.
    async fn ready_page(
        &self,
        conn: &mut AnyConnection,
        sets: &Sets,
        loaded: &mut Loaded,
        decoding: Decoding,
    ) -> Result<ReadyPage> {
        let decoded = decoding.await.map_err(|_| panicked())??;
        let mut ids: Vec<String> = Vec::with_capacity(decoded.len());
        let mut claims: Vec<Claim> = Vec::with_capacity(decoded.len());
        let mut held: Vec<Vec<Consumption>> = Vec::with_capacity(decoded.len());
        let mut without_facts = 0u64;
        for d in decoded {
            match d.facts {
                Some(facts) => {
                    ids.push(d.payer_claim_id);
                    claims.push(facts);
                    held.push(d.held);
                }
                None => without_facts += 1,
            }
        }
        let network_now = self.network_of(conn, &sets.in_force, &claims).await?;
        let network_then = self.network_of(conn, &sets.candidate, &claims).await?;
        let covered = {
            let (now, then) = sets.adjudicators(&network_now, &network_then);
            Replay::covered(&now, &then, &claims)
        };
        let to_decide = || {
            claims
                .iter()
                .zip(&covered)
                .filter(|(_, &c)| c)
                .map(|(c, _)| c)
        };
        let new_members: Vec<&str> = {
            let mut m: Vec<&str> = to_decide()
                .map(|c| c.subscriber.member_id.as_str())
                .filter(|m| !loaded.members.contains(*m))
                .collect();
            m.sort_unstable();
            m.dedup();
            m
        };
        let mut authorizations = self
            .authorizations_where_in(conn, "member_id", &new_members)
            .await?;
        loaded
            .members
            .extend(new_members.iter().map(|m| m.to_string()));
        loaded
            .numbers
            .extend(authorizations.iter().map(|a| a.number.clone()));
        let mut numbers: Vec<&str> = to_decide()
            .flat_map(|c| {
                c.prior_auths
                    .iter()
                    .chain(c.lines.iter().flat_map(|l| l.prior_auths.iter()))
            })
            .chain(held.iter().flatten().map(|c| &c.authorization))
            .map(String::as_str)
            .filter(|n| !loaded.numbers.contains(*n))
            .collect();
        numbers.sort_unstable();
        numbers.dedup();
        authorizations.extend(
            self.authorizations_where_in(conn, "number", &numbers)
                .await?,
        );
        // A number not on file is not asked for again either.
        loaded.numbers.extend(numbers.iter().map(|n| n.to_string()));
        Ok(ReadyPage {
            ids,
            claims,
            held,
            covered,
            network_now,
            network_then,
            authorizations,
            without_facts,
        })
    }
}

//! The adjudication core (SPEC §3): a pure function of a claim, the rule
//! index and the authorization book. No I/O, no clock, no HTTP, no SQL.
//!
//! Order of checks per line that needs PA, first failure decides:
//! 1 no number, 2 not on file, 3 member, 4 provider, 5 denied, 6 pending,
//! 7 cancelled, 8a after end, 8b before start, 9 codes, 10 no units,
//! 11 too few units (partial), 12 approved.

// Before the modules, which use it.
/// Declares a closed list of codes or words from one table: the enum,
/// `as_str`, and serde as that string (stored decisions are read back
/// through it). Used by the CARC/RARC codes and the decision words.
macro_rules! code_list {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $code:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// The code or word as written in answers.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $code,)*
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                match &*s {
                    $($code => Ok($name::$variant),)*
                    other => Err(serde::de::Error::custom(format!("unknown code {other}"))),
                }
            }
        }
    };
}

pub mod codes;
mod output;

use std::cell::Cell;

use hashbrown::HashTable;
use rustc_hash::FxHashMap as HashMap;

use rust_decimal::{Decimal, RoundingStrategy};

use crate::authorizations::{AuthBook, AuthId, AuthStatus, MemberAuths, MemberKey, Terms};
use crate::model::Ymd;
use crate::model::{Claim, DateRange, Frequency, ServiceLine};
use crate::rules::{
    index::{LineFacts, Matched},
    RulesIndex,
};
use codes::{Carc, Group, Rarc};
pub use output::{
    money, Adjustment, ClaimDecision, ClaimStatus, Consumption, Decision, LineDecision,
};

/// Why an authorization number did not pass (rows of the SPEC §3 table).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Failure {
    /// Row 1.
    NoNumber,
    /// Row 2.
    NotOnFile,
    /// Row 3.
    Member,
    /// Row 4.
    Provider,
    /// Row 5.
    StatusDenied,
    /// Row 6.
    Pending,
    /// Row 7.
    Cancelled,
    /// Row 8a.
    AfterEnd,
    /// Row 8b.
    BeforeStart,
    /// Row 9.
    Codes,
    /// Row 10.
    NoUnits,
    /// Row 11: this many units remain.
    TooFewUnits(Decimal),
}

impl Failure {
    /// Group, CARC and RARC of a full denial.
    fn codes(&self) -> (Carc, Option<Rarc>) {
        match self {
            Failure::NoNumber | Failure::NotOnFile | Failure::Cancelled => {
                (Carc::C197, Some(Rarc::M62))
            }
            Failure::Member => (Carc::C197, Some(Rarc::N54)),
            Failure::Provider => (Carc::C296, Some(Rarc::N54)),
            Failure::StatusDenied => (Carc::C39, Some(Rarc::N758)),
            Failure::AfterEnd => (Carc::C302, Some(Rarc::N351)),
            Failure::BeforeStart => (Carc::C197, Some(Rarc::N351)),
            Failure::Codes => (Carc::C284, Some(Rarc::N54)),
            Failure::NoUnits | Failure::TooFewUnits(_) | Failure::Pending => (Carc::C198, None),
        }
    }

    /// Rows after which priorauth looks for an authorization that would pass.
    fn suggests(&self) -> bool {
        matches!(
            self,
            Failure::NoNumber
                | Failure::NotOnFile
                | Failure::Member
                | Failure::Provider
                | Failure::Cancelled
                | Failure::AfterEnd
                | Failure::BeforeStart
                | Failure::Codes
        )
    }
}

/// The earlier claim a replacement or void takes back, with its key: by
/// its REF*F8 payer claim id, else by its own billing NPI and CLM01. A
/// provider corrects only its own claims: an F8 naming another billing
/// NPI's claim is not followed.
pub fn earlier_claim(
    claim: &Claim,
    history: &impl ClaimHistory,
) -> Option<((String, String), PriorClaim)> {
    let key = claim
        .payer_claim_number
        .as_deref()
        .and_then(|f8| history.by_payer_id(f8))
        .filter(|(npi, _)| *npi == claim.billing_npi)
        .unwrap_or_else(|| (claim.billing_npi.clone(), claim.claim_id.clone()));
    let prior = history.by_key(&key.0, &key.1)?;
    Some((key, prior))
}

/// What an earlier claim consumed, kept to reverse it on replacement or void.
#[derive(Debug, Clone)]
pub struct PriorClaim {
    /// Its payer claim id.
    pub payer_claim_id: String,
    /// What it consumed.
    pub consumption: Vec<Consumption>,
}

/// Claims adjudicated before: where duplicates are found and replacements
/// and voids find what to reverse. In memory for a CLI run; the service
/// backs it with the store.
pub trait ClaimHistory {
    /// The earlier claim with this billing NPI and CLM01.
    fn by_key(&self, billing_npi: &str, claim_id: &str) -> Option<PriorClaim>;
    /// The earlier claim with this payer claim id (REF*F8).
    fn by_payer_id(&self, payer_claim_id: &str) -> Option<(String, String)>;
    /// Records an adjudicated claim under its key.
    fn record(&mut self, billing_npi: &str, claim_id: &str, prior: PriorClaim);
    /// Forgets a voided claim.
    fn forget(&mut self, billing_npi: &str, claim_id: &str);
}

/// History of one run, in memory. Each billing NPI and CLM01 pair has one
/// slot, found through a table of positions that compares the key stored
/// in the slot (no key copied into a table, no nested maps); the slot
/// holds the claim recorded last under that key. A payer claim id leads to
/// a slot: it keeps leading there after the key is recorded again (a
/// replacement may cite any earlier payer claim id of the key), and is
/// dropped when the claim recorded with it is forgotten.
#[derive(Debug, Default)]
pub struct MemoryHistory {
    keys: Vec<KeySlot>,
    by_key: HashTable<u32>,
    by_payer_id: HashMap<String, u32>,
}

#[derive(Debug)]
struct KeySlot {
    billing_npi: String,
    claim_id: String,
    prior: Option<PriorClaim>,
}

fn key_hash(billing_npi: &str, claim_id: &str) -> u64 {
    use std::hash::{BuildHasher, Hash, Hasher};
    let mut h = rustc_hash::FxBuildHasher.build_hasher();
    billing_npi.hash(&mut h);
    claim_id.hash(&mut h);
    h.finish()
}

impl MemoryHistory {
    /// Makes an older payer claim id (REF*F8) lead to the claim that now
    /// answers for its key: the store knows ids the run never saw.
    pub fn link(&mut self, payer_claim_id: &str, billing_npi: &str, claim_id: &str) {
        let slot = self.slot_or_add(billing_npi, claim_id);
        self.by_payer_id.insert(payer_claim_id.to_string(), slot);
    }

    fn slot(&self, billing_npi: &str, claim_id: &str) -> Option<u32> {
        self.by_key
            .find(key_hash(billing_npi, claim_id), |&at| {
                self.keys
                    .get(at as usize)
                    .is_some_and(|k| k.billing_npi == billing_npi && k.claim_id == claim_id)
            })
            .copied()
    }

    fn slot_or_add(&mut self, billing_npi: &str, claim_id: &str) -> u32 {
        if let Some(at) = self.slot(billing_npi, claim_id) {
            return at;
        }
        let at = u32::try_from(self.keys.len()).unwrap_or(u32::MAX);
        self.keys.push(KeySlot {
            billing_npi: billing_npi.to_string(),
            claim_id: claim_id.to_string(),
            prior: None,
        });
        let keys = &self.keys;
        self.by_key
            .insert_unique(key_hash(billing_npi, claim_id), at, |&p| {
                keys.get(p as usize)
                    .map_or(0, |k| key_hash(&k.billing_npi, &k.claim_id))
            });
        at
    }
}

impl ClaimHistory for MemoryHistory {
    fn by_key(&self, billing_npi: &str, claim_id: &str) -> Option<PriorClaim> {
        let at = self.slot(billing_npi, claim_id)?;
        self.keys.get(at as usize)?.prior.clone()
    }
    fn by_payer_id(&self, payer_claim_id: &str) -> Option<(String, String)> {
        let k = self
            .keys
            .get(*self.by_payer_id.get(payer_claim_id)? as usize)?;
        Some((k.billing_npi.clone(), k.claim_id.clone()))
    }
    fn record(&mut self, billing_npi: &str, claim_id: &str, prior: PriorClaim) {
        let at = self.slot_or_add(billing_npi, claim_id);
        self.by_payer_id.insert(prior.payer_claim_id.clone(), at);
        if let Some(k) = self.keys.get_mut(at as usize) {
            k.prior = Some(prior);
        }
    }
    fn forget(&mut self, billing_npi: &str, claim_id: &str) {
        let Some(at) = self.slot(billing_npi, claim_id) else {
            return;
        };
        if let Some(p) = self.keys.get_mut(at as usize).and_then(|k| k.prior.take()) {
            self.by_payer_id.remove(&p.payer_claim_id);
        }
    }
}

/// `format!` into a string sized for a typical reason at once: reasons are
/// written for every line, and growing them piecemeal showed up in profiles.
macro_rules! reason {
    ($($arg:tt)*) => {{
        let mut s = String::with_capacity(320);
        let _ = std::fmt::Write::write_fmt(&mut s, format_args!($($arg)*));
        s
    }};
}

fn round_cents(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

fn plural(units: Decimal) -> &'static str {
    if units == Decimal::ONE {
        "unit"
    } else {
        "units"
    }
}

/// Units as a person writes them ("2", "1.5"), straight into the reason.
fn u(d: Decimal) -> Decimal {
    d.normalize()
}

/// "Line 2 (70551, 2026-03-04)", written straight into the reason (no
/// intermediate string: reasons are built for every line).
struct Label<'a>(&'a ServiceLine, Option<&'a DateRange>);

impl std::fmt::Display for Label<'_> {
    // Piece by piece with write_str: `write!` here showed in profiles.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Label(line, dates) = self;
        f.write_str("Line ")?;
        std::fmt::Display::fmt(&line.number, f)?;
        f.write_str(" (")?;
        match (&line.procedure, &line.revenue_code) {
            (Some(p), _) => f.write_str(&p.code)?,
            (None, Some(r)) => {
                f.write_str("revenue code ")?;
                f.write_str(r)?;
            }
            (None, None) => f.write_str("no code")?,
        }
        let Some(d) = dates else {
            return f.write_str(", no service date)");
        };
        f.write_str(", ")?;
        std::fmt::Display::fmt(&Ymd(d.start), f)?;
        if d.start != d.end {
            f.write_str("..")?;
            std::fmt::Display::fmt(&Ymd(d.end), f)?;
        }
        f.write_str(")")
    }
}

fn line_label<'a>(line: &'a ServiceLine, dates: Option<&'a DateRange>) -> Label<'a> {
    Label(line, dates)
}

/// The claim's member: its key, and where its authorizations are, found
/// on the first suggestion and kept for the claim's other lines.
struct Member<'c> {
    key: MemberKey<'c>,
    auths: Cell<Option<MemberAuths>>,
}

impl Member<'_> {
    fn auths(&self, book: &AuthBook) -> MemberAuths {
        match self.auths.get() {
            Some(a) => a,
            None => {
                let a = book.member_auths(&self.key);
                self.auths.set(Some(a));
                a
            }
        }
    }
}

/// Adjudicates claims against a rule index, an authorization book and a
/// claim history. Holds no state of its own: everything that changes lives
/// in the book and the history passed in.
#[derive(Debug, Clone, Copy)]
pub struct Adjudicator<'r> {
    rules: &'r RulesIndex,
}

struct Checked<'a> {
    number: Option<&'a str>,
    found: Option<(AuthId, &'a Terms)>,
    result: Result<(), Failure>,
}

impl<'r> Adjudicator<'r> {
    /// An adjudicator over a rule index.
    pub fn new(rules: &'r RulesIndex) -> Self {
        Adjudicator { rules }
    }

    /// The rule index.
    pub fn rules(&self) -> &'r RulesIndex {
        self.rules
    }

    /// Adjudicates one claim: duplicates, replacements and voids first (via
    /// `history`), then every line by SPEC §3, consuming units from `book`
    /// in line order.
    pub fn adjudicate(
        &self,
        claim: &Claim,
        payer_claim_id: &str,
        book: &mut AuthBook,
        history: &mut impl ClaimHistory,
    ) -> ClaimDecision {
        let npi = claim.billing_npi.as_str();
        let id = claim.claim_id.as_str();
        let mut reversed = Vec::new();
        let mut replaces: Option<String> = None;
        match claim.frequency {
            Frequency::Original => {
                if let Some(prior) = history.by_key(npi, id) {
                    return self.duplicate(claim, payer_claim_id, &prior);
                }
            }
            Frequency::Replacement | Frequency::Void => {
                let earlier = earlier_claim(claim, history);
                let prior = earlier.as_ref().map(|(_, p)| p.clone());
                if let Some((key, p)) = &earlier {
                    for c in &p.consumption {
                        book.consume(&c.authorization, -c.units);
                    }
                    reversed.clone_from(&p.consumption);
                    history.forget(&key.0, &key.1);
                }
                if claim.frequency == Frequency::Void {
                    return self.void(claim, payer_claim_id, prior.as_ref(), reversed);
                }
                replaces = Some(match &prior {
                    Some(p) if !reversed.is_empty() => format!(
                        " This replacement (frequency 7) replaces payer claim {}; the units it had consumed were returned to {} before adjudicating afresh.",
                        p.payer_claim_id,
                        reversed.iter().map(|c| c.authorization.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                    Some(p) => format!(
                        " This replacement (frequency 7) replaces payer claim {}, which had consumed no units.",
                        p.payer_claim_id
                    ),
                    None => format!(
                        " This replacement (frequency 7) found no earlier claim {} from billing NPI {}{}, so nothing was reversed; it was adjudicated as new.",
                        claim.claim_id,
                        claim.billing_npi,
                        claim.payer_claim_number.as_deref().map(|f8| format!(" or payer claim {f8}")).unwrap_or_default()
                    ),
                });
            }
            Frequency::Other => {}
        }
        // Originals, replacements and other frequencies: adjudicate afresh
        // and remember what was consumed, for a later replacement or void.
        let mut d = self.adjudicate_lines(claim, payer_claim_id, book);
        d.reversed = reversed;
        if let Some(note) = &replaces {
            for l in &mut d.lines {
                l.reason.push_str(note);
            }
        }
        history.record(
            npi,
            id,
            PriorClaim {
                payer_claim_id: payer_claim_id.to_string(),
                consumption: d.consumption.clone(),
            },
        );
        d
    }

    fn base_line(&self, claim: &Claim, line: &ServiceLine) -> LineDecision {
        let dates = claim.line_dates(line);
        LineDecision {
            line: line.number,
            procedure: line.procedure.as_ref().map(|p| p.code.clone()),
            revenue_code: line.revenue_code.clone(),
            modifiers: line
                .procedure
                .as_ref()
                .map(|p| p.modifiers.clone())
                .unwrap_or_default(),
            service_date: dates.map(|d| d.start),
            units: line.units,
            charge: line.charge,
            decision: Decision::NotRequired,
            rule: None,
            authorization: None,
            suggestion: None,
            units_approved: line.units,
            units_denied: Decimal::ZERO,
            adjustments: Vec::new(),
            remarks: Vec::new(),
            reason: String::new(),
        }
    }

    fn duplicate(&self, claim: &Claim, payer_claim_id: &str, prior: &PriorClaim) -> ClaimDecision {
        let lines = claim
            .lines
            .iter()
            .map(|line| {
                let mut d = self.base_line(claim, line);
                d.rule = self.rules.rule_for(claim, line).map(|r| r.id.clone());
                d.decision = Decision::Denied;
                d.units_approved = Decimal::ZERO;
                d.units_denied = line.units;
                d.adjustments.push(Adjustment {
                    group: Group::OA,
                    carc: Carc::C18,
                    amount: money(line.charge),
                    units: line.units,
                });
                d.reason = reason!(
                    "{}: exact duplicate of claim {} from billing NPI {}, already adjudicated as payer claim {}; \
                     nothing was paid or consumed. To correct the earlier claim, send a replacement (frequency 7) with REF*F8 {}.",
                    line_label(line, claim.line_dates(line).as_ref()),
                    claim.claim_id,
                    claim.billing_npi,
                    prior.payer_claim_id,
                    prior.payer_claim_id
                );
                d
            })
            .collect();
        ClaimDecision {
            claim_id: claim.claim_id.clone(),
            payer_claim_id: payer_claim_id.to_string(),
            status: ClaimStatus::Denied,
            lines,
            consumption: Vec::new(),
            reversed: Vec::new(),
            takes_back: None,
        }
    }

    fn void(
        &self,
        claim: &Claim,
        payer_claim_id: &str,
        prior: Option<&PriorClaim>,
        reversed: Vec<Consumption>,
    ) -> ClaimDecision {
        let what = match prior {
            Some(p) if !reversed.is_empty() => format!(
                "the units earlier claim {} (payer claim {}) consumed were returned to {}",
                claim.claim_id,
                p.payer_claim_id,
                reversed
                    .iter()
                    .map(|c| c.authorization.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Some(p) => format!(
                "earlier claim {} (payer claim {}) had consumed no units",
                claim.claim_id, p.payer_claim_id
            ),
            None => format!(
                "no earlier claim {} from billing NPI {} was found, so nothing was reversed",
                claim.claim_id, claim.billing_npi
            ),
        };
        let lines = claim
            .lines
            .iter()
            .map(|line| {
                let mut d = self.base_line(claim, line);
                d.reason = reason!(
                    "{}: claim voided (frequency 8); {what}. Nothing on this line is adjudicated.",
                    line_label(line, claim.line_dates(line).as_ref())
                );
                d
            })
            .collect();
        ClaimDecision {
            claim_id: claim.claim_id.clone(),
            payer_claim_id: payer_claim_id.to_string(),
            status: ClaimStatus::Voided,
            lines,
            consumption: Vec::new(),
            reversed,
            takes_back: None,
        }
    }

    fn adjudicate_lines(
        &self,
        claim: &Claim,
        payer_claim_id: &str,
        book: &mut AuthBook,
    ) -> ClaimDecision {
        let mut lines = Vec::with_capacity(claim.lines.len());
        let mut consumption = Vec::new();
        // The member, each line's rule and each line's first authorization
        // are looked up for the whole claim before any line is decided:
        // the lookups do not depend on each other, so the processor
        // overlaps their cache misses instead of waiting for each in turn
        // (with a million authorizations most lookups miss).
        let member = Member {
            key: MemberKey::of(&claim.subscriber.member_id),
            auths: Cell::new(None),
        };
        // The first number's lookup is kept whether or not it is on file.
        let resolved: Vec<(Option<Matched<'_>>, Option<Option<AuthId>>)> = claim
            .lines
            .iter()
            .map(|line| {
                let rule = self.rules.matched(&LineFacts::of(claim, line));
                if rule.is_some() {
                    // Where the member's authorizations are, for a
                    // suggestion if this line fails: found here, beside
                    // the number, so the two misses overlap.
                    member.auths(book);
                }
                let first = rule
                    .and(claim.line_prior_auths(line).first())
                    .map(|n| book.find(n).map(|(id, _)| id));
                (rule, first)
            })
            .collect();
        for (line, (rule, first)) in claim.lines.iter().zip(resolved) {
            let d = self.line(claim, &member, line, rule, first, book, &mut consumption);
            lines.push(d);
        }
        let status = claim_status(&lines);
        ClaimDecision {
            claim_id: claim.claim_id.clone(),
            payer_claim_id: payer_claim_id.to_string(),
            status,
            lines,
            consumption,
            reversed: Vec::new(),
            takes_back: None,
        }
    }

    /// Runs checks 2-11 for one number.
    #[allow(clippy::too_many_arguments)] // the line's facts, found once per claim
    fn check<'a>(
        &self,
        claim: &Claim,
        member: &Member<'_>,
        line: &ServiceLine,
        number: &'a str,
        found: Option<(AuthId, &'a Terms)>,
        book: &'a AuthBook,
        dates: Option<&DateRange>,
    ) -> Checked<'a> {
        let Some((id, a)) = found else {
            return Checked {
                number: Some(number),
                found: None,
                result: Err(Failure::NotOnFile),
            };
        };
        let fail = |f| Checked {
            number: Some(number),
            found: Some((id, a)),
            result: Err(f),
        };
        if !book.is_for(id, a, &member.key) {
            return fail(Failure::Member);
        }
        if !claim.provider_npis(line).any(|n| book.issued_to(id, a, n)) {
            return fail(Failure::Provider);
        }
        match a.status {
            AuthStatus::Denied => return fail(Failure::StatusDenied),
            AuthStatus::Pending => return fail(Failure::Pending),
            AuthStatus::Cancelled => return fail(Failure::Cancelled),
            AuthStatus::Approved => {}
        }
        match dates {
            Some(d) if d.end > a.end_date => return fail(Failure::AfterEnd),
            Some(d) if d.start < a.start_date => return fail(Failure::BeforeStart),
            Some(_) => {}
            None => return fail(Failure::BeforeStart),
        }
        let procedure = line.procedure.as_ref().map(|p| p.code.as_str());
        if !book.covers_code(id, a, procedure, line.revenue_code.as_deref()) {
            return fail(Failure::Codes);
        }
        match a.remaining() {
            Some(r) if r <= Decimal::ZERO => fail(Failure::NoUnits),
            Some(r) if line.units > r => fail(Failure::TooFewUnits(r)),
            _ => Checked {
                number: Some(number),
                found: Some((id, a)),
                result: Ok(()),
            },
        }
    }

    /// An authorization on file that would pass every check for this line:
    /// the one ending first (then the lowest number).
    fn suggestion(
        &self,
        claim: &Claim,
        member: &Member<'_>,
        line: &ServiceLine,
        book: &AuthBook,
        dates: Option<&DateRange>,
    ) -> Option<String> {
        let dates = dates?;
        let procedure = line.procedure.as_ref().map(|p| p.code.as_str());
        let number = |id| book.record(id).map(|a| a.number.as_str());
        book.of_member(member.auths(book))
            .filter(|&(id, a)| {
                a.status == AuthStatus::Approved
                    && claim.provider_npis(line).any(|n| book.issued_to(id, a, n))
                    && a.covers_dates(dates)
                    && book.covers_code(id, a, procedure, line.revenue_code.as_deref())
                    && a.remaining().map_or(true, |r| r >= Decimal::ONE)
            })
            .min_by(|x, y| {
                x.1.end_date
                    .cmp(&y.1.end_date)
                    .then_with(|| number(x.0).cmp(&number(y.0)))
            })
            .and_then(|(id, _)| number(id))
            .map(str::to_string)
    }

    #[allow(clippy::too_many_arguments)] // what was resolved for the claim
    fn line(
        &self,
        claim: &Claim,
        member: &Member<'_>,
        line: &ServiceLine,
        rule: Option<Matched<'_>>,
        resolved: Option<Option<AuthId>>,
        book: &mut AuthBook,
        consumption: &mut Vec<Consumption>,
    ) -> LineDecision {
        let mut d = self.base_line(claim, line);
        let dates = claim.line_dates(line);
        let label = line_label(line, dates.as_ref());
        let label = &label;
        let Some(Matched {
            rule,
            says: rule_says,
        }) = rule
        else {
            let facts = LineFacts::of(claim, line);
            let exempted = if facts.emergency {
                self.rules.lookup(&LineFacts {
                    emergency: false,
                    ..facts
                })
            } else {
                None
            };
            d.reason = match exempted {
                Some(r) => reason!(
                    "{label}: an emergency service, exempt from prior authorization under Section {} (rule {}: {}); no authorization is needed.",
                    r.section, r.id, r.title
                ),
                None => reason!("{label}: no Section 5.1 rule requires prior authorization for this service; no authorization is needed."),
            };
            return d;
        };
        d.rule = Some(rule.id.clone());
        let numbers = claim.line_prior_auths(line);
        // Every number is checked in order; the first that passes decides,
        // otherwise the first number's failure is reported.
        // Decide with the book borrowed immutably, keeping only what the
        // reason needs (copies of small values, no clone of the record).
        let (number, found, result, why, total, remaining) = {
            let book_ref: &AuthBook = book;
            let mut first: Option<Checked<'_>> = None;
            let mut passed = None;
            for (k, n) in numbers.iter().take(5).enumerate() {
                let found = match resolved {
                    Some(first) if k == 0 => {
                        first.and_then(|id| book_ref.terms(id).map(|t| (id, t)))
                    }
                    _ => book_ref.find(n),
                };
                let c = self.check(claim, member, line, n, found, book_ref, dates.as_ref());
                if c.result.is_ok() {
                    passed = Some(c);
                    break;
                }
                if first.is_none() {
                    first = Some(c);
                }
            }
            let chosen = passed.or(first).unwrap_or(Checked {
                number: None,
                found: None,
                result: Err(Failure::NoNumber),
            });
            let why = match &chosen.result {
                Err(f) if !matches!(f, Failure::Pending | Failure::TooFewUnits(_)) => Some(Why {
                    failure: f.clone(),
                    num: chosen.number.unwrap_or_default(),
                    terms: chosen.found.map(|(_, t)| t),
                    record: chosen.found.and_then(|(id, _)| book_ref.record(id)),
                    line,
                    dates,
                }),
                _ => None,
            };
            (
                chosen.number.map(str::to_string),
                chosen.found.map(|(id, _)| id),
                chosen.result,
                why,
                chosen.found.and_then(|(_, a)| a.units),
                chosen.found.and_then(|(_, a)| a.remaining()),
            )
        };
        d.authorization = number.clone();
        let num = number.clone().unwrap_or_default();
        match result {
            Ok(()) => {
                if let Some(id) = found {
                    book.consume_id(id, line.units);
                }
                consumption.push(Consumption {
                    authorization: num.clone(),
                    line: line.number,
                    units: line.units,
                });
                d.decision = Decision::Approved;
                d.reason = match remaining {
                    Some(r) => reason!(
                        "{label}: {rule_says}; authorization {num} covers it: {} {} approved; {} of {} units remain.",
                        u(line.units),
                        plural(line.units),
                        u(r - line.units),
                        u(total.unwrap_or_default())
                    ),
                    None => reason!(
                        "{label}: {rule_says}; authorization {num} covers it: {} {} approved; the authorization has no unit limit.",
                        u(line.units),
                        plural(line.units)
                    ),
                };
            }
            Err(Failure::Pending) => {
                d.decision = Decision::Pended;
                d.units_approved = Decimal::ZERO;
                d.reason = reason!(
                    "{label}: {rule_says}; authorization {num} is still pending review by utilization management, \
                     so the line is pended (not final) until it is decided."
                );
            }
            Err(Failure::TooFewUnits(remaining)) => {
                let excess = line.units - remaining;
                if let Some(id) = found {
                    book.consume_id(id, remaining);
                }
                consumption.push(Consumption {
                    authorization: num.clone(),
                    line: line.number,
                    units: remaining,
                });
                let amount = if line.units.is_zero() {
                    Decimal::ZERO
                } else {
                    round_cents(line.charge * excess / line.units)
                };
                d.decision = Decision::Partial;
                d.units_approved = remaining;
                d.units_denied = excess;
                d.adjustments.push(Adjustment {
                    group: Group::CO,
                    carc: Carc::C198,
                    amount: money(amount),
                    units: excess,
                });
                let total = total.unwrap_or_default();
                d.reason = reason!(
                    "{label}: {rule_says}; authorization {num} had {} of {} {} left: {} approved, {} denied (CO-198, authorization exceeded). \
                     Ask utilization management to extend the authorization for the extra {}.",
                    u(remaining),
                    u(total),
                    plural(total),
                    u(remaining),
                    u(excess),
                    plural(excess)
                );
            }
            Err(f) => {
                let (carc, rarc) = f.codes();
                d.decision = Decision::Denied;
                d.units_approved = Decimal::ZERO;
                d.units_denied = line.units;
                d.adjustments.push(Adjustment {
                    group: Group::CO,
                    carc,
                    amount: money(line.charge),
                    units: line.units,
                });
                d.remarks.extend(rarc);
                if f.suggests() {
                    d.suggestion = self.suggestion(claim, member, line, book, dates.as_ref());
                }
                let why = OrEmpty(why);
                let (rarc_sep, rarc) = match rarc {
                    Some(r) => (", ", r.as_str()),
                    None => ("", ""),
                };
                let codes = format_args!("CO-{}{rarc_sep}{rarc}", carc.as_str());
                d.reason = match &d.suggestion {
                    Some(s) => reason!(
                        "{label}: {rule_says}; {why} ({codes}). Authorization {s} on file covers this service: attach it (REF*G1) and resubmit as a replacement claim (frequency 7)."
                    ),
                    None => {
                        let next = match f {
                            Failure::NoNumber | Failure::NotOnFile => "Obtain prior authorization, or correct the number, and resubmit.",
                            Failure::StatusDenied => "The request was denied by utilization management; the provider may appeal that decision.",
                            Failure::NoUnits => "Ask utilization management to extend the authorization before billing more units.",
                            _ => "Obtain an authorization that covers this service and resubmit.",
                        };
                        reason!("{label}: {rule_says}; {why} ({codes}). {next}")
                    }
                };
            }
        }
        d
    }
}

/// Why a number failed, in words, written straight into the reason (no
/// intermediate strings: most PA lines of a bad file are denied).
struct Why<'a> {
    failure: Failure,
    num: &'a str,
    terms: Option<&'a Terms>,
    record: Option<&'a crate::authorizations::Authorization>,
    line: &'a ServiceLine,
    dates: Option<DateRange>,
}

/// "2026-01-10..2026-04-10": the days an authorization covers.
struct Span<'a>(Option<&'a Terms>);

impl std::fmt::Display for Span<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(a) => write!(f, "{}..{}", Ymd(a.start_date), Ymd(a.end_date)),
            None => Ok(()),
        }
    }
}

impl std::fmt::Display for Why<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Why {
            failure,
            num,
            terms: a,
            record,
            line,
            dates,
        } = self;
        let span = Span(*a);
        let days = |d: Option<&DateRange>| {
            if d.is_some_and(|d| d.start != d.end) {
                "s"
            } else {
                ""
            }
        };
        let date = |d: Option<chrono::NaiveDate>| OrEmpty(d.map(Ymd));
        match failure {
            Failure::NoNumber => f.write_str("the claim carries no authorization number (REF*G1) for it"),
            Failure::NotOnFile => write!(f, "authorization {num} is not on file"),
            Failure::Member => write!(f, "authorization {num} was issued for a different member than this claim's subscriber"),
            Failure::Provider => write!(
                f,
                "authorization {num} was issued to provider NPI {}, which is neither the billing nor a rendering provider on this claim",
                record.map(|a| a.provider_npi.as_str()).unwrap_or_default()
            ),
            Failure::StatusDenied => write!(f, "authorization {num} was denied when it was requested"),
            Failure::Pending => write!(f, "authorization {num} is pending"),
            Failure::Cancelled => write!(f, "authorization {num} was cancelled"),
            Failure::AfterEnd => write!(
                f,
                "authorization {num} covers {span}, which does not include the service date{} (it ended {})",
                days(dates.as_ref()),
                date(a.map(|a| a.end_date))
            ),
            Failure::BeforeStart => match dates {
                Some(d) => write!(
                    f,
                    "authorization {num} covers {span}, which does not include the service date{} (it starts {})",
                    days(Some(d)),
                    date(a.map(|a| a.start_date))
                ),
                None => write!(f, "the line has no service date, so authorization {num} cannot be matched to it"),
            },
            Failure::Codes => write!(
                f,
                "authorization {num} covers {}, not {}",
                record.map(|a| a.codes_text()).unwrap_or_default(),
                line.procedure
                    .as_ref()
                    .map(|p| p.code.as_str())
                    .or(line.revenue_code.as_deref())
                    .unwrap_or_default()
            ),
            Failure::NoUnits => write!(
                f,
                "authorization {num} has no units left ({} of {} used)",
                u(a.map(|a| a.units_used).unwrap_or_default()),
                u(a.and_then(|a| a.units).unwrap_or_default())
            ),
            Failure::TooFewUnits(_) => Ok(()),
        }
    }
}

/// A value, or nothing when there is none.
struct OrEmpty<T>(Option<T>);

impl<T: std::fmt::Display> std::fmt::Display for OrEmpty<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(v) => v.fmt(f),
            None => Ok(()),
        }
    }
}

/// SPEC §3 claim status from its lines.
pub fn claim_status(lines: &[LineDecision]) -> ClaimStatus {
    if lines.iter().any(|l| l.decision == Decision::Pended) {
        ClaimStatus::Pended
    } else if !lines.is_empty() && lines.iter().all(|l| l.decision == Decision::Denied) {
        ClaimStatus::Denied
    } else if lines
        .iter()
        .any(|l| matches!(l.decision, Decision::Denied | Decision::Partial))
    {
        ClaimStatus::Partial
    } else {
        ClaimStatus::Approved
    }
}

#[cfg(test)]
mod history_tests {
    use super::*;

    fn prior(payer_claim_id: &str) -> PriorClaim {
        PriorClaim {
            payer_claim_id: payer_claim_id.into(),
            consumption: vec![],
        }
    }

    #[test]
    fn memory_history_finds_by_key_and_payer_id_and_forgets() {
        let mut h = MemoryHistory::default();
        assert!(h.by_key("1234567893", "C1").is_none());
        h.record("1234567893", "C1", prior("P1"));
        h.record("1234567893", "C2", prior("P2"));
        h.record("1111111112", "C1", prior("P3"));
        assert_eq!(h.by_key("1234567893", "C1").unwrap().payer_claim_id, "P1");
        assert_eq!(h.by_key("1111111112", "C1").unwrap().payer_claim_id, "P3");
        assert_eq!(
            h.by_payer_id("P2"),
            Some(("1234567893".into(), "C2".into()))
        );
        // Recorded again under its key (an interim bill, say): the new payer
        // id answers, and the old one still leads to the key.
        h.record("1234567893", "C1", prior("P4"));
        assert_eq!(h.by_key("1234567893", "C1").unwrap().payer_claim_id, "P4");
        assert_eq!(
            h.by_payer_id("P1"),
            Some(("1234567893".into(), "C1".into()))
        );
        assert_eq!(
            h.by_payer_id("P4"),
            Some(("1234567893".into(), "C1".into()))
        );
        // A payer id used again leads to the claim recorded with it last.
        h.record("1234567893", "C9", prior("P2"));
        assert_eq!(
            h.by_payer_id("P2"),
            Some(("1234567893".into(), "C9".into()))
        );
        // Forgetting a claim drops the payer id it was recorded with.
        h.forget("1234567893", "C2");
        assert!(h.by_key("1234567893", "C2").is_none());
        assert_eq!(h.by_payer_id("P2"), None);
        h.link("OLD", "1234567893", "C1");
        assert_eq!(
            h.by_payer_id("OLD"),
            Some(("1234567893".into(), "C1".into()))
        );
        h.record("1234567893", "C5", prior("P5"));
        h.link("P5", "1234567893", "C5");
        h.forget("1234567893", "C5");
        assert_eq!(h.by_payer_id("P5"), None);
    }
}

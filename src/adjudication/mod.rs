//! The adjudication core (SPEC §3): a pure function of a claim, the rule
//! index and the authorization book. No I/O, no clock, no HTTP, no SQL.
//!
//! Order of checks per line that needs PA, first failure decides:
//! 1 no number, 2 not on file, 3 member, 4 provider, 5 denied, 6 pending,
//! 7 cancelled, 8a after end, 8b before start, 9 codes, 10 no units,
//! 11 too few units (partial), 12 approved.

#[macro_use]
mod reasons;
mod checks;
mod content;
mod exempt;
mod history;
pub mod impact;
mod line;
mod readjudicate;
mod submission;
mod units;

use rust_decimal::Decimal;

use crate::authorizations::AuthBook;
use crate::exemptions::ExemptionBook;
pub use crate::model::carc as codes;
use crate::model::carc::{Carc, Group};
pub use crate::model::{
    money, Adjustment, ClaimDecision, ClaimStatus, Consumption, Decision, LineDecision,
};
use crate::model::{Claim, Frequency, NetworkDirectory, ServiceLine};
use crate::rules::index::LineFacts;
use crate::rules::RulesIndex;
pub use content::{content_key, content_key_text};
pub use history::{earlier_claim, ClaimHistory, MemoryHistory, PriorClaim};
use reasons::line_label;
pub use submission::{decide_submission, Submission, SubmittedClaim, SupersededStored};

/// A claim decided, with what it did to the claim history.
#[derive(Debug, Clone)]
pub struct Decided {
    /// The decision.
    pub decision: ClaimDecision,
    /// True when the claim now answers for its billing NPI and CLM01
    /// (false for a duplicate or a void).
    pub live: bool,
    /// Earlier claims this one takes the place of.
    pub supersedes: Vec<Superseded>,
    /// Its content key (SPEC §3.3) when a later claim may duplicate it
    /// (None for a duplicate or a void).
    pub content_key: Option<u64>,
}

/// An earlier claim a decided claim takes the place of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Superseded {
    /// Its payer claim id.
    pub payer_claim_id: String,
    /// True when its units were given back (a replacement or void).
    pub reversed: bool,
}

/// Adjudicates claims against a rule index, an authorization book and a
/// claim history. Holds no state of its own: everything that changes lives
/// in the book and the history passed in.
#[derive(Debug, Clone, Copy)]
pub struct Adjudicator<'r> {
    pub(crate) rules: &'r RulesIndex,
    /// Gold-card exemptions (SPEC §3.5), when the caller has any.
    pub(crate) exemptions: Option<&'r ExemptionBook>,
    network: Option<&'r NetworkDirectory>,
    /// Write each line's reason sentence (true but for a replay).
    reasons: bool,
}

impl<'r> Adjudicator<'r> {
    /// An adjudicator over a rule index, with no exemptions and no network
    /// directory (every provider in network).
    pub fn new(rules: &'r RulesIndex) -> Self {
        Adjudicator {
            rules,
            exemptions: None,
            network: None,
            reasons: true,
        }
    }

    /// The same adjudicator, writing no reason sentences: every other
    /// part of each line's decision (status, rule, authorization,
    /// suggestion, codes, amounts, units) and what is consumed stay as
    /// they are, the reason is left empty. For a rule-change replay,
    /// which compares decisions and amounts and reports no reason: writing
    /// the sentences was 5-7% of its CPU (docs/PERFORMANCE.md).
    pub fn without_reasons(self) -> Self {
        Adjudicator {
            reasons: false,
            ..self
        }
    }

    /// The same adjudicator, deciding lines an exemption of `book` covers
    /// as `not_required` before any authorization check (SPEC §3.5).
    pub fn with_exemptions(self, book: &'r ExemptionBook) -> Self {
        Adjudicator {
            exemptions: Some(book),
            ..self
        }
    }

    /// The same adjudicator judging `network = "out"` rules against a
    /// network directory (SPEC §2.4; an empty one: everyone in network).
    pub fn with_network(self, network: &'r NetworkDirectory) -> Self {
        Adjudicator {
            network: Some(network),
            ..self
        }
    }

    /// What the rule index is asked about a line: its facts, and whether
    /// the billing provider is out of network on the line's service date.
    pub(crate) fn facts<'c>(&self, claim: &'c Claim, line: &'c ServiceLine) -> LineFacts<'c> {
        let mut f = LineFacts::of(claim, line);
        f.out_of_network = self
            .network
            .is_some_and(|n| !n.in_network(&claim.billing_npi, f.date));
        f
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
        self.decide(claim, payer_claim_id, book, history).decision
    }

    /// [`Adjudicator::adjudicate`], also saying what the claim did to the
    /// history: whether it now answers for its key and which earlier
    /// claims it takes the place of (what the store writes).
    pub fn decide(
        &self,
        claim: &Claim,
        payer_claim_id: &str,
        book: &mut AuthBook,
        history: &mut impl ClaimHistory,
    ) -> Decided {
        let npi = claim.billing_npi.as_str();
        let id = claim.claim_id.as_str();
        let own_prior = history.by_key(npi, id);
        let mut supersedes = Vec::new();
        let mut reversed = Vec::new();
        let mut replaces: Option<String> = None;
        let content = content_key(claim);
        match claim.frequency {
            // SPEC §3.3: any frequency but 7 and 8 is an exact duplicate of
            // an earlier live claim with the same content.
            Frequency::Original | Frequency::Other => {
                if let Some(prior) = history.by_content(content) {
                    return Decided {
                        decision: self.duplicate(claim, payer_claim_id, &prior),
                        live: false,
                        supersedes,
                        content_key: None,
                    };
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
                    supersedes.push(Superseded {
                        payer_claim_id: p.payer_claim_id.clone(),
                        reversed: true,
                    });
                }
                if claim.frequency == Frequency::Void {
                    return Decided {
                        decision: self.void(claim, payer_claim_id, prior.as_ref(), reversed),
                        live: false,
                        supersedes,
                        content_key: None,
                    };
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
        }
        // Originals, replacements and other frequencies: adjudicate afresh
        // and remember what was consumed, for a later replacement or void.
        let mut d = self.adjudicate_lines(claim, payer_claim_id, book);
        d.reversed = reversed;
        if let Some(note) = replaces.as_ref().filter(|_| self.reasons) {
            for l in &mut d.lines {
                l.reason.push_str(note);
            }
        }
        // The claim recorded under the same key before, unless it was the
        // one reversed, no longer answers for the key (an interim bill).
        if let Some(o) = own_prior {
            if !supersedes
                .iter()
                .any(|s| s.payer_claim_id == o.payer_claim_id)
            {
                supersedes.push(Superseded {
                    payer_claim_id: o.payer_claim_id,
                    reversed: false,
                });
            }
        }
        history.record(
            npi,
            id,
            PriorClaim {
                payer_claim_id: payer_claim_id.to_string(),
                consumption: d.consumption.clone(),
                content_key: Some(content),
            },
        );
        Decided {
            decision: d,
            live: true,
            supersedes,
            content_key: Some(content),
        }
    }

    pub(crate) fn base_line(&self, claim: &Claim, line: &ServiceLine) -> LineDecision {
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
            exemption: None,
            units_approved: line.units,
            units_denied: Decimal::ZERO,
            adjustments: Vec::new(),
            remarks: Vec::new(),
            reason: String::new(),
        }
    }

    fn duplicate(&self, claim: &Claim, payer_claim_id: &str, prior: &str) -> ClaimDecision {
        let lines = claim
            .lines
            .iter()
            .map(|line| {
                let mut d = self.base_line(claim, line);
                d.rule = self.rules.lookup(&self.facts(claim, line)).map(|r| r.id.clone());
                d.decision = Decision::Denied;
                d.units_approved = Decimal::ZERO;
                d.units_denied = line.units;
                d.adjustments.push(Adjustment {
                    group: Group::OA,
                    carc: Carc::C18,
                    amount: money(line.charge),
                    units: line.units,
                });
                if !self.reasons {
                    return d;
                }
                d.reason = reason!(
                    "{}: exact duplicate of an earlier claim from billing NPI {} for the same member, charges and services, \
                     already adjudicated as payer claim {prior}; nothing was paid or consumed. \
                     To correct the earlier claim, send a replacement (frequency 7) with REF*F8 {prior}.",
                    line_label(line, claim.line_dates(line).as_ref()),
                    claim.billing_npi,
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
                if !self.reasons {
                    return d;
                }
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

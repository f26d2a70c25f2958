//! What a rule change would do (issue 19, SPEC §5 `replay`): stored
//! claims decided again, in the order they were received, once under the
//! rule set in force and once under a candidate, each against its own
//! copy of the authorization book, and the line decisions compared. The
//! store hands the claims in; nothing here reads or writes it, and
//! nothing the replay consumes reaches the store's authorizations.

use rust_decimal::Decimal;
use rustc_hash::FxHashMap;
use serde::Serialize;

use super::Adjudicator;
use crate::authorizations::{AuthBook, Authorization};
use crate::model::{money, Claim, ClaimDecision, Consumption, Decision};

/// How many providers the report names, most affected first.
pub const TOP_PROVIDERS: usize = 20;

/// A replay under way: the two books and what has been counted so far.
#[derive(Debug, Default)]
pub struct Replay {
    current: AuthBook,
    candidate: AuthBook,
    claims: u64,
    claims_changed: u64,
    without_facts: u64,
    lines: u64,
    lines_changed: u64,
    denied_current: Decimal,
    denied_candidate: Decimal,
    transitions: FxHashMap<(Decision, Decision), u64>,
    rules: FxHashMap<String, Tally>,
    providers: FxHashMap<String, Tally>,
}

/// Changed lines (and claims) and the change in denied amount they make.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    claims: u64,
    lines: u64,
    denied: Decimal,
}

/// A stored claim to decide again: its payer claim id, its facts and the
/// units it holds now.
#[derive(Debug, Clone, Copy)]
pub struct StoredClaim<'a> {
    /// The payer's claim id.
    pub payer_claim_id: &'a str,
    /// The claim's stored facts.
    pub claim: &'a Claim,
    /// The units it holds now (its ledger rows not reversed).
    pub consumed: &'a [Consumption],
}

/// One rule set's decisions on a page, in order, against its own book:
/// None for a claim no rule covers (its held units only given back).
fn decide_page(
    adjudicator: &Adjudicator<'_>,
    page: &[StoredClaim<'_>],
    covered: &[bool],
    book: &mut AuthBook,
) -> Vec<Option<ClaimDecision>> {
    page.iter()
        .zip(covered)
        .map(|(c, &covered)| {
            if covered {
                Some(adjudicator.redecide(c.claim, c.payer_claim_id, c.consumed, book))
            } else {
                adjudicator.give_back(c.consumed, book);
                None
            }
        })
        .collect()
}

impl Replay {
    /// A replay with empty books.
    pub fn new() -> Self {
        Replay::default()
    }

    /// True when the books hold authorization `number`.
    pub fn knows(&self, number: &str) -> bool {
        self.current.get(number).is_some()
    }

    /// Puts an authorization, as it is on file now, in both books, unless
    /// it is there already (then the replay's own use of it stands).
    pub fn add_authorization(&mut self, a: Authorization) {
        if self.knows(&a.number) {
            return;
        }
        self.candidate.insert(a.clone());
        self.current.insert(a);
    }

    /// Stored claims that could not be decided again (their records keep
    /// no facts): counted, not compared.
    pub fn without_facts(&mut self, claims: u64) {
        self.without_facts += claims;
    }

    /// Which claims of a page a rule of either set covers (on some line).
    /// Only those are decided again, and only their members' and cited
    /// authorizations need to be in the books, beside those any claim
    /// holds units of (given back); every other line is `not_required`
    /// under both sets.
    pub fn covered<'c>(
        current: &Adjudicator<'_>,
        candidate: &Adjudicator<'_>,
        claims: impl IntoIterator<Item = &'c Claim>,
    ) -> Vec<bool> {
        claims
            .into_iter()
            .map(|c| current.covers_any_line(c) || candidate.covers_any_line(c))
            .collect()
    }

    /// Decides a page of stored claims again, in order, under both rule
    /// sets, and counts the lines whose decision differs. The two sets
    /// are decided at once on rayon's threads: each has its own book, so
    /// neither waits for the other. A claim that is not `covered`
    /// ([`Replay::covered`]) is not decided at all; the units it holds
    /// are still given back in both books.
    pub fn claims(
        &mut self,
        current: &Adjudicator<'_>,
        candidate: &Adjudicator<'_>,
        page: &[StoredClaim<'_>],
        covered: &[bool],
    ) {
        debug_assert_eq!(page.len(), covered.len(), "a covered flag a claim");
        let (current_book, candidate_book) = (&mut self.current, &mut self.candidate);
        let (now, then) = rayon::join(
            || decide_page(current, page, covered, current_book),
            || decide_page(candidate, page, covered, candidate_book),
        );
        for ((c, now), then) in page.iter().zip(now).zip(then) {
            match (now, then) {
                (Some(now), Some(then)) => self.compare(c.claim, &now, &then),
                _ => {
                    self.claims += 1;
                    self.lines += c.claim.lines.len() as u64;
                }
            }
        }
    }

    /// Counts what differs between a claim's two decisions.
    fn compare(&mut self, claim: &Claim, now: &ClaimDecision, then: &ClaimDecision) {
        self.claims += 1;
        let mut changed = 0u64;
        let mut denied_change = Decimal::ZERO;
        let mut rules_touched: Vec<&str> = Vec::new();
        for (a, b) in now.lines.iter().zip(&then.lines) {
            self.lines += 1;
            let denied_a = a.adjusted();
            let denied_b = b.adjusted();
            self.denied_current += denied_a;
            self.denied_candidate += denied_b;
            if a.decision == b.decision {
                continue;
            }
            changed += 1;
            self.lines_changed += 1;
            let delta = denied_b - denied_a;
            denied_change += delta;
            *self
                .transitions
                .entry((a.decision, b.decision))
                .or_default() += 1;
            // The rule that makes the difference: the candidate's, or the
            // one in force when the candidate has none for the line.
            let rule = b.rule.as_deref().or(a.rule.as_deref()).unwrap_or("");
            let t = match self.rules.get_mut(rule) {
                Some(t) => t,
                None => self.rules.entry(rule.to_string()).or_default(),
            };
            t.lines += 1;
            t.denied += delta;
            if !rules_touched.contains(&rule) {
                t.claims += 1;
                rules_touched.push(rule);
            }
        }
        if changed == 0 {
            return;
        }
        self.claims_changed += 1;
        let p = match self.providers.get_mut(claim.billing_npi.as_str()) {
            Some(p) => p,
            None => self.providers.entry(claim.billing_npi.clone()).or_default(),
        };
        p.claims += 1;
        p.lines += changed;
        p.denied += denied_change;
    }

    /// The report: counts, transitions, rules and the providers most
    /// affected, in a stable order.
    pub fn report(self, in_force: &str, candidate: &str) -> ImpactReport {
        let mut transitions: Vec<Transition> = self
            .transitions
            .into_iter()
            .map(|((from, to), lines)| Transition {
                transition: format!("{}→{}", from.as_str(), to.as_str()),
                from,
                to,
                lines,
            })
            .collect();
        transitions.sort_by(|a, b| {
            b.lines
                .cmp(&a.lines)
                .then_with(|| a.transition.cmp(&b.transition))
        });
        let mut rules: Vec<RuleImpact> = self
            .rules
            .into_iter()
            .map(|(rule_id, t)| RuleImpact {
                rule_id: (!rule_id.is_empty()).then_some(rule_id),
                claims_changed: t.claims,
                lines_changed: t.lines,
                denied_amount_change: money(t.denied),
            })
            .collect();
        rules.sort_by(|a, b| {
            b.lines_changed
                .cmp(&a.lines_changed)
                .then_with(|| a.rule_id.cmp(&b.rule_id))
        });
        let mut providers: Vec<ProviderImpact> = self
            .providers
            .into_iter()
            .map(|(billing_npi, t)| ProviderImpact {
                billing_npi,
                claims_changed: t.claims,
                lines_changed: t.lines,
                denied_amount_change: money(t.denied),
            })
            .collect();
        providers.sort_by(|a, b| {
            b.lines_changed
                .cmp(&a.lines_changed)
                .then_with(|| {
                    b.denied_amount_change
                        .abs()
                        .cmp(&a.denied_amount_change.abs())
                })
                .then_with(|| a.billing_npi.cmp(&b.billing_npi))
        });
        providers.truncate(TOP_PROVIDERS);
        ImpactReport {
            rule_set_in_force: in_force.to_string(),
            candidate_rule_set: candidate.to_string(),
            claims: self.claims,
            claims_without_facts: self.without_facts,
            claims_changed: self.claims_changed,
            lines: self.lines,
            lines_changed: self.lines_changed,
            denied_amount: DeniedAmount {
                in_force: money(self.denied_current),
                candidate: money(self.denied_candidate),
                change: money(self.denied_candidate - self.denied_current),
            },
            transitions,
            rules,
            providers,
        }
    }
}

/// What a candidate rule set would change on the stored claims replayed
/// (`replay`, `POST /v1/rules/impact`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImpactReport {
    /// Version of the rule set in force.
    pub rule_set_in_force: String,
    /// Version of the candidate rule set.
    pub candidate_rule_set: String,
    /// Live stored claims decided again under both sets.
    pub claims: u64,
    /// Live stored claims in the window whose record keeps no facts (stored
    /// before records did): not decided again.
    pub claims_without_facts: u64,
    /// Claims with at least one line whose decision changes.
    pub claims_changed: u64,
    /// Service lines compared.
    pub lines: u64,
    /// Lines whose decision changes.
    pub lines_changed: u64,
    /// Denied amount (the lines' adjustments) under each set.
    pub denied_amount: DeniedAmount,
    /// Lines per change of decision, most first.
    pub transitions: Vec<Transition>,
    /// Changed lines per rule: the candidate's rule for the line, or the
    /// one in force when the candidate has none. Most first.
    pub rules: Vec<RuleImpact>,
    /// The billing providers with the most changed lines (at most 20).
    pub providers: Vec<ProviderImpact>,
}

/// The denied amount under each rule set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeniedAmount {
    /// Under the rule set in force.
    pub in_force: Decimal,
    /// Under the candidate.
    pub candidate: Decimal,
    /// Candidate minus in force.
    pub change: Decimal,
}

/// One change of decision and how many lines make it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transition {
    /// `from→to`, e.g. `not_required→denied`.
    pub transition: String,
    /// The decision under the rule set in force.
    pub from: Decision,
    /// The decision under the candidate.
    pub to: Decision,
    /// Lines.
    pub lines: u64,
}

/// The changed lines one rule accounts for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleImpact {
    /// The rule id (None: a line no rule of either set matches, which
    /// only an exemption or network change could move).
    pub rule_id: Option<String>,
    /// Claims with a line it changes.
    pub claims_changed: u64,
    /// Lines it changes.
    pub lines_changed: u64,
    /// Change in denied amount on those lines.
    pub denied_amount_change: Decimal,
}

/// One billing provider's changed claims and lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProviderImpact {
    /// Billing NPI.
    pub billing_npi: String,
    /// Its claims with a changed line.
    pub claims_changed: u64,
    /// Its changed lines.
    pub lines_changed: u64,
    /// Change in denied amount on its claims.
    pub denied_amount_change: Decimal,
}

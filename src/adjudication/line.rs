//! One claim's lines decided in order (SPEC §3 rows 1-12), consuming units
//! from the book as they are approved.

use std::cell::Cell;

use rust_decimal::Decimal;

use crate::authorizations::{AuthBook, AuthId, MemberKey};
use crate::model::carc::{Carc, Group};
use crate::model::{
    money, Adjustment, Claim, ClaimDecision, Consumption, DateRange, Decision, LineDecision,
    ServiceLine,
};
use crate::rules::index::{LineFacts, Matched};

use super::checks::{Checked, Failure, Member};
use super::reasons::{line_label, plural, round_cents, u, Label, Why};
use super::{claim_status, Adjudicator};

impl Adjudicator<'_> {
    pub(super) fn adjudicate_lines(
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

    /// Decides one line: not required when no rule matches, else by the
    /// number that decides it (SPEC §3 rows 1-12).
    #[allow(clippy::too_many_arguments)] // what was resolved for the claim
    pub(super) fn line(
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
        let Some(Matched { rule, says }) = rule else {
            d.reason = self.not_required_reason(claim, line, &label);
            return d;
        };
        d.rule = Some(rule.id.clone());
        // SPEC §3.5: an exempt provider needs no authorization (exempt.rs).
        if self.exempt(claim, line, rule, says, &label, &mut d) {
            return d;
        }
        let at = Line {
            claim,
            member,
            line,
            dates,
            label: &label,
            says,
        };
        let chosen = self.choose(&at, resolved, book);
        d.authorization = chosen.number.map(str::to_string);
        let num = chosen.number.unwrap_or_default();
        match &chosen.result {
            Ok(()) => {
                let (id, total, remaining) = terms_of(&chosen);
                approve(&at, &mut d, num, total, remaining);
                take(book, consumption, id, num, line.number, line.units);
            }
            Err(Failure::Pending) => pend(&at, &mut d, num),
            Err(Failure::TooFewUnits(remaining)) => {
                let remaining = *remaining;
                let (id, total, _) = terms_of(&chosen);
                partial(&at, &mut d, num, total, remaining);
                take(book, consumption, id, num, line.number, remaining);
            }
            Err(f) => {
                let why = Why {
                    failure: f.clone(),
                    num,
                    terms: chosen.found.map(|(_, t)| t),
                    record: chosen.found.and_then(|(id, _)| book.record(id)),
                    line,
                    dates,
                };
                if f.suggests() {
                    d.suggestion = self.suggestion(claim, member, line, book, dates.as_ref());
                }
                deny(&at, &mut d, f, &why);
            }
        }
        d
    }

    /// Why a line needs no PA: an emergency exempt from a rule, or no rule.
    fn not_required_reason(&self, claim: &Claim, line: &ServiceLine, label: &Label<'_>) -> String {
        let facts = LineFacts::of(claim, line);
        let exempted = if facts.emergency {
            self.rules.lookup(&LineFacts {
                emergency: false,
                ..facts
            })
        } else {
            None
        };
        match exempted {
            Some(r) => reason!(
                "{label}: an emergency service, exempt from prior authorization under Section {} (rule {}: {}); no authorization is needed.",
                r.section, r.id, r.title
            ),
            None => reason!("{label}: no Section 5.1 rule requires prior authorization for this service; no authorization is needed."),
        }
    }

    /// Every number is checked in order; the first that passes decides,
    /// otherwise the first number's failure is reported. The first number's
    /// lookup was resolved for the whole claim beforehand.
    fn choose<'c, 'b>(
        &self,
        at: &Line<'c, '_>,
        resolved: Option<Option<AuthId>>,
        book: &'b AuthBook,
    ) -> Checked<'c, 'b> {
        let mut first: Option<Checked<'c, 'b>> = None;
        for (k, n) in at
            .claim
            .line_prior_auths(at.line)
            .iter()
            .take(5)
            .enumerate()
        {
            let found = match resolved {
                Some(first) if k == 0 => first.and_then(|id| book.terms(id).map(|t| (id, t))),
                _ => book.find(n),
            };
            let c = self.check(
                at.claim,
                at.member,
                at.line,
                n,
                found,
                book,
                at.dates.as_ref(),
            );
            if c.result.is_ok() {
                return c;
            }
            if first.is_none() {
                first = Some(c);
            }
        }
        first.unwrap_or(Checked {
            number: None,
            found: None,
            result: Err(Failure::NoNumber),
        })
    }
}

/// What a line's reason is written from, found once.
struct Line<'c, 'm> {
    claim: &'c Claim,
    member: &'m Member<'c>,
    line: &'c ServiceLine,
    dates: Option<DateRange>,
    label: &'m Label<'c>,
    /// The rule's sentence ("MRI requires prior authorization under …").
    says: &'c str,
}

/// The chosen authorization's id, approved units and units remaining,
/// copied out so the book can be written to.
fn terms_of(c: &Checked<'_, '_>) -> (Option<AuthId>, Option<Decimal>, Option<Decimal>) {
    match c.found {
        Some((id, t)) => (Some(id), t.units, t.remaining()),
        None => (None, None, None),
    }
}

/// Consumes `units` of the authorization and records it in the ledger.
fn take(
    book: &mut AuthBook,
    consumption: &mut Vec<Consumption>,
    id: Option<AuthId>,
    number: &str,
    line: u32,
    units: Decimal,
) {
    if let Some(id) = id {
        book.consume_id(id, units);
    }
    consumption.push(Consumption {
        authorization: number.to_string(),
        line,
        units,
    });
}

/// Row 12: approved, units consumed.
fn approve(
    at: &Line<'_, '_>,
    d: &mut LineDecision,
    num: &str,
    total: Option<Decimal>,
    remaining: Option<Decimal>,
) {
    let Line {
        line, label, says, ..
    } = at;
    d.decision = Decision::Approved;
    d.reason = match remaining {
        Some(r) => reason!(
            "{label}: {says}; authorization {num} covers it: {} {} approved; {} of {} units remain.",
            u(line.units),
            plural(line.units),
            u(r - line.units),
            u(total.unwrap_or_default())
        ),
        None => reason!(
            "{label}: {says}; authorization {num} covers it: {} {} approved; the authorization has no unit limit.",
            u(line.units),
            plural(line.units)
        ),
    };
}

/// Row 6: pended, not final.
fn pend(at: &Line<'_, '_>, d: &mut LineDecision, num: &str) {
    let Line { label, says, .. } = at;
    d.decision = Decision::Pended;
    d.units_approved = Decimal::ZERO;
    d.reason = reason!(
        "{label}: {says}; authorization {num} is still pending review by utilization management, \
         so the line is pended (not final) until it is decided."
    );
}

/// Row 11: what remains approved, the excess denied CO-198.
fn partial(
    at: &Line<'_, '_>,
    d: &mut LineDecision,
    num: &str,
    total: Option<Decimal>,
    remaining: Decimal,
) {
    let Line {
        line, label, says, ..
    } = at;
    let excess = line.units - remaining;
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
        "{label}: {says}; authorization {num} had {} of {} {} left: {} approved, {} denied (CO-198, authorization exceeded). \
         Ask utilization management to extend the authorization for the extra {}.",
        u(remaining),
        u(total),
        plural(total),
        u(remaining),
        u(excess),
        plural(excess)
    );
}

/// Rows 1-5 and 7-10: the whole line denied, with what to do next.
fn deny(at: &Line<'_, '_>, d: &mut LineDecision, f: &Failure, why: &Why<'_>) {
    let Line {
        line, label, says, ..
    } = at;
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
    let (rarc_sep, rarc) = match rarc {
        Some(r) => (", ", r.as_str()),
        None => ("", ""),
    };
    let codes = format_args!("CO-{}{rarc_sep}{rarc}", carc.as_str());
    d.reason = match &d.suggestion {
        Some(s) => reason!(
            "{label}: {says}; {why} ({codes}). Authorization {s} on file covers this service: attach it (REF*G1) and resubmit as a replacement claim (frequency 7)."
        ),
        None => {
            let next = match f {
                Failure::NoNumber | Failure::NotOnFile => "Obtain prior authorization, or correct the number, and resubmit.",
                Failure::StatusDenied => "The request was denied by utilization management; the provider may appeal that decision.",
                Failure::NoUnits => "Ask utilization management to extend the authorization before billing more units.",
                _ => "Obtain an authorization that covers this service and resubmit.",
            };
            reason!("{label}: {says}; {why} ({codes}). {next}")
        }
    };
}

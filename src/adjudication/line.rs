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
use super::units::{self, Inpatient, LineUse, StayDays, Usage};
use super::{claim_status, Adjudicator};
use crate::authorizations::UnitType;

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
            key: MemberKey::of_member(claim.member()),
            auths: Cell::new(None),
        };
        // The first number's lookup is kept whether or not it is on file.
        let resolved: Vec<(Option<Matched<'_>>, Option<Option<AuthId>>)> = claim
            .lines
            .iter()
            .map(|line| {
                let rule = self.rules.matched(&self.facts(claim, line));
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
        // SPEC §3.2: on an inpatient claim the accommodation lines' days
        // are judged in day order over the claim; the other lines keep
        // their places (units are consumed in line order).
        let layout = units::layout(claim);
        if layout.is_empty() {
            // Not inpatient (the usual case): in line order, nothing to lay out.
            for (line, &(rule, first)) in claim.lines.iter().zip(&resolved) {
                let use_ = LineUse::of(claim, line, None);
                let d = self.line(
                    claim,
                    &member,
                    line,
                    &use_,
                    rule,
                    first,
                    book,
                    &mut consumption,
                );
                lines.push(d);
            }
        } else {
            let mut decided: Vec<Option<LineDecision>> = vec![None; claim.lines.len()];
            for i in day_order(&layout) {
                let (Some(line), Some(&(rule, first)), Some(&inpatient)) =
                    (claim.lines.get(i), resolved.get(i), layout.get(i))
                else {
                    continue;
                };
                let use_ = LineUse::of(claim, line, inpatient);
                let d = self.line(
                    claim,
                    &member,
                    line,
                    &use_,
                    rule,
                    first,
                    book,
                    &mut consumption,
                );
                if let Some(slot) = decided.get_mut(i) {
                    *slot = Some(d);
                }
            }
            lines.extend(decided.into_iter().flatten());
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
        use_: &LineUse,
        rule: Option<Matched<'_>>,
        resolved: Option<Option<AuthId>>,
        book: &mut AuthBook,
        consumption: &mut Vec<Consumption>,
    ) -> LineDecision {
        let mut d = self.base_line(claim, line);
        let dates = claim.line_dates(line);
        let label = line_label(line, dates.as_ref());
        let Some(Matched { rule, says }) = rule else {
            if self.reasons {
                d.reason = self.not_required_reason(claim, line, &label);
            }
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
            use_,
            label: &label,
            says,
            reasons: self.reasons,
        };
        let chosen = self.choose(&at, resolved, book);
        d.authorization = chosen.number.map(str::to_string);
        let num = chosen.number.unwrap_or_default();
        // What the chosen authorization counts, and a stay line's days
        // judged, read before the book is written to.
        let unit_type = chosen.found.map_or(UnitType::Units, |(_, t)| t.unit_type);
        let usage = use_.usage(unit_type);
        let stay = match (usage, chosen.found, &chosen.result) {
            (Usage::Stay(Some(span)), Some((_, t)), Ok(())) => Some(StayDays::judge(span, t)),
            _ => None,
        };
        match &chosen.result {
            Ok(()) => {
                let (id, total, remaining) = terms_of(&chosen);
                match (usage, stay) {
                    (_, Some(days)) => {
                        let covers = chosen.found.map(|(_, t)| DateRange {
                            start: t.start_date,
                            end: t.end_date,
                        });
                        stay_line(&at, &mut d, num, (total, remaining), covers, days);
                        if days.approved > 0 {
                            let n = Decimal::from(days.approved);
                            take(book, consumption, id, num, line.number, n);
                        }
                    }
                    (Usage::Ancillary(_), _) => {
                        d.decision = Decision::Approved;
                        if self.reasons {
                            d.reason = reason!(
                                "{label}: {says}; authorization {num} covers it: an ancillary service of the inpatient stay within the authorization's dates; it consumes no days."
                            );
                        }
                    }
                    (Usage::Visits, _) => {
                        approve(&at, &mut d, num, total, remaining, unit_type);
                        take(book, consumption, id, num, line.number, Decimal::ONE);
                    }
                    _ => {
                        approve(&at, &mut d, num, total, remaining, unit_type);
                        take(book, consumption, id, num, line.number, line.units);
                    }
                }
            }
            Err(Failure::Pending) => pend(&at, &mut d, num),
            Err(Failure::TooFewUnits(remaining)) => {
                let remaining = *remaining;
                let (id, total, _) = terms_of(&chosen);
                partial(&at, &mut d, num, total, remaining, unit_type);
                take(book, consumption, id, num, line.number, remaining);
            }
            Err(f) => {
                let why = Why {
                    failure: f.clone(),
                    num,
                    terms: chosen.found.map(|(_, t)| t),
                    record: chosen.found.and_then(|(id, _)| book.record(id)),
                    line,
                    dates: chosen.found.map_or(use_.dates, |_| use_.row8_dates(usage)),
                };
                if f.suggests() {
                    d.suggestion = self.suggestion(claim, member, line, book, use_);
                }
                deny(&at, &mut d, f, &why);
            }
        }
        d
    }

    /// Why a line needs no PA: an emergency exempt from a rule, or no rule.
    fn not_required_reason(&self, claim: &Claim, line: &ServiceLine, label: &Label<'_>) -> String {
        let facts = self.facts(claim, line);
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
            // Most lines: the label and a constant, pushed, not formatted.
            None => {
                let mut s = String::with_capacity(160);
                let _ = label.write_to(&mut s);
                s.push_str(": no Section 5.1 rule requires prior authorization for this service; no authorization is needed.");
                s
            }
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
            let c = self.check(at.claim, at.member, at.line, n, found, book, at.use_);
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

/// The order an inpatient claim's lines are decided in: line order, except
/// that the accommodation lines take the accommodation positions in order
/// of their first day (SPEC §3.2: days are judged in day order over the
/// claim; the other lines keep their places).
fn day_order(layout: &[Option<Inpatient>]) -> Vec<usize> {
    let start = |i: &usize| match layout.get(*i).copied().flatten() {
        Some(Inpatient::Accommodation(span)) => Some(span.map(|s| s.start)),
        _ => None,
    };
    let mut order: Vec<usize> = (0..layout.len()).collect();
    let slots: Vec<usize> = order
        .iter()
        .copied()
        .filter(|i| start(i).is_some())
        .collect();
    let mut by_day = slots.clone();
    by_day.sort_by_key(start);
    for (slot, line) in slots.into_iter().zip(by_day) {
        if let Some(o) = order.get_mut(slot) {
            *o = line;
        }
    }
    order
}

/// What a line's reason is written from, found once.
struct Line<'c, 'm> {
    claim: &'c Claim,
    member: &'m Member<'c>,
    line: &'c ServiceLine,
    use_: &'m LineUse,
    label: &'m Label<'c>,
    /// The rule's sentence ("MRI requires prior authorization under …").
    says: &'c str,
    /// Write the line's reason ([`Adjudicator::without_reasons`]).
    reasons: bool,
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

/// Row 12: approved, units (or one visit) consumed.
fn approve(
    at: &Line<'_, '_>,
    d: &mut LineDecision,
    num: &str,
    total: Option<Decimal>,
    remaining: Option<Decimal>,
    unit_type: UnitType,
) {
    let Line {
        line, label, says, ..
    } = at;
    d.decision = Decision::Approved;
    let (one, many) = unit_type.nouns();
    let used = match unit_type {
        UnitType::Visits => Decimal::ONE,
        _ => line.units,
    };
    let left = |r: Decimal| r - used;
    if !at.reasons {
        return;
    }
    d.reason = match (unit_type, remaining) {
        (UnitType::Visits, Some(r)) => reason!(
            "{label}: {says}; authorization {num} covers it: {} {} approved as one visit; {} of {} visits remain.",
            u(line.units),
            plural(line.units),
            u(left(r)),
            u(total.unwrap_or_default())
        ),
        (UnitType::Visits, None) => reason!(
            "{label}: {says}; authorization {num} covers it: {} {} approved as one visit; the authorization has no visit limit.",
            u(line.units),
            plural(line.units)
        ),
        (_, Some(r)) => reason!(
            "{label}: {says}; authorization {num} covers it: {} {} approved; {} of {} {many} remain.",
            u(line.units),
            if line.units == Decimal::ONE { one } else { many },
            u(left(r)),
            u(total.unwrap_or_default())
        ),
        (_, None) => reason!(
            "{label}: {says}; authorization {num} covers it: {} {} approved; the authorization has no {one} limit.",
            u(line.units),
            if line.units == Decimal::ONE { one } else { many },
        ),
    };
}

/// SPEC §3.2: an accommodation line of an inpatient stay under a days
/// authorization, its days judged one by one. One adjustment per group of
/// denied days, in the order 197, 302, 198; the last takes what is left of
/// the rounded total, so a fully denied line adjusts exactly its charge.
fn stay_line(
    at: &Line<'_, '_>,
    d: &mut LineDecision,
    num: &str,
    (total, remaining): (Option<Decimal>, Option<Decimal>),
    covers: Option<DateRange>,
    days: StayDays,
) {
    let Line {
        line, label, says, ..
    } = at;
    let denied = days.denied();
    let billed = line.units;
    let share = |n: u32| {
        if billed.is_zero() {
            Decimal::ZERO
        } else {
            round_cents(line.charge * Decimal::from(n) / billed)
        }
    };
    let groups = [
        (Carc::C197, days.before),
        (Carc::C302, days.after),
        (Carc::C198, days.exceeded),
    ];
    let last = groups.iter().rposition(|&(_, n)| n > 0);
    let mut so_far = Decimal::ZERO;
    for (k, &(carc, n)) in groups.iter().enumerate() {
        if n == 0 {
            continue;
        }
        let amount = if Some(k) == last {
            share(denied) - so_far
        } else {
            share(n)
        };
        so_far += amount;
        d.adjustments.push(Adjustment {
            group: Group::CO,
            carc,
            amount: money(amount),
            units: Decimal::from(n),
        });
    }
    if days.before + days.after > 0 {
        d.remarks.push(crate::model::carc::Rarc::N351);
    }
    let denied_units = Decimal::from(denied).min(billed.max(Decimal::ZERO));
    d.units_denied = denied_units;
    d.units_approved = billed - denied_units;
    d.decision = if denied == 0 {
        Decision::Approved
    } else if days.approved == 0 {
        Decision::Denied
    } else {
        Decision::Partial
    };
    if !at.reasons {
        return;
    }
    let approved = Decimal::from(days.approved);
    let left = match remaining {
        Some(r) => reason!(
            "{} of {} days remain",
            u((r - approved).max(Decimal::ZERO)),
            u(total.unwrap_or_default())
        ),
        None => "the authorization has no day limit".to_string(),
    };
    let mut why = String::new();
    for (n, text) in [
        (
            days.before,
            "before the authorization starts (CO-197, N351)",
        ),
        (days.after, "after the authorization ends (CO-302, N351)"),
        (days.exceeded, "beyond the authorized days (CO-198)"),
    ] {
        if n > 0 {
            why.push_str(&reason!(
                "; {n} day{} denied {text}",
                if n == 1 { "" } else { "s" }
            ));
        }
    }
    d.reason = reason!(
        "{label}: {says}; authorization {num} covers {} for the inpatient stay: {} of {} day{} approved{why}; {left}.",
        covers
            .map(|c| reason!("{}..{}", crate::model::Ymd(c.start), crate::model::Ymd(c.end)))
            .unwrap_or_default(),
        days.approved,
        u(billed),
        if billed == Decimal::ONE { "" } else { "s" }
    );
}

/// Row 6: pended, not final.
fn pend(at: &Line<'_, '_>, d: &mut LineDecision, num: &str) {
    let Line { label, says, .. } = at;
    d.decision = Decision::Pended;
    d.units_approved = Decimal::ZERO;
    if !at.reasons {
        return;
    }
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
    unit_type: UnitType,
) {
    let Line {
        line, label, says, ..
    } = at;
    let (one, many) = unit_type.nouns();
    let plural = |n: Decimal| if n == Decimal::ONE { one } else { many };
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
    if !at.reasons {
        return;
    }
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
    if !at.reasons {
        return;
    }
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

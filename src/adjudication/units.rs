//! SPEC §3.2 dates and units: which days rows 8a/8b judge (RR rentals on
//! their first day), and what a line uses of an authorization counted in
//! units, visits or inpatient days.

use chrono::{Days, NaiveDate};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use crate::authorizations::{Terms, UnitType};
use crate::model::{Claim, ClaimKind, DateRange, ServiceLine};

/// Facility type codes (CLM05-1) of an inpatient claim (SPEC §3.2).
const INPATIENT: [&str; 4] = ["11", "18", "21", "41"];

/// True for an 837I whose facility type code is an inpatient one.
pub(super) fn is_inpatient(claim: &Claim) -> bool {
    claim.kind == ClaimKind::Institutional && INPATIENT.contains(&claim.facility_code.as_str())
}

/// True for an accommodation revenue code (0100-0219): the line bills days.
pub(super) fn is_accommodation(revenue: Option<&str>) -> bool {
    revenue.is_some_and(|r| r.len() == 4 && ("0100"..="0219").contains(&r))
}

/// The days an accommodation line bills, laid end to end over the stay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct DaySpan {
    /// Its first day.
    pub(super) start: NaiveDate,
    /// How many days (its units).
    pub(super) days: u32,
}

impl DaySpan {
    /// The days, in order.
    pub(super) fn iter(self) -> impl Iterator<Item = NaiveDate> {
        (0..self.days).filter_map(move |i| self.start.checked_add_days(Days::new(u64::from(i))))
    }
}

/// What a line of an inpatient claim is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Inpatient {
    /// An accommodation line: its days (None: no date to start from).
    Accommodation(Option<DaySpan>),
    /// Any other line: its service date (own DTP*472, else the statement
    /// from-date).
    Ancillary(Option<NaiveDate>),
}

/// Lays out the lines of a claim (SPEC §3.2): None for every line unless
/// the claim is inpatient. Accommodation lines are laid end to end in line
/// order from the statement from-date; one with its own DTP*472 starts
/// there instead.
pub(super) fn layout(claim: &Claim) -> Vec<Option<Inpatient>> {
    if !is_inpatient(claim) {
        return Vec::new();
    }
    let mut cursor = claim.statement_period.map(|p| p.start);
    claim
        .lines
        .iter()
        .map(|line| {
            if is_accommodation(line.revenue_code.as_deref()) {
                let start = line.service_date.map(|d| d.start).or(cursor);
                let days = billed_days(line.units);
                let span = start.map(|start| DaySpan { start, days });
                cursor = start.and_then(|s| s.checked_add_days(Days::new(u64::from(days))));
                Some(Inpatient::Accommodation(span))
            } else {
                let date = line
                    .service_date
                    .map(|d| d.start)
                    .or(claim.statement_period.map(|p| p.start))
                    .or(claim.line_dates(line).map(|d| d.start));
                Some(Inpatient::Ancillary(date))
            }
        })
        .collect()
}

/// Whole days of a line's units (never negative).
fn billed_days(units: Decimal) -> u32 {
    units.trunc().to_u32().unwrap_or(0)
}

/// What a line is, for the checks that depend on dates and unit types.
#[derive(Debug, Clone, Copy)]
pub(super) struct LineUse {
    /// The line's dates (§2.2 fallbacks).
    pub(super) dates: Option<DateRange>,
    /// Modifier RR: a rental, judged on its first day.
    pub(super) rental: bool,
    /// On an inpatient claim, what the line is.
    pub(super) inpatient: Option<Inpatient>,
}

/// How a line uses an authorization of a given unit type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Usage {
    /// Billed units (units, and days on a claim that is not inpatient).
    Units,
    /// One visit per line.
    Visits,
    /// Inpatient days, judged day by day.
    Stay(Option<DaySpan>),
    /// An ancillary line of an inpatient stay: consumes nothing.
    Ancillary(Option<NaiveDate>),
}

impl LineUse {
    /// The line as the checks see it.
    pub(super) fn of(claim: &Claim, line: &ServiceLine, inpatient: Option<Inpatient>) -> Self {
        LineUse {
            dates: claim.line_dates(line),
            rental: line
                .procedure
                .as_ref()
                .is_some_and(|p| p.modifiers.iter().any(|m| m == "RR")),
            inpatient,
        }
    }

    /// How the line uses an authorization counted in `unit_type`.
    pub(super) fn usage(&self, unit_type: UnitType) -> Usage {
        match (unit_type, self.inpatient) {
            (UnitType::Days, Some(Inpatient::Accommodation(span))) => Usage::Stay(span),
            (UnitType::Days, Some(Inpatient::Ancillary(date))) => Usage::Ancillary(date),
            (UnitType::Visits, _) => Usage::Visits,
            _ => Usage::Units,
        }
    }

    /// The days rows 8a/8b judge under that usage: the line's dates, a
    /// rental's first day, a stay line's first day, an ancillary line's
    /// service date.
    pub(super) fn row8_dates(&self, usage: Usage) -> Option<DateRange> {
        match usage {
            Usage::Stay(span) => span.map(|s| DateRange::day(s.start)),
            Usage::Ancillary(date) => date.map(DateRange::day),
            Usage::Units | Usage::Visits if self.rental => {
                self.dates.map(|d| DateRange::day(d.start))
            }
            Usage::Units | Usage::Visits => self.dates,
        }
    }
}

/// The days of a stay line judged one by one (SPEC §3.2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct StayDays {
    /// Approved (one day consumed each).
    pub(super) approved: u32,
    /// Before the authorization's start: CO-197, N351.
    pub(super) before: u32,
    /// After its end: CO-302, N351.
    pub(super) after: u32,
    /// Within its dates but no day left: CO-198.
    pub(super) exceeded: u32,
}

impl StayDays {
    /// Judges each day of `span` against `terms`, days remaining as they are.
    pub(super) fn judge(span: DaySpan, terms: &Terms) -> Self {
        let mut left = terms.remaining();
        let mut out = StayDays::default();
        for day in span.iter() {
            if day < terms.start_date {
                out.before += 1;
            } else if day > terms.end_date {
                out.after += 1;
            } else {
                match left {
                    None => out.approved += 1,
                    Some(r) if r >= Decimal::ONE => {
                        out.approved += 1;
                        left = Some(r - Decimal::ONE);
                    }
                    Some(_) => out.exceeded += 1,
                }
            }
        }
        out
    }

    /// Days denied.
    pub(super) fn denied(&self) -> u32 {
        self.before + self.after + self.exceeded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accommodation_codes_are_0100_to_0219() {
        assert!(is_accommodation(Some("0100")));
        assert!(is_accommodation(Some("0120")));
        assert!(is_accommodation(Some("0219")));
        assert!(!is_accommodation(Some("0220")));
        assert!(!is_accommodation(Some("0099")));
        assert!(!is_accommodation(Some("0250")));
        assert!(!is_accommodation(Some("120")));
        assert!(!is_accommodation(None));
    }

    #[test]
    fn fractional_and_negative_units_give_whole_days() {
        assert_eq!(billed_days(Decimal::new(25, 1)), 2);
        assert_eq!(billed_days(Decimal::NEGATIVE_ONE), 0);
        assert_eq!(billed_days(Decimal::from(5)), 5);
    }
}

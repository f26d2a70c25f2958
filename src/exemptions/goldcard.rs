//! The gold-card computation (SPEC §3.5): from authorization history, the
//! providers whose requests under a rule are approved often enough to be
//! exempt from it for the next period. A pure function of the records,
//! the rule set and the parameters; the caller reads the clock.

use std::collections::BTreeMap;

use chrono::{Months, NaiveDate};
use rust_decimal::Decimal;
use serde::Serialize;

use super::Exemption;
use crate::authorizations::{AuthStatus, Authorization};
use crate::model::CodeSpec;
use crate::rules::RuleSet;

/// What a computation is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Params {
    /// The evaluation date.
    pub as_of: NaiveDate,
    /// Months of history before `as_of` (default 12).
    pub lookback_months: u32,
    /// Fewest requests that earn an exemption (default 5).
    pub min_requests: u32,
    /// Lowest approval rate that earns one (default 0.90).
    pub threshold: Decimal,
    /// Months the exemption lasts from `as_of` (default 6).
    pub period_months: u32,
}

impl Params {
    /// The defaults of SPEC §3.5 at `as_of`.
    pub fn defaults(as_of: NaiveDate) -> Self {
        Params {
            as_of,
            lookback_months: 12,
            min_requests: 5,
            threshold: Decimal::new(90, 2),
            period_months: 6,
        }
    }

    /// The lookback window: from `as_of` less `lookback_months` (inclusive)
    /// to the day before `as_of` (inclusive). None when out of the calendar.
    pub fn window(&self) -> Option<(NaiveDate, NaiveDate)> {
        let start = self
            .as_of
            .checked_sub_months(Months::new(self.lookback_months))?;
        let end = self.as_of.pred_opt()?;
        Some((start, end))
    }

    /// The exemption period: from `as_of` (inclusive) to the day before
    /// `as_of` plus `period_months` (inclusive).
    pub fn period(&self) -> Option<(NaiveDate, NaiveDate)> {
        let end = self
            .as_of
            .checked_add_months(Months::new(self.period_months))?
            .pred_opt()?;
        Some((self.as_of, end))
    }
}

/// Why parameters cannot be computed with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamsError {
    /// Threshold outside 0..=1.
    #[error("threshold must be between 0 and 1 (got {0})")]
    Threshold(Decimal),
    /// A zero period.
    #[error("period must be at least one month")]
    Period,
    /// Dates off the calendar.
    #[error("the window or period falls outside the calendar")]
    Calendar,
}

/// One (provider, rule) of a computation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    /// The provider the authorizations were issued to.
    pub provider_npi: String,
    /// The rule whose codes they overlap.
    pub rule_id: String,
    /// Authorization records counted (every status).
    pub requests: u32,
    /// Of them, approved.
    pub approved: u32,
    /// Of them, denied.
    pub denied: u32,
    /// approved ÷ (approved + denied), four decimals; null when neither.
    #[serde(serialize_with = "ser_rate")]
    pub rate: Option<Decimal>,
    /// True when the provider earned an exemption under the rule.
    pub exempt: bool,
    /// The exemption earned, when earned.
    pub exemption: Option<Exemption>,
    /// The authorization numbers counted (the evidence), in number order.
    pub authorizations: Vec<String>,
}

fn ser_rate<S: serde::Serializer>(r: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
    match r {
        Some(d) => s.serialize_str(&d.to_string()),
        None => s.serialize_none(),
    }
}

/// A whole computation: its parameters, window, period and rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GoldCard {
    /// What was asked.
    #[serde(flatten)]
    pub params: Params,
    /// First day of the lookback window.
    pub window_start: NaiveDate,
    /// Last day of the lookback window.
    pub window_end: NaiveDate,
    /// First day of an exemption earned.
    pub period_start: NaiveDate,
    /// Last day of an exemption earned.
    pub period_end: NaiveDate,
    /// Every (provider, rule) with at least one record, by provider then
    /// rule file order.
    pub rows: Vec<Row>,
}

impl GoldCard {
    /// The exemptions earned.
    pub fn exemptions(&self) -> impl Iterator<Item = &Exemption> {
        self.rows.iter().filter_map(|r| r.exemption.as_ref())
    }
}

/// True when some code matches both specs: exact against exact or range,
/// range against range of the same length.
pub fn overlaps(a: &CodeSpec, b: &CodeSpec) -> bool {
    match (a, b) {
        (CodeSpec::Exact(x), other) | (other, CodeSpec::Exact(x)) => other.matches(x),
        (CodeSpec::Range(a1, a2), CodeSpec::Range(b1, b2)) => {
            a1.len() == b1.len() && a1 <= b2 && b1 <= a2
        }
    }
}

/// Computes the gold card over `auths` (any order; the records whose
/// start_date is in the window count) and the rules of `set`.
pub fn compute<'a>(
    auths: impl IntoIterator<Item = &'a Authorization>,
    set: &RuleSet,
    params: Params,
) -> Result<GoldCard, ParamsError> {
    if params.threshold < Decimal::ZERO || params.threshold > Decimal::ONE {
        return Err(ParamsError::Threshold(params.threshold));
    }
    if params.period_months == 0 {
        return Err(ParamsError::Period);
    }
    let (window_start, window_end) = params.window().ok_or(ParamsError::Calendar)?;
    let (period_start, period_end) = params.period().ok_or(ParamsError::Calendar)?;
    // (provider, rule position) → the records counted.
    let mut tally: BTreeMap<(&str, usize), Vec<&Authorization>> = BTreeMap::new();
    for a in auths {
        if a.start_date < window_start || a.start_date > window_end || a.codes.is_empty() {
            continue;
        }
        for (k, rule) in set.rules.iter().enumerate() {
            let hit = rule
                .codes
                .iter()
                .chain(&rule.revenue_codes)
                .any(|rc| a.codes.iter().any(|ac| overlaps(rc, ac)));
            if hit {
                tally
                    .entry((a.provider_npi.as_str(), k))
                    .or_default()
                    .push(a);
            }
        }
    }
    let rows = tally
        .into_iter()
        .filter_map(|((npi, k), mut list)| {
            let rule = set.rules.get(k)?;
            list.sort_by(|x, y| x.number.cmp(&y.number));
            let count = |s: AuthStatus| list.iter().filter(|a| a.status == s).count() as u32;
            let (approved, denied) = (count(AuthStatus::Approved), count(AuthStatus::Denied));
            let requests = list.len() as u32;
            let decided = Decimal::from(approved + denied);
            let rate = (approved + denied > 0)
                .then(|| (Decimal::from(approved) / decided).round_dp(4).normalize());
            // Compared exactly: approved ≥ threshold × decided.
            let earned = requests >= params.min_requests
                && approved + denied > 0
                && Decimal::from(approved) >= params.threshold * decided;
            Some(Row {
                provider_npi: npi.to_string(),
                rule_id: rule.id.clone(),
                requests,
                approved,
                denied,
                rate,
                exempt: earned,
                exemption: earned.then(|| Exemption::new(npi, &rule.id, period_start, period_end)),
                authorizations: list.iter().map(|a| a.number.clone()).collect(),
            })
        })
        .collect();
    Ok(GoldCard {
        params,
        window_start,
        window_end,
        period_start,
        period_end,
        rows,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::authorizations::AuthorizationRecord;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn auth(n: usize, npi: &str, codes: &str, start: &str, status: &str) -> Authorization {
        AuthorizationRecord {
            number: format!("A{n:05}"),
            member_id: "M1".into(),
            provider_npi: npi.into(),
            codes: codes.into(),
            units: Some("1".into()),
            units_used: None,
            start_date: start.into(),
            end_date: "2027-12-31".into(),
            status: status.into(),
            ..AuthorizationRecord::default()
        }
        .validate()
        .unwrap()
    }

    const MRI: &str = "5.1.2-MRI";

    fn history(approved: usize, denied: usize) -> Vec<Authorization> {
        (0..approved + denied)
            .map(|i| {
                let s = if i < approved { "approved" } else { "denied" };
                auth(i, "1234567893", "70551", "2026-03-01", s)
            })
            .collect()
    }

    fn mri_row(g: &GoldCard) -> Option<&Row> {
        g.rows.iter().find(|r| r.rule_id == MRI)
    }

    #[test]
    fn four_of_five_approved_earns_no_exemption() {
        let set = RuleSet::bundled().unwrap();
        let g = compute(&history(4, 1), &set, Params::defaults(d("2026-07-01"))).unwrap();
        let r = mri_row(&g).unwrap();
        assert_eq!((r.requests, r.approved, r.denied), (5, 4, 1));
        assert_eq!(r.rate, Some(Decimal::new(8, 1)));
        assert!(r.exemption.is_none());
    }

    #[test]
    fn nine_of_ten_approved_is_exempt_for_the_next_six_months() {
        let set = RuleSet::bundled().unwrap();
        let g = compute(&history(9, 1), &set, Params::defaults(d("2026-07-01"))).unwrap();
        let e = mri_row(&g).unwrap().exemption.clone().unwrap();
        assert_eq!(
            (e.start_date, e.end_date),
            (d("2026-07-01"), d("2026-12-31"))
        );
        assert_eq!(e.provider_npi, "1234567893");
        assert_eq!(g.exemptions().count(), 1);
    }

    #[test]
    fn fewer_than_the_minimum_earns_nothing() {
        let set = RuleSet::bundled().unwrap();
        let g = compute(&history(4, 0), &set, Params::defaults(d("2026-07-01"))).unwrap();
        assert!(mri_row(&g).unwrap().exemption.is_none());
    }

    #[test]
    fn window_is_the_twelve_months_before_the_evaluation_date() {
        let set = RuleSet::bundled().unwrap();
        let mut h = history(5, 0);
        h.push(auth(90, "1234567893", "70551", "2025-06-30", "denied"));
        h.push(auth(91, "1234567893", "70551", "2026-07-01", "denied"));
        h.push(auth(92, "1234567893", "70551", "2025-07-01", "approved"));
        let g = compute(&h, &set, Params::defaults(d("2026-07-01"))).unwrap();
        assert_eq!(
            (g.window_start, g.window_end),
            (d("2025-07-01"), d("2026-06-30"))
        );
        let r = mri_row(&g).unwrap();
        assert_eq!((r.requests, r.approved, r.denied), (6, 6, 0));
    }

    #[test]
    fn empty_codes_and_other_providers_count_apart() {
        let set = RuleSet::bundled().unwrap();
        let mut h = history(5, 0);
        h.push(auth(80, "1234567893", "", "2026-03-01", "denied"));
        h.push(auth(
            81,
            "1999999999",
            "70540-70549",
            "2026-03-01",
            "approved",
        ));
        let g = compute(&h, &set, Params::defaults(d("2026-07-01"))).unwrap();
        let rows: Vec<_> = g.rows.iter().filter(|r| r.rule_id == MRI).collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].provider_npi, "1234567893");
        assert_eq!(rows[0].requests, 5);
        assert_eq!(rows[1].requests, 1);
    }

    #[test]
    fn pending_counts_as_a_request_but_not_in_the_rate() {
        let set = RuleSet::bundled().unwrap();
        let mut h = history(4, 0);
        h.push(auth(70, "1234567893", "70551", "2026-03-01", "pending"));
        let g = compute(&h, &set, Params::defaults(d("2026-07-01"))).unwrap();
        let r = mri_row(&g).unwrap();
        assert_eq!((r.requests, r.rate), (5, Some(Decimal::ONE)));
        assert!(r.exemption.is_some());
    }

    #[test]
    fn code_specs_overlap() {
        let p = |s| CodeSpec::parse(s).unwrap();
        assert!(overlaps(&p("70540-70553"), &p("70551")));
        assert!(overlaps(&p("70551"), &p("70540-70553")));
        assert!(overlaps(&p("70540-70553"), &p("70553-70560")));
        assert!(!overlaps(&p("70540-70553"), &p("70554-70560")));
        assert!(!overlaps(&p("0610-0619"), &p("06100-06199")));
        assert!(!overlaps(&p("70551"), &p("70552")));
    }

    #[test]
    fn exactly_the_threshold_is_enough() {
        let set = RuleSet::bundled().unwrap();
        let mut p = Params::defaults(d("2026-07-01"));
        p.threshold = Decimal::new(80, 2);
        let g = compute(&history(4, 1), &set, p).unwrap();
        assert!(mri_row(&g).unwrap().exemption.is_some());
    }
}

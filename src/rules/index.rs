//! The in-memory rule index: find the first rule (in file order) that
//! requires prior authorization for a line, without scanning every rule.
//!
//! Exact codes are hashed; ranges are kept sorted by their lower end with a
//! running maximum of upper ends, so a lookup touches only ranges that can
//! contain the code. The index is immutable: a new rule set builds a new
//! index, swapped in whole (readers never see half of one).

use rustc_hash::FxHashMap as HashMap;

use chrono::NaiveDate;

use super::{Network, Rule, RuleSet};
use crate::model::{code_key as key, Claim, ClaimKind, CodeSpec, ServiceLine};

/// Ranges of one code length: (low, high, rule) sorted by low, the low
/// ends alone (what the binary search reads: a third of the cache lines),
/// and the running maximum of high ends.
#[derive(Debug, Default)]
struct SortedRanges {
    list: Vec<(u64, u64, u32)>,
    los: Vec<u64>,
    max_hi: Vec<u64>,
}

#[derive(Debug, Default)]
struct Ranges {
    /// Index = code length (1..=8).
    by_len: [SortedRanges; 9],
    /// Ranges of codes longer than 8 bytes (rare): scanned.
    long: Vec<(String, String, u32)>,
}

impl Ranges {
    fn add(&mut self, lo: &str, hi: &str, rule: u32) {
        match (key(lo), key(hi), self.by_len.get_mut(lo.len())) {
            (Some(l), Some(h), Some(bucket)) => bucket.list.push((l, h, rule)),
            _ => self.long.push((lo.to_string(), hi.to_string(), rule)),
        }
    }

    fn seal(&mut self) {
        for bucket in &mut self.by_len {
            bucket.list.sort_unstable();
            bucket.los = bucket.list.iter().map(|&(lo, _, _)| lo).collect();
            let mut m = 0u64;
            bucket.max_hi = bucket
                .list
                .iter()
                .map(|&(_, hi, _)| {
                    m = m.max(hi);
                    m
                })
                .collect();
        }
    }

    /// Calls `f` with every rule whose range holds `code`.
    fn each(&self, code: &str, mut f: impl FnMut(u32)) {
        for (lo, hi, rule) in &self.long {
            if code.len() == lo.len() && lo.as_str() <= code && code <= hi.as_str() {
                f(*rule);
            }
        }
        let (Some(k), Some(bucket)) = (key(code), self.by_len.get(code.len())) else {
            return;
        };
        let end = bucket.los.partition_point(|&lo| lo <= k);
        for i in (0..end).rev() {
            match bucket.max_hi.get(i) {
                Some(&m) if m >= k => {}
                _ => break,
            }
            if let Some(&(_, hi, rule)) = bucket.list.get(i) {
                if hi >= k {
                    f(rule);
                }
            }
        }
    }
}

/// Exact codes: packed keys for codes up to 8 bytes, strings beyond.
#[derive(Debug, Default)]
struct Exact {
    short: HashMap<u64, Vec<u32>>,
    long: HashMap<String, Vec<u32>>,
}

impl Exact {
    fn add(&mut self, code: &str, rule: u32) {
        match key(code) {
            Some(k) => self.short.entry(k).or_default().push(rule),
            None => self.long.entry(code.to_string()).or_default().push(rule),
        }
    }

    fn get(&self, code: &str) -> &[u32] {
        let found = match key(code) {
            Some(k) => self.short.get(&k),
            None => self.long.get(code),
        };
        found.map_or(&[], Vec::as_slice)
    }
}

/// An immutable index over one rule set.
#[derive(Debug)]
pub struct RulesIndex {
    set: RuleSet,
    /// Per rule, what reasons say of it, written once: "prior
    /// authorization is required under Section 5.1 (rule 5.1-MRI: MRI)".
    says: Vec<Box<str>>,
    /// Per rule, its conditions, packed.
    conditions: Vec<Conditions>,
    codes: Exact,
    code_ranges: Ranges,
    revenue: Exact,
    revenue_ranges: Ranges,
    bill_types: Exact,
    /// `network = "out"` rules without codes: candidates for every line.
    every_line: Vec<u32>,
}

/// The rule that requires PA for a line.
#[derive(Debug, Clone, Copy)]
pub struct Matched<'a> {
    /// The rule.
    pub rule: &'a Rule,
    /// "prior authorization is required under Section … (rule …: …)".
    pub says: &'a str,
}

/// What the index needs to know about a line.
#[derive(Debug, Clone, Copy)]
pub struct LineFacts<'a> {
    /// Procedure code.
    pub procedure: Option<&'a str>,
    /// 837I revenue code.
    pub revenue_code: Option<&'a str>,
    /// 837I facility type code (CLM05-1).
    pub bill_type: Option<&'a str>,
    /// Service date used for rule matching (first day of the line's dates).
    pub date: Option<NaiveDate>,
    /// Line of business.
    pub line_of_business: crate::model::LineOfBusiness,
    /// Place of service.
    pub place_of_service: Option<&'a str>,
    /// Billed units.
    pub units: rust_decimal::Decimal,
    /// Line charge.
    pub charge: rust_decimal::Decimal,
    /// Emergency line (SPEC §2.2).
    pub emergency: bool,
    /// The billing provider is out of network on the service date (§2.4).
    pub out_of_network: bool,
}

impl<'a> LineFacts<'a> {
    /// The facts of `line` on `claim`.
    pub fn of(claim: &'a Claim, line: &'a ServiceLine) -> Self {
        LineFacts {
            procedure: line.procedure.as_ref().map(|p| p.code.as_str()),
            revenue_code: line.revenue_code.as_deref(),
            bill_type: (claim.kind == ClaimKind::Institutional)
                .then_some(claim.facility_code.as_str()),
            date: claim.line_dates(line).map(|d| d.start),
            line_of_business: claim.line_of_business(),
            place_of_service: claim.line_place_of_service(line),
            units: line.units,
            charge: line.charge,
            emergency: claim.line_is_emergency(line),
            out_of_network: false,
        }
    }
}

/// A rule's conditions of SPEC §2.2 other than its codes, packed into one
/// cache line: lookups test candidates here instead of reading the whole
/// [`Rule`] (its strings and vectors span several lines). Places of
/// service, rarely set, are read from the rule.
#[derive(Debug, Clone)]
struct Conditions {
    effective: NaiveDate,
    expires: Option<NaiveDate>,
    /// Bit per line of business; 0 means all.
    lines_of_business: u8,
    has_places: bool,
    emergency_exempt: bool,
    /// `only_bill_types` is set (the list is read from the rule).
    has_only_bill_types: bool,
    network_out: bool,
    units_over: Option<rust_decimal::Decimal>,
    charge_over: Option<rust_decimal::Decimal>,
}

fn lob_bit(l: crate::model::LineOfBusiness) -> u8 {
    use crate::model::LineOfBusiness::*;
    match l {
        Commercial => 1,
        Medicare => 2,
        Medicaid => 4,
    }
}

impl Conditions {
    fn of(r: &Rule) -> Self {
        Conditions {
            effective: r.effective,
            expires: r.expires,
            lines_of_business: r.lines_of_business.iter().fold(0, |m, &l| m | lob_bit(l)),
            has_places: !r.places_of_service.is_empty(),
            emergency_exempt: r.emergency_exempt,
            has_only_bill_types: !r.only_bill_types.is_empty(),
            network_out: r.network == Network::Out,
            units_over: r.units_over,
            charge_over: r.charge_over,
        }
    }

    fn hold(&self, rule: &Rule, f: &LineFacts<'_>) -> bool {
        if let Some(d) = f.date {
            if d < self.effective || self.expires.is_some_and(|x| d > x) {
                return false;
            }
        }
        if self.lines_of_business != 0 && self.lines_of_business & lob_bit(f.line_of_business) == 0
        {
            return false;
        }
        if self.units_over.is_some_and(|u| f.units <= u) {
            return false;
        }
        if self.charge_over.is_some_and(|c| f.charge <= c) {
            return false;
        }
        if self.emergency_exempt && f.emergency {
            return false;
        }
        if self.network_out && !f.out_of_network {
            return false;
        }
        if self.has_only_bill_types
            && !f
                .bill_type
                .is_some_and(|b| rule.only_bill_types.iter().any(|x| x == b))
        {
            return false;
        }
        !self.has_places
            || f.place_of_service
                .is_some_and(|p| rule.places_of_service.iter().any(|x| x == p))
    }
}

impl RulesIndex {
    /// Builds the index.
    pub fn new(set: RuleSet) -> Self {
        let mut ix = RulesIndex {
            codes: Exact::default(),
            code_ranges: Ranges::default(),
            revenue: Exact::default(),
            revenue_ranges: Ranges::default(),
            bill_types: Exact::default(),
            every_line: Vec::new(),
            conditions: set.rules.iter().map(Conditions::of).collect(),
            says: set
                .rules
                .iter()
                .map(|r| {
                    format!(
                        "prior authorization is required under Section {} (rule {}: {})",
                        r.section, r.id, r.title
                    )
                    .into()
                })
                .collect(),
            set: RuleSet {
                version: String::new(),
                source: String::new(),
                rules: Vec::new(),
            },
        };
        for (i, rule) in set.rules.iter().enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            for c in &rule.codes {
                match c {
                    CodeSpec::Exact(code) => ix.codes.add(code, i),
                    CodeSpec::Range(lo, hi) => ix.code_ranges.add(lo, hi, i),
                }
            }
            for c in &rule.revenue_codes {
                match c {
                    CodeSpec::Exact(code) => ix.revenue.add(code, i),
                    CodeSpec::Range(lo, hi) => ix.revenue_ranges.add(lo, hi, i),
                }
            }
            for b in &rule.bill_types {
                ix.bill_types.add(b, i);
            }
            if rule.network == Network::Out
                && rule.codes.is_empty()
                && rule.revenue_codes.is_empty()
                && rule.bill_types.is_empty()
            {
                ix.every_line.push(i);
            }
        }
        ix.code_ranges.seal();
        ix.revenue_ranges.seal();
        ix.set = set;
        ix
    }

    /// The rule set behind the index.
    pub fn rule_set(&self) -> &RuleSet {
        &self.set
    }

    /// Version of the rule set, recorded with every decision.
    pub fn version(&self) -> &str {
        &self.set.version
    }

    /// The first rule, in file order, that requires PA for these facts.
    pub fn lookup(&self, f: &LineFacts<'_>) -> Option<&Rule> {
        self.matched(f).map(|m| m.rule)
    }

    /// [`RulesIndex::lookup`], with what reasons say of the rule.
    pub fn matched(&self, f: &LineFacts<'_>) -> Option<Matched<'_>> {
        let mut best = u32::MAX;
        let rules = &self.set.rules;
        let mut consider = |i: u32| {
            if i < best
                && matches!(
                    (self.conditions.get(i as usize), rules.get(i as usize)),
                    (Some(c), Some(r)) if c.hold(r, f)
                )
            {
                best = i;
            }
        };
        if let Some(code) = f.procedure {
            for &i in self.codes.get(code) {
                consider(i);
            }
            self.code_ranges.each(code, &mut consider);
        }
        if let Some(code) = f.revenue_code {
            for &i in self.revenue.get(code) {
                consider(i);
            }
            self.revenue_ranges.each(code, &mut consider);
        }
        if let Some(bt) = f.bill_type {
            for &i in self.bill_types.get(bt) {
                consider(i);
            }
        }
        if f.out_of_network {
            for &i in &self.every_line {
                consider(i);
            }
        }
        Some(Matched {
            rule: rules.get(best as usize)?,
            says: self.says.get(best as usize)?,
        })
    }

    /// Convenience: the rule for a line of a claim.
    pub fn rule_for(&self, claim: &Claim, line: &ServiceLine) -> Option<&Rule> {
        self.lookup(&LineFacts::of(claim, line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LineOfBusiness;
    use rust_decimal::Decimal;

    /// SPEC §2.2's conditions other than the code match, written plainly
    /// from the rule: what the packed conditions must answer.
    fn applies_to(rule: &Rule, f: &LineFacts<'_>) -> bool {
        if let Some(d) = f.date {
            if d < rule.effective || rule.expires.is_some_and(|x| d > x) {
                return false;
            }
        }
        if !rule.lines_of_business.is_empty()
            && !rule.lines_of_business.contains(&f.line_of_business)
        {
            return false;
        }
        if !rule.places_of_service.is_empty()
            && !f
                .place_of_service
                .is_some_and(|p| rule.places_of_service.iter().any(|x| x == p))
        {
            return false;
        }
        if rule.units_over.is_some_and(|u| f.units <= u) {
            return false;
        }
        if rule.charge_over.is_some_and(|c| f.charge <= c) {
            return false;
        }
        if !rule.only_bill_types.is_empty()
            && !f
                .bill_type
                .is_some_and(|b| rule.only_bill_types.iter().any(|x| x == b))
        {
            return false;
        }
        if rule.network == Network::Out && !f.out_of_network {
            return false;
        }
        !(rule.emergency_exempt && f.emergency)
    }

    /// The packed conditions answer as SPEC §2.2 says, over every
    /// combination of a grid of rules and line facts.
    #[test]
    fn packed_conditions_agree_with_the_rule() {
        let day = |d| NaiveDate::from_ymd_opt(2026, 1, d).unwrap();
        let mut rules = Vec::new();
        for lobs in [
            vec![],
            vec![LineOfBusiness::Medicare],
            vec![LineOfBusiness::Commercial, LineOfBusiness::Medicaid],
        ] {
            for places in [vec![], vec!["19".to_string(), "22".to_string()]] {
                for (units_over, charge_over) in [
                    (None, None),
                    (Some(Decimal::ONE), None),
                    (None, Some(Decimal::new(150_000, 2))),
                ] {
                    for (emergency_exempt, only, network) in [
                        (true, vec![], Network::Any),
                        (false, vec![], Network::Any),
                        (true, vec!["13".to_string()], Network::Any),
                        (false, vec![], Network::Out),
                    ] {
                        for expires in [None, Some(day(20))] {
                            rules.push(Rule {
                                id: "r".into(),
                                section: "5.1".into(),
                                title: "t".into(),
                                codes: vec![],
                                revenue_codes: vec![],
                                bill_types: vec![],
                                lines_of_business: lobs.clone(),
                                places_of_service: places.clone(),
                                units_over,
                                charge_over,
                                emergency_exempt,
                                only_bill_types: only.clone(),
                                network,
                                effective: day(10),
                                expires,
                            });
                        }
                    }
                }
            }
        }
        let mut checked = 0;
        for rule in &rules {
            let c = Conditions::of(rule);
            for date in [
                None,
                Some(day(5)),
                Some(day(10)),
                Some(day(20)),
                Some(day(25)),
            ] {
                for lob in [
                    LineOfBusiness::Commercial,
                    LineOfBusiness::Medicare,
                    LineOfBusiness::Medicaid,
                ] {
                    for pos in [None, Some("11"), Some("22")] {
                        for units in [Decimal::ONE, Decimal::TWO] {
                            for charge in [Decimal::new(150_000, 2), Decimal::new(150_001, 2)] {
                                for (emergency, bill_type, out_of_network) in [
                                    (false, None, false),
                                    (true, None, false),
                                    (false, Some("13"), false),
                                    (false, Some("11"), true),
                                    (true, Some("13"), true),
                                ] {
                                    let f = LineFacts {
                                        procedure: Some("70551"),
                                        revenue_code: None,
                                        bill_type,
                                        date,
                                        line_of_business: lob,
                                        place_of_service: pos,
                                        units,
                                        charge,
                                        emergency,
                                        out_of_network,
                                    };
                                    assert_eq!(
                                        c.hold(rule, &f),
                                        applies_to(rule, &f),
                                        "{rule:?} {f:?}"
                                    );
                                    checked += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(checked > 10_000);
    }
}

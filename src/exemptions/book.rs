//! The exemptions in force, looked up by (provider NPI, rule id, date).

use std::collections::HashMap;

use chrono::NaiveDate;

use super::Exemption;

/// Exemptions in memory, by provider NPI (then rule id). Several
/// exemptions of one provider and rule may cover one date (a fresh
/// computation overlapping an imported one): the one that started
/// first answers, then the smallest id, so the answer never depends on
/// load order.
#[derive(Debug, Clone, Default)]
pub struct ExemptionBook {
    /// Per provider NPI, its exemptions by rule id, start and id (a
    /// lookup borrows the NPI: no allocation per line).
    by_npi: HashMap<String, Vec<Exemption>>,
    len: usize,
}

impl ExemptionBook {
    /// A book of `exemptions` (revoked ones must be left out by the caller).
    pub fn new(exemptions: impl IntoIterator<Item = Exemption>) -> Self {
        let mut book = ExemptionBook::default();
        for e in exemptions {
            book.insert(e);
        }
        book
    }

    /// Adds one exemption (an exemption already in the book, by id, is
    /// not added twice).
    pub fn insert(&mut self, e: Exemption) {
        let list = self.by_npi.entry(e.provider_npi.clone()).or_default();
        if list.iter().any(|x| x.id == e.id) {
            return;
        }
        let key = |x: &Exemption| (x.rule_id.clone(), x.start_date, x.id.clone());
        let at = list
            .iter()
            .position(|x| key(x) > key(&e))
            .unwrap_or(list.len());
        list.insert(at, e);
        self.len += 1;
    }

    /// The exemption of `npi` under `rule_id` that covers `date`, if any.
    pub fn find(&self, npi: &str, rule_id: &str, date: NaiveDate) -> Option<&Exemption> {
        self.by_npi
            .get(npi)?
            .iter()
            .find(|e| e.rule_id == rule_id && e.covers(date))
    }

    /// The first of `npis` (in the order given: §3.1's billing, rendering,
    /// attending) holding an exemption under `rule_id` on `date`.
    pub fn find_any<'a>(
        &self,
        npis: impl IntoIterator<Item = &'a str>,
        rule_id: &str,
        date: NaiveDate,
    ) -> Option<&Exemption> {
        if self.by_npi.is_empty() {
            return None;
        }
        npis.into_iter().find_map(|n| self.find(n, rule_id, date))
    }

    /// Number of exemptions.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the book holds none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every exemption, by provider, rule and start.
    pub fn iter(&self) -> impl Iterator<Item = &Exemption> {
        let mut keys: Vec<_> = self.by_npi.keys().collect();
        keys.sort();
        keys.into_iter()
            .filter_map(|k| self.by_npi.get(k))
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn finds_by_npi_rule_and_date_bounds_inclusive() {
        let book = ExemptionBook::new([Exemption::new(
            "1234567893",
            "R1",
            d("2026-07-01"),
            d("2026-12-31"),
        )]);
        assert!(book.find("1234567893", "R1", d("2026-07-01")).is_some());
        assert!(book.find("1234567893", "R1", d("2026-12-31")).is_some());
        assert!(book.find("1234567893", "R1", d("2027-01-01")).is_none());
        assert!(book.find("1234567893", "R1", d("2026-06-30")).is_none());
        assert!(book.find("1234567893", "R2", d("2026-08-01")).is_none());
        assert!(book.find("1234567894", "R1", d("2026-08-01")).is_none());
        let hit = book.find_any(["1111111111", "1234567893"], "R1", d("2026-08-01"));
        assert_eq!(hit.unwrap().provider_npi, "1234567893");
    }

    #[test]
    fn the_earliest_start_answers_whatever_the_order() {
        let a = Exemption::new("1234567893", "R1", d("2026-01-01"), d("2026-12-31"));
        let b = Exemption::new("1234567893", "R1", d("2026-07-01"), d("2026-12-31"));
        let one = ExemptionBook::new([a.clone(), b.clone()]);
        let two = ExemptionBook::new([b, a.clone(), a.clone()]);
        assert_eq!(two.len(), 2);
        let at = d("2026-08-01");
        assert_eq!(one.find("1234567893", "R1", at), Some(&a));
        assert_eq!(two.find("1234567893", "R1", at), Some(&a));
    }
}

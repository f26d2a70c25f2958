//! Gold-card exemptions (SPEC §3.5): one provider relieved of prior
//! authorization under one rule for a period.
//!
//! This room owns the exemption record and its deterministic id, the CSV
//! import (`provider_npi,rule_id,start_date,end_date`, all or nothing),
//! the in-memory [`ExemptionBook`] the adjudicator looks lines up in, and
//! the gold-card computation over authorization history
//! ([`goldcard::compute`]), a pure function. It uses `model`, `rules` and
//! `authorizations` only; docs/EXEMPTIONS.md records every choice the
//! specification leaves open.

mod book;
pub mod goldcard;
mod import;

pub use book::ExemptionBook;
pub use import::{import_csv, ExemptionImportError};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::authorizations::FieldProblem;
use crate::rules::RuleSet;

/// Namespace of exemption ids (UUID v5 over npi, rule and dates).
const EXEMPTION_NS: Uuid = Uuid::from_u128(0x5d3e_91a7_0c4b_4f62_b8e1_2a9c_7f40_e613);

/// One exemption: `provider_npi` needs no prior authorization under rule
/// `rule_id` for services on `start_date..=end_date`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Exemption {
    /// `EX-` and 16 hex digits, derived from the other four fields.
    pub id: String,
    /// The provider exempted (any of a line's provider NPIs, §3.1).
    pub provider_npi: String,
    /// The rule it is exempt from.
    pub rule_id: String,
    /// First day (inclusive).
    pub start_date: NaiveDate,
    /// Last day (inclusive).
    pub end_date: NaiveDate,
}

/// The deterministic id of an exemption: the same provider, rule and
/// period always give the same id, so offline runs and recomputations
/// repeat (`EX-` and the first 16 hex digits of a UUID v5).
///
/// ```
/// use chrono::NaiveDate;
/// use priorauth::exemptions::exemption_id;
/// let d = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
/// let a = exemption_id("1234567893", "5.1.2-MRI", d("2026-07-01"), d("2026-12-31"));
/// assert_eq!(a, exemption_id("1234567893", "5.1.2-MRI", d("2026-07-01"), d("2026-12-31")));
/// assert!(a.starts_with("EX-") && a.len() == 19);
/// ```
pub fn exemption_id(npi: &str, rule_id: &str, start: NaiveDate, end: NaiveDate) -> String {
    let name = format!("{npi}|{rule_id}|{start}|{end}");
    let hex = Uuid::new_v5(&EXEMPTION_NS, name.as_bytes())
        .simple()
        .to_string()
        .to_ascii_uppercase();
    format!("EX-{}", hex.get(..16).unwrap_or(&hex))
}

impl Exemption {
    /// An exemption with its deterministic id.
    pub fn new(npi: &str, rule_id: &str, start_date: NaiveDate, end_date: NaiveDate) -> Self {
        Exemption {
            id: exemption_id(npi, rule_id, start_date, end_date),
            provider_npi: npi.to_string(),
            rule_id: rule_id.to_string(),
            start_date,
            end_date,
        }
    }

    /// True when `date` is inside the period.
    pub fn covers(&self, date: NaiveDate) -> bool {
        self.start_date <= date && date <= self.end_date
    }

    /// `2026-07-01..2026-12-31`, as reasons and tables show the period.
    pub fn period(&self) -> String {
        format!("{}..{}", self.start_date, self.end_date)
    }
}

/// An exemption as text fields (a CSV row, a JSON body), before checking.
/// Fields a JSON body adds beyond these are ignored (as for
/// authorizations).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExemptionRecord {
    /// 10-digit NPI.
    pub provider_npi: String,
    /// A rule id of the rule set in force.
    pub rule_id: String,
    /// `YYYY-MM-DD`.
    pub start_date: String,
    /// `YYYY-MM-DD`, not before `start_date`.
    pub end_date: String,
}

impl ExemptionRecord {
    /// The record as an exemption, or every field that is wrong. With a
    /// rule set, a rule id it does not have is wrong too.
    pub fn validate(&self, rules: Option<&RuleSet>) -> Result<Exemption, Vec<FieldProblem>> {
        let mut problems = Vec::new();
        let mut bad = |field: &'static str, message: String| {
            problems.push(FieldProblem { field, message });
        };
        let npi = self.provider_npi.trim();
        if npi.len() != 10 || !npi.bytes().all(|b| b.is_ascii_digit()) {
            bad("provider_npi", "must be a 10-digit NPI".into());
        }
        let rule_id = self.rule_id.trim();
        if rule_id.is_empty() {
            bad("rule_id", "is required".into());
        } else if let Some(set) = rules {
            if !set.rules.iter().any(|r| r.id == rule_id) {
                bad(
                    "rule_id",
                    format!(
                        "rule {rule_id} is not in rule set {} (an exemption names a rule id of the set in force)",
                        set.version
                    ),
                );
            }
        }
        let mut date = |field: &'static str, text: &str| match NaiveDate::parse_from_str(
            text.trim(),
            "%Y-%m-%d",
        ) {
            Ok(d) => Some(d),
            Err(_) => {
                bad(field, format!("\"{text}\" is not a date (YYYY-MM-DD)"));
                None
            }
        };
        let start = date("start_date", &self.start_date);
        let end = date("end_date", &self.end_date);
        if let (Some(s), Some(e)) = (start, end) {
            if e < s {
                problems.push(FieldProblem {
                    field: "end_date",
                    message: format!("{e} is before start_date {s}"),
                });
            }
        }
        match (start, end) {
            (Some(s), Some(e)) if problems.is_empty() => Ok(Exemption::new(npi, rule_id, s, e)),
            _ => Err(problems),
        }
    }
}

impl From<&Exemption> for ExemptionRecord {
    fn from(e: &Exemption) -> Self {
        ExemptionRecord {
            provider_npi: e.provider_npi.clone(),
            rule_id: e.rule_id.clone(),
            start_date: e.start_date.to_string(),
            end_date: e.end_date.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn rec(npi: &str, rule: &str, s: &str, e: &str) -> ExemptionRecord {
        ExemptionRecord {
            provider_npi: npi.into(),
            rule_id: rule.into(),
            start_date: s.into(),
            end_date: e.into(),
        }
    }

    #[test]
    fn end_before_start_is_bad() {
        let p = rec("1234567893", "5.1.2-MRI", "2026-07-01", "2026-06-30")
            .validate(None)
            .unwrap_err();
        assert_eq!(p[0].field, "end_date");
    }

    #[test]
    fn unknown_rule_is_bad_only_with_a_rule_set() {
        let set = RuleSet::bundled().unwrap();
        let r = rec("1234567893", "no-such-rule", "2026-07-01", "2026-12-31");
        assert!(r.validate(None).is_ok());
        assert_eq!(r.validate(Some(&set)).unwrap_err()[0].field, "rule_id");
    }

    #[test]
    fn ids_differ_with_any_field() {
        let d = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let a = exemption_id("1234567893", "R", d("2026-07-01"), d("2026-12-31"));
        assert_ne!(
            a,
            exemption_id("1234567894", "R", d("2026-07-01"), d("2026-12-31"))
        );
        assert_ne!(
            a,
            exemption_id("1234567893", "R", d("2026-07-02"), d("2026-12-31"))
        );
    }
}

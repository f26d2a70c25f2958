//! The Section 5.1 rule set: the TOML format of SPEC §2.2, loaded with
//! precise errors (rule, field, why) and never half-loaded.

pub mod index;
pub mod query;

pub use index::RulesIndex;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::str::FromStr;

use crate::model::{CodeSpec, LineOfBusiness};

/// The rule set compiled into the binary (fixtures/rules/hap-5.1.toml).
pub const BUNDLED: &str = include_str!("../../fixtures/rules/hap-5.1.toml");

/// One prior-authorization rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Unique id, cited in reasons.
    pub id: String,
    /// Section of the provider manual, cited in reasons.
    pub section: String,
    /// What the rule is about, in words a person understands.
    pub title: String,
    /// CPT/HCPCS codes and ranges.
    pub codes: Vec<CodeSpec>,
    /// 837I revenue codes and ranges.
    pub revenue_codes: Vec<CodeSpec>,
    /// 837I facility type codes (CLM05-1): every line of such a claim.
    pub bill_types: Vec<String>,
    /// Lines of business the rule applies to (empty: all).
    pub lines_of_business: Vec<LineOfBusiness>,
    /// Places of service the rule applies to (empty: all).
    pub places_of_service: Vec<String>,
    /// PA needed only when line units exceed this.
    pub units_over: Option<Decimal>,
    /// PA needed only when the line charge exceeds this.
    pub charge_over: Option<Decimal>,
    /// Emergency lines need no PA (default true).
    pub emergency_exempt: bool,
    /// When set, the rule applies only to lines of 837I claims whose
    /// facility type code (CLM05-1) is listed; 837P lines never match.
    pub only_bill_types: Vec<String>,
    /// Whether the rule applies only to out-of-network billing providers.
    pub network: Network,
    /// First day the rule applies.
    pub effective: NaiveDate,
    /// Last day the rule applies, if it ends.
    pub expires: Option<NaiveDate>,
}

/// SPEC §2.2 `network`: which billing providers a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Network {
    /// Every provider (the default).
    #[default]
    Any,
    /// Only a billing provider out of network on the service date (§2.4).
    Out,
}

impl Network {
    /// The word used in rule files and answers.
    pub fn as_str(self) -> &'static str {
        match self {
            Network::Any => "any",
            Network::Out => "out",
        }
    }
}

/// A loaded rule set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSet {
    /// Version, recorded with every decision.
    pub version: String,
    /// Where the rules come from.
    pub source: String,
    /// Rules in file order (the first match is reported).
    pub rules: Vec<Rule>,
}

/// One problem in a rule file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RuleProblem {
    /// The rule's id, or `rule #N` when it has none; null for top-level keys.
    pub rule: Option<String>,
    /// The field at fault.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for RuleProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.rule {
            Some(r) => write!(f, "rule {r}, field `{}`: {}", self.field, self.message),
            None => write!(f, "field `{}`: {}", self.field, self.message),
        }
    }
}

/// A rule file that cannot be used; the rule set in force stays.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rule set not loaded ({} problem{}): {}", .problems.len(), if .problems.len() == 1 { "" } else { "s" }, .problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; "))]
pub struct RuleLoadError {
    /// Every problem found.
    pub problems: Vec<RuleProblem>,
}

const RULE_KEYS: [&str; 15] = [
    "id",
    "section",
    "title",
    "codes",
    "revenue_codes",
    "bill_types",
    "lines_of_business",
    "places_of_service",
    "units_over",
    "charge_over",
    "emergency_exempt",
    "only_bill_types",
    "network",
    "effective",
    "expires",
];

struct Loader {
    problems: Vec<RuleProblem>,
}

impl Loader {
    fn problem(&mut self, rule: &Option<String>, field: &str, message: impl Into<String>) {
        self.problems.push(RuleProblem {
            rule: rule.clone(),
            field: field.to_string(),
            message: message.into(),
        });
    }

    fn string(
        &mut self,
        t: &toml::Table,
        rule: &Option<String>,
        key: &str,
        required: bool,
    ) -> Option<String> {
        match t.get(key) {
            None if required => {
                self.problem(rule, key, "is required");
                None
            }
            None => None,
            Some(toml::Value::String(s)) if s.trim().is_empty() && required => {
                self.problem(rule, key, "must not be empty");
                None
            }
            Some(toml::Value::String(s)) => Some(s.clone()),
            Some(other) => {
                self.problem(
                    rule,
                    key,
                    format!("must be a string, not {}", other.type_str()),
                );
                None
            }
        }
    }

    fn strings(&mut self, t: &toml::Table, rule: &Option<String>, key: &str) -> Vec<String> {
        match t.get(key) {
            None => Vec::new(),
            Some(toml::Value::Array(items)) => {
                let mut out = Vec::new();
                for (i, v) in items.iter().enumerate() {
                    match v {
                        toml::Value::String(s) => out.push(s.trim().to_string()),
                        other => self.problem(
                            rule,
                            key,
                            format!("item {} must be a string, not {}", i + 1, other.type_str()),
                        ),
                    }
                }
                out
            }
            Some(other) => {
                self.problem(
                    rule,
                    key,
                    format!("must be a list of strings, not {}", other.type_str()),
                );
                Vec::new()
            }
        }
    }

    fn codes(&mut self, t: &toml::Table, rule: &Option<String>, key: &str) -> Vec<CodeSpec> {
        let raw = self.strings(t, rule, key);
        let mut out = Vec::new();
        for s in raw {
            match CodeSpec::parse(&s) {
                Ok(c) => out.push(c),
                Err(e) => self.problem(rule, key, e.to_string()),
            }
        }
        out
    }

    fn date(
        &mut self,
        t: &toml::Table,
        rule: &Option<String>,
        key: &str,
        required: bool,
    ) -> Option<NaiveDate> {
        let text = match t.get(key) {
            None => {
                if required {
                    self.problem(rule, key, "is required (YYYY-MM-DD)");
                }
                return None;
            }
            Some(toml::Value::String(s)) => s.clone(),
            Some(toml::Value::Datetime(d)) => d.to_string(),
            Some(other) => {
                self.problem(
                    rule,
                    key,
                    format!("must be a date \"YYYY-MM-DD\", not {}", other.type_str()),
                );
                return None;
            }
        };
        match NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
            Ok(d) => Some(d),
            Err(_) => {
                self.problem(
                    rule,
                    key,
                    format!("\"{text}\" is not a valid date (YYYY-MM-DD)"),
                );
                None
            }
        }
    }

    fn decimal(&mut self, t: &toml::Table, rule: &Option<String>, key: &str) -> Option<Decimal> {
        match t.get(key)? {
            toml::Value::Integer(i) if *i >= 0 => Some(Decimal::from(*i)),
            toml::Value::String(s) => match Decimal::from_str(s.trim()) {
                Ok(d) if d >= Decimal::ZERO => Some(d),
                _ => {
                    self.problem(
                        rule,
                        key,
                        format!("\"{s}\" is not a non-negative decimal number"),
                    );
                    None
                }
            },
            toml::Value::Float(_) => {
                self.problem(
                    rule,
                    key,
                    "write decimals as a string (\"500.00\") so they stay exact",
                );
                None
            }
            other => {
                self.problem(
                    rule,
                    key,
                    format!("must be a number, not {}", other.type_str()),
                );
                None
            }
        }
    }

    fn rule(&mut self, n: usize, t: &toml::Table) -> Option<Rule> {
        let before = self.problems.len();
        let id = match t.get("id") {
            Some(toml::Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            _ => None,
        };
        let name = Some(id.clone().unwrap_or_else(|| format!("#{n}")));
        if id.is_none() {
            self.problem(&name, "id", "is required: a unique non-empty string");
        }
        for key in t.keys() {
            if !RULE_KEYS.contains(&key.as_str()) {
                self.problem(
                    &name,
                    key,
                    format!("unknown key (allowed: {})", RULE_KEYS.join(", ")),
                );
            }
        }
        let section = self.string(t, &name, "section", true);
        let title = self.string(t, &name, "title", true);
        let codes = self.codes(t, &name, "codes");
        let revenue_codes = self.codes(t, &name, "revenue_codes");
        let bill_types = self.strings(t, &name, "bill_types");
        let mut lines_of_business = Vec::new();
        for lob in self.strings(t, &name, "lines_of_business") {
            match LineOfBusiness::from_word(&lob) {
                Some(l) => lines_of_business.push(l),
                None => self.problem(
                    &name,
                    "lines_of_business",
                    format!("\"{lob}\" is not one of commercial, medicare, medicaid"),
                ),
            }
        }
        let places_of_service = self.strings(t, &name, "places_of_service");
        for p in &places_of_service {
            if p.len() != 2 || !p.bytes().all(|b| b.is_ascii_digit()) {
                self.problem(
                    &name,
                    "places_of_service",
                    format!("\"{p}\" is not a two-digit place of service code"),
                );
            }
        }
        let units_over = self.decimal(t, &name, "units_over");
        let charge_over = self.decimal(t, &name, "charge_over");
        let emergency_exempt = match t.get("emergency_exempt") {
            None => true,
            Some(toml::Value::Boolean(b)) => *b,
            Some(other) => {
                self.problem(
                    &name,
                    "emergency_exempt",
                    format!("must be true or false, not {}", other.type_str()),
                );
                true
            }
        };
        let only_bill_types = self.strings(t, &name, "only_bill_types");
        for b in &only_bill_types {
            if b.len() != 2 || !b.bytes().all(|x| x.is_ascii_digit()) {
                self.problem(
                    &name,
                    "only_bill_types",
                    format!("\"{b}\" is not a two-digit facility type code"),
                );
            }
        }
        let network = match t.get("network") {
            None => Network::Any,
            Some(toml::Value::String(s)) if s == "any" => Network::Any,
            Some(toml::Value::String(s)) if s == "out" => Network::Out,
            Some(toml::Value::String(s)) => {
                self.problem(&name, "network", format!("\"{s}\" is not one of any, out"));
                Network::Any
            }
            Some(other) => {
                self.problem(
                    &name,
                    "network",
                    format!("must be \"any\" or \"out\", not {}", other.type_str()),
                );
                Network::Any
            }
        };
        let effective = self.date(t, &name, "effective", true);
        let expires = self.date(t, &name, "expires", false);
        if let (Some(e), Some(x)) = (effective, expires) {
            if x < e {
                self.problem(&name, "expires", format!("{x} is before effective {e}"));
            }
        }
        if codes.is_empty()
            && revenue_codes.is_empty()
            && bill_types.is_empty()
            && network != Network::Out
            && self.problems.len() == before
        {
            self.problem(
                &name,
                "codes",
                "the rule matches nothing: give codes, revenue_codes or bill_types (or network = \"out\")",
            );
        }
        if self.problems.len() > before {
            return None;
        }
        Some(Rule {
            id: id?,
            section: section?,
            title: title?,
            codes,
            revenue_codes,
            bill_types,
            lines_of_business,
            places_of_service,
            units_over,
            charge_over,
            emergency_exempt,
            only_bill_types,
            network,
            effective: effective?,
            expires,
        })
    }
}

impl RuleSet {
    /// The bundled Section 5.1 rule set.
    pub fn bundled() -> Result<RuleSet, RuleLoadError> {
        RuleSet::from_toml(BUNDLED)
    }

    /// Loads a rule file; every problem is reported, nothing is half-loaded.
    pub fn from_toml(text: &str) -> Result<RuleSet, RuleLoadError> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let at = e
                .span()
                .map(|r| {
                    let before = text.get(..r.start).unwrap_or_default();
                    let line = before.matches('\n').count() + 1;
                    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                    format!(" at line {line}, column {column}")
                })
                .unwrap_or_default();
            RuleLoadError {
                problems: vec![RuleProblem {
                    rule: None,
                    field: "(file)".into(),
                    message: format!("not valid TOML{at}: {}", e.message()),
                }],
            }
        })?;
        let mut l = Loader {
            problems: Vec::new(),
        };
        for key in table.keys() {
            if !["version", "source", "rule"].contains(&key.as_str()) {
                l.problem(
                    &None,
                    key,
                    "unknown top-level key (allowed: version, source, [[rule]])",
                );
            }
        }
        let version = l.string(&table, &None, "version", true).unwrap_or_default();
        let source = l.string(&table, &None, "source", false).unwrap_or_default();
        let mut rules = Vec::new();
        match table.get("rule") {
            Some(toml::Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    match item {
                        toml::Value::Table(t) => {
                            if let Some(r) = l.rule(i + 1, t) {
                                rules.push(r);
                            }
                        }
                        _ => l.problem(
                            &Some(format!("#{}", i + 1)),
                            "rule",
                            "each [[rule]] must be a table",
                        ),
                    }
                }
            }
            None => l.problem(&None, "rule", "the file has no [[rule]] entries"),
            Some(_) => l.problem(&None, "rule", "rules must be written as [[rule]] tables"),
        }
        // Duplicate ids are checked on the raw entries, so they are reported
        // even when one of the rules has other problems too.
        let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        if let Some(toml::Value::Array(items)) = table.get("rule") {
            for (i, item) in items.iter().enumerate() {
                if let Some(toml::Value::String(id)) = item.get("id") {
                    if let Some(first) = seen.insert(id.as_str(), i + 1) {
                        l.problem(
                            &Some(id.clone()),
                            "id",
                            format!(
                                "duplicate id: rules #{first} and #{} share it; ids must be unique",
                                i + 1
                            ),
                        );
                    }
                }
            }
        }
        if !l.problems.is_empty() {
            return Err(RuleLoadError {
                problems: l.problems,
            });
        }
        Ok(RuleSet {
            version,
            source,
            rules,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_rule_set_loads() {
        let rs = RuleSet::bundled().unwrap();
        assert_eq!(rs.version, "2026.11");
        assert!(rs.rules.len() >= 20);
        assert!(rs.rules.iter().any(|r| r.id == "5.1.2-MRI"));
    }

    fn problems(text: &str) -> Vec<String> {
        RuleSet::from_toml(text)
            .unwrap_err()
            .problems
            .iter()
            .map(|p| p.to_string())
            .collect()
    }

    const HEAD: &str = "version = \"t\"\n";

    #[test]
    fn unknown_key_duplicate_id_bad_range_bad_date_are_named() {
        let p = problems(&format!(
            "{HEAD}[[rule]]\nid = \"A\"\nsection = \"5.1\"\ntitle = \"t\"\ncodes = [\"1\"]\neffective = \"2026-01-01\"\ncolour = \"red\"\n\
             [[rule]]\nid = \"A\"\nsection = \"5.1\"\ntitle = \"t\"\ncodes = [\"1\"]\neffective = \"2026-01-01\"\n\
             [[rule]]\nid = \"B\"\nsection = \"5.1\"\ntitle = \"t\"\ncodes = [\"70540-7055\"]\neffective = \"2026-02-30\"\n"
        ));
        assert!(
            p.iter()
                .any(|m| m.starts_with("rule A, field `colour`: unknown key")),
            "{p:?}"
        );
        assert!(
            p.iter().any(|m| m.contains(
                "rule B, field `codes`: range \"70540-7055\" has ends of different length"
            )),
            "{p:?}"
        );
        assert!(
            p.iter().any(
                |m| m.contains("rule B, field `effective`: \"2026-02-30\" is not a valid date")
            ),
            "{p:?}"
        );
        // The duplicate is reported on its own too.
        let d = problems(&format!(
            "{HEAD}[[rule]]\nid = \"A\"\nsection = \"5.1\"\ntitle = \"t\"\ncodes = [\"1\"]\neffective = \"2026-01-01\"\n\
             [[rule]]\nid = \"A\"\nsection = \"5.1\"\ntitle = \"t\"\ncodes = [\"1\"]\neffective = \"2026-01-01\"\n"
        ));
        assert_eq!(
            d,
            ["rule A, field `id`: duplicate id: rules #1 and #2 share it; ids must be unique"]
        );
        let syntax = problems("version = \"t\"\n[[rule]]\nid = \"A\"\ncodes = [\"1\"\n");
        assert!(
            syntax[0].contains("not valid TOML at line 5, column 1"),
            "{syntax:?}"
        );
    }

    #[test]
    fn a_rule_that_can_match_nothing_is_a_load_error_unless_network_out() {
        let rule = |extra: &str| {
            format!("{HEAD}[[rule]]\nid = \"N\"\nsection = \"5.1\"\ntitle = \"t\"\neffective = \"2026-01-01\"\n{extra}")
        };
        let p = problems(&rule(""));
        assert!(
            p[0].contains("rule N, field `codes`: the rule matches nothing"),
            "{p:?}"
        );
        let p = problems(&rule("network = \"any\"\n"));
        assert!(p[0].contains("matches nothing"), "{p:?}");
        let p = problems(&rule("only_bill_types = [\"13\"]\n"));
        assert!(p[0].contains("matches nothing"), "{p:?}");
        let rs = RuleSet::from_toml(&rule("network = \"out\"\n")).unwrap();
        assert_eq!(rs.rules[0].network, Network::Out);
        let p = problems(&rule("network = \"inside\"\ncodes = [\"1\"]\n"));
        assert!(p[0].contains("rule N, field `network`"), "{p:?}");
        let p = problems(&rule("only_bill_types = [\"131\"]\ncodes = [\"1\"]\n"));
        assert!(p[0].contains("rule N, field `only_bill_types`"), "{p:?}");
    }

    #[test]
    fn floats_for_money_are_refused() {
        let p = problems(&format!(
            "{HEAD}[[rule]]\nid = \"A\"\nsection = \"5.1\"\ntitle = \"t\"\ncodes = [\"1\"]\neffective = \"2026-01-01\"\ncharge_over = 500.5\n"
        ));
        assert!(p[0].contains("charge_over"), "{p:?}");
    }

    #[test]
    fn toml_dates_and_integer_thresholds_are_accepted() {
        let rs = RuleSet::from_toml(&format!(
            "{HEAD}[[rule]]\nid = \"A\"\nsection = \"5.1\"\ntitle = \"t\"\ncodes = [\"1\"]\neffective = 2026-01-01\nunits_over = 12\ncharge_over = \"500.00\"\n"
        ))
        .unwrap();
        assert_eq!(rs.rules[0].units_over, Some(Decimal::from(12)));
        assert_eq!(rs.rules[0].effective.to_string(), "2026-01-01");
    }
}

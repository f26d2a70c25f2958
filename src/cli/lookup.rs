//! `priorauth rules ...` and `priorauth codes ...`: what payer staff ask
//! without a claim in hand ("does 70551 need PA for medicare on this date?",
//! "what does CARC 197 mean?", "will this rule file load?").

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Result};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::json;

use super::adjudicate::load_rules;
use crate::adjudication::codes;
use crate::model::LineOfBusiness;
use crate::rules::{index::LineFacts, Rule, RulesIndex};

/// What `rules check` is asked about (its command-line flags).
#[derive(Debug, Clone, Default, clap::Args, serde::Deserialize)]
pub struct CheckQuery {
    /// Procedure code (CPT/HCPCS).
    #[arg(long)]
    pub code: Option<String>,
    /// Revenue code (837I).
    #[arg(long)]
    pub revenue_code: Option<String>,
    /// Facility type code (837I CLM05-1).
    #[arg(long)]
    pub bill_type: Option<String>,
    /// Service date (YYYY-MM-DD).
    #[arg(long)]
    pub date: Option<NaiveDate>,
    /// commercial, medicare or medicaid.
    #[arg(long)]
    pub lob: Option<String>,
    /// Place of service.
    #[arg(long)]
    pub pos: Option<String>,
    /// Billed units.
    #[arg(long)]
    pub units: Option<Decimal>,
    /// Line charge.
    #[arg(long)]
    pub charge: Option<Decimal>,
    /// An emergency service.
    #[arg(long)]
    #[serde(default)]
    pub emergency: bool,
}

/// `rules validate FILE`: loads the file and says so, or lists every problem.
pub fn validate(path: &Path) -> Result<i32> {
    let set = load_rules(Some(path))?;
    println!(
        "{}",
        json!({"valid": true, "version": set.version, "rules": set.rules.len()})
    );
    Ok(super::EXIT_OK)
}

/// The answer to "does this line need PA?": the first rule that requires
/// it, or why the question cannot be answered.
pub fn check_answer(index: &RulesIndex, q: &CheckQuery) -> Result<serde_json::Value, String> {
    if q.code.is_none() && q.revenue_code.is_none() && q.bill_type.is_none() {
        return Err("give a procedure code, a revenue code or a bill type".into());
    }
    let line_of_business = match q.lob.as_deref() {
        None | Some("commercial") => LineOfBusiness::Commercial,
        Some("medicare") => LineOfBusiness::Medicare,
        Some("medicaid") => LineOfBusiness::Medicaid,
        Some(other) => return Err(format!("lob {other}: use commercial, medicare or medicaid")),
    };
    let facts = LineFacts {
        procedure: q.code.as_deref(),
        revenue_code: q.revenue_code.as_deref(),
        bill_type: q.bill_type.as_deref(),
        date: q.date,
        line_of_business,
        place_of_service: q.pos.as_deref(),
        units: q.units.unwrap_or(Decimal::ONE),
        charge: q.charge.unwrap_or(Decimal::ZERO),
        emergency: q.emergency,
    };
    Ok(match index.lookup(&facts) {
        Some(r) => json!({
            "rule_set": index.version(),
            "requires_authorization": true,
            "rule": r.id, "section": r.section, "title": r.title,
            "effective": r.effective, "expires": r.expires,
        }),
        None => json!({"rule_set": index.version(), "requires_authorization": false, "rule": null}),
    })
}

/// `rules check`: the first rule that requires PA for the described line.
pub fn check(rules: Option<&Path>, q: &CheckQuery) -> Result<i32> {
    let index = RulesIndex::new(load_rules(rules)?);
    match check_answer(&index, q) {
        Ok(answer) => println!("{answer}"),
        Err(why) => bail!("{why}"),
    }
    Ok(super::EXIT_OK)
}

/// One rule as `rules list` and `GET /v1/rules` show it.
pub fn rule_json(r: &Rule) -> serde_json::Value {
    let codes: Vec<String> = r.codes.iter().map(|c| c.to_string()).collect();
    json!({
        "rule": r.id, "section": r.section, "title": r.title,
        "codes": codes,
        "revenue_codes": r.revenue_codes.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
        "bill_types": r.bill_types,
        "lines_of_business": r.lines_of_business.iter().map(|l| l.as_str()).collect::<Vec<_>>(),
        "places_of_service": r.places_of_service,
        "units_over": r.units_over.map(|d| d.normalize().to_string()),
        "charge_over": r.charge_over.map(|d| d.normalize().to_string()),
        "emergency_exempt": r.emergency_exempt,
        "effective": r.effective, "expires": r.expires,
    })
}

/// `rules list`: every rule in file order.
pub fn list(rules: Option<&Path>) -> Result<i32> {
    let set = load_rules(rules)?;
    let mut out = std::io::stdout().lock();
    for r in &set.rules {
        // A closed pipe (`| head`) ends the listing; main treats it as success.
        writeln!(out, "{}", rule_json(r))?;
    }
    Ok(super::EXIT_OK)
}

/// `codes carc|rarc CODE`: the catalogue entry, or exit 2 when unknown.
pub fn code(list: &str, code: &str) -> Result<i32> {
    match codes::lookup(list, code) {
        Some(info) => {
            println!("{}", serde_json::to_string(info)?);
            Ok(super::EXIT_OK)
        }
        None => bail!("{list} {code} is not in priorauth's catalogue (it knows the codes it emits, and CARC 15 and 62)"),
    }
}

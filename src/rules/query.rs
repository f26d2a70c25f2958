//! Questions staff ask of the rule set without a claim in hand ("does
//! 70551 need PA for medicare on this date?"), answered the same from the
//! CLI and the API, and a rule as both list it.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::json;

use super::{index::LineFacts, Rule, RulesIndex};
use crate::model::LineOfBusiness;

/// What `rules check` is asked about (command-line flags or query string).
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
    /// The billing provider's network status on the date: `in` (default)
    /// or `out` (rules with `network = "out"` then apply).
    #[arg(long)]
    pub network: Option<String>,
}

/// The answer to "does this line need PA?": the first rule that requires
/// it, or why the question cannot be answered.
pub fn check_answer(index: &RulesIndex, q: &CheckQuery) -> Result<serde_json::Value, String> {
    if q.code.is_none() && q.revenue_code.is_none() && q.bill_type.is_none() {
        return Err("give a procedure code, a revenue code or a bill type".into());
    }
    let line_of_business = match q.lob.as_deref() {
        None => LineOfBusiness::Commercial,
        Some(word) => LineOfBusiness::from_word(word)
            .ok_or_else(|| format!("lob {word}: use commercial, medicare or medicaid"))?,
    };
    let out_of_network = match q.network.as_deref() {
        None | Some("in") | Some("any") => false,
        Some("out") => true,
        Some(word) => return Err(format!("network {word}: use in or out")),
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
        out_of_network,
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
        "only_bill_types": r.only_bill_types,
        "network": r.network.as_str(),
        "effective": r.effective, "expires": r.expires,
    })
}

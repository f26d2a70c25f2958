//! The 835 remittance advice (005010X221A1) for adjudicated claims.
//!
//! priorauth does not price claims: the paid amount of a line is its charge
//! less priorauth's own adjustments (a denied line pays 0, a partial line
//! pays the approved share). Pended claims are not final and are left out.
//! A replacement or void whose earlier decision is known (the store knows
//! it: `ClaimDecision::takes_back`) is preceded by a reversal of that
//! decision: CLP02 `22`, every amount and quantity negated. A void without
//! it is left out (nothing known to reverse).
//! Balancing holds by construction: CLP03 − CLP04 = Σ CAS, SVC02 − SVC03 =
//! Σ line CAS, BPR02 = Σ CLP04 − Σ PLB04. When reversals make a payee's
//! total negative, a PLB `FB` (forward balance) carries it and BPR02 is 0.

use chrono::{NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;

use super::write::{amount, by_billing_provider, quantity, Envelope, X12Writer};
use crate::model::ServiceLine;
use crate::model::{Claim, ClaimKind};
use crate::model::{ClaimDecision, ClaimStatus, LineDecision};

/// Payer details and envelope values for the 835.
#[derive(Debug, Clone)]
pub struct RemitConfig {
    /// Payer name (1000A N102).
    pub payer_name: String,
    /// Payer tax id, 9 digits (TRN03 is `1` + this).
    pub payer_tin: String,
    /// Payer address (N301, N401-N403).
    pub payer_address: (String, String, String, String),
    /// Technical contact phone (PER*BL).
    pub payer_phone: String,
    /// Production / check date and time (envelope and BPR16/DTM*405).
    pub created: NaiveDateTime,
    /// ISA13 / GS06 and the base of trace numbers.
    pub control_number: u32,
    /// ISA15 `T`: answering test data.
    pub test: bool,
}

impl Default for RemitConfig {
    fn default() -> Self {
        RemitConfig {
            payer_name: "HEALTH ALLIANCE PLAN".into(),
            payer_tin: "381234567".into(),
            payer_address: (
                "2850 W GRAND BLVD".into(),
                "DETROIT".into(),
                "MI".into(),
                "482022692".into(),
            ),
            payer_phone: "3135550100".into(),
            created: NaiveDate::from_ymd_opt(2026, 1, 1)
                .and_then(|d| d.and_hms_opt(12, 0, 0))
                .unwrap_or_default(),
            control_number: 1,
            test: false,
        }
    }
}

/// True when a decision has a place in an 835: final (not pended), and
/// for a void, when what it takes back is known.
pub fn remittable(d: &ClaimDecision) -> bool {
    match d.status {
        ClaimStatus::Pended => false,
        ClaimStatus::Voided => d.takes_back.is_some(),
        _ => true,
    }
}

/// The amount paid on a line (its charge less priorauth's adjustments).
pub fn line_paid(l: &crate::model::LineDecision) -> Decimal {
    l.charge - l.adjusted()
}

/// CLP02 claim status code.
fn clp02(status: ClaimStatus) -> &'static str {
    match status {
        ClaimStatus::Denied => "4",
        ClaimStatus::Voided => "22",
        _ => "1",
    }
}

/// CLP06 claim filing indicator (from SBR09; `ZZ` when none was sent).
fn filing(claim: &Claim) -> &str {
    // The 835 list lacks some 837 codes (e.g. CI, commercial): those are ZZ.
    const CLP06: [&str; 19] = [
        "12", "13", "14", "15", "16", "17", "AM", "CH", "DS", "HM", "LM", "MA", "MB", "MC", "OF",
        "TV", "VA", "WC", "ZZ",
    ];
    let f = claim.subscriber.filing_indicator.as_str();
    if CLP06.contains(&f) {
        f
    } else {
        "ZZ"
    }
}

/// Writes one 835 interchange: one transaction set per billing provider
/// (the payee), claims in input order.
pub fn write_835(items: &[(&Claim, &ClaimDecision)], cfg: &RemitConfig) -> String {
    let mut w = X12Writer::new(true);
    let date8 = cfg.created.format("%Y%m%d").to_string();
    w.begin(&Envelope {
        sender: ("ZZ", "PRIORAUTH"),
        receiver: ("ZZ", "PROVIDER"),
        app_sender: "PRIORAUTH",
        app_receiver: "PROVIDER",
        functional_id: "HP",
        version: "005010X221A1",
        created: cfg.created,
        control: cfg.control_number,
        test: cfg.test,
    });
    let payees = by_billing_provider(items.iter().copied().filter(|(_, d)| remittable(d)));
    let sets = payees.len();
    for (i, (npi, claims)) in payees.iter().enumerate() {
        let st = format!("{:04}", i + 1);
        // What each claim entry pays: reversals take back what was paid.
        let paid = |d: &ClaimDecision| d.lines.iter().map(line_paid).sum::<Decimal>();
        let total: Decimal = claims
            .iter()
            .map(|(_, d)| {
                let own = if d.status == ClaimStatus::Voided {
                    Decimal::ZERO
                } else {
                    paid(d)
                };
                own - d.takes_back.as_deref().map_or(Decimal::ZERO, paid)
            })
            .sum();
        // A negative total is carried forward (PLB FB); BPR02 cannot be negative.
        let forward = total.min(Decimal::ZERO);
        w.segment("ST", &["835", &st]);
        let bpr = format!("BPR*I*{}*C*NON************{date8}", amount(total - forward));
        let parts: Vec<&str> = bpr.split('*').skip(1).collect();
        w.segment("BPR", &parts);
        let trace = format!("{}{:04}", cfg.control_number, i + 1);
        w.segment("TRN", &["1", &trace, &format!("1{}", cfg.payer_tin)]);
        w.segment("DTM", &["405", &date8]);
        w.segment("N1", &["PR", &cfg.payer_name]);
        w.segment("N3", &[&cfg.payer_address.0]);
        w.segment(
            "N4",
            &[
                &cfg.payer_address.1,
                &cfg.payer_address.2,
                &cfg.payer_address.3,
            ],
        );
        w.segment("PER", &["BL", "EDI SUPPORT", "TE", &cfg.payer_phone]);
        let payee = claims
            .first()
            .map(|(c, _)| c.billing_name.as_str())
            .filter(|n| !n.is_empty())
            .unwrap_or("BILLING PROVIDER");
        w.segment("N1", &["PE", payee, "XX", npi]);
        w.segment("LX", &["1"]);
        for (c, d) in claims {
            if let Some(earlier) = d.takes_back.as_deref() {
                claim_payment(&mut w, c, earlier, true);
            }
            if d.status != ClaimStatus::Voided {
                claim_payment(&mut w, c, d, false);
            }
        }
        if forward < Decimal::ZERO {
            let fiscal = format!("{}1231", date8.get(..4).unwrap_or("2026"));
            w.segment(
                "PLB",
                &[
                    npi,
                    &fiscal,
                    &w.composite(&["FB", &trace]),
                    &amount(forward),
                ],
            );
        }
        w.end_set(&st);
    }
    w.end(sets, cfg.control_number);
    w.finish()
}

/// One CLP loop: a claim's payment, or (`reversal`) the reversal of an
/// earlier decision on it, with every amount and quantity negated.
fn claim_payment(w: &mut X12Writer, c: &Claim, d: &ClaimDecision, reversal: bool) {
    let sign = if reversal {
        Decimal::NEGATIVE_ONE
    } else {
        Decimal::ONE
    };
    let charge: Decimal = d.lines.iter().map(|l| l.charge).sum();
    let paid: Decimal = d.lines.iter().map(line_paid).sum();
    w.segment(
        "CLP",
        &[
            &d.claim_id,
            if reversal { "22" } else { clp02(d.status) },
            &amount(sign * charge),
            &amount(sign * paid),
            "0",
            filing(c),
            &d.payer_claim_id,
            &c.facility_code,
            &c.frequency_code,
        ],
    );
    let (last, first, qual_id) = match &c.patient {
        Some(p) => (p.last_name.clone(), p.first_name.clone(), None),
        None => (
            c.subscriber.last_name.clone(),
            c.subscriber.first_name.clone(),
            Some(c.subscriber.member_id.clone()),
        ),
    };
    let last = if last.is_empty() {
        "UNKNOWN".to_string()
    } else {
        last
    };
    match qual_id {
        Some(id) if !id.is_empty() => {
            w.segment("NM1", &["QC", "1", &last, &first, "", "", "", "MI", &id])
        }
        _ => w.segment("NM1", &["QC", "1", &last, &first]),
    }
    if c.patient.is_some() && !c.subscriber.member_id.is_empty() {
        let sl = if c.subscriber.last_name.is_empty() {
            "UNKNOWN"
        } else {
            c.subscriber.last_name.as_str()
        };
        w.segment(
            "NM1",
            &[
                "IL",
                "1",
                sl,
                &c.subscriber.first_name,
                "",
                "",
                "",
                "MI",
                &c.subscriber.member_id,
            ],
        );
    }
    for l in &d.lines {
        // The line as sent, matched by LX number (a reversal's decision is
        // the earlier claim's; its lines are normally repeated as sent).
        let src = c.lines.iter().find(|s| s.number == l.line);
        service_payment(w, c, l, src, sign);
    }
}

/// One SVC loop: the line's payment with its dates, CAS, REF*6R and LQ.
fn service_payment(
    w: &mut X12Writer,
    c: &Claim,
    l: &LineDecision,
    src: Option<&ServiceLine>,
    sign: Decimal,
) {
    let procedure = src.and_then(|s| s.procedure.as_ref());
    let composite = match (procedure, &l.procedure, c.kind) {
        (Some(p), _, _) => {
            // SVC01-1 takes the 837's qualifier when the 835 list has it
            // (de-identified files carry placeholders such as `XX`).
            const SVC01_1: [&str; 10] =
                ["AD", "ER", "HC", "HP", "IV", "N4", "N6", "NU", "UI", "WK"];
            let qualifier = if SVC01_1.contains(&&*p.qualifier) {
                &*p.qualifier
            } else {
                "HC"
            };
            let mut parts: Vec<&str> = vec![qualifier, &p.code];
            parts.extend(p.modifiers.iter().map(String::as_str));
            w.composite(&parts)
        }
        (None, Some(code), _) => {
            let mut parts: Vec<&str> = vec!["HC", code];
            parts.extend(l.modifiers.iter().map(String::as_str));
            w.composite(&parts)
        }
        (None, None, ClaimKind::Institutional) => w.composite(&[
            "NU",
            src.and_then(|s| s.revenue_code.as_deref())
                .or(l.revenue_code.as_deref())
                .unwrap_or(""),
        ]),
        (None, None, _) => w.composite(&["HC", "99499"]),
    };
    let revenue = if c.kind == ClaimKind::Institutional {
        src.and_then(|s| s.revenue_code.clone())
            .or_else(|| l.revenue_code.clone())
            .unwrap_or_default()
    } else {
        String::new()
    };
    w.segment(
        "SVC",
        &[
            &composite,
            &amount(sign * l.charge),
            &amount(sign * line_paid(l)),
            &revenue,
            &quantity(sign * l.units_approved),
        ],
    );
    let dates = match src {
        Some(s) => c.line_dates(s),
        None => None,
    };
    match (dates, l.service_date) {
        (Some(r), _) if r.start != r.end => {
            w.segment("DTM", &["150", &r.start.format("%Y%m%d").to_string()]);
            w.segment("DTM", &["151", &r.end.format("%Y%m%d").to_string()]);
        }
        (Some(r), _) => w.segment("DTM", &["472", &r.start.format("%Y%m%d").to_string()]),
        (None, Some(day)) => w.segment("DTM", &["472", &day.format("%Y%m%d").to_string()]),
        (None, None) => {}
    }
    // One CAS per group, up to six reason triplets each.
    let mut groups: Vec<(&str, Vec<String>)> = Vec::new();
    for a in &l.adjustments {
        let g = a.group.as_str();
        let triplet = [
            a.carc.as_str().to_string(),
            amount(sign * a.amount),
            quantity(sign * a.units),
        ];
        match groups.iter_mut().find(|(k, v)| *k == g && v.len() < 18) {
            Some((_, v)) => v.extend(triplet),
            None => groups.push((g, triplet.to_vec())),
        }
    }
    for (g, v) in &groups {
        let mut el: Vec<&str> = vec![g];
        el.extend(v.iter().map(String::as_str));
        w.segment("CAS", &el);
    }
    if let Some(ctl) = src.and_then(|s| s.control_number.as_ref()) {
        w.segment("REF", &["6R", ctl]);
    }
    for r in &l.remarks {
        w.segment("LQ", &["HE", r.as_str()]);
    }
}

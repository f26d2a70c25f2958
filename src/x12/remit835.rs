//! The 835 (005010X221A1) priorauth writes: a notification-only advice of
//! the claims it denied in full (SPEC §4).
//!
//! priorauth prices nothing and pays nothing. Its 835 says so: BPR01 `H`
//! (notification only), BPR02 `0`, BPR04 `NON` (non-payment data), and it
//! lists only claims whose status is `denied` (duplicates included): CLP02
//! `4`, CLP04 `0`; per line SVC03 `0`, SVC05 `0`, SVC07 the billed units,
//! the decided CAS and LQ*HE. Approved, partial, pended and voided claims
//! go on to the payer's claims system for pricing, which sends the paying
//! 835: this one never names them, states no payment, and has no
//! reversals and no PLB.
//!
//! Balancing holds by construction: CLP03 − CLP04 = Σ CAS of the claim's
//! lines, SVC02 − SVC03 = Σ CAS of the line (a denied line adjusts its
//! whole charge).
//!
//! [`Remit835`] writes one claim at a time (a transaction set per payee,
//! opened when the billing NPI changes), so a batch's 835 is streamed from
//! the store page by page; [`write_835`] is the same over claims in memory.

use chrono::{NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;

use super::write::{amount, by_billing_provider, quantity, Envelope, X12Writer};
use crate::model::{Claim, ClaimDecision, ClaimKind, ClaimStatus, LineDecision, ServiceLine};

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
    /// Production date and time (envelope, BPR16 and DTM*405).
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

/// True when a decision has a place in priorauth's 835: the claim was
/// denied in full (status `denied`, exact duplicates included).
pub fn remittable(d: &ClaimDecision) -> bool {
    d.status == ClaimStatus::Denied
}

/// One claim of the 835: its decision, the billing provider it is
/// reported under, and the 837 claim when it is at hand (patient name,
/// filing indicator, line dates and REF*6R). A batch's 835 written from
/// the store has the decision alone; what only the 837 had is left out.
#[derive(Debug, Clone, Copy)]
pub struct RemitClaim<'a> {
    /// The decision.
    pub decision: &'a ClaimDecision,
    /// Billing provider NPI (the payee, N1*PE N104).
    pub billing_npi: &'a str,
    /// CLM05-3 claim frequency code (CLP09).
    pub frequency_code: &'a str,
    /// The 837 claim, when at hand.
    pub claim: Option<&'a Claim>,
}

impl<'a> RemitClaim<'a> {
    /// A claim read from an 837 with its decision.
    pub fn of(claim: &'a Claim, decision: &'a ClaimDecision) -> Self {
        RemitClaim {
            decision,
            billing_npi: &claim.billing_npi,
            frequency_code: &claim.frequency_code,
            claim: Some(claim),
        }
    }
}

/// An 835 written claim by claim. Claims of one payee must come
/// together (a new billing NPI opens a new transaction set); claims that
/// are not [`remittable`] are skipped.
#[derive(Debug)]
pub struct Remit835 {
    w: X12Writer,
    cfg: RemitConfig,
    date8: String,
    /// Billing NPI of the open transaction set.
    payee: Option<String>,
    sets: usize,
}

impl Remit835 {
    /// Opens the interchange and its functional group.
    pub fn new(cfg: &RemitConfig) -> Self {
        let mut w = X12Writer::new(true);
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
        Remit835 {
            w,
            cfg: cfg.clone(),
            date8: cfg.created.format("%Y%m%d").to_string(),
            payee: None,
            sets: 0,
        }
    }

    /// Transaction sets opened so far.
    pub fn sets(&self) -> usize {
        self.sets
    }

    /// Adds one claim (skipped unless denied in full).
    pub fn push(&mut self, c: &RemitClaim<'_>) {
        if !remittable(c.decision) {
            return;
        }
        if self.payee.as_deref() != Some(c.billing_npi) {
            self.close_set();
            let name = c
                .claim
                .map(|claim| claim.billing_name.as_str())
                .filter(|n| !n.is_empty())
                .unwrap_or("BILLING PROVIDER");
            self.open_set(c.billing_npi, name);
        }
        claim_denial(&mut self.w, c);
    }

    /// The text written so far, taken out of the writer (to stream it).
    pub fn take(&mut self) -> String {
        self.w.take()
    }

    /// Closes the last set, the group and the interchange; the rest of the text.
    pub fn finish(mut self) -> String {
        self.close_set();
        self.w.end(self.sets, self.cfg.control_number);
        self.w.finish()
    }

    fn st(&self) -> String {
        format!("{:04}", self.sets)
    }

    fn open_set(&mut self, npi: &str, name: &str) {
        self.sets += 1;
        let st = self.st();
        let w = &mut self.w;
        let cfg = &self.cfg;
        w.segment("ST", &["835", &st]);
        // Notification only: no money moves (BPR05-BPR15 are not used with NON).
        let bpr: Vec<&str> = ["H", "0", "C", "NON"]
            .into_iter()
            .chain(std::iter::repeat("").take(11))
            .chain([self.date8.as_str()])
            .collect();
        w.segment("BPR", &bpr);
        let trace = format!("{}{st}", cfg.control_number);
        w.segment("TRN", &["1", &trace, &format!("1{}", cfg.payer_tin)]);
        w.segment("DTM", &["405", &self.date8]);
        w.segment("N1", &["PR", &cfg.payer_name]);
        w.segment("N3", &[&cfg.payer_address.0]);
        let (_, city, state, zip) = &cfg.payer_address;
        w.segment("N4", &[city, state, zip]);
        w.segment("PER", &["BL", "EDI SUPPORT", "TE", &cfg.payer_phone]);
        w.segment("N1", &["PE", name, "XX", npi]);
        w.segment("LX", &["1"]);
        self.payee = Some(npi.to_string());
    }

    fn close_set(&mut self) {
        if self.payee.take().is_some() {
            let st = self.st();
            self.w.end_set(&st);
        }
    }
}

/// Writes one 835 interchange of the claims denied in full among `items`:
/// one transaction set per billing provider (the payee), claims in input
/// order within it.
pub fn write_835(items: &[(&Claim, &ClaimDecision)], cfg: &RemitConfig) -> String {
    let mut remit = Remit835::new(cfg);
    for (_, claims) in by_billing_provider(items.iter().copied().filter(|(_, d)| remittable(d))) {
        for (c, d) in claims {
            remit.push(&RemitClaim::of(c, d));
        }
    }
    remit.finish()
}

/// CLP06 claim filing indicator (from SBR09; `ZZ` when none was sent or
/// the 835's list lacks it, e.g. `CI`).
fn filing(claim: Option<&Claim>) -> &str {
    const CLP06: [&str; 19] = [
        "12", "13", "14", "15", "16", "17", "AM", "CH", "DS", "HM", "LM", "MA", "MB", "MC", "OF",
        "TV", "VA", "WC", "ZZ",
    ];
    let f = claim.map_or("", |c| c.subscriber.filing_indicator.as_str());
    if CLP06.contains(&f) {
        f
    } else {
        "ZZ"
    }
}

/// One CLP loop: a claim denied in full.
fn claim_denial(w: &mut X12Writer, rc: &RemitClaim<'_>) {
    let d = rc.decision;
    let charge: Decimal = d.lines.iter().map(|l| l.charge).sum();
    let facility = rc.claim.map_or("", |c| c.facility_code.as_str());
    w.segment(
        "CLP",
        &[
            &d.claim_id,
            "4",
            &amount(charge),
            "0",
            "",
            filing(rc.claim),
            &d.payer_claim_id,
            facility,
            rc.frequency_code,
        ],
    );
    patient_names(w, rc.claim);
    for l in &d.lines {
        // The line as sent, matched by LX number.
        let src = rc
            .claim
            .and_then(|c| c.lines.iter().find(|s| s.number == l.line).map(|s| (c, s)));
        service_denial(w, l, src);
    }
}

/// NM1*QC (and NM1*IL for a dependent) as the 837 named them; without
/// the 837, NM1*QC with neither name nor id (both are situational).
fn patient_names(w: &mut X12Writer, claim: Option<&Claim>) {
    let Some(c) = claim else {
        w.segment("NM1", &["QC", "1"]);
        return;
    };
    let or_unknown = |s: &str| {
        if s.is_empty() {
            "UNKNOWN".to_string()
        } else {
            s.to_string()
        }
    };
    let id = &c.subscriber.member_id;
    match &c.patient {
        Some(p) => {
            w.segment(
                "NM1",
                &["QC", "1", &or_unknown(&p.last_name), &p.first_name],
            );
            if !id.is_empty() {
                let last = or_unknown(&c.subscriber.last_name);
                let first = &c.subscriber.first_name;
                w.segment("NM1", &["IL", "1", &last, first, "", "", "", "MI", id]);
            }
        }
        None => {
            let last = or_unknown(&c.subscriber.last_name);
            let first = &c.subscriber.first_name;
            if id.is_empty() {
                w.segment("NM1", &["QC", "1", &last, first]);
            } else {
                w.segment("NM1", &["QC", "1", &last, first, "", "", "", "MI", id]);
            }
        }
    }
}

/// SVC01-1 qualifiers of the 835 list (de-identified files carry
/// placeholders such as `XX`: those become `HC`).
const SVC01_1: [&str; 10] = ["AD", "ER", "HC", "HP", "IV", "N4", "N6", "NU", "UI", "WK"];

/// One SVC loop: the denied line with its dates, CAS, REF*6R and LQ*HE.
fn service_denial(w: &mut X12Writer, l: &LineDecision, src: Option<(&Claim, &ServiceLine)>) {
    let qualifier = src
        .and_then(|(_, s)| s.procedure.as_ref())
        .map(|p| &*p.qualifier)
        .filter(|q| SVC01_1.contains(q))
        .unwrap_or("HC");
    let institutional = src.is_some_and(|(c, _)| c.kind == ClaimKind::Institutional)
        || (src.is_none() && l.revenue_code.is_some());
    let (composite, revenue) = match (&l.procedure, &l.revenue_code) {
        (Some(code), rev) => {
            let mut parts: Vec<&str> = vec![qualifier, code];
            parts.extend(l.modifiers.iter().map(String::as_str));
            let rev = if institutional {
                rev.as_deref().unwrap_or("")
            } else {
                ""
            };
            (w.composite(&parts), rev)
        }
        // A revenue code alone is SVC01 `NU` (SVC04 then not used).
        (None, Some(rev)) => (w.composite(&["NU", rev]), ""),
        (None, None) => (w.composite(&["HC", "99499"]), ""),
    };
    w.segment(
        "SVC",
        &[
            &composite,
            &amount(l.charge),
            "0",
            revenue,
            "0",
            "",
            &quantity(l.units),
        ],
    );
    match src.and_then(|(c, s)| c.line_dates(s)) {
        Some(r) if r.start != r.end => {
            w.segment("DTM", &["150", &r.start.format("%Y%m%d").to_string()]);
            w.segment("DTM", &["151", &r.end.format("%Y%m%d").to_string()]);
        }
        Some(r) => w.segment("DTM", &["472", &r.start.format("%Y%m%d").to_string()]),
        None => {
            if let Some(day) = l.service_date {
                w.segment("DTM", &["472", &day.format("%Y%m%d").to_string()]);
            }
        }
    }
    // One CAS per group, up to six reason triplets each.
    let mut groups: Vec<(&str, Vec<String>)> = Vec::new();
    for a in &l.adjustments {
        let g = a.group.as_str();
        let triplet = [
            a.carc.as_str().to_string(),
            amount(a.amount),
            quantity(a.units),
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
    if let Some(ctl) = src.and_then(|(_, s)| s.control_number.as_ref()) {
        w.segment("REF", &["6R", ctl]);
    }
    for r in &l.remarks {
        w.segment("LQ", &["HE", r.as_str()]);
    }
}

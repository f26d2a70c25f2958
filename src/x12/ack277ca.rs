//! The 277CA claim acknowledgment (005010X214): which claims of a
//! submission entered adjudication.
//!
//! It acknowledges the claims of the transaction sets the 999 accepted,
//! each as A2:20 "accepted for processing" with its payer claim id
//! (REF*1K), the clearinghouse trace number it came with (REF*D9, when it
//! had one) and, for an 837I claim, its bill type (REF*BLT: facility type
//! code + frequency). Claims of rejected sets are answered by the 999
//! alone: a set rejected for its syntax was not read as claims. Claims
//! are grouped under their billing provider, input order kept.

use chrono::NaiveDateTime;
use rust_decimal::Decimal;

use super::write::{amount, by_billing_provider, Envelope, X12Writer};
use crate::model::{Claim, ClaimKind};

/// Envelope and party values for the 277CA.
#[derive(Debug, Clone)]
pub struct AckClaimsConfig {
    /// When the acknowledgment is made.
    pub created: NaiveDateTime,
    /// ISA13 / GS06 and the base of trace numbers.
    pub control_number: u32,
    /// Payer name and id (the information source).
    pub payer: (String, String),
    /// Submitter name and id (the information receiver; GS02 of the 837).
    pub submitter: (String, String),
    /// ISA15 `T`: answering test data.
    pub test: bool,
}

/// One acknowledged claim and the payer claim id it was given.
pub type AckedClaim<'a> = (&'a Claim, &'a str);

/// Writes the 277CA for the accepted claims of one submission.
pub fn write_277ca(accepted: &[AckedClaim<'_>], cfg: &AckClaimsConfig) -> String {
    let sum = |list: &[AckedClaim<'_>]| -> (usize, Decimal) {
        (list.len(), list.iter().map(|(c, _)| c.total_charge).sum())
    };
    let mut w = X12Writer::new(true);
    let date8 = cfg.created.format("%Y%m%d").to_string();
    let time = cfg.created.format("%H%M").to_string();
    let ctl = cfg.control_number.to_string();
    let receiver = if cfg.submitter.1.is_empty() {
        "SUBMITTER"
    } else {
        cfg.submitter.1.as_str()
    };
    w.begin(&Envelope {
        sender: ("ZZ", "PRIORAUTH"),
        receiver: ("ZZ", &cfg.submitter.1),
        app_sender: "PRIORAUTH",
        app_receiver: receiver,
        functional_id: "HN",
        version: "005010X214",
        created: cfg.created,
        control: cfg.control_number,
        test: cfg.test,
    });
    w.segment("ST", &["277", "0001", "005010X214"]);
    w.segment(
        "BHT",
        &["0085", "08", &format!("PA{ctl}"), &date8, &time, "TH"],
    );
    let (n_ok, total) = sum(accepted);
    // 2000A information source (the payer).
    w.segment("HL", &["1", "", "20", "1"]);
    w.segment(
        "NM1",
        &["PR", "2", &cfg.payer.0, "", "", "", "", "PI", &cfg.payer.1],
    );
    w.segment("TRN", &["1", &format!("{ctl}0")]);
    w.segment("DTP", &["050", "D8", &date8]);
    w.segment("DTP", &["009", "D8", &date8]);
    // 2000B information receiver (the submitter).
    w.segment("HL", &["2", "1", "21", "1"]);
    let sub_name = if cfg.submitter.0.is_empty() {
        "SUBMITTER"
    } else {
        cfg.submitter.0.as_str()
    };
    w.segment(
        "NM1",
        &["41", "2", sub_name, "", "", "", "", "46", receiver],
    );
    w.segment("TRN", &["2", &format!("{ctl}1")]);
    w.segment("STC", &["A1:19:PR", &date8, "WQ", &amount(total)]);
    w.segment("QTY", &["90", &n_ok.to_string()]);
    w.segment("AMT", &["YU", &amount(total)]);
    // 2000C billing providers, each with its claims (2000D), input order kept.
    let providers = by_billing_provider(accepted.iter().copied());
    let mut hl = 2u32;
    for (i, (npi, list)) in providers.iter().enumerate() {
        hl += 1;
        let provider_hl = hl.to_string();
        let (p_ok, p_total) = sum(list);
        w.segment("HL", &[&provider_hl, "2", "19", "1"]);
        let name = list
            .first()
            .map(|(c, _)| c.billing_name.as_str())
            .filter(|n| !n.is_empty())
            .unwrap_or("BILLING PROVIDER");
        w.segment("NM1", &["85", "2", name, "", "", "", "", "XX", npi]);
        w.segment("TRN", &["1", &format!("{ctl}P{}", i + 1)]);
        // At the provider level STC02 (date) is not used.
        w.segment("STC", &["A1:19:PR", "", "WQ", &amount(p_total)]);
        w.segment("QTY", &["QA", &p_ok.to_string()]);
        w.segment("AMT", &["YU", &amount(p_total)]);
        for (c, payer_id) in list {
            hl += 1;
            w.segment("HL", &[&hl.to_string(), &provider_hl, "PT"]);
            let (last, first) = match &c.patient {
                Some(p) => (p.last_name.as_str(), p.first_name.as_str()),
                None => (
                    c.subscriber.last_name.as_str(),
                    c.subscriber.first_name.as_str(),
                ),
            };
            let last = if last.is_empty() { "UNKNOWN" } else { last };
            if c.subscriber.member_id.is_empty() {
                w.segment("NM1", &["QC", "1", last, first]);
            } else {
                w.segment(
                    "NM1",
                    &[
                        "QC",
                        "1",
                        last,
                        first,
                        "",
                        "",
                        "",
                        "MI",
                        &c.subscriber.member_id,
                    ],
                );
            }
            let claim_id = if c.claim_id.is_empty() {
                "UNKNOWN"
            } else {
                c.claim_id.as_str()
            };
            w.segment("TRN", &["2", claim_id]);
            w.segment("STC", &["A2:20", &date8, "WQ", &amount(c.total_charge)]);
            w.segment("REF", &["1K", payer_id]);
            if let Some(trace) = c.trace_number.as_deref().filter(|t| !t.is_empty()) {
                w.segment("REF", &["D9", trace]);
            }
            if c.kind == ClaimKind::Institutional && !c.facility_code.is_empty() {
                let bill_type = format!("{}{}", c.facility_code, c.frequency_code);
                w.segment("REF", &["BLT", &bill_type]);
            }
            let dates: Vec<_> = c.lines.iter().filter_map(|l| c.line_dates(l)).collect();
            let start = dates.iter().map(|d| d.start).min();
            let end = dates.iter().map(|d| d.end).max();
            if let (Some(s), Some(e)) = (start, end) {
                w.segment(
                    "DTP",
                    &[
                        "472",
                        "RD8",
                        &format!("{}-{}", s.format("%Y%m%d"), e.format("%Y%m%d")),
                    ],
                );
            }
        }
    }
    w.end_set("0001");
    w.end(1, cfg.control_number);
    w.finish()
}

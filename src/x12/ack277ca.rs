//! The 277CA claim acknowledgment (005010X214): which claims of a
//! submission entered adjudication.
//!
//! Every claim of an accepted set is reported as A2:20 "accepted for
//! processing", with its payer claim id. The claims read from a rejected
//! set (as far as they were read) are reported as A3:21 "returned as
//! unprocessable: missing or invalid information", action U, with the
//! segment in error in STC12 (positions only, never element values: they
//! may be PHI; the 999 has the detail). Claims are grouped under their
//! billing provider, input order kept.

use chrono::NaiveDateTime;
use rust_decimal::Decimal;

use super::write::{amount, by_billing_provider, Envelope, X12Writer};
use super::SyntaxError;
use crate::model::Claim;

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

/// A claim of a rejected set and the first error of its set.
pub type RejectedClaim<'a> = (&'a Claim, &'a SyntaxError);

/// True when a claim was read far enough for a 277CA to name it: CLM01,
/// the billing NPI, the member id and a service date (all required in the
/// 2000C/2000D loops). Claims of a rejected set may stop short of that.
pub fn reportable(c: &Claim) -> bool {
    !c.claim_id.is_empty()
        && !c.billing_npi.is_empty()
        && !c.subscriber.member_id.is_empty()
        && c.lines.iter().any(|l| c.line_dates(l).is_some())
}

/// What the 277CA says of one claim.
#[derive(Clone, Copy)]
enum Outcome<'a> {
    Accepted(&'a str),
    Rejected(&'a SyntaxError),
}

/// Writes the 277CA for the accepted claims of one submission.
pub fn write_277ca(
    accepted: &[AckedClaim<'_>],
    rejected: &[RejectedClaim<'_>],
    cfg: &AckClaimsConfig,
) -> String {
    let claims: Vec<(&Claim, Outcome<'_>)> = accepted
        .iter()
        .map(|(c, id)| (*c, Outcome::Accepted(id)))
        .chain(rejected.iter().map(|(c, e)| (*c, Outcome::Rejected(e))))
        .collect();
    let sum = |list: &[(&Claim, Outcome<'_>)], accepted: bool| -> (usize, Decimal) {
        let picked = list
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Accepted(_)) == accepted);
        (
            picked.clone().count(),
            picked.map(|(c, _)| c.total_charge).sum(),
        )
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
    let (n_ok, total) = sum(&claims, true);
    let (n_bad, total_bad) = sum(&claims, false);
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
    w.segment(
        "STC",
        &["A1:19:PR", &date8, "WQ", &amount(total + total_bad)],
    );
    if n_ok > 0 {
        w.segment("QTY", &["90", &n_ok.to_string()]);
    }
    if n_bad > 0 {
        w.segment("QTY", &["AA", &n_bad.to_string()]);
    }
    if n_ok > 0 {
        w.segment("AMT", &["YU", &amount(total)]);
    }
    if n_bad > 0 {
        w.segment("AMT", &["YY", &amount(total_bad)]);
    }
    // 2000C billing providers, each with its claims (2000D), input order kept.
    let providers = by_billing_provider(claims.iter().copied());
    let mut hl = 2u32;
    for (i, (npi, list)) in providers.iter().enumerate() {
        hl += 1;
        let provider_hl = hl.to_string();
        let (p_ok, p_total) = sum(list, true);
        let (p_bad, p_total_bad) = sum(list, false);
        w.segment("HL", &[&provider_hl, "2", "19", "1"]);
        let name = list
            .first()
            .map(|(c, _)| c.billing_name.as_str())
            .filter(|n| !n.is_empty())
            .unwrap_or("BILLING PROVIDER");
        w.segment("NM1", &["85", "2", name, "", "", "", "", "XX", npi]);
        w.segment("TRN", &["1", &format!("{ctl}P{}", i + 1)]);
        // At the provider level STC02 (date) is not used.
        w.segment(
            "STC",
            &["A1:19:PR", "", "WQ", &amount(p_total + p_total_bad)],
        );
        if p_ok > 0 {
            w.segment("QTY", &["QA", &p_ok.to_string()]);
        }
        if p_bad > 0 {
            w.segment("QTY", &["QC", &p_bad.to_string()]);
        }
        if p_ok > 0 {
            w.segment("AMT", &["YU", &amount(p_total)]);
        }
        if p_bad > 0 {
            w.segment("AMT", &["YY", &amount(p_total_bad)]);
        }
        for (c, outcome) in list {
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
            match outcome {
                Outcome::Accepted(payer_id) => {
                    w.segment("STC", &["A2:20", &date8, "WQ", &amount(c.total_charge)]);
                    w.segment("REF", &["1K", payer_id]);
                }
                Outcome::Rejected(e) => {
                    let at = match e.element {
                        Some(el) => format!(
                            "segment {} ({}) element {el} of transaction set {}",
                            e.segment, e.id, c.transaction_set
                        ),
                        None => format!(
                            "segment {} ({}) of transaction set {}",
                            e.segment, e.id, c.transaction_set
                        ),
                    };
                    let msg = format!("REJECTED AT {at}; SEE THE 999");
                    w.segment(
                        "STC",
                        &[
                            "A3:21",
                            &date8,
                            "U",
                            &amount(c.total_charge),
                            "",
                            "",
                            "",
                            "",
                            "",
                            "",
                            "",
                            &msg,
                        ],
                    );
                }
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

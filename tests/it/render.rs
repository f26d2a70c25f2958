//! Test-only: renders claim models back to X12 837, so tests can make
//! files with exactly the features they need and check parse(render(c)) == c.

use priorauth::model::{Claim, ClaimKind, DateRange};
use rust_decimal::Decimal;

fn d8(r: &DateRange) -> (String, String) {
    if r.start == r.end {
        ("D8".into(), r.start.format("%Y%m%d").to_string())
    } else {
        (
            "RD8".into(),
            format!("{}-{}", r.start.format("%Y%m%d"), r.end.format("%Y%m%d")),
        )
    }
}

fn seg(out: &mut Vec<String>, parts: &[&str]) {
    let mut v: Vec<&str> = parts.to_vec();
    while v.len() > 1 && v.last() == Some(&"") {
        v.pop();
    }
    out.push(v.join("*"));
}

fn dec(d: &Decimal) -> String {
    d.to_string()
}

/// The implementation guide of a claim kind.
pub fn guide(kind: ClaimKind) -> &'static str {
    match kind {
        ClaimKind::Professional => "005010X222A1",
        ClaimKind::Institutional => "005010X223A2",
        ClaimKind::Dental => "005010X224A2",
    }
}

/// The segments of one transaction set (ST..SE) holding `claims`.
pub fn transaction_set(claims: &[Claim], control: &str) -> Vec<String> {
    let kind = claims.first().map_or(ClaimKind::Professional, |c| c.kind);
    let mut s = Vec::new();
    seg(&mut s, &["ST", "837", control, guide(kind)]);
    seg(
        &mut s,
        &["BHT", "0019", "00", "B1", "20260101", "1200", "CH"],
    );
    seg(
        &mut s,
        &["NM1", "41", "2", "SUBMITTER", "", "", "", "", "46", "S1"],
    );
    seg(
        &mut s,
        &["NM1", "40", "2", "PAYER", "", "", "", "", "46", "P1"],
    );
    let mut hl = 0u32;
    for c in claims {
        hl += 1;
        let bill = hl;
        seg(&mut s, &["HL", &bill.to_string(), "", "20", "1"]);
        seg(
            &mut s,
            &[
                "NM1",
                "85",
                "2",
                &c.billing_name,
                "",
                "",
                "",
                "",
                "XX",
                &c.billing_npi,
            ],
        );
        hl += 1;
        let sub = hl;
        let child = if c.patient.is_some() { "1" } else { "0" };
        seg(
            &mut s,
            &["HL", &sub.to_string(), &bill.to_string(), "22", child],
        );
        seg(
            &mut s,
            &[
                "SBR",
                if c.subscriber.payer_responsibility.is_empty() {
                    "P"
                } else {
                    &c.subscriber.payer_responsibility
                },
                "18",
                "",
                "",
                "",
                "",
                "",
                "",
                &c.subscriber.filing_indicator,
            ],
        );
        seg(
            &mut s,
            &[
                "NM1",
                "IL",
                "1",
                &c.subscriber.last_name,
                &c.subscriber.first_name,
                "",
                "",
                "",
                "MI",
                &c.subscriber.member_id,
            ],
        );
        if let Some(b) = c.subscriber.birth_date {
            let b = b.format("%Y%m%d").to_string();
            seg(&mut s, &["DMG", "D8", &b, "U"]);
        }
        if let Some(p) = &c.patient {
            hl += 1;
            seg(
                &mut s,
                &["HL", &hl.to_string(), &sub.to_string(), "23", "0"],
            );
            seg(&mut s, &["PAT", &p.relationship]);
            seg(&mut s, &["NM1", "QC", "1", &p.last_name, &p.first_name]);
            if let Some(b) = p.birth_date {
                let b = b.format("%Y%m%d").to_string();
                seg(&mut s, &["DMG", "D8", &b, "U"]);
            }
        }
        let clm05 = format!("{}:B:{}", c.facility_code, c.frequency_code);
        seg(
            &mut s,
            &[
                "CLM",
                &c.claim_id,
                &dec(&c.total_charge),
                "",
                "",
                &clm05,
                "Y",
                "A",
                "Y",
                "Y",
            ],
        );
        if let Some(r) = &c.statement_period {
            let (f, v) = d8(r);
            seg(&mut s, &["DTP", "434", &f, &v]);
        }
        if let Some(r) = &c.service_date {
            let (f, v) = d8(r);
            seg(&mut s, &["DTP", "472", &f, &v]);
        }
        if let Some(a) = &c.admission_type {
            seg(&mut s, &["CL1", a, "1", "01"]);
        }
        if let Some(f8) = &c.payer_claim_number {
            seg(&mut s, &["REF", "F8", f8]);
        }
        for a in &c.prior_auths {
            seg(&mut s, &["REF", "G1", a]);
        }
        for a in &c.referrals {
            seg(&mut s, &["REF", "9F", a]);
        }
        if !c.diagnoses.is_empty() {
            let mut hi = vec!["HI".to_string()];
            for (i, d) in c.diagnoses.iter().enumerate() {
                hi.push(format!("{}:{d}", if i == 0 { "ABK" } else { "ABF" }));
            }
            s.push(hi.join("*"));
        }
        if let Some(r) = &c.attending_npi {
            seg(&mut s, &["NM1", "71", "1", "DOC", "C", "", "", "", "XX", r]);
        }
        if let Some(r) = &c.rendering_npi {
            seg(&mut s, &["NM1", "82", "1", "DOC", "A", "", "", "", "XX", r]);
        }
        for l in &c.lines {
            seg(&mut s, &["LX", &l.number.to_string()]);
            let proc_composite = l.procedure.as_ref().map(|p| {
                let mut parts = vec![p.qualifier.to_string(), p.code.clone()];
                parts.extend(p.modifiers.iter().cloned());
                parts.join(":")
            });
            let pc = proc_composite.unwrap_or_default();
            let units = dec(&l.units);
            let charge = dec(&l.charge);
            let basis = l.unit_basis.clone().unwrap_or_default();
            let pos = l.place_of_service.clone().unwrap_or_default();
            match c.kind {
                ClaimKind::Professional => {
                    let emergency = if l.emergency { "Y" } else { "" };
                    seg(
                        &mut s,
                        &[
                            "SV1", &pc, &charge, &basis, &units, &pos, "", "1", "", emergency,
                        ],
                    );
                }
                ClaimKind::Institutional => {
                    let rev = l.revenue_code.clone().unwrap_or_default();
                    seg(&mut s, &["SV2", &rev, &pc, &charge, &basis, &units]);
                }
                ClaimKind::Dental => {
                    seg(&mut s, &["SV3", &pc, &charge, &pos, "", "", &units]);
                }
            }
            if let Some(r) = &l.service_date {
                let (f, v) = d8(r);
                seg(&mut s, &["DTP", "472", &f, &v]);
            }
            for a in &l.prior_auths {
                seg(&mut s, &["REF", "G1", a]);
            }
            for a in &l.referrals {
                seg(&mut s, &["REF", "9F", a]);
            }
            if let Some(n) = &l.control_number {
                seg(&mut s, &["REF", "6R", n]);
            }
            if let Some(r) = &l.rendering_npi {
                seg(&mut s, &["NM1", "82", "1", "DOC", "B", "", "", "", "XX", r]);
            }
        }
    }
    let n = s.len() + 1;
    seg(&mut s, &["SE", &n.to_string(), control]);
    s
}

/// A whole interchange (one group) holding the given transaction sets.
pub fn interchange(sets: &[Vec<String>], kind: ClaimKind, control: u32) -> String {
    let isa = format!(
        "ISA*00*          *00*          *ZZ*SUBMITTER      *ZZ*PAYER          *260101*1200*^*00501*{control:09}*0*P*:"
    );
    let mut out = vec![
        isa,
        format!(
            "GS*HC*SUBMITTER*PAYER*20260101*1200*{control}*X*{}",
            guide(kind)
        ),
    ];
    for s in sets {
        out.extend(s.iter().cloned());
    }
    out.push(format!("GE*{}*{control}", sets.len()));
    out.push(format!("IEA*1*{control:09}"));
    out.join("~\n") + "~\n"
}

/// One interchange with one set holding `claims`.
pub fn render(claims: &[Claim]) -> String {
    let kind = claims.first().map_or(ClaimKind::Professional, |c| c.kind);
    interchange(&[transaction_set(claims, "0001")], kind, 1)
}

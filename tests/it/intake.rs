//! Intake behaviour on hand-made inputs: what the 837 says is what the
//! claim model holds, and broken input is reported, not lost.

use priorauth::model::ClaimKind;
use priorauth::x12::{ErrorKind, Parser, TransactionSet};

use crate::helpers::root;

fn sets(x12: &[u8]) -> Vec<TransactionSet> {
    let mut p = Parser::new(x12);
    std::iter::from_fn(|| p.next_set()).collect()
}

fn sample(name: &str) -> String {
    std::fs::read_to_string(root().join("fixtures/x12").join(name)).unwrap()
}

#[test]
fn professional_sample_has_the_loops_spec_lists() {
    let sets = sets(sample("837p-sample.x12").as_bytes());
    assert_eq!(sets.len(), 1);
    let claims = &sets[0].claims;
    assert_eq!(claims.len(), 3);
    let c1 = &claims[0];
    assert_eq!(c1.kind, ClaimKind::Professional);
    assert_eq!(c1.prior_auths, ["A100001"]);
    assert_eq!(c1.rendering_npi.as_deref(), Some("1245319599"));
    assert_eq!(c1.lines[1].procedure.as_ref().unwrap().modifiers, ["25"]);
    // Claim 2: line-level REF*G1 (two), and the 2330B REF*G1 of another
    // payer is not taken for this payer's authorization.
    let c2 = &claims[1];
    assert!(
        c2.prior_auths.is_empty(),
        "2330B REF*G1 leaked: {:?}",
        c2.prior_auths
    );
    assert_eq!(c2.lines[0].prior_auths, ["A200002", "A200003"]);
    assert_eq!(c2.subscriber.filing_indicator, "MB");
    let rd8 = c2.lines[1].service_date.unwrap();
    assert_eq!(
        (rd8.start.to_string(), rd8.end.to_string()),
        ("2026-03-10".into(), "2026-04-09".into())
    );
    assert_eq!(c2.lines[1].rendering_npi.as_deref(), Some("1679576722"));
    // Claim 3: dependent patient, replacement with REF*F8, emergency line.
    let c3 = &claims[2];
    assert_eq!(c3.patient.as_ref().unwrap().relationship, "19");
    assert_eq!(c3.subscriber.member_id, "M00099999");
    assert_eq!(c3.frequency_code, "7");
    assert_eq!(c3.payer_claim_number.as_deref(), Some("PAYERCLAIM0003"));
    assert!(c3.lines[0].emergency);
    assert_eq!(c3.lines[0].place_of_service.as_deref(), Some("23"));
}

#[test]
fn institutional_sample_reads_sv2_cl1_and_statement_dates() {
    let sets = sets(sample("837i-sample.x12").as_bytes());
    let c = &sets[0].claims[0];
    assert_eq!(c.kind, ClaimKind::Institutional);
    assert_eq!(c.facility_code, "11");
    assert_eq!(c.admission_type.as_deref(), Some("3"));
    assert_eq!(c.statement_period.unwrap().start.to_string(), "2026-04-01");
    assert_eq!(c.lines[0].revenue_code.as_deref(), Some("0120"));
    assert_eq!(c.lines[0].procedure.as_ref().unwrap().code, "99223");
    assert_eq!(c.lines[0].units.to_string(), "4");
    let er = &sets[0].claims[1];
    assert!(
        er.line_is_emergency(&er.lines[1]),
        "CL101=1 makes every line an emergency"
    );
}

/// The sample with one change applied to its text.
fn broken(from: &str, to: &str) -> Vec<TransactionSet> {
    let x12 = sample("837p-sample.x12");
    assert!(x12.contains(from), "{from} not in sample");
    sets(x12.replacen(from, to, 1).as_bytes())
}

fn only_error(sets: &[TransactionSet]) -> (&str, Option<u8>, ErrorKind, &str) {
    assert_eq!(sets.len(), 1);
    assert!(sets[0].claims.is_empty(), "a rejected set keeps no claims");
    let e = &sets[0].errors[0];
    (e.id.as_str(), e.element, e.kind, e.message.as_str())
}

#[test]
fn wrong_se_count_names_se01() {
    let x12 = sample("837p-sample.x12");
    let se = x12.lines().find(|l| l.starts_with("SE*")).unwrap();
    let got = broken(se, "SE*3*0001~");
    let (id, el, kind, msg) = only_error(&got);
    assert_eq!((id, el, kind), ("SE", Some(1), ErrorKind::SegmentCount));
    assert!(msg.contains("SE01 says 3"), "{msg}");
}

#[test]
fn bad_date_names_dtp03() {
    let got = broken("DTP*472*D8*20260304", "DTP*472*D8*20260231");
    let (id, el, kind, _) = only_error(&got);
    assert_eq!((id, el, kind), ("DTP", Some(3), ErrorKind::InvalidDate));
    assert_eq!(got[0].errors[0].segment, 25);
}

#[test]
fn bad_charge_names_sv102() {
    let got = broken("SV1*HC:70551*2400", "SV1*HC:70551*24O0");
    let (id, el, kind, msg) = only_error(&got);
    assert_eq!((id, el, kind), ("SV1", Some(2), ErrorKind::InvalidNumber));
    assert!(msg.contains("SV102"), "{msg}");
}

#[test]
fn claim_without_service_line_is_an_error() {
    let x12 = sample("837p-sample.x12");
    // Drop the only line of claim 3 (LX .. REF lines up to SE).
    let start = x12.rfind("LX*1").unwrap();
    let end = x12.find("SE*").unwrap();
    let cut = format!("{}{}", &x12[..start], &x12[end..]);
    let got = sets(cut.as_bytes());
    let e = &got[0].errors;
    assert!(
        e.iter()
            .any(|e| e.kind == ErrorKind::RequiredSegmentMissing && e.id == "LX"),
        "{e:?}"
    );
}

#[test]
fn bad_hl_parent_is_an_error() {
    let got = broken("HL*3*1*22*0", "HL*3*2*22*0");
    let (id, el, kind, msg) = only_error(&got);
    assert_eq!((id, el, kind), ("HL", Some(2), ErrorKind::InvalidCode));
    assert!(msg.contains("HL02"), "{msg}");
}

#[test]
fn a_broken_set_does_not_take_the_others_down() {
    let x12 = sample("837p-sample.x12");
    let st = x12.find("ST*").unwrap();
    let se_end = x12.find("GE*").unwrap();
    let set = &x12[st..se_end];
    let bad = set.replace("DTP*472*D8*20260304", "DTP*472*D8*2026");
    let bad = bad
        .replace("ST*837*0001", "ST*837*0002")
        .replace("*0001~\n", "*0002~\n");
    let third = set
        .replace("ST*837*0001", "ST*837*0003")
        .replace("*0001~\n", "*0003~\n");
    let file = format!(
        "{}{set}{bad}{third}GE*3*1001~\nIEA*1*000001001~\n",
        &x12[..st]
    );
    let got = sets(file.as_bytes());
    assert_eq!(got.len(), 3);
    assert!(got[0].accepted() && !got[1].accepted() && got[2].accepted());
    assert_eq!(got[1].control_number, "0002");
    assert_eq!(got[2].claims.len(), 3);
}

#[test]
fn several_interchanges_with_other_delimiters_bom_and_crlf() {
    let a = sample("837p-sample.x12");
    let b = sample("837i-sample.x12")
        .replace('*', "|")
        .replace(':', ">")
        .replace("~\n", "\r\n")
        .replace("|^|", "|}|");
    let file = format!("\u{feff}{a}{b}");
    let got = sets(file.as_bytes());
    assert_eq!(
        got.len(),
        2,
        "{:?}",
        got.iter().map(|s| &s.errors).collect::<Vec<_>>()
    );
    assert!(got.iter().all(|s| s.accepted()), "{:?}", got[1].errors);
    assert_eq!(
        got[1].claims[0].lines[0].procedure.as_ref().unwrap().code,
        "99223"
    );
}

#[test]
fn a_file_cut_mid_claim_rejects_the_open_set_and_says_so() {
    let x12 = sample("837p-sample.x12");
    let cut = &x12[..x12.find("LX*2").unwrap() + 2];
    let mut p = Parser::new(cut.as_bytes());
    let got: Vec<_> = std::iter::from_fn(|| p.next_set()).collect();
    assert_eq!(got.len(), 1);
    assert!(!got[0].accepted());
    assert!(got[0]
        .errors
        .iter()
        .any(|e| e.message.contains("cut off") || e.kind == ErrorKind::TrailerMissing));
    // Reported once, on the set it cut short.
    assert!(
        got[0]
            .errors
            .iter()
            .any(|e| e.message.contains("cut off") && e.id == "SE"),
        "{:?}",
        got[0].errors
    );
}

#[test]
fn unsupported_guide_is_rejected_with_its_name() {
    let got = broken("ST*837*0001*005010X222A1", "ST*837*0001*005010X298");
    let (_, _, kind, msg) = only_error(&got);
    assert_eq!(kind, ErrorKind::UnsupportedGuide);
    assert!(msg.contains("005010X298"), "{msg}");
}

#[test]
fn clearinghouse_trace_number_is_read_from_2300_ref_d9() {
    let x12 = sample("837p-sample.x12")
        .replacen(
            "CLM*PCN-0002*1800***11:B:1*Y*A*Y*Y~\n",
            "CLM*PCN-0002*1800***11:B:1*Y*A*Y*Y~\nREF*D9*TRACE-2~\n",
            1,
        )
        .replacen("SE*74*0001~", "SE*75*0001~", 1);
    let sets = sets(x12.as_bytes());
    assert!(sets[0].accepted(), "{:?}", sets[0].errors);
    let c = &sets[0].claims;
    assert_eq!(c[0].trace_number, None);
    assert_eq!(c[1].trace_number.as_deref(), Some("TRACE-2"));
    let json = serde_json::to_value(&c[1]).unwrap();
    assert_eq!(json["trace_number"], "TRACE-2");
}

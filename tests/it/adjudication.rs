//! SPEC §3 row by row, every rule feature of §2.2, and the claim-level
//! behaviours (duplicates, replacements, voids, status), on the pure core.

use chrono::NaiveDate;
use priorauth::adjudication::{Adjudicator, ClaimDecision, ClaimStatus, Decision, MemoryHistory};
use priorauth::authorizations::{import_csv, AuthBook};
use priorauth::model::{
    Claim, ClaimKind, DateRange, Frequency, Procedure, ServiceLine, Subscriber,
};
use priorauth::rules::{RuleSet, RulesIndex};
use rust_decimal::Decimal;

pub const BILLING: &str = "1234567893";
pub const RENDERING: &str = "1245319599";

pub fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

pub fn day(s: &str) -> DateRange {
    DateRange::day(NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap())
}

pub fn line(n: u32, code: &str, units: &str, charge: &str, date: &str) -> ServiceLine {
    ServiceLine {
        number: n,
        procedure: Some(Procedure {
            qualifier: "HC".into(),
            code: code.into(),
            modifiers: vec![],
        }),
        revenue_code: None,
        charge: d(charge),
        unit_basis: Some("UN".into()),
        units: d(units),
        place_of_service: None,
        emergency: false,
        service_date: Some(day(date)),
        prior_auths: vec![],
        referrals: vec![],
        control_number: None,
        rendering_npi: None,
    }
}

pub fn claim(id: &str, auths: &[&str], lines: Vec<ServiceLine>) -> Claim {
    Claim {
        kind: ClaimKind::Professional,
        claim_id: id.into(),
        total_charge: lines.iter().map(|l| l.charge).sum(),
        facility_code: "11".into(),
        frequency: Frequency::Original,
        frequency_code: "1".into(),
        billing_npi: BILLING.into(),
        billing_name: "RIVERSIDE IMAGING GROUP".into(),
        rendering_npi: None,
        attending_npi: None,
        subscriber: Subscriber {
            member_id: "M1".into(),
            filing_indicator: "CI".into(),
            ..Default::default()
        },
        patient: None,
        prior_auths: auths.iter().map(|s| s.to_string()).collect(),
        referrals: vec![],
        payer_claim_number: None,
        trace_number: None,
        diagnoses: vec![],
        service_date: None,
        statement_period: None,
        admission_type: None,
        lines,
        transaction_set: "0001".into(),
    }
}

const RULES: &str = r#"
version = "test-1"
[[rule]]
id = "5.1.2-MRI"
section = "5.1.2"
title = "MRI"
codes = ["70336", "70540-70553"]
effective = "2026-01-01"
"#;

const HEADER: &str =
    "number,member_id,provider_npi,codes,units,units_used,start_date,end_date,status\n";

pub struct World {
    pub index: RulesIndex,
    pub book: AuthBook,
    pub history: MemoryHistory,
}

impl World {
    pub fn new(rules: &str, auth_rows: &str) -> Self {
        let csv = format!("{HEADER}{auth_rows}");
        World {
            index: RulesIndex::new(RuleSet::from_toml(rules).unwrap()),
            book: AuthBook::new(import_csv(csv.as_bytes()).unwrap()),
            history: MemoryHistory::default(),
        }
    }

    pub fn mri(auth_rows: &str) -> Self {
        World::new(RULES, auth_rows)
    }

    pub fn run(&mut self, c: &Claim) -> ClaimDecision {
        let id = format!("PAYER-{}", c.claim_id);
        Adjudicator::new(&self.index).adjudicate(c, &id, &mut self.book, &mut self.history)
    }

    pub fn used(&self, number: &str) -> Decimal {
        self.book.get(number).unwrap().units_used
    }
}

const A1: &str = "A1,M1,1234567893,70551|70553,2,0,2026-01-10,2026-04-10,approved\n";

/// (decision, group-carc, rarcs) of line 1.
fn outcome(c: &ClaimDecision) -> (Decision, Vec<String>, Vec<String>) {
    let l = &c.lines[0];
    (
        l.decision,
        l.adjustments
            .iter()
            .map(|a| format!("{}-{}", a.group.as_str(), a.carc.as_str()))
            .collect(),
        l.remarks.iter().map(|r| r.as_str().to_string()).collect(),
    )
}

fn mri_claim(auths: &[&str]) -> Claim {
    claim(
        "C1",
        auths,
        vec![line(1, "70551", "1", "1200", "2026-03-04")],
    )
}

fn denied(carc: &str, rarc: Option<&str>) -> (Decision, Vec<String>, Vec<String>) {
    (
        Decision::Denied,
        vec![carc.to_string()],
        rarc.into_iter().map(str::to_string).collect(),
    )
}

#[test]
fn row_01_no_number_is_co197_m62() {
    let mut w = World::mri(A1);
    let c = w.run(&mri_claim(&[]));
    assert_eq!(outcome(&c), denied("CO-197", Some("M62")));
    let l = &c.lines[0];
    assert_eq!(l.authorization, None);
    assert_eq!((l.units_approved, l.units_denied), (d("0"), d("1")));
    assert_eq!(l.adjustments[0].amount, d("1200"));
    assert!(
        l.reason.starts_with("Line 1 (70551, 2026-03-04):"),
        "{}",
        l.reason
    );
    assert!(
        l.reason.contains("5.1.2-MRI") && l.reason.contains("Section 5.1.2"),
        "{}",
        l.reason
    );
    // A1 would have passed: suggested, not consumed.
    assert_eq!(l.suggestion.as_deref(), Some("A1"));
    assert!(l.reason.contains("attach it (REF*G1)") && l.reason.contains("frequency 7"));
    assert_eq!(w.used("A1"), d("0"));
    assert_eq!(c.status, ClaimStatus::Denied);
}

#[test]
fn row_02_unknown_number_is_co197_m62() {
    let mut w = World::mri(A1);
    let c = w.run(&mri_claim(&["NOPE"]));
    assert_eq!(outcome(&c), denied("CO-197", Some("M62")));
    assert_eq!(c.lines[0].authorization.as_deref(), Some("NOPE"));
    assert!(c.lines[0].reason.contains("NOPE is not on file"));
}

#[test]
fn row_03_other_member_is_co197_n54() {
    let mut w = World::mri("A9,M2,1234567893,70551,2,0,2026-01-10,2026-04-10,approved\n");
    let c = w.run(&mri_claim(&["A9"]));
    assert_eq!(outcome(&c), denied("CO-197", Some("N54")));
    assert_eq!(c.lines[0].suggestion, None);
}

#[test]
fn row_04_other_provider_is_co296_n54_but_rendering_npis_count() {
    let rows = format!("A9,M1,{RENDERING},70551,2,0,2026-01-10,2026-04-10,approved\n");
    let mut w = World::mri(&rows);
    let c = w.run(&mri_claim(&["A9"]));
    assert_eq!(outcome(&c), denied("CO-296", Some("N54")));
    // Claim-level rendering provider matches.
    // (A fresh run each time: the same services again would be a duplicate.)
    let mut with_rendering = mri_claim(&["A9"]);
    with_rendering.claim_id = "C2".into();
    with_rendering.rendering_npi = Some(RENDERING.into());
    let mut w = World::mri(&rows);
    assert_eq!(w.run(&with_rendering).lines[0].decision, Decision::Approved);
    // Line-level rendering provider matches.
    let mut line_level = mri_claim(&["A9"]);
    line_level.claim_id = "C3".into();
    line_level.lines[0].rendering_npi = Some(RENDERING.into());
    let mut w = World::mri(&rows);
    assert_eq!(w.run(&line_level).lines[0].decision, Decision::Approved);
}

#[test]
fn row_05_denied_authorization_is_co39_n758_without_suggestion() {
    let mut w = World::mri(&format!(
        "{A1}A9,M1,1234567893,70551,2,0,2026-01-10,2026-04-10,denied\n"
    ));
    let c = w.run(&mri_claim(&["A9"]));
    assert_eq!(outcome(&c), denied("CO-39", Some("N758")));
    assert_eq!(c.lines[0].suggestion, None, "row 5 never suggests");
}

#[test]
fn row_06_pending_authorization_pends_the_line_and_claim() {
    let mut w = World::mri("A9,M1,1234567893,70551,2,0,2026-01-10,2026-04-10,pending\n");
    let c = w.run(&mri_claim(&["A9"]));
    let l = &c.lines[0];
    assert_eq!(l.decision, Decision::Pended);
    assert!(l.adjustments.is_empty() && l.remarks.is_empty());
    assert_eq!(c.status, ClaimStatus::Pended);
    assert_eq!(w.used("A9"), d("0"));
}

#[test]
fn row_07_cancelled_is_co197_m62() {
    let mut w = World::mri("A9,M1,1234567893,70551,2,0,2026-01-10,2026-04-10,cancelled\n");
    assert_eq!(
        outcome(&w.run(&mri_claim(&["A9"]))),
        denied("CO-197", Some("M62"))
    );
}

#[test]
fn row_08a_after_end_date_is_co302_n351_even_for_one_day_of_a_range() {
    let mut w = World::mri(A1);
    let mut c = mri_claim(&["A1"]);
    c.lines[0].service_date = Some(DateRange {
        start: day("2026-04-09").start,
        end: day("2026-04-11").start,
    });
    let got = w.run(&c);
    assert_eq!(outcome(&got), denied("CO-302", Some("N351")));
    assert!(
        got.lines[0].reason.contains("2026-01-10..2026-04-10"),
        "{}",
        got.lines[0].reason
    );
}

#[test]
fn row_08b_before_start_date_is_co197_n351() {
    let mut w = World::mri(A1);
    let mut c = mri_claim(&["A1"]);
    c.lines[0].service_date = Some(day("2026-01-09"));
    assert_eq!(outcome(&w.run(&c)), denied("CO-197", Some("N351")));
}

#[test]
fn row_09_other_codes_is_co284_n54() {
    let mut w = World::mri("A9,M1,1234567893,70553,2,0,2026-01-10,2026-04-10,approved\n");
    let c = w.run(&mri_claim(&["A9"]));
    assert_eq!(outcome(&c), denied("CO-284", Some("N54")));
    assert!(c.lines[0].reason.contains("covers 70553, not 70551"));
}

#[test]
fn row_10_no_units_left_is_co198() {
    let mut w = World::mri("A9,M1,1234567893,70551,2,2,2026-01-10,2026-04-10,approved\n");
    let c = w.run(&mri_claim(&["A9"]));
    assert_eq!(outcome(&c), denied("CO-198", None));
    assert_eq!(c.lines[0].suggestion, None, "row 10 never suggests");
}

#[test]
fn row_11_partial_denies_the_excess_rounded_half_away_from_zero() {
    let mut w = World::mri("A9,M1,1234567893,70551,3,2,2026-01-10,2026-04-10,approved\n");
    let c = w.run(&claim(
        "C1",
        &["A9"],
        vec![line(1, "70551", "3", "100", "2026-03-04")],
    ));
    let l = &c.lines[0];
    assert_eq!(l.decision, Decision::Partial);
    assert_eq!((l.units_approved, l.units_denied), (d("1"), d("2")));
    assert_eq!(l.adjustments[0].amount, d("66.67"));
    assert_eq!(l.adjustments[0].units, d("2"));
    assert_eq!(w.used("A9"), d("3"));
    assert_eq!(c.status, ClaimStatus::Partial);
    // 0.05 * 1 / 2 = 0.025 -> 0.03 (midpoint away from zero).
    let mut w = World::mri("A8,M1,1234567893,70551,1,0,2026-01-10,2026-04-10,approved\n");
    let c = w.run(&claim(
        "C1",
        &["A8"],
        vec![line(1, "70551", "2", "0.05", "2026-03-04")],
    ));
    assert_eq!(c.lines[0].adjustments[0].amount, d("0.03"));
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(json["lines"][0]["adjustments"][0]["amount"], "0.03");
}

#[test]
fn row_12_approved_consumes_units_in_file_order() {
    let mut w = World::mri(A1);
    let first = w.run(&claim(
        "C1",
        &["A1"],
        vec![
            line(1, "70551", "1", "1200", "2026-03-04"),
            line(2, "70553", "1", "900", "2026-03-05"),
        ],
    ));
    assert!(first.lines.iter().all(|l| l.decision == Decision::Approved));
    assert_eq!(first.status, ClaimStatus::Approved);
    assert_eq!(w.used("A1"), d("2"));
    let second = w.run(&claim(
        "C2",
        &["A1"],
        vec![line(1, "70551", "1", "1200", "2026-03-06")],
    ));
    assert_eq!(outcome(&second), denied("CO-198", None));
}

#[test]
fn several_numbers_first_passing_decides_else_first_failure_is_reported() {
    let rows = format!("{A1}A0,M1,1234567893,70551,2,0,2025-01-01,2025-12-31,approved\n");
    let mut w = World::mri(&rows);
    let mut c = mri_claim(&[]);
    c.lines[0].prior_auths = vec!["A0".into(), "A1".into()];
    let got = w.run(&c);
    assert_eq!(got.lines[0].decision, Decision::Approved);
    assert_eq!(got.lines[0].authorization.as_deref(), Some("A1"));
    let mut c = mri_claim(&[]);
    c.claim_id = "C2".into();
    c.lines[0].prior_auths = vec!["A0".into(), "NOPE".into()];
    let mut w = World::mri(&rows);
    let got = w.run(&c);
    assert_eq!(outcome(&got), denied("CO-302", Some("N351")));
    assert_eq!(got.lines[0].authorization.as_deref(), Some("A0"));
}

#[test]
fn line_level_numbers_replace_the_claim_level_number() {
    let mut w = World::mri(A1);
    let mut c = mri_claim(&["A1"]);
    c.lines[0].prior_auths = vec!["NOPE".into()];
    assert_eq!(outcome(&w.run(&c)), denied("CO-197", Some("M62")));
}

#[test]
fn suggestion_prefers_earliest_end_then_smallest_number() {
    let rows = "B2,M1,1234567893,70551,1,0,2026-01-01,2026-05-31,approved\n\
                B1,M1,1234567893,70551,1,0,2026-01-01,2026-05-31,approved\n\
                B0,M1,1234567893,70551,1,0,2026-01-01,2026-12-31,approved\n\
                B3,M1,1234567893,70551,1,1,2026-01-01,2026-04-30,approved\n";
    let mut w = World::mri(rows);
    assert_eq!(
        w.run(&mri_claim(&[])).lines[0].suggestion.as_deref(),
        Some("B1")
    );
}

#[test]
fn lines_without_a_rule_are_not_required() {
    let mut w = World::mri(A1);
    let c = w.run(&claim(
        "C1",
        &[],
        vec![line(1, "99213", "1", "100", "2026-03-04")],
    ));
    let l = &c.lines[0];
    assert_eq!(l.decision, Decision::NotRequired);
    assert_eq!((l.rule.clone(), l.units_approved), (None, d("1")));
    assert!(l.reason.contains("no authorization is needed"));
    assert_eq!(c.status, ClaimStatus::Approved);
}

#[test]
fn duplicate_original_is_oa18_and_consumes_nothing() {
    let mut w = World::mri(A1);
    w.run(&mri_claim(&["A1"]));
    let dup = w.run(&mri_claim(&["A1"]));
    assert_eq!(dup.status, ClaimStatus::Denied);
    assert_eq!(outcome(&dup), denied("OA-18", None));
    assert_eq!(dup.lines[0].adjustments[0].amount, d("1200"));
    assert_eq!(w.used("A1"), d("1"));
}

#[test]
fn replacement_reverses_then_readjudicates_and_void_reverses() {
    let mut w = World::mri(A1);
    w.run(&claim(
        "C1",
        &["A1"],
        vec![line(1, "70551", "2", "2400", "2026-03-04")],
    ));
    assert_eq!(w.used("A1"), d("2"));
    let mut repl = claim(
        "C1",
        &["A1"],
        vec![line(1, "70551", "1", "1200", "2026-03-04")],
    );
    repl.frequency = Frequency::Replacement;
    repl.frequency_code = "7".into();
    let r = w.run(&repl);
    assert_eq!(
        r.lines[0].decision,
        Decision::Approved,
        "{}",
        r.lines[0].reason
    );
    assert_eq!(w.used("A1"), d("1"));
    // A void found by REF*F8 (the payer claim id of the replacement).
    let mut void = claim(
        "OTHER-PCN",
        &[],
        vec![line(1, "70551", "1", "1200", "2026-03-04")],
    );
    void.frequency = Frequency::Void;
    void.frequency_code = "8".into();
    void.payer_claim_number = Some("PAYER-C1".into());
    let v = w.run(&void);
    assert_eq!(v.status, ClaimStatus::Voided);
    assert_eq!(w.used("A1"), d("0"));
    // After the void, the same original is no longer a duplicate.
    let again = w.run(&claim(
        "C1",
        &["A1"],
        vec![line(1, "70551", "1", "1200", "2026-03-04")],
    ));
    assert_eq!(again.lines[0].decision, Decision::Approved);
}

/// Interim bills (frequency 2, then 3) under one CLM01, then a replacement
/// with its own CLM01 citing the first bill's payer claim id: the older id
/// still leads to the key, so the latest bill's unit comes back first.
#[test]
fn replacement_citing_an_older_payer_id_of_its_key_reverses_the_latest() {
    let mut w = World::mri(A1);
    let adj = Adjudicator::new(&w.index);
    // Each bill covers another day: the same services again would be a
    // duplicate (SPEC §3.3).
    let bill = |id: &str, frequency: Frequency, code: &str, f8: Option<&str>| {
        let day = format!("2026-03-0{}", code.parse::<u32>().unwrap_or(1).min(9));
        let mut c = claim(id, &["A1"], vec![line(1, "70551", "1", "1200", &day)]);
        c.frequency = frequency;
        c.frequency_code = code.into();
        c.payer_claim_number = f8.map(str::to_string);
        c
    };
    adj.adjudicate(
        &bill("C1", Frequency::Other, "2", None),
        "P1",
        &mut w.book,
        &mut w.history,
    );
    adj.adjudicate(
        &bill("C1", Frequency::Other, "3", None),
        "P2",
        &mut w.book,
        &mut w.history,
    );
    assert_eq!(w.used("A1"), d("2"));
    let r = adj.adjudicate(
        &bill("C1R", Frequency::Replacement, "7", Some("P1")),
        "P3",
        &mut w.book,
        &mut w.history,
    );
    assert_eq!(
        r.lines[0].decision,
        Decision::Approved,
        "{}",
        r.lines[0].reason
    );
    assert_eq!(r.reversed.len(), 1, "{:?}", r.reversed);
    assert!(
        r.lines[0].reason.contains("replaces payer claim P2"),
        "{}",
        r.lines[0].reason
    );
    assert_eq!(w.used("A1"), d("2"));
}

#[test]
fn claim_status_partial_when_some_lines_denied() {
    let mut w = World::mri(A1);
    let c = w.run(&claim(
        "C1",
        &[],
        vec![
            line(1, "70551", "1", "1200", "2026-03-04"),
            line(2, "99213", "1", "100", "2026-03-04"),
        ],
    ));
    assert_eq!(c.status, ClaimStatus::Partial);
}

// ---- rule features (SPEC §2.2) ----

fn needs_pa(rules_body: &str, c: &Claim) -> Option<String> {
    let rules = format!("version = \"t\"\n{rules_body}");
    let mut w = World::new(&rules, "");
    w.run(c).lines[0].rule.clone()
}

fn rule(extra: &str) -> String {
    format!("[[rule]]\nid = \"R\"\nsection = \"5.1.9\"\ntitle = \"t\"\neffective = \"2026-01-01\"\n{extra}\n")
}

#[test]
fn feature_code_ranges_are_inclusive_and_length_bound() {
    let r = rule("codes = [\"70540-70553\"]");
    for (code, want) in [
        ("70540", true),
        ("70553", true),
        ("70554", false),
        ("7055", false),
        ("705400", false),
    ] {
        let c = claim("C", &[], vec![line(1, code, "1", "1", "2026-03-04")]);
        assert_eq!(needs_pa(&r, &c).is_some(), want, "{code}");
    }
}

#[test]
fn feature_lines_of_business_from_sbr09() {
    let r = rule("codes = [\"70551\"]\nlines_of_business = [\"medicare\"]");
    let mut c = mri_claim(&[]);
    assert_eq!(needs_pa(&r, &c), None);
    for sbr09 in ["MA", "MB", "16"] {
        c.subscriber.filing_indicator = sbr09.into();
        assert_eq!(needs_pa(&r, &c).as_deref(), Some("R"), "{sbr09}");
    }
    let r = rule("codes = [\"70551\"]\nlines_of_business = [\"medicaid\"]");
    c.subscriber.filing_indicator = "MC".into();
    assert!(needs_pa(&r, &c).is_some());
}

#[test]
fn feature_place_of_service_line_else_claim() {
    let r = rule("codes = [\"70551\"]\nplaces_of_service = [\"22\"]");
    let mut c = mri_claim(&[]);
    assert_eq!(needs_pa(&r, &c), None, "claim POS 11");
    c.facility_code = "22".into();
    assert!(needs_pa(&r, &c).is_some(), "claim POS 22");
    c.lines[0].place_of_service = Some("11".into());
    assert_eq!(needs_pa(&r, &c), None, "SV105 overrides CLM05-1");
}

#[test]
fn feature_units_over_and_charge_over_must_be_exceeded() {
    let r = rule("codes = [\"E0601\"]\nunits_over = 2\ncharge_over = \"1500.00\"");
    let c = |units: &str, charge: &str| {
        claim(
            "C",
            &[],
            vec![line(1, "E0601", units, charge, "2026-03-04")],
        )
    };
    assert_eq!(needs_pa(&r, &c("2", "2000")), None);
    assert_eq!(needs_pa(&r, &c("3", "1500.00")), None);
    assert!(needs_pa(&r, &c("3", "1500.01")).is_some());
}

#[test]
fn feature_emergency_lines_are_exempt_unless_the_rule_says_otherwise() {
    let r = rule("codes = [\"70551\"]");
    let mut c = mri_claim(&[]);
    c.lines[0].emergency = true;
    assert_eq!(needs_pa(&r, &c), None, "SV109=Y");
    c.lines[0].emergency = false;
    c.lines[0].place_of_service = Some("23".into());
    assert_eq!(needs_pa(&r, &c), None, "POS 23");
    let strict = rule("codes = [\"70551\"]\nemergency_exempt = false");
    assert!(needs_pa(&strict, &c).is_some());
}

#[test]
fn feature_effective_and_expires_are_inclusive() {
    let r = rule("codes = [\"70551\"]\nexpires = \"2026-06-30\"");
    for (date, want) in [
        ("2025-12-31", false),
        ("2026-01-01", true),
        ("2026-06-30", true),
        ("2026-07-01", false),
    ] {
        let c = claim("C", &[], vec![line(1, "70551", "1", "1", date)]);
        assert_eq!(needs_pa(&r, &c).is_some(), want, "{date}");
    }
    // RD8: the first day of the range decides.
    let mut c = claim("C", &[], vec![line(1, "70551", "1", "1", "2026-06-30")]);
    c.lines[0].service_date = Some(DateRange {
        start: day("2026-06-30").start,
        end: day("2026-07-05").start,
    });
    assert!(needs_pa(&r, &c).is_some());
}

fn institutional(facility: &str, admission: &str, revenue: &str) -> Claim {
    let mut c = claim("I", &[], vec![line(1, "99223", "1", "100", "2026-03-04")]);
    c.kind = ClaimKind::Institutional;
    c.facility_code = facility.into();
    c.admission_type = Some(admission.into());
    c.lines[0].revenue_code = Some(revenue.into());
    c
}

#[test]
fn feature_bill_type_covers_every_line_of_the_claim_but_not_emergencies() {
    let r = rule("bill_types = [\"11\"]");
    assert!(needs_pa(&r, &institutional("11", "3", "0120")).is_some());
    assert_eq!(needs_pa(&r, &institutional("13", "3", "0120")), None);
    assert_eq!(
        needs_pa(&r, &institutional("11", "1", "0120")),
        None,
        "CL101=1 emergency"
    );
    assert_eq!(
        needs_pa(&r, &institutional("11", "3", "0450")),
        None,
        "ER revenue code"
    );
    // Bill types are an 837I notion: CLM05-1 of an 837P is a POS.
    let mut p = mri_claim(&[]);
    p.facility_code = "11".into();
    assert_eq!(needs_pa(&r, &p), None);
}

#[test]
fn feature_revenue_code_ranges() {
    let r = rule("revenue_codes = [\"0610-0619\"]");
    assert!(needs_pa(&r, &institutional("13", "3", "0612")).is_some());
    assert_eq!(needs_pa(&r, &institutional("13", "3", "0620")), None);
}

#[test]
fn feature_first_matching_rule_in_file_order_is_reported() {
    let rules = "[[rule]]\nid = \"NARROW\"\nsection = \"5.1.10\"\ntitle = \"n\"\ncodes = [\"70551\"]\nlines_of_business = [\"medicare\"]\neffective = \"2026-01-01\"\n\
                 [[rule]]\nid = \"BROAD\"\nsection = \"5.1.2\"\ntitle = \"b\"\ncodes = [\"70540-70553\"]\neffective = \"2026-01-01\"\n\
                 [[rule]]\nid = \"LATER\"\nsection = \"5.1.3\"\ntitle = \"l\"\ncodes = [\"70551\"]\neffective = \"2026-01-01\"\n";
    let mut c = mri_claim(&[]);
    assert_eq!(needs_pa(rules, &c).as_deref(), Some("BROAD"));
    c.subscriber.filing_indicator = "MB".into();
    assert_eq!(needs_pa(rules, &c).as_deref(), Some("NARROW"));
}

/// Reviewed bundled set: CMS OPD PA is a condition of payment on the
/// hospital's 837I type 13 claim, not on the physician's 837P at POS 22.
#[test]
fn bundled_rules_cite_the_cms_opd_rule_on_the_hospitals_type_13_claim() {
    let mut w = World::new(priorauth::rules::BUNDLED, "");
    let mut c = institutional("13", "3", "0360");
    c.lines[0].procedure.as_mut().unwrap().code = "64612".into();
    c.subscriber.filing_indicator = "MB".into();
    assert_eq!(
        w.run(&c).lines[0].rule.as_deref(),
        Some("5.1.10-OPD-BOTULINUM")
    );
    // The physician's 837P at POS 22 falls through to HAP's own rule.
    let mut p = claim("C", &[], vec![line(1, "64612", "1", "500", "2026-03-04")]);
    p.subscriber.filing_indicator = "MB".into();
    p.facility_code = "22".into();
    assert_eq!(w.run(&p).lines[0].rule.as_deref(), Some("5.1.5-BOTOX"));
    // Commercial members: HAP's rule on either claim.
    c.subscriber.filing_indicator = "CI".into();
    c.claim_id = "C2".into();
    c.total_charge += rust_decimal::Decimal::ONE;
    assert_eq!(w.run(&c).lines[0].rule.as_deref(), Some("5.1.5-BOTOX"));
}

/// Reviewed bundled set: the windows in which codes were on the CMS lists.
#[test]
fn bundled_rules_follow_the_cms_list_dates() {
    let index = RulesIndex::new(RuleSet::bundled().unwrap());
    let on = |code: &str, date: &str, kind: ClaimKind, facility: &str| {
        let mut c = claim("C", &[], vec![line(1, code, "1", "100", date)]);
        c.kind = kind;
        c.facility_code = facility.into();
        c.subscriber.filing_indicator = "MB".into();
        index.rule_for(&c, &c.lines[0]).map(|r| r.id.clone())
    };
    let opd = |code: &str, date: &str| on(code, date, ClaimKind::Institutional, "13");
    assert_eq!(
        opd("63650", "2026-03-04").as_deref(),
        Some("5.1.10-OPD-NEUROSTIMULATOR")
    );
    assert_eq!(opd("63685", "2026-03-04"), None, "only 63650 under OPD");
    assert_eq!(opd("63688", "2026-03-04"), None);
    assert_eq!(
        opd("64492", "2024-08-04").as_deref(),
        Some("5.1.10-OPD-FACET-JOINT-ADD-ON")
    );
    assert_eq!(opd("64495", "2024-08-05"), None, "removed August 2024");
    assert_eq!(opd("64495", "2023-06-30"), None, "before the facet program");
    assert_eq!(
        opd("67911", "2021-12-31").as_deref(),
        Some("5.1.10-OPD-BLEPHAROPLASTY-67911")
    );
    assert_eq!(opd("67911", "2022-01-01"), None);
    let dme = |code: &str, date: &str| on(code, date, ClaimKind::Professional, "12");
    assert_eq!(
        dme("K0823", "2022-04-12"),
        None,
        "before the April 2022 list"
    );
    assert_eq!(
        dme("K0823", "2022-04-13").as_deref(),
        Some("5.1.11-DMEPOS-POWER-MOBILITY")
    );
    assert_eq!(dme("L1832", "2022-04-12"), None);
    assert_eq!(
        dme("L1832", "2022-04-13").as_deref(),
        Some("5.1.11-DMEPOS-ORTHOSES")
    );
}

#[test]
fn output_json_has_the_spec_shape() {
    let mut w = World::mri("A9,M1,1234567893,70551,1,0,2026-01-10,2026-04-10,approved\n");
    let c = w.run(&claim(
        "PCN-0001",
        &["A9"],
        vec![line(1, "70551", "2", "2400", "2026-03-04")],
    ));
    let v = serde_json::to_value(&c).unwrap();
    let l = &v["lines"][0];
    assert_eq!(v["status"], "partial");
    assert_eq!(l["line"], 1);
    assert_eq!(l["procedure"], "70551");
    assert_eq!(l["revenue_code"], serde_json::Value::Null);
    assert_eq!(l["service_date"], "2026-03-04");
    assert_eq!(l["units"], "2");
    assert_eq!(l["charge"], "2400.00");
    assert_eq!(l["decision"], "partial");
    assert_eq!(l["rule"], "5.1.2-MRI");
    assert_eq!(l["authorization"], "A9");
    assert_eq!(l["suggestion"], serde_json::Value::Null);
    assert_eq!(l["exemption"], serde_json::Value::Null);
    assert_eq!(l["units_approved"], "1");
    assert_eq!(l["units_denied"], "1");
    assert_eq!(
        l["adjustments"],
        serde_json::json!([{"group": "CO", "carc": "198", "amount": "1200.00", "units": "1"}])
    );
    assert_eq!(l["remarks"], serde_json::json!([]));
    let keys: Vec<&String> = l.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 17, "{keys:?}");
}

//! SPEC §3.1–§3.4 statement by statement (issue 13): the member and the
//! provider NPIs, dates and unit types, duplicates by content, and the rule
//! set in force. Each test is named after the statement it shows; those the
//! store is involved in run on SQLite and PostgreSQL.

use chrono::NaiveDate;
use priorauth::adjudication::{Adjudicator, ClaimDecision, Decision, MemoryHistory};
use priorauth::authorizations::{import_csv, AuthBook, UnitType};
use priorauth::model::{Claim, ClaimKind, DateRange, Frequency, Patient, ServiceLine};
use priorauth::rules::{RuleSet, RulesIndex};
use priorauth::store::{Store, SubmitOptions, Submitted};
use rust_decimal::Decimal;

use crate::adjudication::{claim, d, line, RENDERING};
use crate::service::{Backend, Db};

const RULES: &str = r#"
version = "payer-1"
[[rule]]
id = "5.1.1-INPATIENT"
section = "5.1.1"
title = "Inpatient admission"
bill_types = ["11"]
effective = "2020-01-01"
[[rule]]
id = "5.1.2-MRI"
section = "5.1.2"
title = "MRI"
codes = ["70540-70553"]
effective = "2020-01-01"
[[rule]]
id = "5.1.3-CPAP"
section = "5.1.3"
title = "CPAP"
codes = ["E0601"]
effective = "2020-01-01"
[[rule]]
id = "5.1.8-HOME"
section = "5.1.8"
title = "Home health"
codes = ["G0299"]
effective = "2020-01-01"
"#;

const HEADER: &str = "number,member_id,provider_npi,codes,units,units_used,start_date,end_date,status,patient_birth_date,unit_type\n";

const ATTENDING: &str = "1497758544";
const OTHER: &str = "1659355883";

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn range(a: &str, b: &str) -> DateRange {
    DateRange {
        start: date(a),
        end: date(b),
    }
}

struct World {
    index: RulesIndex,
    book: AuthBook,
    history: MemoryHistory,
}

impl World {
    fn new(rows: &str) -> World {
        let csv = format!("{HEADER}{rows}");
        World {
            index: RulesIndex::new(RuleSet::from_toml(RULES).unwrap()),
            book: AuthBook::new(import_csv(csv.as_bytes()).unwrap()),
            history: MemoryHistory::default(),
        }
    }

    fn run(&mut self, c: &Claim) -> ClaimDecision {
        let id = format!("P-{}-{}", c.claim_id, c.frequency_code);
        Adjudicator::new(&self.index).adjudicate(c, &id, &mut self.book, &mut self.history)
    }

    fn used(&self, n: &str) -> Decimal {
        self.book.get(n).unwrap().units_used
    }
}

fn codes(c: &ClaimDecision, line: usize) -> Vec<String> {
    c.lines[line]
        .adjustments
        .iter()
        .map(|a| {
            format!(
                "{}-{}:{}:{}",
                a.group.as_str(),
                a.carc.as_str(),
                a.units,
                a.amount
            )
        })
        .chain(c.lines[line].remarks.iter().map(|r| r.as_str().to_string()))
        .collect()
}

fn mri(id: &str, auth: &str) -> Claim {
    claim(
        id,
        &[auth],
        vec![line(1, "70551", "1", "1000.00", "2026-03-04")],
    )
}

fn dependent(mut c: Claim, birth: &str) -> Claim {
    c.patient = Some(Patient {
        relationship: "19".into(),
        birth_date: Some(date(birth)),
        last_name: "DOE".into(),
        first_name: "KID".into(),
    });
    c
}

/// An 837I inpatient claim (facility type 11) with a statement period.
fn inpatient(id: &str, auth: &str, from: &str, to: &str, lines: Vec<ServiceLine>) -> Claim {
    let mut c = claim(id, &[auth], lines);
    c.kind = ClaimKind::Institutional;
    c.facility_code = "11".into();
    c.statement_period = Some(range(from, to));
    c
}

/// A revenue-code line with no date of its own (the statement dates apply).
fn rev(n: u32, revenue: &str, units: &str, charge: &str) -> ServiceLine {
    let mut l = line(n, "", units, charge, "2026-03-01");
    l.procedure = None;
    l.revenue_code = Some(revenue.into());
    l.service_date = None;
    l
}

// ---- §3.1 member and provider ----

#[test]
fn s3_1_with_a_patient_loop_the_member_is_the_subscriber_id_and_the_patients_birth_date() {
    let mut w = World::new(
        "KID,M1,1234567893,70551,1,0,2026-01-01,2026-12-31,approved,2015-02-02,\n\
         SELF,M1,1234567893,70551,1,0,2026-01-01,2026-12-31,approved,,\n",
    );
    // The child's MRI under the parent's authorization: not the member.
    let c = w.run(&dependent(mri("C1", "SELF"), "2015-02-02"));
    assert_eq!(codes(&c, 0), ["CO-197:1:1000.00", "N54"]);
    // ... and the suggestion is the child's own authorization.
    assert_eq!(c.lines[0].suggestion.as_deref(), Some("KID"));
    // (Other charges: the same services again would be a duplicate.)
    let mut again = dependent(mri("C2", "KID"), "2015-02-02");
    again.lines[0].charge = d("999.00");
    let c = w.run(&again);
    assert_eq!(
        c.lines[0].decision,
        Decision::Approved,
        "{}",
        c.lines[0].reason
    );
    // Another dependent (another birth date) under the same subscriber id.
    let mut w =
        World::new("KID,M1,1234567893,70551,1,0,2026-01-01,2026-12-31,approved,2015-02-02,\n");
    let c = w.run(&dependent(mri("C3", "KID"), "2017-09-09"));
    assert_eq!(codes(&c, 0), ["CO-197:1:1000.00", "N54"]);
    assert_eq!(c.lines[0].suggestion, None);
    // No reason names the birth date (PHI).
    assert!(!c.lines[0].reason.contains("2015") && !c.lines[0].reason.contains("2017-09"));
}

#[test]
fn s3_1_without_a_patient_loop_the_birth_date_is_empty_or_the_subscribers() {
    let rows = "SELF,M1,1234567893,70551,3,0,2026-01-01,2026-12-31,approved,,\n\
                SAME,M1,1234567893,70551,3,0,2026-01-01,2026-12-31,approved,1970-01-01,\n\
                KID,M1,1234567893,70551,3,0,2026-01-01,2026-12-31,approved,2015-02-02,\n";
    let mut w = World::new(rows);
    let mut c = mri("C1", "SELF");
    c.subscriber.birth_date = Some(date("1970-01-01"));
    assert_eq!(w.run(&c).lines[0].decision, Decision::Approved);
    let mut c = mri("C2", "SAME");
    c.subscriber.birth_date = Some(date("1970-01-01"));
    c.lines[0].charge = d("999");
    assert_eq!(w.run(&c).lines[0].decision, Decision::Approved);
    let mut c = mri("C3", "KID");
    c.subscriber.birth_date = Some(date("1970-01-01"));
    c.lines[0].charge = d("998");
    assert_eq!(codes(&w.run(&c), 0), ["CO-197:1:998.00", "N54"]);
}

#[test]
fn s3_1_the_lines_rendering_npi_replaces_the_claims() {
    let rows = format!("A1,M1,{RENDERING},70551,2,0,2026-01-01,2026-12-31,approved,,\n");
    let mut w = World::new(&rows);
    let mut c = mri("C1", "A1");
    c.rendering_npi = Some(RENDERING.into());
    c.lines[0].rendering_npi = Some(OTHER.into());
    let got = w.run(&c);
    assert_eq!(codes(&got, 0), ["CO-296:1:1000.00", "N54"]);
    assert_eq!(
        got.lines[0].suggestion, None,
        "suggestions use the same NPIs"
    );
    let mut c = mri("C2", "A1");
    c.rendering_npi = Some(RENDERING.into());
    c.lines[0].charge = d("900");
    assert_eq!(w.run(&c).lines[0].decision, Decision::Approved);
}

#[test]
fn s3_1_on_an_837i_the_attending_npi_is_a_provider_npi() {
    let rows = format!("A1,M1,{ATTENDING},0360,2,0,2026-01-01,2026-12-31,approved,,\n");
    let mut w = World::new(&rows);
    let mut c = mri("C1", "A1");
    c.kind = ClaimKind::Institutional;
    c.facility_code = "13".into();
    c.lines[0].revenue_code = Some("0360".into());
    c.attending_npi = Some(ATTENDING.into());
    assert_eq!(w.run(&c).lines[0].decision, Decision::Approved);
    // On an 837P an attending NPI (not sent there) counts for nothing.
    let mut p = mri("C2", "A1");
    p.attending_npi = Some(ATTENDING.into());
    p.lines[0].charge = d("1");
    assert_eq!(codes(&w.run(&p), 0), ["CO-296:1:1.00", "N54"]);
}

// ---- §3.2 dates and units ----

#[test]
fn s3_2_a_line_with_modifier_rr_is_checked_on_its_first_day_only() {
    let rows = "R1,M1,1234567893,E0601,2,0,2026-01-01,2026-03-31,approved,,\n";
    let mut w = World::new(rows);
    let mut c = claim(
        "C1",
        &["R1"],
        vec![line(1, "E0601", "1", "250.00", "2026-03-10")],
    );
    c.lines[0].service_date = Some(range("2026-03-10", "2026-04-09"));
    c.lines[0].procedure.as_mut().unwrap().modifiers = vec!["RR".into()];
    assert_eq!(w.run(&c).lines[0].decision, Decision::Approved);
    // Without RR every day of the range is checked: past the end, CO-302.
    let mut c = c.clone();
    c.claim_id = "C2".into();
    c.lines[0].procedure.as_mut().unwrap().modifiers = vec!["NU".into()];
    assert_eq!(codes(&w.run(&c), 0), ["CO-302:1:250.00", "N351"]);
}

#[test]
fn s3_2_visits_one_visit_per_line_approved_with_its_billed_units_never_partial() {
    let rows = "V1,M1,1234567893,G0299,4,0,2026-01-01,2026-12-31,approved,,visits\n";
    let mut w = World::new(rows);
    let lines = (1..=5)
        .map(|n| line(n, "G0299", "4", "120.00", &format!("2026-03-0{n}")))
        .collect();
    let c = w.run(&claim("C1", &["V1"], lines));
    for l in &c.lines[..4] {
        assert_eq!(l.decision, Decision::Approved, "{}", l.reason);
        assert_eq!(l.units_approved, d("4"));
    }
    // No visit left: row 10 for the whole line.
    assert_eq!(codes(&c, 4), ["CO-198:4:120.00"]);
    assert_eq!(w.used("V1"), d("4"));
    assert!(c.consumption.iter().all(|x| x.units == Decimal::ONE));
}

#[test]
fn s3_2_days_accommodation_days_are_judged_one_by_one_in_the_order_197_302_198() {
    // Stay from 03-02 (6 days of 0120); authorized 03-02..03-05 for 3 days:
    // 03-02..03-04 approved, 03-05 beyond the days, 03-06 and 03-07 after.
    let rows = "D1,M1,1234567893,,3,0,2026-03-02,2026-03-05,approved,,days\n";
    let mut w = World::new(rows);
    let c = inpatient(
        "C1",
        "D1",
        "2026-03-02",
        "2026-03-08",
        vec![rev(1, "0120", "6", "600.00")],
    );
    let got = w.run(&c);
    let l = &got.lines[0];
    assert_eq!(l.decision, Decision::Partial, "{}", l.reason);
    assert_eq!((l.units_approved, l.units_denied), (d("3"), d("3")));
    assert_eq!(
        codes(&got, 0),
        ["CO-302:2:200.00", "CO-198:1:100.00", "N351"]
    );
    assert_eq!(w.used("D1"), d("3"));
    assert_eq!(got.consumption[0].units, d("3"));
    // Rows 8a/8b are judged on the line's first day: a stay starting before
    // the authorization is denied whole (CO-197, N351), nothing consumed.
    let early = inpatient(
        "C2",
        "D1",
        "2026-03-01",
        "2026-03-03",
        vec![rev(1, "0120", "2", "200.00")],
    );
    let got = w.run(&early);
    assert_eq!(codes(&got, 0), ["CO-197:2:200.00", "N351"]);
    assert_eq!(w.used("D1"), d("3"));
}

#[test]
fn s3_2_days_a_fully_denied_line_adjusts_exactly_its_charge() {
    // 3 days of 100.00, none left: 03-01 and 03-02 CO-198, 03-03 after the
    // end CO-302 (33.33); the last adjustment takes the rest (66.67).
    let rows = "D1,M1,1234567893,,0,0,2026-03-01,2026-03-02,approved,,days\n\
                D2,M1,1234567893,,1,0,2026-03-01,2026-03-02,approved,,days\n";
    let mut w = World::new(rows);
    let c = inpatient(
        "C1",
        "D1",
        "2026-03-01",
        "2026-03-04",
        vec![rev(1, "0110", "3", "100.00")],
    );
    let got = w.run(&c);
    assert_eq!(got.lines[0].decision, Decision::Denied);
    assert_eq!(codes(&got, 0), ["CO-302:1:33.33", "CO-198:2:66.67", "N351"]);
    assert_eq!(got.lines[0].adjusted(), d("100.00"));
    // One day approved: 302 takes 33.33, the last (198) round(200/3) less
    // that = 33.34, so the denial is exactly round(100 × 2 / 3).
    // (Another room revenue code: the same services would be a duplicate.)
    let c = inpatient(
        "C2",
        "D2",
        "2026-03-01",
        "2026-03-04",
        vec![rev(1, "0111", "3", "100.00")],
    );
    let got = w.run(&c);
    assert_eq!(got.lines[0].decision, Decision::Partial);
    assert_eq!(codes(&got, 0), ["CO-302:1:33.33", "CO-198:1:33.34", "N351"]);
    assert_eq!(got.lines[0].adjusted(), d("66.67"));
}

#[test]
fn s3_2_days_accommodation_lines_are_laid_end_to_end_unless_dated() {
    let rows = "D1,M1,1234567893,,10,0,2026-03-01,2026-03-03,approved,,days\n";
    let mut w = World::new(rows);
    // Line 1: 03-01..03-02; line 2 follows: 03-03..03-04 (03-04 after the end).
    let c = inpatient(
        "C1",
        "D1",
        "2026-03-01",
        "2026-03-09",
        vec![rev(1, "0120", "2", "200.00"), rev(2, "0200", "2", "500.00")],
    );
    let got = w.run(&c);
    assert_eq!(got.lines[0].decision, Decision::Approved);
    assert_eq!(codes(&got, 1), ["CO-302:1:250.00", "N351"]);
    // A line with its own DTP*472 starts there (row 8b on its first day).
    let mut dated = rev(2, "0200", "2", "500.01");
    dated.service_date = Some(DateRange::day(date("2026-02-27")));
    let c = inpatient(
        "C2",
        "D1",
        "2026-03-01",
        "2026-03-09",
        vec![rev(1, "0120", "2", "200.01"), dated],
    );
    let got = w.run(&c);
    assert_eq!(codes(&got, 1), ["CO-197:2:500.01", "N351"]);
}

#[test]
fn s3_2_days_ancillary_lines_consume_nothing_and_are_judged_on_their_date() {
    let rows = "D1,M1,1234567893,,5,0,2026-03-01,2026-03-05,approved,,days\n";
    let mut w = World::new(rows);
    let mut late = rev(4, "0300", "3", "90.00");
    late.service_date = Some(DateRange::day(date("2026-03-08")));
    let c = inpatient(
        "C1",
        "D1",
        "2026-03-01",
        "2026-03-08",
        vec![
            rev(1, "0120", "5", "1000.00"),
            rev(2, "0250", "30", "300.00"),
            rev(3, "0300", "3", "60.00"),
            late,
        ],
    );
    let got = w.run(&c);
    assert_eq!(got.lines[0].decision, Decision::Approved);
    assert_eq!(
        got.lines[1].decision,
        Decision::Approved,
        "{}",
        got.lines[1].reason
    );
    assert_eq!(got.lines[1].units_approved, d("30"));
    assert_eq!(got.lines[2].decision, Decision::Approved);
    assert_eq!(codes(&got, 3), ["CO-302:3:90.00", "N351"]);
    assert_eq!(w.used("D1"), d("5"), "only the accommodation days");
}

#[test]
fn s3_2_days_on_a_claim_that_is_not_inpatient_are_billed_units() {
    let rows = "D1,M1,1234567893,70551,2,0,2026-01-01,2026-12-31,approved,,days\n";
    let mut w = World::new(rows);
    let c = claim(
        "C1",
        &["D1"],
        vec![line(1, "70551", "3", "300.00", "2026-03-04")],
    );
    let got = w.run(&c);
    assert_eq!(got.lines[0].decision, Decision::Partial);
    assert_eq!(codes(&got, 0), ["CO-198:1:100.00"]);
}

#[test]
fn s3_2_days_and_visits_are_given_back_by_a_replacement_or_void() {
    let rows = "D1,M1,1234567893,,5,0,2026-03-01,2026-03-10,approved,,days\n\
                V1,M1,1234567893,G0299,2,0,2026-01-01,2026-12-31,approved,,visits\n";
    let mut w = World::new(rows);
    let stay = inpatient(
        "S1",
        "D1",
        "2026-03-01",
        "2026-03-04",
        vec![rev(1, "0120", "3", "300.00")],
    );
    w.run(&stay);
    assert_eq!(w.used("D1"), d("3"));
    let mut void = stay.clone();
    void.frequency = Frequency::Void;
    void.frequency_code = "8".into();
    w.run(&void);
    assert_eq!(w.used("D1"), d("0"));
    let home = claim(
        "H1",
        &["V1"],
        vec![line(1, "G0299", "4", "80.00", "2026-03-04")],
    );
    w.run(&home);
    assert_eq!(w.used("V1"), d("1"));
    let mut repl = home.clone();
    repl.frequency = Frequency::Replacement;
    repl.frequency_code = "7".into();
    w.run(&repl);
    assert_eq!(w.used("V1"), d("1"), "reversed, then one visit again");
}

// ---- §3.3 duplicates ----

#[test]
fn s3_3_the_same_services_under_a_new_clm01_are_an_exact_duplicate() {
    let mut w = World::new("A1,M1,1234567893,70551,5,0,2026-01-01,2026-12-31,approved,,\n");
    let first = w.run(&mri("C1", "A1"));
    let again = w.run(&mri("C1-NEW", "A1"));
    assert_eq!(again.status, priorauth::adjudication::ClaimStatus::Denied);
    assert_eq!(codes(&again, 0), ["OA-18:1:1000.00"]);
    assert!(again.lines[0].reason.contains(&first.payer_claim_id));
    assert_eq!(w.used("A1"), d("1"), "nothing consumed by the duplicate");
}

#[test]
fn s3_3_a_reused_clm01_on_a_different_claim_is_not_a_duplicate() {
    let mut w = World::new("A1,M1,1234567893,70551,5,0,2026-01-01,2026-12-31,approved,,\n");
    w.run(&mri("C1", "A1"));
    let mut other = mri("C1", "A1");
    other.subscriber.member_id = "M2".into();
    assert_ne!(
        w.run(&other).lines[0]
            .adjustments
            .first()
            .map(|a| a.carc.as_str()),
        Some("18")
    );
    let mut later = mri("C1", "A1");
    later.lines[0].service_date = Some(DateRange::day(date("2026-03-05")));
    assert_eq!(w.run(&later).lines[0].decision, Decision::Approved);
}

#[test]
fn s3_3_lines_are_compared_as_a_multiset_on_their_services() {
    let mut w = World::new("A1,M1,1234567893,70551,9,0,2026-01-01,2026-12-31,approved,,\n");
    let lines = vec![
        line(1, "70551", "1", "1000.00", "2026-03-04"),
        line(2, "70553", "1", "800.00", "2026-03-04"),
    ];
    w.run(&claim("C1", &["A1"], lines.clone()));
    let mut swapped = vec![lines[1].clone(), lines[0].clone()];
    swapped[0].number = 1;
    swapped[1].number = 2;
    let got = w.run(&claim("C2", &["A1"], swapped));
    assert_eq!(codes(&got, 0), ["OA-18:1:800.00"]);
    // Another modifier is another service.
    let mut modified = lines.clone();
    modified[1].procedure.as_mut().unwrap().modifiers = vec!["26".into()];
    let got = w.run(&claim("C3", &["A1"], modified));
    assert_ne!(got.status, priorauth::adjudication::ClaimStatus::Denied);
}

#[test]
fn s3_3_the_member_of_a_dependent_is_part_of_the_content() {
    let mut w = World::new(
        "K1,M1,1234567893,70551,5,0,2026-01-01,2026-12-31,approved,2015-02-02,\n\
         K2,M1,1234567893,70551,5,0,2026-01-01,2026-12-31,approved,2017-09-09,\n",
    );
    w.run(&dependent(mri("C1", "K1"), "2015-02-02"));
    let twin = w.run(&dependent(mri("C2", "K2"), "2017-09-09"));
    assert_eq!(twin.lines[0].decision, Decision::Approved);
}

#[test]
fn s3_3_a_voided_claim_is_no_longer_live_so_its_services_may_be_sent_again() {
    let mut w = World::new("A1,M1,1234567893,70551,5,0,2026-01-01,2026-12-31,approved,,\n");
    w.run(&mri("C1", "A1"));
    let mut void = mri("C1", "A1");
    void.frequency = Frequency::Void;
    void.frequency_code = "8".into();
    w.run(&void);
    let again = w.run(&mri("C9", "A1"));
    assert_eq!(again.lines[0].decision, Decision::Approved);
    assert_eq!(w.used("A1"), d("1"));
}

// ---- the store: both backends ----

both!(
    s3_4_with_a_store_its_active_rule_set_decides_and_rules_overrides_it,
    s2_3_the_store_keeps_the_birth_date_and_unit_type,
    s3_2_the_store_consumes_and_reverses_days_and_visits,
    s3_3_the_store_finds_a_duplicate_by_content_across_submissions,
);

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn submit(store: &Store, index: &RulesIndex, claims: &[Claim]) -> Vec<ClaimDecision> {
    match block_on(store.submit(index, claims, SubmitOptions::default(), &|_| String::new()))
        .unwrap()
    {
        Submitted::Fresh(d, _) => d,
        Submitted::Replay(_) => panic!("no idempotency key was given"),
    }
}

fn store_with(db: &Db, rows: &str) -> (Store, RulesIndex) {
    let store = block_on(Store::open(&db.url, 2)).unwrap();
    let auths = import_csv(format!("{HEADER}{rows}").as_bytes()).unwrap();
    block_on(store.import_authorizations(&auths)).unwrap();
    (store, RulesIndex::new(RuleSet::from_toml(RULES).unwrap()))
}

fn s2_3_the_store_keeps_the_birth_date_and_unit_type(b: Backend) {
    let db = Db::fresh(b, "auth-cols");
    let (store, _) = store_with(
        &db,
        "K1,M1,1234567893,70551,5,0,2026-01-01,2026-12-31,approved,2015-02-02,visits\n",
    );
    let a = block_on(store.authorization("K1")).unwrap().unwrap();
    assert_eq!(a.patient_birth_date, Some(date("2015-02-02")));
    assert_eq!(a.unit_type, UnitType::Visits);
    let a = block_on(store.update_authorization("K1", |r| {
        r.patient_birth_date = None;
        r.unit_type = Some("days".into());
    }))
    .unwrap();
    assert_eq!((a.patient_birth_date, a.unit_type), (None, UnitType::Days));
    let a = block_on(store.authorization("K1")).unwrap().unwrap();
    assert_eq!((a.patient_birth_date, a.unit_type), (None, UnitType::Days));
    block_on(store.close());
}

fn s3_2_the_store_consumes_and_reverses_days_and_visits(b: Backend) {
    let db = Db::fresh(b, "days");
    let (store, index) = store_with(
        &db,
        "D1,M1,1234567893,,4,0,2026-03-01,2026-03-10,approved,,days\n\
         V1,M1,1234567893,G0299,3,0,2026-01-01,2026-12-31,approved,,visits\n",
    );
    let stay = inpatient(
        "S1",
        "D1",
        "2026-03-01",
        "2026-03-07",
        vec![
            rev(1, "0120", "6", "600.00"),
            rev(2, "0250", "20", "200.00"),
        ],
    );
    let got = submit(&store, &index, std::slice::from_ref(&stay));
    assert_eq!(got[0].lines[0].units_approved, d("4"));
    assert_eq!(got[0].lines[1].decision, Decision::Approved);
    let used = |n: &str| {
        block_on(store.authorization(n))
            .unwrap()
            .unwrap()
            .units_used
    };
    assert_eq!(used("D1"), d("4"), "days, not the pharmacy units");
    let home = claim(
        "H1",
        &["V1"],
        vec![
            line(1, "G0299", "4", "80.00", "2026-03-04"),
            line(2, "G0299", "4", "80.00", "2026-03-05"),
        ],
    );
    submit(&store, &index, std::slice::from_ref(&home));
    assert_eq!(used("V1"), d("2"));
    // A void gives back what the ledger recorded, in days and visits.
    let mut void = stay.clone();
    void.frequency = Frequency::Void;
    void.frequency_code = "8".into();
    let mut repl = home.clone();
    repl.frequency = Frequency::Replacement;
    repl.frequency_code = "7".into();
    repl.lines.truncate(1);
    repl.total_charge = d("80.00");
    submit(&store, &index, &[void, repl]);
    assert_eq!(used("D1"), d("0"));
    assert_eq!(used("V1"), d("1"));
    block_on(store.close());
}

fn s3_3_the_store_finds_a_duplicate_by_content_across_submissions(b: Backend) {
    let db = Db::fresh(b, "content-dup");
    let (store, index) = store_with(
        &db,
        "A1,M1,1234567893,70551,5,0,2026-01-01,2026-12-31,approved,,\n",
    );
    let first = submit(&store, &index, &[mri("C1", "A1")]);
    let dup = submit(&store, &index, &[mri("C1-AGAIN", "A1")]);
    assert_eq!(codes(&dup[0], 0), ["OA-18:1:1000.00"]);
    assert!(dup[0].lines[0].reason.contains(&first[0].payer_claim_id));
    // Replaced (by F8), the first claim can no longer be duplicated.
    let mut repl = mri("C1-FIX", "A1");
    repl.frequency = Frequency::Replacement;
    repl.frequency_code = "7".into();
    repl.payer_claim_number = Some(first[0].payer_claim_id.clone());
    repl.lines[0].charge = d("950.00");
    repl.total_charge = d("950.00");
    submit(&store, &index, &[repl]);
    let again = submit(&store, &index, &[mri("C8", "A1")]);
    assert_eq!(again[0].lines[0].decision, Decision::Approved);
    // A reused CLM01 on other services is adjudicated afresh ...
    let mut other = mri("C8", "A1");
    other.lines[0].service_date = Some(DateRange::day(date("2026-03-05")));
    let got = submit(&store, &index, &[other]);
    assert_eq!(got[0].lines[0].decision, Decision::Approved);
    // ... and C8's first services stay a duplicate (in one submission too).
    let dup = submit(&store, &index, &[mri("C9", "A1"), mri("C10", "A1")]);
    assert_eq!(codes(&dup[0], 0), ["OA-18:1:1000.00"]);
    assert_eq!(codes(&dup[1], 0), ["OA-18:1:1000.00"]);
    let used = block_on(store.authorization("A1"))
        .unwrap()
        .unwrap()
        .units_used;
    assert_eq!(
        used,
        d("3"),
        "C1 reversed; C1-FIX, C8 and C8 again consumed"
    );
    block_on(store.close());
}

// ---- §2.1 intake ----

fn parse_one(x12: &str) -> Claim {
    let mut p = priorauth::x12::Parser::new(x12.as_bytes());
    let set = p.next_set().unwrap();
    assert!(set.errors.is_empty(), "{:?}", set.errors);
    set.claims.into_iter().next().unwrap()
}

#[test]
fn s2_1_intake_reads_birth_dates_sbr01_and_the_attending_and_not_837i_line_ref_g1() {
    let mut c = dependent(mri("C1", "A1"), "2015-02-02");
    c.subscriber.birth_date = Some(date("1970-01-01"));
    c.subscriber.payer_responsibility = "S".into();
    let got = parse_one(&crate::render::render(std::slice::from_ref(&c)));
    assert_eq!(got.subscriber.birth_date, Some(date("1970-01-01")));
    assert_eq!(got.subscriber.payer_responsibility, "S");
    assert_eq!(got.patient.unwrap().birth_date, Some(date("2015-02-02")));
    let mut i = inpatient(
        "I1",
        "A1",
        "2026-03-01",
        "2026-03-03",
        vec![rev(1, "0120", "2", "200.00")],
    );
    i.attending_npi = Some(ATTENDING.into());
    i.lines[0].prior_auths = vec!["LINE-AUTH".into()];
    i.lines[0].unit_basis = Some("DA".into());
    let got = parse_one(&crate::render::render(std::slice::from_ref(&i)));
    assert_eq!(got.attending_npi.as_deref(), Some(ATTENDING));
    assert!(
        got.lines[0].prior_auths.is_empty(),
        "X223 has no 2400 REF*G1"
    );
    assert_eq!(got.prior_auths, ["A1"]);
    assert_eq!(got.lines[0].unit_basis.as_deref(), Some("DA"));
}

// ---- §3.4 the rule set in force ----

/// A rule set in which MRI needs no PA and 99213 does.
const STORED_RULES: &str = r#"
version = "stored-7"
[[rule]]
id = "X-OFFICE"
section = "5.1.9"
title = "Office visits"
codes = ["99213"]
effective = "2020-01-01"
"#;

fn s3_4_with_a_store_its_active_rule_set_decides_and_rules_overrides_it(b: Backend) {
    use crate::helpers::{priorauth, priorauth_ok};
    let db = Db::fresh(b, "in-force");
    let file = db.dir.join("stored.toml");
    std::fs::write(&file, STORED_RULES).unwrap();
    let file = file.to_str().unwrap().to_string();
    let json = |args: &[&str]| -> serde_json::Value {
        serde_json::from_slice(&priorauth_ok(args)).unwrap()
    };
    // Before any set is stored, the bundled set is in force.
    let check = json(&[
        "rules",
        "check",
        "--database",
        &db.url,
        "--code",
        "70551",
        "--date",
        "2026-03-04",
    ]);
    assert_eq!(check["rule_set"], "2026.11");
    let out = priorauth(&["import", "rules", &file, "--database", &db.url]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // rules check and rules list answer from the store's active set.
    let check = json(&[
        "rules",
        "check",
        "--database",
        &db.url,
        "--code",
        "70551",
        "--date",
        "2026-03-04",
    ]);
    assert_eq!(check["rule_set"], "stored-7");
    assert_eq!(check["requires_authorization"], false);
    let check = json(&[
        "rules",
        "check",
        "--database",
        &db.url,
        "--code",
        "99213",
        "--date",
        "2026-03-04",
    ]);
    assert_eq!(check["rule"], "X-OFFICE");
    let listed = priorauth_ok(&["rules", "list", "--database", &db.url]);
    let listed = String::from_utf8_lossy(&listed);
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert!(listed.contains("X-OFFICE"));
    // --rules overrides it for that run only.
    let check = json(&[
        "rules",
        "check",
        "--database",
        &db.url,
        "--rules",
        "fixtures/rules/hap-5.1.toml",
        "--code",
        "70551",
        "--date",
        "2026-03-04",
    ]);
    assert_eq!(
        (check["rule_set"].as_str(), check["rule"].as_str()),
        (Some("2026.11"), Some("5.1.2-MRI"))
    );
    // adjudicate --db: the stored set decides and is named.
    let got = json(&[
        "adjudicate",
        "--db",
        &db.url,
        "fixtures/x12/837p-sample.x12",
    ]);
    assert_eq!(got["rule_set"], "stored-7");
    let rules: Vec<&str> = got["claims"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["lines"].as_array().unwrap().iter())
        .filter_map(|l| l["rule"].as_str())
        .collect();
    assert!(rules.iter().all(|r| *r == "X-OFFICE"), "{rules:?}");
    let got = json(&[
        "adjudicate",
        "--db",
        &db.url,
        "--rules",
        "fixtures/rules/hap-5.1.toml",
        "fixtures/x12/837p-sample.x12",
    ]);
    assert_eq!(got["rule_set"], "2026.11");
    // Stored with --commit, explain names the set that decided.
    let got = json(&[
        "adjudicate",
        "--db",
        &db.url,
        "--commit",
        "fixtures/x12/837p-sample.x12",
    ]);
    let id = got["claims"][0]["payer_claim_id"].as_str().unwrap();
    let explain = priorauth(&["explain", id, "--database", &db.url]);
    assert!(
        String::from_utf8_lossy(&explain.stdout).contains("rule set stored-7"),
        "{}",
        String::from_utf8_lossy(&explain.stdout)
    );
}

// ---- §2.2 network = "out" with a network directory ----

#[test]
fn s2_2_a_network_out_rule_applies_only_when_the_billing_provider_is_out_of_network() {
    use priorauth::model::NetworkDirectory;
    let rules = RulesIndex::new(RuleSet::bundled().unwrap());
    let c = claim(
        "C1",
        &[],
        vec![line(1, "99213", "1", "100.00", "2026-03-04")],
    );
    let decide = |network: &NetworkDirectory| {
        let mut book = AuthBook::default();
        let mut history = MemoryHistory::default();
        Adjudicator::new(&rules)
            .with_network(network)
            .adjudicate(&c, "P1", &mut book, &mut history)
    };
    // An empty directory: everyone in network.
    let empty = NetworkDirectory::new();
    assert_eq!(decide(&empty).lines[0].decision, Decision::NotRequired);
    let mut dir = NetworkDirectory::new();
    dir.add("1234567893", date("2026-01-01"), Some(date("2026-02-28")));
    let out = decide(&dir);
    assert_eq!(out.lines[0].rule.as_deref(), Some("5.1.12-OUT-OF-PLAN"));
    assert_eq!(codes(&out, 0), ["CO-197:1:100.00", "M62"]);
    dir.add("1234567893", date("2026-03-01"), None);
    assert_eq!(decide(&dir).lines[0].decision, Decision::NotRequired);
}

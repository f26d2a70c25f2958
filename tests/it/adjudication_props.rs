//! Property tests over random claims and authorizations: units consumed
//! never exceed units approved, denied amounts never exceed charges, and
//! the same input always gives the same output.

use proptest::prelude::*;
use rust_decimal::Decimal;

use crate::adjudication::{claim, line, World};
use priorauth::adjudication::Decision;

pub fn auth_rows() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            0u8..4,
            prop_oneof![Just("1234567893"), Just("1245319599")],
            prop_oneof![Just(""), Just("70551"), Just("70540-70553"), Just("99213")],
            prop::option::of(0u32..6),
            0u32..3,
            0u32..60,
            0u32..90,
            prop_oneof![
                Just("approved"),
                Just("approved"),
                Just("denied"),
                Just("pending"),
                Just("cancelled")
            ],
        ),
        0..6,
    )
    .prop_map(|rows| {
        rows.iter()
            .enumerate()
            .map(|(i, (m, npi, codes, units, used, start, len, status))| {
                let start = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()
                    + chrono::Duration::days(i64::from(*start));
                let end = start + chrono::Duration::days(i64::from(*len));
                format!(
                    "A{i},M{m},{npi},{codes},{},{},{start},{end},{status}\n",
                    units.map(|u| u.to_string()).unwrap_or_default(),
                    if units.is_some() {
                        used.to_string()
                    } else {
                        String::new()
                    }
                )
            })
            .collect()
    })
}

pub fn claims() -> impl Strategy<Value = Vec<priorauth::model::Claim>> {
    prop::collection::vec(
        (
            0u8..4,
            prop::collection::vec(0u8..8, 0..3),
            prop::collection::vec(
                (
                    prop_oneof![Just("70551"), Just("70553"), Just("99213")],
                    1u32..5,
                    1u32..500_000,
                    0u32..100,
                    prop::collection::vec(0u8..8, 0..3),
                ),
                1..5,
            ),
            prop_oneof![Just("1"), Just("1"), Just("7"), Just("8")],
            0u8..5,
        ),
        1..12,
    )
    .prop_map(|cs| {
        cs.into_iter()
            .map(|(m, auths, lines, freq, pcn)| {
                let lines = lines
                    .into_iter()
                    .enumerate()
                    .map(|(i, (code, units, cents, day, line_auths))| {
                        let date = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()
                            + chrono::Duration::days(i64::from(day));
                        let mut l = line(
                            i as u32 + 1,
                            code,
                            &units.to_string(),
                            &Decimal::new(i64::from(cents), 2).to_string(),
                            &date.to_string(),
                        );
                        l.prior_auths = line_auths.iter().map(|a| format!("A{a}")).collect();
                        l
                    })
                    .collect();
                let auths: Vec<String> = auths.iter().map(|a| format!("A{a}")).collect();
                let auth_refs: Vec<&str> = auths.iter().map(String::as_str).collect();
                let mut c = claim(&format!("PCN{pcn}"), &auth_refs, lines);
                c.subscriber.member_id = format!("M{m}");
                c.frequency = priorauth::model::Frequency::from_code(freq);
                c.frequency_code = freq.to_string();
                c
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn consumption_and_amounts_stay_within_bounds_and_runs_repeat(rows in auth_rows(), cs in claims()) {
        let mut w = World::mri(&rows);
        let before: Vec<(String, Option<Decimal>, Decimal)> =
            w.book.iter().map(|a| (a.number.clone(), a.units, a.units_used)).collect();
        let out: Vec<_> = cs.iter().map(|c| w.run(c)).collect();
        for (number, units, used_before) in &before {
            let used = w.used(number);
            if let Some(units) = units {
                prop_assert!(used <= (*units).max(*used_before), "{number}: used {used} of {units}");
            }
            prop_assert!(used >= Decimal::ZERO);
        }
        for c in &out {
            for l in &c.lines {
                prop_assert!(l.adjusted() <= l.charge, "{l:?}");
                prop_assert!(l.adjustments.iter().all(|a| a.amount >= Decimal::ZERO));
                match l.decision {
                    Decision::Pended => prop_assert_eq!(l.units_approved + l.units_denied, Decimal::ZERO),
                    _ => prop_assert_eq!(l.units_approved + l.units_denied, l.units),
                }
                prop_assert!(!l.reason.is_empty());
            }
        }
        let mut again = World::mri(&rows);
        let out2: Vec<_> = cs.iter().map(|c| again.run(c)).collect();
        prop_assert_eq!(out, out2);
    }
}

// ---- issue 13: days, visits and duplicates by content ----

const PAYER_RULES: &str = r#"
version = "props-13"
[[rule]]
id = "IP"
section = "5.1.1"
title = "inpatient"
bill_types = ["11"]
effective = "2020-01-01"
[[rule]]
id = "HOME"
section = "5.1.8"
title = "home"
codes = ["G0299"]
effective = "2020-01-01"
"#;

const HEADER13: &str = "number,member_id,provider_npi,codes,units,units_used,start_date,end_date,status,patient_birth_date,unit_type\n";

fn world13(
    rows: &str,
) -> (
    priorauth::rules::RulesIndex,
    priorauth::authorizations::AuthBook,
) {
    let csv = format!("{HEADER13}{rows}");
    (
        priorauth::rules::RulesIndex::new(
            priorauth::rules::RuleSet::from_toml(PAYER_RULES).unwrap(),
        ),
        priorauth::authorizations::AuthBook::new(
            priorauth::authorizations::import_csv(csv.as_bytes()).unwrap(),
        ),
    )
}

/// A stay: (revenue code kind, units, cents, own day offset) per line.
fn stay_claim(
    id: &str,
    auth: &str,
    inpatient: bool,
    lines: &[(u8, u32, u32, Option<u32>)],
) -> priorauth::model::Claim {
    let from = chrono::NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
    let lines = lines
        .iter()
        .enumerate()
        .map(|(i, &(kind, units, cents, own))| {
            let mut l = line(
                i as u32 + 1,
                "99999",
                &units.to_string(),
                &Decimal::new(i64::from(cents), 2).to_string(),
                "2026-03-01",
            );
            l.procedure = None;
            l.revenue_code = Some(["0120", "0200", "0250", "0300"][usize::from(kind % 4)].into());
            l.service_date = own.map(|o| {
                priorauth::model::DateRange::day(from + chrono::Duration::days(i64::from(o)))
            });
            l
        })
        .collect();
    let mut c = claim(id, &[auth], lines);
    c.kind = priorauth::model::ClaimKind::Institutional;
    c.facility_code = if inpatient { "11" } else { "13" }.into();
    c.statement_period = Some(priorauth::model::DateRange {
        start: from,
        end: from + chrono::Duration::days(20),
    });
    c
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Days and visits are never consumed beyond what was approved, and a
    /// line whose days are all denied adjusts exactly its charge.
    #[test]
    fn days_and_visits_never_exceed_approval_and_denied_lines_adjust_their_charge(
        days in 0u32..8,
        start in 0u32..6,
        len in 0u32..8,
        visits in 0u32..4,
        stays in prop::collection::vec(
            (any::<bool>(), prop::collection::vec((0u8..4, 0u32..6, 1u32..100_000, prop::option::of(0u32..12)), 1..5)),
            1..4,
        ),
        home in prop::collection::vec((1u32..9, 1u32..20_000), 0..6),
    ) {
        let first = chrono::NaiveDate::from_ymd_opt(2026, 3, 1).unwrap() + chrono::Duration::days(i64::from(start));
        let last = first + chrono::Duration::days(i64::from(len));
        let rows = format!(
            "D1,M1,1234567893,,{days},0,{first},{last},approved,,days\n\
             V1,M1,1234567893,G0299,{visits},0,2026-01-01,2026-12-31,approved,,visits\n"
        );
        let (index, mut book) = world13(&rows);
        let mut history = priorauth::adjudication::MemoryHistory::default();
        let adj = priorauth::adjudication::Adjudicator::new(&index);
        let mut out = Vec::new();
        for (k, (inpatient, lines)) in stays.iter().enumerate() {
            let c = stay_claim(&format!("S{k}"), "D1", *inpatient, lines);
            out.push(adj.adjudicate(&c, &format!("P{k}"), &mut book, &mut history));
        }
        let home_lines: Vec<_> = home
            .iter()
            .enumerate()
            .map(|(i, &(units, cents))| {
                line(i as u32 + 1, "G0299", &units.to_string(), &Decimal::new(i64::from(cents), 2).to_string(), "2026-03-04")
            })
            .collect();
        if !home_lines.is_empty() {
            out.push(adj.adjudicate(&claim("H", &["V1"], home_lines), "PH", &mut book, &mut history));
        }
        let used = |n: &str| book.get(n).unwrap().units_used;
        prop_assert!(used("D1") <= Decimal::from(days), "days used {} of {days}", used("D1"));
        prop_assert!(used("V1") <= Decimal::from(visits), "visits used {} of {visits}", used("V1"));
        let consumed: Decimal = out.iter().flat_map(|c| c.consumption.iter()).map(|c| c.units).sum();
        prop_assert_eq!(consumed, used("D1") + used("V1"));
        for c in &out {
            for l in &c.lines {
                prop_assert!(l.adjusted() <= l.charge, "{l:?}");
                prop_assert!(l.adjustments.iter().all(|a| a.amount >= Decimal::ZERO), "{l:?}");
                if l.decision == Decision::Denied {
                    prop_assert_eq!(l.adjusted(), l.charge, "{:?}", l);
                }
                prop_assert_eq!(l.units_approved + l.units_denied, l.units);
                if l.decision == Decision::Partial || l.decision == Decision::Approved {
                    prop_assert!(l.units_approved > Decimal::ZERO || l.units.is_zero());
                }
            }
        }
    }

    /// A claim sent again with another CLM01 and its lines in another order
    /// is an exact duplicate: CLM01 and line order play no part.
    #[test]
    fn duplicate_detection_is_independent_of_clm01_and_line_order(
        cs in claims(),
        pick in 0usize..12,
        rotate in 0usize..5,
        new_id in "[A-Z]{3}[0-9]{2}",
    ) {
        let mut w = World::mri("A0,M0,1234567893,,,,2026-01-01,2026-12-31,approved\n");
        let originals: Vec<_> = cs
            .iter()
            .filter(|c| c.frequency == priorauth::model::Frequency::Original)
            .collect();
        prop_assume!(!originals.is_empty());
        let target = originals[pick % originals.len()].clone();
        let first = w.run(&target);
        prop_assume!(first.status != priorauth::adjudication::ClaimStatus::Denied
            || first.lines.iter().all(|l| l.adjustments.iter().all(|a| a.carc.as_str() != "18")));
        let mut again = target.clone();
        again.claim_id = new_id;
        let n = again.lines.len();
        again.lines.rotate_left(rotate % n);
        for (i, l) in again.lines.iter_mut().enumerate() {
            l.number = i as u32 + 1;
        }
        let dup = w.run(&again);
        prop_assert_eq!(dup.status, priorauth::adjudication::ClaimStatus::Denied);
        for l in &dup.lines {
            prop_assert_eq!(l.adjustments.len(), 1);
            prop_assert_eq!(l.adjustments[0].carc.as_str(), "18");
            prop_assert_eq!(l.adjustments[0].amount, priorauth::adjudication::money(l.charge));
        }
        prop_assert!(dup.consumption.is_empty());
    }
}

// ---- issue 19: a replay decides without reason sentences ----

/// Blank reasons, so two decisions compare on everything else.
fn without_reason(
    mut d: priorauth::adjudication::ClaimDecision,
) -> priorauth::adjudication::ClaimDecision {
    for l in &mut d.lines {
        l.reason.clear();
    }
    d
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// `without_reasons` leaves every reason empty and changes nothing
    /// else: statuses, rules, authorizations, suggestions, codes, amounts,
    /// units and what is consumed, claim after claim against one book.
    #[test]
    fn deciding_without_reasons_changes_only_the_reasons(
        rows in auth_rows(),
        cs in claims(),
        stays in prop::collection::vec(
            (any::<bool>(), prop::collection::vec((0u8..4, 0u32..6, 1u32..100_000, prop::option::of(0u32..12)), 1..5)),
            1..4,
        ),
        days in 0u32..8,
    ) {
        let mut with = World::mri(&rows);
        let mut without = World::mri(&rows);
        for c in &cs {
            let id = format!("PAYER-{}", c.claim_id);
            let a = priorauth::adjudication::Adjudicator::new(&with.index)
                .adjudicate(c, &id, &mut with.book, &mut with.history);
            let b = priorauth::adjudication::Adjudicator::new(&without.index)
                .without_reasons()
                .adjudicate(c, &id, &mut without.book, &mut without.history);
            prop_assert!(a.lines.iter().all(|l| !l.reason.is_empty()));
            prop_assert!(b.lines.iter().all(|l| l.reason.is_empty()), "{:?}", b);
            prop_assert_eq!(without_reason(a), without_reason(b));
        }
        let rows13 = format!("D1,M1,1234567893,,{days},0,2026-03-02,2026-03-08,approved,,days\n");
        let (index, mut book_a) = world13(&rows13);
        let (_, mut book_b) = world13(&rows13);
        let mut history_a = priorauth::adjudication::MemoryHistory::default();
        let mut history_b = priorauth::adjudication::MemoryHistory::default();
        for (k, (inpatient, lines)) in stays.iter().enumerate() {
            let c = stay_claim(&format!("S{k}"), "D1", *inpatient, lines);
            let a = priorauth::adjudication::Adjudicator::new(&index)
                .adjudicate(&c, &format!("P{k}"), &mut book_a, &mut history_a);
            let b = priorauth::adjudication::Adjudicator::new(&index)
                .without_reasons()
                .adjudicate(&c, &format!("P{k}"), &mut book_b, &mut history_b);
            prop_assert_eq!(without_reason(a), without_reason(b));
        }
    }
}

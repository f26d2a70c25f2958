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

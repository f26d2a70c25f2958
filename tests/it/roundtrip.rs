//! Property test: random claims rendered to X12 parse back unchanged.

use chrono::NaiveDate;
use priorauth::model::{
    Claim, ClaimKind, DateRange, Frequency, Patient, Procedure, ServiceLine, Subscriber,
};
use priorauth::x12::Parser;
use proptest::prelude::*;
use rust_decimal::Decimal;

fn ident() -> impl Strategy<Value = String> {
    "[A-Z0-9]{1,12}"
}

fn name() -> impl Strategy<Value = String> {
    "[A-Z]{1,10}( [A-Z]{1,5})?"
}

fn money() -> impl Strategy<Value = Decimal> {
    (0i64..10_000_000, 0u32..3).prop_map(|(m, s)| Decimal::new(m, s))
}

fn date_range() -> impl Strategy<Value = DateRange> {
    (0i64..3000, 0i64..40).prop_map(|(a, len)| {
        let start = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap() + chrono::Duration::days(a);
        DateRange {
            start,
            end: start + chrono::Duration::days(len),
        }
    })
}

fn line(kind: ClaimKind, number: u32) -> impl Strategy<Value = ServiceLine> {
    (
        ("[0-9A-Z]{5}", prop::collection::vec("[A-Z0-9]{2}", 0..=4)),
        money(),
        (1i64..1000, 0u32..2).prop_map(|(u, s)| Decimal::new(u, s)),
        prop::option::of("[0-9]{2}"),
        any::<bool>(),
        prop::option::of(date_range()),
        prop::collection::vec(ident(), 0..=5),
        prop::collection::vec(ident(), 0..=2),
        prop::option::of(ident()),
        prop::option::of("[0-9]{10}"),
        "0[0-9]{3}",
    )
        .prop_map(
            move |(
                (code, modifiers),
                charge,
                units,
                pos,
                emergency,
                date,
                auths,
                refs,
                ctl,
                npi,
                rev,
            )| {
                let institutional = kind == ClaimKind::Institutional;
                let professional = kind == ClaimKind::Professional;
                ServiceLine {
                    number,
                    procedure: Some(Procedure {
                        qualifier: if kind == ClaimKind::Dental {
                            "AD".into()
                        } else {
                            "HC".into()
                        },
                        code,
                        modifiers,
                    }),
                    revenue_code: institutional.then_some(rev),
                    charge,
                    unit_basis: (kind != ClaimKind::Dental).then(|| "UN".into()),
                    units,
                    place_of_service: if institutional { None } else { pos },
                    emergency: professional && emergency,
                    service_date: date,
                    // 837I has no line-level authorizations.
                    prior_auths: if professional { auths } else { vec![] },
                    referrals: if professional { refs } else { vec![] },
                    control_number: ctl,
                    rendering_npi: npi,
                }
            },
        )
}

fn claim() -> impl Strategy<Value = Claim> {
    prop_oneof![
        Just(ClaimKind::Professional),
        Just(ClaimKind::Institutional),
        Just(ClaimKind::Dental)
    ]
    .prop_flat_map(|kind| {
        (
            (
                ident(),
                money(),
                "[0-9]{2}",
                prop_oneof![Just("1"), Just("7"), Just("8")],
            ),
            ("[0-9]{10}", prop::option::of("[0-9]{10}"), name()),
            (
                ident(),
                prop_oneof![Just("CI"), Just("MB"), Just("MC"), Just("16")],
                name(),
                name(),
            ),
            prop::option::of(("[0-9]{2}", name(), name())),
            (
                prop::collection::vec(ident(), 0..=1),
                prop::collection::vec(ident(), 0..=1),
                prop::option::of(ident()),
            ),
            prop::collection::vec("[A-Z][0-9]{2,6}", 0..=12),
            (
                prop::option::of(date_range()),
                prop::option::of(date_range()),
                prop::option::of("[1-5]"),
            ),
            (1usize..=6)
                .prop_flat_map(move |n| (1..=n as u32).map(|i| line(kind, i)).collect::<Vec<_>>()),
        )
            .prop_map(move |(clm, npis, sub, pat, refs, dx, dates, lines)| {
                // Every line needs a service date: its own or the claim's.
                let fallback = DateRange::day(NaiveDate::from_ymd_opt(2026, 2, 3).unwrap());
                let undated = lines.iter().any(|l| l.service_date.is_none());
                let dates = match kind {
                    ClaimKind::Institutional if undated && dates.1.is_none() => {
                        (dates.0, Some(fallback), dates.2)
                    }
                    ClaimKind::Institutional => dates,
                    _ if undated && dates.0.is_none() => (Some(fallback), dates.1, dates.2),
                    _ => dates,
                };
                Claim {
                    kind,
                    claim_id: clm.0,
                    total_charge: clm.1,
                    facility_code: clm.2,
                    frequency: Frequency::from_code(clm.3),
                    frequency_code: clm.3.to_string(),
                    billing_npi: npis.0,
                    billing_name: npis.2,
                    attending_npi: (kind == ClaimKind::Institutional)
                        .then(|| npis.1.clone())
                        .flatten(),
                    rendering_npi: npis.1,
                    subscriber: Subscriber {
                        birth_date: (sub.0.len() % 2 == 0)
                            .then(|| NaiveDate::from_ymd_opt(1980, 1, 31).unwrap()),
                        member_id: sub.0,
                        filing_indicator: sub.1.to_string(),
                        last_name: sub.2,
                        first_name: sub.3,
                        payer_responsibility: "P".into(),
                    },
                    patient: pat.map(|(relationship, last_name, first_name)| Patient {
                        relationship,
                        last_name,
                        first_name,
                        birth_date: NaiveDate::from_ymd_opt(2012, 7, 4),
                    }),
                    prior_auths: refs.0,
                    referrals: refs.1,
                    payer_claim_number: refs.2,
                    trace_number: None,
                    diagnoses: dx,
                    service_date: if kind == ClaimKind::Institutional {
                        None
                    } else {
                        dates.0
                    },
                    statement_period: if kind == ClaimKind::Institutional {
                        dates.1
                    } else {
                        None
                    },
                    admission_type: if kind == ClaimKind::Institutional {
                        dates.2
                    } else {
                        None
                    },
                    lines,
                    transaction_set: "0001".into(),
                }
            })
    })
}

fn parse_all(x12: &str) -> (Vec<Claim>, Vec<String>) {
    let mut p = Parser::new(x12.as_bytes());
    let (mut claims, mut errors) = (Vec::new(), Vec::new());
    while let Some(set) = p.next_set() {
        errors.extend(set.errors.iter().map(|e| e.message.clone()));
        claims.extend(set.claims);
    }
    (claims, errors)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn rendered_claims_parse_back_unchanged(kind_claims in prop::collection::vec(claim(), 1..5)) {
        // One set holds one kind of claim: take the kind of the first.
        let kind = kind_claims[0].kind;
        let claims: Vec<Claim> = kind_claims.into_iter().filter(|c| c.kind == kind).collect();
        let x12 = crate::render::render(&claims);
        let (parsed, errors) = parse_all(&x12);
        prop_assert!(errors.is_empty(), "errors {:?} in\n{}", errors, x12);
        prop_assert_eq!(parsed, claims);
    }

    #[test]
    fn any_bytes_never_panic_and_lose_nothing_silently(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        let mut p = Parser::new(&bytes[..]);
        while p.next_set().is_some() {}
        let s = p.summary();
        prop_assert_eq!(s.bytes as usize, bytes.len().min(s.bytes as usize));
        if s.interchanges == 0 {
            prop_assert!(!p.envelope_errors().is_empty(), "no ISA and no error");
        }
    }
}

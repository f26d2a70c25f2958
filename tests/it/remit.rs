//! The 835: clean under pyx12, and balanced (CLP03 − CLP04 = Σ CAS,
//! SVC02 − SVC03 = Σ line CAS, BPR02 = Σ CLP04) for any adjudication.

use proptest::prelude::*;
use rust_decimal::Decimal;

use crate::adjudication::World;
use crate::adjudication_props::{auth_rows, claims};
use crate::helpers::{adjudicate_samples, pyx12_errors};
use priorauth::x12::{write_835, Lexed, RemitConfig, SegmentReader};

fn dec(b: &[u8]) -> Decimal {
    std::str::from_utf8(b).unwrap().parse().unwrap()
}

/// Checks the balancing rules (CLP, SVC, BPR with PLB); returns the number
/// of CLP segments.
pub fn check_balanced(x12: &str) -> usize {
    let mut r = SegmentReader::new(x12.as_bytes());
    let (mut bpr, mut sum_clp, mut sum_plb) = (None::<Decimal>, Decimal::ZERO, Decimal::ZERO);
    let mut clp: Option<(Decimal, Decimal, Decimal)> = None; // charge, paid, adjustments
    let mut svc: Option<(Decimal, Decimal, Decimal)> = None;
    let mut claims = 0;
    let close_svc = |svc: &mut Option<(Decimal, Decimal, Decimal)>| {
        if let Some((c, p, a)) = svc.take() {
            assert_eq!(c - p, a, "SVC02 - SVC03 must equal its CAS");
        }
    };
    let close_clp = |clp: &mut Option<(Decimal, Decimal, Decimal)>| {
        if let Some((c, p, a)) = clp.take() {
            assert_eq!(c - p, a, "CLP03 - CLP04 must equal the CAS amounts");
        }
    };
    while let Some(Lexed::Segment(s)) = r.next_segment() {
        match s.id() {
            b"BPR" => bpr = Some(dec(s.element(2))),
            b"CLP" => {
                close_svc(&mut svc);
                close_clp(&mut clp);
                claims += 1;
                sum_clp += dec(s.element(4));
                clp = Some((dec(s.element(3)), dec(s.element(4)), Decimal::ZERO));
            }
            b"SVC" => {
                close_svc(&mut svc);
                svc = Some((dec(s.element(2)), dec(s.element(3)), Decimal::ZERO));
            }
            b"CAS" => {
                let amounts: Decimal = (0..6)
                    .map(|i| s.element(3 + i * 3))
                    .filter(|e| !e.is_empty())
                    .map(dec)
                    .sum();
                if let Some(v) = svc.as_mut() {
                    v.2 += amounts;
                }
                if let Some(v) = clp.as_mut() {
                    v.2 += amounts;
                }
            }
            b"PLB" => {
                sum_plb += (0..6)
                    .map(|i| s.element(4 + i * 2))
                    .filter(|e| !e.is_empty())
                    .map(dec)
                    .sum::<Decimal>();
            }
            b"SE" => {
                close_svc(&mut svc);
                close_clp(&mut clp);
                let bpr = bpr.take().expect("BPR");
                assert_eq!(
                    bpr,
                    sum_clp - sum_plb,
                    "BPR02 must equal the sum of CLP04 less the PLB amounts"
                );
                assert!(bpr >= Decimal::ZERO, "BPR02 is never negative");
                sum_clp = Decimal::ZERO;
                sum_plb = Decimal::ZERO;
            }
            _ => {}
        }
    }
    claims
}

#[test]
fn sample_835_validates_and_balances() {
    let x12 = String::from_utf8(adjudicate_samples(&["--format", "835"])).unwrap();
    assert_eq!(check_balanced(&x12), 5);
    assert!(x12.contains("CAS*CO*198*1200.00*1~"), "{x12}");
    assert!(x12.contains("LQ*HE*M62~"));
    assert!(x12.contains("REF*6R*PCN1L1~"));
    assert_eq!(pyx12_errors(&x12, "sample835"), None);
}

#[test]
fn generated_835_covering_every_decision_validates() {
    let rows = "A1,M1,1234567893,70551,2,0,2026-01-10,2026-04-10,approved\n\
                A2,M1,1234567893,70551,2,0,2026-01-10,2026-04-10,denied\n\
                A3,M1,1234567893,70553,2,0,2026-01-10,2026-04-10,approved\n\
                A4,M1,1234567893,70551,1,0,2026-01-10,2026-04-10,approved\n";
    let mut w = World::mri(rows);
    use crate::adjudication::{claim, line};
    let cs = [
        claim(
            "OK",
            &["A1"],
            vec![
                line(1, "70551", "1", "100", "2026-03-04"),
                line(2, "99213", "1", "50", "2026-03-04"),
            ],
        ),
        claim(
            "DENIED",
            &["A2"],
            vec![line(1, "70551", "1", "100", "2026-03-04")],
        ),
        claim(
            "CODES",
            &["A3"],
            vec![line(1, "70551", "1", "101", "2026-03-04")],
        ),
        claim(
            "PARTIAL",
            &["A4"],
            vec![line(1, "70551", "3", "100", "2026-03-04")],
        ),
        claim(
            "NONE",
            &[],
            vec![line(1, "70551", "1", "102", "2026-03-04")],
        ),
        // The first claim's services again under a new CLM01: a duplicate
        // by content (SPEC §3.3).
        claim(
            "OK-AGAIN",
            &["A1"],
            vec![
                line(1, "70551", "1", "100", "2026-03-04"),
                line(2, "99213", "1", "50", "2026-03-04"),
            ],
        ),
    ];
    let decided: Vec<_> = cs.iter().map(|c| w.run(c)).collect();
    let pairs: Vec<_> = cs.iter().zip(decided.iter()).collect();
    let x12 = write_835(&pairs, &RemitConfig::default());
    assert_eq!(check_balanced(&x12), 6);
    for code in [
        "CAS*CO*39*",
        "CAS*CO*284*",
        "CAS*CO*198*",
        "CAS*CO*197*",
        "CAS*OA*18*",
        "LQ*HE*N758",
    ] {
        assert!(x12.contains(code), "{code} missing in\n{x12}");
    }
    assert_eq!(pyx12_errors(&x12, "decisions835"), None);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn any_adjudication_gives_a_balanced_835(rows in auth_rows(), cs in claims()) {
        let mut w = World::mri(&rows);
        let decided: Vec<_> = cs.iter().map(|c| w.run(c)).collect();
        let pairs: Vec<_> = cs.iter().zip(decided.iter()).collect();
        let x12 = write_835(&pairs, &RemitConfig::default());
        check_balanced(&x12);
    }

    /// Reversals (what a replacement or void takes back) keep every total
    /// balanced, and a payee left owing is carried by a PLB, never a
    /// negative BPR.
    #[test]
    fn reversals_keep_the_835_balanced(rows in auth_rows(), cs in claims(), voids in prop::collection::vec(any::<bool>(), 8)) {
        let mut w = World::mri(&rows);
        let mut decided: Vec<_> = cs.iter().map(|c| w.run(c)).collect();
        for (i, void) in voids.iter().enumerate().take(decided.len()) {
            // Each claim takes back the decision before it (or its own).
            let earlier = decided[i.saturating_sub(1)].clone();
            let d = &mut decided[i];
            if *void {
                d.status = priorauth::adjudication::ClaimStatus::Voided;
            }
            d.takes_back = Some(Box::new(earlier));
        }
        let pairs: Vec<_> = cs.iter().zip(decided.iter()).collect();
        let x12 = write_835(&pairs, &RemitConfig::default());
        let expected = decided.iter().filter(|d| d.status != priorauth::adjudication::ClaimStatus::Pended)
            .map(|d| usize::from(d.takes_back.is_some()) + usize::from(d.status != priorauth::adjudication::ClaimStatus::Voided))
            .sum::<usize>();
        prop_assert_eq!(check_balanced(&x12), expected);
    }
}

#[test]
fn claim_acknowledgment_277ca_lists_every_accepted_claim_and_validates() {
    let x12 = String::from_utf8(adjudicate_samples(&["--format", "277ca"])).unwrap();
    assert_eq!(x12.matches("STC*A2:20*").count(), 5, "{x12}");
    for pcn in ["PCN-0001", "PCN-0002", "PCN-0003", "ICN-0001", "ICN-0002"] {
        assert!(x12.contains(&format!("TRN*2*{pcn}~")), "{pcn}");
    }
    assert!(x12.contains("QTY*90*5~"));
    assert_eq!(pyx12_errors(&x12, "ack277ca"), None);
}

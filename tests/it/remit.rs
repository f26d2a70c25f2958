//! The 835 is a notification-only advice of the claims denied in full
//! (SPEC §4), read back and checked by meaning: BPR*H*0*C*NON, one CLP per
//! claim with status `denied` and no other, CLP02 `4`, CLP04 `0`, SVC03
//! and SVC05 `0`, SVC07 the billed units, no PLB, no reversal; balanced
//! (CLP03 − CLP04 = Σ CAS, SVC02 − SVC03 = Σ line CAS) for any
//! adjudication; clean under pyx12. Then the 277CA.

use proptest::prelude::*;
use rust_decimal::Decimal;

use crate::adjudication::World;
use crate::adjudication_props::{auth_rows, claims};
use crate::helpers::{priorauth, pyx12_errors, root, temp_dir};
use priorauth::model::ClaimStatus;
use priorauth::x12::{write_835, Lexed, RemitConfig, SegmentReader};

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

/// The segments of an X12 text, each as its elements (id first).
pub fn segments(x12: &str) -> Vec<Vec<String>> {
    let mut r = SegmentReader::new(x12.as_bytes());
    let mut out = Vec::new();
    while let Some(Lexed::Segment(s)) = r.next_segment() {
        let id = String::from_utf8_lossy(s.id()).to_string();
        let mut v = vec![id];
        let mut i = 1;
        // ISA has 16 elements; other segments end at their last element.
        loop {
            let e = s.element(i);
            if e.is_empty() && i > 16 {
                break;
            }
            v.push(String::from_utf8_lossy(e).to_string());
            i += 1;
        }
        while v.len() > 1 && v.last().is_some_and(String::is_empty) {
            v.pop();
        }
        out.push(v);
    }
    out
}

fn el(seg: &[String], i: usize) -> &str {
    seg.get(i).map_or("", String::as_str)
}

/// Checks what every 835 priorauth writes must say, and its balance;
/// returns the CLP01 of each claim, in order.
pub fn check_notification_835(x12: &str) -> Vec<String> {
    let mut claims = Vec::new();
    let mut clp: Option<(Decimal, Decimal)> = None; // CLP03 - CLP04, Σ CAS
    let mut svc: Option<(Decimal, Decimal)> = None;
    let close = |v: &mut Option<(Decimal, Decimal)>, what: &str| {
        if let Some((want, got)) = v.take() {
            assert_eq!(want, got, "{what} must equal its CAS amounts");
        }
    };
    let mut bprs = 0;
    for s in segments(x12) {
        match s[0].as_str() {
            "BPR" => {
                bprs += 1;
                assert_eq!(
                    (el(&s, 1), el(&s, 2), el(&s, 3), el(&s, 4)),
                    ("H", "0", "C", "NON"),
                    "BPR must be notification only: {s:?}"
                );
            }
            "CLP" => {
                close(&mut svc, "SVC02 - SVC03");
                close(&mut clp, "CLP03 - CLP04");
                assert_eq!(el(&s, 2), "4", "CLP02: {s:?}");
                assert_eq!(el(&s, 4), "0", "CLP04: {s:?}");
                claims.push(el(&s, 1).to_string());
                clp = Some((dec(el(&s, 3)) - dec(el(&s, 4)), Decimal::ZERO));
            }
            "SVC" => {
                close(&mut svc, "SVC02 - SVC03");
                assert_eq!(el(&s, 3), "0", "SVC03: {s:?}");
                assert_eq!(el(&s, 5), "0", "SVC05: {s:?}");
                assert!(!el(&s, 7).is_empty(), "SVC07 (billed units): {s:?}");
                svc = Some((dec(el(&s, 2)) - dec(el(&s, 3)), Decimal::ZERO));
            }
            "CAS" => {
                let amounts: Decimal = (0..6)
                    .map(|i| el(&s, 3 + i * 3))
                    .filter(|e| !e.is_empty())
                    .map(dec)
                    .sum();
                for v in [svc.as_mut(), clp.as_mut()].into_iter().flatten() {
                    v.1 += amounts;
                }
            }
            "PLB" => panic!("no PLB in a notification-only 835: {s:?}"),
            "SE" => {
                close(&mut svc, "SVC02 - SVC03");
                close(&mut clp, "CLP03 - CLP04");
            }
            _ => {}
        }
    }
    assert!(bprs > 0, "no BPR in\n{x12}");
    claims
}

fn samples(extra: &[&str], files: &[&str]) -> std::process::Output {
    let mut args = vec!["adjudicate"];
    args.extend_from_slice(extra);
    let paths: Vec<String> = files
        .iter()
        .map(|f| root().join("fixtures/x12").join(f).display().to_string())
        .collect();
    args.extend(paths.iter().map(String::as_str));
    priorauth(&args)
}

#[test]
fn samples_with_no_claim_denied_in_full_have_no_835() {
    let auths = root().join("fixtures/auths/sample.csv");
    let out = samples(
        &["--auths", auths.to_str().unwrap(), "--format", "835"],
        &["837p-sample.x12", "837i-sample.x12"],
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no claim was denied in full"), "{err}");
}

#[test]
fn exact_duplicates_are_in_the_835_and_nothing_else_is() {
    // The same claims twice: the second copies of the original claims are
    // exact duplicates (denied, OA-18); PCN-0003 is a replacement and
    // the first copies are partial or approved: none of those appear.
    let auths = root().join("fixtures/auths/sample.csv");
    let out = samples(
        &["--auths", auths.to_str().unwrap(), "--format", "835"],
        &["837p-sample.x12", "837p-sample.x12"],
    );
    assert_eq!(out.status.code(), Some(0));
    let x12 = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        check_notification_835(&x12),
        ["PCN-0001", "PCN-0002"],
        "{x12}"
    );
    let segs = segments(&x12);
    let svc: Vec<&Vec<String>> = segs.iter().filter(|s| s[0] == "SVC").collect();
    assert_eq!(svc[0][1..].join("*"), "HC:70551*2400.00*0**0**2", "{x12}");
    assert!(x12.contains("CAS*OA*18*2400.00*2~"), "{x12}");
    assert!(!x12.contains("CLP*PCN-0003"), "{x12}");
    assert!(x12.contains("REF*6R*PCN1L1~"));
    assert_eq!(pyx12_errors(&x12, "dup835"), None);
}

#[test]
fn denials_without_authorizations_are_listed_per_payee() {
    // No authorization on file: every line that needs PA is CO-197/M62.
    // PCN-0002 and ICN-0001 need PA on every line (denied in full);
    // PCN-0001 has a line needing none (partial), the others none at all.
    let out = samples(
        &["--format", "835"],
        &["837p-sample.x12", "837i-sample.x12"],
    );
    assert_eq!(out.status.code(), Some(0));
    let x12 = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        check_notification_835(&x12),
        ["PCN-0002", "ICN-0001"],
        "{x12}"
    );
    let segs = segments(&x12);
    assert_eq!(
        segs.iter().filter(|s| s[0] == "ST").count(),
        2,
        "one set per payee"
    );
    assert!(
        x12.contains("N1*PE*GENERAL HOSPITAL*XX*1679576722~"),
        "{x12}"
    );
    // 837I: revenue code in SVC04, days billed in SVC07.
    assert!(x12.contains("SVC*HC:99223*12000.00*0*0120*0**4~"), "{x12}");
    assert!(x12.contains("CAS*CO*197*1200.00*1~"), "{x12}");
    assert_eq!(x12.matches("LQ*HE*M62~").count(), 4, "{x12}");
    assert_eq!(pyx12_errors(&x12, "noauth835"), None);
}

#[test]
fn generated_835_covering_every_denial_validates() {
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
    ];
    let decided: Vec<_> = cs.iter().map(|c| w.run(c)).collect();
    let pairs: Vec<_> = cs.iter().zip(decided.iter()).collect();
    let x12 = write_835(&pairs, &RemitConfig::default());
    assert_eq!(
        check_notification_835(&x12),
        ["DENIED", "CODES", "NONE"],
        "{x12}"
    );
    for code in ["CAS*CO*39*", "CAS*CO*284*", "CAS*CO*197*", "LQ*HE*N758"] {
        assert!(x12.contains(code), "{code} missing in\n{x12}");
    }
    assert!(
        !x12.contains("CO*198"),
        "the partial claim is not listed:\n{x12}"
    );
    assert_eq!(pyx12_errors(&x12, "decisions835"), None);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Any adjudication: exactly the claims denied in full, in payee
    /// order, and every amount balanced.
    #[test]
    fn any_adjudication_gives_a_balanced_835_of_its_denials(rows in auth_rows(), cs in claims()) {
        let mut w = World::mri(&rows);
        let decided: Vec<_> = cs.iter().map(|c| w.run(c)).collect();
        let pairs: Vec<_> = cs.iter().zip(decided.iter()).collect();
        let x12 = write_835(&pairs, &RemitConfig::default());
        let mut want: Vec<String> = decided
            .iter()
            .filter(|d| d.status == ClaimStatus::Denied)
            .map(|d| d.claim_id.clone())
            .collect();
        let mut got = if want.is_empty() { Vec::new() } else { check_notification_835(&x12) };
        want.sort();
        got.sort();
        prop_assert_eq!(got, want);
    }
}

/// The 837P sample with a clearinghouse trace number on its first claim.
fn sample_with_trace() -> String {
    std::fs::read_to_string(root().join("fixtures/x12/837p-sample.x12"))
        .unwrap()
        .replacen(
            "CLM*PCN-0001*2550***22:B:1*Y*A*Y*Y~\n",
            "CLM*PCN-0001*2550***22:B:1*Y*A*Y*Y~\nREF*D9*CH-TRACE-0001~\n",
            1,
        )
        .replacen("SE*74*0001~", "SE*75*0001~", 1)
}

#[test]
fn claim_acknowledgment_277ca_lists_every_accepted_claim_and_validates() {
    let dir = temp_dir("ack277ca-trace");
    let p = dir.join("trace.x12");
    std::fs::write(&p, sample_with_trace()).unwrap();
    let auths = root().join("fixtures/auths/sample.csv");
    let i = root().join("fixtures/x12/837i-sample.x12");
    let out = priorauth(&[
        "adjudicate",
        "--auths",
        auths.to_str().unwrap(),
        "--format",
        "277ca",
        p.to_str().unwrap(),
        i.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let x12 = String::from_utf8(out.stdout).unwrap();
    assert_eq!(x12.matches("STC*A2:20*").count(), 5, "{x12}");
    for pcn in ["PCN-0001", "PCN-0002", "PCN-0003", "ICN-0001", "ICN-0002"] {
        assert!(x12.contains(&format!("TRN*2*{pcn}~")), "{pcn}");
    }
    assert!(x12.contains("QTY*90*5~"));
    // REF*D9 echoed for the claim that had one, and only for it.
    assert_eq!(x12.matches("REF*D9*").count(), 1, "{x12}");
    let segs = segments(&x12);
    let claim_refs = |pcn: &str| -> Vec<String> {
        let at = segs
            .iter()
            .position(|s| s[0] == "TRN" && el(s, 2) == pcn)
            .unwrap();
        segs[at + 1..]
            .iter()
            .take_while(|s| s[0] != "HL" && s[0] != "SE")
            .filter(|s| s[0] == "REF")
            .map(|s| s[1..].join("*"))
            .collect()
    };
    assert_eq!(claim_refs("PCN-0001")[1], "D9*CH-TRACE-0001");
    // 837I claims carry their bill type (facility type code + frequency).
    assert_eq!(claim_refs("ICN-0001")[1], "BLT*111");
    assert_eq!(claim_refs("ICN-0002")[1], "BLT*131");
    assert!(claim_refs("PCN-0002").iter().all(|r| !r.starts_with("BLT")));
    assert_eq!(pyx12_errors(&x12, "ack277ca"), None);
}

#[test]
fn claims_of_rejected_sets_are_left_to_the_999() {
    // The 837P set fails its SE count: its claims are not in the 277CA
    // (no A3 status), the 837I set's claims are.
    let bad = std::fs::read_to_string(root().join("fixtures/x12/837p-sample.x12"))
        .unwrap()
        .replacen("SE*74*0001~", "SE*70*0001~", 1);
    let dir = temp_dir("ack277ca-rejected");
    let p = dir.join("bad.x12");
    std::fs::write(&p, bad).unwrap();
    let i = root().join("fixtures/x12/837i-sample.x12");
    let out = priorauth(&[
        "adjudicate",
        "--format",
        "277ca",
        p.to_str().unwrap(),
        i.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let x12 = String::from_utf8(out.stdout).unwrap();
    assert!(!x12.contains("STC*A3"), "{x12}");
    assert!(!x12.contains("PCN-000"), "{x12}");
    assert_eq!(x12.matches("STC*A2:20*").count(), 2, "{x12}");
    assert_eq!(pyx12_errors(&x12, "ack277ca-rejected"), None);
    // All sets rejected: no 277CA at all, a line on stderr, exit 1.
    let out = priorauth(&["adjudicate", "--format", "277ca", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
}

//! The 999: right codes for each error, and clean under pyx12.

use crate::helpers::{priorauth_stdin, pyx12_errors, root};

fn sample() -> String {
    std::fs::read_to_string(root().join("fixtures/x12/837p-sample.x12")).unwrap()
}

fn ack(input: &str) -> String {
    let out = priorauth_stdin(&["parse", "--format", "999", "-"], input.as_bytes());
    String::from_utf8(out.stdout).unwrap()
}

fn segments(ack: &str) -> Vec<String> {
    ack.split('~')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

#[test]
fn accepted_file_gets_ik5_a_and_ak9_a_and_validates() {
    let a = ack(&sample());
    let segs = segments(&a);
    assert!(
        segs.contains(&"AK1*HC*1001*005010X222A1".to_string()),
        "{a}"
    );
    assert!(
        segs.contains(&"AK2*837*0001*005010X222A1".to_string()),
        "{a}"
    );
    assert!(segs.contains(&"IK5*A".to_string()));
    // The sample's ISA15 is T (test data): the answer is marked test too.
    assert!(segs[0].ends_with("*0*T*:"), "{}", segs[0]);
    assert!(segs.contains(&"AK9*A*1*1*1".to_string()));
    assert_eq!(pyx12_errors(&a, "accepted"), None);
}

#[test]
fn element_errors_get_ik3_and_ik4_and_validate() {
    let bad = sample()
        .replacen("DTP*472*D8*20260304", "DTP*472*D8*20261304", 1)
        .replacen("SV1*HC:72148*1200", "SV1*HC:72148*12X0", 1);
    let a = ack(&bad);
    let segs = segments(&a);
    assert!(segs.contains(&"IK3*DTP*25*2400*8".to_string()), "{a}");
    assert!(segs.contains(&"IK4*3**8".to_string()), "{a}");
    assert!(
        segs.iter()
            .any(|s| s.starts_with("IK3*SV1*") && s.ends_with("*2400*8")),
        "{a}"
    );
    assert!(segs.contains(&"IK4*2**6".to_string()), "{a}");
    assert!(segs.contains(&"IK5*R*5".to_string()), "{a}");
    assert!(segs.contains(&"AK9*R*1*1*0".to_string()), "{a}");
    assert_eq!(pyx12_errors(&a, "elements"), None);
}

#[test]
fn envelope_and_structure_errors_validate_too() {
    let s = sample();
    let se = s
        .lines()
        .find(|l| l.starts_with("SE*"))
        .unwrap()
        .to_string();
    let cases = [
        ("se-count", s.replacen(&se, "SE*9*0001~", 1), "IK5*R*4"),
        (
            "se-control",
            s.replacen(&se, &se.replace("0001", "0009"), 1),
            "IK5*R*3",
        ),
        (
            "hl-parent",
            s.replacen("HL*3*1*22*0", "HL*3*2*22*0", 1),
            "IK4*2**7",
        ),
        (
            "no-lx",
            s.replacen("LX*1~\nSV1*HC:70450", "NTE*ADD*X~\nSV1*HC:70450", 1),
            "IK3*SV1*",
        ),
        (
            "guide",
            s.replacen("ST*837*0001*005010X222A1", "ST*837*0001*005010X291", 1),
            "IK5*R*I6",
        ),
        (
            "ge-count",
            s.replacen("GE*1*1001", "GE*4*1001", 1),
            "AK9*E*1*1*1*5",
        ),
    ];
    for (name, input, want) in cases {
        let a = ack(&input);
        assert!(a.contains(want), "{name}: want {want} in\n{a}");
        assert_eq!(pyx12_errors(&a, name), None, "{name}");
    }
}

#[test]
fn partially_accepted_group_is_p() {
    let s = sample();
    let st = s.find("ST*").unwrap();
    let ge = s.find("GE*").unwrap();
    let set = &s[st..ge];
    let second = set
        .replace("0001", "0002")
        .replace("SV1*HC:70551*2400", "SV1*HC:70551*x");
    let file = format!("{}{set}{second}GE*2*1001~\nIEA*1*000001001~\n", &s[..st]);
    let a = ack(&file);
    assert!(a.contains("AK9*P*2*2*1"), "{a}");
    assert_eq!(pyx12_errors(&a, "partial"), None);
}

fn ta1(input: &str, format_args: &[&str]) -> (Option<i32>, String, String) {
    let out = priorauth_stdin(format_args, input.as_bytes());
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn errors_inside_a_claim_name_it_in_ctx_and_clm_errors_are_in_loop_2300() {
    // CLM02 of PCN-0001 missing; a bad charge on a line of PCN-0002.
    let bad = sample()
        .replacen("CLM*PCN-0001*2550*", "CLM*PCN-0001**", 1)
        .replacen("SV1*HC:72148*1200", "SV1*HC:72148*12X0", 1);
    let a = ack(&bad);
    let segs = segments(&a);
    let clm = segs
        .iter()
        .position(|s| s.starts_with("IK3*CLM*"))
        .expect(&a);
    assert!(segs[clm].ends_with("*2300*8"), "{a}");
    assert_eq!(segs[clm + 1], "CTX*CLM01:PCN-0001", "{a}");
    assert_eq!(segs[clm + 2], "IK4*2**1", "{a}");
    let sv1 = segs
        .iter()
        .position(|s| s.starts_with("IK3*SV1*"))
        .expect(&a);
    assert!(segs[sv1].ends_with("*2400*8"), "{a}");
    assert_eq!(segs[sv1 + 1], "CTX*CLM01:PCN-0002", "{a}");
    // An error outside any claim has no CTX.
    let hl = ack(&sample().replacen("HL*3*1*22*0", "HL*3*2*22*0", 1));
    let hl_segs = segments(&hl);
    let at = hl_segs
        .iter()
        .position(|s| s.starts_with("IK3*HL*"))
        .expect(&hl);
    assert!(!hl_segs[at + 1].starts_with("CTX"), "{hl}");
    assert_eq!(pyx12_errors(&a, "ctx"), None);
    assert_eq!(pyx12_errors(&hl, "ctx-hl"), None);
}

#[test]
fn a_set_that_is_not_an_837_is_ik502_1_and_an_unknown_guide_i6() {
    let not837 = sample().replacen("ST*837*0001*005010X222A1", "ST*835*0001*005010X222A1", 1);
    let a = ack(&not837);
    assert!(segments(&a).contains(&"IK5*R*1".to_string()), "{a}");
    assert_eq!(pyx12_errors(&a, "not837"), None);
    let guide = sample().replacen("ST*837*0001*005010X222A1", "ST*837*0001*005010X221A1", 1);
    let a = ack(&guide);
    assert!(segments(&a).contains(&"IK5*R*I6".to_string()), "{a}");
}

#[test]
fn interchange_faults_get_a_ta1() {
    let s = sample();
    let cases = [
        (
            "iea-control",
            s.replacen("IEA*1*000001001", "IEA*1*000001002", 1),
            "E*001",
        ),
        (
            "iea-count",
            s.replacen("IEA*1*000001001", "IEA*2*000001001", 1),
            "E*021",
        ),
        ("no-iea", s.replacen("IEA*1*000001001~", "", 1), "E*023"),
        (
            "asked",
            s.replacen("*000001001*0*T*:~", "*000001001*1*T*:~", 1),
            "A*000",
        ),
    ];
    for (name, input, want) in cases {
        let want = format!("TA1*000001001*261120*0930*{want}");
        let (code, out, err) = ta1(&input, &["parse", "--format", "ta1", "-"]);
        let segs = segments(&out);
        assert!(segs[0].starts_with("ISA*"), "{name}: {out}{err}");
        assert_eq!(segs[1], want, "{name}: {out}");
        assert_eq!(
            segs[2].split('*').nth(1),
            Some("0"),
            "{name}: IEA01 0 groups: {out}"
        );
        assert!(code == Some(0) || code == Some(1), "{name}: {code:?}");
        // The 999 carries the TA1 too, and still validates.
        let (_, a, _) = ta1(&input, &["adjudicate", "--format", "999", "-"]);
        assert!(segments(&a).contains(&want), "{name}: {a}");
        assert!(a.contains("AK9*A*1*1*1"), "{name}: {a}");
        assert_eq!(pyx12_errors(&a, name), None, "{name}");
    }
    // A header that cannot be read: rejected, note 022, nothing read.
    let bad = s.replacen("ISA*00*          *", "ISA*00*     *", 1);
    let (code, out, _) = ta1(&bad, &["parse", "--format", "ta1", "-"]);
    assert_eq!(code, Some(1));
    assert!(
        segments(&out).contains(&"TA1*000001001*261120*0930*R*022".to_string()),
        "{out}"
    );
    // All in order and no TA1 asked for: nothing on stdout, why on stderr.
    let (code, out, err) = ta1(&s, &["parse", "--format", "ta1", "-"]);
    assert_eq!(code, Some(0));
    assert!(out.is_empty(), "{out}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!segments(&ack(&s)).iter().any(|g| g.starts_with("TA1")));
}

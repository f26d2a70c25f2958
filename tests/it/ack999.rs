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

//! The CLI as an API: exit codes, output shapes, golden files.

use crate::helpers::{priorauth, root};

fn golden(name: &str, got: &str) {
    let path = root().join("fixtures/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, got).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "{} missing: run with UPDATE_GOLDEN=1 and review it",
            path.display()
        )
    });
    if want != got {
        let diff: Vec<String> = want
            .lines()
            .zip(got.lines())
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .take(10)
            .map(|(i, (a, b))| format!("line {}:\n  want {a}\n  got  {b}", i + 1))
            .collect();
        panic!("{name} differs from golden file:\n{}", diff.join("\n"));
    }
}

fn pretty(stdout: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(stdout).unwrap();
    serde_json::to_string_pretty(&v).unwrap() + "\n"
}

#[test]
fn parse_samples_match_golden_claim_models() {
    for name in ["837p-sample", "837i-sample"] {
        let file = format!("fixtures/x12/{name}.x12");
        let out = priorauth(&["parse", &file]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        golden(&format!("{name}.parse.json"), &pretty(&out.stdout));
    }
}

#[test]
fn summary_counts() {
    let out = priorauth(&[
        "parse",
        "--summary",
        "fixtures/x12/837p-sample.x12",
        "fixtures/x12/837i-sample.x12",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["interchanges"], 2);
    assert_eq!(v["transaction_sets"], 2);
    assert_eq!(v["claims"], 5);
    assert_eq!(v["service_lines"], 9);
    assert_eq!(v["rejected_sets"], 0);
    let bytes = std::fs::metadata(root().join("fixtures/x12/837p-sample.x12"))
        .unwrap()
        .len()
        + std::fs::metadata(root().join("fixtures/x12/837i-sample.x12"))
            .unwrap()
            .len();
    assert_eq!(v["bytes"], bytes);
}

#[test]
fn exit_codes_follow_the_spec() {
    assert_eq!(
        priorauth(&["parse", "fixtures/x12/837p-sample.x12"])
            .status
            .code(),
        Some(0)
    );
    let missing = priorauth(&["parse", "no/such/file.x12"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no/such/file.x12"));
    assert_eq!(priorauth(&["parse"]).status.code(), Some(2));
    assert_eq!(priorauth(&["frobnicate"]).status.code(), Some(2));
    let dir = crate::helpers::temp_dir("exit");
    let bad = dir.join("bad.x12");
    let text = std::fs::read_to_string(root().join("fixtures/x12/837p-sample.x12")).unwrap();
    std::fs::write(&bad, text.replace("SV1*HC:70551*2400", "SV1*HC:70551*bad")).unwrap();
    let out = priorauth(&["parse", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["rejected"][0]["control_number"], "0001");
    assert_eq!(v["rejected"][0]["errors"][0]["id"], "SV1");
    assert_eq!(v["rejected"][0]["errors"][0]["element"], 2);
}

#[test]
fn not_x12_at_all_is_exit_1_with_a_clear_message() {
    let dir = crate::helpers::temp_dir("notx12");
    let f = dir.join("notes.txt");
    std::fs::write(&f, "hello, this is not a claim\n").unwrap();
    let out = priorauth(&["parse", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["rejected"].to_string().contains("ISA"), "{v}");
}

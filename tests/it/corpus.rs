//! The corpus is the test suite: every 5010 837 file of ../shared/corpus is
//! held to the outcome recorded in fixtures/corpus/expected.tsv (see the
//! README there for how each outcome was decided).

use crate::helpers::{corpus_dir, priorauth, root};

struct Row {
    file: String,
    expected: String,
    sets_total: u64,
    sets_rejected: u64,
    claims: u64,
    keyword: Option<String>,
}

fn rows() -> Vec<Row> {
    let text = std::fs::read_to_string(root().join("fixtures/corpus/expected.tsv")).unwrap();
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let defect = f.get(6).copied().unwrap_or("");
            let keyword = defect
                .find("[kw:")
                .map(|i| defect[i + 4..].split(']').next().unwrap().to_string());
            Row {
                file: f[0].to_string(),
                expected: f[2].to_string(),
                sets_total: f[3].parse().unwrap(),
                sets_rejected: f[4].parse().unwrap(),
                claims: f[5].parse().unwrap(),
                keyword,
            }
        })
        .collect()
}

/// Words our error messages use for each defect keyword of the table.
fn evidence(keyword: &str) -> &'static [&'static str] {
    match keyword {
        "se01" => &["SE01"],
        "se02" => &["SE02"],
        "ge01" => &["GE01"],
        "ge02" => &["GE02"],
        "iea01" => &["IEA01"],
        "iea02" => &["IEA02"],
        "isa" => &["ISA", "UTF-16"],
        "hl" => &["HL0"],
        "clm" => &["CLM"],
        "lx" => &["service line"],
        "date" => &["date"],
        "decimal" => &["decimal"],
        "missing" => &["missing"],
        "segid" => &["segment identifier"],
        "order" => &["not expected", "must follow"],
        "version" => &["implementation guide", "not an 837"],
        "trailer" => &["trailer", "cut off"],
        other => panic!("unknown keyword {other} in expected.tsv"),
    }
}

#[test]
fn every_corpus_file_matches_its_recorded_outcome() {
    let rows = rows();
    assert!(rows.len() >= 91, "expected.tsv lists {} files", rows.len());
    let mut failures = Vec::new();
    let (mut accepted, mut rejected) = (0, 0);
    for row in &rows {
        let path = corpus_dir().join(&row.file);
        let path = path.to_str().unwrap();
        let out = priorauth(&["parse", "--summary", path]);
        let summary: serde_json::Value = match serde_json::from_slice(&out.stdout) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!(
                    "{}: no summary ({e}); stderr {}",
                    row.file,
                    String::from_utf8_lossy(&out.stderr)
                ));
                continue;
            }
        };
        let got = (
            summary["transaction_sets"].as_u64().unwrap(),
            summary["rejected_sets"].as_u64().unwrap(),
            summary["claims"].as_u64().unwrap(),
        );
        let want = (row.sets_total, row.sets_rejected, row.claims);
        if got != want {
            failures.push(format!(
                "{}: (sets, rejected, claims) want {want:?} got {got:?}",
                row.file
            ));
        }
        let want_code = if row.expected == "accepted" { 0 } else { 1 };
        if out.status.code() != Some(want_code) {
            failures.push(format!(
                "{}: exit code {:?}, want {want_code}",
                row.file,
                out.status.code()
            ));
        }
        if row.expected == "accepted" {
            accepted += 1;
        } else {
            rejected += 1;
        }
        if let Some(kw) = &row.keyword {
            let full = priorauth(&["parse", path]);
            let text = String::from_utf8_lossy(&full.stdout);
            let json: serde_json::Value = serde_json::from_str(&text).unwrap();
            let messages = format!("{} {}", json["rejected"], json["warnings"]);
            if !evidence(kw).iter().any(|w| messages.contains(w)) {
                failures.push(format!(
                    "{}: no error names the defect [{kw}]: {messages}",
                    row.file
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} corpus disagreements:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        accepted >= 30 && rejected >= 40,
        "accepted {accepted}, rejected/partial {rejected}"
    );
}

/// The 277CA and the 835 of every corpus file validate under pyx12 (one
/// x12valid run over all of them) and say what SPEC §4 says: the 277CA
/// names only claims of accepted sets (no A3), the 835 exactly the claims
/// the JSON answer denied in full, notification only. For the 835 each
/// file is given twice: the second copy's original claims are exact
/// duplicates, denied in full, so every claim shape of the corpus reaches
/// the 835 (the corpus alone has next to no claim denied in full).
#[test]
fn every_277ca_and_835_of_the_corpus_validates() {
    let dir = crate::helpers::temp_dir("corpus-x12-out");
    let (mut written, mut remits) = (0, 0);
    for (i, row) in rows().iter().enumerate() {
        let path = corpus_dir().join(&row.file);
        let path = path.to_str().unwrap();
        for format in ["277ca", "835"] {
            let twice = if format == "835" {
                &[path, path][..]
            } else {
                &[path][..]
            };
            let mut args = vec!["adjudicate", "--format", format];
            args.extend_from_slice(twice);
            let out = priorauth(&args);
            assert_ne!(out.status.code(), Some(2), "{}: {format}", row.file);
            let text = String::from_utf8(out.stdout).unwrap();
            if format == "835" {
                let mut args = vec!["adjudicate", "--format", "json"];
                args.extend_from_slice(twice);
                let json = priorauth(&args);
                let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
                let mut denied: Vec<String> = v["claims"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|c| c["status"] == "denied")
                    .map(|c| c["claim_id"].as_str().unwrap().to_string())
                    .collect();
                let mut listed = if text.is_empty() {
                    Vec::new()
                } else {
                    crate::remit::check_notification_835(&text)
                };
                denied.sort();
                listed.sort();
                assert_eq!(listed, denied, "{}", row.file);
            } else {
                assert!(!text.contains("STC*A3"), "{}: {text}", row.file);
            }
            if text.is_empty() {
                continue; // nothing to acknowledge or remit in this file
            }
            remits += usize::from(format == "835");
            std::fs::write(dir.join(format!("f{i:03}-{format}.x12")), text).unwrap();
            written += 1;
        }
    }
    assert!(written >= 70, "only {written} files written");
    assert!(remits >= 30, "only {remits} 835s written");
    let files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".x12"))
        .collect();
    let run = crate::helpers::pyx12_validate(&dir, &files);
    let (ok, errors, log) = (run.ok, run.errors, run.log);
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    assert_eq!(ok, written, "{log}");
}

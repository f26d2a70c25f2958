//! The CLI as an API: exit codes, output shapes, golden files.

use crate::helpers::{adjudicate_samples, priorauth, root};

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
    // A missing file is found before anything is written: no half JSON.
    let half = priorauth(&[
        "adjudicate",
        "fixtures/x12/837p-sample.x12",
        "no/such/file.x12",
    ]);
    assert_eq!(half.status.code(), Some(2));
    assert!(
        half.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&half.stdout)
    );
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

#[test]
fn adjudicate_samples_match_golden_decisions() {
    let stdout = adjudicate_samples(&[]);
    golden("samples.adjudicate.json", &pretty(&stdout));
    let v: serde_json::Value = serde_json::from_slice(&stdout).unwrap();
    assert_eq!(v["rule_set"], "2026.11");
    // The spec's own example: MRI billed for 2 units, 1 authorized.
    let l = &v["claims"][0]["lines"][0];
    assert_eq!(
        (l["decision"].as_str(), l["units_denied"].as_str()),
        (Some("partial"), Some("1"))
    );
    assert_eq!(l["adjustments"][0]["amount"], "1200.00");
}

#[test]
fn adjudicate_formats_and_exit_codes() {
    let files = ["fixtures/x12/837p-sample.x12"];
    let nd = priorauth(&[
        "adjudicate",
        "--auths",
        "fixtures/auths/sample.csv",
        "--format",
        "ndjson",
        files[0],
    ]);
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&nd.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[2]["claim_id"], "PCN-0003");
    let ack = priorauth(&["adjudicate", "--format", "999", files[0]]);
    assert!(String::from_utf8_lossy(&ack.stdout).contains("IK5*A"));
    // Configuration errors are exit 2 with the file and the problem named.
    let dir = crate::helpers::temp_dir("badrules");
    let bad = dir.join("rules.toml");
    std::fs::write(&bad, "version = \"x\"\n[[rule]]\nid = \"R1\"\nsection = \"5\"\ntitle = \"t\"\ncodes = [\"1-22\"]\neffective = \"2026-01-01\"\n").unwrap();
    let out = priorauth(&["adjudicate", "--rules", bad.to_str().unwrap(), files[0]]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("rule R1, field `codes`: range \"1-22\" has ends of different length"),
        "{err}"
    );
    let csv = dir.join("auths.csv");
    std::fs::write(&csv, "number,member_id,provider_npi,codes,units,units_used,start_date,end_date,status\nA1,M1,12,,,,2026-01-01,2026-01-02,approved\n").unwrap();
    let out = priorauth(&["adjudicate", "--auths", csv.to_str().unwrap(), files[0]]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2 (provider_npi)"));
}

/// `--format table`: one block per claim (status and payer claim id once),
/// wrapped to the width (`COLUMNS` when stdout is not a terminal, 100
/// without it), then totals. The golden file is the quick start's answer.
#[test]
fn adjudicate_table_is_grouped_by_claim_with_totals() {
    let args = [
        "adjudicate",
        "--auths",
        "fixtures/auths/sample.csv",
        "--format",
        "table",
        "fixtures/x12/837p-sample.x12",
        "fixtures/x12/837i-sample.x12",
    ];
    let run = |columns: Option<&str>| -> String {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_priorauth"));
        cmd.args(args).current_dir(root()).env_remove("COLUMNS");
        if let Some(c) = columns {
            cmd.env("COLUMNS", c);
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        String::from_utf8(out.stdout).unwrap()
    };
    let text = run(None);
    golden("samples.adjudicate.table.txt", &text);
    // Status once per claim, with the payer claim id `explain` takes.
    assert_eq!(text.matches("CLAIM PCN-0001  status partial").count(), 1);
    let json = priorauth(&[
        "adjudicate",
        "--auths",
        "fixtures/auths/sample.csv",
        "fixtures/x12/837p-sample.x12",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let pcid = v["claims"][0]["payer_claim_id"].as_str().unwrap();
    assert!(text.contains(&format!("payer claim id {pcid}")), "{text}");
    assert!(text.contains("CO-197 600.00 RARC M62"), "{text}");
    assert!(
        text.ends_with(
            "TOTALS\n  claims 5: approved 3, partial 2\n  lines 9: approved 3, denied 1, \
             not_required 4, partial 1\n  denied amount 1800.00\n"
        ),
        "{text}"
    );
    for (columns, width) in [(None, 100), (Some("60"), 60)] {
        let text = run(columns);
        for row in text.lines() {
            // Only a single word longer than the width (none here) may pass it.
            assert!(row.chars().count() <= width, "{width}: {row:?}");
        }
    }
    assert!(run(Some("60")).lines().count() > text.lines().count());
}

/// On a terminal the table takes the terminal's width (a pseudo-terminal
/// of 64 columns made by util-linux `script`), whatever `COLUMNS` says.
#[test]
fn adjudicate_table_wraps_to_the_terminal() {
    let bin = env!("CARGO_BIN_EXE_priorauth");
    let cmd = format!(
        "stty rows 24 cols 64 && exec {bin} adjudicate --format table fixtures/x12/837p-sample.x12"
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .current_dir(root())
        .env("COLUMNS", "200")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap().replace("\r\n", "\n");
    assert!(text.contains("TOTALS"), "{text}");
    let widest = text.lines().map(|r| r.chars().count()).max().unwrap();
    assert!((50..=64).contains(&widest), "widest row {widest}:\n{text}");
}

#[test]
fn adjudicate_rejected_set_is_reported_and_the_rest_adjudicated() {
    let dir = crate::helpers::temp_dir("adjpartial");
    let f = dir.join("mixed.x12");
    let good = std::fs::read_to_string(root().join("fixtures/x12/837i-sample.x12")).unwrap();
    let bad = std::fs::read_to_string(root().join("fixtures/x12/837p-sample.x12"))
        .unwrap()
        .replace("SV1*HC:70551*2400", "SV1*HC:70551*twelve");
    std::fs::write(&f, format!("{bad}{good}")).unwrap();
    let out = priorauth(&["adjudicate", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["claims"].as_array().unwrap().len(), 2);
    assert_eq!(v["rejected"][0]["errors"][0]["id"], "SV1");
}

#[test]
fn rules_and_codes_answer_staff_questions() {
    let json = |args: &[&str]| -> serde_json::Value {
        let out = priorauth(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let mri = json(&[
        "rules",
        "check",
        "--code",
        "70551",
        "--lob",
        "medicare",
        "--date",
        "2026-03-04",
    ]);
    assert_eq!(mri["rule"], "5.1.2-MRI");
    assert_eq!(mri["requires_authorization"], true);
    let opd = json(&[
        "rules",
        "check",
        "--code",
        "64612",
        "--lob",
        "medicare",
        "--date",
        "2026-03-04",
        "--bill-type",
        "13",
    ]);
    assert_eq!(opd["rule"], "5.1.10-OPD-BOTULINUM");
    // The physician's POS 22 line is not the OPD claim (SPEC 2.2 only_bill_types).
    let physician = json(&[
        "rules",
        "check",
        "--code",
        "64612",
        "--lob",
        "medicare",
        "--date",
        "2026-03-04",
        "--pos",
        "22",
    ]);
    assert_eq!(physician["rule"], "5.1.5-BOTOX");
    // HAP: out-of-plan providers always need PA.
    let office_out = json(&[
        "rules",
        "check",
        "--code",
        "99213",
        "--date",
        "2026-03-04",
        "--network",
        "out",
    ]);
    assert_eq!(office_out["rule"], "5.1.12-OUT-OF-PLAN");
    let office = json(&["rules", "check", "--code", "99213", "--date", "2026-03-04"]);
    assert_eq!(office["requires_authorization"], false);
    let er = json(&[
        "rules",
        "check",
        "--code",
        "70551",
        "--date",
        "2026-03-04",
        "--emergency",
    ]);
    assert_eq!(er["requires_authorization"], false);
    assert_eq!(json(&["codes", "carc", "197"])["active"], true);
    assert_eq!(json(&["codes", "carc", "62"])["active"], false);
    assert_eq!(priorauth(&["codes", "rarc", "ZZ9"]).status.code(), Some(2));
    assert_eq!(
        json(&["rules", "validate", "fixtures/rules/hap-5.1.toml"])["valid"],
        true
    );
    let listed = priorauth(&["rules", "list"]);
    assert_eq!(String::from_utf8_lossy(&listed.stdout).lines().count(), 30);
}

/// Settings come from flags over `PRIORAUTH_…` variables over defaults; an
/// empty variable means the default, and a bad one names itself.
#[test]
fn empty_settings_are_defaults_and_bad_ones_name_their_variable() {
    let run = |flags: &[&str], tin: &str| {
        let mut args = vec!["adjudicate"];
        args.extend_from_slice(flags);
        args.extend([
            "--auths",
            "fixtures/auths/sample.csv",
            "--format",
            "835",
            // Twice: the second copies are duplicates, denied in full, so
            // there is an 835 to name the payer in.
            "fixtures/x12/837p-sample.x12",
            "fixtures/x12/837p-sample.x12",
        ]);
        std::process::Command::new(env!("CARGO_BIN_EXE_priorauth"))
            .args(args)
            .current_dir(root())
            .env("PRIORAUTH_PAYER_TIN", tin)
            .output()
            .unwrap()
    };
    let empty = run(&[], "");
    assert_eq!(empty.status.code(), Some(0), "{:?}", empty);
    assert!(String::from_utf8_lossy(&empty.stdout).contains("*1381234567~"));
    let flag = run(&["--payer-tin", "123456789"], "987654321");
    assert!(String::from_utf8_lossy(&flag.stdout).contains("*1123456789~"));
    let bad = run(&[], "12");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("PRIORAUTH_PAYER_TIN"));
}

/// `adjudicate` takes `--database` like every other command (`--db` stays).
#[test]
fn adjudicate_takes_database_like_every_command() {
    let dir = std::env::temp_dir().join(format!("priorauth-dbflag-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("p.db").display());
    for flag in ["--database", "--db"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_priorauth"))
            .args([
                "adjudicate",
                flag,
                &url,
                "--format",
                "ndjson",
                "fixtures/x12/837p-sample.x12",
            ])
            .current_dir(root())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{flag}: {out:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("\"claim_id\":\"PCN-0001\""));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `explain` finds a stored claim by payer claim id or by billing NPI and
/// CLM01 (SPEC §5), as reasons or as the stored claim's JSON.
#[test]
fn explain_by_billing_npi_and_claim_id() {
    let dir = std::env::temp_dir().join(format!("priorauth-explain-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("p.db").display());
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_priorauth"))
            .args(args)
            .current_dir(root())
            .output()
            .unwrap()
    };
    let stored = run(&[
        "adjudicate",
        "--database",
        &url,
        "--commit",
        "--format",
        "ndjson",
        "fixtures/x12/837p-sample.x12",
    ]);
    assert_eq!(stored.status.code(), Some(0), "{stored:?}");
    let first: serde_json::Value =
        serde_json::from_slice(stored.stdout.split(|b| *b == b'\n').next().unwrap()).unwrap();
    let key = [
        "explain",
        "--npi",
        "1234567893",
        "--claim-id",
        "PCN-0001",
        "--database",
        &url,
    ];
    let text = run(&key);
    assert_eq!(text.status.code(), Some(0), "{text:?}");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.starts_with("claim PCN-0001 from billing NPI 1234567893"),
        "{text}"
    );
    assert!(text.contains(first["payer_claim_id"].as_str().unwrap()));
    let mut json_args = key.to_vec();
    json_args.extend(["--format", "json"]);
    let json = run(&json_args);
    let c: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(c["payer_claim_id"], first["payer_claim_id"]);
    assert_eq!(c["decision"]["lines"], first["lines"]);
    let missing = run(&[
        "explain",
        "--npi",
        "1234567893",
        "--claim-id",
        "NOPE",
        "--database",
        &url,
    ]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no stored claim NOPE"));
    let _ = std::fs::remove_dir_all(&dir);
}

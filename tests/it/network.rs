//! SPEC §2.4 (the network directory) and §2.2 `network = "out"` rules:
//! on the pure core, through the CLI offline, and (both stores) through
//! the store, `import network`, `adjudicate --db` and the API, with the
//! bundled rule set's out-of-plan rule (5.1.12-OUT-OF-PLAN).

use chrono::NaiveDate;
use serde_json::{json, Value};

use crate::adjudication::{claim, line, World, BILLING, RENDERING};
use crate::helpers::{priorauth, priorauth_ok, temp_dir};
use crate::render::render;
use crate::service::{get, post_837, send, Backend, Db, Server};
use priorauth::adjudication::{Adjudicator, ClaimDecision, Decision};
use priorauth::model::{Claim, NetworkDirectory};
use priorauth::network::{directory, import_csv};

both!(
    the_directory_through_the_api_decides_the_out_of_plan_rule,
    the_directory_through_the_cli_and_the_store,
);

const OUT_OF_PLAN: &str = "5.1.12-OUT-OF-PLAN";
const HEADER: &str = "npi,network_start,network_end\n";

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// The bundled rule set, with `auths` on file.
fn bundled(auths: &str) -> World {
    World::new(priorauth::rules::BUNDLED, auths)
}

fn dir(rows: &str) -> NetworkDirectory {
    directory(&import_csv(format!("{HEADER}{rows}").as_bytes()).unwrap())
}

/// An office visit (no category rule needs PA for it) on `date`.
fn visit(id: &str, auths: &[&str], date: &str) -> Claim {
    claim(id, auths, vec![line(1, "99213", "1", "150.00", date)])
}

fn run(w: &mut World, network: &NetworkDirectory, c: &Claim) -> ClaimDecision {
    w.history = Default::default();
    Adjudicator::new(&w.index).with_network(network).adjudicate(
        c,
        "PAYER-1",
        &mut w.book,
        &mut w.history,
    )
}

// ---- the directory file ----

// §2.4 "Imported like authorizations (all or nothing)": every bad row by
// its line number, nothing imported.
#[test]
fn bad_rows_are_named_by_line_and_nothing_is_imported() {
    let csv = format!(
        "{HEADER}1234567893,2026-01-01,\n\
         123456789,2026-01-01,\n\
         1234567893,2026-06-01,2026-05-31\n\
         1234567893,01/01/2026,\n\
         1245319599,2026-01-01,2026-12-31\n\
         1245319599,2026-01-01,never\n"
    );
    let e = import_csv(csv.as_bytes()).unwrap_err();
    let lines: Vec<u64> = e.problems.iter().map(|p| p.line).collect();
    assert_eq!(lines, vec![3, 4, 5, 7], "{e}");
    assert_eq!(e.problems[0].field.as_deref(), Some("npi"));
    assert_eq!(e.problems[1].field.as_deref(), Some("network_end"));
    assert_eq!(e.problems[2].field.as_deref(), Some("network_start"));
}

// §2.4 "end empty = open"; "in network on a date within one of its rows".
#[test]
fn in_network_on_a_date_within_one_of_its_rows() {
    let d = dir("1234567893,2026-01-01,2026-03-31\n1234567893,2026-07-01,\n");
    for (day, inside) in [
        ("2025-12-31", false),
        ("2026-01-01", true),
        ("2026-03-31", true),
        ("2026-04-01", false),
        ("2026-07-01", true),
        ("2030-01-01", true),
    ] {
        assert_eq!(d.in_network(BILLING, Some(date(day))), inside, "{day}");
    }
    assert!(!d.in_network(RENDERING, Some(date("2026-03-01"))));
}

// ---- network = "out" on the core, with the bundled rule ----

// §2.4 "with no directory loaded, every provider is in network": the
// out-of-plan rule never fires.
#[test]
fn without_a_directory_the_out_of_plan_rule_never_fires() {
    let mut w = bundled("");
    let none = NetworkDirectory::new();
    for d in [run(&mut w, &none, &visit("V1", &[], "2026-03-04")), {
        w.history = Default::default();
        w.run(&visit("V1", &[], "2026-03-04"))
    }] {
        assert_eq!(d.lines[0].decision, Decision::NotRequired, "{d:?}");
        assert_eq!(d.lines[0].rule, None);
    }
    // An empty file is no directory either.
    let empty = directory(&import_csv(HEADER.as_bytes()).unwrap());
    let d = run(&mut w, &empty, &visit("V1", &[], "2026-03-04"));
    assert_eq!(d.lines[0].decision, Decision::NotRequired);
}

// §2.2: the out-of-plan rule (no codes) matches every line of a billing
// provider out of network on the service date; the line then needs PA.
#[test]
fn a_provider_outside_its_dates_needs_pa_under_the_out_of_plan_rule() {
    let network = dir("1234567893,2026-01-01,2026-02-28\n");
    let mut w = bundled("");
    // In network on the date: no PA.
    let d = run(&mut w, &network, &visit("V1", &[], "2026-02-28"));
    assert_eq!(d.lines[0].decision, Decision::NotRequired);
    assert_eq!(d.lines[0].rule, None);
    // Outside its dates: the rule fires; no authorization: denied CO-197.
    let d = run(&mut w, &network, &visit("V2", &[], "2026-03-04"));
    let l = &d.lines[0];
    assert_eq!(l.decision, Decision::Denied, "{l:?}");
    assert_eq!(l.rule.as_deref(), Some(OUT_OF_PLAN));
    assert_eq!(l.adjustments[0].to_string(), "CO-197 150.00");
    assert!(l.reason.contains(OUT_OF_PLAN) && l.reason.contains("5.1.12"));
    // With an authorization for it: approved.
    let mut w = bundled("A9,M1,1234567893,99213,1,0,2026-03-01,2026-03-31,approved\n");
    let d = run(&mut w, &network, &visit("V3", &["A9"], "2026-03-04"));
    assert_eq!(d.lines[0].decision, Decision::Approved);
    assert_eq!(d.lines[0].rule.as_deref(), Some(OUT_OF_PLAN));
    // A billing provider the directory does not list is out on every date.
    let other = dir("1245319599,2020-01-01,\n");
    let d = run(&mut w, &other, &visit("V4", &[], "2026-03-04"));
    assert_eq!(d.lines[0].rule.as_deref(), Some(OUT_OF_PLAN));
}

#[test]
fn the_out_of_plan_rule_judges_the_billing_provider_only() {
    // The rendering provider out of network changes nothing.
    let network = dir("1234567893,2026-01-01,\n");
    let mut w = bundled("");
    let mut c = visit("V1", &[], "2026-03-04");
    c.rendering_npi = Some(RENDERING.into());
    let d = run(&mut w, &network, &c);
    assert_eq!(d.lines[0].decision, Decision::NotRequired);
}

#[test]
fn a_category_rule_is_reported_before_the_out_of_plan_rule() {
    // "Reported rule = the first matching rule in file order" (§2.2).
    let network = dir("1245319599,2020-01-01,\n");
    let mut w = bundled("");
    let c = claim("M1", &[], vec![line(1, "70551", "1", "1000", "2026-03-04")]);
    let d = run(&mut w, &network, &c);
    assert_eq!(d.lines[0].rule.as_deref(), Some("5.1.2-MRI"));
}

// ---- the CLI, offline ----

fn network_csv(dir: &std::path::Path, name: &str, rows: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, format!("{HEADER}{rows}")).unwrap();
    path.display().to_string()
}

fn lines_of(out: &[u8]) -> Vec<Value> {
    let v: Value = serde_json::from_slice(out).unwrap();
    v["claims"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["lines"].as_array().unwrap().clone())
        .collect()
}

fn out_of_plan(lines: &[Value]) -> usize {
    lines.iter().filter(|l| l["rule"] == OUT_OF_PLAN).count()
}

#[test]
fn adjudicate_network_offline_fires_the_bundled_out_of_plan_rule() {
    let dir = temp_dir("net-offline");
    let samples = [
        "fixtures/x12/837p-sample.x12",
        "fixtures/x12/837i-sample.x12",
    ];
    // No directory: the rule never fires.
    let mut args = vec!["adjudicate", "--auths", "fixtures/auths/sample.csv"];
    args.extend(samples);
    let plain = lines_of(&priorauth_ok(&args));
    assert_eq!(out_of_plan(&plain), 0);
    // The hospital in network, the imaging group out (its row ended in
    // 2025): every line of the group's claims that no category rule
    // covers and that is no emergency now needs PA under 5.1.12.
    let csv = network_csv(
        &dir,
        "network.csv",
        "1679576722,2020-01-01,\n1234567893,2020-01-01,2025-12-31\n",
    );
    let mut args = vec![
        "adjudicate",
        "--auths",
        "fixtures/auths/sample.csv",
        "--network",
        &csv,
    ];
    args.extend(samples);
    let with = lines_of(&priorauth_ok(&args));
    assert_eq!(with.len(), plain.len());
    assert!(out_of_plan(&with) > 0, "{with:?}");
    for (a, b) in plain.iter().zip(&with) {
        if b["rule"] == OUT_OF_PLAN {
            // Only lines no rule needed PA for change, and they now need it.
            assert_eq!(a["rule"], Value::Null, "{a}");
            assert_ne!(b["decision"], "not_required", "{b}");
        } else {
            assert_eq!(a["decision"], b["decision"], "{a} / {b}");
        }
    }
    // The directory with both in network: as without one.
    let csv = network_csv(
        &dir,
        "all-in.csv",
        "1679576722,2020-01-01,\n1234567893,2020-01-01,\n",
    );
    let mut args = vec![
        "adjudicate",
        "--auths",
        "fixtures/auths/sample.csv",
        "--network",
        &csv,
    ];
    args.extend(samples);
    let all_in = lines_of(&priorauth_ok(&args));
    assert_eq!(out_of_plan(&all_in), 0);
}

#[test]
fn adjudicate_refuses_a_bad_directory_naming_the_lines() {
    let dir = temp_dir("net-bad");
    let csv = network_csv(
        &dir,
        "bad.csv",
        "1234567893,2026-01-01,\n1234567893,2026-02-01,2026-01-01\nX,2026-01-01,\n",
    );
    let out = priorauth(&[
        "adjudicate",
        "--network",
        &csv,
        "fixtures/x12/837p-sample.x12",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 3") && err.contains("line 4"), "{err}");
    assert!(!err.contains("line 2"), "{err}");
}

// ---- the store (both backends) ----

fn put_network(s: &Server, body: &str) -> crate::service::Reply {
    send(
        "PUT",
        &s.url("/v1/network"),
        &[("Content-Type", "text/csv")],
        Some(body.as_bytes()),
    )
}

fn first_line(r: &crate::service::Reply) -> Value {
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["claims"][0]["lines"][0].clone()
}

fn the_directory_through_the_api_decides_the_out_of_plan_rule(b: Backend) {
    let db = Db::fresh(b, "network-api");
    let s = Server::start(&db, &[]);
    let march = render(&[visit("N-1", &[], "2026-03-04")]);
    let feb = render(&[visit("N-2", &[], "2026-02-10")]);
    // No directory loaded: everyone in network.
    let l = first_line(&post_837(&s, "/v1/claims?mode=check", &march, &[]));
    assert_eq!(
        (l["decision"].clone(), l["rule"].clone()),
        (json!("not_required"), Value::Null)
    );
    assert_eq!(get(&s, &format!("/v1/network/{BILLING}")).status, 404);
    // The billing provider in network in January and February only.
    let r = put_network(
        &s,
        &format!("{HEADER}{BILLING},2026-01-01,2026-02-28\n{RENDERING},2026-01-01,\n"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({"imported": 2, "providers": 2, "replaced": 0})
    );
    let g = get(&s, &format!("/v1/network/{BILLING}"));
    assert_eq!(g.status, 200, "{}", g.body);
    assert_eq!(
        g.json(),
        json!({"npi": BILLING, "rows": [{"npi": BILLING, "network_start": "2026-01-01", "network_end": "2026-02-28"}]})
    );
    // In network on the date: no PA; outside: the rule fires (check and submit).
    let l = first_line(&post_837(&s, "/v1/claims?mode=check", &feb, &[]));
    assert_eq!(l["decision"], "not_required", "{l}");
    let l = first_line(&post_837(&s, "/v1/claims?mode=check", &march, &[]));
    assert_eq!(
        (l["decision"].clone(), l["rule"].clone()),
        (json!("denied"), json!(OUT_OF_PLAN)),
        "{l}"
    );
    // (Another claim than the one checked: a stored claim would make the
    // later checks of `march` exact duplicates.)
    let stored = render(&[visit("N-3", &[], "2026-03-05")]);
    let l = first_line(&post_837(&s, "/v1/claims", &stored, &[]));
    assert_eq!(
        (l["decision"].clone(), l["rule"].clone()),
        (json!("denied"), json!(OUT_OF_PLAN)),
        "{l}"
    );
    assert_eq!(l["adjustments"][0]["carc"], "197");
    // A bad file: 422 naming the lines; the directory stays as it was.
    let r = put_network(
        &s,
        &format!("{HEADER}{BILLING},2026-01-01,\n{BILLING},2026-05-01,2026-04-01\n1,2026-01-01,\n"),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    let lines: Vec<Value> = r.json()["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["line"].clone())
        .collect();
    assert_eq!(lines, [json!(3), json!(4)], "{}", r.body);
    let l = first_line(&post_837(&s, "/v1/claims?mode=check", &march, &[]));
    assert_eq!(l["rule"], OUT_OF_PLAN, "{l}");
    // Replaced as a whole: a directory without the billing provider puts
    // it out of network on every date.
    let r = put_network(&s, &format!("{HEADER}{RENDERING},2026-01-01,\n"));
    assert_eq!(r.json()["replaced"], 2, "{}", r.body);
    assert_eq!(get(&s, &format!("/v1/network/{BILLING}")).status, 404);
    let l = first_line(&post_837(&s, "/v1/claims?mode=check", &feb, &[]));
    assert_eq!(l["rule"], OUT_OF_PLAN, "{l}");
    // An open row from January: in network again.
    put_network(&s, &format!("{HEADER}{BILLING},2026-01-01,\n"));
    let l = first_line(&post_837(&s, "/v1/claims?mode=check", &march, &[]));
    assert_eq!(l["decision"], "not_required", "{l}");
    // Audited, naming the NPIs.
    let audit = get(&s, "/v1/admin/audit?action=network.import").json();
    assert!(audit.to_string().contains(RENDERING), "{audit}");
    // Scopes: claims:read reads, only rules:write replaces.
    let (cid, secret) = crate::service::add_client(&db, "reader", &[], &["claims:read"]);
    let t = crate::service::client_token(&s.base, &cid, &secret, None).json()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let auth = format!("Bearer {t}");
    let h = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "text/csv"),
    ];
    let path = format!("/v1/network/{BILLING}");
    assert_eq!(send("GET", &s.url(&path), &h, None).status, 200);
    assert_eq!(
        send("PUT", &s.url("/v1/network"), &h, Some(HEADER.as_bytes())).status,
        403
    );
    // An empty file clears the directory: everyone in network.
    put_network(&s, &format!("{HEADER}{RENDERING},2026-01-01,\n"));
    assert_eq!(put_network(&s, HEADER).json()["imported"], 0);
    let l = first_line(&post_837(&s, "/v1/claims?mode=check", &feb, &[]));
    assert_eq!(l["decision"], "not_required", "{l}");
}

fn the_directory_through_the_cli_and_the_store(b: Backend) {
    let db = Db::fresh(b, "network-cli");
    let dir = temp_dir(&format!("network-cli-{b:?}"));
    let url = db.url.as_str();
    let sample = "fixtures/x12/837p-sample.x12";
    // A bad file: exit 2 naming the line, nothing stored.
    let bad = network_csv(
        &dir,
        "bad.csv",
        &format!("{BILLING},2026-01-01,\n{BILLING},x,\n"),
    );
    let out = priorauth(&["import", "network", &bad, "--database", url]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 3"));
    let lines = lines_of(&priorauth_ok(&["adjudicate", "--db", url, sample]));
    assert_eq!(out_of_plan(&lines), 0, "no directory stored");
    // The imaging group out of network since 2026: the store's directory
    // decides `adjudicate --db`.
    let out_csv = network_csv(
        &dir,
        "out.csv",
        &format!("{BILLING},2020-01-01,2025-12-31\n"),
    );
    let done: Value = serde_json::from_slice(&priorauth_ok(&[
        "import",
        "network",
        &out_csv,
        "--database",
        url,
    ]))
    .unwrap();
    assert_eq!(done["imported"], 1);
    let lines = lines_of(&priorauth_ok(&["adjudicate", "--db", url, sample]));
    assert!(out_of_plan(&lines) > 0, "{lines:?}");
    // --network with --db replaces the store's directory first.
    let in_csv = network_csv(&dir, "in.csv", &format!("{BILLING},2020-01-01,\n"));
    let lines = lines_of(&priorauth_ok(&[
        "adjudicate",
        "--db",
        url,
        "--network",
        &in_csv,
        sample,
    ]));
    assert_eq!(out_of_plan(&lines), 0);
    let lines = lines_of(&priorauth_ok(&["adjudicate", "--db", url, sample]));
    assert_eq!(
        out_of_plan(&lines),
        0,
        "the store kept the file's directory"
    );
    // Through the service on the same store: the directory is there.
    let s = Server::start(&db, &[]);
    let g = get(&s, &format!("/v1/network/{BILLING}"));
    assert_eq!(g.status, 200, "{}", g.body);
    assert_eq!(g.json()["rows"][0]["network_end"], Value::Null);
    let audit = get(&s, "/v1/admin/audit?action=network.import").json();
    assert_eq!(
        audit["entries"].as_array().map(Vec::len),
        Some(2),
        "{audit}"
    );
}

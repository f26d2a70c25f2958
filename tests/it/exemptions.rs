//! SPEC §3.5 (gold-card exemptions), statement by statement: on the pure
//! core, through the CLI offline, and (both stores) through the store, the
//! CLI's `goldcard` commands and the API.

use serde_json::{json, Value};

use crate::adjudication::{claim, line, World, BILLING, RENDERING};
use crate::helpers::{priorauth, priorauth_ok, temp_dir};
use crate::render::render;
use crate::service::{get, import_auths, post_837, post_json, send, Backend, Db, Server};
use chrono::NaiveDate;
use priorauth::adjudication::{Adjudicator, ClaimDecision, Decision};
use priorauth::exemptions::{Exemption, ExemptionBook};
use priorauth::model::Claim;

both!(
    goldcard_compute_from_a_crafted_history_through_the_api,
    a_stored_exemption_decides_submissions_until_revoked,
    goldcard_commands_on_the_store,
);

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

const MRI: &str = "5.1.2-MRI";
const A1: &str = "A1,M1,1234567893,70551|70553,2,0,2026-01-10,2026-04-10,approved\n";
const DENIED: &str = "D1,M1,1234567893,70551,2,0,2026-01-10,2026-04-10,denied\n";

fn book(npi: &str, rule: &str, from: &str, to: &str) -> ExemptionBook {
    ExemptionBook::new([Exemption::new(npi, rule, day(from), day(to))])
}

/// Adjudicates `c` with the exemptions of `ex` (a fresh claim history
/// each time, so a claim run twice is not an exact duplicate).
fn run(w: &mut World, ex: &ExemptionBook, c: &Claim) -> ClaimDecision {
    w.history = Default::default();
    Adjudicator::new(&w.index).with_exemptions(ex).adjudicate(
        c,
        "PAYER-1",
        &mut w.book,
        &mut w.history,
    )
}

fn mri(auths: &[&str], date: &str) -> Claim {
    claim("C1", auths, vec![line(1, "70551", "1", "1200", date)])
}

// §3.5: "a line that a rule requires PA for … one of whose provider NPIs
// holds an exemption for that rule on the service date, is decided …
// not_required with rule set, exemption = the exemption id, no
// adjustment, nothing consumed, and a reason naming the exemption and its
// period."
#[test]
fn exempt_line_is_not_required_with_rule_and_exemption_id() {
    let mut w = World::mri(A1);
    let ex = book(BILLING, MRI, "2026-01-01", "2026-06-30");
    let id = ex.iter().next().unwrap().id.clone();
    let d = run(&mut w, &ex, &mri(&["A1"], "2026-03-04"));
    let l = &d.lines[0];
    assert_eq!(l.decision, Decision::NotRequired);
    assert_eq!(l.rule.as_deref(), Some(MRI));
    assert_eq!(l.exemption.as_deref(), Some(id.as_str()));
    assert!(l.adjustments.is_empty() && l.remarks.is_empty());
    assert_eq!(l.units_approved, l.units);
    assert_eq!(l.authorization, None);
    assert_eq!(d.status.as_str(), "approved");
}

#[test]
fn exempt_line_reason_names_the_exemption_and_its_period() {
    let mut w = World::mri("");
    let ex = book(BILLING, MRI, "2026-01-01", "2026-06-30");
    let id = ex.iter().next().unwrap().id.clone();
    let d = run(&mut w, &ex, &mri(&[], "2026-03-04"));
    let r = &d.lines[0].reason;
    assert!(r.contains(&id), "{r}");
    assert!(r.contains("2026-01-01..2026-06-30"), "{r}");
    assert!(r.contains(BILLING) && r.contains(MRI), "{r}");
    assert!(r.contains("no authorization is needed"), "{r}");
}

#[test]
fn exempt_line_consumes_nothing() {
    let mut w = World::mri(A1);
    let ex = book(BILLING, MRI, "2026-01-01", "2026-06-30");
    let d = run(&mut w, &ex, &mri(&["A1"], "2026-03-04"));
    assert!(d.consumption.is_empty());
    assert_eq!(w.used("A1"), "0".parse().unwrap());
}

#[test]
fn exempt_line_is_decided_before_any_authorization_check() {
    // No number (row 1), a number not on file (row 2), a denied one (row 5):
    // the exemption decides first.
    let ex = book(BILLING, MRI, "2026-01-01", "2026-06-30");
    for auths in [&[][..], &["NOPE"][..], &["D1"][..]] {
        let mut w = World::mri(DENIED);
        let d = run(&mut w, &ex, &mri(auths, "2026-03-04"));
        assert_eq!(d.lines[0].decision, Decision::NotRequired, "{auths:?}");
        assert!(d.lines[0].exemption.is_some());
        assert_eq!(d.lines[0].suggestion, None);
    }
}

#[test]
fn exemption_of_any_provider_npi_of_the_line_applies() {
    let ex = book(RENDERING, MRI, "2026-01-01", "2026-06-30");
    // The claim's rendering NPI.
    let mut w = World::mri("");
    let mut c = mri(&[], "2026-03-04");
    c.rendering_npi = Some(RENDERING.into());
    assert!(run(&mut w, &ex, &c).lines[0].exemption.is_some());
    // The line's rendering NPI.
    let mut c = mri(&[], "2026-03-04");
    c.lines[0].rendering_npi = Some(RENDERING.into());
    let d = run(&mut w, &ex, &c);
    assert!(d.lines[0].exemption.is_some());
    assert!(d.lines[0].reason.contains(RENDERING));
    // Nobody on the line holds it.
    let d = run(&mut w, &ex, &mri(&[], "2026-03-04"));
    assert_eq!(d.lines[0].decision, Decision::Denied);
    assert_eq!(d.lines[0].exemption, None);
}

#[test]
fn exemption_applies_only_on_the_service_dates_of_its_period() {
    let ex = book(BILLING, MRI, "2026-03-01", "2026-03-31");
    let mut w = World::mri("");
    for (date, exempt) in [
        ("2026-02-28", false),
        ("2026-03-01", true),
        ("2026-03-31", true),
        ("2026-04-01", false),
    ] {
        let d = run(&mut w, &ex, &mri(&[], date));
        assert_eq!(d.lines[0].exemption.is_some(), exempt, "{date}");
        let want = if exempt {
            Decision::NotRequired
        } else {
            Decision::Denied
        };
        assert_eq!(d.lines[0].decision, want, "{date}");
    }
}

#[test]
fn exemption_applies_only_under_its_rule() {
    let ex = book(BILLING, "5.1.3-OTHER", "2026-01-01", "2026-12-31");
    let mut w = World::mri("");
    let d = run(&mut w, &ex, &mri(&[], "2026-03-04"));
    assert_eq!(d.lines[0].decision, Decision::Denied);
    assert_eq!(d.lines[0].exemption, None);
}

#[test]
fn every_line_carries_exemption_null_when_none() {
    let mut w = World::mri(A1);
    let c = claim(
        "C1",
        &["A1"],
        vec![
            line(1, "70551", "1", "1200", "2026-03-04"),
            line(2, "99213", "1", "100", "2026-03-04"),
        ],
    );
    let d = w.run(&c);
    let v = serde_json::to_value(&d).unwrap();
    for l in v["lines"].as_array().unwrap() {
        assert!(l.as_object().unwrap().contains_key("exemption"), "{l}");
        assert_eq!(l["exemption"], Value::Null);
    }
    // A line no rule requires PA for is not_required without an exemption,
    // even when the provider holds one.
    let ex = book(BILLING, MRI, "2026-01-01", "2026-12-31");
    let d = run(&mut w, &ex, &c);
    assert_eq!(d.lines[1].rule, None);
    assert_eq!(d.lines[1].exemption, None);
    assert!(d.lines[0].exemption.is_some());
}

// ---- the CLI, offline ----

fn exemption_csv(dir: &std::path::Path, rows: &str) -> String {
    let path = dir.join("exemptions.csv");
    std::fs::write(
        &path,
        format!("provider_npi,rule_id,start_date,end_date\n{rows}"),
    )
    .unwrap();
    path.display().to_string()
}

#[test]
fn adjudicate_exemptions_offline_decides_exempt_lines() {
    let dir = temp_dir("ex-offline");
    let csv = exemption_csv(&dir, "1234567893,5.1.2-MRI,2026-01-01,2026-06-30\n");
    let out = priorauth_ok(&[
        "adjudicate",
        "--auths",
        "fixtures/auths/sample.csv",
        "--exemptions",
        &csv,
        "fixtures/x12/837p-sample.x12",
        "fixtures/x12/837i-sample.x12",
    ]);
    let v: Value = serde_json::from_slice(&out).unwrap();
    let lines: Vec<&Value> = v["claims"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["lines"].as_array().unwrap())
        .collect();
    let exempt: Vec<&&Value> = lines.iter().filter(|l| !l["exemption"].is_null()).collect();
    // PCN-0001 line 1 (70551) and PCN-0002 line 1 (72148): MRI, billed by 1234567893.
    assert_eq!(exempt.len(), 2, "{v}");
    for l in exempt {
        assert_eq!(l["decision"], "not_required");
        assert_eq!(l["rule"], MRI);
        assert_eq!(l["adjustments"], json!([]));
    }
    assert!(lines.iter().all(|l| l.get("exemption").is_some()));
    // The same file gives the same ids on every run.
    let again = priorauth_ok(&[
        "adjudicate",
        "--exemptions",
        &csv,
        "fixtures/x12/837p-sample.x12",
    ]);
    let a: Value = serde_json::from_slice(&again).unwrap();
    assert_eq!(
        a["claims"][0]["lines"][0]["exemption"],
        v["claims"][0]["lines"][0]["exemption"]
    );
}

#[test]
fn adjudicate_refuses_a_bad_exemption_file_naming_the_lines() {
    let dir = temp_dir("ex-bad");
    let csv = exemption_csv(
        &dir,
        "1234567893,5.1.2-MRI,2026-01-01,2026-06-30\n\
         1234567893,5.1.2-MRI,2026-07-01,2026-06-30\n\
         1234567893,NO-SUCH-RULE,2026-01-01,2026-06-30\n",
    );
    let out = priorauth(&[
        "adjudicate",
        "--exemptions",
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

/// Authorizations for `npi`: `approved` approved and `denied` denied MRI
/// requests starting in the 12 months before 2026-07-01.
fn history(prefix: &str, npi: &str, approved: usize, denied: usize) -> String {
    (0..approved + denied)
        .map(|i| {
            let status = if i < approved { "approved" } else { "denied" };
            format!(
                "{prefix}{i:03},M1,{npi},70551,1,0,2026-0{}-01,2026-12-31,{status}\n",
                1 + i % 6
            )
        })
        .collect()
}

const GOLD: &str = "1234567893";
const SILVER: &str = "1245319599";

fn crafted_csv() -> String {
    format!(
        "number,member_id,provider_npi,codes,units,units_used,start_date,end_date,status\n{}{}",
        history("G", GOLD, 9, 1),
        history("S", SILVER, 4, 1)
    )
}

fn mri_row<'a>(v: &'a Value, npi: &str) -> &'a Value {
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["provider_npi"] == npi && r["rule_id"] == MRI)
        .unwrap_or_else(|| panic!("no MRI row for {npi}: {v}"))
}

fn goldcard_compute_from_a_crafted_history_through_the_api(b: Backend) {
    let db = Db::fresh(b, "goldcard-api");
    let s = Server::start(&db, &[]);
    import_auths(&s, &crafted_csv());
    // Dry run: 9 of 10 approved is exempt, 4 of 5 is not; nothing stored.
    let r = post_json(&s, "/v1/exemptions/compute?as_of=2026-07-01", &json!({}));
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    let gold = mri_row(&v, GOLD);
    assert_eq!(
        (
            gold["requests"].clone(),
            gold["approved"].clone(),
            gold["denied"].clone()
        ),
        (json!(10), json!(9), json!(1))
    );
    assert_eq!(gold["rate"], "0.9");
    assert_eq!(gold["exemption"]["start_date"], "2026-07-01");
    assert_eq!(gold["exemption"]["end_date"], "2026-12-31");
    let silver = mri_row(&v, SILVER);
    assert_eq!(silver["rate"], "0.8");
    assert_eq!(silver["exemption"], Value::Null);
    assert_eq!(
        (gold["exempt"].clone(), silver["exempt"].clone()),
        (json!(true), json!(false))
    );
    assert_eq!(v["applied"], Value::Null);
    assert_eq!(get(&s, "/v1/exemptions").json()["exemptions"], json!([]));
    // apply=true stores the one earned, with its evidence, audited.
    let r = post_json(
        &s,
        "/v1/exemptions/compute",
        &json!({"as_of": "2026-07-01", "apply": true}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let id = mri_row(&r.json(), GOLD)["exemption"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(r.json()["applied"]["added"], json!([id]));
    let list = get(&s, "/v1/exemptions").json()["exemptions"].clone();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["source"], "goldcard");
    assert_eq!(list[0]["evidence"]["approved"], 9);
    assert_eq!(
        list[0]["evidence"]["authorizations"]
            .as_array()
            .unwrap()
            .len(),
        10
    );
    // Applying again stores nothing new.
    let again = post_json(
        &s,
        "/v1/exemptions/compute?as_of=2026-07-01&apply=true",
        &json!({}),
    );
    assert_eq!(again.json()["applied"]["known"], json!([id]));
    let audit = get(&s, "/v1/admin/audit?action=exemption.apply").json();
    assert!(audit.to_string().contains(&id), "{audit}");
    // A bad threshold is a 400.
    let bad = post_json(&s, "/v1/exemptions/compute?threshold=1.5", &json!({}));
    assert_eq!(bad.status, 400, "{}", bad.body);
}

fn mri_claim_x12(id: &str, date: &str) -> String {
    render(&[claim(id, &[], vec![line(1, "70551", "1", "1000.00", date)])])
}

fn a_stored_exemption_decides_submissions_until_revoked(b: Backend) {
    let db = Db::fresh(b, "exemption-store");
    let s = Server::start(&db, &[]);
    crate::service::add_auth(&s, "P1", "70551", Some("4"));
    // Invalid: end before start, unknown rule: 422 naming the fields.
    let bad = post_json(
        &s,
        "/v1/exemptions",
        &json!({"provider_npi": BILLING, "rule_id": "NOPE", "start_date": "2026-07-01", "end_date": "2026-06-01"}),
    );
    assert_eq!(bad.status, 422, "{}", bad.body);
    let add = post_json(
        &s,
        "/v1/exemptions",
        &json!({"provider_npi": BILLING, "rule_id": MRI, "start_date": "2026-01-01", "end_date": "2026-06-30"}),
    );
    assert_eq!(add.status, 201, "{}", add.body);
    let id = add.json()["id"].as_str().unwrap().to_string();
    let dup = post_json(
        &s,
        "/v1/exemptions",
        &json!({"provider_npi": BILLING, "rule_id": MRI, "start_date": "2026-01-01", "end_date": "2026-06-30"}),
    );
    assert_eq!(dup.status, 409, "{}", dup.body);
    // A submission citing P1: exempt, nothing consumed.
    let x12 = render(&[crate::service::mri_claim("EX-1", "P1", "1")]);
    let r = post_837(&s, "/v1/claims", &x12, &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    let l = &r.json()["claims"][0]["lines"][0];
    assert_eq!(l["decision"], "not_required", "{l}");
    assert_eq!(l["rule"], MRI);
    assert_eq!(l["exemption"], id.as_str());
    assert_eq!(crate::service::units_used(&s, "P1"), "0");
    // Filters.
    let q = get(
        &s,
        &format!("/v1/exemptions?provider_npi={BILLING}&rule_id={MRI}"),
    );
    assert_eq!(q.json()["exemptions"].as_array().unwrap().len(), 1);
    let q = get(&s, "/v1/exemptions?provider_npi=1999999999");
    assert_eq!(q.json()["exemptions"], json!([]));
    // Revoked: the next claim needs its authorization again.
    let rv = send("DELETE", &s.url(&format!("/v1/exemptions/{id}")), &[], None);
    assert_eq!(rv.status, 200, "{}", rv.body);
    assert!(rv.json()["revoked_at"].is_string());
    assert_eq!(get(&s, "/v1/exemptions").json()["exemptions"], json!([]));
    let all = get(&s, "/v1/exemptions?revoked=true").json();
    assert_eq!(all["exemptions"][0]["id"], id.as_str());
    let r = post_837(&s, "/v1/claims", &mri_claim_x12("EX-2", "2026-03-05"), &[]);
    let l = &r.json()["claims"][0]["lines"][0];
    assert_eq!(l["decision"], "denied", "{l}");
    assert_eq!(l["exemption"], Value::Null);
    assert_eq!(
        send("DELETE", &s.url("/v1/exemptions/EX-NONE"), &[], None).status,
        404
    );
    let audit = get(&s, "/v1/admin/audit?action=exemption.revoke").json();
    assert!(audit.to_string().contains(&id), "{audit}");
    // Scopes: claims:read reads, only rules:write changes.
    let (cid, secret) = crate::service::add_client(&db, "reader", &[], &["claims:read"]);
    let t = crate::service::client_token(&s.base, &cid, &secret, None).json()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let auth = format!("Bearer {t}");
    let h = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    assert_eq!(send("GET", &s.url("/v1/exemptions"), &h, None).status, 200);
    assert_eq!(
        send("POST", &s.url("/v1/exemptions/compute"), &h, Some(b"{}")).status,
        200
    );
    assert_eq!(
        send(
            "POST",
            &s.url("/v1/exemptions/compute?apply=true"),
            &h,
            Some(b"{}")
        )
        .status,
        403
    );
    let body = br#"{"provider_npi": "1234567893", "rule_id": "5.1.2-MRI", "start_date": "2027-01-01", "end_date": "2027-06-30"}"#;
    assert_eq!(
        send("POST", &s.url("/v1/exemptions"), &h, Some(body)).status,
        403
    );
    assert_eq!(
        send("DELETE", &s.url(&format!("/v1/exemptions/{id}")), &h, None).status,
        403
    );
}

fn goldcard_commands_on_the_store(b: Backend) {
    let db = Db::fresh(b, "goldcard-cli");
    let dir = temp_dir(&format!("goldcard-cli-{b:?}"));
    let auths = dir.join("auths.csv");
    std::fs::write(&auths, crafted_csv()).unwrap();
    let url = db.url.as_str();
    priorauth_ok(&[
        "import",
        "auths",
        auths.to_str().unwrap(),
        "--database",
        url,
    ]);
    let table = priorauth_ok(&[
        "goldcard",
        "compute",
        "--as-of",
        "2026-07-01",
        "--format",
        "table",
        "--database",
        url,
    ]);
    let table = String::from_utf8(table).unwrap();
    println!("{table}");
    assert!(table.contains("nothing stored"), "{table}");
    let json_out = priorauth_ok(&[
        "goldcard",
        "compute",
        "--as-of",
        "2026-07-01",
        "--apply",
        "--database",
        url,
    ]);
    let v: Value = serde_json::from_slice(&json_out).unwrap();
    let id = mri_row(&v, GOLD)["exemption"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(mri_row(&v, SILVER)["exemption"], Value::Null);
    let list = String::from_utf8(priorauth_ok(&["goldcard", "list", "--database", url])).unwrap();
    assert_eq!(list.lines().count(), 1, "{list}");
    assert!(list.contains(&id));
    // Stricter minimum: nobody earns one.
    let v: Value = serde_json::from_slice(&priorauth_ok(&[
        "goldcard",
        "compute",
        "--as-of",
        "2026-07-01",
        "--min-requests",
        "11",
        "--database",
        url,
    ]))
    .unwrap();
    assert_eq!(mri_row(&v, GOLD)["exemption"], Value::Null);
    // import exemptions: all or nothing; a bad row names its line.
    let csv = exemption_csv(
        &dir,
        "1245319599,5.1.2-MRI,2026-01-01,2026-06-30\n1245319599,NOPE,2026-01-01,2026-06-30\n",
    );
    let out = priorauth(&["import", "exemptions", &csv, "--database", url]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 3"));
    let csv = exemption_csv(&dir, "1245319599,5.1.2-MRI,2026-01-01,2026-06-30\n");
    priorauth_ok(&["import", "exemptions", &csv, "--database", url]);
    let list = String::from_utf8(priorauth_ok(&["goldcard", "list", "--database", url])).unwrap();
    assert_eq!(list.lines().count(), 2, "{list}");
    // Revoke: gone from the list, kept with --all, audited.
    priorauth_ok(&["goldcard", "revoke", &id, "--database", url]);
    let list = String::from_utf8(priorauth_ok(&["goldcard", "list", "--database", url])).unwrap();
    assert!(!list.contains(&id), "{list}");
    let all = String::from_utf8(priorauth_ok(&[
        "goldcard",
        "list",
        "--all",
        "--database",
        url,
    ]))
    .unwrap();
    assert!(all.contains(&id), "{all}");
    assert_eq!(
        priorauth(&["goldcard", "revoke", "EX-NONE", "--database", url])
            .status
            .code(),
        Some(2)
    );
    // adjudicate --db applies the store's exemptions (the imported one, of
    // the claim's rendering provider... here the billing NPI has none left).
    let x12 = dir.join("c.x12");
    let mut c = claim(
        "GC-1",
        &[],
        vec![line(1, "70551", "1", "1000.00", "2026-03-04")],
    );
    c.rendering_npi = Some(SILVER.into());
    std::fs::write(&x12, render(&[c])).unwrap();
    let v: Value = serde_json::from_slice(&priorauth_ok(&[
        "adjudicate",
        "--db",
        url,
        x12.to_str().unwrap(),
    ]))
    .unwrap();
    let l = &v["claims"][0]["lines"][0];
    assert_eq!(l["decision"], "not_required", "{l}");
    assert!(l["exemption"].is_string());
    // adjudicate --db --exemptions imports the file first, then decides.
    let csv = exemption_csv(&dir, "1234567893,5.1.2-MRI,2026-03-01,2026-03-31\n");
    let x12 = dir.join("c2.x12");
    let c = claim(
        "GC-2",
        &[],
        vec![line(1, "70551", "1", "1000.00", "2026-03-10")],
    );
    std::fs::write(&x12, render(&[c])).unwrap();
    let v: Value = serde_json::from_slice(&priorauth_ok(&[
        "adjudicate",
        "--db",
        url,
        "--exemptions",
        &csv,
        x12.to_str().unwrap(),
    ]))
    .unwrap();
    let l = &v["claims"][0]["lines"][0];
    assert_eq!(l["decision"], "not_required", "{l}");
    assert!(l["reason"]
        .as_str()
        .unwrap()
        .contains("2026-03-01..2026-03-31"));
    // The audit log says who applied, imported and revoked which exemption.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = rt.block_on(priorauth::store::Store::open(url, 1)).unwrap();
    let log = rt
        .block_on(store.audit_log(100, &Default::default()))
        .unwrap();
    rt.block_on(store.close());
    let find = |action: &str| {
        log.iter()
            .filter(|e| e.action == action)
            .map(|e| (e.actor.clone(), e.object_id.clone()))
            .collect::<Vec<_>>()
    };
    let applied = find("exemption.apply");
    assert_eq!(applied.len(), 1, "{log:?}");
    assert!(applied[0].0.starts_with("cli:") && applied[0].1.contains(&id));
    assert_eq!(find("exemption.revoke")[0].1, id);
    assert_eq!(find("exemption.import").len(), 2, "{log:?}");
}

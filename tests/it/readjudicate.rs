//! Pended claims decided again when their authorization is (issue 18):
//! by a CSV import, a PATCH and a 278 import, over real HTTP on both
//! stores; their history through the API and `explain`, and
//! `GET /v1/claims?changed_since=`.

use serde_json::{json, Value};

use crate::adjudication::BILLING;
use crate::helpers::priorauth_ok;
use crate::render::render;
use crate::service::{
    add_client, client_token, distinct, get, import_auths, mri_claim, post_837, post_json, send,
    units_used, Backend, Db, Server,
};

both!(
    a_csv_import_approving_a_pending_authorization_decides_its_claim,
    a_patch_approving_a_pending_authorization_decides_its_claim,
    a_278_import_approving_a_pending_authorization_decides_its_claim,
    changed_since_lists_the_claims_decided_again_own_only,
    a_pended_claims_other_lines_keep_what_they_consumed,
);

pub(crate) const CSV_HEAD: &str =
    "number,member_id,provider_npi,codes,units,units_used,start_date,end_date,status\n";

/// A pending authorization `number` for member M1, 10 units of 70551.
pub(crate) fn add_pending(s: &Server, number: &str) {
    let r = post_json(
        s,
        "/v1/authorizations",
        &json!({
            "number": number, "member_id": "M1", "provider_npi": BILLING,
            "codes": "70551", "units": "10", "start_date": "2026-01-01",
            "end_date": "2026-12-31", "status": "pending"
        }),
    );
    assert_eq!(r.status, 201, "{}", r.body);
}

/// The import row that approves `number` as [`add_pending`] made it.
pub(crate) fn approve_csv(number: &str) -> String {
    format!("{CSV_HEAD}{number},M1,{BILLING},70551,10,0,2026-01-01,2026-12-31,approved\n")
}

/// Submits a claim citing `auth` for `units` of 70551: its payer claim id
/// and status.
fn submit(s: &Server, id: &str, auth: &str, units: &str, i: usize) -> (String, String) {
    let r = post_837(
        s,
        "/v1/claims",
        &render(&[distinct(mri_claim(id, auth, units), i)]),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let c = &r.json()["claims"][0];
    (
        c["payer_claim_id"].as_str().unwrap().to_string(),
        c["status"].as_str().unwrap().to_string(),
    )
}

/// The stored claim now: approved, its pended decision in its history
/// with when and why.
fn assert_decided_again(s: &Server, id: &str, number: &str) -> Value {
    let r = get(s, &format!("/v1/claims/{id}"));
    assert_eq!(r.status, 200, "{}", r.body);
    let c = r.json();
    assert_eq!(c["status"], "approved", "{c}");
    assert_eq!(c["decision"]["status"], "approved", "{c}");
    assert_eq!(c["decision"]["lines"][0]["decision"], "approved", "{c}");
    assert_eq!(c["decision"]["payer_claim_id"], id);
    let h = c["history"].as_array().unwrap();
    assert_eq!(h.len(), 1, "{c}");
    assert_eq!(h[0]["status"], "pended");
    assert_eq!(h[0]["decision"]["lines"][0]["decision"], "pended");
    assert_eq!(h[0]["decided_at"], c["received_at"]);
    assert_eq!(h[0]["replaced_at"], c["changed_at"]);
    let why = h[0]["replaced_because"].as_str().unwrap();
    assert!(
        why.contains(number) && why.contains("pending → approved"),
        "{why}"
    );
    assert_eq!(c["changed_because"], h[0]["replaced_because"]);
    assert!(!why.contains("M1"), "no member id in a reason: {why}");
    c
}

fn a_csv_import_approving_a_pending_authorization_decides_its_claim(b: Backend) {
    let db = Db::fresh(b, "readj-csv");
    let s = Server::start(&db, &[]);
    add_pending(&s, "PEND-1");
    let (id, status) = submit(&s, "RA-1", "PEND-1", "2", 0);
    assert_eq!(status, "pended");
    // Another pended claim on another authorization: not touched.
    add_pending(&s, "PEND-OTHER");
    let (other, _) = submit(&s, "RA-2", "PEND-OTHER", "1", 1);
    assert_eq!(units_used(&s, "PEND-1"), "0");

    let csv = approve_csv("PEND-1");
    let v = import_auths(&s, &csv);
    assert_eq!(v["readjudicated"], 1, "{v}");
    assert_eq!(v["replaced"], 1);
    assert_decided_again(&s, &id, "PEND-1");
    assert_eq!(units_used(&s, "PEND-1"), "2");
    let l = get(&s, "/v1/authorizations/PEND-1/ledger").json();
    assert_eq!(l["entries"].as_array().unwrap().len(), 1, "{l}");
    assert_eq!(l["entries"][0]["payer_claim_id"], id.as_str());
    let o = get(&s, &format!("/v1/claims/{other}")).json();
    assert_eq!(o["status"], "pended");
    assert!(o["history"].as_array().unwrap().is_empty());

    // The same file again: the authorization is no longer pending, so
    // nothing is decided again and nothing consumed twice.
    let v = import_auths(&s, &csv);
    assert_eq!(v["readjudicated"], 0, "{v}");
    assert_eq!(units_used(&s, "PEND-1"), "2");

    // `explain --format json`: the stored claim object with its history.
    let out = priorauth_ok(&["explain", &id, "--format", "json", "--database", &db.url]);
    let e: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(e["status"], "approved");
    assert_eq!(e["history"][0]["status"], "pended");
    let text = String::from_utf8(priorauth_ok(&["explain", &id, "--database", &db.url])).unwrap();
    assert!(text.contains("decided again"), "{text}");
    assert!(text.contains("earlier: pended"), "{text}");
}

fn a_patch_approving_a_pending_authorization_decides_its_claim(b: Backend) {
    let db = Db::fresh(b, "readj-patch");
    let s = Server::start(&db, &[]);
    add_pending(&s, "PEND-P");
    // Two claims pended on it, 6 units each, 10 approved: decided in
    // submission order, the first approved, the second partial.
    let (first, _) = submit(&s, "RP-1", "PEND-P", "6", 0);
    let (second, _) = submit(&s, "RP-2", "PEND-P", "6", 1);
    // A PATCH of a pending authorization's dates re-decides its claims
    // (still pended: the status check comes first) and changes nothing.
    let r = send(
        "PATCH",
        &s.url("/v1/authorizations/PEND-P"),
        &[("Content-Type", "application/json")],
        Some(br#"{"end_date": "2026-11-30"}"#),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["readjudicated"], 2);
    let c = get(&s, &format!("/v1/claims/{first}")).json();
    assert_eq!(c["status"], "pended");
    assert!(c["history"].as_array().unwrap().is_empty(), "{c}");

    let r = send(
        "PATCH",
        &s.url("/v1/authorizations/PEND-P"),
        &[("Content-Type", "application/json")],
        Some(br#"{"status": "approved"}"#),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["readjudicated"], 2, "{v}");
    assert_eq!(v["units_used"], "10");
    assert_decided_again(&s, &first, "PEND-P");
    let c = get(&s, &format!("/v1/claims/{second}")).json();
    assert_eq!(c["status"], "partial", "{c}");
    assert_eq!(c["history"][0]["status"], "pended");
    assert_eq!(units_used(&s, "PEND-P"), "10");
    // Approved now: another PATCH decides nothing again.
    let r = send(
        "PATCH",
        &s.url("/v1/authorizations/PEND-P"),
        &[("Content-Type", "application/json")],
        Some(br#"{"end_date": "2026-12-31"}"#),
    );
    assert_eq!(r.json()["readjudicated"], 0);
    assert_eq!(units_used(&s, "PEND-P"), "10");
}

const ISA: &str = "ISA*00*          *00*          *ZZ*UMO            *ZZ*PROVIDER       *260101*1200*^*00501*000000001*0*P*:~GS*HI*UMO*PROV*20260101*1200*1*X*005010X217~";

fn a_278_import_approving_a_pending_authorization_decides_its_claim(b: Backend) {
    let db = Db::fresh(b, "readj-278");
    let s = Server::start(&db, &[]);
    add_pending(&s, "PEND-X");
    let (id, status) = submit(&s, "RX-1", "PEND-X", "3", 0);
    assert_eq!(status, "pended");
    let body = format!(
        "BHT*0007*11*R1*20260101*1200*18~HL*1**20*1~NM1*X3*2*UMO*****PI*1~HL*2*1*21*1~NM1*1P*2*CLINIC*****XX*{BILLING}~HL*3*2*22*1~NM1*IL*1*DOE*JOHN****MI*M1~HL*4*3*EV*1~UM*HS*I~HL*5*4*SS*0~HCR*A1*PEND-X~DTP*AAH*RD8*20260101-20261231~HSD*FL*10~SV1*HC:70551**UN*1~"
    );
    let n = body.matches('~').count() + 2;
    let file = format!("{ISA}ST*278*0001*005010X217~{body}SE*{n}*0001~GE*1*1~IEA*1*000000001~");
    let r = send(
        "POST",
        &s.url("/v1/authorizations/import"),
        &[("Content-Type", "application/edi-x12")],
        Some(file.as_bytes()),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["format"], "x12-278");
    assert_eq!(v["readjudicated"], 1, "{v}");
    assert_decided_again(&s, &id, "PEND-X");
    assert_eq!(units_used(&s, "PEND-X"), "3");
}

fn changed_since_lists_the_claims_decided_again_own_only(b: Backend) {
    let db = Db::fresh(b, "readj-since");
    let s = Server::start(&db, &[]);
    add_pending(&s, "PEND-S");
    let (id, _) = submit(&s, "RS-1", "PEND-S", "1", 0);
    let (_, status) = submit(&s, "RS-2", "NOT-ON-FILE", "1", 1);
    assert_eq!(status, "denied");
    let before = "2000-01-01T00:00:00Z";
    let list = |q: &str| -> Vec<String> {
        let r = get(&s, &format!("/v1/claims?{q}"));
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["claims"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["payer_claim_id"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(list(&format!("changed_since={before}")).is_empty());
    let csv = approve_csv("PEND-S");
    assert_eq!(import_auths(&s, &csv)["readjudicated"], 1);
    assert_eq!(list(&format!("changed_since={before}")), [id.as_str()]);
    // An offset is an instant: the same moment an hour east.
    assert_eq!(
        list("changed_since=2000-01-01T01:00:00%2B01:00"),
        [id.as_str()]
    );
    assert!(list("changed_since=2999-01-01T00:00:00Z").is_empty());
    let r = get(&s, "/v1/claims?changed_since=yesterday");
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("RFC 3339"), "{}", r.body);

    // A billing system bound to another NPI finds none of them.
    let (cid, secret) = add_client(&db, "other billing", &["1999999984"], &["claims:read"]);
    let t = client_token(&s.base, &cid, &secret, None);
    assert_eq!(t.status, 200, "{}", t.body);
    let token = t.json()["access_token"].as_str().unwrap().to_string();
    let r = send(
        "GET",
        &s.url(&format!("/v1/claims?changed_since={before}")),
        &[("Authorization", &format!("Bearer {token}"))],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.json()["claims"].as_array().unwrap().is_empty(),
        "{}",
        r.body
    );
}

/// A claim whose line 1 was approved on an authorization on file and
/// whose line 2 was pended on a pending one: when the pending one is
/// approved, line 1 keeps the units it holds (given back, then taken
/// again), never taking them twice.
fn a_pended_claims_other_lines_keep_what_they_consumed(b: Backend) {
    use crate::adjudication::{claim, line};
    let db = Db::fresh(b, "readj-mixed");
    let s = Server::start(&db, &[]);
    let add = |number: &str, code: &str, status: &str| {
        let r = post_json(
            &s,
            "/v1/authorizations",
            &json!({
                "number": number, "member_id": "M1", "provider_npi": BILLING,
                "codes": code, "units": "1", "start_date": "2026-01-01",
                "end_date": "2026-12-31", "status": status
            }),
        );
        assert_eq!(r.status, 201, "{}", r.body);
    };
    add("HELD-1", "70551", "approved");
    add("PEND-2", "70553", "pending");
    let mut lines = vec![
        line(1, "70551", "1", "1000.00", "2026-03-04"),
        line(2, "70553", "1", "1200.00", "2026-03-04"),
    ];
    lines[0].prior_auths = vec!["HELD-1".into()];
    lines[1].prior_auths = vec!["PEND-2".into()];
    let r = post_837(&s, "/v1/claims", &render(&[claim("RM-1", &[], lines)]), &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    let c = &r.json()["claims"][0];
    let id = c["payer_claim_id"].as_str().unwrap().to_string();
    assert_eq!(c["status"], "pended", "{c}");
    assert_eq!(c["lines"][0]["decision"], "approved", "{c}");
    assert_eq!(c["lines"][1]["decision"], "pended", "{c}");
    assert_eq!(units_used(&s, "HELD-1"), "1");

    let r = send(
        "PATCH",
        &s.url("/v1/authorizations/PEND-2"),
        &[("Content-Type", "application/json")],
        Some(br#"{"status": "approved"}"#),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["readjudicated"], 1, "{}", r.body);
    let c = get(&s, &format!("/v1/claims/{id}")).json();
    assert_eq!(c["status"], "approved", "{c}");
    assert_eq!(c["decision"]["lines"][0]["decision"], "approved", "{c}");
    assert_eq!(c["decision"]["lines"][1]["decision"], "approved", "{c}");
    assert_eq!(units_used(&s, "HELD-1"), "1", "line 1 holds its unit once");
    assert_eq!(units_used(&s, "PEND-2"), "1");
    // HELD-1's ledger: the first entry reversed by the claim decided
    // again, and one live entry.
    let l = get(&s, "/v1/authorizations/HELD-1/ledger").json();
    let live: Vec<&Value> = l["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reversed_by"].is_null())
        .collect();
    assert_eq!(live.len(), 1, "{l}");
    assert_eq!(l["units_used"], "1", "{l}");
}

/// Re-adjudication speed: N (default 10,000) claims pended on one
/// authorization, released by one import. Run with
/// `cargo test --release --test it readjudication_speed -- --ignored --nocapture`
/// (`PRIORAUTH_READJ_N` for another N).
#[test]
#[ignore]
fn readjudication_speed() {
    use crate::service::block_on;
    use priorauth::authorizations::import_csv;
    use priorauth::rules::{RuleSet, RulesIndex, BUNDLED};
    use priorauth::store::{Store, SubmitOptions};
    let n: usize = std::env::var("PRIORAUTH_READJ_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    for b in [Backend::Sqlite, Backend::Postgres] {
        let db = Db::fresh(b, "readj-speed");
        let store = block_on(Store::open(&db.url, 4)).unwrap();
        let set = RuleSet::bundled().unwrap();
        block_on(store.activate_rules(&set.version, BUNDLED)).unwrap();
        let rules = RulesIndex::new(set);
        let row = |status: &str| {
            format!("{CSV_HEAD}SPD,M1,{BILLING},70551,{n},0,2026-01-01,2026-12-31,{status}\n")
        };
        block_on(store.import_authorizations(&import_csv(row("pending").as_bytes()).unwrap()))
            .unwrap();
        let claims: Vec<_> = (0..n)
            .map(|i| distinct(mri_claim(&format!("SPD-{i}"), "SPD", "1"), i))
            .collect();
        for chunk in claims.chunks(1000) {
            block_on(store.submit(&rules, chunk, SubmitOptions::default(), &|_| String::new()))
                .unwrap();
        }
        let approved = import_csv(row("approved").as_bytes()).unwrap();
        let t = std::time::Instant::now();
        let done = block_on(store.import_authorizations_counted(&approved)).unwrap();
        let took = t.elapsed();
        assert_eq!(done.readjudicated, n as u64);
        let a = block_on(store.authorization("SPD")).unwrap().unwrap();
        assert_eq!(a.units_used, rust_decimal::Decimal::from(n as u64));
        println!(
            "{b:?}: {n} pended claims decided again by one import in {:.2} s ({:.0} claims/s)",
            took.as_secs_f64(),
            n as f64 / took.as_secs_f64()
        );
    }
}

//! The rule-change impact replay (issue 19 point 3): `POST
//! /v1/rules/impact` and `priorauth replay` on a crafted store of both
//! backends, with the counts worked out by hand; nothing consumed or
//! stored; the window; a bad candidate refused.

use serde_json::{json, Value};

use crate::access::count;
use crate::adjudication::{claim, line, BILLING, RENDERING};
use crate::helpers::priorauth;
use crate::render::render;
use crate::service::{
    add_auth, add_client, client_token, distinct, get, mri_claim, post_837, send, units_used,
    Backend, Db, Reply, Server,
};

both!(
    a_candidate_rule_is_counted_line_by_line_and_nothing_is_stored,
    the_cli_replays_as_json_and_as_a_table,
    any_page_size_gives_the_same_report_and_the_set_in_force_decides_as_stored,
    a_claim_no_rule_covers_any_more_still_gives_its_units_back,
);

/// The bundled set with one rule more: office visits (99213) need PA.
fn candidate() -> String {
    priorauth::rules::BUNDLED.replacen("version = \"2026.11\"", "version = \"cand-1\"", 1)
        + "\n[[rule]]\nid = \"X-99213\"\nsection = \"9.1\"\ntitle = \"Office visits\"\ncodes = [\"99213\"]\neffective = \"2026-01-01\"\n"
}

fn impact(s: &Server, query: &str, toml: &str) -> Reply {
    send(
        "POST",
        &s.url(&format!("/v1/rules/impact{query}")),
        &[("Content-Type", "application/toml")],
        Some(toml.as_bytes()),
    )
}

/// Submits claims; the answer's claims.
fn submit(s: &Server, claims: &[priorauth::model::Claim]) -> Value {
    let r = post_837(s, "/v1/claims", &render(claims), &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["claims"].clone()
}

/// What a replay must leave as it was: the claims, their history, the
/// ledger and the units used.
fn state(db: &Db) -> [i64; 4] {
    [
        count(db, "SELECT COUNT(*) FROM claims"),
        count(db, "SELECT COUNT(*) FROM claim_history"),
        count(db, "SELECT COUNT(*) FROM consumption_ledger"),
        count(
            db,
            "SELECT COUNT(*) FROM authorizations WHERE units_used <> '0'",
        ),
    ]
}

/// The crafted store: P1 (70551, exactly the 3 units its claims use).
///   A  BILLING    70551 ×2 on P1                       approved
///   B  BILLING    70551 ×1 on P1, 99213 150.00         approved, not_required
///   C  RENDERING  99213 80.00                          not_required
///   A again (an exact duplicate: not live, not replayed).
/// Under the candidate, B line 2 and C line 1 become denied (no
/// authorization covers 99213): 2 lines of 4, 2 claims of 3, one
/// transition not_required→denied, rule X-99213, denied amount
/// 0.00 → 230.00, providers BILLING (150.00) then RENDERING (80.00).
/// The in-force denied amount 0.00 also shows each claim's units were
/// given back before it was decided again (P1 has no units left now).
fn crafted(s: &Server) -> String {
    add_auth(s, "P1", "70551", Some("3"));
    let a = mri_claim("RP-A", "P1", "2");
    let b = claim(
        "RP-B",
        &["P1"],
        vec![
            line(1, "70551", "1", "1000.00", "2026-03-04"),
            line(2, "99213", "1", "150.00", "2026-03-04"),
        ],
    );
    let mut c = claim(
        "RP-C",
        &[],
        vec![line(1, "99213", "1", "80.00", "2026-03-05")],
    );
    c.billing_npi = RENDERING.into();
    let answered = submit(s, &[a.clone(), b, c]);
    assert_eq!(answered[0]["status"], "approved", "{answered}");
    assert_eq!(answered[1]["status"], "approved", "{answered}");
    assert_eq!(answered[1]["lines"][1]["decision"], "not_required");
    assert_eq!(answered[2]["lines"][0]["decision"], "not_required");
    let dup = submit(s, &[a]);
    assert_eq!(dup[0]["status"], "denied", "a duplicate: {dup}");
    assert_eq!(units_used(s, "P1"), "3");
    let id = answered[0]["payer_claim_id"].as_str().unwrap();
    let stored = get(s, &format!("/v1/claims/{id}")).json();
    stored["received_at"].as_str().unwrap()[..10].to_string()
}

fn assert_crafted_report(r: &Value) {
    assert_eq!(r["rule_set_in_force"], "2026.11", "{r}");
    assert_eq!(r["candidate_rule_set"], "cand-1");
    assert_eq!(r["claims"], 3, "live claims only: {r}");
    assert_eq!(r["claims_without_facts"], 0);
    assert_eq!(r["claims_changed"], 2);
    assert_eq!(r["lines"], 4);
    assert_eq!(r["lines_changed"], 2);
    assert_eq!(
        r["denied_amount"],
        json!({"in_force": "0.00", "candidate": "230.00", "change": "230.00"})
    );
    assert_eq!(
        r["transitions"],
        json!([{"transition": "not_required→denied", "from": "not_required", "to": "denied", "lines": 2}])
    );
    assert_eq!(
        r["rules"],
        json!([{"rule_id": "X-99213", "claims_changed": 2, "lines_changed": 2, "denied_amount_change": "230.00"}])
    );
    assert_eq!(
        r["providers"],
        json!([
            {"billing_npi": BILLING, "claims_changed": 1, "lines_changed": 1, "denied_amount_change": "150.00"},
            {"billing_npi": RENDERING, "claims_changed": 1, "lines_changed": 1, "denied_amount_change": "80.00"},
        ])
    );
}

fn a_candidate_rule_is_counted_line_by_line_and_nothing_is_stored(b: Backend) {
    let db = Db::fresh(b, "replay-api");
    let s = Server::start(&db, &[]);
    let today = crafted(&s);
    let before = state(&db);

    let r = impact(&s, "", &candidate());
    assert_eq!(r.status, 200, "{}", r.body);
    assert_crafted_report(&r.json());
    // Twice: the same answer, since the first consumed nothing.
    let again = impact(&s, "", &candidate());
    assert_eq!(again.json(), r.json());
    assert_eq!(state(&db), before, "nothing stored or consumed");
    assert_eq!(units_used(&s, "P1"), "3");

    // The set in force against itself: nothing changes.
    let same = impact(&s, "", priorauth::rules::BUNDLED).json();
    assert_eq!(same["claims"], 3);
    assert_eq!(same["lines_changed"], 0, "{same}");
    assert_eq!(same["transitions"], json!([]));
    assert_eq!(same["providers"], json!([]));

    // The window: the receipt day includes them all; the day after or
    // before none.
    let day = chrono::NaiveDate::parse_from_str(&today, "%Y-%m-%d").unwrap();
    let (next, prev) = (day.succ_opt().unwrap(), day.pred_opt().unwrap());
    let within = impact(&s, &format!("?since={day}&until={day}"), &candidate());
    assert_crafted_report(&within.json());
    for q in [format!("?since={next}"), format!("?until={prev}")] {
        let r = impact(&s, &q, &candidate()).json();
        assert_eq!(r["claims"], 0, "{q}: {r}");
        assert_eq!(r["lines"], 0);
        assert_eq!(r["denied_amount"]["change"], "0.00");
    }

    // A bad candidate: every problem, 422; a bad window: 400.
    let bad = impact(&s, "", "version = \"x\"\n[[rule]]\nid = \"A\"\n");
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(
        bad.body.contains("candidate rule set not loaded"),
        "{}",
        bad.body
    );
    assert_eq!(impact(&s, "?since=soon", &candidate()).status, 400);
    assert_eq!(
        impact(&s, &format!("?since={next}&until={prev}"), &candidate()).status,
        400
    );
    assert_eq!(impact(&s, "?colour=red", &candidate()).status, 400);

    // rules:write only.
    let (id, secret) = add_client(&db, "reader", &[BILLING], &["claims:read"]);
    let t = client_token(&s.base, &id, &secret, None).json()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = send(
        "POST",
        &s.url("/v1/rules/impact"),
        &[
            ("Content-Type", "application/toml"),
            ("Authorization", &format!("Bearer {t}")),
        ],
        Some(candidate().as_bytes()),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(state(&db), before);
}

fn the_cli_replays_as_json_and_as_a_table(b: Backend) {
    let db = Db::fresh(b, "replay-cli");
    let s = Server::start(&db, &[]);
    crafted(&s);
    let before = state(&db);
    let dir = crate::helpers::temp_dir("replay-cli");
    let file = dir.join("candidate.toml");
    std::fs::write(&file, candidate()).unwrap();
    let file = file.to_str().unwrap();

    let out = priorauth(&["replay", "--rules", file, "--database", &db.url]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_crafted_report(&r);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("replayed 3 claims in"), "{err}");

    let out = priorauth(&[
        "replay",
        "--rules",
        file,
        "--format",
        "table",
        "--database",
        &db.url,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t = String::from_utf8(out.stdout).unwrap();
    assert!(
        t.contains("rule set in force 2026.11 -> candidate cand-1"),
        "{t}"
    );
    assert!(t.contains("lines compared 4, changed 2"), "{t}");
    assert!(
        t.contains("denied amount 0.00 -> 230.00 (change 230.00)"),
        "{t}"
    );
    assert!(
        t.lines()
            .any(|l| l.split_whitespace().eq(["not_required→denied", "2"])),
        "{t}"
    );
    assert!(
        t.lines()
            .any(|l| l.split_whitespace().eq(["X-99213", "2", "2", "230.00"])),
        "{t}"
    );
    let providers: Vec<&str> = t
        .lines()
        .skip_while(|l| !l.starts_with("PROVIDER"))
        .skip(1)
        .collect();
    assert_eq!(
        providers
            .iter()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .collect::<Vec<_>>(),
        [
            vec![BILLING, "1", "1", "150.00"],
            vec![RENDERING, "1", "1", "80.00"]
        ],
        "{t}"
    );

    // A window with none of them.
    let out = priorauth(&[
        "replay",
        "--rules",
        file,
        "--since",
        "2999-01-01",
        "--database",
        &db.url,
    ]);
    assert!(out.status.success());
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["claims"], 0);

    // A bad candidate: exit 2 and its problems on stderr.
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "version = \"x\"\n[[rule]]\nid = \"A\"\n").unwrap();
    let out = priorauth(&[
        "replay",
        "--rules",
        bad.to_str().unwrap(),
        "--database",
        &db.url,
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml"), "{err}");
    assert!(out.stdout.is_empty());
    assert_eq!(state(&db), before, "nothing stored or consumed");
}

/// 150 claims on five authorizations of 5 units (so later claims find
/// them used up: partial and denied lines), one in four with an office
/// visit, stored in one submission; replayed through the store.
fn any_page_size_gives_the_same_report_and_the_set_in_force_decides_as_stored(b: Backend) {
    use priorauth::rules::{RuleSet, RulesIndex};
    use priorauth::store::{ReplayWindow, Store, SubmitOptions};
    use std::sync::Arc;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = Db::fresh(b, "replay-pages");
    let store = rt.block_on(Store::open(&db.url, 2)).unwrap();
    let mut csv = String::from(
        "number,member_id,provider_npi,codes,units,units_used,start_date,end_date,status\n",
    );
    for n in 1..=5 {
        csv.push_str(&format!(
            "PG-{n},M1,{BILLING},70551,5,0,2026-01-01,2026-12-31,approved\n"
        ));
    }
    let auths = priorauth::authorizations::import_csv(csv.as_bytes()).unwrap();
    rt.block_on(store.import_authorizations(&auths)).unwrap();
    let claims: Vec<_> = (0..150usize)
        .map(|i| {
            let mut c = distinct(
                mri_claim(
                    &format!("PG-C{i}"),
                    &format!("PG-{}", i % 5 + 1),
                    &(i % 3 + 1).to_string(),
                ),
                i,
            );
            if i % 4 == 0 {
                c.lines.push(line(2, "99213", "1", "100.00", "2026-03-04"));
            }
            c
        })
        .collect();
    let in_force = Arc::new(RulesIndex::new(RuleSet::bundled().unwrap()));
    rt.block_on(
        store.submit(&in_force, &claims, SubmitOptions::default(), &|_| {
            String::new()
        }),
    )
    .unwrap();
    let candidate = Arc::new(RulesIndex::new(RuleSet::from_toml(&candidate()).unwrap()));
    let all = ReplayWindow::default();
    let before = state(&db);

    let whole = rt
        .block_on(store.replay(in_force.clone(), candidate.clone(), all))
        .unwrap();
    for page in [1, 7, 149, 150, 151] {
        let paged = rt
            .block_on(store.replay_paged(in_force.clone(), candidate.clone(), all, page))
            .unwrap();
        assert_eq!(paged, whole, "page of {page}");
    }
    assert_eq!(whole.claims, 150);
    assert_eq!(whole.lines, 150 + 38);
    // The office visits, and only they, change: 38 claims, 100.00 each.
    assert_eq!(whole.lines_changed, 38);
    assert_eq!(whole.claims_changed, 38);
    assert_eq!(whole.transitions.len(), 1);
    assert_eq!(whole.transitions[0].transition, "not_required→denied");
    assert_eq!(
        whole.denied_amount.change,
        "3800.00".parse::<rust_decimal::Decimal>().unwrap()
    );

    // The set in force decides the stored claims as they were decided:
    // the same denied amount as the stored line rows, though every
    // authorization is used up now (each claim's units given back first).
    let same = rt
        .block_on(store.replay_paged(in_force.clone(), in_force.clone(), all, 7))
        .unwrap();
    assert_eq!(same.lines_changed, 0);
    let stored: rust_decimal::Decimal = {
        use sqlx::{Connection, Row};
        rt.block_on(async {
            let mut c = sqlx::AnyConnection::connect(&db.url).await.unwrap();
            sqlx::query("SELECT amount_denied FROM line_decisions")
                .fetch_all(&mut c)
                .await
                .unwrap()
                .iter()
                .map(|r| {
                    r.get::<String, _>(0)
                        .parse::<rust_decimal::Decimal>()
                        .unwrap()
                })
                .sum()
        })
    };
    assert!(
        stored > rust_decimal::Decimal::ZERO,
        "some lines were denied"
    );
    assert_eq!(same.denied_amount.in_force, stored);
    assert_eq!(whole.denied_amount.in_force, stored);
    assert_eq!(state(&db), before, "nothing stored or consumed");
}

/// A claim that held units when it was stored, that neither set covers
/// now, is not decided again (every line not required), but its units go
/// back to the book first: a later claim on the same authorization finds
/// them. Without the give-back the later claim would be denied.
fn a_claim_no_rule_covers_any_more_still_gives_its_units_back(b: Backend) {
    use priorauth::rules::{RuleSet, RulesIndex};
    use priorauth::store::{ReplayWindow, Store, SubmitOptions};
    use std::sync::Arc;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = Db::fresh(b, "replay-give-back");
    let store = rt.block_on(Store::open(&db.url, 2)).unwrap();
    // One unit, for the MRI or the office visit.
    let csv = format!(
        "number,member_id,provider_npi,codes,units,units_used,start_date,end_date,status\n\
         GB-1,M1,{BILLING},70551|99213,1,0,2026-01-01,2026-12-31,approved\n"
    );
    let auths = priorauth::authorizations::import_csv(csv.as_bytes()).unwrap();
    rt.block_on(store.import_authorizations(&auths)).unwrap();
    // Stored under the bundled set: the MRI takes the unit; the office
    // visit after it needs no authorization there.
    let bundled = RulesIndex::new(RuleSet::bundled().unwrap());
    let mri = mri_claim("GB-A", "GB-1", "1");
    let visit = claim(
        "GB-B",
        &["GB-1"],
        vec![line(1, "99213", "1", "100.00", "2026-03-05")],
    );
    for c in [mri, visit] {
        rt.block_on(store.submit(&bundled, &[c], SubmitOptions::default(), &|_| String::new()))
            .unwrap();
    }
    // Both sets now: no MRI rule, office visits need PA.
    let no_mri = candidate().replacen("\"70540-70553\",", "", 1).replacen(
        "version = \"cand-1\"",
        "version = \"no-mri\"",
        1,
    );
    assert!(
        !no_mri.contains("70540-70553"),
        "the brain MRI codes are gone"
    );
    let set = Arc::new(RulesIndex::new(RuleSet::from_toml(&no_mri).unwrap()));
    let r = rt
        .block_on(store.replay(set.clone(), set, ReplayWindow::default()))
        .unwrap();
    assert_eq!((r.claims, r.lines, r.lines_changed), (2, 2, 0));
    // The visit finds the MRI's unit given back: approved, nothing denied.
    assert_eq!(
        r.denied_amount.in_force,
        rust_decimal::Decimal::ZERO,
        "{r:?}"
    );
    assert_eq!(r.denied_amount.candidate, rust_decimal::Decimal::ZERO);
}

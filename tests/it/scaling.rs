//! Issue 17: claims stored compactly with their facts, batches kept in the
//! database and worked by several `serve` processes, changes pushed with
//! LISTEN/NOTIFY. Real stores, real processes, real HTTP.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::service::{
    add_auth, batch_file, block_on, get, post_837, send, units_used, wait_for, Backend, Db, Server,
};
use priorauth::adjudication::{Adjudicator, MemoryHistory};
use priorauth::authorizations::{import_csv, AuthBook};
use priorauth::rules::{RuleSet, RulesIndex};
use priorauth::store::{Store, SubmitOptions, Submitted};
use priorauth::x12::SetReader;

both!(
    stored_facts_decide_again_as_they_were_decided,
    line_decisions_keep_the_lines_searches_find,
);

/// The claims of the sample fixtures and a generated batch: replacements,
/// institutional claims, dependents, several lines.
fn sample_claims() -> Vec<priorauth::model::Claim> {
    let root = crate::helpers::root();
    let mut texts: Vec<Vec<u8>> = [
        "fixtures/x12/837p-sample.x12",
        "fixtures/x12/837i-sample.x12",
    ]
    .iter()
    .map(|p| std::fs::read(root.join(p)).unwrap())
    .collect();
    texts.push(batch_file("FACTS", 30, "RT1").into_bytes());
    let mut out = Vec::new();
    for t in texts {
        let mut r = SetReader::new(&t[..], None);
        while let Some(set) = r.next_accepted() {
            out.extend(set.claims);
        }
    }
    assert!(out.len() > 30);
    out
}

fn sample_auths() -> Vec<priorauth::authorizations::Authorization> {
    let csv = std::fs::read(crate::helpers::root().join("fixtures/auths/sample.csv")).unwrap();
    let mut auths = import_csv(&csv).unwrap();
    let extra = "number,member_id,provider_npi,codes,units,units_used,start_date,end_date,status\n\
                 RT1,M1,1234567893,70551,10,0,2026-01-01,2026-12-31,approved\n";
    auths.extend(import_csv(extra.as_bytes()).unwrap());
    auths
}

fn stored_facts_decide_again_as_they_were_decided(b: Backend) {
    // One runtime for the whole test: the pool's connections live in it.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = Db::fresh(b, "facts");
    let store = rt.block_on(Store::open(&db.url, 2)).unwrap();
    let auths = sample_auths();
    rt.block_on(store.import_authorizations(&auths)).unwrap();
    let rules = RulesIndex::new(RuleSet::bundled().unwrap());
    let claims = sample_claims();
    let decided = match rt
        .block_on(
            store.submit(&rules, &claims, SubmitOptions::default(), &|_| {
                String::new()
            }),
        )
        .unwrap()
    {
        Submitted::Fresh(d, _) => d,
        Submitted::Replay(_) => panic!("no idempotency key was given"),
    };
    assert!(
        decided.iter().any(|d| d.status.as_str() != "approved"),
        "the sample decides more than approvals"
    );
    // The facts come back as the claim model that was decided, and
    // deciding them again (from the same authorizations, in the same
    // order) gives the stored decision byte for byte.
    let mut book = AuthBook::new(auths);
    let mut history = MemoryHistory::default();
    let adjudicator = Adjudicator::new(&rules);
    for (claim, d) in claims.iter().zip(&decided) {
        let facts = rt
            .block_on(store.claim_facts(&d.payer_claim_id))
            .unwrap()
            .expect("stored with its facts");
        assert_eq!(&facts, claim, "{}", claim.claim_id);
        let again = adjudicator.adjudicate(&facts, &d.payer_claim_id, &mut book, &mut history);
        let stored = rt
            .block_on(store.decision(&d.payer_claim_id))
            .unwrap()
            .unwrap();
        assert_eq!(serde_json::to_string(&again).unwrap(), stored);
        let shown = rt
            .block_on(store.claim(&d.payer_claim_id))
            .unwrap()
            .unwrap();
        assert_eq!(shown.decision.get(), stored);
    }
    assert!(rt
        .block_on(store.claim_facts("no-such-claim"))
        .unwrap()
        .is_none());
    rt.block_on(store.close());
}

fn line_decisions_keep_the_lines_searches_find(b: Backend) {
    // One runtime for the whole test: the pool's connections live in it.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = Db::fresh(b, "lines");
    let store = rt.block_on(Store::open(&db.url, 2)).unwrap();
    rt.block_on(store.import_authorizations(&sample_auths()))
        .unwrap();
    let rules = RulesIndex::new(RuleSet::bundled().unwrap());
    let claims = sample_claims();
    let Submitted::Fresh(decided, _) = rt
        .block_on(
            store.submit(&rules, &claims, SubmitOptions::default(), &|_| {
                String::new()
            }),
        )
        .unwrap()
    else {
        panic!("fresh")
    };
    rt.block_on(store.close());
    let mut want: Vec<(String, i64, Option<String>, String)> = Vec::new();
    let mut plain = 0;
    for d in &decided {
        for l in &d.lines {
            let touched = l.rule.is_some()
                || l.authorization.is_some()
                || l.exemption.is_some()
                || !l.adjustments.is_empty()
                || !l.remarks.is_empty();
            if touched {
                let carcs: Vec<String> = l
                    .adjustments
                    .iter()
                    .map(|a| format!("{}-{}", a.group.as_str(), a.carc.as_str()))
                    .collect();
                want.push((
                    d.payer_claim_id.clone(),
                    i64::from(l.line),
                    l.rule.clone(),
                    carcs.join(" "),
                ));
            } else {
                plain += 1;
            }
        }
    }
    assert!(plain > 0 && !want.is_empty());
    sqlx::any::install_default_drivers();
    let mut got: Vec<(String, i64, Option<String>, String)> = block_on(async {
        use sqlx::{Connection, Row};
        let mut c = sqlx::AnyConnection::connect(&db.url).await.unwrap();
        sqlx::query("SELECT payer_claim_id, line, rule_id, adjustments FROM line_decisions")
            .fetch_all(&mut c)
            .await
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r.get::<String, _>(0),
                    r.get::<i64, _>(1),
                    r.get::<Option<String>, _>(2),
                    r.get::<String, _>(3),
                )
            })
            .collect()
    });
    got.sort();
    want.sort();
    assert_eq!(got, want);
}

fn wait_done(s: &Server, id: &str, timeout: Duration) -> Value {
    let mut last = Value::Null;
    wait_for("the batch to finish", timeout, || {
        last = get(s, &format!("/v1/batches/{id}")).json();
        last["state"] == "done" || last["state"] == "failed"
    });
    assert_eq!(last["state"], "done", "{last}");
    last
}

/// The batch's results with the payer claim ids (new per run) left out.
fn results_without_ids(s: &Server, id: &str) -> Vec<Value> {
    get(s, &format!("/v1/batches/{id}/results"))
        .body
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("payer_claim_id");
            v
        })
        .collect()
}

/// Chunks each server's log says it committed, as (batch, chunk).
fn chunks_committed(s: &Server) -> Vec<(String, i64)> {
    s.log()
        .lines()
        .filter(|l| l.contains("batch chunk committed"))
        .map(|l| {
            let field = |name: &str| {
                l.split_once(&format!("{name}="))
                    .map(|(_, rest)| rest.split_whitespace().next().unwrap_or("").to_string())
                    .unwrap_or_default()
            };
            (field("batch"), field("chunk").parse().unwrap_or(-1))
        })
        .collect()
}

const ENV: [(&str, &str); 1] = [("PRIORAUTH_BATCH_CHUNK", "50")];

/// What one instance alone makes of the file: the reference result.
fn one_instance_result(file: &str, units: &str) -> Vec<Value> {
    let db = Db::fresh(Backend::Postgres, "one");
    let s = Server::start(&db, &ENV);
    add_auth(&s, "S1", "70551", Some(units));
    let r = post_837(&s, "/v1/batches", file, &[]);
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_string();
    wait_done(&s, &id, Duration::from_secs(300));
    results_without_ids(&s, &id)
}

#[test]
fn two_instances_share_one_batch_on_postgres() {
    let total = 3000;
    let file = batch_file("SH", total, "S1");
    // Fewer units than claims: the result depends on file order.
    let reference = one_instance_result(&file, "2500");
    let db = Db::fresh(Backend::Postgres, "share");
    let a = Server::start(&db, &ENV);
    let b = Server::start(&db, &ENV);
    add_auth(&a, "S1", "70551", Some("2500"));
    let r = post_837(&a, "/v1/batches", &file, &[]);
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_string();
    let done = wait_done(&b, &id, Duration::from_secs(300));
    assert_eq!(done["claims_done"], total);
    let (ca, cb) = (chunks_committed(&a), chunks_committed(&b));
    assert!(
        !ca.is_empty() && !cb.is_empty(),
        "both commit chunks: {} and {}",
        ca.len(),
        cb.len()
    );
    let all: Vec<&(String, i64)> = ca.iter().chain(&cb).collect();
    let distinct: HashSet<&(String, i64)> = all.iter().copied().collect();
    assert_eq!(all.len(), distinct.len(), "no chunk committed twice");
    assert_eq!(all.len(), total / 50);
    assert_eq!(results_without_ids(&a, &id), reference);
    assert_eq!(units_used(&a, "S1"), "2500");
}

#[test]
fn an_instance_killed_mid_batch_leaves_it_to_the_other() {
    let total = 4000;
    let file = batch_file("KL", total, "S1");
    let reference = one_instance_result(&file, "3000");
    let db = Db::fresh(Backend::Postgres, "kill");
    let mut a = Server::start(&db, &ENV);
    add_auth(&a, "S1", "70551", Some("3000"));
    let r = post_837(&a, "/v1/batches", &file, &[]);
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_string();
    let mut at_kill = 0;
    wait_for(
        "the batch to be under way",
        Duration::from_secs(120),
        || {
            at_kill = get(&a, &format!("/v1/batches/{id}")).json()["claims_done"]
                .as_i64()
                .unwrap();
            at_kill > 0
        },
    );
    a.kill();
    assert!(
        at_kill < total as i64,
        "the crash comes mid-batch ({at_kill})"
    );
    let b = Server::start(&db, &ENV);
    let done = wait_done(&b, &id, Duration::from_secs(300));
    assert_eq!(done["claims_done"], total);
    assert!(!chunks_committed(&b).is_empty());
    let results = results_without_ids(&b, &id);
    let ids: HashSet<&str> = results
        .iter()
        .map(|v| v["claim_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), total, "0 claims lost, none twice");
    assert_eq!(results, reference, "the same result as one instance");
    assert_eq!(units_used(&b, "S1"), "3000", "no unit consumed twice");
}

#[test]
fn a_rule_set_put_in_force_on_one_instance_decides_on_the_other_at_once() {
    let db = Db::fresh(Backend::Postgres, "notify");
    let a = Server::start(&db, &[]);
    let b = Server::start(&db, &[]);
    assert_eq!(get(&b, "/v1/rules").json()["version"], "2026.11");
    let mut took = Vec::new();
    for round in 0..5 {
        let version = format!("pushed-{round}");
        let text = format!("version = \"{version}\"\n[[rule]]\nid = \"T-{round}\"\nsection = \"5.1.9\"\ntitle = \"Office visits\"\ncodes = [\"99213\"]\neffective = \"2020-01-01\"\n");
        let put = send(
            "PUT",
            &a.url("/v1/rules"),
            &[("Content-Type", "application/toml")],
            Some(text.as_bytes()),
        );
        assert_eq!(put.status, 200, "{}", put.body);
        let t0 = Instant::now();
        loop {
            let check = get(&b, "/v1/rules/check?code=99213&date=2026-03-04").json();
            if check["rule"] == format!("T-{round}") {
                break;
            }
            assert!(t0.elapsed() < Duration::from_secs(5), "never picked up");
        }
        took.push(t0.elapsed());
    }
    // Polling alone takes up to 2 s (uniformly spread over it).
    took.sort();
    let median = took[took.len() / 2];
    assert!(
        median <= Duration::from_millis(100),
        "picked up after {took:?}"
    );
    assert!(
        took[took.len() - 1] < Duration::from_millis(500),
        "picked up after {took:?}"
    );
}

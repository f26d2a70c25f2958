//! `GET /v1/claims` (search with keyset pagination) and
//! `GET /v1/authorizations/{number}/ledger`, over real HTTP on both stores.

use serde_json::Value;

use crate::adjudication::{claim, line, BILLING};
use crate::helpers::pyx12_errors;
use crate::render::render;
use crate::service::{
    add_auth, add_client, client_token, distinct, get, mri_claim, post_837, send, Backend, Db,
    Server,
};

both!(
    claims_search_filters_and_pages,
    ledger_names_the_claims_that_consumed,
    a_stored_claim_answers_its_277ca_and_835,
    carc_search_finds_each_claim_once_newest_first
);

fn ids(r: &Value) -> Vec<String> {
    r["claims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["claim_id"].as_str().unwrap().to_string())
        .collect()
}

fn search(s: &Server, q: &str) -> Value {
    let r = get(s, &format!("/v1/claims?{q}"));
    assert_eq!(r.status, 200, "{q}: {}", r.body);
    r.json()
}

fn claims_search_filters_and_pages(b: Backend) {
    let db = Db::fresh(b, "search");
    let s = Server::start(&db, &[]);
    add_auth(&s, "AUTH-OK", "70551", Some("10"));
    // One denied (no authorization on file), one approved, one not needing
    // PA in April, each its own submission (received in this order).
    for c in [
        mri_claim("SRCH-DENIED", "NOPE", "1"),
        // Other charges: not a duplicate of the first by content.
        distinct(mri_claim("SRCH-OK", "AUTH-OK", "1"), 1),
        claim(
            "SRCH-APRIL",
            &[],
            vec![line(1, "99213", "1", "80.00", "2026-04-10")],
        ),
    ] {
        let r = post_837(&s, "/v1/claims", &render(&[c]), &[]);
        assert_eq!(r.status, 200, "{}", r.body);
    }

    // CLM01 alone, no NPI.
    let r = search(&s, "claim_id=SRCH-DENIED");
    assert_eq!(ids(&r), ["SRCH-DENIED"]);
    let c = &r["claims"][0];
    assert_eq!(c["status"], "denied");
    assert_eq!(c["decision"]["lines"][0]["adjustments"][0]["carc"], "197");
    assert!(r["next"].is_null());

    // Newest first, no filter.
    assert_eq!(
        ids(&search(&s, "")),
        ["SRCH-APRIL", "SRCH-OK", "SRCH-DENIED"]
    );
    assert_eq!(ids(&search(&s, "status=denied")), ["SRCH-DENIED"]);
    assert_eq!(ids(&search(&s, "carc=197")), ["SRCH-DENIED"]);
    assert_eq!(ids(&search(&s, "carc=co-197")), ["SRCH-DENIED"]);
    assert!(ids(&search(&s, "carc=PR-197")).is_empty());
    assert_eq!(
        ids(&search(&s, "rule=5.1.2-MRI")),
        ["SRCH-OK", "SRCH-DENIED"]
    );
    assert_eq!(
        ids(&search(
            &s,
            &format!("billing_npi={BILLING}&status=approved")
        )),
        ["SRCH-APRIL", "SRCH-OK"]
    );
    assert_eq!(
        ids(&search(&s, "service_from=2026-04-01&service_to=2026-04-30")),
        ["SRCH-APRIL"]
    );
    assert_eq!(
        ids(&search(&s, "service_to=2026-03-04")),
        ["SRCH-OK", "SRCH-DENIED"]
    );
    let payer = search(&s, "claim_id=SRCH-OK")["claims"][0]["payer_claim_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        ids(&search(&s, &format!("payer_claim_id={payer}"))),
        ["SRCH-OK"]
    );
    // The day the store stamped (the test reads no clock).
    let received = search(&s, "claim_id=SRCH-OK")["claims"][0]["received_at"]
        .as_str()
        .unwrap()
        .to_string();
    let today: chrono::NaiveDate = received[..10].parse().unwrap();
    let tomorrow = today.succ_opt().unwrap();
    assert_eq!(
        ids(&search(
            &s,
            &format!("received_from={today}&received_to={today}")
        ))
        .len(),
        3
    );
    assert!(ids(&search(&s, &format!("received_from={tomorrow}"))).is_empty());
    // Blank form fields are "not given".
    assert_eq!(ids(&search(&s, "claim_id=&status=&carc=")).len(), 3);

    // Pages of one: every claim once, in order, then no cursor.
    let mut seen = Vec::new();
    let mut q = "limit=1".to_string();
    loop {
        let page = search(&s, &q);
        seen.extend(ids(&page));
        match page["next"].as_str() {
            Some(n) => q = format!("limit=1&after={n}"),
            None => break,
        }
    }
    assert_eq!(seen, ["SRCH-APRIL", "SRCH-OK", "SRCH-DENIED"]);

    // Precise 400s.
    for (q, says) in [
        ("status=sideways", "status=sideways"),
        ("billing_npi=12", "ten digits"),
        ("service_from=March", "YYYY-MM-DD"),
        ("limit=0", "1 to 500"),
        ("after=zzz", "cursor"),
        ("carc=1977", "CARC"),
        ("nonsense=1", "nonsense"),
    ] {
        let r = get(&s, &format!("/v1/claims?{q}"));
        assert_eq!(r.status, 400, "{q}: {}", r.body);
        assert!(r.body.contains(says), "{q}: {}", r.body);
    }

    // A billing system finds only its own NPIs' claims.
    let (id, secret) = add_client(&db, "other billing", &["1999999984"], &["claims:read"]);
    let t = client_token(&s.base, &id, &secret, None).json()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let auth = format!("Bearer {t}");
    let r = send(
        "GET",
        &s.url("/v1/claims?claim_id=SRCH-DENIED"),
        &[("Authorization", &auth)],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(ids(&r.json()).is_empty());
}

fn ledger_names_the_claims_that_consumed(b: Backend) {
    let db = Db::fresh(b, "ledger");
    let s = Server::start(&db, &[]);
    add_auth(&s, "LEDGER-1", "70551", Some("5"));
    let r = post_837(
        &s,
        "/v1/claims",
        &render(&[mri_claim("LED-1", "LEDGER-1", "2")]),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let payer = r.json()["claims"][0]["payer_claim_id"]
        .as_str()
        .unwrap()
        .to_string();
    let l = get(&s, "/v1/authorizations/LEDGER-1/ledger");
    assert_eq!(l.status, 200, "{}", l.body);
    let l = l.json();
    assert_eq!(l["units"], "5");
    assert_eq!(l["units_used"], "2");
    assert_eq!(l["units_remaining"], "3");
    let e = &l["entries"][0];
    assert_eq!(e["payer_claim_id"], payer.as_str());
    assert_eq!(e["claim_id"], "LED-1");
    assert_eq!(e["line"], 1);
    assert_eq!(e["units"], "2");
    assert!(e["reversed_by"].is_null());
    assert_eq!(get(&s, "/v1/authorizations/NOPE/ledger").status, 404);
}

/// `GET /v1/claims/{id}?format=277ca|835`: a stored claim's answers
/// written again, valid X12 (pyx12); an 835 only for a claim denied in
/// full; a 277CA from the claim's stored facts.
fn a_stored_claim_answers_its_277ca_and_835(b: Backend) {
    let db = Db::fresh(b, "claimx12");
    let s = Server::start(&db, &[]);
    add_auth(&s, "AUTH-OK", "70551", Some("1"));
    // Sent alone: a denied and an approved claim.
    let mut alone = Vec::new();
    for c in [
        mri_claim("X12-DENIED", "NOPE", "1"),
        distinct(mri_claim("X12-OK", "AUTH-OK", "1"), 1),
    ] {
        let r = post_837(&s, "/v1/claims", &render(&[c]), &[]);
        assert_eq!(r.status, 200, "{}", r.body);
        alone.push(
            r.json()["claims"][0]["payer_claim_id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let (denied, approved) = (&alone[0], &alone[1]);
    let r = get(&s, &format!("/v1/claims/{denied}?format=835"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/edi-x12"));
    assert!(r.body.contains("CLP*X12-DENIED*4*"), "{}", r.body);
    assert!(r.body.contains("CAS*CO*197*"), "{}", r.body);
    if let Some(errors) = pyx12_errors(&r.body, "stored-835") {
        panic!("pyx12 finds the 835 invalid: {errors}\n{}", r.body);
    }
    let r = get(&s, &format!("/v1/claims/{approved}?format=835"));
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(r.body.contains("not denied in full"), "{}", r.body);
    // Sent alone, its 277CA is written from the facts the store keeps.
    let r = get(&s, &format!("/v1/claims/{denied}?format=277ca"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("TRN*2*X12-DENIED~"), "{}", r.body);
    assert_eq!(
        get(&s, &format!("/v1/claims/{denied}?format=999")).status,
        400
    );
    assert_eq!(get(&s, "/v1/claims/nope?format=277ca").status, 404);
    assert_eq!(
        get(&s, &format!("/v1/claims/{denied}")).json()["claim_id"],
        "X12-DENIED"
    );

    // In a batch: the second claim of the file, its 277CA from the file.
    let r = post_837(
        &s,
        "/v1/batches",
        &crate::service::batch_file("BX", 3, "NOPE"),
        &[],
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let batch = r.json()["id"].as_str().unwrap().to_string();
    crate::service::wait_for("the batch", std::time::Duration::from_secs(120), || {
        get(&s, &format!("/v1/batches/{batch}")).json()["state"] == "done"
    });
    let found = search(&s, "claim_id=BX-000001");
    let id = found["claims"][0]["payer_claim_id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = get(&s, &format!("/v1/claims/{id}?format=277ca"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains("TRN*2*BX-000001~\nSTC*A2:20*"),
        "{}",
        r.body
    );
    assert!(r.body.contains(&format!("REF*1K*{id}~")), "{}", r.body);
    assert!(r.body.contains("QTY*90*1~"), "one claim: {}", r.body);
    if let Some(errors) = pyx12_errors(&r.body, "stored-277ca") {
        panic!("pyx12 finds the 277CA invalid: {errors}\n{}", r.body);
    }
    let r = get(&s, &format!("/v1/claims/{id}?format=835"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("CLP*BX-000001*4*"), "{}", r.body);
    if let Some(errors) = pyx12_errors(&r.body, "stored-835-batch") {
        panic!("pyx12 finds the 835 invalid: {errors}\n{}", r.body);
    }
}

/// The CARC filter reads line_carcs (migration 0026, filled by a trigger
/// on line_decisions): a claim with two lines adjusted alike is found
/// once, a line with two codes under either, by code alone or with its
/// group, newest first, a page at a time.
fn carc_search_finds_each_claim_once_newest_first(b: Backend) {
    let db = Db::fresh(b, "carcidx");
    let s = Server::start(&db, &[]);
    add_auth(&s, "ONE-UNIT", "70551", Some("1"));
    let two_denied = claim(
        "CARC-TWO-LINES",
        &[],
        vec![
            line(1, "70551", "1", "900.00", "2026-03-04"),
            line(2, "70552", "1", "950.00", "2026-03-04"),
        ],
    );
    let sent = [
        mri_claim("CARC-197-A", "NOPE", "1"),
        two_denied,
        // Two units on an authorization with one left: CO-198.
        distinct(mri_claim("CARC-198", "ONE-UNIT", "2"), 3),
        distinct(mri_claim("CARC-197-B", "NOPE", "1"), 4),
        claim(
            "CARC-NONE",
            &[],
            vec![line(1, "99213", "1", "80.00", "2026-03-04")],
        ),
    ];
    for c in sent {
        let r = post_837(&s, "/v1/claims", &render(&[c]), &[]);
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let newest_first = ["CARC-197-B", "CARC-TWO-LINES", "CARC-197-A"];
    for q in ["carc=197", "carc=CO-197", "carc=co-197&limit=500"] {
        assert_eq!(ids(&search(&s, q)), newest_first, "{q}");
    }
    assert_eq!(ids(&search(&s, "carc=198")), ["CARC-198"]);
    assert_eq!(ids(&search(&s, "carc=CO-198&status=partial")), ["CARC-198"]);
    assert!(ids(&search(&s, "carc=OA-197")).is_empty());
    assert!(ids(&search(&s, "carc=18")).is_empty());
    // Other filters still apply, on the claim.
    assert_eq!(
        ids(&search(&s, "carc=197&claim_id=CARC-TWO-LINES")),
        ["CARC-TWO-LINES"]
    );
    assert_eq!(
        ids(&search(
            &s,
            &format!("carc=197&billing_npi={BILLING}&received_from=2000-01-01")
        )),
        newest_first
    );
    assert!(ids(&search(&s, "carc=197&received_to=2000-01-01")).is_empty());
    // One claim a page: each once, in order.
    let mut seen = Vec::new();
    let mut q = "carc=197&limit=1".to_string();
    loop {
        let page = search(&s, &q);
        seen.extend(ids(&page));
        match page["next"].as_str() {
            Some(next) => q = format!("carc=197&limit=1&after={next}"),
            None => break,
        }
        assert!(seen.len() <= 3, "{seen:?}");
    }
    assert_eq!(seen, newest_first);
}

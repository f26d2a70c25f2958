//! The claims service over real HTTP on loopback: the `priorauth serve`
//! binary on port 0, a fresh database per test (an SQLite file, or a new
//! PostgreSQL database on the local server), real X12 bodies.
//!
//! Every behaviour runs on both backends (`both!` makes a `sqlite` and a
//! `postgres` test of it). PostgreSQL is at `PRIORAUTH_TEST_PG` (default
//! `postgres://postgres@127.0.0.1:5432`); `.ci/run` makes sure it is up.
//! A test never skips because the database is missing: it fails.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::adjudication::{claim, line, BILLING};
use crate::helpers::{pyx12_errors, root};
use crate::render::render;
use priorauth::model::{Claim, Frequency};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

both!(
    sample_submission_matches_the_cli,
    concurrent_submissions_never_over_consume,
    idempotency_key_returns_the_first_answer,
    check_mode_consumes_and_stores_nothing,
    duplicates_replacements_and_voids_across_submissions,
    staff_lookups_and_codes,
    rule_set_upload_swaps_or_refuses,
    authorizations_api,
    batch_adjudicates_in_background_with_progress,
    batch_resumes_after_a_crash_without_double_consumption,
    errors_are_json_with_the_right_status,
    malformed_set_is_rejected_and_the_rest_adjudicated,
    health_readiness_and_metrics,
    decimals_stay_exact,
    cli_adjudicates_against_the_store,
    json_logs_name_the_route_template_and_carry_no_phi,
    x12_answers_validate_under_pyx12,
    payer_settings_reach_the_x12,
);

fn pg_base() -> String {
    std::env::var("PRIORAUTH_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

pub fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn pg_admin(sql: &str) {
    use sqlx::Connection;
    let url = format!("{}/postgres", pg_base());
    block_on(async {
        let mut c = sqlx::PgConnection::connect(&url).await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL at {} is not reachable ({e}); .ci/run starts it",
                pg_base()
            )
        });
        sqlx::query(sql).execute(&mut c).await.unwrap();
    });
}

/// A fresh database for one test, dropped (PostgreSQL) when it ends.
pub struct Db {
    pub url: String,
    pub dir: PathBuf,
    pg_name: Option<String>,
}

impl Db {
    pub fn fresh(backend: Backend, test: &str) -> Db {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let dir =
            std::env::temp_dir().join(format!("priorauth-svc-{}-{n}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        match backend {
            Backend::Sqlite => Db {
                url: format!("sqlite://{}", dir.join("priorauth.db").display()),
                dir,
                pg_name: None,
            },
            Backend::Postgres => {
                let name = format!("priorauth_it_{}_{n}", std::process::id());
                pg_admin(&format!("DROP DATABASE IF EXISTS {name}"));
                pg_admin(&format!("CREATE DATABASE {name}"));
                Db {
                    url: format!("{}/{name}", pg_base()),
                    dir,
                    pg_name: Some(name),
                }
            }
        }
    }
}

impl Db {
    /// A database the test made itself elsewhere (a private PostgreSQL
    /// cluster), with a fresh folder for the server's files.
    pub fn at(url: String, test: &str) -> Db {
        let dir = std::env::temp_dir().join(format!("priorauth-svc-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Db {
            url,
            dir,
            pg_name: None,
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Some(name) = &self.pg_name {
            let name = name.clone();
            let _ = std::panic::catch_unwind(|| {
                pg_admin(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            });
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A running `priorauth serve`.
pub struct Server {
    child: Child,
    pub base: String,
    log: PathBuf,
    /// The payer-side operator token `send` uses for this server when a
    /// call brings no Authorization header of its own.
    pub token: String,
}

/// Every scope there is.
pub const ALL_SCOPES: &[&str] = &[
    "claims:submit",
    "claims:read",
    "rules:write",
    "auths:write",
    "admin",
];

/// `priorauth clients add … --json` against the database: (id, secret).
pub fn add_client(db: &Db, name: &str, npis: &[&str], scopes: &[&str]) -> (String, String) {
    let mut args = vec![
        "clients",
        "add",
        "--name",
        name,
        "--json",
        "--database",
        &db.url,
    ];
    if !npis.is_empty() {
        args.push("--npi");
        args.extend_from_slice(npis);
    } else if scopes.contains(&"claims:submit") {
        // A payer-side intake that submits claims of any NPI.
        args.push("--any-npi");
    }
    args.push("--scope");
    args.extend_from_slice(scopes);
    let out = Command::new(env!("CARGO_BIN_EXE_priorauth"))
        .args(&args)
        .current_dir(&db.dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "clients add: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        v["client_id"].as_str().unwrap().to_string(),
        v["client_secret"].as_str().unwrap().to_string(),
    )
}

/// A client-credentials token (client_secret_post) from a running server.
pub fn client_token(base: &str, id: &str, secret: &str, scope: Option<&str>) -> Reply {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_id", id),
        ("client_secret", secret),
    ];
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    let body = form
        .iter()
        .map(|(k, v)| format!("{k}={}", url_escape(v)))
        .collect::<Vec<_>>()
        .join("&");
    send(
        "POST",
        &format!("{base}/oauth/token"),
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Authorization", ""),
        ],
        Some(body.as_bytes()),
    )
}

fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Bearer tokens by server base URL, for `send`.
static TOKENS: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());

impl Server {
    pub fn start(db: &Db, env: &[(&str, &str)]) -> Server {
        static N: AtomicU32 = AtomicU32::new(0);
        let log = db
            .dir
            .join(format!("server-{}.log", N.fetch_add(1, Ordering::SeqCst)));
        let mut child = Command::new(env!("CARGO_BIN_EXE_priorauth"))
            .args(["serve", "--bind", "127.0.0.1:0", "--database", &db.url])
            .env("PRIORAUTH_DATA_DIR", db.dir.join("data"))
            .env("PRIORAUTH_LOG", "debug")
            .env("PRIORAUTH_WORKERS", "2")
            .envs(env.iter().copied())
            .current_dir(&db.dir)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let Some(base) = first.trim().strip_prefix("listening on ") else {
            let _ = child.wait();
            panic!(
                "server did not start: {first:?}\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        };
        // A payer-side operator with every scope: one client per database,
        // so a restarted server's token sees the same batches.
        static OPERATORS: std::sync::Mutex<Vec<(String, (String, String))>> =
            std::sync::Mutex::new(Vec::new());
        let known = OPERATORS
            .lock()
            .unwrap()
            .iter()
            .find(|(url, _)| url == &db.url)
            .map(|(_, c)| c.clone());
        let (id, secret) = known.unwrap_or_else(|| {
            let c = add_client(db, "test operator", &[], ALL_SCOPES);
            OPERATORS.lock().unwrap().push((db.url.clone(), c.clone()));
            c
        });
        let r = client_token(base, &id, &secret, None);
        assert_eq!(r.status, 200, "token: {}", r.body);
        let token = r.json()["access_token"].as_str().unwrap().to_string();
        TOKENS
            .lock()
            .unwrap()
            .push((base.to_string(), token.clone()));
        Server {
            base: base.to_string(),
            child,
            log,
            token,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// SIGKILL: no shutdown code runs, as in a crash.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A response: status, one header of interest, body.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The tests' HTTP client. It never follows redirects: the only one the
/// service sends is the sign-in's 303 to the client's redirect URI, which
/// the tests read rather than visit.
pub fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .redirects(0)
        .timeout(Duration::from_secs(120))
        .build()
}

/// One HTTP call. Unless `headers` has an Authorization header, the token
/// of the server `url` belongs to goes along; an empty Authorization value
/// sends none.
pub fn send(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Reply {
    let mut req = agent().request(method, url);
    let mut authorized = false;
    for (k, v) in headers {
        if k.eq_ignore_ascii_case("authorization") {
            authorized = true;
            if v.is_empty() {
                continue;
            }
        }
        req = req.set(k, v);
    }
    if !authorized {
        let tokens = TOKENS.lock().unwrap();
        if let Some((_, t)) = tokens
            .iter()
            .rev()
            .find(|(base, _)| url.starts_with(base.as_str()) && url[base.len()..].starts_with('/'))
        {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
    }
    let res = match body {
        Some(b) => req.send_bytes(b),
        None => req.call(),
    };
    let res = match res {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let status = res.status();
    let headers = res
        .headers_names()
        .into_iter()
        .filter_map(|n| res.header(&n).map(|v| (n.clone(), v.to_string())))
        .collect();
    let mut body = String::new();
    res.into_reader().read_to_string(&mut body).unwrap();
    Reply {
        status,
        headers,
        body,
    }
}

pub fn get(s: &Server, path: &str) -> Reply {
    send("GET", &s.url(path), &[], None)
}

/// Imports an authorization CSV through the API; its 200 answer.
pub fn import_auths(s: &Server, csv: &str) -> serde_json::Value {
    let r = send(
        "POST",
        &s.url("/v1/authorizations/import"),
        &[("Content-Type", "text/csv")],
        Some(csv.as_bytes()),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

pub fn post_837(s: &Server, path: &str, x12: &str, headers: &[(&str, &str)]) -> Reply {
    let mut h = vec![("Content-Type", "application/edi-x12")];
    h.extend_from_slice(headers);
    send("POST", &s.url(path), &h, Some(x12.as_bytes()))
}

pub fn post_json(s: &Server, path: &str, v: &Value) -> Reply {
    send(
        "POST",
        &s.url(path),
        &[("Content-Type", "application/json")],
        Some(v.to_string().as_bytes()),
    )
}

/// An authorization for member M1 and the test billing NPI.
pub fn add_auth(s: &Server, number: &str, codes: &str, units: Option<&str>) {
    let r = post_json(
        s,
        "/v1/authorizations",
        &json!({
            "number": number, "member_id": "M1", "provider_npi": BILLING,
            "codes": codes, "units": units, "start_date": "2026-01-01",
            "end_date": "2026-12-31", "status": "approved"
        }),
    );
    assert_eq!(r.status, 201, "{}", r.body);
}

pub fn units_used(s: &Server, number: &str) -> String {
    let r = get(s, &format!("/v1/authorizations/{number}"));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["units_used"].as_str().unwrap().to_string()
}

/// An MRI claim (70551 needs PA under the bundled rules) citing `auth`.
pub fn mri_claim(id: &str, auth: &str, units: &str) -> Claim {
    claim(
        id,
        &[auth],
        vec![line(1, "70551", units, "1000.00", "2026-03-04")],
    )
}

/// `c` with its charge moved by `i` cents: other services than the claim
/// before it, so not a duplicate by content (SPEC §3.3).
pub fn distinct(mut c: Claim, i: usize) -> Claim {
    let cents = rust_decimal::Decimal::new(i as i64, 2);
    for l in &mut c.lines {
        l.charge += cents;
    }
    c.total_charge = c.lines.iter().map(|l| l.charge).sum();
    c
}

/// `c` sent again as a replacement (`"7"`) or void (`"8"`) of payer claim `f8`.
pub fn correction(mut c: Claim, frequency_code: &str, f8: &str) -> Claim {
    c.frequency = Frequency::from_code(frequency_code);
    c.frequency_code = frequency_code.into();
    c.payer_claim_number = Some(f8.into());
    c
}

/// The payer claim id of the first claim of an answer.
fn payer_id(r: &Reply) -> String {
    r.json()["claims"][0]["payer_claim_id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn decisions(r: &Reply) -> Vec<String> {
    r.json()["claims"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["lines"].as_array().unwrap().clone())
        .map(|l| l["decision"].as_str().unwrap().to_string())
        .collect()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap()
}

fn strip_ids(mut v: Value) -> Value {
    for c in v["claims"].as_array_mut().unwrap() {
        c.as_object_mut().unwrap().remove("payer_claim_id");
        for l in c["lines"].as_array_mut().unwrap() {
            // Duplicate reasons cite the payer claim id.
            let r = l["reason"].as_str().unwrap().to_string();
            let cut = r
                .find("payer claim")
                .map_or(r.clone(), |i| r[..i].to_string());
            l["reason"] = json!(cut);
        }
    }
    v
}

/// Polls a background job. The one place a test waits on the clock: a
/// batch runs on its own, and there is nothing else to wait on over HTTP.
#[allow(clippy::disallowed_methods)]
pub fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---- the tests ----

/// The service gives the same decisions as the offline CLI on the sample
/// files (the golden file the CLI tests keep).
fn sample_submission_matches_the_cli(b: Backend) {
    let db = Db::fresh(b, "sample");
    let s = Server::start(&db, &[]);
    import_auths(&s, &read("fixtures/auths/sample.csv"));
    let mut claims = Vec::new();
    for f in [
        "fixtures/x12/837p-sample.x12",
        "fixtures/x12/837i-sample.x12",
    ] {
        let r = post_837(&s, "/v1/claims", &read(f), &[]);
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.header("content-type"), Some("application/json"));
        claims.extend(r.json()["claims"].as_array().unwrap().clone());
    }
    let golden: Value =
        serde_json::from_str(&read("fixtures/golden/samples.adjudicate.json")).unwrap();
    let got = strip_ids(json!({"claims": claims}));
    let want = strip_ids(json!({"claims": golden["claims"]}));
    assert_eq!(got, want);
    // No PHI in the server's log: member ids, names, birth dates.
    let log = s.log();
    assert!(log.contains("/v1/claims"), "the log has request lines");
    assert_no_sample_phi(&log);
}

/// No member id, name or birth date of the sample claims in a log.
fn assert_no_sample_phi(log: &str) {
    for phi in [
        "M00012345",
        "M00067890",
        "DOE",
        "JANE",
        "RICHARD",
        "19700101",
        "1970-01-01",
        "19650505",
    ] {
        assert!(!log.contains(phi), "PHI {phi:?} in the server log");
    }
}

/// SPEC §6 / issue 4: 200 concurrent 1-unit submissions against an
/// authorization of 50 units: exactly 50 approved, 150 CO-198, units_used
/// 50. On PostgreSQL it also runs with two server processes.
fn concurrent_submissions_never_over_consume(b: Backend) {
    let db = Db::fresh(b, "race");
    let servers = match b {
        Backend::Sqlite => vec![Server::start(&db, &[])],
        Backend::Postgres => vec![Server::start(&db, &[]), Server::start(&db, &[])],
    };
    add_auth(&servers[0], "R50", "70551", Some("50"));
    let bodies: Vec<String> = (0..200)
        .map(|i| render(&[distinct(mri_claim(&format!("RACE-{i:03}"), "R50", "1"), i)]))
        .collect();
    let barrier = std::sync::Barrier::new(200);
    let answers: Vec<Value> = std::thread::scope(|scope| {
        let handles: Vec<_> = bodies
            .iter()
            .enumerate()
            .map(|(i, body)| {
                let server = &servers[i % servers.len()];
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    // A 503 ("the database is busy") is the service's
                    // answer to overload, and a billing system sends the
                    // claim again; on a loaded CI machine some do.
                    let mut r = post_837(server, "/v1/claims", body, &[]);
                    for _ in 0..20 {
                        if r.status != 503 {
                            break;
                        }
                        #[allow(clippy::disallowed_methods)] // the client's back-off
                        std::thread::sleep(std::time::Duration::from_millis(200));
                        r = post_837(server, "/v1/claims", body, &[]);
                    }
                    assert_eq!(r.status, 200, "{}", r.body);
                    r.json()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut approved = 0;
    let mut co198 = 0;
    for a in &answers {
        let l = &a["claims"][0]["lines"][0];
        match l["decision"].as_str().unwrap() {
            "approved" => approved += 1,
            "denied" => {
                assert_eq!(l["adjustments"][0]["group"], "CO");
                assert_eq!(l["adjustments"][0]["carc"], "198");
                co198 += 1;
            }
            other => panic!("unexpected decision {other}"),
        }
    }
    assert_eq!((approved, co198), (50, 150));
    for s in &servers {
        assert_eq!(units_used(s, "R50"), "50");
    }
}

fn idempotency_key_returns_the_first_answer(b: Backend) {
    let db = Db::fresh(b, "idem");
    let s = Server::start(&db, &[]);
    add_auth(&s, "I10", "70551", Some("10"));
    let body = render(&[mri_claim("IDEM-1", "I10", "2")]);
    let first = post_837(&s, "/v1/claims", &body, &[("Idempotency-Key", "k-1")]);
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.header("Idempotent-Replay"), None);
    let again = post_837(&s, "/v1/claims", &body, &[("Idempotency-Key", "k-1")]);
    assert_eq!(again.status, 200);
    assert_eq!(again.body, first.body, "a repeat returns the first answer");
    assert_eq!(again.header("Idempotent-Replay"), Some("true"));
    assert_eq!(units_used(&s, "I10"), "2", "the repeat consumed nothing");
    let other = render(&[mri_claim("IDEM-2", "I10", "1")]);
    let clash = post_837(&s, "/v1/claims", &other, &[("Idempotency-Key", "k-1")]);
    assert_eq!(clash.status, 422, "{}", clash.body);
    assert_eq!(clash.json()["error"], "unprocessable");
    assert_eq!(units_used(&s, "I10"), "2");
    // Without a key the same body is a new submission: a duplicate.
    let dup = post_837(&s, "/v1/claims", &body, &[]);
    assert_eq!(
        dup.json()["claims"][0]["lines"][0]["adjustments"][0]["group"],
        "OA"
    );
}

fn check_mode_consumes_and_stores_nothing(b: Backend) {
    let db = Db::fresh(b, "check");
    let s = Server::start(&db, &[]);
    add_auth(&s, "K1", "70551", Some("1"));
    let body = render(&[mri_claim("CHECK-1", "K1", "1")]);
    for _ in 0..2 {
        let r = post_837(&s, "/v1/claims?mode=check", &body, &[]);
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(decisions(&r), ["approved"]);
    }
    assert_eq!(units_used(&s, "K1"), "0");
    let found = get(
        &s,
        &format!("/v1/claims?billing_npi={BILLING}&claim_id=CHECK-1"),
    );
    assert_eq!(found.json()["claims"].as_array().unwrap().len(), 0);
    // The real submission then consumes.
    let r = post_837(&s, "/v1/claims", &body, &[]);
    assert_eq!(decisions(&r), ["approved"]);
    assert_eq!(units_used(&s, "K1"), "1");
}

fn duplicates_replacements_and_voids_across_submissions(b: Backend) {
    let db = Db::fresh(b, "corrections");
    let s = Server::start(&db, &[]);
    add_auth(&s, "V5", "70551", Some("5"));
    let original = post_837(
        &s,
        "/v1/claims",
        &render(&[mri_claim("COR-1", "V5", "2")]),
        &[],
    );
    let first_id = payer_id(&original);
    assert_eq!(units_used(&s, "V5"), "2");

    // The same original again, in a later submission: OA-18, nothing consumed.
    let dup = post_837(
        &s,
        "/v1/claims",
        &render(&[mri_claim("COR-1", "V5", "2")]),
        &[],
    );
    let d = dup.json();
    assert_eq!(d["claims"][0]["status"], "denied");
    assert_eq!(d["claims"][0]["lines"][0]["adjustments"][0]["group"], "OA");
    assert_eq!(d["claims"][0]["lines"][0]["adjustments"][0]["carc"], "18");
    assert_eq!(units_used(&s, "V5"), "2");

    // A replacement (frequency 7, REF*F8) for 3 units: the 2 are given back
    // first, then 3 are taken.
    let repl = correction(mri_claim("COR-1", "V5", "3"), "7", &first_id);
    let r = post_837(&s, "/v1/claims", &render(&[repl]), &[]);
    assert_eq!(decisions(&r), ["approved"], "{}", r.body);
    let repl_id = payer_id(&r);
    assert!(
        r.body.contains(&first_id),
        "the reason names the replaced claim"
    );
    assert_eq!(units_used(&s, "V5"), "3");
    let old = get(&s, &format!("/v1/claims/{first_id}")).json();
    assert_eq!(old["current"], false);
    assert_eq!(
        get(&s, &format!("/v1/claims/{repl_id}")).json()["current"],
        true
    );

    // A void gives the 3 back and answers `voided`.
    let void = correction(mri_claim("COR-1", "V5", "3"), "8", &repl_id);
    let r = post_837(&s, "/v1/claims", &render(&[void]), &[]);
    assert_eq!(r.json()["claims"][0]["status"], "voided", "{}", r.body);
    assert_eq!(units_used(&s, "V5"), "0");
    assert_eq!(
        get(&s, &format!("/v1/claims/{repl_id}")).json()["current"],
        false
    );

    // After the void the key is free: a new original is not a duplicate.
    let again = post_837(
        &s,
        "/v1/claims",
        &render(&[mri_claim("COR-1", "V5", "1")]),
        &[],
    );
    assert_eq!(decisions(&again), ["approved"]);
    assert_eq!(units_used(&s, "V5"), "1");
    let history = get(
        &s,
        &format!("/v1/claims?billing_npi={BILLING}&claim_id=COR-1"),
    )
    .json();
    let history = history["claims"].as_array().unwrap();
    assert_eq!(history.len(), 5);
    assert_eq!(history.iter().filter(|c| c["current"] == true).count(), 1);
}

fn staff_lookups_and_codes(b: Backend) {
    let db = Db::fresh(b, "lookups");
    let s = Server::start(&db, &[]);
    let r = post_837(
        &s,
        "/v1/claims",
        &render(&[mri_claim("LOOK-1", "NOPE", "1")]),
        &[],
    );
    let id = payer_id(&r);
    let c = get(&s, &format!("/v1/claims/{id}"));
    assert_eq!(c.status, 200);
    let c = c.json();
    assert_eq!(c["claim_id"], "LOOK-1");
    assert_eq!(c["rule_set"], "2026.11");
    let l = &c["decision"]["lines"][0];
    assert_eq!(l["decision"], "denied");
    assert_eq!(l["adjustments"][0]["carc"], "197");
    assert_eq!(l["remarks"][0], "M62");
    assert!(l["reason"].as_str().unwrap().contains("NOPE"));
    assert_eq!(get(&s, "/v1/claims/does-not-exist").status, 404);
    assert_eq!(get(&s, "/v1/claims?billing_npi=1").status, 400);
    // Reads are audited: in the store (admin reads it) and in the log.
    assert!(s.log().contains("claim.read"));
    let audit = get(&s, "/v1/admin/audit?action=claim.read").json();
    let entry = &audit["entries"][0];
    assert_eq!(entry["object_id"], id.as_str());
    assert_eq!(entry["object_type"], "claim");
    assert_eq!(entry["remote_addr"], "127.0.0.1");
    assert!(entry["actor"].as_str().unwrap().starts_with("pa_"));

    let carc = get(&s, "/v1/codes/carc/198").json();
    assert!(carc["description"]
        .as_str()
        .unwrap()
        .to_lowercase()
        .contains("exceeded"));
    let rarc = get(&s, "/v1/codes/rarc/N351");
    assert_eq!(rarc.status, 200);
    assert_eq!(get(&s, "/v1/codes/carc/15").json()["active"], false);
    assert_eq!(get(&s, "/v1/codes/carc/99999").status, 404);
    assert_eq!(get(&s, "/v1/codes/nope/1").status, 404);
}

fn rule_set_upload_swaps_or_refuses(b: Backend) {
    let db = Db::fresh(b, "rules");
    let s = Server::start(&db, &[]);
    let rules = get(&s, "/v1/rules").json();
    assert_eq!(rules["version"], "2026.11");
    assert!(rules["rules"].as_array().unwrap().len() >= 20);
    let check = get(
        &s,
        "/v1/rules/check?code=70551&lob=medicare&date=2026-03-04",
    )
    .json();
    assert_eq!(check["requires_authorization"], true);
    assert_eq!(check["rule"], "5.1.2-MRI");
    let no = get(&s, "/v1/rules/check?code=99213&date=2026-03-04").json();
    assert_eq!(no["requires_authorization"], false);
    assert_eq!(get(&s, "/v1/rules/check?date=2026-03-04").status, 400);
    assert_eq!(get(&s, "/v1/rules/check?code=70551&date=soon").status, 400);

    let put = |text: &str| {
        send(
            "PUT",
            &s.url("/v1/rules"),
            &[("Content-Type", "application/toml")],
            Some(text.as_bytes()),
        )
    };
    let bad = put("version = \"bad\"\n[[rule]]\nid = \"X\"\nsection = \"5.1\"\ntitle = \"t\"\ncodes = [\"7055\"]\neffective = \"2026-13-01\"\n");
    assert_eq!(bad.status, 422, "{}", bad.body);
    let problems = bad.json()["problems"].clone();
    assert!(!problems.as_array().unwrap().is_empty());
    assert_eq!(problems[0]["rule"], "X");
    assert_eq!(
        get(&s, "/v1/rules").json()["version"],
        "2026.11",
        "the old set stays"
    );

    let good = put("version = \"test-2\"\n[[rule]]\nid = \"T-1\"\nsection = \"5.1.9\"\ntitle = \"Office visits\"\ncodes = [\"99213\"]\neffective = \"2020-01-01\"\n");
    assert_eq!(good.status, 200, "{}", good.body);
    assert_eq!(get(&s, "/v1/rules").json()["version"], "test-2");
    let c = claim(
        "RULES-1",
        &[],
        vec![
            line(1, "99213", "1", "100.00", "2026-03-04"),
            line(2, "70551", "1", "100.00", "2026-03-04"),
        ],
    );
    let r = post_837(&s, "/v1/claims", &render(&[c]), &[]);
    let r = r.json();
    assert_eq!(r["rule_set"], "test-2");
    assert_eq!(r["claims"][0]["lines"][0]["rule"], "T-1");
    assert_eq!(r["claims"][0]["lines"][1]["decision"], "not_required");
    // A restarted server keeps the stored set.
    drop(s);
    let s = Server::start(&db, &[]);
    assert_eq!(get(&s, "/v1/rules").json()["version"], "test-2");
}

fn authorizations_api(b: Backend) {
    let db = Db::fresh(b, "auths");
    let s = Server::start(&db, &[]);
    add_auth(&s, "P1", "70551|70553", Some("4"));
    let a = get(&s, "/v1/authorizations/P1").json();
    assert_eq!(a["units"], "4");
    assert_eq!(a["units_remaining"], "4");
    assert_eq!(a["codes"], "70551|70553");
    // Same number again: 409; an invalid one: 422 naming each field.
    let again = post_json(
        &s,
        "/v1/authorizations",
        &json!({"number": "P1", "member_id": "M1", "provider_npi": BILLING, "start_date": "2026-01-01", "end_date": "2026-12-31", "status": "approved"}),
    );
    assert_eq!(again.status, 409, "{}", again.body);
    let bad = post_json(
        &s,
        "/v1/authorizations",
        &json!({"number": "P2", "member_id": "M1", "provider_npi": "12", "start_date": "2026-02-30", "end_date": "2026-12-31", "status": "maybe"}),
    );
    assert_eq!(bad.status, 422);
    let fields: Vec<String> = bad.json()["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["field"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(fields, ["provider_npi", "start_date", "status"]);
    assert_eq!(get(&s, "/v1/authorizations/P2").status, 404);

    // PATCH: cancel it; a cancelled authorization denies CO-197.
    let p = send(
        "PATCH",
        &s.url("/v1/authorizations/P1"),
        &[("Content-Type", "application/json")],
        Some(br#"{"status": "cancelled", "units": null}"#),
    );
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(p.json()["status"], "cancelled");
    assert_eq!(p.json()["units"], Value::Null);
    let r = post_837(
        &s,
        "/v1/claims",
        &render(&[mri_claim("AUTH-1", "P1", "1")]),
        &[],
    );
    assert_eq!(
        r.json()["claims"][0]["lines"][0]["adjustments"][0]["carc"],
        "197"
    );
    let bad_patch = send(
        "PATCH",
        &s.url("/v1/authorizations/P1"),
        &[("Content-Type", "application/json")],
        Some(br#"{"end_date": "2025-01-01"}"#),
    );
    assert_eq!(bad_patch.status, 422, "{}", bad_patch.body);
    let unknown_field = send(
        "PATCH",
        &s.url("/v1/authorizations/P1"),
        &[("Content-Type", "application/json")],
        Some(br#"{"colour": "red"}"#),
    );
    assert_eq!(unknown_field.status, 400);
    assert_eq!(
        send(
            "PATCH",
            &s.url("/v1/authorizations/ZZ"),
            &[("Content-Type", "application/json")],
            Some(b"{}")
        )
        .status,
        404
    );

    // CSV import is all or nothing and names the line.
    let csv = "number,member_id,provider_npi,codes,units,units_used,start_date,end_date,status\nC1,M1,1234567893,70551,1,0,2026-01-01,2026-12-31,approved\nC2,M1,1234567893,70551,x,0,2026-01-01,2026-12-31,approved\n";
    let r = send(
        "POST",
        &s.url("/v1/authorizations/import"),
        &[("Content-Type", "text/csv")],
        Some(csv.as_bytes()),
    );
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["problems"][0]["line"], 3);
    assert_eq!(
        get(&s, "/v1/authorizations/C1").status,
        404,
        "nothing half-imported"
    );
    let ok = csv.replace(",x,", ",2,");
    let r = send(
        "POST",
        &s.url("/v1/authorizations/import"),
        &[("Content-Type", "text/csv")],
        Some(ok.as_bytes()),
    );
    assert_eq!(
        r.json(),
        json!({"imported": 2, "added": 2, "replaced": 0, "readjudicated": 0})
    );
    // Consume a unit of C1, then import the same file again: units used
    // never go down by an import (the file says 0).
    let r = post_837(
        &s,
        "/v1/claims",
        &render(&[distinct(mri_claim("AUTH-2", "C1", "1"), 1)]),
        &[],
    );
    assert_eq!(decisions(&r), ["approved"]);
    let r = send(
        "POST",
        &s.url("/v1/authorizations/import"),
        &[("Content-Type", "text/csv")],
        Some(ok.as_bytes()),
    );
    assert_eq!(
        r.json(),
        json!({"imported": 2, "added": 0, "replaced": 2, "readjudicated": 0})
    );
    assert_eq!(units_used(&s, "C1"), "1");
}

/// `n` one-line MRI claims for member M1 citing `auth`, in one interchange.
pub fn batch_file(prefix: &str, n: usize, auth: &str) -> String {
    let claims: Vec<Claim> = (0..n)
        .map(|i| distinct(mri_claim(&format!("{prefix}-{i:06}"), auth, "1"), i))
        .collect();
    render(&claims)
}

fn wait_batch_done(s: &Server, id: &str) -> Value {
    let mut last = Value::Null;
    wait_for("the batch to finish", Duration::from_secs(300), || {
        last = get(s, &format!("/v1/batches/{id}")).json();
        last["state"] == "done" || last["state"] == "failed"
    });
    assert_eq!(last["state"], "done", "{last}");
    last
}

fn batch_adjudicates_in_background_with_progress(b: Backend) {
    let db = Db::fresh(b, "batch");
    let s = Server::start(&db, &[("PRIORAUTH_BATCH_CHUNK", "250")]);
    add_auth(&s, "B1", "70551", Some("1500"));
    let file = batch_file("BAT", 2000, "B1");
    let r = post_837(&s, "/v1/batches", &file, &[]);
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(r.json()["claims_total"], 2000);
    assert_eq!(
        r.header("location"),
        Some(format!("/v1/batches/{id}").as_str())
    );
    let done = wait_batch_done(&s, &id);
    assert_eq!(done["claims_done"], 2000);
    assert_eq!(done["claims_total"], 2000);
    let results = get(&s, &format!("/v1/batches/{id}/results"));
    assert_eq!(results.header("content-type"), Some("application/x-ndjson"));
    let lines: Vec<Value> = results
        .body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2000);
    assert_eq!(lines[0]["claim_id"], "BAT-000000");
    assert_eq!(lines[1999]["claim_id"], "BAT-001999");
    let approved = lines.iter().filter(|c| c["status"] == "approved").count();
    assert_eq!(approved, 1500, "units consumed in file order");
    assert_eq!(lines[1500]["lines"][0]["adjustments"][0]["carc"], "198");
    assert_eq!(units_used(&s, "B1"), "1500");
    assert_eq!(get(&s, "/v1/batches/nope").status, 404);
}

fn batch_resumes_after_a_crash_without_double_consumption(b: Backend) {
    let db = Db::fresh(b, "crash");
    let env = [("PRIORAUTH_BATCH_CHUNK", "100")];
    let mut s = Server::start(&db, &env);
    add_auth(&s, "X1", "70551", Some("1000000"));
    let total = 12_000;
    let r = post_837(&s, "/v1/batches", &batch_file("CR", total, "X1"), &[]);
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_string();
    let mut done_at_kill = 0;
    wait_for(
        "the batch to be under way",
        Duration::from_secs(120),
        || {
            done_at_kill = get(&s, &format!("/v1/batches/{id}")).json()["claims_done"]
                .as_i64()
                .unwrap();
            done_at_kill > 0
        },
    );
    s.kill();
    assert!(
        done_at_kill < total as i64,
        "the crash must come mid-batch ({done_at_kill} done)"
    );
    let s = Server::start(&db, &env);
    let done = wait_batch_done(&s, &id);
    assert_eq!(done["claims_done"], total);
    let results = get(&s, &format!("/v1/batches/{id}/results")).body;
    let ids: std::collections::HashSet<String> = results
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["claim_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        results.lines().count(),
        total,
        "each claim adjudicated once"
    );
    assert_eq!(ids.len(), total);
    assert_eq!(
        units_used(&s, "X1"),
        total.to_string(),
        "no unit consumed twice"
    );
}

fn errors_are_json_with_the_right_status(b: Backend) {
    let db = Db::fresh(b, "errors");
    let s = Server::start(&db, &[("PRIORAUTH_BODY_LIMIT", "2000")]);
    let big = batch_file("BIG", 30, "A");
    let r = post_837(&s, "/v1/claims", &big, &[]);
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["error"], "payload_too_large");
    assert!(r.json()["message"].as_str().unwrap().contains("2000"));
    let r = post_837(&s, "/v1/claims", "hello, this is not X12", &[]);
    assert_eq!(r.status, 400);
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("not an X12 interchange"));
    let r = send(
        "POST",
        &s.url("/v1/claims"),
        &[("Content-Type", "application/json")],
        Some(b"{}"),
    );
    assert_eq!(r.status, 415);
    assert_eq!(r.json()["error"], "unsupported_media_type");
    let r = send(
        "POST",
        &s.url("/v1/authorizations"),
        &[("Content-Type", "application/json")],
        Some(b"{not json"),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "bad_request");
    let r = post_837(
        &s,
        "/v1/claims?mode=sideways",
        &render(&[mri_claim("E-1", "A", "1")]),
        &[],
    );
    assert_eq!(r.status, 400);
    let r = get(&s, "/v1/nothing/here");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "not_found");
    let r = send("DELETE", &s.url("/v1/claims"), &[], None);
    assert_eq!(r.status, 405);
    assert_eq!(r.json()["error"], "method_not_allowed");
}

/// A set with a syntax error is rejected with segment and element; the
/// other set of the same interchange is adjudicated; the 999 says so and
/// validates under pyx12.
fn malformed_set_is_rejected_and_the_rest_adjudicated(b: Backend) {
    use crate::render::{interchange, transaction_set};
    let db = Db::fresh(b, "malformed");
    let s = Server::start(&db, &[]);
    let good = transaction_set(&[mri_claim("GOOD-1", "A", "1")], "0001");
    let mut bad = transaction_set(&[mri_claim("BAD-1", "A", "1")], "0002");
    let clm = bad.iter().position(|seg| seg.starts_with("CLM*")).unwrap();
    bad[clm] = bad[clm].replacen("*1000", "*ABC", 1);
    let x12 = interchange(&[good, bad], priorauth::model::ClaimKind::Professional, 7);
    let r = post_837(&s, "/v1/claims", &x12, &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["claims"].as_array().unwrap().len(), 1);
    assert_eq!(v["claims"][0]["claim_id"], "GOOD-1");
    assert_eq!(v["rejected"][0]["control_number"], "0002");
    let e = &v["rejected"][0]["errors"][0];
    assert_eq!(e["id"], "CLM");
    assert!(e["element"].as_u64().is_some(), "{e}");
    let ack = post_837(&s, "/v1/claims?mode=check&format=999", &x12, &[]);
    assert_eq!(ack.status, 200);
    assert_eq!(ack.header("content-type"), Some("application/edi-x12"));
    assert!(
        ack.body.contains("IK5*R") && ack.body.contains("IK5*A"),
        "{}",
        ack.body
    );
    if let Some(errors) = pyx12_errors(&ack.body, "service-999") {
        panic!("pyx12 finds the 999 invalid: {errors}\n{}", ack.body);
    }
    // The claim in error is named by its patient control number.
    assert!(ack.body.contains("CTX*CLM01:BAD-1~"), "{}", ack.body);
    // The 277CA names the claim of the accepted set only: the rejected
    // set is answered by the 999.
    let ack277 = post_837(&s, "/v1/claims?mode=check&format=277ca", &x12, &[]);
    assert_eq!(
        ack277.header("content-type"),
        Some("application/edi-x12"),
        "{}",
        ack277.body
    );
    assert!(
        ack277.body.contains("TRN*2*GOOD-1~\nSTC*A2:20*"),
        "{}",
        ack277.body
    );
    assert!(
        !ack277.body.contains("BAD-1") && !ack277.body.contains("STC*A3"),
        "{}",
        ack277.body
    );
    assert!(ack277.body.contains("QTY*90*1~"), "{}", ack277.body);
    if let Some(errors) = pyx12_errors(&ack277.body, "service-277ca-rejected") {
        panic!("pyx12 finds the 277CA invalid: {errors}\n{}", ack277.body);
    }
    // An interchange whose IEA02 is not its ISA13: the 999 carries a TA1.
    let ctl = x12.split('*').nth(13).unwrap().to_string();
    let broken = x12.replacen(&format!("IEA*1*{ctl}"), "IEA*1*999999999", 1);
    let ack = post_837(&s, "/v1/claims?mode=check&format=999", &broken, &[]);
    assert_eq!(ack.status, 200, "{}", ack.body);
    assert!(ack.body.contains(&format!("TA1*{ctl}*")), "{}", ack.body);
    assert!(ack.body.contains("*E*001~"), "{}", ack.body);
    if let Some(errors) = pyx12_errors(&ack.body, "service-999-ta1") {
        panic!("pyx12 finds the 999 invalid: {errors}\n{}", ack.body);
    }
    // A header that cannot be read: a 400 for JSON, the TA1 for a 999.
    let bad_isa = x12.replacen("ISA*00*          *", "ISA*00*     *", 1);
    assert_eq!(
        post_837(&s, "/v1/claims?mode=check", &bad_isa, &[]).status,
        400
    );
    let ta1 = post_837(&s, "/v1/claims?mode=check&format=999", &bad_isa, &[]);
    assert_eq!(ta1.status, 200, "{}", ta1.body);
    assert!(ta1.body.contains(&format!("TA1*{ctl}*")), "{}", ta1.body);
    assert!(ta1.body.contains("*R*022~"), "{}", ta1.body);
    // No authorization "A" is on file: REMIT-1 is denied in full.
    let remit = post_837(
        &s,
        "/v1/claims?format=835",
        &render(&[mri_claim("REMIT-1", "A", "1")]),
        &[],
    );
    assert_eq!(remit.status, 200);
    assert!(
        remit.body.starts_with("ISA") && remit.body.contains("CLP*REMIT-1*4*1000.00*0**"),
        "{}",
        remit.body
    );
    assert_eq!(
        crate::remit::check_notification_835(&remit.body),
        ["REMIT-1"]
    );
    if let Some(errors) = pyx12_errors(&remit.body, "service-835") {
        panic!("pyx12 finds the 835 invalid: {errors}\n{}", remit.body);
    }
}

fn health_readiness_and_metrics(b: Backend) {
    let db = Db::fresh(b, "health");
    let s = Server::start(&db, &[]);
    assert_eq!(get(&s, "/healthz").json()["status"], "ok");
    let ready = get(&s, "/readyz");
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json()["rule_set"], "2026.11");
    assert_eq!(
        ready.json()["database"],
        if b == Backend::Sqlite {
            "sqlite"
        } else {
            "postgres"
        }
    );
    post_837(
        &s,
        "/v1/claims",
        &render(&[mri_claim("MET-1", "NONE", "1")]),
        &[],
    );
    get(&s, "/v1/claims/abc");
    let m = get(&s, "/metrics").body;
    assert!(
        m.contains(
            "priorauth_http_requests_total{method=\"POST\",route=\"/v1/claims\",status=\"200\"} 1"
        ),
        "{m}"
    );
    assert!(
        m.contains("route=\"/v1/claims/{payer_claim_id}\",status=\"404\"} 1"),
        "{m}"
    );
    assert!(
        m.contains(
            "priorauth_http_request_duration_seconds_bucket{route=\"/v1/claims\",le=\"+Inf\"} 1"
        ),
        "{m}"
    );
    assert!(
        m.contains("priorauth_claims_total{status=\"denied\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("priorauth_lines_total{decision=\"denied\"} 1"),
        "{m}"
    );
    let spec = get(&s, "/openapi.yaml");
    assert_eq!(spec.body, read("openapi/openapi.yaml"));
}

fn decimals_stay_exact(b: Backend) {
    let db = Db::fresh(b, "decimals");
    let s = Server::start(&db, &[]);
    add_auth(&s, "D1", "70551", Some("2.125"));
    let c = mri_claim("DEC-1", "D1", "1.0625");
    let r = post_837(&s, "/v1/claims", &render(&[c]), &[]);
    assert_eq!(decisions(&r), ["approved"], "{}", r.body);
    assert_eq!(units_used(&s, "D1"), "1.0625");
    let c = mri_claim("DEC-2", "D1", "1.5");
    let r = post_837(&s, "/v1/claims", &render(&[c]), &[]).json();
    let l = &r["claims"][0]["lines"][0];
    assert_eq!(l["decision"], "partial");
    assert_eq!(l["units_approved"], "1.0625");
    assert_eq!(l["units_denied"], "0.4375");
    // 1000.00 × 0.4375 / 1.5 = 291.666… → 291.67
    assert_eq!(l["adjustments"][0]["amount"], "291.67");
    let a = get(&s, "/v1/authorizations/D1").json();
    assert_eq!(a["units"], "2.125");
    assert_eq!(a["units_used"], "2.125");
    assert_eq!(a["units_remaining"], "0");
}

/// `priorauth adjudicate --db`: checks against the store (repeatable,
/// nothing stored) and, with `--commit`, stores like the service.
fn cli_adjudicates_against_the_store(b: Backend) {
    let db = Db::fresh(b, "cli-db");
    let cli = |extra: &[&str]| {
        let mut args = vec!["adjudicate", "--db", db.url.as_str()];
        args.extend_from_slice(extra);
        args.extend([
            "fixtures/x12/837p-sample.x12",
            "fixtures/x12/837i-sample.x12",
        ]);
        serde_json::from_slice::<Value>(&crate::helpers::priorauth_ok(&args)).unwrap()
    };
    let golden: Value =
        serde_json::from_str(&read("fixtures/golden/samples.adjudicate.json")).unwrap();
    let want = strip_ids(json!({"claims": golden["claims"]}));
    for _ in 0..2 {
        let got = cli(&["--auths", "fixtures/auths/sample.csv"]);
        assert_eq!(
            strip_ids(json!({"claims": got["claims"]})),
            want,
            "check mode is repeatable"
        );
    }
    let stored = cli(&["--commit"]);
    assert_eq!(strip_ids(json!({"claims": stored["claims"]})), want);
    let again = cli(&["--commit"]);
    assert_eq!(
        again["claims"][0]["status"], "denied",
        "stored: now a duplicate"
    );
    assert_eq!(
        again["claims"][0]["lines"][0]["adjustments"][0]["carc"],
        "18"
    );
    let s = Server::start(&db, &[]);
    let id = stored["claims"][0]["payer_claim_id"].as_str().unwrap();
    let c = get(&s, &format!("/v1/claims/{id}"));
    assert_eq!(c.status, 200, "{}", c.body);
    assert_eq!(c.json()["current"], true);
    let explain = crate::helpers::priorauth(&["explain", id, "--database", &db.url]);
    let text = String::from_utf8_lossy(&explain.stdout);
    assert!(
        text.contains("claim PCN-0001") && text.contains("CO-198"),
        "{text}"
    );
}

/// `PRIORAUTH_LOG_FORMAT=json`: one JSON object per line, request spans
/// named after the route template, no PHI from the claims submitted.
fn json_logs_name_the_route_template_and_carry_no_phi(b: Backend) {
    let db = Db::fresh(b, "jsonlog");
    let s = Server::start(&db, &[("PRIORAUTH_LOG_FORMAT", "json")]);
    let csv = read("fixtures/auths/sample.csv");
    send(
        "POST",
        &s.url("/v1/authorizations/import"),
        &[("Content-Type", "text/csv")],
        Some(csv.as_bytes()),
    );
    let r = post_837(&s, "/v1/claims", &read("fixtures/x12/837p-sample.x12"), &[]);
    let id = payer_id(&r);
    assert_eq!(get(&s, &format!("/v1/claims/{id}")).status, 200);
    drop(s);
    let log = std::fs::read_dir(&db.dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("server-"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect::<String>();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let get_claim = lines
        .iter()
        .find(|l| l["span"]["otel.name"] == "GET /v1/claims/{payer_claim_id}")
        .unwrap_or_else(|| panic!("no span named after the route template:\n{log}"));
    assert_eq!(get_claim["span"]["route"], "/v1/claims/{payer_claim_id}");
    assert!(
        !log.contains(&format!("/v1/claims/{id}")),
        "concrete paths stay out of spans"
    );
    assert_no_sample_phi(&log);
}

/// The 835 and 277CA the API writes (on submission, and for a finished
/// batch, streamed from the store) say what SPEC §4 says and validate
/// clean under pyx12, with stored, increasing control numbers.
fn x12_answers_validate_under_pyx12(b: Backend) {
    let db = Db::fresh(b, "x12out");
    let s = Server::start(&db, &[]);
    let csv = read("fixtures/auths/sample.csv");
    send(
        "POST",
        &s.url("/v1/authorizations/import"),
        &[("Content-Type", "text/csv")],
        Some(csv.as_bytes()),
    );
    let validate = |body: &str, name: &str| {
        assert!(body.starts_with("ISA"), "{name}: {body}");
        if let Some(errors) = pyx12_errors(body, name) {
            panic!("pyx12 finds {name} invalid: {errors}\n{body}");
        }
    };
    let control = |body: &str| body.split('*').nth(13).unwrap().parse::<u32>().unwrap();
    // X12 asked for without a format: the 277CA, the acknowledgment a
    // billing system expects after a submission.
    let ack = post_837(
        &s,
        "/v1/claims",
        &read("fixtures/x12/837p-sample.x12"),
        &[("Accept", "application/edi-x12")],
    );
    assert_eq!(ack.status, 200);
    assert_eq!(ack.header("content-type"), Some("application/edi-x12"));
    assert!(ack.body.contains("ST*277*0001*005010X214~"), "{}", ack.body);
    assert_eq!(ack.body.matches("STC*A2:20*").count(), 3, "{}", ack.body);
    validate(&ack.body, "api-277ca-default");
    // No claim of the 837I sample is denied in full: no 835, 204.
    let none = post_837(
        &s,
        "/v1/claims?format=835",
        &read("fixtures/x12/837i-sample.x12"),
        &[],
    );
    assert_eq!(none.status, 204, "{}", none.body);
    assert!(none.body.is_empty());
    // The 837P sample again: its original claims are now exact duplicates
    // (denied in full, OA-18) and are the 835's only claims.
    let remit = post_837(
        &s,
        "/v1/claims?format=835",
        &read("fixtures/x12/837p-sample.x12"),
        &[],
    );
    assert_eq!(remit.status, 200);
    assert_eq!(remit.header("content-type"), Some("application/edi-x12"));
    assert_eq!(
        crate::remit::check_notification_835(&remit.body),
        ["PCN-0001", "PCN-0002"],
        "{}",
        remit.body
    );
    assert!(
        remit.body.contains("CAS*OA*18*2400.00*2~"),
        "{}",
        remit.body
    );
    validate(&remit.body, "api-835");
    let check = post_837(
        &s,
        "/v1/claims?mode=check&format=277ca",
        &read("fixtures/x12/837i-sample.x12"),
        &[],
    );
    assert!(check.body.contains("REF*BLT*111~"), "{}", check.body);
    validate(&check.body, "api-277ca");

    // A batch of the 837I sample, already submitted: two duplicates,
    // listed in the batch's 835, which is read from the store (the batch
    // lives in the database: no file of it is left on this instance's
    // disk).
    let r = post_837(
        &s,
        "/v1/batches",
        &read("fixtures/x12/837i-sample.x12"),
        &[],
    );
    let id = r.json()["id"].as_str().unwrap().to_string();
    wait_batch_done(&s, &id);
    let left: Vec<_> = std::fs::read_dir(db.dir.join("data"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(&id))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let first = get(&s, &format!("/v1/batches/{id}/results?format=835"));
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(
        crate::remit::check_notification_835(&first.body),
        ["ICN-0001", "ICN-0002"],
        "{}",
        first.body
    );
    assert!(
        first.body.contains("SVC*HC:99223*12000.00*0*0120*0**4~"),
        "{}",
        first.body
    );
    validate(&first.body, "batch-835");
    let second = send(
        "GET",
        &s.url(&format!("/v1/batches/{id}/results")),
        &[("Accept", "application/edi-x12")],
        None,
    );
    assert_eq!(second.body.matches("CLP*").count(), 2, "{}", second.body);
    validate(&second.body, "batch-835-again");
    assert!(control(&second.body) > control(&first.body));
    assert!(control(&remit.body) < control(&first.body));

    // A replacement and a void: no reversal, nothing to list (the paying
    // 835 is the claims system's), so 204.
    add_auth(&s, "RV1", "70551", Some("10"));
    let original = post_837(
        &s,
        "/v1/claims",
        &render(&[mri_claim("REV-1", "RV1", "2")]),
        &[],
    );
    let first_id = payer_id(&original);
    let repl = correction(mri_claim("REV-1", "RV1", "1"), "7", &first_id);
    let r = post_837(&s, "/v1/claims?format=835", &render(&[repl]), &[]);
    assert_eq!(r.status, 204, "{}", r.body);
    let batch = post_837(
        &s,
        "/v1/batches",
        // 2 units: REV-1's services again would be a duplicate by content.
        &render(&[mri_claim("REV-2", "RV1", "2")]),
        &[],
    );
    let bid = batch.json()["id"].as_str().unwrap().to_string();
    wait_batch_done(&s, &bid);
    let empty = get(&s, &format!("/v1/batches/{bid}/results?format=835"));
    assert_eq!(empty.status, 204, "{}", empty.body);
}

/// `PRIORAUTH_PAYER_…` name the payer in the 835 and 277CA; a bad value
/// stops the start with exit 2 and names the variable. With `--db`, the
/// CLI's control numbers come from the store's counter.
fn payer_settings_reach_the_x12(b: Backend) {
    let db = Db::fresh(b, "payer");
    let env = [
        ("PRIORAUTH_PAYER_NAME", "EXAMPLE HEALTH PLAN"),
        ("PRIORAUTH_PAYER_ID", "EXHP1"),
        ("PRIORAUTH_PAYER_TIN", "123456789"),
        ("PRIORAUTH_PAYER_ADDRESS", "1 PLAN WAY|LANSING|MI|48933"),
    ];
    let s = Server::start(&db, &env);
    let remit = post_837(
        &s,
        "/v1/claims?format=835",
        &render(&[mri_claim("PAY-1", "NONE", "1")]),
        &[],
    );
    assert!(
        remit.body.contains("N1*PR*EXAMPLE HEALTH PLAN~"),
        "{}",
        remit.body
    );
    assert!(
        remit.body.contains("*1123456789~") && remit.body.contains("N4*LANSING*MI*48933~"),
        "{}",
        remit.body
    );
    let ack = post_837(
        &s,
        "/v1/claims?mode=check&format=277ca",
        &render(&[mri_claim("PAY-2", "NONE", "1")]),
        &[],
    );
    assert!(
        ack.body
            .contains("NM1*PR*2*EXAMPLE HEALTH PLAN*****PI*EXHP1~"),
        "{}",
        ack.body
    );
    drop(s);

    let out = Command::new(env!("CARGO_BIN_EXE_priorauth"))
        .args(["serve", "--bind", "127.0.0.1:0", "--database", &db.url])
        .env("PRIORAUTH_PAYER_TIN", "12")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("PRIORAUTH_PAYER_TIN"));

    let isa13 = |x12: &[u8]| {
        String::from_utf8_lossy(x12)
            .split('*')
            .nth(13)
            .unwrap()
            .to_string()
    };
    let cli = |args: &[&str]| {
        let mut all = vec![
            "adjudicate",
            "--db",
            db.url.as_str(),
            "--commit",
            "--format",
            "835",
        ];
        all.extend_from_slice(args);
        crate::helpers::priorauth_ok(&all)
    };
    let first = isa13(&cli(&["fixtures/x12/837p-sample.x12"]));
    let second = isa13(&cli(&["fixtures/x12/837i-sample.x12"]));
    assert_eq!(
        second.parse::<u32>().unwrap(),
        first.parse::<u32>().unwrap() + 1,
        "{first} then {second}"
    );
}

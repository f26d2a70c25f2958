//! The webhook of issue 18 point 4, on both stores: a pended claim
//! released by an authorization import (API or `import auths`) is POSTed
//! to a receiver the test serves on loopback, signed with HMAC-SHA256
//! over `<timestamp>.<body>`; a receiver that fails gets it again with
//! backoff; two changes of one claim arrive in order; with no webhook
//! nothing is sent and the outbox is purged.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::adjudication::{claim, line, BILLING};
use crate::helpers::priorauth_ok;
use crate::readjudicate::{add_pending, approve_csv, CSV_HEAD};
use crate::render::render;
use crate::service::{
    block_on, distinct, get, import_auths, mri_claim, post_837, wait_for, Backend, Db, Server,
};
use priorauth::store::{OutboxCounts, Store};

both!(
    a_released_claim_is_posted_signed_to_the_webhook,
    a_receiver_that_fails_twice_gets_the_event_a_third_time,
    two_changes_of_one_claim_arrive_in_order,
    an_import_by_the_cli_is_delivered_by_the_server,
    without_a_webhook_nothing_is_sent_and_the_outbox_is_purged,
);

const SECRET: &str = "test-webhook-secret-0123456789";
const DEADLINE: Duration = Duration::from_secs(60);

/// One request the receiver got, and what it answered.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
    answered: u16,
    at: Instant,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
            .unwrap_or("")
    }

    /// The signature checked independently of the service's code: HMAC-SHA256
    /// keyed with the secret over `<X-Priorauth-Timestamp>.<body>`, hex.
    fn signature_valid(&self, secret: &str) -> bool {
        let ts = self.header("X-Priorauth-Timestamp");
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
        let mut signed = format!("{ts}.").into_bytes();
        signed.extend_from_slice(&self.body);
        let want: String = ring::hmac::sign(&key, &signed)
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.header("X-Priorauth-Signature") == format!("sha256={want}")
    }
}

/// A webhook receiver on 127.0.0.1: records every request, answers 500 to
/// the first `fail` ones and, while `refuse` is set, 503 to every one;
/// 204 otherwise.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
    refuse: Arc<AtomicBool>,
}

impl Receiver {
    fn start(fail: usize) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hooks/priorauth", listener.local_addr().unwrap());
        let got = Arc::new(Mutex::new(Vec::new()));
        let refuse = Arc::new(AtomicBool::new(false));
        let (g, r) = (got.clone(), refuse.clone());
        let failures = AtomicUsize::new(fail);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let Some((method, headers, body)) = read_request(&mut conn) else {
                    continue;
                };
                let answered = if r.load(Ordering::SeqCst) {
                    503
                } else if failures
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
                {
                    500
                } else {
                    204
                };
                g.lock().unwrap().push(Received {
                    method,
                    headers,
                    body,
                    answered,
                    at: Instant::now(),
                });
                let _ = write!(
                    conn,
                    "HTTP/1.1 {answered} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        Receiver { url, got, refuse }
    }

    fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until `n` requests were answered with a 2xx.
    fn wait_accepted(&self, n: usize) -> Vec<Received> {
        wait_for("webhook deliveries", DEADLINE, || {
            self.got()
                .iter()
                .filter(|r| (200..300).contains(&r.answered))
                .count()
                >= n
        });
        self.got()
    }
}

/// One HTTP/1.1 request: method, headers (lower-case names), body.
fn read_request(
    conn: &mut std::net::TcpStream,
) -> Option<(String, HashMap<String, String>, Vec<u8>)> {
    let mut r = BufReader::new(conn.try_clone().ok()?);
    let mut first = String::new();
    r.read_line(&mut first).ok()?;
    let method = first.split(' ').next()?.to_string();
    let mut headers = HashMap::new();
    loop {
        let mut l = String::new();
        r.read_line(&mut l).ok()?;
        let l = l.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':')?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    let len: usize = headers.get("content-length")?.parse().ok()?;
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some((method, headers, body))
}

fn webhook_env(rx: &Receiver, backoff_ms: &str) -> Vec<(&'static str, String)> {
    vec![
        ("PRIORAUTH_WEBHOOK_URL", rx.url.clone()),
        ("PRIORAUTH_WEBHOOK_SECRET", SECRET.to_string()),
        ("PRIORAUTH_WEBHOOK_BACKOFF", backoff_ms.to_string()),
    ]
}

fn start(db: &Db, env: &[(&'static str, String)]) -> Server {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Server::start(db, &env)
}

fn submit(s: &Server, c: priorauth::model::Claim) -> (String, String) {
    let r = post_837(s, "/v1/claims", &render(&[c]), &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    let c = &r.json()["claims"][0];
    (
        c["payer_claim_id"].as_str().unwrap().to_string(),
        c["status"].as_str().unwrap().to_string(),
    )
}

fn outbox(db: &Db) -> OutboxCounts {
    block_on(async {
        let store = Store::open(&db.url, 1).await.unwrap();
        let c = store.webhook_outbox_counts().await.unwrap();
        store.close().await;
        c
    })
}

/// The body, headers and signature of one delivery of `id`'s change.
fn assert_delivery(r: &Received, s: &Server, id: &str, old: &str, new: &str) -> Value {
    assert_eq!(r.method, "POST");
    assert_eq!(r.header("Content-Type"), "application/json");
    assert!(r.signature_valid(SECRET), "bad signature: {r:?}");
    assert!(!r.signature_valid("another-secret-0123456789"));
    let ts: u64 = r.header("X-Priorauth-Timestamp").parse().unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(ts.abs_diff(now) < 300, "timestamp {ts}, now {now}");
    let b = r.json();
    assert_eq!(
        r.header("X-Priorauth-Event"),
        b["event_id"].as_str().unwrap()
    );
    assert_eq!(b["type"], "claim.decision_changed");
    assert_eq!(b["payer_claim_id"], id);
    assert_eq!(b["billing_npi"], BILLING);
    assert_eq!(b["old_status"], old, "{b}");
    assert_eq!(b["new_status"], new, "{b}");
    assert_eq!(b["claim_url"], s.url(&format!("/v1/claims/{id}")));
    // The claim as stored says the same.
    let c = get(s, &format!("/v1/claims/{id}")).json();
    assert_eq!(b["claim_id"], c["claim_id"]);
    // No PHI: the member id, names and birth dates stay out.
    let text = String::from_utf8(r.body.clone()).unwrap();
    for phi in ["M1", "member", "DOE", "birth"] {
        assert!(!text.contains(phi), "{phi} in {text}");
    }
    b
}

fn a_released_claim_is_posted_signed_to_the_webhook(b: Backend) {
    let db = Db::fresh(b, "hook-one");
    let rx = Receiver::start(0);
    let s = start(&db, &webhook_env(&rx, "1000"));
    add_pending(&s, "PEND-W");
    let (id, status) = submit(&s, distinct(mri_claim("WH-1", "PEND-W", "2"), 0));
    assert_eq!(status, "pended");
    assert!(rx.got().is_empty(), "a submission is no change");
    assert_eq!(import_auths(&s, &approve_csv("PEND-W"))["readjudicated"], 1);

    let got = rx.wait_accepted(1);
    let b = assert_delivery(&got[0], &s, &id, "pended", "approved");
    assert_eq!(b["claim_id"], "WH-1");
    let c = get(&s, &format!("/v1/claims/{id}")).json();
    assert_eq!(b["changed_at"], c["changed_at"]);
    assert_eq!(b["changed_because"], c["changed_because"]);
    // Marked delivered, and sent once.
    wait_for("the outbox row marked", DEADLINE, || {
        outbox(&db)
            == OutboxCounts {
                pending: 0,
                delivered: 1,
            }
    });
    assert_eq!(rx.got().len(), 1, "{:?}", rx.got());
    // Neither the URL nor the secret reaches the log.
    let log = s.log();
    assert!(log.contains("webhook delivered"), "{log}");
    assert!(!log.contains(&rx.url) && !log.contains(SECRET), "{log}");
}

fn a_receiver_that_fails_twice_gets_the_event_a_third_time(b: Backend) {
    let db = Db::fresh(b, "hook-retry");
    let rx = Receiver::start(2);
    let base = Duration::from_millis(300);
    let s = start(&db, &webhook_env(&rx, "300"));
    add_pending(&s, "PEND-R");
    let (id, _) = submit(&s, distinct(mri_claim("WR-1", "PEND-R", "1"), 0));
    import_auths(&s, &approve_csv("PEND-R"));

    let got = rx.wait_accepted(1);
    assert_eq!(
        got.iter().map(|r| r.answered).collect::<Vec<_>>(),
        [500, 500, 204]
    );
    let first = assert_delivery(&got[0], &s, &id, "pended", "approved");
    for r in &got[1..] {
        // The same event each time, signed afresh.
        assert_eq!(assert_delivery(r, &s, &id, "pended", "approved"), first);
    }
    // Backoff: the base, then twice it.
    assert!(got[1].at - got[0].at >= base, "{:?}", got[1].at - got[0].at);
    assert!(
        got[2].at - got[1].at >= base * 2,
        "{:?}",
        got[2].at - got[1].at
    );
    wait_for("the outbox row marked", DEADLINE, || {
        outbox(&db).delivered == 1
    });
    assert_eq!(rx.got().len(), 3);
    let log = s.log();
    assert!(log.contains("HTTP 500"), "{log}");
    assert!(!log.contains(&rx.url) && !log.contains(SECRET), "{log}");
}

fn two_changes_of_one_claim_arrive_in_order(b: Backend) {
    let db = Db::fresh(b, "hook-order");
    let rx = Receiver::start(0);
    // The receiver refuses until both changes are in the outbox.
    rx.refuse.store(true, Ordering::SeqCst);
    let s = start(&db, &webhook_env(&rx, "50"));
    add_pending(&s, "PEND-A");
    add_pending(&s, "PEND-B");
    // One claim, one line pended on each authorization.
    let mut l1 = line(1, "70551", "1", "1000.00", "2026-03-04");
    l1.prior_auths = vec!["PEND-A".into()];
    let mut l2 = line(2, "70551", "1", "1000.00", "2026-03-05");
    l2.prior_auths = vec!["PEND-B".into()];
    let (id, status) = submit(&s, claim("WO-1", &[], vec![l1, l2]));
    assert_eq!(status, "pended");
    assert_eq!(import_auths(&s, &approve_csv("PEND-A"))["readjudicated"], 1);
    // Its first line approved, the second still pended: a change (the
    // claim's status itself stays pended while a line is).
    let c = get(&s, &format!("/v1/claims/{id}")).json();
    assert_eq!(c["decision"]["lines"][0]["decision"], "approved", "{c}");
    assert_eq!(c["decision"]["lines"][1]["decision"], "pended", "{c}");
    assert_eq!(c["history"].as_array().unwrap().len(), 1, "{c}");
    let middle = c["status"].as_str().unwrap().to_string();
    assert_eq!(import_auths(&s, &approve_csv("PEND-B"))["readjudicated"], 1);
    assert_eq!(
        get(&s, &format!("/v1/claims/{id}")).json()["status"],
        "approved"
    );
    wait_for("the first change refused", DEADLINE, || rx.got().len() >= 2);
    rx.refuse.store(false, Ordering::SeqCst);

    let got = rx.wait_accepted(2);
    let accepted: Vec<&Received> = got.iter().filter(|r| r.answered == 204).collect();
    let e1 = assert_delivery(accepted[0], &s, &id, "pended", &middle);
    let e2 = assert_delivery(accepted[1], &s, &id, &middle, "approved");
    assert_ne!(e1["event_id"], e2["event_id"]);
    assert!(e1["changed_at"].as_str() <= e2["changed_at"].as_str());
    // Nothing of the second change went out before the first was accepted.
    let first_accepted = got.iter().position(|r| r.answered == 204).unwrap();
    for r in &got[..first_accepted] {
        assert_eq!(r.json()["event_id"], e1["event_id"], "{got:?}");
    }
    wait_for("both rows marked", DEADLINE, || outbox(&db).delivered == 2);
}

fn an_import_by_the_cli_is_delivered_by_the_server(b: Backend) {
    let db = Db::fresh(b, "hook-cli");
    let rx = Receiver::start(0);
    let id = {
        // No webhook on this server: the change waits in the outbox.
        let s = Server::start(&db, &[]);
        add_pending(&s, "PEND-C");
        let (id, _) = submit(&s, distinct(mri_claim("WC-1", "PEND-C", "1"), 0));
        id
    };
    let csv = db.dir.join("auths.csv");
    std::fs::write(&csv, approve_csv("PEND-C")).unwrap();
    priorauth_ok(&[
        "import",
        "auths",
        csv.to_str().unwrap(),
        "--database",
        &db.url,
    ]);
    assert_eq!(
        outbox(&db),
        OutboxCounts {
            pending: 1,
            delivered: 0
        }
    );
    assert!(rx.got().is_empty());
    // A server with the webhook sends what the CLI's import left.
    let s = start(&db, &webhook_env(&rx, "1000"));
    let got = rx.wait_accepted(1);
    assert_delivery(&got[0], &s, &id, "pended", "approved");
    wait_for("the outbox row marked", DEADLINE, || {
        outbox(&db).delivered == 1
    });
}

fn without_a_webhook_nothing_is_sent_and_the_outbox_is_purged(b: Backend) {
    let db = Db::fresh(b, "hook-none");
    let s = Server::start(&db, &[]);
    add_pending(&s, "PEND-N");
    submit(&s, distinct(mri_claim("WN-1", "PEND-N", "1"), 0));
    assert_eq!(import_auths(&s, &approve_csv("PEND-N"))["readjudicated"], 1);
    // Written (a CLI import cannot know whether a server will send it),
    // kept for the retention (a week by default).
    assert_eq!(outbox(&db).pending, 1);
    drop(s);
    // With a retention of 0 the server purges it: nobody will send it.
    let s = Server::start(&db, &[("PRIORAUTH_WEBHOOK_RETENTION", "0")]);
    wait_for("the outbox purged", DEADLINE, || {
        outbox(&db)
            == OutboxCounts {
                pending: 0,
                delivered: 0,
            }
    });
    assert!(s.log().contains("webhook outbox purged"), "{}", s.log());
}

/// Bad webhook settings stop `serve` with exit 2, naming the variable and
/// repeating neither the URL nor the secret.
#[test]
fn bad_webhook_settings_stop_the_start() {
    let db = Db::fresh(Backend::Sqlite, "hook-config");
    let secret = "a-secret-of-enough-length";
    for (env, says) in [
        (
            vec![("PRIORAUTH_WEBHOOK_URL", "https://billing.example.org/hook")],
            "PRIORAUTH_WEBHOOK_SECRET",
        ),
        (
            vec![("PRIORAUTH_WEBHOOK_SECRET", secret)],
            "PRIORAUTH_WEBHOOK_URL",
        ),
        (
            vec![
                ("PRIORAUTH_WEBHOOK_URL", "http://billing.example.org/hook"),
                ("PRIORAUTH_WEBHOOK_SECRET", secret),
            ],
            "must be an https URL",
        ),
        (
            vec![
                ("PRIORAUTH_WEBHOOK_URL", "http://127.0.0.1.example.org/hook"),
                ("PRIORAUTH_WEBHOOK_SECRET", secret),
            ],
            "must be an https URL",
        ),
        (
            vec![
                ("PRIORAUTH_WEBHOOK_URL", "https://billing.example.org/hook"),
                ("PRIORAUTH_WEBHOOK_SECRET", "short"),
            ],
            "16 characters",
        ),
        (
            vec![("PRIORAUTH_WEBHOOK_BACKOFF", "0")],
            "PRIORAUTH_WEBHOOK_BACKOFF",
        ),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_priorauth"))
            .args(["serve", "--bind", "127.0.0.1:0", "--database", &db.url])
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{env:?}: {err}");
        assert!(err.contains(says), "{env:?}: {err}");
        assert!(
            !err.contains("billing.example.org") && !err.contains(secret),
            "{err}"
        );
    }
}

/// Two instances on one PostgreSQL database, both with the webhook: the
/// events of one import are each sent once (`FOR UPDATE SKIP LOCKED` and
/// the lease), none twice, none lost.
#[test]
fn two_instances_send_each_event_once_on_postgres() {
    let db = Db::fresh(Backend::Postgres, "hook-two");
    let rx = Receiver::start(0);
    let env = webhook_env(&rx, "100");
    let a = start(&db, &env);
    let b = start(&db, &env);
    add_pending(&a, "PEND-2I");
    let n = 40;
    let ids: Vec<String> = (0..n)
        .map(|i| {
            submit(
                &a,
                distinct(mri_claim(&format!("W2-{i}"), "PEND-2I", "1"), i),
            )
            .0
        })
        .collect();
    let csv =
        format!("{CSV_HEAD}PEND-2I,M1,{BILLING},70551,{n},0,2026-01-01,2026-12-31,approved\n");
    assert_eq!(import_auths(&b, &csv)["readjudicated"], n);
    let got = rx.wait_accepted(n);
    wait_for("every row marked", DEADLINE, || {
        outbox(&db)
            == OutboxCounts {
                pending: 0,
                delivered: n as i64,
            }
    });
    let got_now = rx.got();
    let mut sent: Vec<String> = got_now
        .iter()
        .map(|r| r.json()["payer_claim_id"].as_str().unwrap().to_string())
        .collect();
    sent.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(
        sent,
        want,
        "each claim's event once: {} requests",
        got.len()
    );
    for r in &got_now {
        assert!(r.signature_valid(SECRET));
    }
}

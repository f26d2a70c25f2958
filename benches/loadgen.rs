//! Fixed-rate load on `POST /v1/claims`: single-claim 837 submissions at a
//! steady rate over keep-alive connections, each with its own CLM01 and
//! citing one of 1000 authorizations of 1000 members (benches/load.sh
//! imports them).
//!
//! Open loop: request i is due at start + i/rate whatever happened before,
//! and its latency is measured from when it was due, so a server that
//! falls behind shows it in the tail (no coordinated omission).
//!
//! usage: cargo bench --bench loadgen -- URL RATE SECONDS CONNECTIONS TEMPLATE
//! (benches/load.sh runs it against SQLite and PostgreSQL.)
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if args.len() < 5 {
        eprintln!("usage: loadgen URL RATE SECONDS CONNECTIONS TEMPLATE.x12");
        std::process::exit(2);
    }
    let url = format!("{}/v1/claims", args[0].trim_end_matches('/'));
    let rate: f64 = args[1].parse().expect("RATE");
    let seconds: f64 = args[2].parse().expect("SECONDS");
    let connections: usize = args[3].parse().expect("CONNECTIONS");
    let template = std::fs::read_to_string(&args[4]).expect("TEMPLATE");
    // The bearer token every submission carries (load.sh gets one).
    let auth = format!(
        "Bearer {}",
        std::env::var("PRIORAUTH_TOKEN").expect("PRIORAUTH_TOKEN: a claims:submit token")
    );
    assert!(
        template.contains("LOAD-00000000"),
        "template needs CLM01 LOAD-00000000"
    );
    let run = format!("{:04}", std::process::id() % 10_000);
    let total = (rate * seconds) as usize;
    let start = Instant::now() + Duration::from_millis(200);

    let results: Vec<(Vec<Duration>, usize)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..connections)
            .map(|t| {
                let (url, template, run, auth) = (&url, &template, &run, &auth);
                scope.spawn(move || {
                    let agent = ureq::AgentBuilder::new()
                        .timeout(Duration::from_secs(30))
                        .build();
                    let mut lat = Vec::new();
                    let mut errors = 0;
                    for i in (t..total).step_by(connections) {
                        let due = start + Duration::from_secs_f64(i as f64 / rate);
                        // Pacing is the point of a fixed-rate load generator.
                        #[allow(clippy::disallowed_methods)]
                        if let Some(wait) = due.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                        // Each claim its own CLM01, and one of 1000 authorizations
                        // (LA000000…LA000999, member M00000000…), as a day's
                        // claims cite many.
                        let body = template
                            .replace("LOAD-00000000", &format!("L{run}{i:08}"))
                            .replace("LOADAUTH", &format!("LA{:06}", i % 1000))
                            .replace("M00012345", &format!("M{:08}", i % 1000));
                        let ok = agent
                            .post(url)
                            .set("Content-Type", "application/edi-x12")
                            .set("Authorization", auth)
                            .send_string(&body)
                            .map(|r| r.status() == 200 && r.into_string().is_ok())
                            .unwrap_or(false);
                        lat.push(due.elapsed());
                        if !ok {
                            errors += 1;
                        }
                    }
                    (lat, errors)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let elapsed = start.elapsed().as_secs_f64();
    let errors: usize = results.iter().map(|r| r.1).sum();
    let mut all: Vec<Duration> = results.into_iter().flat_map(|r| r.0).collect();
    all.sort();
    let pct = |p: f64| {
        let i = ((all.len() as f64 * p).ceil() as usize).clamp(1, all.len()) - 1;
        all[i].as_secs_f64() * 1000.0
    };
    println!(
        "requests={} errors={} seconds={:.1} throughput={:.0}/s target={:.0}/s p50={:.2}ms p90={:.2}ms p99={:.2}ms max={:.2}ms",
        all.len(),
        errors,
        elapsed,
        all.len() as f64 / elapsed,
        rate,
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(1.0)
    );
}

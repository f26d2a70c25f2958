//! Prometheus metrics, kept by hand: a few counters and one latency
//! histogram do not need a metrics framework.

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use crate::model::ClaimDecision;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Debug, Default)]
struct Inner {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
    claims: BTreeMap<&'static str, u64>,
    lines: BTreeMap<&'static str, u64>,
}

/// The service's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        f(&mut self.inner.lock())
    }

    /// Counts one request.
    pub fn request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        self.with(|m| {
            *m.requests
                .entry((method.to_string(), route.to_string(), status))
                .or_default() += 1;
            let h = m.latency.entry(route.to_string()).or_default();
            for (i, le) in BUCKETS.iter().enumerate() {
                if secs <= *le {
                    if let Some(c) = h.counts.get_mut(i) {
                        *c += 1;
                    }
                }
            }
            h.count += 1;
            h.sum += secs;
        });
    }

    /// Counts adjudicated claims by status and lines by decision.
    pub fn decisions(&self, decisions: &[ClaimDecision]) {
        self.with(|m| {
            for d in decisions {
                *m.claims.entry(d.status.as_str()).or_default() += 1;
                for l in &d.lines {
                    *m.lines.entry(l.decision.as_str()).or_default() += 1;
                }
            }
        });
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        self.with(|m| {
            let mut s = String::new();
            s.push_str("# HELP priorauth_http_requests_total HTTP requests by route template and status.\n# TYPE priorauth_http_requests_total counter\n");
            for ((method, route, status), n) in &m.requests {
                let _ = writeln!(
                    s,
                    "priorauth_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
            s.push_str("# HELP priorauth_http_request_duration_seconds Request latency by route template.\n# TYPE priorauth_http_request_duration_seconds histogram\n");
            for (route, h) in &m.latency {
                for (le, c) in BUCKETS.iter().zip(h.counts.iter()) {
                    let _ = writeln!(
                        s,
                        "priorauth_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{le}\"}} {c}"
                    );
                }
                let _ = writeln!(
                    s,
                    "priorauth_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}\npriorauth_http_request_duration_seconds_sum{{route=\"{route}\"}} {}\npriorauth_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                    h.count, h.sum, h.count
                );
            }
            s.push_str("# HELP priorauth_claims_total Adjudicated claims by status.\n# TYPE priorauth_claims_total counter\n");
            for (status, n) in &m.claims {
                let _ = writeln!(s, "priorauth_claims_total{{status=\"{status}\"}} {n}");
            }
            s.push_str("# HELP priorauth_lines_total Adjudicated service lines by decision.\n# TYPE priorauth_lines_total counter\n");
            for (decision, n) in &m.lines {
                let _ = writeln!(s, "priorauth_lines_total{{decision=\"{decision}\"}} {n}");
            }
            s
        })
    }
}

//! The webhook (issue 18): tells a billing system that a claim's decision
//! changed. The store keeps an outbox row per change (`store/outbox.rs`);
//! this loop leases the rows that are due, the oldest of each claim only,
//! POSTs each as a small JSON notification signed with HMAC-SHA256, marks
//! it delivered on a 2xx and otherwise retries it with exponential
//! backoff: at least once, in order per claim. docs/SERVICE.md "Webhook"
//! is the receiver's side of it. Neither the URL nor the secret is ever
//! logged; the bodies carry no PHI.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::config::WebhookConfig;
use crate::store::{now_ms, Store, WebhookEvent};

/// The event type of a claim whose decision changed.
pub const CLAIM_DECISION_CHANGED: &str = "claim.decision_changed";
/// The header with the Unix time (seconds) the signature covers.
pub const TIMESTAMP_HEADER: &str = "X-Priorauth-Timestamp";
/// The header with `sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "X-Priorauth-Signature";
/// The header with the event id (the same on every attempt).
pub const EVENT_HEADER: &str = "X-Priorauth-Event";

/// How long a receiver has to answer.
const TIMEOUT: Duration = Duration::from_secs(10);
/// How long a leased row is left alone (a crashed sender's row comes
/// back after this): well beyond one attempt.
const LEASE: Duration = Duration::from_secs(60);
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// Rows sent at once (each a different claim).
const BATCH: i64 = 32;
/// Idle poll when there is nothing to send.
const POLL: Duration = Duration::from_secs(1);

/// The JSON body of one delivery: a notification, not the claim. The
/// billing system fetches the claim at `claim_url` with its own token.
#[derive(Debug, Serialize)]
pub struct Notification<'a> {
    /// Unique per event, the same on every attempt: for de-duplication.
    pub event_id: &'a str,
    /// [`CLAIM_DECISION_CHANGED`].
    #[serde(rename = "type")]
    pub kind: &'a str,
    /// The payer's claim id.
    pub payer_claim_id: &'a str,
    /// Billing provider NPI.
    pub billing_npi: &'a str,
    /// CLM01, the provider's claim id.
    pub claim_id: &'a str,
    /// Claim status before.
    pub old_status: &'a str,
    /// Claim status now.
    pub new_status: &'a str,
    /// When it changed (UTC, RFC 3339).
    pub changed_at: &'a str,
    /// Why (the authorization and what changed in it).
    pub changed_because: &'a str,
    /// Where to GET the claim.
    pub claim_url: String,
}

/// The body of `event`'s delivery, `base` the service's public URL.
pub fn body(event: &WebhookEvent, base: &str) -> Vec<u8> {
    let n = Notification {
        event_id: &event.event_id,
        kind: CLAIM_DECISION_CHANGED,
        payer_claim_id: &event.payer_claim_id,
        billing_npi: &event.billing_npi,
        claim_id: &event.claim_id,
        old_status: &event.old_status,
        new_status: &event.new_status,
        changed_at: &event.changed_at,
        changed_because: &event.changed_because,
        claim_url: format!("{base}/v1/claims/{}", event.payer_claim_id),
    };
    // Strings only: serialization cannot fail.
    serde_json::to_vec(&n).unwrap_or_default()
}

/// `sha256=` and the lowercase hex HMAC-SHA256, keyed with `secret`, of
/// `<timestamp>.<body>`.
pub fn signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let mut ctx = ring::hmac::Context::with_key(&key);
    ctx.update(timestamp.as_bytes());
    ctx.update(b".");
    ctx.update(body);
    let tag = ctx.sign();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    for b in tag.as_ref() {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The wait before attempt `failures + 1` after `failures` failed ones:
/// `base`, doubled per further failure, at most an hour.
pub fn backoff(base: Duration, failures: i64) -> Duration {
    let exp = u32::try_from(failures.clamp(1, 32) - 1).unwrap_or(0);
    base.saturating_mul(2u32.saturating_pow(exp))
        .min(MAX_BACKOFF)
}

/// What one attempt came to.
enum Outcome {
    Accepted,
    Failed(String),
}

/// POSTs one delivery (blocking: run off the async threads).
fn post(agent: &ureq::Agent, cfg: &WebhookConfig, event_id: &str, body: &[u8]) -> Outcome {
    #[allow(clippy::disallowed_methods)] // the edge reads the clock
    let timestamp = chrono::Utc::now().timestamp().to_string();
    let sig = signature(&cfg.secret, &timestamp, body);
    let r = agent
        .post(&cfg.url)
        .set("Content-Type", "application/json")
        .set(TIMESTAMP_HEADER, &timestamp)
        .set(SIGNATURE_HEADER, &sig)
        .set(EVENT_HEADER, event_id)
        .send_bytes(body);
    match r {
        Ok(resp) if (200..300).contains(&resp.status()) => Outcome::Accepted,
        Ok(resp) => Outcome::Failed(format!("HTTP {}", resp.status())),
        Err(ureq::Error::Status(code, _)) => Outcome::Failed(format!("HTTP {code}")),
        // The transport error's text names the URL: only its kind is kept.
        Err(ureq::Error::Transport(t)) => Outcome::Failed(t.kind().to_string()),
    }
}

/// One round: leases what is due and sends it; the number leased.
async fn round(
    store: &Store,
    agent: &ureq::Agent,
    cfg: &Arc<WebhookConfig>,
    base: &str,
) -> Result<usize, crate::store::StoreError> {
    let lease = i64::try_from(LEASE.as_millis()).unwrap_or(i64::MAX);
    let events = store.lease_webhook_events(now_ms(), lease, BATCH).await?;
    let n = events.len();
    let sends = events.into_iter().map(|e| {
        let agent = agent.clone();
        let cfg = cfg.clone();
        let body = body(&e, base);
        async move {
            let event_id = e.event_id.clone();
            let outcome = tokio::task::spawn_blocking(move || post(&agent, &cfg, &event_id, &body))
                .await
                .unwrap_or_else(|_| Outcome::Failed("sender panicked".into()));
            (e, outcome)
        }
    });
    let mut delivered = Vec::with_capacity(n);
    for (e, outcome) in futures_util::future::join_all(sends).await {
        match outcome {
            Outcome::Accepted => {
                tracing::info!(
                    event_id = %e.event_id,
                    payer_claim_id = %e.payer_claim_id,
                    attempts = e.attempts + 1,
                    "webhook delivered"
                );
                delivered.push(e.id);
            }
            Outcome::Failed(why) => {
                let wait = backoff(cfg.backoff, e.attempts + 1);
                let due = now_ms().saturating_add(i64::try_from(wait.as_millis()).unwrap_or(0));
                store.webhook_failed(e.id, due, &why).await?;
                tracing::warn!(
                    event_id = %e.event_id,
                    payer_claim_id = %e.payer_claim_id,
                    attempts = e.attempts + 1,
                    error = %why,
                    retry_in_ms = wait.as_millis() as u64,
                    "webhook delivery failed; retrying"
                );
            }
        }
    }
    // A crash before this line sends them again: at least once.
    store.webhook_delivered(&delivered).await?;
    Ok(n)
}

/// Sends the outbox for as long as the server runs. `base` is the
/// service's public URL (the claims' links).
pub fn deliver(store: Arc<Store>, cfg: WebhookConfig, base: String) {
    let idle = POLL.min(cfg.backoff);
    let cfg = Arc::new(cfg);
    let agent = ureq::AgentBuilder::new()
        .timeout(TIMEOUT)
        .redirects(0)
        .build();
    actix_web::rt::spawn(async move {
        loop {
            match round(&store, &agent, &cfg, &base).await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "webhook outbox unreadable; trying again"),
            }
            actix_web::rt::time::sleep(idle).await;
        }
    });
}

/// Deletes delivered events older than `retention` and, with no webhook
/// configured, undelivered ones too (nobody would send them), every
/// minute (or every `retention` when that is shorter, at least 1 s).
pub fn purge(store: Arc<Store>, retention: Duration, webhook: bool) {
    let every = retention.clamp(Duration::from_secs(1), Duration::from_secs(60));
    actix_web::rt::spawn(async move {
        loop {
            let keep = chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
            let before = (crate::store::now() - keep)
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string();
            let undelivered = (!webhook).then_some(before.as_str());
            match store.purge_webhook_events(&before, undelivered).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(events = n, "webhook outbox purged"),
                Err(e) => tracing::warn!(error = %e, "webhook outbox purge failed"),
            }
            actix_web::rt::time::sleep(every).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_over_timestamp_dot_body() {
        // Computed independently (Python's hmac module).
        assert_eq!(
            signature("0123456789abcdef-secret", "1700000000", br#"{"a":1}"#),
            "sha256=6948a2dc6985c92d09b9edade5c97dce2ba201452d91a72e4a20d35abe4d3420"
        );
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let base = Duration::from_millis(100);
        assert_eq!(backoff(base, 1), Duration::from_millis(100));
        assert_eq!(backoff(base, 2), Duration::from_millis(200));
        assert_eq!(backoff(base, 4), Duration::from_millis(800));
        assert_eq!(backoff(base, 40), MAX_BACKOFF);
    }
}

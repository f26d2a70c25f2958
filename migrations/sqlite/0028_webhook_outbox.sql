-- Issue 18 point 4: the webhook outbox. One row per claim whose decision
-- changed (a pended claim decided again), written in the transaction that
-- wrote the change, so a crash loses none. A server with
-- PRIORAUTH_WEBHOOK_URL sends them (docs/SERVICE.md "Webhook"): the head
-- of each claim's queue only (id order), so a claim's newer event never
-- goes before its older one is accepted. due_ms (Unix milliseconds) is
-- when a row may be sent next: a sender leases a row by moving it ahead,
-- and a failure by the backoff. No PHI: ids, statuses and the reason.
CREATE TABLE webhook_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    payer_claim_id TEXT NOT NULL,
    billing_npi TEXT NOT NULL,
    claim_id TEXT NOT NULL,
    old_status TEXT NOT NULL,
    new_status TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    changed_because TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    due_ms BIGINT NOT NULL,
    delivered_at TEXT,
    last_error TEXT
);
CREATE INDEX webhook_outbox_claim ON webhook_outbox (payer_claim_id, id) WHERE delivered_at IS NULL;
CREATE INDEX webhook_outbox_due ON webhook_outbox (due_ms, id) WHERE delivered_at IS NULL;
CREATE INDEX webhook_outbox_delivered ON webhook_outbox (delivered_at) WHERE delivered_at IS NOT NULL;

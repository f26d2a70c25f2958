-- priorauth store, PostgreSQL. Amounts and units are exact decimal text;
-- dates are ISO text; flags are 0/1 integers (the same types as the
-- SQLite schema, so one set of queries serves both).

CREATE TABLE rule_sets (
    id BIGSERIAL PRIMARY KEY,
    version TEXT NOT NULL,
    source TEXT NOT NULL,
    active BIGINT NOT NULL DEFAULT 0,
    loaded_at TEXT NOT NULL
);

CREATE TABLE authorizations (
    number TEXT PRIMARY KEY,
    member_id TEXT NOT NULL,
    provider_npi TEXT NOT NULL,
    codes TEXT NOT NULL,
    units TEXT,
    units_used TEXT NOT NULL,
    start_date TEXT NOT NULL,
    end_date TEXT NOT NULL,
    status TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX authorizations_member ON authorizations (member_id);

-- One row per adjudicated claim. `live` marks the claim that answers for
-- its (billing NPI, CLM01): duplicates, voids and replaced claims are 0.
CREATE TABLE claims (
    payer_claim_id TEXT PRIMARY KEY,
    billing_npi TEXT NOT NULL,
    claim_id TEXT NOT NULL,
    frequency TEXT NOT NULL,
    status TEXT NOT NULL,
    live BIGINT NOT NULL,
    rule_set TEXT NOT NULL,
    batch_id TEXT,
    batch_seq BIGINT,
    received_at TEXT NOT NULL,
    decision TEXT NOT NULL
);
CREATE INDEX claims_key ON claims (billing_npi, claim_id);
CREATE UNIQUE INDEX claims_live_key ON claims (billing_npi, claim_id) WHERE live = 1;
CREATE INDEX claims_batch ON claims (batch_id, batch_seq);

-- The codes of each line decision, for queries ("every CO-198 this
-- month"); the full decision with its reason is the claim's JSON.
CREATE TABLE line_decisions (
    payer_claim_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    line BIGINT NOT NULL,
    decision TEXT NOT NULL,
    rule_id TEXT,
    authorization_number TEXT,
    adjustments TEXT NOT NULL,
    remarks TEXT NOT NULL,
    amount_denied TEXT NOT NULL,
    PRIMARY KEY (payer_claim_id, seq)
);

-- What each claim line took from an authorization; a replacement or void
-- sets reversed_by and gives the units back.
CREATE TABLE consumption_ledger (
    id BIGSERIAL PRIMARY KEY,
    payer_claim_id TEXT NOT NULL,
    line BIGINT NOT NULL,
    authorization_number TEXT NOT NULL,
    units TEXT NOT NULL,
    reversed_by TEXT
);
CREATE INDEX consumption_ledger_claim ON consumption_ledger (payer_claim_id);
CREATE INDEX consumption_ledger_authorization ON consumption_ledger (authorization_number);

CREATE TABLE idempotency_keys (
    key TEXT PRIMARY KEY,
    request_hash TEXT NOT NULL,
    response TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE batches (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    spool TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    claims_total BIGINT NOT NULL DEFAULT 0,
    claims_done BIGINT NOT NULL DEFAULT 0,
    rejected TEXT NOT NULL DEFAULT '[]',
    error TEXT,
    created_at TEXT NOT NULL,
    finished_at TEXT
);

CREATE TABLE control_numbers (
    kind TEXT PRIMARY KEY,
    last BIGINT NOT NULL
);

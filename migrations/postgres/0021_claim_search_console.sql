-- Issue 16: staff search claims by CLM01 alone, status, service and
-- received dates, newest first, a page at a time (keyset on received_at,
-- payer_claim_id). Service dates are the first and last day of the
-- claim's lines (NULL on claims stored before this migration).
ALTER TABLE claims ADD COLUMN service_from TEXT;
ALTER TABLE claims ADD COLUMN service_to TEXT;
CREATE INDEX claims_received ON claims (received_at, payer_claim_id);
CREATE INDEX claims_clm01 ON claims (claim_id, received_at);
CREATE INDEX claims_status_received ON claims (status, received_at);
CREATE INDEX claims_service ON claims (service_from, service_to);
CREATE INDEX claims_npi_received ON claims (billing_npi, received_at);
-- Claims a line was denied under a rule (search by rule).
CREATE INDEX line_decisions_rule ON line_decisions (rule_id, payer_claim_id);

-- The staff console's sign-ins under way (state, PKCE verifier, the page
-- to return to) and its sessions: the cookie holds a random id, the row
-- its SHA-256, the access token and the CSRF token; a session ends with
-- its token.
CREATE TABLE console_logins (
    state_hash TEXT PRIMARY KEY,
    verifier TEXT NOT NULL,
    next_path TEXT NOT NULL,
    expires_ms BIGINT NOT NULL
);
CREATE TABLE console_sessions (
    id_hash TEXT PRIMARY KEY,
    csrf TEXT NOT NULL,
    access_token TEXT NOT NULL,
    subject TEXT NOT NULL,
    expires_ms BIGINT NOT NULL
);

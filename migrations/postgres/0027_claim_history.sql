-- Issue 18: a pended claim is decided again when its authorization is.
-- The claim row keeps the decision in force (its record, its status) and
-- says when and why it last changed; each decision it replaced is kept in
-- claim_history with its own record (decision JSON only, compressed as
-- in claims.body), when it was made and when and why it was replaced.
-- changed_at is what GET /v1/claims?changed_since= reads.
ALTER TABLE claims ADD COLUMN changed_at TEXT;
ALTER TABLE claims ADD COLUMN changed_because TEXT;
CREATE INDEX claims_changed ON claims (changed_at, payer_claim_id) WHERE changed_at IS NOT NULL;

CREATE TABLE claim_history (
    payer_claim_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    status TEXT NOT NULL,
    rule_set TEXT NOT NULL,
    decided_at TEXT NOT NULL,
    replaced_at TEXT NOT NULL,
    replaced_because TEXT NOT NULL,
    body BYTEA NOT NULL,
    PRIMARY KEY (payer_claim_id, seq)
);

-- The claims pended on an authorization, found when it is decided.
CREATE INDEX line_decisions_auth ON line_decisions (authorization_number, decision);

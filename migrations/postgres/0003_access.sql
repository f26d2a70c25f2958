-- Access control (SPEC §5 "Access"): registered clients and staff users
-- (secrets and passwords as argon2 PHC strings), token signing keys,
-- single-use authorization codes, revoked grants, failed sign-ins and
-- lockouts (kept here so every instance sees them), and the audit log.

CREATE TABLE clients (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    -- NULL for a public client (the staff console: PKCE, no secret).
    secret_hash TEXT,
    -- Space-separated lists; URIs never contain spaces.
    scopes TEXT NOT NULL,
    npis TEXT NOT NULL,
    redirect_uris TEXT NOT NULL,
    disabled BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    roles TEXT NOT NULL,
    disabled BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);

-- Ed25519 keys as base64 PKCS#8; the newest active one signs, all verify.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    private_key TEXT NOT NULL,
    public_key TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- Codes are stored hashed; used_at makes them single-use.
CREATE TABLE authorization_codes (
    code_hash TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    scopes TEXT NOT NULL,
    challenge TEXT NOT NULL,
    expires_ms BIGINT NOT NULL,
    used_ms BIGINT
);

CREATE TABLE revoked_grants (
    grant_id TEXT PRIMARY KEY,
    revoked_at TEXT NOT NULL
);

CREATE TABLE sign_in_failures (
    subject TEXT NOT NULL,
    at_ms BIGINT NOT NULL
);
CREATE INDEX sign_in_failures_subject ON sign_in_failures (subject, at_ms);

CREATE TABLE lockouts (
    subject TEXT PRIMARY KEY,
    until_ms BIGINT NOT NULL
);

-- Who read or changed what, when, from where. Ids only: never PHI.
CREATE TABLE audit_log (
    id BIGSERIAL PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    client_id TEXT NOT NULL,
    action TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    remote_addr TEXT NOT NULL
);

ALTER TABLE batches ADD COLUMN submitted_by TEXT;

-- Who submitted each claim and from where (the change to authorizations a
-- submission makes is recorded on its own rows, in its own statement).
ALTER TABLE claims ADD COLUMN submitted_by TEXT;
ALTER TABLE claims ADD COLUMN submitted_from TEXT;

-- Gold-card exemptions (SPEC §3.5, issue 19): one provider relieved of prior
-- authorization under one rule for a period. Ids are derived from
-- (provider_npi, rule_id, start_date, end_date), so the same exemption is
-- never stored twice. A revoked exemption keeps its row (revoked_at set):
-- stored decisions name it, and the audit log says who revoked it.
-- Numbered 0019 (the issue) so it cannot collide with other branches'
-- next migrations.

CREATE TABLE exemptions (
    id TEXT PRIMARY KEY,
    provider_npi TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    start_date TEXT NOT NULL,
    end_date TEXT NOT NULL,
    -- 'import' (CSV, API) or 'goldcard' (computed).
    source TEXT NOT NULL,
    -- JSON: for a computed exemption the counts, rate, window and the
    -- authorization numbers counted; NULL for an imported one.
    evidence TEXT,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);

CREATE INDEX exemptions_provider ON exemptions (provider_npi);

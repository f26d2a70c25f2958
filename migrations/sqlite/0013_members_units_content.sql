-- Issue 13 (SPEC §2.3, §3.3): authorizations for a dependent (birth date,
-- PHI) and counted in units, visits or days; claims keyed by content so a
-- duplicate under a new CLM01 is found with one indexed read.
ALTER TABLE authorizations ADD COLUMN patient_birth_date TEXT;
ALTER TABLE authorizations ADD COLUMN unit_type TEXT NOT NULL DEFAULT 'units';

-- Content key of a claim that may still be duplicated (SPEC §3.3): set for
-- adjudicated claims, NULL for duplicates and voids and once a replacement
-- or void has taken the claim back.
ALTER TABLE claims ADD COLUMN content_key TEXT;
CREATE INDEX claims_content ON claims (content_key) WHERE content_key IS NOT NULL;

-- Issue 16: claims by CARC, indexed. line_decisions.adjustments is text
-- ("CO-197 OA-18"), which a LIKE cannot use an index on. line_carcs holds
-- each claim once per code its lines were adjusted with, both as group
-- and code ("CO-197") and as the code alone ("197"), with the claim's
-- received_at, so a search by CARC reads its claims newest first from
-- the primary key. A trigger fills it from every line_decisions row
-- written, so the code that writes claims does not change; claims rows
-- are written before their lines.
CREATE TABLE line_carcs (
    carc TEXT NOT NULL,
    received_at TEXT NOT NULL,
    payer_claim_id TEXT NOT NULL,
    PRIMARY KEY (carc, received_at, payer_claim_id)
) WITHOUT ROWID;

-- The adjustments as a JSON array, to read one code a row.
CREATE TRIGGER line_decisions_carcs AFTER INSERT ON line_decisions
WHEN NEW.adjustments <> ''
BEGIN
    INSERT OR IGNORE INTO line_carcs (carc, received_at, payer_claim_id)
    SELECT j.value, c.received_at, c.payer_claim_id
    FROM claims c, json_each('["' || replace(NEW.adjustments, ' ', '","') || '"]') j
    WHERE c.payer_claim_id = NEW.payer_claim_id;
    INSERT OR IGNORE INTO line_carcs (carc, received_at, payer_claim_id)
    SELECT substr(j.value, instr(j.value, '-') + 1), c.received_at, c.payer_claim_id
    FROM claims c, json_each('["' || replace(NEW.adjustments, ' ', '","') || '"]') j
    WHERE c.payer_claim_id = NEW.payer_claim_id;
END;

-- The claims stored before.
INSERT OR IGNORE INTO line_carcs (carc, received_at, payer_claim_id)
SELECT j.value, c.received_at, c.payer_claim_id
FROM line_decisions l
JOIN claims c ON c.payer_claim_id = l.payer_claim_id,
json_each('["' || replace(l.adjustments, ' ', '","') || '"]') j
WHERE l.adjustments <> '';
INSERT OR IGNORE INTO line_carcs (carc, received_at, payer_claim_id)
SELECT substr(j.value, instr(j.value, '-') + 1), c.received_at, c.payer_claim_id
FROM line_decisions l
JOIN claims c ON c.payer_claim_id = l.payer_claim_id,
json_each('["' || replace(l.adjustments, ' ', '","') || '"]') j
WHERE l.adjustments <> '';

-- Claims by service dates: the range's lower side (service_to >= day)
-- has an index of its own (claims_service serves service_from <= day).
CREATE INDEX claims_service_to ON claims (service_to);

-- Searches by status, NPI or CLM01 read newest first by (received_at,
-- payer_claim_id): with payer_claim_id in the index too, it gives that
-- order whole, so a status no claim has (a prepared statement's generic
-- plan does not know the value) is not found by walking every claim.
DROP INDEX claims_status_received;
DROP INDEX claims_npi_received;
DROP INDEX claims_clm01;
CREATE INDEX claims_status_received ON claims (status, received_at, payer_claim_id);
CREATE INDEX claims_npi_received ON claims (billing_npi, received_at, payer_claim_id);
CREATE INDEX claims_clm01 ON claims (claim_id, received_at, payer_claim_id);

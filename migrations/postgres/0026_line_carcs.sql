-- Issue 16: claims by CARC, indexed. line_decisions.adjustments is text
-- ("CO-197 OA-18"), which a LIKE cannot use an index on. line_carcs holds
-- each claim once per code its lines were adjusted with, both as group
-- and code ("CO-197") and as the code alone ("197"), with the claim's
-- received_at, so a search by CARC reads its claims newest first from
-- the primary key. A statement trigger fills it from the line_decisions
-- rows each insert wrote (one statement for a whole batch of lines), so
-- the code that writes claims does not change; claims rows are written
-- before their lines.
CREATE TABLE line_carcs (
    carc TEXT NOT NULL,
    received_at TEXT NOT NULL,
    payer_claim_id TEXT NOT NULL,
    PRIMARY KEY (carc, received_at, payer_claim_id)
);

CREATE FUNCTION line_carcs_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO line_carcs (carc, received_at, payer_claim_id)
    SELECT DISTINCT x.code, c.received_at, c.payer_claim_id
    FROM new_lines n
    JOIN claims c ON c.payer_claim_id = n.payer_claim_id
    CROSS JOIN LATERAL unnest(string_to_array(n.adjustments, ' ')) AS a(adj)
    CROSS JOIN LATERAL (VALUES (a.adj), (split_part(a.adj, '-', 2))) AS x(code)
    WHERE n.adjustments <> '' AND x.code <> ''
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

CREATE TRIGGER line_decisions_carcs AFTER INSERT ON line_decisions
REFERENCING NEW TABLE AS new_lines
FOR EACH STATEMENT EXECUTE FUNCTION line_carcs_add();

-- The claims stored before.
INSERT INTO line_carcs (carc, received_at, payer_claim_id)
SELECT DISTINCT x.code, c.received_at, c.payer_claim_id
FROM line_decisions n
JOIN claims c ON c.payer_claim_id = n.payer_claim_id
CROSS JOIN LATERAL unnest(string_to_array(n.adjustments, ' ')) AS a(adj)
CROSS JOIN LATERAL (VALUES (a.adj), (split_part(a.adj, '-', 2))) AS x(code)
WHERE n.adjustments <> '' AND x.code <> ''
ON CONFLICT DO NOTHING;

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

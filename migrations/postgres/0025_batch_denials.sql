-- A batch's 835 is read from its claims denied in full, a page at a time
-- in (billing NPI, file order) (issue 15 point 3). Without this index each
-- page scanned and sorted every claim of the batch: a 1M-claim batch's 835
-- read the whole batch once per page. Partial: only denied claims, so
-- the claims a batch stores cost no more to insert.
CREATE INDEX claims_batch_denied ON claims (batch_id, billing_npi, batch_seq) WHERE status = 'denied';

-- Issue 17: a claim's decision JSON and its facts (the claim model, for
-- re-adjudication without the X12) in one compressed record (see
-- src/store/record.rs). New rows write `decision` as '' and `body`; rows
-- stored before keep their `decision` text and no body.
-- From here on line_decisions has a row for each line a rule, an
-- adjustment (CARC) or an authorization number touched: what searches by
-- CARC, rule and authorization find. A line no rule covers and no number
-- was sent for is in the claim's record only.
ALTER TABLE claims ADD COLUMN body BLOB;

-- The payer claim id a replacement or void took back, so its reversal can
-- be written again later (a batch's 835 is written from stored decisions).
ALTER TABLE claims ADD COLUMN replaces TEXT;

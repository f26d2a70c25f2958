-- The plan's network directory (SPEC §2.4, issue 19): a billing provider
-- is in network on a date within one of its rows; network_end NULL = open.
-- Replaced as a whole by every import (all or nothing). No row at all: no
-- directory loaded, every provider in network. Submissions read the rows
-- of their billing NPIs only (network_npi). Numbered 0020 so it cannot
-- collide with other branches' next migrations.

CREATE TABLE network_directory (
    npi TEXT NOT NULL,
    network_start TEXT NOT NULL,
    network_end TEXT,
    imported_at TEXT NOT NULL
);

CREATE INDEX network_npi ON network_directory (npi);

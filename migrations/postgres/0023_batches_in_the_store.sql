-- Issue 17: a batch lives in the database, not on the disk of the
-- instance that received it, so any instance can work it and finish it
-- after another one crashed. The file as received, in pieces of up to
-- 1 MiB; and its claims cut into chunks (compressed claim JSON, one claim
-- a line), worked in order: each chunk is committed with its claims, their
-- consumption and the batch's progress in one transaction. On PostgreSQL
-- instances claim a chunk with FOR UPDATE SKIP LOCKED; `data` is emptied
-- once the chunk is done, `worker` names the instance that did it.
-- (batches.spool is '' for batches stored this way.)
CREATE TABLE batch_files (
    batch_id TEXT NOT NULL,
    piece BIGINT NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (batch_id, piece)
);

CREATE TABLE batch_chunks (
    batch_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    first_claim BIGINT NOT NULL,
    claims BIGINT NOT NULL,
    data BYTEA,
    done BIGINT NOT NULL DEFAULT 0,
    worker TEXT,
    PRIMARY KEY (batch_id, seq)
);
CREATE INDEX batch_chunks_todo ON batch_chunks (batch_id, seq) WHERE done = 0;

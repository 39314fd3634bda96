-- The encrypted copy of a batch kept for a resend (docs/batcher.md,
-- "Resending a batch"; docs/privacy.md, "The copy kept for a resend").
--
-- The files themselves are on the batcher's disk (RETAINED_DIR), not
-- here: a row in PostgreSQL lives on in its WAL, its backups and replicas
-- long after a DELETE, so a copy kept in a bytea could not be shown
-- deleted when its window ends. This table is the record: one row per
-- batch kept, inserted in the transaction that records the batch sent
-- (with the audit entry "batch_retained"), and marked deleted when the
-- sweep has removed the files (audit entry "retained_copy_deleted").
-- Resends are counted here and each is an audit entry ("batch_resent").
--
-- files: [{"name", "bytes", "sha256"}] in upload order (the data file
-- first, the manifest last). No personal data: names, sizes, checksums.
CREATE TABLE batch_retention (
    batch_id        text PRIMARY KEY REFERENCES batches (batch_id),
    files           jsonb NOT NULL CHECK (jsonb_typeof(files) = 'array' AND jsonb_array_length(files) > 0),
    retained_at     timestamptz NOT NULL,
    retained_until  timestamptz NOT NULL CHECK (retained_until >= retained_at),
    deleted_at      timestamptz,
    deletion_reason text,
    resend_count    integer NOT NULL DEFAULT 0,
    last_resent_at  timestamptz,
    CHECK ((deleted_at IS NULL) = (deletion_reason IS NULL))
);

-- The sweep's question: which copies are due for deletion.
CREATE INDEX batch_retention_live ON batch_retention (retained_until) WHERE deleted_at IS NULL;

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'booklets_service') THEN
        CREATE ROLE booklets_service NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END;
$$;

-- No DELETE: a deletion is recorded, never erased.
GRANT SELECT, INSERT, UPDATE ON batch_retention TO booklets_service;

---- create above / drop below ----

DROP TABLE batch_retention;

-- Deletion confirmations received from the print partner, accepted or
-- rejected, kept for audit. No personal data: the partner's file names the
-- batch, a count, a checksum and a time. batch_id has no foreign key
-- because a confirmation for an unknown batch is recorded too (rejected).
CREATE TABLE confirmations (
    confirmation_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    file_name       text NOT NULL,
    file_sha256     text NOT NULL CHECK (file_sha256 ~ '^[0-9a-f]{64}$'),
    batch_id        text NULL,
    accepted        boolean NOT NULL,
    early           boolean NOT NULL DEFAULT false,
    reason          text NOT NULL DEFAULT '',
    record_count    int NULL,
    sha256          text NULL,
    deleted_at      timestamptz NULL,
    deleted_by      text NULL,
    received_at     timestamptz NOT NULL,
    -- Re-reading the same file is not a new confirmation.
    UNIQUE (file_name, file_sha256)
);

-- At most one accepted confirmation per batch.
CREATE UNIQUE INDEX confirmations_one_accepted ON confirmations (batch_id) WHERE accepted;
CREATE INDEX confirmations_batch ON confirmations (batch_id, received_at);

-- Overdue alerts raised, one per batch per London day, so that re-running
-- the reconciler the same day does not repeat the alert.
CREATE TABLE overdue_alerts (
    batch_id   text NOT NULL,
    alert_date date NOT NULL,
    due_date   date NOT NULL,
    raised_at  timestamptz NOT NULL,
    PRIMARY KEY (batch_id, alert_date)
);

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'booklets_service') THEN
        CREATE ROLE booklets_service NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END;
$$;

-- Confirmations and alerts are records too: the services add and read them.
GRANT SELECT, INSERT ON confirmations, overdue_alerts TO booklets_service;

---- create above / drop below ----

DROP TABLE overdue_alerts;
DROP TABLE confirmations;

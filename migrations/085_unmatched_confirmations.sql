-- Files in the partner's confirmations folder that named no batch of ours
-- (issue 16): a name that is not deletion_<batch_id>.json, a batch id we
-- never sent (a typo), a file over the size limit, a signature whose
-- confirmation never came. Before, only their number was kept (the run's
-- confirmations_unmatched audit entry, reconcile_runs.unmatched); a
-- confirmation with a mistyped batch id then appeared nowhere an auditor
-- looks. Each is now listed, with the reason the partner was given in its
-- reason file, on the auditors' page and by `reconciler report --unmatched`.
--
-- Written in the transaction that records the run and its audit entry. A
-- file seen again (its move failed) is not listed twice; an oversized one
-- (not read, so no checksum) may be. No personal data:
-- the partner's file name, the batch id it claims, a checksum, a reason.
CREATE TABLE unmatched_confirmations (
    unmatched_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    seen_at      timestamptz NOT NULL,
    file_name    text NOT NULL,
    file_sha256  text NULL CHECK (file_sha256 ~ '^[0-9a-f]{64}$'),
    why          text NOT NULL CHECK (why IN ('bad_name', 'unknown_batch', 'oversized')),
    batch_id     text NULL,
    reason       text NOT NULL,
    UNIQUE (file_name, file_sha256)
);

CREATE INDEX unmatched_confirmations_seen ON unmatched_confirmations (seen_at);

CALL make_append_only('unmatched_confirmations');

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'booklets_service') THEN
        CREATE ROLE booklets_service NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END;
$$;

REVOKE ALL ON unmatched_confirmations FROM PUBLIC;
GRANT SELECT, INSERT ON unmatched_confirmations TO booklets_service;

---- create above / drop below ----

DROP TABLE unmatched_confirmations;

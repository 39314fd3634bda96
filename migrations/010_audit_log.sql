-- The auditors' record: an append-only, hash-chained log (see pkg/audit).
--
-- seq is assigned by the application as last seq + 1 while it holds an
-- advisory lock (pkg/auditlog), not by a sequence: a sequence leaves gaps
-- when a transaction rolls back, and a gap-free numbering lets Verify tell
-- a removed entry from a rolled-back one.
CREATE TABLE audit_log (
    seq       bigint PRIMARY KEY CHECK (seq > 0),
    at        timestamptz NOT NULL,
    kind      text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_]{0,63}$'),
    batch_id  text NULL,
    details   jsonb NOT NULL DEFAULT '{}'::jsonb,
    prev_hash text NOT NULL UNIQUE CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
    hash      text NOT NULL UNIQUE CHECK (hash ~ '^[0-9a-f]{64}$')
);

CREATE INDEX audit_log_batch_idx ON audit_log (batch_id, seq);

-- Rows can only be added. The trigger fires for every role, the table's
-- owner and superusers included, so a change needs a deliberate
-- ALTER TABLE ... DISABLE TRIGGER (which a superuser can do, and which the
-- hash chain then exposes).
CREATE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP
        USING HINT = 'Audit entries are never changed or removed; record a new event instead.';
END;
$$;

CREATE TRIGGER audit_log_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- The role the services work as. It is a group role (NOLOGIN): operators
-- create a login role for each service and GRANT booklets_service TO it
-- (docs/reconciler.md). Roles belong to the whole cluster, so several
-- databases migrating at once may race to create it; the loser's error is
-- ignored.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'booklets_service') THEN
        CREATE ROLE booklets_service NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END;
$$;

REVOKE ALL ON audit_log FROM PUBLIC;
GRANT SELECT, INSERT ON audit_log TO booklets_service;

---- create above / drop below ----

DROP TABLE audit_log;
DROP FUNCTION audit_log_append_only();
-- The booklets_service role is kept: other tables and databases use it.

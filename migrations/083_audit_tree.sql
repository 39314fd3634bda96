-- The transparency log over the audit record (issue 15; pkg/stage/audit
-- tree.go, pkg/adapter/postgres audittree.go): every audit_log entry is a
-- leaf of an RFC 6962 Merkle tree, kept here beside the entries, and the
-- reconciler signs checkpoints of it (tree size and root hash) that are
-- published outside this database.
--
-- audit_tree holds the tree as golang.org/x/mod/sumdb/tlog stores it: its
-- "stored hashes", numbered densely by idx (tlog.StoredHashIndex), the leaf
-- hash and every completed subtree's hash. Appending entry seq adds the
-- hashes from tlog.StoredHashIndex(0, seq-1) onwards, all stamped with that
-- seq, so the tree's size is max(seq). They are added in the transaction
-- that appends the entry, under the same advisory lock.
--
-- Existing databases: the tree is not built here, because a leaf hashes
-- the entry's canonical JSON (pkg/stage/audit Canonical), which SQL cannot
-- reproduce byte for byte. It is built over the entries already there the
-- first time anything appends an entry or the reconciler signs a checkpoint
-- after this migration (postgres.SyncAuditTree: it catches up every
-- missing leaf, in seq order, under the lock).
--
-- audit_checkpoints keeps every signed checkpoint (the signed note as
-- published), so that `reconciler audit export` can hand the latest to an
-- auditor and the signer can refuse to sign a tree that does not extend
-- the last one it signed.
--
-- No personal data: hashes, sizes and times.
--
-- Numbered 083 because tern counts migrations: it must sort after every
-- migration already applied.
CREATE TABLE audit_tree (
    idx  bigint PRIMARY KEY CHECK (idx >= 0),
    seq  bigint NOT NULL CHECK (seq > 0),
    hash bytea NOT NULL CHECK (octet_length(hash) = 32)
);

CREATE INDEX audit_tree_seq ON audit_tree (seq);

CREATE TABLE audit_checkpoints (
    checkpoint_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tree_size     bigint NOT NULL CHECK (tree_size >= 0),
    root_hash     bytea NOT NULL CHECK (octet_length(root_hash) = 32),
    signed_at     timestamptz NOT NULL,
    note          text NOT NULL
);

CREATE INDEX audit_checkpoints_latest ON audit_checkpoints (tree_size, checkpoint_id);

-- Append-only like audit_log (010): for every role, owners and superusers
-- included, so that a change needs a deliberate DISABLE TRIGGER, which the
-- signed checkpoints published elsewhere then expose.
-- One function for every evidence table from here on (it names the table),
-- rather than one per table as audit_log has.
CREATE FUNCTION evidence_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING HINT = 'Audit evidence is never changed or removed; record a new row instead.';
END;
$$;

-- make_append_only puts the two triggers on an evidence table: no UPDATE or
-- DELETE of a row, no TRUNCATE. Each later evidence table calls it, rather
-- than writing the pair out again.
CREATE PROCEDURE make_append_only(t regclass)
LANGUAGE plpgsql AS $$
DECLARE
    name text := (SELECT relname FROM pg_class WHERE oid = t);
BEGIN
    EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %s FOR EACH ROW EXECUTE FUNCTION evidence_append_only()',
        name || '_no_update_delete', t);
    EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION evidence_append_only()',
        name || '_no_truncate', t);
END;
$$;

CALL make_append_only('audit_tree');
CALL make_append_only('audit_checkpoints');

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'booklets_service') THEN
        CREATE ROLE booklets_service NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END;
$$;

-- Records like audit_log: the services add and read, never change.
REVOKE ALL ON audit_tree, audit_checkpoints FROM PUBLIC;
GRANT SELECT, INSERT ON audit_tree, audit_checkpoints TO booklets_service;

---- create above / drop below ----

DROP TABLE audit_checkpoints;
DROP TABLE audit_tree;
DROP PROCEDURE make_append_only(regclass);
DROP FUNCTION evidence_append_only();

-- The partner's signed deletion receipts (issue 15): for every confirmation
-- recorded (011 confirmations), the file's bytes as received and the
-- partner's detached OpenPGP signature beside it (deletion_<batch_id>.json
-- and .json.asc, docs/partner-interface.md), kept as audit evidence so that
-- an auditor can re-check the signature with GnuPG (`reconciler audit
-- receipt`, docs/reconciler.md). The confirmation's audit entry carries the
-- SHA-256 of both, so the log vouches for these bytes.
--
-- signer is the fingerprint of the partner's pinned signing key
-- (PARTNER_SIGNING_KEY_FILE) when the signature was good; NULL when there
-- was none, or it was not checked (ACCEPT_UNSIGNED_CONFIRMATIONS): an
-- accepted confirmation without a signer is shown to auditors as unsigned.
-- Confirmations recorded before this migration have no row: unsigned too.
--
-- No personal data: a batch id, a count, a checksum, times, and the name
-- of the partner's officer's role (deleted_by), which confirmations keeps
-- already; the signature holds the partner's key id.
CREATE TABLE confirmation_signatures (
    confirmation_id  bigint PRIMARY KEY REFERENCES confirmations (confirmation_id),
    confirmation     bytea NOT NULL,
    signature        bytea NULL,
    signature_sha256 text NULL CHECK (signature_sha256 ~ '^[0-9a-f]{64}$'),
    signer           text NULL CHECK (signer ~ '^[0-9A-F]{40,64}$'),
    CHECK ((signature IS NULL) = (signature_sha256 IS NULL)),
    CHECK (signer IS NULL OR signature IS NOT NULL)
);

-- Append-only like audit_log (010) and audit_tree (083), with 083's
-- evidence_append_only: for every role, owners and superusers included.

CALL make_append_only('confirmation_signatures');

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'booklets_service') THEN
        CREATE ROLE booklets_service NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END;
$$;

-- Records: the services add and read, never change.
REVOKE ALL ON confirmation_signatures FROM PUBLIC;
GRANT SELECT, INSERT ON confirmation_signatures TO booklets_service;

---- create above / drop below ----

DROP TABLE confirmation_signatures;

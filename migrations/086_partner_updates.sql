-- The print partner's dispatch and returns files (issue 16,
-- docs/partner-interface.md "Dispatch and returns"): CSV files in its
-- updates folder, one row per order reference and format, `dispatched` on
-- a date or `returned` on a date with a reason from a fixed list.
--
-- partner_update_files: every updates file judged, accepted or rejected
-- (with the reason the partner was given in its reason file), by name and
-- content, so that a file read again is recognised; its row counts and its
-- signature's checksum and signer (as for confirmations, 084).
--
-- order_updates: the accepted rows, one per booklet (reference and format)
-- and status, so a booklet has at most one dispatch and one return. A
-- return is final: we hold no address once a batch is sent, so a returned
-- booklet is never dispatched again (the person is asked to order again).
--
-- No personal data: an order reference is a random code, a format, a
-- status, a date and a reason from a fixed list. Both tables are
-- append-only evidence, like the audit log.
CREATE TABLE partner_update_files (
    file_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    file_name        text NOT NULL,
    file_sha256      text NOT NULL CHECK (file_sha256 ~ '^[0-9a-f]{64}$'),
    batch_id         text NOT NULL,
    accepted         boolean NOT NULL,
    reason           text NOT NULL DEFAULT '',
    dispatched       int NOT NULL DEFAULT 0 CHECK (dispatched >= 0),
    returned         int NOT NULL DEFAULT 0 CHECK (returned >= 0),
    signer           text NULL CHECK (signer ~ '^[0-9A-F]{40,64}$'),
    signature_sha256 text NULL CHECK (signature_sha256 ~ '^[0-9a-f]{64}$'),
    received_at      timestamptz NOT NULL,
    UNIQUE (file_name, file_sha256)
);

CREATE INDEX partner_update_files_batch ON partner_update_files (batch_id, received_at);

CREATE TABLE order_updates (
    reference     text NOT NULL,
    format        text NOT NULL,
    status        text NOT NULL CHECK (status IN ('dispatched', 'returned')),
    batch_id      text NOT NULL,
    on_date       date NOT NULL,
    return_reason text NULL CHECK ((status = 'returned') = (return_reason IS NOT NULL)),
    file_id       bigint NOT NULL REFERENCES partner_update_files (file_id),
    PRIMARY KEY (reference, format, status)
);

CREATE INDEX order_updates_batch ON order_updates (batch_id, status);

CALL make_append_only('partner_update_files');
CALL make_append_only('order_updates');

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'booklets_service') THEN
        CREATE ROLE booklets_service NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END;
$$;

REVOKE ALL ON partner_update_files, order_updates FROM PUBLIC;
GRANT SELECT, INSERT ON partner_update_files, order_updates TO booklets_service;

---- create above / drop below ----

DROP TABLE order_updates;
DROP TABLE partner_update_files;

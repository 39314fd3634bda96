-- What the services need on the tables they share, granted to the group
-- role they connect as (booklets_service, created by 010_audit_log.sql;
-- docs/reconciler.md, "Database roles"). Until now only the audit and
-- confirmation tables and the research schema were granted, so a service
-- connecting as a member of booklets_service could not store an order.
--
-- Least privilege, per table, from what pkg/store, pkg/keystore,
-- pkg/ledger and pkg/auditlog do (SELECT ... FOR UPDATE needs UPDATE):
--
-- * orders: the non-personal facts are kept for statistics and never
--   deleted; erasing an order sets erased_at. No DELETE.
-- * order_personal: deleting personal data is deleting rows.
-- * batches, dead_letters (data set to NULL, never a row removed),
--   day_keys (destroyed by setting wrapped to NULL, the row kept as the
--   record), retention_check (an upsert of one row): no DELETE.
-- * the views are read only.
-- * audit_log stays SELECT, INSERT (010); confirmations and overdue_alerts
--   stay SELECT, INSERT (011).
--
-- GRANT is idempotent, and the role is made here too if it is missing, so
-- this migration can run on any database whatever its history. A new table
-- or view must grant booklets_service what the services need in the
-- migration that creates it (migrations_test checks that every one is
-- granted something).
--
-- Numbered 060 because tern counts migrations: it must sort after every
-- migration already applied (050).
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'booklets_service') THEN
        CREATE ROLE booklets_service NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END;
$$;

GRANT USAGE ON SCHEMA public TO booklets_service;

REVOKE ALL ON orders, order_personal, batches, dead_letters, day_keys, retention_check,
    orders_with_batch, personal_data_held FROM PUBLIC;

GRANT SELECT, INSERT, UPDATE ON orders TO booklets_service;
GRANT SELECT, INSERT, UPDATE, DELETE ON order_personal TO booklets_service;
GRANT SELECT, INSERT, UPDATE ON batches TO booklets_service;
GRANT SELECT, INSERT, UPDATE ON dead_letters TO booklets_service;
GRANT USAGE ON SEQUENCE dead_letters_id_seq TO booklets_service;
GRANT SELECT, INSERT, UPDATE ON day_keys TO booklets_service;
GRANT SELECT, INSERT, UPDATE ON retention_check TO booklets_service;
GRANT SELECT ON orders_with_batch, personal_data_held TO booklets_service;

---- create above / drop below ----

REVOKE ALL ON orders, order_personal, batches, dead_letters, day_keys, retention_check,
    orders_with_batch, personal_data_held FROM booklets_service;
REVOKE USAGE ON SEQUENCE dead_letters_id_seq FROM booklets_service;

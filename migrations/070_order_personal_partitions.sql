-- order_personal becomes one partition per business date, holding with the
-- sealed personal part the facts a batch file row needs (docs/performance.md,
-- "End of day").
--
-- Why:
--
-- * Deleting the personal data of a sent batch was a DELETE of every row
--   (a million row versions marked dead, each in the WAL, then vacuumed):
--   1.4-1.7 s of a million-order send. It is now DROP TABLE of the batch's
--   day partitions, whose files are unlinked at commit: no dead tuples are
--   left behind for VACUUM either.
-- * Writing the batch file joined orders with order_personal, a million
--   index probes or a hash join and a sort: 2-3 s of PostgreSQL's CPU. The
--   file is now read from this table alone, in file order through its own
--   index. reference, received_at, area and formats are copies of the
--   order's facts, which never change after intake; they go with the
--   personal part when it is deleted, and orders keeps them. formats is
--   the format names joined by commas (none holds a comma): a string is
--   read several times faster than a text[] (decoding arrays was a third
--   of the batcher's cost of reading a row).
--
-- Partitions are named order_personal_YYYYMMDD and made by
-- order_personal_partition(day) when the first order of a day is stored;
-- order_personal_drop(first, last) drops those of a batch's date range in
-- the record transaction and returns how many rows they held. Both run as
-- the owner of the table (SECURITY DEFINER) so that the services' role
-- needs no right to create or drop tables.
--
-- Numbered 070 because tern counts migrations: it must sort after every
-- migration already applied (060).

DROP VIEW personal_data_held;
ALTER TABLE order_personal RENAME TO order_personal_unpartitioned;
ALTER INDEX order_personal_pkey RENAME TO order_personal_unpartitioned_pkey;

CREATE TABLE order_personal (
    order_id      uuid NOT NULL REFERENCES orders (order_id) ON DELETE CASCADE,
    business_date date NOT NULL,
    received_at   timestamptz NOT NULL,
    reference     text NOT NULL,
    area          text NOT NULL,
    formats       text NOT NULL, -- comma-separated, e.g. 'large-print,audio'
    data          bytea NOT NULL,
    PRIMARY KEY (order_id, business_date)
) PARTITION BY RANGE (business_date);

COMMENT ON TABLE order_personal IS
    'sealed personal part of each order not yet sent or erased, with the facts its batch file row needs; one partition per business date';

-- The batch file's order: business date, received time, reference.
CREATE INDEX order_personal_file_order ON order_personal (business_date, received_at, reference);

-- Makes the partition of a day unless a batch of that day or later exists
-- (its orders are refused as late, and a partition made then would never be
-- dropped). Returns whether the partition exists.
CREATE FUNCTION order_personal_partition(day date) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    part text := 'order_personal_' || to_char(day, 'YYYYMMDD');
BEGIN
    IF to_regclass(part) IS NOT NULL THEN
        RETURN true;
    END IF;
    IF EXISTS (SELECT 1 FROM batches WHERE business_date >= day) THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE %I PARTITION OF order_personal FOR VALUES FROM (%L) TO (%L)',
        part, day, day + 1);
    RETURN true;
EXCEPTION WHEN duplicate_table OR unique_violation THEN
    RETURN true; -- another process made it at the same moment
END;
$$;

-- Drops the partitions of the business dates first to last and returns how
-- many rows they held.
CREATE FUNCTION order_personal_drop(first date, last date) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    part regclass;
    held bigint;
    total bigint := 0;
BEGIN
    FOR part IN
        SELECT c.oid::regclass FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'order_personal'::regclass
          AND c.relname ~ '^order_personal_[0-9]{8}$'
          AND to_date(right(c.relname, 8), 'YYYYMMDD') BETWEEN first AND last
    LOOP
        EXECUTE format('SELECT count(*) FROM %s', part) INTO held;
        total := total + held;
        EXECUTE format('DROP TABLE %s', part);
    END LOOP;
    RETURN total;
END;
$$;

-- The rows held now move to their day's partition.
DO $$
DECLARE
    day date;
BEGIN
    FOR day IN SELECT DISTINCT o.business_date FROM order_personal_unpartitioned p JOIN orders o USING (order_id) LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF order_personal FOR VALUES FROM (%L) TO (%L)',
            'order_personal_' || to_char(day, 'YYYYMMDD'), day, day + 1);
    END LOOP;
END;
$$;

INSERT INTO order_personal (order_id, business_date, received_at, reference, area, formats, data)
SELECT p.order_id, o.business_date, o.received_at, o.reference, o.area, array_to_string(o.formats, ','), p.data
FROM order_personal_unpartitioned p JOIN orders o USING (order_id);

DROP TABLE order_personal_unpartitioned;

CREATE VIEW personal_data_held AS
    SELECT 'order'::text AS kind, p.reference AS item, p.business_date, p.received_at
    FROM order_personal p
    UNION ALL
    SELECT 'dead_letter'::text, 'stream sequence ' || d.stream_sequence, d.business_date, d.received_at
    FROM dead_letters d WHERE d.data IS NOT NULL;

-- The grants of 060 were on the tables replaced here.
REVOKE ALL ON order_personal, personal_data_held FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON order_personal TO booklets_service;
GRANT SELECT ON personal_data_held TO booklets_service;
REVOKE ALL ON FUNCTION order_personal_partition(date), order_personal_drop(date, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION order_personal_partition(date), order_personal_drop(date, date) TO booklets_service;

---- create above / drop below ----

DROP VIEW personal_data_held;
ALTER TABLE order_personal RENAME TO order_personal_partitioned;
ALTER INDEX order_personal_pkey RENAME TO order_personal_partitioned_pkey;
CREATE TABLE order_personal (
    order_id uuid PRIMARY KEY REFERENCES orders (order_id) ON DELETE CASCADE,
    data     bytea NOT NULL
);
INSERT INTO order_personal (order_id, data) SELECT order_id, data FROM order_personal_partitioned;
DROP TABLE order_personal_partitioned;
DROP FUNCTION order_personal_partition(date);
DROP FUNCTION order_personal_drop(date, date);
CREATE VIEW personal_data_held AS
    SELECT 'order'::text AS kind, o.reference AS item, o.business_date, o.received_at
    FROM order_personal p JOIN orders o ON o.order_id = p.order_id
    UNION ALL
    SELECT 'dead_letter'::text, 'stream sequence ' || d.stream_sequence, d.business_date, d.received_at
    FROM dead_letters d WHERE d.data IS NOT NULL;
REVOKE ALL ON order_personal, personal_data_held FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON order_personal TO booklets_service;
GRANT SELECT ON personal_data_held TO booklets_service;

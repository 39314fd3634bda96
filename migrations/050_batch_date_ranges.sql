-- A batch holds the orders of a range of business dates instead of each
-- order naming its batch (docs/performance.md, "End of day").
--
-- Assembling used to set orders.batch_id on every order of the day and
-- recording to set orders.personal_deleted_at on every order again: two
-- rewrites of each row (and of its index entries) per batch, about 25 s of
-- a million-order send. Neither is needed:
--
-- * Batch membership follows from the dates. A batch for date D takes
--   every order of D or earlier that is in no batch yet, and from then on
--   an order of D or earlier is refused as late (store.ErrLate, under the
--   assemble lock). So the batches cover consecutive date ranges: a new
--   batch starts the day after the latest batch's date (first_date) and
--   ends at its own date; if a later batch exists it starts after its own
--   date and holds nothing. Erased orders are in no batch (erased_at).
-- * When the personal data of a batch's orders was deleted is the batch's
--   sent_at (the same transaction), or the order's erased_at.
--
-- The view orders_with_batch gives both per order, for queries by hand.
-- Existing batches get the range of the orders they hold (an empty batch
-- holds an empty range).
--
-- Numbered 050 because tern counts migrations: it must sort after every
-- migration already applied (040).
ALTER TABLE batches ADD COLUMN first_date date NULL;

COMMENT ON COLUMN batches.first_date IS
    'earliest business date whose orders the batch holds (to business_date); NULL: its own date only';

UPDATE batches b SET first_date = coalesce(
    (SELECT min(o.business_date) FROM orders o WHERE o.batch_id = b.batch_id),
    b.business_date + 1);

ALTER TABLE orders DROP CONSTRAINT orders_batch_fk;
DROP INDEX orders_unbatched;
DROP INDEX orders_batch;
ALTER TABLE orders DROP COLUMN batch_id;
ALTER TABLE orders DROP COLUMN personal_deleted_at;

-- Assembling counts a date range; streaming reads it in received order.
CREATE INDEX orders_day ON orders (business_date, received_at, reference);

CREATE VIEW orders_with_batch AS
    SELECT o.*, b.batch_id,
        coalesce(o.erased_at, CASE WHEN b.state = 'sent' THEN b.sent_at END) AS personal_deleted_at
    FROM orders o
    LEFT JOIN batches b ON o.erased_at IS NULL
        AND o.business_date BETWEEN coalesce(b.first_date, b.business_date) AND b.business_date;

---- create above / drop below ----

DROP VIEW orders_with_batch;
DROP INDEX orders_day;
ALTER TABLE orders ADD COLUMN batch_id text NULL;
ALTER TABLE orders ADD COLUMN personal_deleted_at timestamptz NULL;
UPDATE orders o SET batch_id = b.batch_id, personal_deleted_at = CASE WHEN b.state = 'sent' THEN b.sent_at END
FROM batches b
WHERE o.erased_at IS NULL AND o.business_date BETWEEN coalesce(b.first_date, b.business_date) AND b.business_date;
UPDATE orders SET personal_deleted_at = erased_at WHERE erased_at IS NOT NULL;
CREATE INDEX orders_unbatched ON orders (business_date) WHERE batch_id IS NULL;
CREATE INDEX orders_batch ON orders (batch_id, received_at, reference);
ALTER TABLE orders
    ADD CONSTRAINT orders_batch_fk FOREIGN KEY (batch_id) REFERENCES batches (batch_id);
ALTER TABLE batches DROP COLUMN first_date;

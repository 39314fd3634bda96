-- The facts of an order that are not personal: kept for statistics and
-- enquiries after the personal part has been deleted.
CREATE TABLE orders (
    order_id            uuid PRIMARY KEY,
    reference           text NOT NULL UNIQUE,
    received_at         timestamptz NOT NULL,
    business_date       date NOT NULL,
    area                text NOT NULL,
    formats             text[] NOT NULL,
    batch_id            text NULL,
    personal_deleted_at timestamptz NULL,
    erased_at           timestamptz NULL,
    stored_at           timestamptz NOT NULL DEFAULT now()
);

-- Assembling a batch looks for the orders of a day (and earlier) that are
-- in no batch yet; streaming it reads a batch in received order.
CREATE INDEX orders_unbatched ON orders (business_date) WHERE batch_id IS NULL;
CREATE INDEX orders_batch ON orders (batch_id, received_at, reference);

-- The personal part, as one opaque value (today the JSON of
-- order.Personal; later sealed). Deleting personal data is deleting rows.
CREATE TABLE order_personal (
    order_id uuid PRIMARY KEY REFERENCES orders (order_id) ON DELETE CASCADE,
    data     bytea NOT NULL
);

---- create above / drop below ----

DROP TABLE order_personal;
DROP TABLE orders;

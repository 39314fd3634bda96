-- One batch per business day, and the state of sending it, so that a crash
-- at any step resumes the same batch.
CREATE TABLE batches (
    batch_id      text PRIMARY KEY,
    business_date date NOT NULL UNIQUE,
    state         text NOT NULL CHECK (state IN ('assembling', 'uploaded', 'sent')),
    record_count  int NOT NULL DEFAULT 0,
    order_count   int NOT NULL DEFAULT 0,
    sha256        text NULL,
    data_file     text NOT NULL,
    manifest_file text NOT NULL,
    created_at    timestamptz NOT NULL,
    uploaded_at   timestamptz NULL,
    sent_at       timestamptz NULL,
    delivery_date date NULL,
    due_date      date NULL,
    attempts      int NOT NULL DEFAULT 0,
    last_error    text NULL
);

ALTER TABLE orders
    ADD CONSTRAINT orders_batch_fk FOREIGN KEY (batch_id) REFERENCES batches (batch_id);

---- create above / drop below ----

ALTER TABLE orders DROP CONSTRAINT orders_batch_fk;
DROP TABLE batches;

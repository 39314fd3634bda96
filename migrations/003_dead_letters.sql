-- Messages from the stream that could not be decoded or were invalid. The
-- raw bytes may hold personal data, so they are deleted with the personal
-- data of the batch that covers their day.
CREATE TABLE dead_letters (
    id              bigserial PRIMARY KEY,
    stream_sequence bigint NOT NULL,
    stream          text NOT NULL,
    subject         text NOT NULL,
    reason          text NOT NULL,
    data            bytea NULL,
    received_at     timestamptz NOT NULL,
    business_date   date NOT NULL,
    data_deleted_at timestamptz NULL,
    UNIQUE (stream, stream_sequence)
);

---- create above / drop below ----

DROP TABLE dead_letters;

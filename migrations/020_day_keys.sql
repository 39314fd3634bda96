-- Day keys (docs/privacy.md): one data key per business date, stored only
-- wrapped by a key-encryption key (KEK) that lives outside the database.
-- Destroying a day key (wrapped = NULL, destroyed_at set) crypto-shreds
-- every copy of that day's sealed personal data, including copies in the
-- stream, the WAL and backups. A row is kept after destruction as the record
-- that it happened and so that no key is ever made again for that date.
CREATE TABLE day_keys (
    business_date date PRIMARY KEY,
    -- The KEK that wrapped the key; NULL only for a date destroyed before
    -- any key was made for it (a day without orders).
    kek_id text NULL,
    wrapped bytea NULL,
    created_at timestamptz NOT NULL,
    destroyed_at timestamptz NULL,
    CONSTRAINT day_keys_live_or_destroyed CHECK ((wrapped IS NULL) = (destroyed_at IS NOT NULL)),
    CONSTRAINT day_keys_live_has_kek CHECK (wrapped IS NULL OR kek_id IS NOT NULL)
);

COMMENT ON TABLE day_keys IS 'Per-business-date data keys, wrapped by a KEK; wrapped IS NULL once destroyed (crypto-shredding)';

---- create above / drop below ----

DROP TABLE day_keys;

-- Privacy (docs/privacy.md, issue 7).
--
-- personal_data_held: every piece of personal data held, without the data:
-- orders still holding their sealed personal part, and dead letters still
-- holding their raw bytes. The batcher's retention watchdog reads it to find
-- data held past its business day's cut-off plus RETENTION_GRACE.
--
-- retention_check: the watchdog's last finding (one row), which the
-- auditors' page shows. Its checked_at shows that the watchdog runs.
--
-- Numbered 040 (not in 020-029) because tern counts migrations: a new one
-- must sort after every migration already applied (030).
CREATE VIEW personal_data_held AS
    SELECT 'order'::text AS kind, o.reference AS item, o.business_date, o.received_at
    FROM order_personal p JOIN orders o ON o.order_id = p.order_id
    UNION ALL
    SELECT 'dead_letter'::text, 'stream sequence ' || d.stream_sequence, d.business_date, d.received_at
    FROM dead_letters d WHERE d.data IS NOT NULL;

CREATE TABLE retention_check (
    id                 int PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    checked_at         timestamptz NOT NULL,
    held               int NOT NULL,
    overdue            int NOT NULL,
    oldest_overdue_at  timestamptz NULL, -- received time of the oldest overdue item
    grace_seconds      int NOT NULL
);

---- create above / drop below ----

DROP TABLE retention_check;
DROP VIEW personal_data_held;

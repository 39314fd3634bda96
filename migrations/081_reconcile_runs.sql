-- What each reconciliation run did, whichever process ran it (the daemon's
-- daily check or an operator's `reconciler check-now`). The daemon's
-- /metrics computes its alert gauges and counters from this table and from
-- confirmations at each scrape, so that a rejected or unmatched file found
-- by a one-shot command raises the same alert as one found by the daemon
-- (before, the counts lived in the process that did the work and were lost
-- with it).
--
-- unmatched counts the files that named no batch of ours (a name that is
-- not deletion_<batch_id>.json, an unknown batch id, a file over the size
-- limit): they are not recorded one by one in confirmations; the run's
-- audit entry (confirmations_unmatched) counts them. No personal data: counts
-- and times only.
--
-- Numbered 081 because tern counts migrations: it must sort after every
-- migration already applied.
CREATE TABLE reconcile_runs (
    run_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    ok          boolean NOT NULL,
    files       int NOT NULL CHECK (files >= 0),
    accepted    int NOT NULL CHECK (accepted >= 0),
    rejected    int NOT NULL CHECK (rejected >= 0),
    duplicates  int NOT NULL CHECK (duplicates >= 0),
    unmatched   int NOT NULL CHECK (unmatched >= 0),
    failed      int NOT NULL CHECK (failed >= 0),
    overdue     int NOT NULL CHECK (overdue >= 0)
);

CREATE INDEX reconcile_runs_finished ON reconcile_runs (ok, finished_at);

-- A record like the others: the services add and read runs, never change them.
GRANT SELECT, INSERT ON reconcile_runs TO booklets_service;

---- create above / drop below ----

DROP TABLE reconcile_runs;

-- User-research volunteers (pkg/volunteer, pkg/volunteerstore).
--
-- A separate use of personal data with its own lawful basis (consent), so
-- it lives in its own schema: nothing here references orders, and nothing
-- in orders references it. There is no order id, no order reference, and no
-- instant that could be matched to an order's received_at: sign-up and
-- review are kept as London calendar dates only. The id is a random
-- (version 4) UUID, which carries no time either.
CREATE SCHEMA research;

CREATE TABLE research.volunteers (
    volunteer_id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name                   text NULL CHECK (name <> '' AND char_length(name) <= 100),
    email                  text NULL CHECK (email <> '' AND char_length(email) <= 254 AND email = lower(email)),
    purpose                text NOT NULL CHECK (purpose = 'user_research'),
    consent_version        text NOT NULL CHECK (consent_version <> ''),
    -- SHA-256 of the withdrawal code (pkg/volunteer.HashCode). The code
    -- itself is shown to the person once and never stored.
    withdrawal_code_sha256 text NOT NULL UNIQUE CHECK (withdrawal_code_sha256 ~ '^[0-9a-f]{64}$'),
    signed_up_on           date NOT NULL,
    review_due_on          date NOT NULL CHECK (review_due_on > signed_up_on),
    -- Set by the daily job when the review falls due; cleared by a "keep".
    review_flagged_at      timestamptz NULL,
    last_reviewed_on       date NULL,
    last_decision          text NULL CHECK (last_decision IN ('keep')),
    CHECK (name IS NOT NULL OR email IS NOT NULL)
);

CREATE INDEX volunteers_email_idx ON research.volunteers (email) WHERE email IS NOT NULL;
CREATE INDEX volunteers_review_due_idx ON research.volunteers (review_due_on);

-- booklets_service is created by 010_audit_log.sql.
REVOKE ALL ON SCHEMA research FROM PUBLIC;
REVOKE ALL ON research.volunteers FROM PUBLIC;
GRANT USAGE ON SCHEMA research TO booklets_service;
GRANT SELECT, INSERT, UPDATE, DELETE ON research.volunteers TO booklets_service;

---- create above / drop below ----

DROP SCHEMA research CASCADE;

-- User-research volunteers' contact details sealed under a key per
-- volunteer (docs/research.md, "Sealed contact details"; issue 20 item 12).
--
-- Until now name and email were plain text columns: a withdrawn or
-- reviewed-out volunteer's details stayed readable in dead tuples, the WAL
-- and backups after the DELETE. Now each entry has its own data key
-- (pkg/seal RecordKey: 32 random bytes), stored only wrapped by the KEK
-- ring (wrapped_key, kek_id), and the name and email are sealed together
-- under it (contact: AES-256-GCM, the entry's id bound in). Deleting the
-- entry deletes its key: every copy of its contact details is then
-- ciphertext whose key exists only wrapped, in old copies, under a KEK that
-- the rotation procedure retires (docs/privacy.md).
--
-- has_name and has_email say which were given, so that the review list and
-- the auditors' page need not open anything.
--
-- Existing rows cannot be sealed here: the KEK is never in the database.
-- They keep name/email in clear ("legacy" rows, allowed by the check below
-- and nothing else) until a service holding the KEK seals them: the intake
-- does so at start-up (volunteerstore.SealPlaintext), and so does
-- `reconciler volunteers seal`. New entries are always sealed.
--
-- The index on the plaintext email goes: an index is one more copy of
-- every address (its pages keep dead entries too), and withdrawal by email
-- now opens each entry instead (docs/research.md).
--
-- Numbered 082 because tern counts migrations: it must sort after every
-- migration already applied.
ALTER TABLE research.volunteers
    ADD COLUMN contact     bytea NULL,
    ADD COLUMN kek_id      text  NULL,
    ADD COLUMN wrapped_key bytea NULL,
    ADD COLUMN has_name    boolean NULL,
    ADD COLUMN has_email   boolean NULL;

UPDATE research.volunteers SET has_name = name IS NOT NULL, has_email = email IS NOT NULL;

ALTER TABLE research.volunteers
    ALTER COLUMN has_name SET NOT NULL,
    ALTER COLUMN has_email SET NOT NULL,
    -- (name IS NOT NULL OR email IS NOT NULL), from 030.
    DROP CONSTRAINT volunteers_check1,
    ADD CONSTRAINT volunteers_given CHECK (has_name OR has_email),
    ADD CONSTRAINT volunteers_sealed_or_legacy CHECK (
        (contact IS NOT NULL AND kek_id IS NOT NULL AND wrapped_key IS NOT NULL
            AND name IS NULL AND email IS NULL)
        OR
        (contact IS NULL AND kek_id IS NULL AND wrapped_key IS NULL
            AND has_name = (name IS NOT NULL) AND has_email = (email IS NOT NULL))
    );

DROP INDEX research.volunteers_email_idx;

COMMENT ON COLUMN research.volunteers.contact IS 'name and email, sealed under this entry''s key (pkg/seal RecordKey); NULL only on a legacy row not yet sealed';
COMMENT ON COLUMN research.volunteers.wrapped_key IS 'this entry''s data key, wrapped by the KEK named in kek_id; deleted with the entry (crypto-shredding)';
COMMENT ON COLUMN research.volunteers.name IS 'legacy plaintext, NULL once sealed into contact';
COMMENT ON COLUMN research.volunteers.email IS 'legacy plaintext, NULL once sealed into contact';

---- create above / drop below ----

DO $$
BEGIN
    IF EXISTS (SELECT FROM research.volunteers WHERE contact IS NOT NULL) THEN
        RAISE EXCEPTION 'research.volunteers holds sealed entries: they cannot be unsealed in SQL (the KEK is not in the database)';
    END IF;
END;
$$;
CREATE INDEX volunteers_email_idx ON research.volunteers (email) WHERE email IS NOT NULL;
ALTER TABLE research.volunteers
    DROP CONSTRAINT volunteers_sealed_or_legacy,
    DROP CONSTRAINT volunteers_given,
    ADD CONSTRAINT volunteers_check1 CHECK (name IS NOT NULL OR email IS NOT NULL),
    DROP COLUMN has_email,
    DROP COLUMN has_name,
    DROP COLUMN wrapped_key,
    DROP COLUMN kek_id,
    DROP COLUMN contact;

-- Whether a batch's data file is encrypted to the partner's OpenPGP key is
-- decided once, when the batch is assembled, and recorded here, so that a
-- run resuming the batch (after a crash or a failed upload) sends it the
-- same way or stops (docs/batcher.md, "Encryption").
--
-- Before, a run decided from its own configuration: a batch assembled with
-- PARTNER_PGP_KEY_FILE, named ….csv.gpg, and resumed by a batcher started
-- without it was uploaded as plain CSV under the encrypted name, recorded
-- as sent and its data shredded.
--
-- * 'openpgp': the data file is encrypted to the partner's key; its name
--   ends in .gpg.
-- * 'none': plain CSV, which the batcher sends only when PARTNER_PLAINTEXT
--   allows it; its name does not end in .gpg.
--
-- The check ties the value to the file name, so that no row can promise a
-- .gpg file and hold a plain one. Existing batches get the value their
-- file name says (what they were assembled as). No default: a batcher that
-- does not say how it will send a batch cannot assemble one.
--
-- The batches table is already granted to booklets_service (060), which
-- covers a new column.
--
-- Numbered 080 because tern counts migrations: it must sort after every
-- migration already applied (070).
ALTER TABLE batches ADD COLUMN encryption text NULL;

UPDATE batches SET encryption = CASE WHEN data_file LIKE '%.gpg' THEN 'openpgp' ELSE 'none' END;

ALTER TABLE batches ALTER COLUMN encryption SET NOT NULL;

ALTER TABLE batches ADD CONSTRAINT batches_encryption CHECK (
    encryption IN ('openpgp', 'none') AND (encryption = 'openpgp') = (data_file LIKE '%.gpg'));

COMMENT ON COLUMN batches.encryption IS
    'how the data file is sent, decided at assembly: openpgp (to the partner''s key, *.gpg) or none (plain CSV)';

---- create above / drop below ----

ALTER TABLE batches DROP CONSTRAINT batches_encryption;
ALTER TABLE batches DROP COLUMN encryption;

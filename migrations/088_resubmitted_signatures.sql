-- A file rejected for its signature (missing, bad, by another key) may be
-- sent again with a new signature and the same bytes: the partner signs
-- the file it already has (docs/partner-interface.md, "Signing the
-- confirmation"). Until now a file was known by its name and content
-- alone, so the same bytes were answered with the earlier rejection,
-- whatever now sat beside them. A file is now known by its content and its
-- signature (pkg/adapter/postgres ledger.go and updates.go look for an
-- accepted record of the bytes, or a record with the same signature), so
-- a rejected file can be recorded again; an accepted one stays unique.
ALTER TABLE confirmations DROP CONSTRAINT confirmations_file_name_file_sha256_key;
CREATE UNIQUE INDEX confirmations_accepted_file ON confirmations (file_name, file_sha256) WHERE accepted;
CREATE INDEX confirmations_file ON confirmations (file_name, file_sha256);

ALTER TABLE partner_update_files DROP CONSTRAINT partner_update_files_file_name_file_sha256_key;
CREATE UNIQUE INDEX partner_update_files_accepted_file ON partner_update_files (file_name, file_sha256) WHERE accepted;
CREATE UNIQUE INDEX partner_update_files_signed_file ON partner_update_files (file_name, file_sha256, coalesce(signature_sha256, ''));

---- create above / drop below ----

DROP INDEX partner_update_files_signed_file;
DROP INDEX partner_update_files_accepted_file;
ALTER TABLE partner_update_files ADD CONSTRAINT partner_update_files_file_name_file_sha256_key UNIQUE (file_name, file_sha256);
DROP INDEX confirmations_file;
DROP INDEX confirmations_accepted_file;
ALTER TABLE confirmations ADD CONSTRAINT confirmations_file_name_file_sha256_key UNIQUE (file_name, file_sha256);

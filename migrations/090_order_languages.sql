-- The booklet language (issue 18): English (en), Welsh (cy) or both, a
-- fact of the order kept with its formats, not personal data.
--
-- * orders.languages, like orders.formats a text[], kept for statistics
--   and enquiries after the personal part is deleted. Orders stored before
--   this migration were all for English booklets: the default says so, and
--   is also what a row inserted without the column gets.
-- * order_personal.languages, a copy of the fact the batch file's rows
--   need, read with the sealed personal part from this table alone and
--   deleted with it (migration 070 explains why the facts are copied
--   there): the codes joined by commas, as formats is, e.g. 'en,cy'.
--
-- A constant default makes ADD COLUMN a change of the catalogue only: no
-- table is rewritten, however many orders it holds. The grants are per
-- table (060, 070), so the services' role reads and writes the columns
-- without a new grant. The view orders_with_batch (050) keeps the columns
-- it was made with: nothing reads the languages through it.
--
-- Numbered 090 because tern counts migrations: it must sort after every
-- migration already applied (089).

ALTER TABLE orders ADD COLUMN languages text[] NOT NULL DEFAULT '{en}'
    CONSTRAINT orders_languages_known CHECK (cardinality(languages) > 0 AND languages <@ '{en,cy}'::text[]);
COMMENT ON COLUMN orders.languages IS 'booklet languages: en, cy or both (issue 18); orders before it were English';

ALTER TABLE order_personal ADD COLUMN languages text NOT NULL DEFAULT 'en';
COMMENT ON COLUMN order_personal.languages IS 'booklet languages joined by commas, e.g. ''en,cy'': a copy of orders.languages for the batch file';

---- create above / drop below ----

ALTER TABLE order_personal DROP COLUMN languages;
ALTER TABLE orders DROP COLUMN languages;

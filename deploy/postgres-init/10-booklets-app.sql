-- Run once by the postgres image, as the owner (POSTGRES_USER, a
-- superuser), when it initialises an empty data volume; mounted into
-- /docker-entrypoint-initdb.d by docker-compose.yml. It makes the login
-- role the three services connect as: booklets_app, a member of the group
-- role booklets_service, which the migrations grant exactly what the
-- services need (no UPDATE or DELETE on the audit log; docs/reconciler.md,
-- "Database roles").
--
-- booklets_service is made here too, as the migrations make it (NOLOGIN,
-- no privileges of its own): the migrations only create it when it is
-- missing and then grant it the tables, so everything is in place in one
-- step and no later step needs the superuser again. See deploy/README.md.
--
-- The password is read from the secret file, never written here; psql
-- strips the trailing newline.
\set ON_ERROR_STOP on
\set app_password `cat /run/secrets/booklets_app_password`

SELECT 'CREATE ROLE booklets_service NOLOGIN'
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'booklets_service') \gexec

CREATE ROLE booklets_app LOGIN PASSWORD :'app_password' IN ROLE booklets_service;

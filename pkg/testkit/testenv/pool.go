package testenv

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"booklets/migrations"
)

// MigratedPool makes the test's own database (Database), applies every
// migration to it and returns a pool on it, closed when the test ends,
// with the database's URL.
func MigratedPool(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	ctx := context.Background()
	url := Database(t)
	conn, err := pgx.Connect(ctx, url)
	Must(t, err)
	err = migrations.Apply(ctx, conn)
	conn.Close(ctx)
	Must(t, err)
	pool, err := pgxpool.New(ctx, url)
	Must(t, err)
	t.Cleanup(pool.Close)
	return pool, url
}

// Tables lists every table and view of the database outside PostgreSQL's
// own catalogues, schema-qualified and quoted, for tests that scan all of
// them for personal data.
func Tables(t testing.TB, db *pgxpool.Pool) []string {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM information_schema.tables
		WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type IN ('BASE TABLE', 'VIEW')`)
	Must(t, err)
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	Must(t, err)
	return tables
}

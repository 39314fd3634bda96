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

package migrations_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"booklets/migrations"
	"booklets/pkg/testenv"
)

func TestApplyIsRepeatable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testenv.Database(t))
	testenv.Must(t, err)
	defer conn.Close(ctx)
	for range 2 {
		if err := migrations.Apply(ctx, conn); err != nil {
			t.Fatal(err)
		}
	}
	for _, table := range []string{"orders", "order_personal", "batches", "dead_letters"} {
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Errorf("table %s: %v", table, err)
		}
	}
}

func TestAllInOrder(t *testing.T) {
	t.Parallel()
	all, err := migrations.All()
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(all); i++ {
		if all[i].Number <= all[i-1].Number {
			t.Errorf("%s after %s", all[i].Name, all[i-1].Name)
		}
	}
}

// TestServiceRoleGrants checks that booklets_service, the role the services
// connect as, can read every table and view the migrations make (a new one
// without a GRANT would work in tests, run as the owner, and fail in
// production), and cannot change or remove audit entries.
func TestServiceRoleGrants(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testenv.Database(t))
	testenv.Must(t, err)
	defer conn.Close(ctx)
	testenv.Must(t, migrations.Apply(ctx, conn))
	rows, err := conn.Query(ctx, `
		SELECT n.nspname || '.' || c.relname
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'v', 'p') AND n.nspname IN ('public', 'research')
		  AND c.relname <> $1
		  AND NOT has_table_privilege('booklets_service', c.oid, 'SELECT')`, migrations.VersionTable)
	testenv.Must(t, err)
	missing, err := pgx.CollectRows(rows, pgx.RowTo[string])
	testenv.Must(t, err)
	for _, name := range missing {
		t.Errorf("booklets_service cannot read %s: grant it in the migration that makes it", name)
	}
	for _, priv := range []string{"UPDATE", "DELETE", "TRUNCATE"} {
		var has bool
		testenv.Must(t, conn.QueryRow(ctx, `SELECT has_table_privilege('booklets_service', 'audit_log', $1)`, priv).Scan(&has))
		if has {
			t.Errorf("booklets_service has %s on audit_log", priv)
		}
	}
}

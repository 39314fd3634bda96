package migrations_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"

	"booklets/migrations"
	"booklets/pkg/testkit/testenv"
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

// TestPartitionMigrationKeepsPersonalData applies migration 070 to a
// database holding personal parts in the unpartitioned table of 001: each
// moves, with its order's facts, to its day's partition; a sent day gets
// none. Migrating down puts them back.
func TestPartitionMigrationKeepsPersonalData(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testenv.Database(t))
	testenv.Must(t, err)
	defer conn.Close(ctx)
	all, err := migrations.All()
	testenv.Must(t, err)
	m, err := migrate.NewMigrator(ctx, conn, migrations.VersionTable)
	testenv.Must(t, err)
	before := int32(0) // tern's version: how many migrations have run
	for _, mig := range all {
		m.AppendMigration(mig.Name, mig.Up, mig.Down)
		if mig.Number < 70 {
			before++
		}
	}
	testenv.Must(t, m.MigrateTo(ctx, before))
	_, err = conn.Exec(ctx, `
		INSERT INTO orders (order_id, reference, received_at, business_date, area, formats) VALUES
			('00000000-0000-0000-0000-000000000001', 'REF1', '2026-11-23 10:00Z', '2026-11-23', 'kent', '{braille}'),
			('00000000-0000-0000-0000-000000000002', 'REF2', '2026-11-24 10:00Z', '2026-11-24', 'dyfed-powys', '{audio,easy-read}'),
			('00000000-0000-0000-0000-000000000003', 'REF3', '2026-11-24 11:00Z', '2026-11-24', 'kent', '{large-print}');
		INSERT INTO order_personal (order_id, data) VALUES
			('00000000-0000-0000-0000-000000000002', '\x0102'), ('00000000-0000-0000-0000-000000000003', '\x0304')`)
	testenv.Must(t, err)

	testenv.Must(t, m.Migrate(ctx))
	var n int
	var parts []string
	testenv.Must(t, conn.QueryRow(ctx, `SELECT count(*) FROM order_personal_20261124
		WHERE (reference, area, formats, data) IN (('REF2', 'dyfed-powys', 'audio,easy-read', '\x0102'), ('REF3', 'kent', 'large-print', '\x0304'))`).Scan(&n))
	testenv.Must(t, conn.QueryRow(ctx, `SELECT array_agg(c.relname::text) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'order_personal'::regclass`).Scan(&parts))
	if n != 2 || len(parts) != 1 {
		t.Errorf("after 070: %d rows moved, partitions %v", n, parts)
	}
	testenv.Must(t, conn.QueryRow(ctx, `SELECT count(*) FROM personal_data_held WHERE kind = 'order'`).Scan(&n))
	if n != 2 {
		t.Errorf("personal_data_held lists %d orders, want 2", n)
	}

	testenv.Must(t, m.MigrateTo(ctx, before))
	testenv.Must(t, conn.QueryRow(ctx, `SELECT count(*) FROM order_personal WHERE data IN ('\x0102', '\x0304')`).Scan(&n))
	if n != 2 {
		t.Errorf("after migrating down: %d rows", n)
	}
}

package postgres_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"booklets/migrations"
	"booklets/pkg/adapter/postgres"
	"booklets/pkg/stage/reconcile"
	"booklets/pkg/testkit/testenv"
)

// A run is recorded, with one audit entry for its unmatched files, by a
// member of booklets_service (as the services connect in production), and
// Stats reads it back: counts that only grow, and the last times.
func TestRunsRecordedAsServiceRole(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := testenv.Database(t)
	owner, err := pgx.Connect(ctx, dbURL)
	testenv.Must(t, err)
	defer owner.Close(ctx)
	testenv.Must(t, migrations.Apply(ctx, owner))
	role := testenv.Name("booklets_app")
	_, err = owner.Exec(ctx, "CREATE ROLE "+role+" LOGIN IN ROLE booklets_service")
	testenv.Must(t, err)
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), dbURL)
		if err == nil {
			_, err = c.Exec(context.Background(), "DROP ROLE IF EXISTS "+role)
			c.Close(context.Background())
		}
		if err != nil {
			t.Errorf("drop role %s: %v", role, err)
		}
	})
	u, err := url.Parse(dbURL)
	testenv.Must(t, err)
	u.User = url.User(role)
	pool, err := pgxpool.New(ctx, u.String())
	testenv.Must(t, err)
	defer pool.Close()
	led := postgres.NewLedger(pool)

	st, err := led.Stats(ctx)
	testenv.Must(t, err)
	if st != (postgres.Stats{}) {
		t.Fatalf("stats of an empty record: %+v", st)
	}
	t1 := time.Date(2026, 1, 5, 7, 0, 0, 0, time.UTC)
	testenv.Must(t, led.RecordRun(ctx, reconcile.Run{StartedAt: t1, FinishedAt: t1.Add(time.Second), OK: true,
		Summary: reconcile.Summary{Files: 3, Duplicates: 1, Unmatched: 2, UnmatchedBy: map[string]int{reconcile.BadName: 1, reconcile.Oversized: 1}}}))
	t2 := t1.Add(24 * time.Hour)
	testenv.Must(t, led.RecordRun(ctx, reconcile.Run{StartedAt: t2, FinishedAt: t2.Add(time.Second), OK: false}))

	st, err = led.Stats(ctx)
	testenv.Must(t, err)
	want := postgres.Stats{Unmatched: 2, Dupes: 1, LastRejected: t1.Add(time.Second), RunsOK: 1, RunsFailed: 1,
		LastOK: t1.Add(time.Second), LastFailed: t2.Add(time.Second)}
	if !st.LastRejected.Equal(want.LastRejected) || !st.LastOK.Equal(want.LastOK) || !st.LastFailed.Equal(want.LastFailed) {
		t.Errorf("times %+v, want %+v", st, want)
	}
	st.LastRejected, st.LastOK, st.LastFailed = want.LastRejected, want.LastOK, want.LastFailed
	if st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
	var details map[string]any
	var n int
	testenv.Must(t, owner.QueryRow(ctx, `SELECT count(*), min(details::text)::jsonb FROM audit_log WHERE kind = 'confirmations_unmatched'`).Scan(&n, &details))
	if n != 1 || details["files"] != 2.0 || details["bad_name"] != 1.0 || details["oversized"] != 1.0 || details["unknown_batch"] != 0.0 {
		t.Errorf("%d unmatched entries, details %v; want one counting 2", n, details)
	}
	// Runs are a record: the service role cannot rewrite them.
	if _, err := pool.Exec(ctx, "UPDATE reconcile_runs SET ok = true"); err == nil {
		t.Error("the service role could update reconcile_runs")
	}
}

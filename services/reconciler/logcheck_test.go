package main

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/domain/workdays"
	"booklets/pkg/stage/audit"
	"booklets/pkg/testkit/testenv"
)

// loggedBatch records a sent batch as the batcher does: the batches row
// and its batch_sent entry, in one transaction.
func (e *env) loggedBatch(id string, delivered time.Time, count int, sha string) time.Time {
	e.t.Helper()
	due := e.batch(id, delivered, count, sha)
	sentAt := delivered.Add(9 * time.Hour)
	testenv.Must(e.t, pgx.BeginFunc(context.Background(), e.db, func(tx pgx.Tx) error {
		_, err := postgres.AuditAppender{Now: func() time.Time { return sentAt }}.Append(context.Background(), tx, audit.Event{
			Kind: audit.BatchSent, BatchID: id, Details: map[string]any{
				"business_date": delivered.AddDate(0, 0, -1).Format(time.DateOnly), "record_count": count, "order_count": count,
				"sha256": sha, "delivery_date": delivered.Format(time.DateOnly), "due_date": due.Format(time.DateOnly)}})
		return err
	}))
	return due
}

// asService connects as a member of booklets_service, as the services do:
// what a compromised service could write.
func (e *env) asService() *pgxpool.Pool {
	e.t.Helper()
	ctx := context.Background()
	role := testenv.Name("booklets_app")
	_, err := e.db.Exec(ctx, "CREATE ROLE "+role+" LOGIN IN ROLE booklets_service")
	testenv.Must(e.t, err)
	u, err := url.Parse(e.vars["DATABASE_URL"])
	testenv.Must(e.t, err)
	u.User = url.User(role)
	pool, err := pgxpool.New(ctx, u.String())
	testenv.Must(e.t, err)
	e.t.Cleanup(func() {
		pool.Close()
		if _, err := e.db.Exec(context.Background(), "DROP ROLE IF EXISTS "+role); err != nil {
			e.t.Errorf("drop role %s: %v", role, err)
		}
	})
	return pool
}

// Issue 15: a confirmation inserted, or a due date moved, in the tables
// by the services' role behind the audit log's back raises
// booklets_reconciler_log_disagreements, as does a batch hidden from the
// tables (its state changed back from sent), and none stops the batch
// counting as overdue, in the metrics or in the run's overdue alerts.
func TestLogDisagreementsGaugeAndOverdue(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	today, err := workdays.London(time.Now())
	testenv.Must(t, err)
	long := today.AddDate(0, 0, -120)
	e.loggedBatch("B-FAKE", long, 3, sum('a'))
	e.loggedBatch("B-MOVED", long.AddDate(0, 0, 1), 4, sum('b'))
	e.loggedBatch("B-FINE", today.AddDate(0, 0, -1), 5, sum('c'))
	e.loggedBatch("B-HIDDEN", long.AddDate(0, 0, 2), 6, sum('e'))

	m := newMetrics(postgres.NewLedger(e.db), postgres.AuditTrail{DB: e.db}, nil, time.Now, zerolog.Nop())
	gauge := func(name string) float64 {
		t.Helper()
		fams, err := m.reg.Gather()
		testenv.Must(t, err)
		for _, f := range fams {
			if f.GetName() == name && len(f.GetMetric()) == 1 {
				return f.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatalf("no %s", name)
		return 0
	}
	if n, o := gauge("booklets_reconciler_log_disagreements"), gauge("booklets_reconciler_overdue_batches"); n != 0 || o != 3 {
		t.Fatalf("before tampering: %v disagreeing, %v overdue; want 0 and 3", n, o)
	}

	svc := e.asService()
	_, err = svc.Exec(ctx, `INSERT INTO confirmations (file_name, file_sha256, batch_id, accepted, record_count, sha256, deleted_at, received_at)
		VALUES ('deletion_B-FAKE.json', $1, 'B-FAKE', true, 3, $2, now(), now())`, sum('d'), sum('a'))
	testenv.Must(t, err)
	if n, o := gauge("booklets_reconciler_log_disagreements"), gauge("booklets_reconciler_overdue_batches"); n != 1 || o != 3 {
		t.Errorf("confirmation inserted: %v disagreeing, %v overdue; want 1 and 3", n, o)
	}
	_, err = svc.Exec(ctx, `UPDATE batches SET due_date = '2099-01-01' WHERE batch_id = 'B-MOVED'`)
	testenv.Must(t, err)
	if n, o := gauge("booklets_reconciler_log_disagreements"), gauge("booklets_reconciler_overdue_batches"); n != 2 || o != 3 {
		t.Errorf("due date moved too: %v disagreeing, %v overdue; want 2 and 3", n, o)
	}
	_, err = svc.Exec(ctx, `UPDATE batches SET state = 'uploaded' WHERE batch_id = 'B-HIDDEN'`)
	testenv.Must(t, err)
	if n, o := gauge("booklets_reconciler_log_disagreements"), gauge("booklets_reconciler_overdue_batches"); n != 3 || o != 3 {
		t.Errorf("a batch hidden too: %v disagreeing, %v overdue; want 3 and 3", n, o)
	}

	// The run's overdue alerts are raised on the log's word too, with the
	// log's due date.
	var s struct{ Overdue []string }
	testenv.Must(t, json.Unmarshal([]byte(e.run("check-now")), &s))
	slices.Sort(s.Overdue)
	if !slices.Equal(s.Overdue, []string{"B-FAKE", "B-HIDDEN", "B-MOVED"}) {
		t.Errorf("check-now overdue %v, want B-FAKE, B-HIDDEN and B-MOVED", s.Overdue)
	}
	var due time.Time
	testenv.Must(t, e.db.QueryRow(ctx, `SELECT due_date FROM overdue_alerts WHERE batch_id = 'B-MOVED'`).Scan(&due))
	if want := e.cal.DueDate(long.AddDate(0, 0, 1)); !due.Equal(want) {
		t.Errorf("overdue alert for B-MOVED with due date %s, want the log's %s", due.Format(time.DateOnly), want.Format(time.DateOnly))
	}
}

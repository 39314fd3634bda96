package postgres_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/stage/audit"
	"booklets/pkg/testkit/testenv"
)

func database(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, _ := testenv.MigratedPool(t)
	return pool
}

func appendAll(t *testing.T, db *pgxpool.Pool, clock func() time.Time, events ...audit.Event) []audit.Entry {
	t.Helper()
	ctx := context.Background()
	var out []audit.Entry
	for _, ev := range events {
		err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
			e, err := postgres.AuditAppender{Now: clock}.Append(ctx, tx, ev)
			out = append(out, e)
			return err
		})
		testenv.Must(t, err)
	}
	return out
}

var events = []audit.Event{
	{Kind: audit.BatchSent, BatchID: "2025-03-04", Details: map[string]any{"record_count": 3, "sha256": strings.Repeat("0f", 32)}},
	{Kind: audit.PersonalDataDeleted, BatchID: "2025-03-04", Details: map[string]any{"count": 3}},
	{Kind: audit.OverdueRaised, BatchID: "2025-03-04", Details: map[string]any{"due_date": "2025-04-15"}},
	{Kind: audit.ConfirmationAccepted, BatchID: "2025-03-04", Details: map[string]any{"file": "deletion_2025-03-04.json", "early": false}},
}

func fixedClock() func() time.Time {
	t := time.Date(2025, 3, 4, 23, 5, 0, 987654321, time.UTC)
	return func() time.Time { t = t.Add(time.Minute); return t }
}

func TestAppendAndVerify(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := database(t)
	res, err := postgres.VerifyAudit(ctx, db)
	testenv.Must(t, err)
	if !res.OK || res.Entries != 0 {
		t.Fatalf("empty log: %+v", res)
	}
	written := appendAll(t, db, fixedClock(), events...)
	res, err = postgres.VerifyAudit(ctx, db)
	testenv.Must(t, err)
	if !res.OK || res.Entries != 4 || res.HeadSeq != 4 || res.HeadHash != written[3].Hash {
		t.Fatalf("Verify = %s", res)
	}
	stored, err := postgres.AuditForBatch(ctx, db, "2025-03-04")
	testenv.Must(t, err)
	if len(stored) != 4 {
		t.Fatalf("ForBatch: %d entries", len(stored))
	}
	for i := range stored {
		if !stored[i].At.Equal(written[i].At) || stored[i].Hash != written[i].Hash {
			t.Errorf("entry %d stored as %+v, written %+v", i+1, stored[i], written[i])
		}
	}
	// The contract's simple form.
	testenv.Must(t, pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		return postgres.AppendAudit(ctx, tx, audit.Event{Kind: audit.DayKeyDestroyed, Details: map[string]any{"day": "2025-03-04"}})
	}))
	res, err = postgres.VerifyAudit(ctx, db)
	testenv.Must(t, err)
	if !res.OK || res.HeadSeq != 5 {
		t.Fatalf("after Append: %s", res)
	}
}

// A rolled-back append leaves no trace and no gap.
func TestRollbackLeavesNoGap(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := database(t)
	appendAll(t, db, fixedClock(), events[0])
	errBoom := errors.New("the batch transaction failed")
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if err := postgres.AppendAudit(ctx, tx, events[1]); err != nil {
			return err
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatal(err)
	}
	written := appendAll(t, db, fixedClock(), events[2])
	if written[0].Seq != 2 {
		t.Fatalf("seq after rollback = %d, want 2", written[0].Seq)
	}
	res, err := postgres.VerifyAudit(ctx, db)
	testenv.Must(t, err)
	if !res.OK || res.Entries != 2 {
		t.Fatalf("Verify = %s", res)
	}
}

func TestConcurrentAppendsStayLinear(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := database(t)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
				return postgres.AppendAudit(ctx, tx, audit.Event{Kind: audit.OrderErased, Details: map[string]any{"n": i}})
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		testenv.Must(t, err)
	}
	res, err := postgres.VerifyAudit(ctx, db)
	testenv.Must(t, err)
	if !res.OK || res.Entries != 40 {
		t.Fatalf("Verify = %s", res)
	}
}

func TestRowsCannotBeChangedEvenByTheOwner(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := database(t)
	appendAll(t, db, fixedClock(), events...)
	for _, stmt := range []string{
		`UPDATE audit_log SET details = '{"count": 2}' WHERE seq = 2`,
		`DELETE FROM audit_log WHERE seq = 4`,
		`TRUNCATE audit_log`,
	} {
		_, err := db.Exec(ctx, stmt)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: error %v, want the append-only trigger to refuse", stmt, err)
		}
	}
	res, err := postgres.VerifyAudit(ctx, db)
	testenv.Must(t, err)
	if !res.OK || res.Entries != 4 {
		t.Fatalf("Verify = %s", res)
	}
}

// The services' role may add and read entries and nothing else.
func TestServiceRoleCannotUpdateOrDelete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := database(t)
	appendAll(t, db, fixedClock(), events[:2]...)
	conn, err := db.Acquire(ctx)
	testenv.Must(t, err)
	defer conn.Release()
	// A superuser may become a NOLOGIN role; privileges are then checked
	// as that role's, exactly as for a login role granted it.
	_, err = conn.Exec(ctx, "SET ROLE booklets_service")
	testenv.Must(t, err)
	defer conn.Exec(ctx, "RESET ROLE")

	tx, err := conn.Begin(ctx)
	testenv.Must(t, err)
	testenv.Must(t, postgres.AppendAudit(ctx, tx, events[2]))
	testenv.Must(t, tx.Commit(ctx))

	for _, stmt := range []string{
		`UPDATE audit_log SET kind = 'batch_sent' WHERE seq = 1`,
		`DELETE FROM audit_log WHERE seq = 1`,
		`TRUNCATE audit_log`,
		`ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete`,
	} {
		_, err := conn.Exec(ctx, stmt)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || (pgErr.Code != "42501" && pgErr.Code != "42P01") {
			t.Errorf("%s as booklets_service: error %v, want permission denied", stmt, err)
		}
	}
	res, err := postgres.VerifyAudit(ctx, conn)
	testenv.Must(t, err)
	if !res.OK || res.Entries != 3 {
		t.Fatalf("Verify = %s", res)
	}
}

// tamper runs statements as the superuser with the append-only trigger
// switched off, as an insider with full access could.
func tamper(t *testing.T, db *pgxpool.Pool, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	testenv.Must(t, pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete"); err != nil {
			return err
		}
		for _, s := range stmts {
			if _, err := tx.Exec(ctx, s); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, "ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update_delete")
		return err
	}))
}

func TestTamperingIsCaught(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		stmts  []string
		seq    int64
		reason string
	}{
		{"count changed", []string{`UPDATE audit_log SET details = '{"count": 2}' WHERE seq = 2`}, 2, "altered"},
		{"time moved", []string{`UPDATE audit_log SET at = at - interval '3 days' WHERE seq = 3`}, 3, "altered"},
		{"batch renamed", []string{`UPDATE audit_log SET batch_id = '2025-03-05' WHERE seq = 1`}, 1, "altered"},
		{"entry deleted", []string{`DELETE FROM audit_log WHERE seq = 3`}, 4, "missing"},
		{"entry deleted and later ones renumbered", []string{
			`DELETE FROM audit_log WHERE seq = 2`,
			`UPDATE audit_log SET seq = seq - 1 WHERE seq > 2`,
		}, 2, "prev_hash"},
		{"entry inserted out of chain", []string{
			`INSERT INTO audit_log (seq, at, kind, batch_id, details, prev_hash, hash)
			 VALUES (5, now(), 'confirmation_accepted', '2025-03-05', '{}', repeat('1', 64), repeat('2', 64))`,
		}, 5, "prev_hash"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := database(t)
			appendAll(t, db, fixedClock(), events...)
			tamper(t, db, tc.stmts...)
			res, err := postgres.VerifyAudit(ctx, db)
			testenv.Must(t, err)
			if res.OK || res.BrokenSeq != tc.seq || !strings.Contains(res.Reason, tc.reason) {
				t.Fatalf("Verify = %s, want broken at %d (%s)", res, tc.seq, tc.reason)
			}
		})
	}
}

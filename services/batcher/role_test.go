package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/domain/order"
	"booklets/pkg/domain/reference"
	"booklets/pkg/stage/reconcile"
	"booklets/pkg/testkit/sftptest"
	"booklets/pkg/testkit/testenv"
)

// serviceRoleURL creates a login role that is a member of booklets_service,
// as docs/reconciler.md tells operators to, and returns dbURL with that
// role as the user. Roles belong to the whole cluster: the name is unique
// and the role is dropped when the test ends. The migrations must have run
// (they create booklets_service).
func serviceRoleURL(t *testing.T, dbURL string) string {
	t.Helper()
	ctx := context.Background()
	role := testenv.Name("booklets_app")
	owner, err := pgx.Connect(ctx, dbURL)
	testenv.Must(t, err)
	defer owner.Close(ctx)
	_, err = owner.Exec(ctx, "CREATE ROLE "+role+" LOGIN IN ROLE booklets_service")
	testenv.Must(t, err)
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), dbURL)
		if err != nil {
			t.Errorf("drop role %s: %v", role, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP ROLE IF EXISTS "+role); err != nil {
			t.Errorf("drop role %s: %v", role, err)
		}
	})
	u, err := url.Parse(dbURL)
	testenv.Must(t, err)
	u.User = url.User(role)
	return u.String()
}

// The services run as a member of booklets_service with MIGRATE=false:
// the batcher stores orders from the stream and sends a batch (day keys,
// batches, personal data deleted, audit entries), the reconciler's ledger
// records the partner's confirmation and raises alerts, and the role
// cannot change or remove an audit entry.
func TestServicesRunAsServiceRole(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dbURL := testenv.Database(t)
	orders := testenv.Orders(t)
	srv := sftptest.Start(t)
	kek := testKEK("k1")
	// The owner migrates, without the KEK (as the compose migrate step).
	owner := map[string]string{"DATABASE_URL": dbURL}
	testenv.Must(t, run(ctx, []string{"migrate"}, func(k string) string { return owner[k] }, nil, &testenv.Buffer{}))
	appURL := serviceRoleURL(t, dbURL)

	env := serviceEnv(appURL, orders, srv, map[string]string{"MIGRATE": "false", "KEK": kek})
	getenv := func(k string) string { return env[k] }
	out := &testenv.Buffer{}
	served := make(chan error, 1)
	go func() { served <- run(ctx, nil, getenv, nil, out) }()

	// The intake's side, as the same role: it makes the day keys.
	keys := testKeys(t, appURL, kek)
	received := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC) // a day that has closed
	for i := range 2 {
		o := order.Order{ID: uuid.NewString(), Reference: reference.New(), ReceivedAt: received.Add(time.Duration(i) * time.Minute),
			Area: "dyfed-powys", Formats: []order.Format{order.LargePrint},
			Personal: order.Personal{Name: "Ada Lovelace", AddressLine1: "12 St James's Square", Town: "London", Postcode: "SW1Y 4JH"}}
		_, err := orders.Publish(ctx, sealOrder(t, keys, o), o.ID)
		testenv.Must(t, err)
	}
	conn, err := pgx.Connect(ctx, dbURL) // the owner, to watch
	testenv.Must(t, err)
	defer conn.Close(ctx)
	deadline := time.Now().Add(20 * time.Second)
	for n := 0; n != 2; {
		_ = conn.QueryRow(ctx, `SELECT count(*) FROM orders`).Scan(&n)
		if time.Now().After(deadline) {
			t.Fatalf("%d orders stored; log:\n%s", n, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	var sendOut testenv.Buffer
	if err := run(ctx, []string{"send-now", "--date", "2026-11-20"}, getenv, nil, &sendOut); err != nil {
		t.Fatalf("send-now as the service role: %v\n%s", err, sendOut.String())
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("service as the service role: %v", err)
	}
	if strings.Contains(out.String(), "permission denied") {
		t.Errorf("permission denied in the service's log:\n%s", out.String())
	}
	var batchID, sum string
	var count int
	testenv.Must(t, conn.QueryRow(context.Background(),
		`SELECT batch_id, sha256, record_count FROM batches WHERE state = 'sent'`).Scan(&batchID, &sum, &count))

	// The reconciler's ledger, as the service role.
	bg := context.Background()
	pool, err := pgxpool.New(bg, appURL)
	testenv.Must(t, err)
	defer pool.Close()
	// deleted_at is in whole seconds and must not be before sent_at.
	now := time.Now().Add(2 * time.Second)
	data, err := json.Marshal(map[string]any{"format_version": reconcile.FormatVersion, "batch_id": batchID,
		"record_count": count, "sha256": sum, "deleted_at": now.UTC().Format(time.RFC3339), "deleted_by": "Data protection officer"})
	testenv.Must(t, err)
	f := reconcile.NewFile("deletion_"+batchID+".json", data)
	rec, _, err := postgres.NewLedger(pool).Record(bg, f, now, func(b *reconcile.Batch, a *reconcile.Recorded) reconcile.Recorded {
		return reconcile.Judge(f, b, a, now)
	})
	if err != nil || !rec.Accepted {
		t.Fatalf("record a confirmation as the service role: %v (reason %q)", err, rec.Reason)
	}
	if _, err := postgres.NewLedger(pool).States(bg, reconcile.Filter{}); err != nil {
		t.Errorf("read the states as the service role: %v", err)
	}

	// The audit log: appended to above, never changed or removed.
	var entries int
	testenv.Must(t, pool.QueryRow(bg, `SELECT count(*) FROM audit_log`).Scan(&entries))
	if entries == 0 {
		t.Error("no audit entries")
	}
	for _, stmt := range []string{`UPDATE audit_log SET kind = kind`, `DELETE FROM audit_log`, `TRUNCATE audit_log`} {
		_, err := pool.Exec(bg, stmt)
		var pgErr *pgconn.PgError
		// 42501 is insufficient_privilege: refused by the grants, before
		// the append-only trigger (which would raise P0001) is reached.
		if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
			t.Errorf("%s as the service role: %v, want permission denied", stmt, err)
		}
	}
}

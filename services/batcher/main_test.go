package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/csv"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/domain/batchfile"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/order"
	"booklets/pkg/domain/reference"
	"booklets/pkg/domain/seal"
	"booklets/pkg/testkit/sftptest"
	"booklets/pkg/testkit/testenv"
)

// End to end: orders published on the stream are consumed by the running
// service, `send-now` sends them, the partner's file matches row by row,
// and no personal data is left in the database.
func TestServiceEndToEnd(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dbURL := testenv.Database(t)
	orders := testenv.Orders(t)
	srv := sftptest.Start(t)
	env := serviceEnv(dbURL, orders, srv, map[string]string{"KEK": testKEK("k1")})
	getenv := func(k string) string { return env[k] }
	// The intake's side: day keys in the same database, the same KEK.
	if err := run(ctx, []string{"migrate"}, getenv, nil, &testenv.Buffer{}); err != nil {
		t.Fatal(err)
	}
	keys := testKeys(t, dbURL, env["KEK"])
	out := &testenv.Buffer{}
	served := make(chan error, 1)
	go func() { served <- run(ctx, nil, getenv, nil, out) }()

	received := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC) // a day that has closed
	people := []order.Personal{
		{Name: "Ada Lovelace", AddressLine1: "12 St James's Square", Town: "London", Postcode: "SW1Y 4JH"},
		{Name: "=SUM(A1:A9)", AddressLine1: "1, \"Comma\" Close", AddressLine2: "Two\r\nLines", Town: "Cardiff", Postcode: "CF10 1AA"},
		{Name: "Gwenllïan ap Siôn", AddressLine1: "Tŷ Mawr", Town: "Aberystwyth", Postcode: "SY23 1AA"},
	}
	var sent []order.Order
	for i, p := range people {
		o := order.Order{ID: uuid.NewString(), Reference: reference.New(), ReceivedAt: received.Add(time.Duration(i) * time.Minute),
			Area: "dyfed-powys", Formats: []order.Format{order.LargePrint}, Personal: p}
		if _, err := orders.Publish(ctx, sealOrder(t, keys, o), o.ID); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, o)
	}
	conn, err := waitForDB(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	deadline := time.Now().Add(20 * time.Second)
	for {
		var n int
		_ = conn.QueryRow(ctx, `SELECT count(*) FROM orders`).Scan(&n)
		if n == len(people) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d orders stored; log:\n%s", n, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	var sendOut testenv.Buffer
	if err := run(ctx, []string{"send-now", "--date", "2026-11-20"}, getenv, nil, &sendOut); err != nil {
		t.Fatalf("send-now: %v\n%s", err, sendOut.String())
	}
	if !strings.Contains(sendOut.String(), "sent batch B20261120-") || !strings.Contains(sendOut.String(), "encryption none") {
		t.Errorf("send-now said %s", sendOut.String())
	}
	matches, _ := filepath.Glob(srv.Path("outbox", "booklets_2026-11-20_*.csv"))
	if len(matches) != 1 {
		t.Fatalf("data files %v", matches)
	}
	raw, err := os.ReadFile(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(sent)+1 || strings.Join(rows[0], ",") != strings.Join(batchfile.Header, ",") {
		t.Fatalf("rows %q", rows)
	}
	for i, o := range sent {
		p := o.Personal
		want := []string{o.Reference.String(), "dyfed-powys", "Dyfed-Powys", "large-print",
			batchfile.Neutralise(p.Name), p.AddressLine1, p.AddressLine2, p.Town, p.Postcode, "en"}
		// encoding/csv reads a CRLF inside a quoted field back as LF.
		want[6] = strings.ReplaceAll(want[6], "\r\n", "\n")
		if strings.Join(rows[i+1], "|") != strings.Join(want, "|") {
			t.Errorf("row %d = %q, want %q", i+1, rows[i+1], want)
		}
	}
	var personal, kept int
	testenv.Must(t, conn.QueryRow(ctx, `SELECT count(*) FROM order_personal`).Scan(&personal))
	testenv.Must(t, conn.QueryRow(ctx, `SELECT count(*) FROM orders_with_batch WHERE batch_id IS NOT NULL AND personal_deleted_at IS NOT NULL`).Scan(&kept))
	if personal != 0 || kept != len(sent) {
		t.Errorf("%d personal parts left, %d orders kept", personal, kept)
	}
	// Nothing personal in what the service logged.
	for _, p := range people {
		if strings.Contains(out.String()+sendOut.String(), p.Name) || strings.Contains(out.String(), p.Postcode) {
			t.Errorf("personal data in the log")
		}
	}

	// Sending again reports the batch as already sent.
	sendOut = testenv.Buffer{}
	if err := run(ctx, []string{"send-now", "--date", "2026-11-20"}, getenv, nil, &sendOut); err != nil || !strings.Contains(sendOut.String(), "already sent") {
		t.Errorf("second send-now: %v %s", err, sendOut.String())
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}

func waitForDB(ctx context.Context, url string) (*pgx.Conn, error) {
	return pgx.Connect(ctx, url)
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	env := map[string]string{"BATCH_CUTOFF": "25:00", "SFTP_RETRIES": "x", "RETENTION_GRACE": "soon"}
	err := run(context.Background(), []string{"send-now"}, func(k string) string { return env[k] }, nil, &bytes.Buffer{})
	for _, want := range []string{"BATCH_CUTOFF", "SFTP_RETRIES", "RETENTION_GRACE", "KEK_FILE", "KEK"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s: %v", want, err)
		}
	}
	env = map[string]string{"DATABASE_URL": testenv.Database(t), "KEK": testKEK("k1")}
	if err := run(context.Background(), []string{"send-now", "--date", "2999-01-01"}, func(k string) string { return env[k] }, nil, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "has not closed") {
		t.Errorf("future date: %v", err)
	}
	open := businessday.DefaultCutoff.DateOf(time.Now()).String()
	if err := run(context.Background(), []string{"send-now", "--date", open}, func(k string) string { return env[k] }, nil, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "has not closed") {
		t.Errorf("the open business day %s: %v", open, err)
	}
	if err := run(context.Background(), []string{"send-now"}, func(k string) string { return env[k] }, nil, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "SFTP_KEY_FILE") {
		t.Errorf("missing SFTP settings: %v", err)
	}
	if err := run(context.Background(), []string{"migrate"}, func(k string) string { return env[k] }, nil, &bytes.Buffer{}); err != nil {
		t.Errorf("migrate: %v", err)
	}
	// The migration step is not given the KEK: migrate works without it.
	noKEK := map[string]string{"DATABASE_URL": env["DATABASE_URL"]}
	if err := run(context.Background(), []string{"migrate"}, func(k string) string { return noKEK[k] }, nil, &bytes.Buffer{}); err != nil {
		t.Errorf("migrate without a KEK: %v", err)
	}
}

// Plain CSV is never the silent fallback of a missing partner key: without
// PARTNER_PGP_KEY_FILE and without PARTNER_PLAINTEXT=true the service does
// not start and send-now does not send, and the two together are refused;
// each error names the settings, before anything is connected to.
func TestPlaintextMustBeAskedFor(t *testing.T) {
	t.Parallel()
	base := map[string]string{"KEK": testKEK("k1"), "SFTP_KEY_FILE": "/nonexistent/key", "SFTP_KNOWN_HOSTS": "/nonexistent/known_hosts",
		"DATABASE_URL": "postgres://nobody@127.0.0.1:1/none", "NATS_URL": "nats://127.0.0.1:1", "HTTP_ADDR": "127.0.0.1:0"}
	for _, c := range []struct {
		name  string
		extra map[string]string
		want  []string
	}{
		{"neither", nil, []string{"PARTNER_PGP_KEY_FILE must be set", "PARTNER_PLAINTEXT=true"}},
		{"plaintext false", map[string]string{"PARTNER_PLAINTEXT": "false"}, []string{"PARTNER_PGP_KEY_FILE must be set"}},
		{"both", map[string]string{"PARTNER_PLAINTEXT": "true", "PARTNER_PGP_KEY_FILE": "/nonexistent/partner.asc"},
			[]string{"PARTNER_PLAINTEXT=true and PARTNER_PGP_KEY_FILE are both set"}},
	} {
		env := map[string]string{}
		maps.Copy(env, base)
		maps.Copy(env, c.extra)
		getenv := func(k string) string { return env[k] }
		for _, args := range [][]string{nil, {"send-now"}, {"send-now", "--date", "2026-11-20"}} {
			var out testenv.Buffer
			err := run(context.Background(), args, getenv, nil, &out)
			for _, w := range c.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("%s, %q: %v, want it to say %q", c.name, args, err, w)
				}
			}
			if strings.Contains(out.String(), "sent batch") {
				t.Errorf("%s, %q sent: %s", c.name, args, out.String())
			}
		}
	}
}

// testKEK returns a KEK ring setting with one fresh key.
func testKEK(id string) string {
	k := make([]byte, seal.KeySize)
	rand.Read(k)
	return id + ":" + base64.StdEncoding.EncodeToString(k)
}

// testKeys is the intake's view of the day keys in a test database.
func testKeys(t *testing.T, dbURL, kek string) *postgres.DayKeys {
	t.Helper()
	ring, err := seal.ParseRing(kek)
	testenv.Must(t, err)
	pool, err := pgxpool.New(context.Background(), dbURL)
	testenv.Must(t, err)
	t.Cleanup(pool.Close)
	return postgres.NewDayKeys(pool, ring)
}

// sealOrder seals an order as the intake does.
func sealOrder(t *testing.T, keys *postgres.DayKeys, o order.Order) order.SealedOrder {
	t.Helper()
	day := businessday.DefaultCutoff.DateOf(o.ReceivedAt)
	k, err := keys.GetOrCreate(context.Background(), day)
	testenv.Must(t, err)
	so, err := order.Seal(o, day, k)
	testenv.Must(t, err)
	return so
}

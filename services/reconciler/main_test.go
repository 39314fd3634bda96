package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/adapter/web/auditors"
	"booklets/pkg/domain/workdays"
	"booklets/pkg/testkit/sftptest"
	"booklets/pkg/testkit/testenv"
)

type env struct {
	t    *testing.T
	vars map[string]string
	srv  *sftptest.Server
	db   *pgxpool.Pool
	cal  *workdays.Calendar
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv := sftptest.Start(t)
	e := &env{t: t, srv: srv, cal: workdays.New(), vars: map[string]string{
		"DATABASE_URL":     testenv.Database(t),
		"SFTP_ADDR":        srv.Addr,
		"SFTP_USER":        srv.User,
		"SFTP_KEY_FILE":    srv.KeyFile,
		"SFTP_KNOWN_HOSTS": srv.KnownHosts,
		"HTTP_ADDR":        "127.0.0.1:0",
		"LOG_LEVEL":        "disabled",
		// These tests' partner does not sign (receipts_test.go tests
		// signatures): the transition setting lets its files through.
		"ACCEPT_UNSIGNED_CONFIRMATIONS": "true",
	}}
	// Migrate through the command itself.
	e.run("verify-audit")
	db, err := pgxpool.New(context.Background(), e.vars["DATABASE_URL"])
	testenv.Must(t, err)
	t.Cleanup(db.Close)
	e.db = db
	testenv.Must(t, os.MkdirAll(srv.Path("confirmations"), 0o755))
	return e
}

func (e *env) getenv(k string) string { return e.vars[k] }

func (e *env) run(args ...string) string {
	e.t.Helper()
	out, err := e.runErr(args...)
	if err != nil {
		e.t.Fatalf("reconciler %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (e *env) runErr(args ...string) (string, error) {
	var b bytes.Buffer
	err := run(context.Background(), args, e.getenv, &b)
	return b.String(), err
}

// batch records a sent batch as the batcher would, delivered on the given
// London date.
func (e *env) batch(id string, delivered time.Time, count int, sha string) time.Time {
	e.t.Helper()
	due := e.cal.DueDate(delivered)
	_, err := e.db.Exec(context.Background(), `INSERT INTO batches
		(batch_id, business_date, state, record_count, order_count, sha256, data_file, manifest_file, created_at, sent_at, delivery_date, due_date, encryption)
		VALUES ($1, $2, 'sent', $3, $3, $4, $1 || '.csv', $1 || '.manifest.json', $5, $5, $6, $7, 'none')`,
		id, delivered.AddDate(0, 0, -1), count, sha, delivered.Add(9*time.Hour), delivered, due)
	testenv.Must(e.t, err)
	return due
}

// confirm writes a confirmation as the partner would.
func (e *env) confirm(name string, body any) {
	e.t.Helper()
	b, err := json.Marshal(body)
	testenv.Must(e.t, err)
	testenv.Must(e.t, os.WriteFile(e.srv.Path("confirmations", name), b, 0o644))
}

func conf(id string, count int, sha string, deleted time.Time) map[string]any {
	return map[string]any{"format_version": 1, "batch_id": id, "record_count": count, "sha256": sha,
		"deleted_at": deleted.Format(time.RFC3339), "deleted_by": "Data protection officer"}
}

func sum(c byte) string { return strings.Repeat(string([]byte{c}), 64) }

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func TestEndToEnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	today, err := workdays.London(time.Now())
	testenv.Must(t, err)
	long := today.AddDate(0, 0, -120)
	recent := e.cal.AddWorkdays(today.AddDate(0, 0, -10), 0)

	dueOK := e.batch("B-OK", long, 12, sum('a'))
	e.batch("B-SUM", long.AddDate(0, 0, 1), 5, sum('b'))
	e.batch("B-COUNT", long.AddDate(0, 0, 2), 7, sum('c'))
	dueLate := e.batch("B-NONE", long.AddDate(0, 0, 3), 3, sum('d'))
	e.batch("B-EARLY", recent, 4, sum('e'))
	e.batch("B-WAIT", today.AddDate(0, 0, -1), 9, sum('f'))

	e.confirm("deletion_B-OK.json", conf("B-OK", 12, sum('a'), dueOK.Add(11*time.Hour)))
	e.confirm("deletion_B-SUM.json", conf("B-SUM", 5, sum('0'), today))
	e.confirm("deletion_B-COUNT.json", conf("B-COUNT", 6, sum('c'), today))
	e.confirm("deletion_B-GHOST.json", conf("B-GHOST", 1, sum('1'), today))
	e.confirm("deletion_B-EARLY.json", conf("B-EARLY", 4, sum('e'), today.Add(-12*time.Hour)))

	var s struct{ Files, Accepted, Rejected, Duplicates, Unmatched int }
	testenv.Must(t, json.Unmarshal([]byte(e.run("check-now")), &s))
	if s.Files != 5 || s.Accepted != 2 || s.Rejected != 2 || s.Unmatched != 1 || s.Duplicates != 0 {
		t.Fatalf("first run: %+v", s)
	}
	for _, p := range []string{"processed/deletion_B-OK.json", "processed/deletion_B-EARLY.json"} {
		if !exists(e.srv.Path("confirmations", p)) {
			t.Errorf("%s not moved to processed", p)
		}
	}
	rejected, _ := filepath.Glob(e.srv.Path("confirmations", "rejected", "*.json"))
	if len(rejected) != 3 {
		t.Errorf("rejected folder holds %d files, want 3", len(rejected))
	}
	if left, _ := filepath.Glob(e.srv.Path("confirmations", "*.json")); len(left) != 0 {
		t.Errorf("files left in the confirmations folder: %v", left)
	}
	reasons := map[string]string{}
	rows, err := e.db.Query(ctx, "SELECT batch_id, reason FROM confirmations WHERE NOT accepted")
	testenv.Must(t, err)
	for rows.Next() {
		var id, reason string
		testenv.Must(t, rows.Scan(&id, &reason))
		reasons[id] = reason
	}
	testenv.Must(t, rows.Err())
	for id, want := range map[string]string{"B-SUM": "sha256 does not match", "B-COUNT": "record_count 6 does not match the 7"} {
		if !strings.Contains(reasons[id], want) {
			t.Errorf("%s rejected with %q, want %q", id, reasons[id], want)
		}
	}

	// Re-running is harmless: the same file again is a duplicate, not a
	// new record; a different file for a confirmed batch is rejected.
	e.confirm("deletion_B-OK.json", conf("B-OK", 12, sum('a'), dueOK.Add(11*time.Hour)))
	testenv.Must(t, json.Unmarshal([]byte(e.run("check-now")), &s))
	if s.Files != 1 || s.Duplicates != 1 || s.Accepted != 0 || s.Rejected != 0 {
		t.Fatalf("duplicate run: %+v", s)
	}
	e.confirm("deletion_B-OK.json", conf("B-OK", 12, sum('a'), dueOK.Add(12*time.Hour)))
	testenv.Must(t, json.Unmarshal([]byte(e.run("check-now")), &s))
	if s.Rejected != 1 {
		t.Fatalf("second, different confirmation: %+v", s)
	}
	var n int
	testenv.Must(t, e.db.QueryRow(ctx, "SELECT count(*) FROM confirmations WHERE batch_id = 'B-OK'").Scan(&n))
	if n != 2 {
		t.Errorf("B-OK has %d confirmation records, want 2 (accepted, then rejected)", n)
	}

	// Overdue: B-NONE (no confirmation), and B-SUM and B-COUNT (only
	// rejected ones: their status is rejected, but they are overdue all the
	// same), alerted once per day however often the check runs.
	testenv.Must(t, e.db.QueryRow(ctx, "SELECT count(*) FROM overdue_alerts").Scan(&n))
	if n != 3 {
		t.Errorf("%d overdue alerts, want 3", n)
	}
	testenv.Must(t, e.db.QueryRow(ctx, "SELECT count(*) FROM audit_log WHERE kind = 'overdue_raised'").Scan(&n))
	if n != 3 {
		t.Errorf("%d overdue_raised audit entries, want 3", n)
	}

	// The report.
	out := e.run("report", "--from", long.AddDate(0, 0, -1).Format(time.DateOnly), "--to", today.Format(time.DateOnly), "--format", "json")
	var report []map[string]any
	testenv.Must(t, json.Unmarshal([]byte(out), &report))
	status, dueDates := map[string]string{}, map[string]any{}
	for _, r := range report {
		status[r["batch_id"].(string)] = r["status"].(string)
		dueDates[r["batch_id"].(string)] = r["due_date"]
		for _, k := range []string{"batch_id", "business_date", "record_count", "sent_at", "delivery_date", "due_date", "confirmed_at", "status", "deleted_at",
			"dispatched", "returned"} {
			if _, ok := r[k]; !ok {
				t.Errorf("report row lacks %s", k)
			}
		}
		if _, dev := r["deviation"]; len(r) != 11 && !(dev && len(r) == 12) {
			t.Errorf("report row has %d fields, want 11 (12 with a deviation): %v", len(r), r)
		}
	}
	// B-SUM and B-COUNT are past due, but their last confirmation was
	// rejected: that is their status (the alerts above still counted them).
	want := map[string]string{"B-OK": "confirmed", "B-SUM": "rejected", "B-COUNT": "rejected", "B-NONE": "overdue", "B-EARLY": "confirmed_early", "B-WAIT": "awaiting"}
	for id, st := range want {
		if status[id] != st {
			t.Errorf("%s status %q, want %q", id, status[id], st)
		}
	}
	if dueDates["B-NONE"] != dueLate.Format(time.DateOnly) {
		t.Errorf("B-NONE due date %v, want %s", dueDates["B-NONE"], dueLate.Format(time.DateOnly))
	}
	day := long.AddDate(0, 0, -1).Format(time.DateOnly) // B-OK's business date
	out = e.run("report", "--from", day, "--to", day, "--format", "csv")
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	testenv.Must(t, err)
	if len(recs) != 2 || strings.Join(recs[0], ",") != "batch_id,business_date,record_count,sent_at,delivery_date,due_date,confirmed_at,status,deleted_at,deviation,dispatched,returned" || recs[1][0] != "B-OK" {
		t.Errorf("CSV report:\n%s", out)
	}
	if _, err := e.runErr("report", "--format", "xml"); err == nil {
		t.Error("report --format xml: no error")
	}

	// The audit log verifies, and tampering is caught and named.
	if out := e.run("verify-audit"); !strings.Contains(out, "verified") {
		t.Errorf("verify-audit: %s", out)
	}
	_, err = e.db.Exec(ctx, `BEGIN;
		ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete;
		UPDATE audit_log SET details = details || '{"early": true}' WHERE seq = 1;
		ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update_delete;
		COMMIT`)
	testenv.Must(t, err)
	out, err = e.runErr("verify-audit")
	if err == nil || !strings.Contains(err.Error(), "seq 1") || !strings.Contains(out, "BROKEN at seq 1") {
		t.Errorf("verify-audit after tampering: %v\n%s", err, out)
	}
}

// Overdue alerts with an injected clock: raised on the first day after the
// due date, once per day, until a confirmation is accepted.
func TestOverdueAlertsDaily(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	cfg, err := readConfig(e.getenv)
	testenv.Must(t, err)
	rec := reconciler(cfg, postgres.NewLedger(e.db), zerolog.Nop())
	delivered := workdays.Date(2025, 3, 3)
	due := e.batch("B-1", delivered, 2, sum('a'))
	if due.Format(time.DateOnly) != "2025-04-14" {
		t.Fatalf("due %s", due.Format(time.DateOnly))
	}
	at := func(day string, hour int) time.Time {
		d, _ := time.Parse(time.DateOnly, day)
		return d.Add(time.Duration(hour) * time.Hour)
	}
	check := func(now time.Time, wantOverdue, wantRaised int) {
		t.Helper()
		s, err := rec.Reconcile(ctx, now)
		testenv.Must(t, err)
		if len(s.Overdue) != wantOverdue || s.Raised != wantRaised {
			t.Fatalf("at %s: overdue %v raised %d, want %d and %d", now, s.Overdue, s.Raised, wantOverdue, wantRaised)
		}
		var ran int
		testenv.Must(t, e.db.QueryRow(ctx, "SELECT overdue FROM reconcile_runs ORDER BY run_id DESC LIMIT 1").Scan(&ran))
		if ran != wantOverdue {
			t.Fatalf("run recorded %d overdue, want %d", ran, wantOverdue)
		}
	}
	check(at("2025-04-14", 22), 0, 0) // the due date itself: still in time
	check(at("2025-04-15", 7), 1, 1)
	check(at("2025-04-15", 15), 1, 0) // same day: no repeat
	check(at("2025-04-16", 7), 1, 1)  // next day: again
	e.confirm("deletion_B-1.json", conf("B-1", 2, sum('a'), at("2025-04-16", 9)))
	check(at("2025-04-16", 10), 0, 0)
	check(at("2025-04-17", 7), 0, 0)
	var n int
	testenv.Must(t, e.db.QueryRow(ctx, "SELECT count(*) FROM audit_log WHERE kind = 'overdue_raised'").Scan(&n))
	if n != 2 {
		t.Errorf("%d overdue_raised entries, want 2", n)
	}
	res, err := postgres.VerifyAudit(ctx, e.db)
	testenv.Must(t, err)
	if !res.OK {
		t.Fatal(res)
	}
}

func TestAuditorPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	today, err := workdays.London(time.Now())
	testenv.Must(t, err)
	e.batch("B-LATE", today.AddDate(0, 0, -90), 3, sum('d'))
	e.batch("B-WAIT", today.AddDate(0, 0, -1), 9, sum('f'))
	hash, err := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost)
	testenv.Must(t, err)
	auth := auditors.Auth{Token: "s3cret-token-0123456789abcdefghijkl", User: "auditor", PasswordHash: string(hash)}
	get := func(srv *httptest.Server, path string, set func(*http.Request)) (int, string, http.Header) {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if set != nil {
			set(req)
		}
		resp, err := srv.Client().Do(req)
		testenv.Must(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	newServer := func(a auditors.Auth) *httptest.Server {
		w, err := auditors.New(postgres.NewLedger(e.db), a, time.Now, zerolog.Nop(), nil)
		testenv.Must(t, err)
		mux := http.NewServeMux()
		w.Register(mux)
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		return srv
	}
	srv := newServer(auth)
	bearer := func(r *http.Request) { r.Header.Set("Authorization", "Bearer s3cret-token-0123456789abcdefghijkl") }
	for _, p := range []string{"/audit", "/audit/batches.csv", "/api/v1/batches"} {
		if code, _, h := get(srv, p, nil); code != http.StatusUnauthorized || h.Get("WWW-Authenticate") == "" {
			t.Errorf("%s without credentials: %d", p, code)
		}
		if code, _, _ := get(srv, p, func(r *http.Request) { r.Header.Set("Authorization", "Bearer wrong") }); code != http.StatusUnauthorized {
			t.Errorf("%s with a wrong token: %d", p, code)
		}
		if code, _, _ := get(srv, p, func(r *http.Request) { r.SetBasicAuth("auditor", "wrong") }); code != http.StatusUnauthorized {
			t.Errorf("%s with a wrong password: %d", p, code)
		}
	}
	code, body, _ := get(srv, "/audit", func(r *http.Request) { r.SetBasicAuth("auditor", "correct horse") })
	if code != 200 || !strings.Contains(body, "B-LATE") || !strings.Contains(body, "B-WAIT") {
		t.Fatalf("/audit with basic auth: %d\n%s", code, body)
	}
	if !strings.Contains(body, `id="oldest-overdue">Batch B-LATE`) || !strings.Contains(body, `data-status="overdue">1<`) || !strings.Contains(body, `data-status="awaiting">1<`) {
		t.Errorf("summary missing or wrong:\n%s", body)
	}
	code, body, _ = get(srv, "/audit?status=awaiting", bearer)
	if code != 200 || strings.Contains(body, `data-batch="B-LATE"`) || !strings.Contains(body, `data-batch="B-WAIT"`) {
		t.Errorf("/audit?status=awaiting: %d\n%s", code, body)
	}
	if code, _, _ := get(srv, "/audit?from=yesterday", bearer); code != http.StatusBadRequest {
		t.Errorf("bad date: %d", code)
	}
	code, body, h := get(srv, "/audit/batches.csv?status=overdue", bearer)
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/csv") || !strings.Contains(body, "B-LATE") || strings.Contains(body, "B-WAIT") {
		t.Errorf("CSV: %d %s\n%s", code, h.Get("Content-Type"), body)
	}
	code, body, _ = get(srv, "/api/v1/batches", bearer)
	var api struct {
		Counts        map[string]int   `json:"counts"`
		OldestOverdue *string          `json:"oldest_overdue"`
		Batches       []map[string]any `json:"batches"`
	}
	testenv.Must(t, json.Unmarshal([]byte(body), &api))
	if code != 200 || api.Counts["overdue"] != 1 || api.OldestOverdue == nil || *api.OldestOverdue != "B-LATE" || len(api.Batches) != 2 {
		t.Errorf("JSON: %d\n%s", code, body)
	}

	// No credentials configured: refuse rather than serve openly.
	open := newServer(auditors.Auth{})
	if code, body, _ := get(open, "/audit", nil); code != http.StatusServiceUnavailable || !strings.Contains(body, "AUDIT_TOKEN") {
		t.Errorf("unconfigured: %d %s", code, body)
	}
}

// The whole service boots, answers health checks and guards /audit.
func TestServe(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.vars["AUDIT_TOKEN"] = strings.Repeat("t", 32)
	e.vars["LOG_LEVEL"] = "info"
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, e.getenv, pw); pw.Close() }()
	addr := make(chan string, 1)
	go func() {
		dec := json.NewDecoder(pr)
		for {
			var line map[string]any
			if err := dec.Decode(&line); err != nil {
				return
			}
			if a, ok := line["addr"].(string); ok {
				addr <- a
			}
		}
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case err := <-done:
		t.Fatalf("reconciler stopped: %v", err)
	}
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/audit": 401, "/metrics": 200} {
		resp, err := http.Get(base + path)
		testenv.Must(t, err)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// daemon runs the service with cfg until the test ends, and returns its
// address once it listens; ran is closed after the start-up check.
func (e *env) daemon(cfg config) (addr string, ran <-chan struct{}) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- runCommand(ctx, cfg, command{}, pw); pw.Close() }()
	addrs, checked := make(chan string, 1), make(chan struct{})
	go func() {
		dec := json.NewDecoder(pr)
		closed := false
		for {
			var line map[string]any
			if err := dec.Decode(&line); err != nil {
				io.Copy(io.Discard, pr)
				return
			}
			if a, ok := line["addr"].(string); ok {
				addrs <- a
			}
			if line["message"] == "reconciliation run" && !closed {
				close(checked)
				closed = true
			}
		}
	}()
	e.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("reconciler: %v", err)
		}
	})
	select {
	case a := <-addrs:
		return a, checked
	case err := <-done:
		e.t.Fatalf("reconciler stopped: %v", err)
	}
	return "", nil
}

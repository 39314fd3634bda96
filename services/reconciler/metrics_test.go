package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"booklets/pkg/testkit/testenv"
)

// /metrics has the reconciler's metrics after a run that accepted one
// confirmation and rejected another, with only fixed label values (no
// batch id, no file name); the auditors' token is read from
// AUDIT_TOKEN_FILE.
func TestMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tokenFile := filepath.Join(t.TempDir(), "audit_token")
	testenv.Must(t, os.WriteFile(tokenFile, []byte("file-token-0123456789abcdefghijkl\n"), 0o600))
	e.vars["AUDIT_TOKEN_FILE"] = tokenFile
	e.vars["LOG_LEVEL"] = "info"

	delivered := time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC)
	due := e.batch("B20250105-GOOD01", delivered, 3, sum('a'))
	e.batch("B20250105-BAD001", delivered.AddDate(0, 0, 1), 2, sum('b'))
	e.confirm("deletion_B20250105-GOOD01.json", conf("B20250105-GOOD01", 3, sum('a'), due.Add(10*time.Hour)))
	e.confirm("deletion_B20250105-BAD001.json", conf("B20250105-BAD001", 99, sum('b'), due.Add(10*time.Hour)))

	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, e.getenv, pw); pw.Close() }()
	addr, ran := make(chan string, 1), make(chan struct{})
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
			if line["message"] == "reconciliation run" {
				close(ran)
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
	<-ran // the start-up check

	req, _ := http.NewRequest("GET", base+"/api/v1/batches", nil)
	req.Header.Set("Authorization", "Bearer file-token-0123456789abcdefghijkl")
	resp, err := http.DefaultClient.Do(req)
	testenv.Must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("token from AUDIT_TOKEN_FILE: %s", resp.Status)
	}
	// A one-shot `check-now` (its own instance, as an operator's would be
	// its own process) meets a bad confirmation and a junk file: the
	// daemon's /metrics shows both, read from the database.
	e.batch("B20250105-LATE01", delivered.AddDate(0, 0, 2), 4, sum('c'))
	e.confirm("deletion_B20250105-LATE01.json", conf("B20250105-LATE01", 4, sum('d'), due.Add(10*time.Hour)))
	testenv.Must(t, os.WriteFile(e.srv.Path("confirmations", "junk.txt"), []byte("not a confirmation"), 0o644))
	var s struct{ Rejected, Unmatched int }
	testenv.Must(t, json.Unmarshal([]byte(e.run("check-now")), &s))
	if s.Rejected != 1 || s.Unmatched != 1 {
		t.Fatalf("check-now: %+v", s)
	}

	fams := testenv.Scrape(t, base+"/metrics")
	testenv.CheckMetrics(t, fams, []string{
		"booklets_reconciler_overdue_batches", "booklets_reconciler_confirmations_total",
		"booklets_reconciler_batches", "booklets_reconciler_runs_total", "booklets_reconciler_volunteer_reviews_due",
		"booklets_reconciler_last_rejected_confirmation_timestamp_seconds", "booklets_reconciler_last_run_timestamp_seconds",
		"booklets_reconciler_sign_in_failures_total",
	}, map[string][]string{
		"status": {"accepted", "rejected", "unmatched", "duplicate", "awaiting", "confirmed", "confirmed_early", "confirmed_late", "overdue"},
		"result": {"ok", "failed", "refused", "limited"},
	})
	for _, c := range []struct {
		name, label, value string
		want               float64
	}{
		{"booklets_reconciler_confirmations_total", "status", "accepted", 1},
		{"booklets_reconciler_confirmations_total", "status", "rejected", 2},
		{"booklets_reconciler_confirmations_total", "status", "unmatched", 1},
		{"booklets_reconciler_batches", "status", "confirmed", 1},
		{"booklets_reconciler_batches", "status", "rejected", 2},
		{"booklets_reconciler_runs_total", "result", "ok", 2},
		// Both batches past their due date without an accepted confirmation.
		{"booklets_reconciler_overdue_batches", "", "", 2},
	} {
		if got, ok := testenv.Value(fams, c.name, c.label, c.value); !ok || got != c.want {
			t.Errorf("%s{%s=%q} = %v (present %v), want %v", c.name, c.label, c.value, got, ok, c.want)
		}
	}
	checkNow := time.Now()
	for name, label := range map[string]string{"booklets_reconciler_last_rejected_confirmation_timestamp_seconds": "",
		"booklets_reconciler_last_run_timestamp_seconds": "result"} {
		value := ""
		if label != "" {
			value = "ok"
		}
		got, ok := testenv.Value(fams, name, label, value)
		if at := time.Unix(int64(got), 0); !ok || at.Before(checkNow.Add(-time.Minute)) || at.After(checkNow.Add(time.Minute)) {
			t.Errorf("%s = %v (present %v), want about %s", name, got, ok, checkNow.UTC())
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

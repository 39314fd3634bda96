package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/adapter/web/auditors"
	"booklets/pkg/testkit/testenv"
)

// The auditors' page shows the batcher's retention watchdog finding: how
// much personal data is held past the end of its day, and for how long.
func TestAuditorsPageShowsRetention(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := testenv.MigratedPool(t)

	page := func() string {
		t.Helper()
		w, err := auditors.New(postgres.NewLedger(db), auditors.Auth{Token: retentionToken}, time.Now, zerolog.Nop(), nil)
		testenv.Must(t, err)
		w.Retention = postgres.NewLedger(db)
		mux := http.NewServeMux()
		w.Register(mux)
		srv := httptest.NewServer(mux)
		defer srv.Close()
		req, _ := http.NewRequest("GET", srv.URL+"/audit", nil)
		req.Header.Set("Authorization", "Bearer "+retentionToken)
		resp, err := srv.Client().Do(req)
		testenv.Must(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("/audit: %d %s", resp.StatusCode, b)
		}
		return string(b)
	}
	if body := page(); !strings.Contains(body, "it has not checked yet") || !strings.Contains(body, `id="retention-overdue">0<`) {
		t.Errorf("before any check:\n%s", body)
	}
	_, err := db.Exec(ctx, `INSERT INTO retention_check (id, checked_at, held, overdue, oldest_overdue_at, grace_seconds)
		VALUES (1, now(), 5, 2, now() - interval '30 hours', 7200)`)
	testenv.Must(t, err)
	if body := page(); !strings.Contains(body, `id="retention-overdue">2<`) || !strings.Contains(body, `id="retention-oldest-age">30h0m0s<`) {
		t.Errorf("after a check:\n%s", body)
	}
}

const retentionToken = "retention-test-token-0123456789ab"

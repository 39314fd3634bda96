package auditors_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/adapter/web/auditors"
	"booklets/pkg/domain/batchfile"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/testkit/testenv"
)

// servicePool connects as a member of booklets_service, the role the
// services run as: what a compromised service could do.
func servicePool(t *testing.T, dbURL string) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	owner, err := pgx.Connect(ctx, dbURL)
	testenv.Must(t, err)
	defer owner.Close(ctx)
	role := testenv.Name("booklets_app")
	_, err = owner.Exec(ctx, "CREATE ROLE "+role+" LOGIN IN ROLE booklets_service")
	testenv.Must(t, err)
	u, err := url.Parse(dbURL)
	testenv.Must(t, err)
	u.User = url.User(role)
	pool, err := pgxpool.New(ctx, u.String())
	testenv.Must(t, err)
	t.Cleanup(func() {
		pool.Close()
		c, err := pgx.Connect(context.Background(), dbURL)
		if err == nil {
			_, err = c.Exec(context.Background(), "DROP ROLE IF EXISTS "+role)
			c.Close(context.Background())
		}
		if err != nil {
			t.Errorf("drop role %s: %v", role, err)
		}
	})
	return pool
}

// Issue 15: what the page says is what the log proves. Three batches are
// sent as the batcher sends them (batch_sent in the audit log); then, as
// the services' role behind the log's back, one gets an accepted
// confirmation with no audit entry and another's due date is moved to
// 2099, and a third is hidden (its state changed back from sent). The
// page, the CSV and the API show each as disagreeing with the log and say
// how, with the log's due date and status: all are still overdue. The
// untouched batch agrees.
func TestPageChecksBatchesAgainstTheAuditLog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := testenv.Database(t)
	clock := testenv.NewClock(time.Date(2026, 9, 1, 9, 0, 0, 0, time.UTC))
	st, err := postgres.OpenOrders(ctx, dbURL, clock.Now)
	testenv.Must(t, err)
	t.Cleanup(st.Close)
	testenv.Must(t, st.Migrate(ctx))
	ids := map[string]string{}
	for name, day := range map[string]businessday.Date{
		"confirmed": {Year: 2026, Month: 9, Day: 1}, "moved": {Year: 2026, Month: 9, Day: 2}, "honest": {Year: 2026, Month: 11, Day: 25},
		"hidden": {Year: 2026, Month: 9, Day: 3},
	} {
		clock.Set(day.UTC().Add(33 * time.Hour)) // the morning after
		id := batchfile.NewBatchID(day)
		_, _, err := st.Assemble(ctx, postgres.Batch{ID: id, Date: day, CreatedAt: clock.Now(), DataFile: batchfile.DataFileName(day, id),
			ManifestFile: batchfile.ManifestFileName(day, id), Encryption: batchfile.EncryptionNone})
		testenv.Must(t, err)
		_, err = st.RecordSent(ctx, postgres.Sent{BatchID: id, SHA256: strings.Repeat("ab", 32), Records: 2, Orders: 2, SentAt: clock.Now(),
			DeliveryDate: day.AddDays(1), DueDate: day.AddDays(41)})
		testenv.Must(t, err)
		ids[name] = id
	}
	svc := servicePool(t, dbURL)
	_, err = svc.Exec(ctx, `INSERT INTO confirmations (file_name, file_sha256, batch_id, accepted, record_count, sha256, deleted_at, received_at)
		VALUES ('deletion_' || $1 || '.json', $2, $1, true, 2, $3, '2026-10-20T10:00:00Z', '2026-10-20T11:00:00Z')`,
		ids["confirmed"], strings.Repeat("cd", 32), strings.Repeat("ab", 32))
	testenv.Must(t, err)
	_, err = svc.Exec(ctx, `UPDATE batches SET due_date = '2099-01-01' WHERE batch_id = $1`, ids["moved"])
	testenv.Must(t, err)
	_, err = svc.Exec(ctx, `UPDATE batches SET state = 'uploaded' WHERE batch_id = $1`, ids["hidden"])
	testenv.Must(t, err)

	now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	srv, err := auditors.New(postgres.NewLedger(st.Pool()), auditors.Auth{Token: token}, func() time.Time { return now }, zerolog.Nop(), nil)
	testenv.Must(t, err)
	srv.Trail = postgres.AuditTrail{DB: st.Pool()}
	mux := http.NewServeMux()
	srv.Register(mux)
	get := func(path string) []byte {
		t.Helper()
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		body, _ := io.ReadAll(rec.Body)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: status %d: %s", path, rec.Code, body)
		}
		return body
	}

	page := get("/audit")
	for _, want := range []string{
		`(?s)data-batch="` + ids["confirmed"] + `".*?>Overdue</strong>.*?<strong class="govuk-tag govuk-tag--red" data-log-disagrees="true">Disagrees with the audit log</strong>\s*<ul[^>]*><li>confirmed by deletion_` + ids["confirmed"] + `.json in the confirmations table, but the log has no accepted confirmation</li></ul>`,
		`(?s)data-batch="` + ids["moved"] + `".*?13 Oct 2026</td>.*?>Overdue</strong>.*?Disagrees with the audit log</strong>\s*<ul[^>]*><li>due date 2099-01-01 in the batches table; the log says 2026-10-13</li></ul>`,
		`(?s)data-batch="` + ids["hidden"] + `".*?14 Oct 2026</td>.*?>Overdue</strong>.*?Disagrees with the audit log</strong>\s*<ul[^>]*><li>the audit log shows this batch sent \(entry \d+\), but the batches table does not list it as sent</li></ul>`,
	} {
		if !regexp.MustCompile(want).Match(page) {
			t.Errorf("page lacks %s:\n%s", want, page)
		}
	}
	if n := strings.Count(string(page), "Disagrees with the audit log"); n != 3 {
		t.Errorf("%d batches tagged as disagreeing, want 3 (the honest one agrees)", n)
	}

	var api struct {
		Counts  map[string]int `json:"counts"`
		Batches []struct {
			BatchID          string   `json:"batch_id"`
			DueDate          string   `json:"due_date"`
			Status           string   `json:"status"`
			ConfirmedAt      *string  `json:"confirmed_at"`
			LogDisagreements []string `json:"log_disagreements"`
		} `json:"batches"`
	}
	testenv.Must(t, json.Unmarshal(get("/api/v1/batches"), &api))
	if api.Counts["overdue"] != 3 || api.Counts["confirmed"] != 0 || api.Counts["awaiting"] != 1 || len(api.Batches) != 4 {
		t.Errorf("counts %v of %d batches: want 3 overdue (per the log), 1 awaiting", api.Counts, len(api.Batches))
	}
	for _, b := range api.Batches {
		switch b.BatchID {
		case ids["confirmed"]:
			if b.Status != "overdue" || b.ConfirmedAt != nil || len(b.LogDisagreements) != 1 || !strings.Contains(b.LogDisagreements[0], "no accepted confirmation") {
				t.Errorf("inserted confirmation: %+v", b)
			}
		case ids["moved"]:
			if b.Status != "overdue" || b.DueDate != "2026-10-13" || len(b.LogDisagreements) != 1 || !strings.Contains(b.LogDisagreements[0], "2099-01-01") {
				t.Errorf("moved due date: %+v", b)
			}
		case ids["hidden"]:
			if b.Status != "overdue" || b.DueDate != "2026-10-14" || len(b.LogDisagreements) != 1 {
				t.Errorf("hidden batch: %+v", b)
			}
		case ids["honest"]:
			if b.Status != "awaiting" || b.LogDisagreements != nil {
				t.Errorf("untouched batch: %+v", b)
			}
		}
	}
	// The status filter is on the status the log proves.
	if csv := string(get("/audit/batches.csv?status=overdue")); !strings.Contains(csv, ids["confirmed"]) || !strings.Contains(csv, ids["moved"]+",2026-09-02,2,") || !strings.Contains(csv, ids["hidden"]) || strings.Contains(csv, "2099") {
		t.Errorf("CSV of overdue batches:\n%s", csv)
	}

	// A chain broken behind the services' back (a superuser, triggers
	// off) proves nothing: every batch says so.
	owner, err := pgx.Connect(ctx, dbURL)
	testenv.Must(t, err)
	defer owner.Close(ctx)
	_, err = owner.Exec(ctx, `ALTER TABLE audit_log DISABLE TRIGGER USER;
		UPDATE audit_log SET details = jsonb_set(details, '{due_date}', '"2099-01-01"') WHERE kind = 'batch_sent' AND batch_id = '`+ids["moved"]+`';
		ALTER TABLE audit_log ENABLE TRIGGER USER`)
	testenv.Must(t, err)
	page = get("/audit")
	if n := strings.Count(string(page), "the audit log does not verify (broken at entry"); n != 3 {
		t.Errorf("broken chain named for %d batches, want 3:\n%s", n, page)
	}
}

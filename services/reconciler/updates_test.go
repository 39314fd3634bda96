package main

import (
	"context"
	"encoding/csv"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/adapter/web/auditors"
	"booklets/pkg/domain/reference"
	"booklets/pkg/domain/workdays"
	"booklets/pkg/stage/reconcile"
	"booklets/pkg/testkit/gnupg"
	"booklets/pkg/testkit/partnersim"
	"booklets/pkg/testkit/testenv"
)

// order records an order of the batch's business date, as the intake and
// the batcher would (its personal part long deleted).
func (e *env) order(ref string, businessDate time.Time, formats ...string) {
	e.t.Helper()
	_, err := e.db.Exec(context.Background(), `INSERT INTO orders (order_id, reference, received_at, business_date, area, formats)
		VALUES (gen_random_uuid(), $1, $2, $3, 'staffordshire', $4)`, ref, businessDate.Add(10*time.Hour), businessDate, formats)
	testenv.Must(e.t, err)
}

// updates writes an updates file as the partner would (made by the partner
// simulator's writer), signed by signer unless nil, and returns its path.
func (e *env) updates(name string, signer *gnupg.Home, rows ...reconcile.UpdateRow) string {
	e.t.Helper()
	testenv.Must(e.t, os.MkdirAll(e.srv.Path("updates"), 0o755))
	p := e.srv.Path("updates", name)
	testenv.Must(e.t, os.WriteFile(p, partnersim.UpdatesCSV(rows), 0o644))
	if signer != nil {
		signer.SignFile(p)
	}
	return p
}

// updatesReason reads the reason file beside the one rejected updates file
// matching glob.
func (e *env) updatesReason(glob string) string {
	e.t.Helper()
	all, _ := filepath.Glob(e.srv.Path("updates/rejected", glob))
	for _, f := range all {
		if strings.HasSuffix(f, ".reason.txt") {
			b, err := os.ReadFile(f)
			testenv.Must(e.t, err)
			return string(b)
		}
	}
	e.t.Fatalf("no reason file for updates/rejected/%s among %v", glob, all)
	return ""
}

// Dispatch and returns, end to end over the real SFTP server with the
// partner's signatures made by the real gpg: good files are recorded, with
// an audit entry each, and counted per batch on the page and in the
// report; bad ones (a reference of another batch, an unknown one, a
// duplicate, a bad header, no signature, a returned booklet sent again, a
// stray file) are rejected whole with a reason file saying what to change;
// each booklet's status can be asked by its reference.
func TestDispatchAndReturns(t *testing.T) {
	t.Parallel()
	partner := gnupg.New(t, "dpo@partner.example")
	e := receiptEnv(t, partner)
	today, err := workdays.London(time.Now())
	testenv.Must(t, err)
	delivered := today.AddDate(0, 0, -10)
	e.batch("B-UPD", delivered, 3, sum('a'))
	e.batch("B-ELSE", delivered.AddDate(0, 0, -1), 1, sum('b'))
	ref1, ref2, ref3, stranger := reference.New().String(), reference.New().String(), reference.New().String(), reference.New().String()
	e.order(ref1, delivered.AddDate(0, 0, -1), "braille", "audio")
	e.order(ref2, delivered.AddDate(0, 0, -1), "standard-print")
	e.order(ref3, delivered.AddDate(0, 0, -2), "large-print")
	row := func(ref, format, status string, on time.Time, reason string) reconcile.UpdateRow {
		return reconcile.UpdateRow{Reference: ref, Format: format, Status: status, Date: on, Reason: reason}
	}
	posted := delivered.AddDate(0, 0, 1)
	dispatch := e.updates("updates_B-UPD_dispatch.csv", partner,
		row(ref1, "braille", "dispatched", posted, ""), row(ref1, "audio", "dispatched", posted, ""), row(ref2, "standard-print", "dispatched", posted, ""))
	e.updates("updates_B-UPD_bad.csv", partner,
		row(ref3, "large-print", "dispatched", posted, ""), row(stranger, "audio", "dispatched", posted, ""),
		row(ref2, "standard-print", "dispatched", posted, ""), row(ref2, "standard-print", "dispatched", posted, ""))
	e.updates("updates_B-UPD_nosig.csv", nil, row(ref2, "standard-print", "dispatched", posted, ""))
	testenv.Must(t, os.WriteFile(e.srv.Path("updates", "updates_B-UPD_header.csv"), []byte("ref;format;status\r\n"+ref1+";audio;dispatched\r\n"), 0o644))
	partner.SignFile(e.srv.Path("updates", "updates_B-UPD_header.csv"))
	testenv.Must(t, os.WriteFile(e.srv.Path("updates", "notes.txt"), []byte("posted on Tuesday"), 0o644))

	s := e.checkNow()
	u, _ := s["updates"].(map[string]any)
	if u["files"] != 5.0 || u["accepted"] != 1.0 || u["rejected"] != 4.0 || u["failed"] != 0.0 {
		t.Fatalf("first run: updates %v (summary %v)", u, s)
	}
	for glob, want := range map[string][]string{
		"updates_B-UPD_bad.*": {"line 2: order " + ref3 + " was sent in batch B-ELSE, not B-UPD", "line 3: " + stranger + " is not an order reference of ours",
			"line 5: order " + ref2 + " standard-print is dispatched already on line 4", "nothing in it was recorded"},
		"updates_B-UPD_nosig.*":  {"no signature: updates_B-UPD_nosig.csv.asc is missing", "Sign the file with the key you registered"},
		"updates_B-UPD_header.*": {"the header must be exactly reference,format,status,date,reason"},
		"notes.*":                {"the file name is not updates_<batch id>.csv"},
	} {
		text := e.updatesReason(glob)
		for _, w := range want {
			if !strings.Contains(text, w) {
				t.Errorf("reason file %s lacks %q:\n%s", glob, w, text)
			}
		}
	}
	if text := e.updatesReason("updates_B-UPD_bad.*"); !(strings.Index(text, "line 2:") < strings.Index(text, "line 3:") && strings.Index(text, "line 3:") < strings.Index(text, "line 5:")) {
		t.Errorf("the problems are not in the order of the lines:\n%s", text)
	}
	for _, p := range []string{"updates/processed/updates_B-UPD_dispatch.csv", "updates/processed/updates_B-UPD_dispatch.csv.asc"} {
		if !exists(e.srv.Path(p)) {
			t.Errorf("%s missing", p)
		}
	}

	// A return, then a booklet returned being dispatched again, and the
	// dispatch file sent twice.
	returned := posted.AddDate(0, 0, 3)
	e.updates("updates_B-UPD_returns.csv", partner, row(ref1, "audio", "returned", returned, "addressee-unknown"))
	e.updates("updates_B-UPD_x-again.csv", partner, row(ref1, "audio", "dispatched", returned.AddDate(0, 0, 1), ""))
	b, err := os.ReadFile(e.srv.Path("updates/processed/updates_B-UPD_dispatch.csv"))
	testenv.Must(t, err)
	testenv.Must(t, os.WriteFile(dispatch, b, 0o644))
	partner.SignFile(dispatch)
	s = e.checkNow()
	if u, _ := s["updates"].(map[string]any); u["accepted"] != 1.0 || u["rejected"] != 1.0 || u["duplicates"] != 1.0 || u["failed"] != 0.0 {
		t.Fatalf("second run: updates %v", u)
	}
	if text := e.updatesReason("updates_B-UPD_x-again.*"); !strings.Contains(text, "a returned booklet is not sent again") {
		t.Errorf("dispatched after its return:\n%s", text)
	}
	if left, _ := os.ReadDir(e.srv.Path("updates")); len(left) != 2 { // processed/ and rejected/
		t.Errorf("files left in the updates folder: %v", left)
	}

	// Recorded: two accepted files, each with its audit entry (counts and
	// checksums, no rows), the booklets' statuses, and the counts per batch.
	ctx := context.Background()
	var entries int
	var details map[string]any
	testenv.Must(t, e.db.QueryRow(ctx, `SELECT count(*), (array_agg(details ORDER BY seq))[1] FROM audit_log
		WHERE kind = 'partner_updates_accepted' AND batch_id = 'B-UPD'`).Scan(&entries, &details))
	if entries != 2 || details["dispatched"] != 3.0 || details["returned"] != 0.0 || details["file_sha256"] != sha256File(t, e.srv.Path("updates/processed/updates_B-UPD_dispatch.csv")) || details["signer"] == nil {
		t.Errorf("audit: %d entries, first %v", entries, details)
	}
	led := postgres.NewLedger(e.db)
	st, err := led.OrderStatuses(ctx, ref1)
	testenv.Must(t, err)
	if len(st) != 2 || st[0].Format != "audio" || st[0].Status != reconcile.Returned || !st[0].ReturnedOn.Equal(returned) || st[0].ReturnReason != "addressee-unknown" ||
		!st[0].DispatchedOn.Equal(posted) || st[1].Format != "braille" || st[1].Status != reconcile.Dispatched || st[1].BatchID != "B-UPD" {
		t.Errorf("statuses of %s: %+v", ref1, st)
	}
	if st, err := led.OrderStatuses(ctx, ref3); err != nil || len(st) != 0 {
		t.Errorf("statuses of an order nothing was reported on: %+v %v", st, err)
	}
	recs, err := csv.NewReader(strings.NewReader(e.run("report"))).ReadAll()
	testenv.Must(t, err)
	if n := len(recs[0]); recs[0][n-2] != "dispatched" || recs[0][n-1] != "returned" {
		t.Fatalf("report header %v", recs[0])
	}
	for _, r := range recs[1:] {
		want := map[string]string{"B-UPD": "3 1", "B-ELSE": "0 0"}[r[0]]
		if got := r[len(r)-2] + " " + r[len(r)-1]; got != want {
			t.Errorf("report %s: dispatched and returned %s, want %s", r[0], got, want)
		}
	}
	w, err := auditors.New(led, auditors.Auth{Token: strings.Repeat("t", 32)}, time.Now, zerolog.Nop(), nil)
	testenv.Must(t, err)
	mux := http.NewServeMux()
	w.Register(mux)
	req := httptest.NewRequest("GET", "/audit", nil)
	req.Header.Set("Authorization", "Bearer "+strings.Repeat("t", 32))
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	if page := rec.Body.String(); rec.Code != 200 || !regexp.MustCompile(`(?s)data-batch="B-UPD".*?data-dispatched="3">3</td>\s*<td[^>]*data-returned="1">1</td>`).MatchString(page) {
		t.Errorf("the page does not count B-UPD's dispatched and returned booklets: %d\n%s", rec.Code, page)
	}
	// The rejected files with the reasons the partner was given.
	if page := rec.Body.String(); !regexp.MustCompile(`(?s)data-rejected-updates="updates_B-UPD_bad.csv">.*?line 2: order `+ref3).MatchString(page) ||
		!strings.Contains(page, `data-rejected-updates="updates_B-UPD_nosig.csv"`) {
		t.Errorf("the page does not list the rejected updates files with their reasons:\n%s", page)
	}
	if _, err := e.db.Exec(ctx, "DELETE FROM order_updates"); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Errorf("order_updates could be changed: %v", err)
	}

	// The file rejected for its missing signature, sent again as it was
	// but signed: judged again on what it says (migrations/088), not
	// answered with the earlier rejection.
	e.updates("updates_B-UPD_nosig.csv", partner, row(ref2, "standard-print", "dispatched", posted, ""))
	if u, _ := e.checkNow()["updates"].(map[string]any); u["files"] != 1.0 || u["duplicates"] != 0.0 || u["failed"] != 0.0 {
		t.Fatalf("the unsigned file signed: updates %v, want it judged again", u)
	}
}

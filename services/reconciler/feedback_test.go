package main

import (
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

	"github.com/rs/zerolog"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/adapter/web/auditors"
	"booklets/pkg/domain/workdays"
	"booklets/pkg/testkit/gnupg"
	"booklets/pkg/testkit/testenv"
)

// reasonFile reads the reason file beside the one rejected file matching
// glob (relative to the rejected folder), failing when there is not
// exactly one such file or it has no reason file.
func (e *env) reasonFile(glob string) string {
	e.t.Helper()
	all, _ := filepath.Glob(e.srv.Path("confirmations/rejected", glob))
	var files []string
	for _, f := range all {
		if !strings.HasSuffix(f, ".reason.txt") && !strings.HasSuffix(f, ".asc") {
			files = append(files, f)
		}
	}
	if len(files) != 1 {
		e.t.Fatalf("rejected/%s: %v, want one file", glob, all)
	}
	b, err := os.ReadFile(files[0] + ".reason.txt")
	if err != nil {
		e.t.Fatalf("no reason file beside %s: %v", files[0], err)
	}
	return string(b)
}

// The partner's feedback, end to end over the real SFTP server with the
// partner's signatures made by the real gpg: every rejection leaves a
// reason file beside the rejected file saying what was wrong and what to
// change, the same reason the auditors see; a confirmation with a mistyped
// batch id or a wrong name is listed on the page, in the API and in the
// report; a late deletion is confirmed_late with its deviation; a byte
// order mark and CRLF are tolerated; a regenerated confirmation that says
// the same is recognised as the same, one that says otherwise rejected.
func TestPartnerFeedback(t *testing.T) {
	t.Parallel()
	partner := gnupg.New(t, "dpo@partner.example")
	e := receiptEnv(t, partner)
	today, err := workdays.London(time.Now())
	testenv.Must(t, err)
	long := today.AddDate(0, 0, -120)
	ids := []string{"B-COUNT", "B-LATE", "B-SAME", "B-DIFF", "B-BOM", "B-NOSIG"}
	due := map[string]time.Time{}
	for i, id := range ids {
		due[id] = e.batch(id, long.AddDate(0, 0, i), 4, sum(byte('a'+i)))
	}
	onDue := func(id string) time.Time { return due[id].Add(10 * time.Hour) }
	signed := func(id string, count int, sha string, deleted time.Time) string {
		p := e.confFile(id, count, sha, deleted)
		partner.SignFile(p)
		return p
	}
	signed("B-COUNT", 5, sum('a'), onDue("B-COUNT"))
	lateAt := due["B-LATE"].AddDate(0, 0, 3).Add(10 * time.Hour)
	signed("B-LATE", 4, sum('b'), lateAt)
	samePath := signed("B-SAME", 4, sum('c'), onDue("B-SAME"))
	signed("B-DIFF", 4, sum('d'), onDue("B-DIFF"))
	// Written by a Windows editor: a byte order mark and CRLF line endings.
	bom := "\xef\xbb\xbf{\r\n  \"format_version\": 1,\r\n  \"batch_id\": \"B-BOM\",\r\n  \"record_count\": 4,\r\n  \"sha256\": \"" + sum('e') +
		"\",\r\n  \"deleted_at\": \"" + onDue("B-BOM").Format(time.RFC3339) + "\"\r\n}\r\n"
	bomPath := e.srv.Path("confirmations", "deletion_B-BOM.json")
	testenv.Must(t, os.WriteFile(bomPath, []byte(bom), 0o644))
	partner.SignFile(bomPath)
	e.confFile("B-NOSIG", 4, sum('f'), onDue("B-NOSIG"))
	signed("B-TYPO", 4, sum('a'), onDue("B-COUNT")) // a batch id we never sent
	testenv.Must(t, os.WriteFile(e.srv.Path("confirmations", "confirmation B-COUNT.json"), []byte("{}"), 0o644))

	s := e.checkNow()
	if s["accepted"] != 4.0 || s["rejected"] != 2.0 || s["unmatched"] != 2.0 || s["failed"] != 0.0 {
		t.Fatalf("first run: %v; want B-LATE, B-SAME, B-DIFF and B-BOM accepted, B-COUNT and B-NOSIG rejected, 2 unmatched", s)
	}
	for _, id := range []string{"B-LATE", "B-SAME", "B-DIFF", "B-BOM"} {
		if acc, reason, _ := e.outcome(id); !acc {
			t.Errorf("%s rejected: %s", id, reason)
		}
	}

	// A reason file beside every rejected file, saying what to change; the
	// same reason as recorded (and shown to auditors).
	for glob, want := range map[string][]string{
		"deletion_B-COUNT.*.json":     {"record_count 5 does not match the 4 records sent", "with the record_count from our manifest"},
		"deletion_B-NOSIG.*.json":     {"no signature: deletion_B-NOSIG.json.asc is missing", "Sign the file with the key you registered"},
		"deletion_B-TYPO.*.json":      {`unknown batch "B-TYPO"`, "Check the batch id against the names of the files we sent"},
		"confirmation B-COUNT.*.json": {"the file name is not deletion_<batch id>.json", "Name each confirmation deletion_<batch id>.json"},
	} {
		text := e.reasonFile(glob)
		for _, w := range want {
			if !strings.Contains(text, w) {
				t.Errorf("reason file of %s lacks %q:\n%s", glob, w, text)
			}
		}
		if !strings.Contains(text, "was not accepted") {
			t.Errorf("reason file of %s:\n%s", glob, text)
		}
	}
	if _, reason, _ := e.outcome("B-COUNT"); !strings.Contains(e.reasonFile("deletion_B-COUNT.*.json"), reason) {
		t.Errorf("the reason file does not say what was recorded (%q)", reason)
	}
	if left, _ := os.ReadDir(e.srv.Path("confirmations")); len(left) != 2 { // processed/ and rejected/
		t.Errorf("files left in the folder: %v", left)
	}

	// The partner regenerates B-SAME's confirmation (deleted_at 30 s off,
	// in UTC, signed again) and uploads B-DIFF's with another time; then
	// the very file B-SAME was accepted with, again.
	accepted, err := os.ReadFile(e.srv.Path("confirmations/processed/deletion_B-SAME.json"))
	testenv.Must(t, err)
	signed("B-SAME", 4, sum('c'), onDue("B-SAME").Add(30*time.Second).UTC())
	signed("B-DIFF", 4, sum('d'), onDue("B-DIFF").Add(2*time.Hour))
	s = e.checkNow()
	if s["accepted"] != 0.0 || s["rejected"] != 1.0 || s["duplicates"] != 1.0 || s["failed"] != 0.0 {
		t.Fatalf("second run: %v; want B-SAME a duplicate and B-DIFF rejected", s)
	}
	if acc, reason, _ := e.outcome("B-SAME"); !acc {
		t.Errorf("B-SAME's last record is a rejection: %s", reason)
	}
	if got, _ := os.ReadFile(e.srv.Path("confirmations/processed/deletion_B-SAME.json")); string(got) != string(accepted) {
		t.Error("the accepted file in processed/ was replaced by the regenerated one")
	}
	same, _ := filepath.Glob(e.srv.Path("confirmations/processed/deletion_B-SAME.*.json*"))
	if len(same) != 2 { // the regenerated file and its signature
		t.Errorf("regenerated confirmation in processed/ as %v", same)
	}
	if reasons, _ := filepath.Glob(e.srv.Path("confirmations/rejected/deletion_B-SAME*")); len(reasons) != 0 {
		t.Errorf("the same confirmation was treated as a rejection: %v", reasons)
	}
	if text := e.reasonFile("deletion_B-DIFF.*.json"); !strings.Contains(text, `batch "B-DIFF" was already confirmed by deletion_B-DIFF.json`) ||
		!strings.Contains(text, "deleted_at") {
		t.Errorf("B-DIFF's reason file:\n%s", text)
	}
	testenv.Must(t, os.WriteFile(samePath, accepted, 0o644))
	partner.SignFile(samePath)
	if s = e.checkNow(); s["duplicates"] != 1.0 || s["rejected"] != 0.0 {
		t.Errorf("the accepted file again: %v", s)
	}
	if left, _ := os.ReadDir(e.srv.Path("confirmations")); len(left) != 2 {
		t.Errorf("files left in the folder: %v", left)
	}

	// What the auditors see: the page, the API and the report.
	w, err := auditors.New(postgres.NewLedger(e.db), auditors.Auth{Token: strings.Repeat("t", 32)}, time.Now, zerolog.Nop(), nil)
	testenv.Must(t, err)
	mux := http.NewServeMux()
	w.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	get := func(path string) string {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+strings.Repeat("t", 32))
		resp, err := srv.Client().Do(req)
		testenv.Must(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d\n%s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	page := get("/audit")
	for _, want := range []string{`data-unmatched="deletion_B-TYPO.json" data-why="unknown_batch"`, `data-unmatched="confirmation B-COUNT.json" data-why="bad_name"`,
		`data-status-tag="confirmed_late"`, "Confirmed late", "after the due date " + due["B-LATE"].Format(time.DateOnly),
		`data-deleted-at="` + lateAt.UTC().Format("2 Jan 2006 15:04 UTC") + `"`, "Check the batch id against the names of the files we sent",
		"with the record_count from our manifest"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	var api struct {
		Counts    map[string]int `json:"counts"`
		Batches   []map[string]any
		Unmatched []map[string]any `json:"unmatched_files"`
	}
	testenv.Must(t, json.Unmarshal([]byte(get("/api/v1/batches")), &api))
	if api.Counts["confirmed_late"] != 1 || len(api.Unmatched) != 2 {
		t.Errorf("API: counts %v, unmatched %v", api.Counts, api.Unmatched)
	}
	for _, b := range api.Batches {
		if b["batch_id"] == "B-LATE" && (b["deleted_at"] != lateAt.UTC().Format(time.RFC3339) || !strings.Contains(b["deviation"].(string), "after the due date")) {
			t.Errorf("API B-LATE: %v", b)
		}
		if b["batch_id"] == "B-COUNT" && !strings.Contains(b["last_rejection"].(string), "with the record_count from our manifest") {
			t.Errorf("API B-COUNT: %v", b)
		}
	}
	recs, err := csv.NewReader(strings.NewReader(e.run("report"))).ReadAll()
	testenv.Must(t, err)
	found := false
	for _, r := range recs {
		if r[0] == "B-LATE" {
			found = true
			if r[7] != "confirmed_late" || r[8] != lateAt.UTC().Format(time.RFC3339) || !strings.Contains(r[9], "after the due date") {
				t.Errorf("report row %v", r)
			}
		}
	}
	if !found {
		t.Error("B-LATE not in the report")
	}
	recs, err = csv.NewReader(strings.NewReader(e.run("report", "--unmatched"))).ReadAll()
	testenv.Must(t, err)
	if len(recs) != 3 || strings.Join(recs[0], ",") != "seen_at,file_name,why,batch_id,file_sha256,reason" {
		t.Fatalf("report --unmatched:\n%v", recs)
	}
	for _, r := range recs[1:] {
		if (r[1] == "deletion_B-TYPO.json") != (r[2] == "unknown_batch" && r[3] == "B-TYPO") || r[5] == "" {
			t.Errorf("report --unmatched row %v", r)
		}
	}
	var rows []map[string]any
	testenv.Must(t, json.Unmarshal([]byte(e.run("report", "--unmatched", "--format", "json", "--from", today.Format(time.DateOnly))), &rows))
	if len(rows) != 2 {
		t.Errorf("report --unmatched --format json --from today: %v", rows)
	}
	testenv.Must(t, json.Unmarshal([]byte(e.run("report", "--unmatched", "--format", "json", "--to", today.AddDate(0, 0, -1).Format(time.DateOnly))), &rows))
	if len(rows) != 0 {
		t.Errorf("report --unmatched --to yesterday: %v", rows)
	}
}

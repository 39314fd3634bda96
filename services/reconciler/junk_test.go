package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/stage/reconcile"
	"booklets/pkg/testkit/testenv"
)

// A confirmations folder full of junk (the partner's mistakes, or an
// intruder's): files naming no batch of ours are moved to the rejected
// folder and counted in one audit entry for the run, not one each; a file
// over the size limit is quarantined instead of failing every run; a
// confirmation of one of our batches keeps its own entry, whatever is
// wrong with it; and no file stops the others.
func TestJunkInTheConfirmationsFolder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	delivered := time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC)
	due := e.batch("B-OK", delivered, 3, sum('a'))
	e.batch("B-BIG", delivered.AddDate(0, 0, 1), 3, sum('b'))
	e.batch("B-SUM", delivered.AddDate(0, 0, 2), 3, sum('c'))
	e.batch("B-NUL", delivered.AddDate(0, 0, 3), 3, sum('d'))
	deleted := due.Add(10 * time.Hour)

	e.confirm("deletion_B-OK.json", conf("B-OK", 3, sum('a'), deleted))
	e.confirm("deletion_B-SUM.json", conf("B-SUM", 3, sum('0'), deleted))
	nul := conf("B-NUL", 3, sum('d'), deleted)
	nul["deleted_by"] = "Data\x00protection officer" // PostgreSQL cannot store a NUL: it must not fail the file at every run
	e.confirm("deletion_B-NUL.json", nul)
	big := strings.Repeat(" ", reconcile.MaxFileSize) + `{"format_version":1}`
	testenv.Must(t, os.WriteFile(e.srv.Path("confirmations", "deletion_B-BIG.json"), []byte(big), 0o644))
	const junk, ghosts = 150, 20
	for i := range junk {
		testenv.Must(t, os.WriteFile(e.srv.Path("confirmations", fmt.Sprintf("junk-%03d.txt", i)), []byte(fmt.Sprintf("junk %d", i)), 0o644))
	}
	for i := range ghosts {
		id := fmt.Sprintf("B-GHOST%02d", i)
		e.confirm("deletion_"+id+".json", conf(id, 1, sum('e'), deleted))
	}
	// A name so long that ours for the rejected folder would be too long.
	long := strings.Repeat("x", 240) + ".json"
	testenv.Must(t, os.WriteFile(e.srv.Path("confirmations", long), []byte("{}"), 0o644))
	files := 4 + junk + ghosts + 1

	out, err := e.runErr("check-now")
	if err != nil {
		t.Fatalf("check-now: %v\n%s", err, out)
	}
	var s reconcile.Summary
	testenv.Must(t, json.Unmarshal([]byte(out), &s))
	if s.Files != files || s.Accepted != 1 || s.Rejected != 2 || s.Failed != 0 || s.Unmatched != files-3 ||
		s.UnmatchedBy[reconcile.BadName] != junk+1 || s.UnmatchedBy[reconcile.UnknownBatch] != ghosts || s.UnmatchedBy[reconcile.Oversized] != 1 {
		t.Fatalf("check-now: %+v", s)
	}
	if left, _ := os.ReadDir(e.srv.Path("confirmations")); len(left) != 2 { // processed/ and rejected/
		names := []string{}
		for _, l := range left {
			names = append(names, l.Name())
		}
		t.Errorf("left in the confirmations folder: %v", names)
	}
	rejected, err := os.ReadDir(e.srv.Path("confirmations", "rejected"))
	testenv.Must(t, err)
	// Each with its reason file.
	if len(rejected) != 2*(files-1) {
		t.Errorf("%d files in the rejected folder, want %d", len(rejected), 2*(files-1))
	}
	quarantined, _ := filepath.Glob(e.srv.Path("confirmations", "rejected", "deletion_B-BIG.json.oversized-*"))
	if len(quarantined) != 2 { // and its reason file
		t.Errorf("oversized file quarantined as %v", quarantined)
	}

	// The audit log: an entry per confirmation of ours, one for the rest.
	counts := map[string]int{}
	rows, err := e.db.Query(ctx, "SELECT kind, coalesce(batch_id, '') FROM audit_log WHERE kind LIKE 'confirmation%'")
	testenv.Must(t, err)
	for rows.Next() {
		var kind, id string
		testenv.Must(t, rows.Scan(&kind, &id))
		counts[kind]++
		counts[kind+" "+id]++
	}
	testenv.Must(t, rows.Err())
	want := map[string]int{"confirmation_accepted": 1, "confirmation_accepted B-OK": 1, "confirmation_rejected": 2,
		"confirmation_rejected B-SUM": 1, "confirmation_rejected B-NUL": 1, "confirmations_unmatched": 1}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("audit: %d %q, want %d (all: %v)", counts[k], k, n, counts)
		}
	}
	var details map[string]any
	testenv.Must(t, e.db.QueryRow(ctx, "SELECT details FROM audit_log WHERE kind = 'confirmations_unmatched'").Scan(&details))
	for k, n := range map[string]float64{"files": float64(files - 3), "bad_name": junk + 1, "unknown_batch": ghosts, "oversized": 1} {
		if details[k] != n {
			t.Errorf("unmatched entry %s = %v, want %v (%v)", k, details[k], n, details)
		}
	}
	// Listed one by one for the auditors, each with its reason.
	var listed, unknown int
	testenv.Must(t, e.db.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE why = 'unknown_batch' AND batch_id LIKE 'B-GHOST%' AND reason LIKE 'unknown batch%')
		FROM unmatched_confirmations`).Scan(&listed, &unknown))
	if listed != files-3 || unknown != ghosts {
		t.Errorf("%d unmatched files listed (%d unknown batches), want %d (%d)", listed, unknown, files-3, ghosts)
	}
	var reason string
	testenv.Must(t, e.db.QueryRow(ctx, "SELECT reason FROM confirmations WHERE batch_id = 'B-NUL'").Scan(&reason))
	if !strings.HasPrefix(reason, "deleted_by holds control characters. Correct the file") {
		t.Errorf("B-NUL rejected for %q", reason)
	}

	// The next run finds nothing and fails nothing; the chain holds.
	out, err = e.runErr("check-now")
	testenv.Must(t, json.Unmarshal([]byte(out), &s))
	if err != nil || s.Files != 0 {
		t.Errorf("second run: %v %+v", err, s)
	}
	var runs, failed int
	testenv.Must(t, e.db.QueryRow(ctx, "SELECT count(*), count(*) FILTER (WHERE NOT ok) FROM reconcile_runs").Scan(&runs, &failed))
	if runs != 2 || failed != 0 {
		t.Errorf("%d runs recorded, %d failed; want 2 and 0", runs, failed)
	}
	res, err := postgres.VerifyAudit(ctx, e.db)
	testenv.Must(t, err)
	if !res.OK {
		t.Error(res)
	}
}

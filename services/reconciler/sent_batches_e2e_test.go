package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/domain/batchfile"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/order"
	"booklets/pkg/domain/reference"
	"booklets/pkg/domain/seal"
	"booklets/pkg/domain/workdays"
	"booklets/pkg/stage/reconcile"
	"booklets/pkg/testkit/testenv"
)

// TestSentBatchesEndToEnd is issue 5's end-to-end test with nothing
// simulated between the services: four real batches are sent by the
// batcher binary (`batcher send-now`, its sender being internal to
// services/batcher) to OpenSSH's sshd; the partner's side reads each REAL
// manifest in the outbox and answers as a partner would (the simulator's
// clerk serves its own SFTP server, so it cannot watch sshd's folder);
// `reconciler check-now` and `report` then run through run(), first on the
// real clock and then on a clock past the batches' due date.
//
//	batch 1: a correct confirmation (accepted; before the 30 working days, so confirmed_early)
//	batch 2: the checksum of the manifest instead of the data file (rejected)
//	batch 3: the count of orders instead of records (rejected)
//	a confirmation for a batch never sent (rejected)
//	batch 1's file uploaded again (a duplicate: harmless)
//	batch 4: nothing (overdue once its due date has passed)
func TestSentBatchesEndToEnd(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t) // sshd, the database migrated, the confirmations folder
	bin := buildBatcher(t)

	// The batcher's environment: the same database and sshd, its own
	// (empty) stream so that send-now's catch-up finds nothing pending.
	kek := make([]byte, seal.KeySize)
	_, _ = rand.Read(kek)
	orders := testenv.Orders(t).Config()
	bEnv := map[string]string{
		"DATABASE_URL": e.vars["DATABASE_URL"], "KEK": "e2e5:" + base64.StdEncoding.EncodeToString(kek),
		"SFTP_ADDR": e.vars["SFTP_ADDR"], "SFTP_USER": e.vars["SFTP_USER"], "SFTP_KEY_FILE": e.vars["SFTP_KEY_FILE"],
		"SFTP_KNOWN_HOSTS": e.vars["SFTP_KNOWN_HOSTS"], "SFTP_DIR": "outbox", "SFTP_RETRIES": "0",
		"NATS_URL": testenv.NATSURL(), "NATS_STREAM": orders.Stream, "NATS_SUBJECT": orders.Subject,
		"CATCH_UP_TIMEOUT": "10s", "LOG_LEVEL": "warn",
		"PARTNER_PLAINTEXT": "true", // plain CSV: the partner here has no OpenPGP key
	}
	testenv.Must(t, os.MkdirAll(e.srv.Path("outbox"), 0o755))

	// Sealed orders for four closed past days, stored as the batcher's
	// consumer stores them: two orders a day, two formats each, so that a
	// batch's record count (4) differs from its order count (2).
	ring, err := seal.ParseRing(bEnv["KEK"])
	testenv.Must(t, err)
	st, err := postgres.OpenOrders(ctx, e.vars["DATABASE_URL"], time.Now)
	testenv.Must(t, err)
	t.Cleanup(st.Close)
	keys := postgres.NewDayKeys(st.Pool(), ring)
	var days []businessday.Date
	for i := range 4 {
		received := time.Now().UTC().AddDate(0, 0, -14+i).Truncate(24 * time.Hour).Add(12 * time.Hour)
		day := businessday.DefaultCutoff.DateOf(received)
		days = append(days, day)
		k, err := keys.GetOrCreate(ctx, day)
		testenv.Must(t, err)
		for j := range 2 {
			o := order.Order{ID: uuid.NewString(), Reference: reference.New(), ReceivedAt: received.Add(time.Duration(j) * time.Minute),
				Area: "dyfed-powys", Formats: []order.Format{order.LargePrint, order.Audio},
				Personal: order.Personal{Name: "Ada Lovelace", AddressLine1: "12 St James's Square", Town: "London", Postcode: "SW1Y 4JH"}}
			so, err := order.Seal(o, day, k)
			testenv.Must(t, err)
			saved, err := st.SaveOrder(ctx, so)
			testenv.Must(t, err)
			if !saved {
				t.Fatalf("order %d of %s not stored", j, day)
			}
		}
	}

	// The batcher sends each day, oldest first.
	manifests := make([]batchfile.Manifest, len(days))
	manifestBytes := make([][]byte, len(days))
	for i, day := range days {
		out := runBatcher(t, bin, bEnv, "send-now", "--date", day.String())
		if !strings.Contains(out, "sent batch ") {
			t.Fatalf("send-now %s: %s", day, out)
		}
		found, _ := filepath.Glob(e.srv.Path("outbox", "*"+day.String()+"*.manifest.json"))
		if len(found) != 1 {
			t.Fatalf("manifests for %s at the partner: %v", day, found)
		}
		b, err := os.ReadFile(found[0])
		testenv.Must(t, err)
		m, err := batchfile.ParseManifest(b)
		testenv.Must(t, err)
		if m.RecordCount != 4 || m.OrderCount != 2 || !exists(e.srv.Path("outbox", m.DataFile)) {
			t.Fatalf("manifest %+v", m)
		}
		manifests[i], manifestBytes[i] = m, b
	}
	ids := make([]string, len(manifests))
	for i, m := range manifests {
		ids[i] = m.BatchID
	}

	// The partner's answers, written as the interface asks (a hidden name,
	// then renamed).
	confirm := func(name string, c reconcile.Confirmation) []byte {
		t.Helper()
		b, err := json.MarshalIndent(c, "", "  ")
		testenv.Must(t, err)
		b = append(b, '\n')
		tmp := e.srv.Path("confirmations", "."+name+".part")
		testenv.Must(t, os.WriteFile(tmp, b, 0o600))
		testenv.Must(t, os.Rename(tmp, e.srv.Path("confirmations", name)))
		return b
	}
	// deleted_at is in whole seconds and must not be before sent_at.
	deleted := time.Now().Add(2 * time.Second).Truncate(time.Second)
	conf := func(m batchfile.Manifest, count int, sum string) reconcile.Confirmation {
		return reconcile.Confirmation{FormatVersion: reconcile.FormatVersion, BatchID: m.BatchID, RecordCount: &count,
			SHA256: sum, DeletedAt: deleted, DeletedBy: "Data protection officer"}
	}
	// Batch 1: the partner deletes the data file, then confirms it.
	testenv.Must(t, os.Remove(e.srv.Path("outbox", manifests[0].DataFile)))
	name1 := "deletion_" + ids[0] + ".json"
	file1 := confirm(name1, conf(manifests[0], manifests[0].RecordCount, manifests[0].SHA256))
	// Batch 2: the checksum of the manifest rather than of the data file.
	wrongSum := sha256.Sum256(manifestBytes[1])
	confirm("deletion_"+ids[1]+".json", conf(manifests[1], manifests[1].RecordCount, hex.EncodeToString(wrongSum[:])))
	// Batch 3: orders counted rather than records.
	confirm("deletion_"+ids[2]+".json", conf(manifests[2], manifests[2].OrderCount, manifests[2].SHA256))
	// A batch we never sent.
	ghost := manifests[0]
	ghost.BatchID = "B20200106-GHOST1"
	confirm("deletion_"+ghost.BatchID+".json", conf(ghost, 4, manifests[0].SHA256))
	// Batch 4: nothing.

	var s reconcile.Summary
	testenv.Must(t, json.Unmarshal([]byte(e.run("check-now")), &s))
	if s.Files != 4 || s.Accepted != 1 || s.Rejected != 2 || s.Unmatched != 1 || s.UnmatchedBy["unknown_batch"] != 1 || s.Duplicates != 0 || len(s.Overdue) != 0 {
		t.Fatalf("first check: %+v", s)
	}

	// The database: one record per file that names one of our batches,
	// with the reason of each rejection; the ghost's is counted in the
	// run's audit entry instead.
	type outcome struct {
		accepted, early bool
		reason          string
	}
	outcomes := func() map[string][]outcome {
		t.Helper()
		got := map[string][]outcome{}
		rows, err := e.db.Query(ctx, "SELECT coalesce(batch_id, ''), accepted, early, reason FROM confirmations ORDER BY confirmation_id")
		testenv.Must(t, err)
		defer rows.Close()
		for rows.Next() {
			var id string
			var o outcome
			testenv.Must(t, rows.Scan(&id, &o.accepted, &o.early, &o.reason))
			got[id] = append(got[id], o)
		}
		testenv.Must(t, rows.Err())
		return got
	}
	got := outcomes()
	if o := got[ids[0]]; len(o) != 1 || !o[0].accepted || !o[0].early {
		t.Errorf("batch 1: %+v, want one accepted early confirmation", o)
	}
	for id, want := range map[string]string{ids[1]: "sha256 does not match", ids[2]: "record_count 2 does not match the 4"} {
		if o := got[id]; len(o) != 1 || o[0].accepted || !strings.Contains(o[0].reason, want) {
			t.Errorf("%s: %+v, want one rejection %q", id, o, want)
		}
	}
	if o := got[ghost.BatchID]; len(o) != 0 {
		t.Errorf("the ghost batch has confirmation records: %+v", o)
	}
	var unmatched int
	testenv.Must(t, e.db.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE kind = 'confirmations_unmatched'
		AND details->>'files' = '1' AND details->>'unknown_batch' = '1'`).Scan(&unmatched))
	if unmatched != 1 {
		t.Errorf("%d confirmations_unmatched audit entries counting the ghost, want 1", unmatched)
	}
	if o := got[ids[3]]; len(o) != 0 {
		t.Errorf("batch 4 has confirmations: %+v", o)
	}

	// The files: accepted to processed, rejected kept in rejected, none
	// left to read again.
	if !exists(e.srv.Path("confirmations", "processed", name1)) {
		t.Errorf("%s not moved to processed", name1)
	}
	if rejected, _ := filepath.Glob(e.srv.Path("confirmations", "rejected", "*.json")); len(rejected) != 3 {
		t.Errorf("rejected folder: %v, want 3 files", rejected)
	}
	if left, _ := filepath.Glob(e.srv.Path("confirmations", "*.json")); len(left) != 0 {
		t.Errorf("left in the confirmations folder: %v", left)
	}

	from, to := days[0].String(), days[3].String()
	report := func(r *env) map[string]string {
		t.Helper()
		var rows []map[string]any
		testenv.Must(t, json.Unmarshal([]byte(r.run("report", "--from", from, "--to", to, "--format", "json")), &rows))
		status := map[string]string{}
		for _, row := range rows {
			status[row["batch_id"].(string)] = row["status"].(string)
		}
		return status
	}
	checkStatus := func(when string, got map[string]string, want []string) {
		t.Helper()
		if len(got) != len(ids) {
			t.Errorf("%s: report has %d batches, want %d: %v", when, len(got), len(ids), got)
		}
		for i, id := range ids {
			if got[id] != want[i] {
				t.Errorf("%s: batch %d (%s) status %q, want %q", when, i+1, id, got[id], want[i])
			}
		}
	}
	checkStatus("today", report(e), []string{"confirmed_early", "rejected", "rejected", "awaiting"})

	// Past the due date (the same for all four: they were delivered
	// today), on the reconciler's clock, set through its environment: a
	// demo clock whose epoch is three days after the due date and whose
	// day is as long as a duration can be, so that it reads that moment
	// (less a few seconds) throughout the test. Batch 1's file arrives
	// again meanwhile.
	var due time.Time
	testenv.Must(t, e.db.QueryRow(ctx, "SELECT max(due_date) FROM batches WHERE batch_id = ANY($1)", ids).Scan(&due))
	var minDue time.Time
	testenv.Must(t, e.db.QueryRow(ctx, "SELECT min(due_date) FROM batches WHERE batch_id = ANY($1)", ids).Scan(&minDue))
	if !due.Equal(minDue) || !due.Equal(workdays.New().DueDate(londonToday(t))) {
		t.Fatalf("due dates %s..%s, want all 30 working days after today", minDue, due)
	}
	later := *e
	later.vars = map[string]string{}
	for k, v := range e.vars {
		later.vars[k] = v
	}
	london, err := time.LoadLocation("Europe/London")
	testenv.Must(t, err)
	later.vars["DEMO_DAY"] = "2562047h"
	later.vars["DEMO_EPOCH"] = time.Date(due.Year(), due.Month(), due.Day()+3, 12, 0, 0, 0, london).Format(time.RFC3339Nano)
	if again := confirm(name1, conf(manifests[0], manifests[0].RecordCount, manifests[0].SHA256)); !bytes.Equal(again, file1) {
		t.Fatal("the re-uploaded file differs")
	}
	testenv.Must(t, json.Unmarshal([]byte(later.run("check-now")), &s))
	if s.Files != 1 || s.Duplicates != 1 || s.Accepted != 0 || s.Rejected != 0 || s.Raised != 3 ||
		strings.Join(s.Overdue, ",") != strings.Join(ids[1:], ",") {
		t.Fatalf("check past the due date: %+v (want batches 2-4 overdue: 4 with nothing, 2 and 3 with only rejections)", s)
	}
	if after := outcomes(); len(after[ids[0]]) != 1 {
		t.Errorf("the duplicate was recorded again: %+v", after[ids[0]])
	}
	if left, _ := filepath.Glob(e.srv.Path("confirmations", "*.json")); len(left) != 0 {
		t.Errorf("left in the confirmations folder: %v", left)
	}
	// Alerts once a day: a second check the same day raises none.
	testenv.Must(t, json.Unmarshal([]byte(later.run("check-now")), &s))
	if s.Files != 0 || s.Raised != 0 || len(s.Overdue) != 3 {
		t.Errorf("second check the same day: %+v", s)
	}
	checkStatus("past the due date", report(&later), []string{"confirmed_early", "rejected", "rejected", "overdue"})

	// The auditors' record: what the batcher did for each batch and what
	// the reconciler decided, in a chain that verifies.
	count := map[string]int{}
	rows, err := e.db.Query(ctx, "SELECT kind, coalesce(batch_id, '') FROM audit_log")
	testenv.Must(t, err)
	for rows.Next() {
		var kind, id string
		testenv.Must(t, rows.Scan(&kind, &id))
		count[kind+" "+id]++
		count[kind]++
	}
	testenv.Must(t, rows.Err())
	for _, id := range ids {
		for _, k := range []string{"batch_sent", "personal_data_deleted"} {
			if count[k+" "+id] != 1 {
				t.Errorf("%d %s entries for %s, want 1", count[k+" "+id], k, id)
			}
		}
	}
	want := map[string]int{
		"confirmation_accepted": 1, "confirmation_accepted " + ids[0]: 1,
		"confirmation_rejected": 2, "confirmation_rejected " + ids[1]: 1, "confirmation_rejected " + ids[2]: 1,
		"confirmations_unmatched": 1, // the ghost's, counted in its run's entry
		"overdue_raised":          3, "overdue_raised " + ids[0]: 0, "overdue_raised " + ids[1]: 1, "overdue_raised " + ids[2]: 1, "overdue_raised " + ids[3]: 1,
	}
	for k, n := range want {
		if count[k] != n {
			t.Errorf("audit: %d %q entries, want %d", count[k], k, n)
		}
	}
	if out := e.run("verify-audit"); !strings.Contains(out, "verified") {
		t.Errorf("verify-audit: %s", out)
	}
}

// buildBatcher builds the batcher command into the test's folder: its
// sender lives in services/batcher/internal and cannot be imported here.
func buildBatcher(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "batcher")
	cmd := exec.Command("go", "build", "-o", bin, "booklets/services/batcher")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build batcher: %v\n%s", err, out)
	}
	return bin
}

// runBatcher runs the batcher binary with exactly env (and PATH/HOME), and
// returns what it printed.
func runBatcher(t *testing.T, bin string, env map[string]string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("batcher %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

func londonToday(t *testing.T) time.Time {
	t.Helper()
	d, err := workdays.London(time.Now())
	testenv.Must(t, err)
	return d
}

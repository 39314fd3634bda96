package reconcile_test

import (
	"strings"
	"testing"
	"time"

	"booklets/pkg/domain/workdays"
	"booklets/pkg/stage/audit"
	"booklets/pkg/stage/reconcile"
)

// sentEntry is batch's batch_sent entry as the batcher writes it.
func sentEntry(details map[string]any) audit.Entry {
	d := map[string]any{"record_count": 3.0, "sha256": batch.SHA256, "delivery_date": "2025-03-03", "due_date": "2025-04-14"}
	for k, v := range details {
		if v == nil {
			delete(d, k)
			continue
		}
		d[k] = v
	}
	return audit.Entry{Seq: 1, At: batch.SentAt.Add(time.Second), Kind: audit.BatchSent, BatchID: "B1", Details: d}
}

func acceptedEntry(seq int64, fileSHA string, at time.Time) audit.Entry {
	return audit.Entry{Seq: seq, At: at, Kind: audit.ConfirmationAccepted, BatchID: "B1", Details: map[string]any{
		"file": "deletion_B1.json", "file_sha256": fileSHA, "early": false, "deleted_at": "2025-04-14T09:00:00Z", "record_count": 3.0}}
}

func trail(entries ...audit.Entry) reconcile.Trail {
	return reconcile.Trail{Chain: audit.Result{OK: true, Entries: int64(len(entries))}, Entries: map[string][]audit.Entry{"B1": entries}}
}

func TestCheckedViews(t *testing.T) {
	t.Parallel()
	late := time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC) // past the due date 2025-04-14
	received := time.Date(2025, 4, 14, 12, 0, 0, 0, time.UTC)
	fileSHA := strings.Repeat("cd", 32)
	acc := &reconcile.Recorded{FileName: "deletion_B1.json", FileSHA256: fileSHA, BatchID: "B1", Accepted: true, ReceivedAt: received,
		Conf: reconcile.Confirmation{DeletedAt: time.Date(2025, 4, 14, 9, 0, 0, 0, time.UTC)}}
	moved := batch
	moved.DueDate = time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		s       reconcile.State
		t       reconcile.Trail
		want    []string // substrings of the disagreements, in order; none: agree
		status  reconcile.Status
		overdue bool
	}{
		{"agree, awaiting confirmation", reconcile.State{Batch: batch}, trail(sentEntry(nil)), nil, reconcile.Overdue, true},
		{"agree, confirmed", reconcile.State{Batch: batch, Accepted: acc}, trail(sentEntry(nil), acceptedEntry(5, fileSHA, received)), nil, reconcile.Confirmed, false},
		{"confirmation inserted behind the log's back", reconcile.State{Batch: batch, Accepted: acc}, trail(sentEntry(nil)),
			[]string{"the log has no accepted confirmation"}, reconcile.Overdue, true},
		{"confirmation swapped for another file", reconcile.State{Batch: batch, Accepted: acc}, trail(sentEntry(nil), acceptedEntry(5, strings.Repeat("ef", 32), received)),
			[]string{"the log accepted " + strings.Repeat("ef", 32)}, reconcile.Confirmed, false},
		{"accepted confirmation deleted from the table", reconcile.State{Batch: batch}, trail(sentEntry(nil), acceptedEntry(5, fileSHA, received)),
			[]string{"the confirmations table has none"}, reconcile.Confirmed, false},
		{"due date moved to 2099", reconcile.State{Batch: moved}, trail(sentEntry(nil)),
			[]string{"due date 2099-01-01 in the batches table; the log says 2025-04-14"}, reconcile.Overdue, true},
		{"due date moved, entry without one: computed from the delivery date", reconcile.State{Batch: moved}, trail(sentEntry(map[string]any{"due_date": nil})),
			[]string{"due date 2099-01-01 in the batches table; computed from the log's delivery date it is 2025-04-14"}, reconcile.Overdue, true},
		{"count, checksum and sent time changed", reconcile.State{Batch: reconcile.Batch{ID: "B1", State: "sent", RecordCount: 4, SHA256: strings.Repeat("00", 32),
			SentAt: batch.SentAt.Add(2 * time.Hour), DeliveryDate: time.Date(2025, 3, 4, 0, 0, 0, 0, time.UTC), DueDate: batch.DueDate}}, trail(sentEntry(nil)),
			[]string{"record count 4 in the batches table; the log says 3", "checksum 0000", "sent at 2025-03-04T01:30:00Z", "delivery date 2025-03-04 in the batches table; the log says 2025-03-03"},
			reconcile.Overdue, true},
		{"no batch_sent entry", reconcile.State{Batch: batch}, trail(), []string{"no batch_sent entry"}, reconcile.Overdue, true},
		{"broken chain", reconcile.State{Batch: batch, Accepted: acc},
			reconcile.Trail{Chain: audit.Result{OK: false, BrokenSeq: 7, Reason: "hash mismatch"}, Entries: map[string][]audit.Entry{"B1": {sentEntry(nil), acceptedEntry(5, fileSHA, received)}}},
			[]string{"the audit log does not verify (broken at entry 7: hash mismatch)"}, reconcile.Confirmed, false},
	} {
		vs := reconcile.CheckedViews([]reconcile.State{tc.s}, tc.t, reconcile.Filter{}, workdays.New(), late)
		if len(vs) != 1 {
			t.Fatalf("%s: %d views", tc.name, len(vs))
		}
		v := vs[0]
		if len(v.LogDisagreements) != len(tc.want) {
			t.Errorf("%s: disagreements %q, want %d like %q", tc.name, v.LogDisagreements, len(tc.want), tc.want)
		} else {
			for i, w := range tc.want {
				if !strings.Contains(v.LogDisagreements[i], w) {
					t.Errorf("%s: disagreement %q, want it to say %q", tc.name, v.LogDisagreements[i], w)
				}
			}
		}
		if v.Status != tc.status || v.Overdue != tc.overdue {
			t.Errorf("%s: status %s overdue %v, want %s %v", tc.name, v.Status, v.Overdue, tc.status, tc.overdue)
		}
		if got := reconcile.CountDisagreeing(vs); got != min(len(tc.want), 1) {
			t.Errorf("%s: %d disagreeing", tc.name, got)
		}
	}
	// A moved due date shows the log's on the page; status filters apply
	// to the checked status.
	vs := reconcile.CheckedViews([]reconcile.State{{Batch: moved}}, trail(sentEntry(nil)), reconcile.Filter{}, nil, late, reconcile.Overdue)
	if len(vs) != 1 || !vs[0].DueDate.Equal(batch.DueDate) {
		t.Errorf("filtered on overdue: %+v", vs)
	}
}

// A small tolerance for sent_at: the batcher stamps it just before the
// recording transaction, which stamps the entry.
func TestSentAtWithinTolerance(t *testing.T) {
	t.Parallel()
	s := reconcile.State{Batch: batch}
	e := sentEntry(nil)
	e.At = batch.SentAt.Add(reconcile.SentAtTolerance - time.Second)
	if d := reconcile.Disagreements(s, reconcile.FactsOf("B1", []audit.Entry{e}, nil)); len(d) != 0 {
		t.Errorf("within the tolerance: %q", d)
	}
	e.At = batch.SentAt.Add(reconcile.SentAtTolerance + time.Second)
	if d := reconcile.Disagreements(s, reconcile.FactsOf("B1", []audit.Entry{e}, nil)); len(d) != 1 {
		t.Errorf("beyond the tolerance: %q", d)
	}
}

// A batch the log shows sent that the tables no longer list as sent (its
// state changed back, or its row deleted) is shown from the log, overdue,
// within the business dates asked for; not when the chain is broken.
func TestCheckedViewsShowBatchesHiddenFromTheTables(t *testing.T) {
	t.Parallel()
	late := time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)
	other := batch
	other.ID, other.BusinessDate = "B0", time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	hidden := sentEntry(map[string]any{"business_date": "2025-03-02"})
	tr := reconcile.Trail{Chain: audit.Result{OK: true}, Entries: map[string][]audit.Entry{"B1": {hidden}}}
	vs := reconcile.CheckedViews([]reconcile.State{{Batch: other}}, tr, reconcile.Filter{}, nil, late)
	if len(vs) != 2 || vs[1].ID != "B1" || !vs[1].Overdue || vs[1].Status != reconcile.Overdue || !vs[1].DueDate.Equal(batch.DueDate) ||
		len(vs[1].LogDisagreements) != 1 || !strings.Contains(vs[1].LogDisagreements[0], "does not list it as sent") {
		t.Fatalf("hidden batch: %+v", vs)
	}
	if vs[0].ID != "B0" || len(vs[0].LogDisagreements) != 1 { // B0 has no batch_sent entry here
		t.Errorf("listed batch: %+v", vs[0])
	}
	if vs := reconcile.CheckedViews(nil, tr, reconcile.Filter{From: time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)}, nil, late); len(vs) != 0 {
		t.Errorf("outside the dates asked for: %+v", vs)
	}
	tr.Chain = audit.Result{OK: false, BrokenSeq: 1, Reason: "x"}
	if vs := reconcile.CheckedViews(nil, tr, reconcile.Filter{}, nil, late); len(vs) != 0 {
		t.Errorf("from a broken chain: %+v", vs)
	}
}

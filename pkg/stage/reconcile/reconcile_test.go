package reconcile_test

import (
	"strings"
	"testing"
	"time"

	"booklets/pkg/stage/reconcile"
)

var batch = reconcile.Batch{
	ID: "B1", State: "sent", RecordCount: 3, SHA256: strings.Repeat("ab", 32),
	SentAt:       time.Date(2025, 3, 3, 23, 30, 0, 0, time.UTC),
	DeliveryDate: time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC),
	DueDate:      time.Date(2025, 4, 14, 0, 0, 0, 0, time.UTC),
}

func file(name, body string) reconcile.File { return reconcile.NewFile(name, []byte(body)) }

const good = `{"format_version":1,"batch_id":"B1","record_count":3,"sha256":"` +
	"ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB" + `","deleted_at":"2025-04-14T10:00:00+01:00"}`

func TestJudge(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 4, 15, 7, 0, 0, 0, time.UTC)
	accepted := &reconcile.Recorded{FileName: "deletion_B1.json", ReceivedAt: now}
	for _, tc := range []struct {
		name     string
		f        reconcile.File
		b        *reconcile.Batch
		accepted *reconcile.Recorded
		ok       bool
		early    bool
		reason   string
	}{
		{"on the due date", file("deletion_B1.json", good), &batch, nil, true, false, ""},
		{"early", file("deletion_B1.json", strings.Replace(good, "2025-04-14T10", "2025-04-11T10", 1)), &batch, nil, true, true, ""},
		{"late", file("deletion_B1.json", strings.Replace(good, "2025-04-14T10", "2025-04-15T06", 1)), &batch, nil, true, false, ""},
		{"unknown batch", file("deletion_B1.json", good), nil, nil, false, false, "unknown batch"},
		{"wrong count", file("deletion_B1.json", strings.Replace(good, `"record_count":3`, `"record_count":4`, 1)), &batch, nil, false, false, "record_count 4"},
		{"wrong checksum", file("deletion_B1.json", strings.Replace(good, "ABAB", "CDCD", 1)), &batch, nil, false, false, "sha256 does not match"},
		{"already confirmed", file("deletion_B1.json", good), &batch, accepted, false, false, "already confirmed"},
		{"name mismatch", file("deletion_B2.json", good), &batch, nil, false, false, "does not match the file name"},
		{"bad name", file("B1.json", good), &batch, nil, false, false, "file name"},
		{"not JSON", file("deletion_B1.json", "batch B1 deleted"), &batch, nil, false, false, "not a valid confirmation"},
		{"unknown field", file("deletion_B1.json", strings.Replace(good, "{", `{"extra":1,`, 1)), &batch, nil, false, false, "unknown field"},
		{"missing fields", file("deletion_B1.json", `{"format_version":1,"batch_id":"B1"}`), &batch, nil, false, false, "record_count, sha256, deleted_at"},
		{"bad time", file("deletion_B1.json", strings.Replace(good, "2025-04-14T10:00:00+01:00", "14/04/2025", 1)), &batch, nil, false, false, "RFC 3339"},
		{"version 2", file("deletion_B1.json", strings.Replace(good, `"format_version":1`, `"format_version":2`, 1)), &batch, nil, false, false, "not supported"},
		{"before sending", file("deletion_B1.json", strings.Replace(good, "2025-04-14T10", "2025-03-03T10", 1)), &batch, nil, false, false, "before the batch was sent"},
		{"in the future", file("deletion_B1.json", strings.Replace(good, "2025-04-14T10", "2025-04-20T10", 1)), &batch, nil, false, false, "in the future"},
		{"not sent", file("deletion_B1.json", good), &reconcile.Batch{ID: "B1", State: "uploaded"}, nil, false, false, "has not been sent"},
	} {
		r := reconcile.Judge(tc.f, tc.b, tc.accepted, now)
		if r.Accepted != tc.ok || r.Early != tc.early || !strings.Contains(r.Reason, tc.reason) {
			t.Errorf("%s: accepted %v early %v reason %q; want %v %v %q", tc.name, r.Accepted, r.Early, r.Reason, tc.ok, tc.early, tc.reason)
		}
		if r.FileSHA256 == "" || r.FileName != tc.f.Name {
			t.Errorf("%s: file identity not kept", tc.name)
		}
	}
}

func TestStatusOf(t *testing.T) {
	t.Parallel()
	day := func(s string) time.Time { d, _ := time.Parse(time.DateOnly, s); return d.Add(12 * time.Hour) }
	acc := &reconcile.Recorded{Accepted: true}
	early := &reconcile.Recorded{Accepted: true, Early: true}
	for _, tc := range []struct {
		accepted     *reconcile.Recorded
		lastRejected bool
		today        string
		want         reconcile.Status
		overdue      bool
	}{
		{nil, false, "2025-04-14", reconcile.Awaiting, false},
		{nil, false, "2025-04-15", reconcile.Overdue, true},
		{nil, true, "2025-04-10", reconcile.Rejected, false},
		// The last confirmation was rejected: the status says so past the
		// due date too, and the batch is overdue all the same.
		{nil, true, "2025-04-15", reconcile.Rejected, true},
		{acc, false, "2025-05-01", reconcile.Confirmed, false},
		{acc, true, "2025-05-01", reconcile.Confirmed, false},
		{early, false, "2025-04-01", reconcile.ConfirmedEarly, false},
	} {
		if got := reconcile.StatusOf(batch, tc.accepted, tc.lastRejected, day(tc.today)); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc, got, tc.want)
		}
		if got := reconcile.IsOverdue(batch, tc.accepted, day(tc.today)); got != tc.overdue {
			t.Errorf("%+v: IsOverdue %v", tc, got)
		}
		v := reconcile.ViewOf(reconcile.State{Batch: batch, Accepted: tc.accepted, LastRejected: tc.lastRejected}, day(tc.today))
		if v.Status != tc.want || v.Overdue != tc.overdue {
			t.Errorf("%+v: view %s overdue %v", tc, v.Status, v.Overdue)
		}
	}
	// 23:30 UTC on the due date is 00:30 the next day in London (summer time).
	if got := reconcile.StatusOf(batch, nil, false, time.Date(2025, 4, 14, 23, 30, 0, 0, time.UTC)); got != reconcile.Overdue {
		t.Errorf("just after London midnight: %s", got)
	}
}

// A past-due batch whose last confirmation was rejected counts as rejected
// but is still the oldest overdue batch when its due date is the earliest.
func TestSummariseOldestOverdue(t *testing.T) {
	t.Parallel()
	later := batch
	later.ID, later.DueDate = "B2", batch.DueDate.AddDate(0, 0, 7)
	now := time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)
	views := reconcile.Views([]reconcile.State{
		{Batch: later},
		{Batch: batch, LastRejected: true, LastReason: "checksum differs"},
	}, now)
	counts, oldest := reconcile.Summarise(views)
	if counts[reconcile.Overdue] != 1 || counts[reconcile.Rejected] != 1 {
		t.Errorf("counts %v", counts)
	}
	if oldest == nil || oldest.ID != "B1" || oldest.Status != reconcile.Rejected {
		t.Errorf("oldest overdue %+v, want B1 (rejected)", oldest)
	}
}

// What a partner's tools do to a file that is right: a byte order mark
// and CRLF line endings are tolerated.
func TestJudgeToleratesBOMAndCRLF(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 4, 15, 7, 0, 0, 0, time.UTC)
	crlf := strings.NewReplacer("{", "{\r\n  ", ",", ",\r\n  ", "}", "\r\n}\r\n").Replace(good)
	for name, body := range map[string]string{"BOM": "\xef\xbb\xbf" + good, "CRLF": crlf, "BOM and CRLF": "\xef\xbb\xbf" + crlf} {
		if r := reconcile.Judge(file("deletion_B1.json", body), &batch, nil, now); !r.Accepted {
			t.Errorf("%s: rejected for %q", name, r.Reason)
		}
	}
	// A BOM in the middle is not a BOM: still a syntax error.
	if r := reconcile.Judge(file("deletion_B1.json", good[:1]+"\xef\xbb\xbf"+good[1:]), &batch, nil, now); r.Accepted {
		t.Error("a BOM inside the object was accepted")
	}
}

// A batch already confirmed: a regenerated confirmation that says the same
// (count, checksum, deleted_at within a minute) is the same confirmation,
// neither accepted again nor rejected; one that says otherwise is
// rejected with a reason that says what differs.
func TestJudgeRegenerated(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 4, 15, 7, 0, 0, 0, time.UTC)
	first := reconcile.Judge(file("deletion_B1.json", good), &batch, nil, now)
	if !first.Accepted {
		t.Fatalf("first: %q", first.Reason)
	}
	for _, tc := range []struct {
		name, body string
		same       bool
		reason     string
	}{
		{"byte-identical", good, true, ""},
		{"regenerated: UTC, 40 s later, lower-case checksum, a role added",
			`{"deleted_by":"DPO","format_version":1,"batch_id":"B1","record_count":3,"sha256":"` + strings.Repeat("ab", 32) + `","deleted_at":"2025-04-14T09:00:40Z"}`, true, ""},
		{"deleted 2 minutes apart", strings.Replace(good, "10:00:00", "10:02:00", 1), false, "deleted_at 2025-04-14T09:02:00Z, not 2025-04-14T09:00:00Z"},
		{"another count", strings.Replace(good, `"record_count":3`, `"record_count":4`, 1), false, "record_count 4, not 3"},
		{"another checksum", strings.Replace(good, "ABAB", "CDCD", 1), false, "another sha256"},
	} {
		r := reconcile.Judge(file("deletion_B1.json", tc.body), &batch, &first, now.Add(time.Hour))
		if r.Accepted || r.Same != tc.same || !strings.Contains(r.Reason, tc.reason) || (tc.same && r.Reason != "") {
			t.Errorf("%s: accepted %v same %v reason %q; want same %v, reason with %q", tc.name, r.Accepted, r.Same, r.Reason, tc.same, tc.reason)
		}
		if !tc.same && !strings.Contains(r.Reason, "already confirmed by deletion_B1.json") {
			t.Errorf("%s: reason %q does not name the accepted file", tc.name, r.Reason)
		}
	}
}

// Every rejection tells the partner what to change, not only what was
// wrong: the reason ends with advice.
func TestRejectionReasonsSayWhatToChange(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 4, 15, 7, 0, 0, 0, time.UTC)
	for name, body := range map[string]string{
		"count":    strings.Replace(good, `"record_count":3`, `"record_count":4`, 1),
		"checksum": strings.Replace(good, "ABAB", "CDCD", 1),
		"syntax":   "{",
		"future":   strings.Replace(good, "2025-04-14T10", "2025-04-20T10", 1),
	} {
		r := reconcile.Judge(file("deletion_B1.json", body), &batch, nil, now)
		if r.Accepted || !strings.Contains(r.Reason, ". Correct the file, sign it again and upload it again as deletion_B1.json") {
			t.Errorf("%s: reason %q gives no advice", name, r.Reason)
		}
		text := reconcile.ReasonText("deletion_B1.json", r.Reason, now, "")
		if !strings.Contains(text, "deletion_B1.json was not accepted") || !strings.Contains(text, r.Reason) || !strings.Contains(text, "2025-04-15 07:00 UTC") ||
			!strings.HasSuffix(text, "\nQuestions: "+reconcile.DefaultContact+"\n") {
			t.Errorf("%s: reason file %q", name, text)
		}
	}
}

// Deleted after the due date: confirmed late, with the deviation.
func TestConfirmedLate(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 4, 20, 7, 0, 0, 0, time.UTC)
	r := reconcile.Judge(file("deletion_B1.json", strings.Replace(good, "2025-04-14T10", "2025-04-16T10", 1)), &batch, nil, now)
	if !r.Accepted {
		t.Fatal(r.Reason)
	}
	v := reconcile.ViewOf(reconcile.State{Batch: batch, Accepted: &r}, now)
	if v.Status != reconcile.ConfirmedLate || v.Deviation != "deleted 2025-04-16, after the due date 2025-04-14" || v.Overdue {
		t.Errorf("late: %+v", v)
	}
	row := reconcile.RowOf(v)
	if row.DeletedAt == nil || *row.DeletedAt != "2025-04-16T09:00:00Z" || row.Deviation != v.Deviation {
		t.Errorf("report row %+v", row)
	}
	if st, ok := reconcile.ParseStatus("confirmed_late"); !ok || st != reconcile.ConfirmedLate {
		t.Error("confirmed_late is not a status")
	}
}

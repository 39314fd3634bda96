package reconcile_test

import (
	"strings"
	"testing"
	"time"

	"booklets/pkg/domain/reference"
	"booklets/pkg/stage/reconcile"
)

// refA is a real reference: its check character is right.
var refA = reference.New().String()

func updatesFile(name, body string) reconcile.File { return reconcile.NewFile(name, []byte(body)) }

func TestUpdatesFileNames(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{
		"updates_B20261125-K7QM2X.csv":          "B20261125-K7QM2X",
		"updates_B20261125-K7QM2X_dispatch.csv": "B20261125-K7QM2X",
		"updates_B1_returns-2.csv":              "B1",
		"updates_B1.CSV":                        "",
		"updates_.csv":                          "",
		"deletion_B1.json":                      "",
		"updates_B1_a_b.csv":                    "",
	} {
		if got, _ := reconcile.BatchIDFromUpdatesName(name); got != want {
			t.Errorf("%s: batch %q, want %q", name, got, want)
		}
	}
}

func TestParseUpdates(t *testing.T) {
	t.Parallel()
	ref := refA
	for _, tc := range []struct {
		name, body string
		rows       int
		problem    string
	}{
		{"good, BOM and CRLF", "\xef\xbb\xbfreference,format,status,date,reason\r\n" + ref + ",braille,dispatched,2025-03-04,\r\n" + ref + ",braille,returned,2025-03-10,refused\r\n", 2, ""},
		{"header in capitals, spaces", "Reference , Format,STATUS,date,reason\n" + ref + " , audio , Dispatched ,2025-03-04,\n", 1, ""},
		{"bad header", "ref,format,status,date,reason\n" + ref + ",audio,dispatched,2025-03-04,\n", 0, "the header must be exactly reference,format,status,date,reason"},
		{"empty", "", 0, "the file is empty"},
		{"no rows", "reference,format,status,date,reason\r\n", 0, "no rows"},
		{"not a reference", "reference,format,status,date,reason\nJohn Smith,audio,dispatched,2025-03-04,\n", 0, "line 2: reference is not an order reference"},
		{"bad format", "reference,format,status,date,reason\n" + ref + ",cassette,dispatched,2025-03-04,\n", 0, "line 2: format must be one of"},
		{"bad status", "reference,format,status,date,reason\n" + ref + ",audio,lost,2025-03-04,\n", 0, "line 2: status must be dispatched or returned"},
		{"bad date", "reference,format,status,date,reason\n" + ref + ",audio,dispatched,04/03/2025,\n", 0, "line 2: date must be a date like"},
		{"return without reason", "reference,format,status,date,reason\n" + ref + ",audio,returned,2025-03-04,\n", 0, "line 2: a returned row needs a reason, one of addressee-unknown, refused, damaged"},
		{"unknown reason", "reference,format,status,date,reason\n" + ref + ",audio,returned,2025-03-04,lost\n", 0, "a returned row needs a reason"},
		{"dispatch with reason", "reference,format,status,date,reason\n" + ref + ",audio,dispatched,2025-03-04,refused\n", 0, "a dispatched row has no reason"},
		{"duplicate", "reference,format,status,date,reason\n" + ref + ",audio,dispatched,2025-03-04,\n" + strings.ToLower(ref) + ",audio,dispatched,2025-03-05,\n", 0, "line 3: order " + ref + " audio is dispatched already on line 2"},
		{"a quote left open", "reference,format,status,date,reason\n" + ref + ",audio,dispatched,2025-03-04,\n\"" + ref + ",audio,dispatched,2025-03-04,\n", 0, "line 3: not valid CSV"},
		{"a stray quote", "reference,format,status,date,reason\n" + ref + ",au\"dio,dispatched,2025-03-04,\n", 0, "line 2: not valid CSV"},
		{"binary", "reference,format,status,date,reason\n\x00\xff\xfe,,,,\n", 0, "line 2: reference is not an order reference"},
		{"too few fields", "reference,format,status,date,reason\n" + ref + ",audio,dispatched\n", 0, "line 2: 3 fields, want 5"},
	} {
		rows, p := reconcile.ParseUpdates(updatesFile("updates_B1.csv", tc.body))
		got := reconcile.JudgeUpdates(updatesFile("updates_B1.csv", tc.body), rows, p, &batch, nil, nil, time.Now())
		if tc.problem == "" {
			// Parsed without a problem: judged against the orders (none here).
			if len(rows) != tc.rows || !strings.HasPrefix(got.Reason, "line 2: "+ref+" is not an order reference of ours") {
				t.Errorf("%s: %d rows, reason %q", tc.name, len(rows), got.Reason)
			}
			continue
		}
		if got.Accepted || !strings.Contains(got.Reason, tc.problem) || !strings.Contains(got.Reason, "Correct the file and upload it again as updates_B1.csv") {
			t.Errorf("%s: accepted %v, reason %q; want %q", tc.name, got.Accepted, got.Reason, tc.problem)
		}
		if strings.Contains(got.Reason, "John") || strings.Contains(got.Reason, "cassette") || strings.Contains(got.Reason, "lost,") {
			t.Errorf("%s: the reason repeats what the partner wrote: %q", tc.name, got.Reason)
		}
	}
}

func TestJudgeUpdates(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 3, 20, 7, 0, 0, 0, time.UTC)
	orders := map[string]reconcile.OrderInfo{
		refA: {BatchID: "B1", Formats: []string{"braille", "audio"}},
	}
	head := "reference,format,status,date,reason\n"
	judge := func(body string, o map[string]reconcile.OrderInfo, prior map[reconcile.UpdateKey]reconcile.PriorUpdate) reconcile.UpdatesOutcome {
		f := updatesFile("updates_B1_x.csv", body)
		rows, p := reconcile.ParseUpdates(f)
		return reconcile.JudgeUpdates(f, rows, p, &batch, o, prior, now)
	}
	ok := judge(head+refA+",braille,dispatched,2025-03-04,\n"+refA+",audio,dispatched,2025-03-04,\n"+refA+",audio,returned,2025-03-10,addressee-unknown\n", orders, nil)
	if !ok.Accepted || ok.Dispatched != 2 || ok.Returned != 1 || len(ok.New) != 3 || ok.BatchID != "B1" {
		t.Fatalf("good file: %+v", ok)
	}
	for _, tc := range []struct {
		name, body string
		orders     map[string]reconcile.OrderInfo
		prior      map[reconcile.UpdateKey]reconcile.PriorUpdate
		problem    string
	}{
		{"unknown reference", head + refA + ",braille,dispatched,2025-03-04,\n", nil, nil, "line 2: " + refA + " is not an order reference of ours"},
		{"wrong batch", head + refA + ",braille,dispatched,2025-03-04,\n", map[string]reconcile.OrderInfo{refA: {BatchID: "B7", Formats: []string{"braille"}}}, nil,
			"line 2: order " + refA + " was sent in batch B7, not B1"},
		{"in no batch", head + refA + ",braille,dispatched,2025-03-04,\n", map[string]reconcile.OrderInfo{refA: {Formats: []string{"braille"}}}, nil, "is in no batch we sent"},
		{"format not ordered", head + refA + ",easy-read,dispatched,2025-03-04,\n", orders, nil, "did not ask for easy-read"},
		{"before delivery", head + refA + ",braille,dispatched,2025-03-02,\n", orders, nil, "before the batch reached you (2025-03-03)"},
		{"in the future", head + refA + ",braille,dispatched,2025-03-25,\n", orders, nil, "2025-03-25 is in the future"},
		{"dispatched after its return", head + refA + ",braille,dispatched,2025-03-12,\n" + refA + ",braille,returned,2025-03-10,damaged\n", orders, nil, "after it was returned (line 3)"},
		{"sent again after a return", head + refA + ",braille,dispatched,2025-03-12,\n", orders,
			map[reconcile.UpdateKey]reconcile.PriorUpdate{{Reference: refA, Format: "braille", Status: "returned"}: {Date: time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC), Reason: "refused", File: "updates_B1.csv"}},
			"a returned booklet is not sent again"},
		{"another dispatch date", head + refA + ",braille,dispatched,2025-03-05,\n", orders,
			map[reconcile.UpdateKey]reconcile.PriorUpdate{{Reference: refA, Format: "braille", Status: "dispatched"}: {Date: time.Date(2025, 3, 4, 0, 0, 0, 0, time.UTC), File: "updates_B1.csv"}},
			"was already recorded dispatched on 2025-03-04 (from updates_B1.csv)"},
	} {
		got := judge(tc.body, tc.orders, tc.prior)
		if got.Accepted || !strings.Contains(got.Reason, tc.problem) {
			t.Errorf("%s: accepted %v, reason %q; want %q", tc.name, got.Accepted, got.Reason, tc.problem)
		}
	}
	// The same rows again (a file sent twice under another name): accepted,
	// nothing new.
	prior := map[reconcile.UpdateKey]reconcile.PriorUpdate{{Reference: refA, Format: "braille", Status: "dispatched"}: {Date: time.Date(2025, 3, 4, 0, 0, 0, 0, time.UTC)}}
	if again := judge(head+refA+",braille,dispatched,2025-03-04,\n", orders, prior); !again.Accepted || len(again.New) != 0 {
		t.Errorf("same rows again: %+v", again)
	}
	// The file's name, the batch and the signature.
	f := updatesFile("dispatch.csv", head)
	rows, p := reconcile.ParseUpdates(f)
	if got := reconcile.JudgeUpdates(f, rows, p, &batch, nil, nil, now); got.Accepted || !strings.Contains(got.Reason, "file name is not updates_<batch id>.csv") {
		t.Errorf("bad name: %q", got.Reason)
	}
	f = updatesFile("updates_B9.csv", head+refA+",braille,dispatched,2025-03-04,\n")
	rows, p = reconcile.ParseUpdates(f)
	if got := reconcile.JudgeUpdates(f, rows, p, nil, nil, nil, now); got.Accepted || !strings.Contains(got.Reason, `unknown batch "B9"`) {
		t.Errorf("unknown batch: %q", got.Reason)
	}
	f.Sig.Problem = "no signature: updates_B9.csv.asc is missing"
	if got := reconcile.JudgeUpdates(f, rows, p, &batch, orders, nil, now); got.Accepted || !strings.Contains(got.Reason, "no signature") {
		t.Errorf("unsigned: %q", got.Reason)
	}
}

// No file crashes the reconciler: whatever the bytes, parsing and judging
// answer, and a rejection says why.
func FuzzUpdates(f *testing.F) {
	head := "reference,format,status,date,reason\n"
	for _, seed := range []string{"", head, head + refA + ",braille,dispatched,2025-03-04,\n", head + "\"", head + "a,b\n\"x", "\xef\xbb\xbf" + head + ",,,,\r\n",
		head + refA + ",audio,returned,2025-03-10,refused\n" + refA + ",audio,dispatched,2025-03-12,\n"} {
		f.Add([]byte(seed))
	}
	orders := map[string]reconcile.OrderInfo{refA: {BatchID: "B1", Formats: []string{"braille", "audio"}}}
	f.Fuzz(func(t *testing.T, data []byte) {
		file := reconcile.NewFile("updates_B1.csv", data)
		rows, p := reconcile.ParseUpdates(file)
		out := reconcile.JudgeUpdates(file, rows, p, &batch, orders, nil, time.Date(2025, 3, 20, 7, 0, 0, 0, time.UTC))
		if !out.Accepted && out.Reason == "" {
			t.Errorf("rejected without a reason: %q", data)
		}
	})
}

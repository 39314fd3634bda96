package audit_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"booklets/pkg/stage/audit"
)

var signedAt = time.Date(2026, 12, 4, 7, 0, 0, 0, time.UTC)

// sign signs the tree of entries at its full size.
func sign(t *testing.T, s *audit.Signer, entries []audit.Entry, at time.Time) []byte {
	t.Helper()
	tree := memTree(t, entries)
	root, err := tree.Root(tree.Size())
	if err != nil {
		t.Fatal(err)
	}
	_, signed, err := s.Sign(tree.Size(), root, at)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// export writes and reads back an export, as the two commands would.
func export(t *testing.T, s *audit.Signer, entries []audit.Entry, checkpoints ...[]byte) audit.Export {
	t.Helper()
	var buf bytes.Buffer
	w, err := audit.NewExportWriter(&buf, s.Origin(), s.PublicKey, int64(len(entries)))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := w.Entry(e); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range checkpoints {
		if err := w.Checkpoint(c); err != nil {
			t.Fatal(err)
		}
	}
	x, err := audit.ReadExport(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// rechain renumbers entries from 1 and recomputes every hash, as someone
// rewriting the table consistently would.
func rechain(t *testing.T, entries []audit.Entry) []audit.Entry {
	t.Helper()
	out := make([]audit.Entry, len(entries))
	prev := audit.Genesis
	for i, e := range entries {
		e.Seq, e.PrevHash = int64(i+1), prev
		h, err := audit.ComputeHash(e)
		if err != nil {
			t.Fatal(err)
		}
		e.Hash = h
		out[i], prev = e, h
	}
	if res := audit.Verify(out); !res.OK {
		t.Fatalf("rechained log does not verify: %v", res)
	}
	return out
}

func kinds(r audit.LogReport) []audit.ProblemKind {
	var out []audit.ProblemKind
	for _, p := range r.Problems {
		out = append(out, p.Kind)
	}
	return out
}

func TestCheckExportIntactLog(t *testing.T) {
	t.Parallel()
	s := newSigner(t, "booklets-audit")
	entries := longChain(t, 10)
	old := sign(t, s, entries[:6], signedAt)
	latest := sign(t, s, entries[:9], signedAt.Add(time.Hour))
	x := export(t, s, entries, latest)
	if len(x.Entries) != 10 || !x.Entries[3].At.Equal(entries[3].At) || x.Header.Entries != 10 {
		t.Fatalf("export read back %d entries, header %+v", len(x.Entries), x.Header)
	}
	r := audit.CheckExport(x, audit.LogCheck{PublicKey: s.PublicKey, Batch: "B2",
		Kept: []audit.KeptCheckpoint{{Name: "old.checkpoint", Signed: old}}})
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if r.Latest == nil || r.Latest.Size != 9 || r.Uncovered != 1 || len(r.Consistency) != 1 || !bytes.Equal(r.LatestSigned, latest) {
		t.Fatalf("report %+v", r)
	}
	if len(r.Batch) != 3 || r.Batch[0].Seq != 4 || r.Batch[2].Seq != 6 {
		t.Fatalf("batch B2 proofs: %+v", r.Batch)
	}
	// The last entry is after the latest checkpoint: a batch there is not
	// vouched for.
	r = audit.CheckExport(x, audit.LogCheck{PublicKey: s.PublicKey, Batch: "B4"})
	if got := kinds(r); len(got) != 1 || got[0] != audit.NotIncluded {
		t.Fatalf("batch after the checkpoint: %v", r.Err())
	}
	r = audit.CheckExport(x, audit.LogCheck{PublicKey: s.PublicKey, Batch: "nope"})
	if err := r.Err(); err == nil || !strings.Contains(err.Error(), "not included: batch nope: the log holds no entry about it") {
		t.Fatalf("unknown batch: %v", err)
	}
}

func TestCheckExportFindsTampering(t *testing.T) {
	t.Parallel()
	s := newSigner(t, "booklets-audit")
	entries := longChain(t, 10)
	kept := []audit.KeptCheckpoint{{Name: "old.checkpoint", Signed: sign(t, s, entries[:8], signedAt)}}
	latest := sign(t, s, entries, signedAt.Add(time.Hour))

	changed := append([]audit.Entry(nil), entries...)
	changed[2].Details = map[string]any{"i": 1000}
	changed = rechain(t, changed)

	inserted := append([]audit.Entry(nil), entries[:4]...)
	inserted = append(inserted, audit.Entry{At: entries[4].At, Kind: audit.ConfirmationAccepted, BatchID: "B2"})
	inserted = rechain(t, append(inserted, entries[4:]...))

	cases := []struct {
		name    string
		x       audit.Export
		want    audit.ProblemKind
		message string
	}{
		{"last entries deleted", export(t, s, entries[:7], latest), audit.Truncated,
			"the log holds 7 entries, but your checkpoint old.checkpoint (signed 2026-12-04T07:00:00Z) covers 8: entries 8 to 8 were removed"},
		{"entry changed, chain recomputed", export(t, s, changed, latest), audit.Rewritten,
			"an entry among seq 1 to 8 was changed, inserted or removed"},
		{"entry inserted in the middle", export(t, s, inserted, latest), audit.Rewritten,
			"the log's first 8 entries no longer hash to the root your checkpoint old.checkpoint signed"},
		{"rewritten and signed again", export(t, s, changed, sign(t, s, changed, signedAt.Add(2*time.Hour))), audit.Fork,
			"two different histories were signed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := audit.CheckExport(c.x, audit.LogCheck{PublicKey: s.PublicKey, Kept: kept})
			err := r.Err()
			if err == nil {
				t.Fatal("tampering not found")
			}
			if r.Problems[0].Kind != c.want || !strings.Contains(err.Error(), c.message) {
				t.Fatalf("found %v:\n%v\nwant first %s, saying %q", kinds(r), err, c.want, c.message)
			}
		})
	}
}

func TestCheckExportRefusesOtherKeys(t *testing.T) {
	t.Parallel()
	s := newSigner(t, "booklets-audit")
	other := newSigner(t, "booklets-audit")
	entries := longChain(t, 5)
	good := sign(t, s, entries, signedAt)
	forged := sign(t, other, entries, signedAt)
	altered := bytes.Replace(good, []byte("\n5\n"), []byte("\n4\n"), 1)

	r := audit.CheckExport(export(t, s, entries, good), audit.LogCheck{PublicKey: s.PublicKey,
		Kept: []audit.KeptCheckpoint{{Name: "forged.checkpoint", Signed: forged}}})
	if got := kinds(r); len(got) != 1 || got[0] != audit.WrongKey || !strings.Contains(r.Err().Error(), "your checkpoint forged.checkpoint") {
		t.Fatalf("kept checkpoint by another key: %v", r.Err())
	}
	r = audit.CheckExport(export(t, s, entries, forged), audit.LogCheck{PublicKey: s.PublicKey})
	if got := kinds(r); len(got) != 1 || got[0] != audit.WrongKey || r.Latest != nil {
		t.Fatalf("export signed by another key: %v", r.Err())
	}
	r = audit.CheckExport(export(t, s, entries, altered), audit.LogCheck{PublicKey: s.PublicKey})
	if got := kinds(r); len(got) != 1 || got[0] != audit.BadSignature {
		t.Fatalf("altered checkpoint: %v", r.Err())
	}
	// The auditor's key decides, not the one the export names.
	r = audit.CheckExport(export(t, other, entries, forged), audit.LogCheck{PublicKey: s.PublicKey})
	if r.Err() == nil {
		t.Fatal("an export naming its own key passed")
	}
	r = audit.CheckExport(export(t, s, entries), audit.LogCheck{PublicKey: s.PublicKey})
	if got := kinds(r); len(got) != 1 || got[0] != audit.Unsigned {
		t.Fatalf("no checkpoint: %v", r.Err())
	}
}

func TestReadExportRefusesOtherFiles(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "{}\n", `{"type":"header","format":"other/9"}` + "\n", "{\"type\":\"header\",\"format\":\"" + audit.ExportFormat + "\"}\n{\"type\":\"x\"}\n"} {
		if _, err := audit.ReadExport(strings.NewReader(in)); err == nil {
			t.Errorf("%q read as an export", in)
		}
	}
}

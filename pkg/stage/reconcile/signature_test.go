package reconcile_test

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"booklets/pkg/stage/reconcile"
)

func TestJudgeSignature(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 4, 15, 7, 0, 0, 0, time.UTC)
	f := file("deletion_B1.json", good)
	f.Sig = reconcile.Signature{Data: []byte("sig"), SHA256: strings.Repeat("0", 64), Signer: "ABCD"}
	if r := reconcile.Judge(f, &batch, nil, now); !r.Accepted || r.Unsigned() || r.Signer != "ABCD" || r.SignatureSHA256 != f.Sig.SHA256 {
		t.Errorf("signed: %+v", r)
	}
	f.Sig = reconcile.Signature{Problem: "no signature: deletion_B1.json.asc is missing"}
	if r := reconcile.Judge(f, &batch, nil, now); r.Accepted || !strings.HasPrefix(r.Reason, f.Sig.Problem+". Sign the file") {
		t.Errorf("missing signature: accepted %v, reason %q", r.Accepted, r.Reason)
	}
	// A file naming no batch stays unmatched, whatever its signature.
	if r := reconcile.Judge(f, nil, nil, now); !r.Unmatched || !strings.Contains(r.Reason, "unknown batch") {
		t.Errorf("unknown batch: %+v", r)
	}
	f.Sig = reconcile.Signature{}
	if r := reconcile.Judge(f, &batch, nil, now); !r.Accepted || !r.Unsigned() {
		t.Errorf("accepted unsigned: %+v", r)
	}
}

// fakeInbox is a confirmations folder in memory.
type fakeInbox struct {
	files map[string][]byte
	mod   map[string]time.Time
	moved map[string]string // name -> "processed" or "rejected"
	// reasons, when not nil, keeps each rejected file's reason file.
	reasons map[string]string
}

func (b *fakeInbox) List(context.Context) ([]reconcile.Entry, error) {
	var out []reconcile.Entry
	for n := range b.files {
		out = append(out, reconcile.Entry{Name: n, ModTime: b.mod[n]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
func (b *fakeInbox) Read(_ context.Context, name string) ([]byte, error) { return b.files[name], nil }
func (b *fakeInbox) Done(_ context.Context, f reconcile.File, move reconcile.Move, reason string) error {
	to := "rejected"
	if move != reconcile.MoveRejected {
		to = "processed"
	}
	if (move == reconcile.MoveRejected) != (reason != "") {
		return errors.New("a reason file goes with a rejected file, and only with one")
	}
	if b.reasons != nil && reason != "" {
		b.reasons[f.Name] = reason
	}
	for _, n := range []string{f.Name, f.Name + reconcile.SigExt} {
		if n == f.Name || f.Sig.Data != nil {
			delete(b.files, n)
			b.moved[n] = to
		}
	}
	return nil
}
func (b *fakeInbox) Quarantine(context.Context, string, string, time.Time, string) error {
	return errors.New("unexpected")
}
func (b *fakeInbox) Close() error { return nil }

// fakeStore judges every file against the one batch, recording nothing.
type fakeStore struct{ recs []reconcile.Recorded }

func (s *fakeStore) Record(_ context.Context, f reconcile.File, now time.Time, judge func(*reconcile.Batch, *reconcile.Recorded) reconcile.Recorded) (reconcile.Recorded, bool, error) {
	b := batch
	r := judge(&b, nil)
	s.recs = append(s.recs, r)
	return r, false, nil
}
func (s *fakeStore) States(context.Context, reconcile.Filter) ([]reconcile.State, error) {
	return nil, nil
}
func (s *fakeStore) RaiseOverdue(context.Context, reconcile.Batch, time.Time, time.Time) (bool, error) {
	return false, nil
}
func (s *fakeStore) RecordRun(context.Context, reconcile.Run) error { return nil }

// A confirmation without its signature waits for it during the grace, a
// lone signature too; past the grace the confirmation is rejected as
// unsigned and the lone signature set aside.
func TestReconcileWaitsForSignature(t *testing.T) {
	t.Parallel()
	wall := time.Date(2025, 4, 15, 9, 0, 0, 0, time.UTC)
	now := time.Date(2025, 4, 15, 7, 0, 0, 0, time.UTC)
	in := &fakeInbox{files: map[string][]byte{
		"deletion_B1.json":     []byte(good),
		"deletion_B9.json.asc": []byte("lone signature"),
	}, mod: map[string]time.Time{"deletion_B1.json": wall.Add(-time.Minute), "deletion_B9.json.asc": wall.Add(-time.Minute)},
		moved: map[string]string{}}
	st := &fakeStore{}
	r := &reconcile.Reconciler{Store: st, Open: func(context.Context) (reconcile.Inbox, error) { return in, nil },
		Log: zerolog.Nop(), SignatureGrace: 10 * time.Minute, Wall: func() time.Time { return wall },
		Verify: func(data, sig []byte) (string, error) { return "ABCD", nil }}
	sum, err := r.Reconcile(context.Background(), now)
	if err != nil || sum.Waiting != 1 || sum.Files != 0 || len(st.recs) != 0 || len(in.files) != 2 {
		t.Fatalf("within the grace: %+v %v, files left %v", sum, err, in.files)
	}
	wall = wall.Add(10 * time.Minute)
	sum, err = r.Reconcile(context.Background(), now)
	if err != nil || sum.Rejected != 1 || sum.Unmatched != 1 || sum.UnmatchedBy[reconcile.BadName] != 1 {
		t.Fatalf("past the grace: %+v %v", sum, err)
	}
	if !strings.Contains(st.recs[0].Reason, "no signature: deletion_B1.json.asc is missing") {
		t.Errorf("reason %q", st.recs[0].Reason)
	}
	if in.moved["deletion_B1.json"] != "rejected" || in.moved["deletion_B9.json.asc"] != "rejected" {
		t.Errorf("moved %v", in.moved)
	}

	// With the transition setting, the same file is accepted, unsigned.
	in.files["deletion_B1.json"] = []byte(good)
	st.recs, r.AcceptUnsigned = nil, true
	if sum, err := r.Reconcile(context.Background(), now); err != nil || sum.Accepted != 1 || !st.recs[0].Unsigned() {
		t.Errorf("transition: %+v %v %+v", sum, err, st.recs)
	}
	// No key and no transition setting: rejected, never silently accepted.
	in.files["deletion_B1.json"] = []byte(good)
	st.recs, r.AcceptUnsigned, r.Verify = nil, false, nil
	if sum, err := r.Reconcile(context.Background(), now); err != nil || sum.Rejected != 1 || !strings.Contains(st.recs[0].Reason, "no partner signing key") {
		t.Errorf("no key: %+v %v %+v", sum, err, st.recs)
	}
}

// Every reason file ends with the contact agreed with the partner
// (PARTNER_CONTACT), as its last line.
func TestReasonFileEndsWithTheContact(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 4, 15, 7, 0, 0, 0, time.UTC)
	for _, tc := range []struct{ contact, want string }{
		{"", "Questions: " + reconcile.DefaultContact},
		{"Print operations, 0161 496 0000, print-ops@booklets.example", "Questions: Print operations, 0161 496 0000, print-ops@booklets.example"},
	} {
		in := &fakeInbox{files: map[string][]byte{"deletion_B1.json": []byte(strings.Replace(good, `"record_count":3`, `"record_count":4`, 1))},
			mod: map[string]time.Time{}, moved: map[string]string{}, reasons: map[string]string{}}
		r := &reconcile.Reconciler{Store: &fakeStore{}, Open: func(context.Context) (reconcile.Inbox, error) { return in, nil },
			Log: zerolog.Nop(), AcceptUnsigned: true, Contact: tc.contact}
		if sum, err := r.Reconcile(context.Background(), now); err != nil || sum.Rejected != 1 {
			t.Fatalf("contact %q: %+v %v", tc.contact, sum, err)
		}
		text := in.reasons["deletion_B1.json"]
		lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
		if last := lines[len(lines)-1]; last != tc.want || !strings.Contains(text, "record_count 4 does not match") {
			t.Errorf("contact %q: last line %q, want %q; reason file:\n%s", tc.contact, last, tc.want, text)
		}
	}
}

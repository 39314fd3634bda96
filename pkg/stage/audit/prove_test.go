package audit_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"booklets/pkg/stage/audit"
)

// memStore is a ProofStore over entries in memory, with a latest
// checkpoint covering the first signed of them.
type memStore struct {
	entries []audit.Entry
	tree    *audit.MemoryTree
	latest  []byte
}

func (m memStore) Sync(context.Context) (int64, error)    { return int64(len(m.entries)), nil }
func (m memStore) Latest(context.Context) ([]byte, error) { return m.latest, nil }
func (m memStore) Hashes(context.Context) tlog.HashReader { return m.tree }
func (m memStore) Entry(_ context.Context, seq int64) (audit.Entry, error) {
	if seq < 1 || seq > int64(len(m.entries)) {
		return audit.Entry{}, fmt.Errorf("no entry %d", seq)
	}
	return m.entries[seq-1], nil
}
func (m memStore) ForBatch(_ context.Context, id string) ([]audit.Entry, error) {
	var out []audit.Entry
	for _, e := range m.entries {
		if e.BatchID == id {
			out = append(out, e)
		}
	}
	return out, nil
}

// Prove answers against the latest checkpoint unless a size is given, its
// proofs check with tlog, and a request at fault says how (the auditors'
// endpoints answer 400 or 404 by it).
func TestProve(t *testing.T) {
	t.Parallel()
	entries := longChain(t, 7) // B1: 1-3, B2: 4-6, B3: 7
	tree := memTree(t, entries)
	private, _, err := audit.GenerateKey(rand.Reader, "booklets-test")
	if err != nil {
		t.Fatal(err)
	}
	s, err := audit.NewSigner(private)
	if err != nil {
		t.Fatal(err)
	}
	root5, err := tree.Root(5)
	if err != nil {
		t.Fatal(err)
	}
	cp, note, err := s.Sign(5, root5, time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	store := memStore{entries: entries, tree: tree, latest: note}
	ctx := context.Background()

	p, err := audit.Prove(ctx, store, audit.ProofRequest{Batch: "B1"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Checkpoint != string(note) || len(p.Inclusion) != 3 {
		t.Fatalf("batch B1: %+v", p)
	}
	for _, ip := range p.Inclusion {
		if err := tlog.CheckRecord(ip.Proof, cp.Size, cp.Root, ip.LeafIndex, ip.LeafHash); err != nil {
			t.Errorf("seq %d: %v", ip.Seq, err)
		}
	}
	p, err = audit.Prove(ctx, store, audit.ProofRequest{From: 2})
	if err != nil || p.Consistency == nil || p.Consistency.NewSize != 5 || p.Consistency.NewRoot != cp.Root {
		t.Fatalf("consistency from 2: %+v %v", p, err)
	}
	if err := p.Consistency.Check(); err != nil {
		t.Fatal(err)
	}
	p, err = audit.Prove(ctx, store, audit.ProofRequest{Seq: 7, Size: 7})
	if err != nil || p.Checkpoint != "" || len(p.Inclusion) != 1 || p.Inclusion[0].TreeSize != 7 {
		t.Fatalf("seq 7 in the whole log: %+v %v", p, err)
	}

	for _, c := range []struct {
		q    audit.ProofRequest
		want error
	}{
		{audit.ProofRequest{}, audit.ErrBadRequest},
		{audit.ProofRequest{Seq: 1, Batch: "B1"}, audit.ErrBadRequest},
		{audit.ProofRequest{Seq: 1, To: 3}, audit.ErrBadRequest},
		{audit.ProofRequest{Seq: -1}, audit.ErrBadRequest},
		{audit.ProofRequest{Seq: 1, Size: 8}, audit.ErrSize},
		{audit.ProofRequest{From: 6}, audit.ErrSize}, // after the checkpoint's 5
		{audit.ProofRequest{From: 1, To: 9}, audit.ErrSize},
		{audit.ProofRequest{Seq: 8}, audit.ErrNotFound},
		{audit.ProofRequest{Seq: 6}, audit.ErrNotFound}, // not covered by the checkpoint yet
		{audit.ProofRequest{Batch: "B3"}, audit.ErrNotFound},
		{audit.ProofRequest{Batch: "B9"}, audit.ErrNotFound},
	} {
		if _, err := audit.Prove(ctx, store, c.q); !errors.Is(err, c.want) {
			t.Errorf("%+v: %v, want %v", c.q, err, c.want)
		}
	}
}

package audit_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"booklets/pkg/stage/audit"
)

// longChain is n entries, batches B1, B2, ... three events each.
func longChain(t *testing.T, n int) []audit.Entry {
	t.Helper()
	var evs []audit.Event
	for i := range n {
		evs = append(evs, audit.Event{Kind: audit.BatchSent, BatchID: fmt.Sprintf("B%d", i/3+1), Details: map[string]any{"i": i}})
	}
	return chain(t, evs...)
}

func memTree(t *testing.T, entries []audit.Entry) *audit.MemoryTree {
	t.Helper()
	tree := &audit.MemoryTree{}
	for _, e := range entries {
		if err := tree.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	return tree
}

func TestLeafHashIsRFC6962OverTheCanonicalEntry(t *testing.T) {
	t.Parallel()
	e := sample(t)[0]
	c, err := audit.Canonical(e)
	if err != nil {
		t.Fatal(err)
	}
	// Written out, not through tlog: an auditor's own script computes this.
	want := sha256.Sum256(append([]byte{0}, c...))
	got, err := audit.LeafHash(e)
	if err != nil {
		t.Fatal(err)
	}
	if got != tlog.Hash(want) {
		t.Fatalf("leaf hash %x, want %x", got, want)
	}
	tree := memTree(t, sample(t)[:1])
	root, err := tree.Root(1)
	if err != nil || root != got {
		t.Fatalf("root of one leaf = %v (%v), want the leaf hash", root, err)
	}
}

func TestAppendRefusesAGap(t *testing.T) {
	t.Parallel()
	tree := &audit.MemoryTree{}
	if err := tree.Append(sample(t)[1]); err == nil {
		t.Fatal("entry seq 2 appended to an empty tree")
	}
}

// The proofs are checked with tlog's own functions, for every leaf and
// every pair of sizes of a tree of odd shape.
func TestProofsCheckWithTlog(t *testing.T) {
	t.Parallel()
	entries := longChain(t, 13)
	tree := memTree(t, entries)
	for size := int64(1); size <= 13; size++ {
		root, err := tree.Root(size)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries[:size] {
			p, err := audit.ProveInclusion(tree, size, e)
			if err != nil {
				t.Fatal(err)
			}
			if p.RootHash != root {
				t.Fatalf("proof root differs")
			}
			if err := tlog.CheckRecord(p.Proof, size, root, e.Seq-1, p.LeafHash); err != nil {
				t.Fatalf("seq %d in %d: %v", e.Seq, size, err)
			}
			if err := p.Check(); err != nil {
				t.Fatal(err)
			}
			// The proof is for this leaf only.
			other := entries[(e.Seq)%size]
			if other.Seq != e.Seq {
				h, _ := audit.LeafHash(other)
				if tlog.CheckRecord(p.Proof, size, root, e.Seq-1, h) == nil {
					t.Fatalf("proof of seq %d accepts seq %d's leaf", e.Seq, other.Seq)
				}
			}
		}
		for old := int64(1); old <= size; old++ {
			p, err := audit.ProveConsistency(tree, old, size)
			if err != nil {
				t.Fatal(err)
			}
			oldRoot, _ := tree.Root(old)
			if err := tlog.CheckTree(p.Proof, size, root, old, oldRoot); err != nil {
				t.Fatalf("%d -> %d: %v", old, size, err)
			}
			if err := p.Check(); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A changed entry gives another tree, which the old root's proof
	// refuses.
	changed := append([]audit.Entry(nil), entries...)
	changed[4].Details = map[string]any{"i": 99.0}
	other := memTree(t, changed)
	p, err := audit.ProveConsistency(other, 8, 13)
	if err != nil {
		t.Fatal(err)
	}
	oldRoot, _ := tree.Root(8)
	if tlog.CheckTree(p.Proof, 13, p.NewRoot, 8, oldRoot) == nil {
		t.Fatal("a changed tree proved consistent with the original")
	}
	if _, err := audit.ProveConsistency(tree, 0, 3); !errors.Is(err, audit.ErrSize) {
		t.Fatalf("size 0: %v", err)
	}
}

func newSigner(t *testing.T, name string) *audit.Signer {
	t.Helper()
	priv, pub, err := audit.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := audit.NewSigner(priv + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if s.PublicKey != pub {
		t.Fatalf("derived public key %s, generated %s", s.PublicKey, pub)
	}
	return s
}

func TestCheckpointSignAndOpen(t *testing.T) {
	t.Parallel()
	s := newSigner(t, "booklets-audit")
	tree := memTree(t, sample(t))
	root, _ := tree.Root(4)
	at := time.Date(2026, 12, 4, 7, 0, 3, 500, time.UTC)
	cp, signed, err := s.Sign(4, root, at)
	if err != nil {
		t.Fatal(err)
	}
	text := string(signed)
	wantBody := fmt.Sprintf("booklets-audit\n4\n%s\ntime 2026-12-04T07:00:03Z\n\n— booklets-audit ", root)
	if !strings.HasPrefix(text, wantBody) {
		t.Fatalf("signed checkpoint:\n%s\nwant it to start\n%s", text, wantBody)
	}
	got, err := audit.OpenCheckpoint(signed, s.PublicKey+"\n")
	if err != nil {
		t.Fatal(err)
	}
	if got != cp || got.Size != 4 || got.Root != root || !got.Time.Equal(at.Truncate(time.Second)) {
		t.Fatalf("opened %+v, signed %+v", got, cp)
	}

	other := newSigner(t, "booklets-audit")
	if _, err := audit.OpenCheckpoint(signed, other.PublicKey); !errors.Is(err, audit.ErrWrongKey) {
		t.Fatalf("another key of the same name: %v", err)
	}
	_, forged, _ := other.Sign(4, root, at)
	if _, err := audit.OpenCheckpoint(forged, s.PublicKey); !errors.Is(err, audit.ErrWrongKey) {
		t.Fatalf("checkpoint signed with another key: %v", err)
	}
	altered := bytes.Replace(signed, []byte("\n4\n"), []byte("\n5\n"), 1)
	if _, err := audit.OpenCheckpoint(altered, s.PublicKey); !errors.Is(err, audit.ErrBadSignature) {
		t.Fatalf("altered checkpoint: %v", err)
	}
	if _, err := audit.OpenCheckpoint([]byte("booklets-audit\n4\n"), s.PublicKey); !errors.Is(err, audit.ErrMalformedCheckpoint) {
		t.Fatalf("unsigned text: %v", err)
	}
	if _, err := audit.NewSigner("PRIVATE+KEY+x+00000000+AAAA"); err == nil || strings.Contains(err.Error(), "AAAA") {
		t.Fatalf("bad key: %v", err)
	}
	if _, _, err := audit.GenerateKey(rand.Reader, "two words"); err == nil {
		t.Fatal("a key name with a space")
	}
}

func TestParseCheckpoint(t *testing.T) {
	t.Parallel()
	root := tlog.RecordHash([]byte("x"))
	c, err := audit.ParseCheckpoint(fmt.Sprintf("o\n7\n%s\nother ext\ntime 2026-01-02T03:04:05Z\n", root))
	if err != nil || c.Origin != "o" || c.Size != 7 || c.Root != root || c.Time.Year() != 2026 {
		t.Fatalf("%+v %v", c, err)
	}
	for _, bad := range []string{"", "o\n7\n", "o\n-1\n" + root.String() + "\n", "o\n07\n" + root.String() + "\n", "o\n7\nnot-a-hash\n", "o\n7\n" + root.String()} {
		if _, err := audit.ParseCheckpoint(bad); !errors.Is(err, audit.ErrMalformedCheckpoint) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

package postgres_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/tlog"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/stage/audit"
	"booklets/pkg/testkit/testenv"
)

func manyEvents(n int) []audit.Event {
	var out []audit.Event
	for i := range n {
		out = append(out, audit.Event{Kind: audit.BatchSent, BatchID: fmt.Sprintf("2025-03-%02d", i/2+1), Details: map[string]any{"i": i}})
	}
	return out
}

// memoryRoot is the root of the entries' tree built in memory, the
// reference the stored tree must match.
func memoryRoot(t *testing.T, entries []audit.Entry) (*audit.MemoryTree, tlog.Hash) {
	t.Helper()
	tree := &audit.MemoryTree{}
	for _, e := range entries {
		testenv.Must(t, tree.Append(e))
	}
	root, err := tree.Root(tree.Size())
	testenv.Must(t, err)
	return tree, root
}

func TestAuditTreeGrowsWithTheLog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := database(t)
	written := appendAll(t, db, fixedClock(), manyEvents(11)...)
	hashes := postgres.AuditTreeHashes(ctx, db)
	for n := int64(1); n <= 11; n++ {
		_, want := memoryRoot(t, written[:n])
		got, err := audit.RootHash(n, hashes)
		testenv.Must(t, err)
		if got != want {
			t.Fatalf("stored root of %d entries %s, entries' root %s", n, got, want)
		}
	}
	root, _ := audit.RootHash(11, hashes)
	// Proofs from the stored hashes, checked with tlog itself.
	for _, e := range written {
		p, err := audit.ProveInclusion(hashes, 11, e)
		testenv.Must(t, err)
		leaf, _ := audit.LeafHash(e)
		if err := tlog.CheckRecord(p.Proof, 11, root, e.Seq-1, leaf); err != nil {
			t.Fatalf("inclusion of seq %d: %v", e.Seq, err)
		}
	}
	for old := int64(1); old <= 11; old++ {
		p, err := audit.ProveConsistency(hashes, old, 11)
		testenv.Must(t, err)
		_, oldRoot := memoryRoot(t, written[:old])
		if err := tlog.CheckTree(p.Proof, 11, root, old, oldRoot); err != nil {
			t.Fatalf("consistency %d -> 11: %v", old, err)
		}
	}
	// A rolled-back append leaves no leaf behind.
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := (postgres.AuditAppender{}).Append(ctx, tx, events[0]); err != nil {
			return err
		}
		return errors.New("roll back")
	})
	if err == nil {
		t.Fatal("no rollback")
	}
	var leaves int64
	testenv.Must(t, db.QueryRow(ctx, "SELECT max(seq) FROM audit_tree").Scan(&leaves))
	if leaves != 11 {
		t.Fatalf("tree of %d leaves after a rolled-back append", leaves)
	}
}

// A database migrated from before 083 has entries and no tree: the first
// append, or the signer's Sync, builds it over them.
func TestAuditTreeIsBuiltOverExistingEntries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := database(t)
	written := appendAll(t, db, fixedClock(), manyEvents(1200)...)
	forget := func() {
		_, err := db.Exec(ctx, `ALTER TABLE audit_tree DISABLE TRIGGER USER; TRUNCATE audit_tree; ALTER TABLE audit_tree ENABLE TRIGGER USER`)
		testenv.Must(t, err)
	}
	forget()
	size, err := postgres.AuditTree{DB: db}.Sync(ctx)
	testenv.Must(t, err)
	_, want := memoryRoot(t, written)
	got, err := audit.RootHash(size, postgres.AuditTreeHashes(ctx, db))
	testenv.Must(t, err)
	if size != 1200 || got != want {
		t.Fatalf("Sync: size %d root %s, want 1200 and %s", size, got, want)
	}

	forget()
	written = append(written, appendAll(t, db, fixedClock(), events[0])...)
	_, want = memoryRoot(t, written)
	got, err = audit.RootHash(1201, postgres.AuditTreeHashes(ctx, db))
	testenv.Must(t, err)
	if got != want {
		t.Fatal("the first append after the migration did not build the tree over the entries before it")
	}
}

func TestAuditTreeIsAppendOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := database(t)
	appendAll(t, db, fixedClock(), events...)
	s := signer(t)
	_, err := checkpointer(db, s).Sign(ctx, false)
	testenv.Must(t, err)
	for _, stmt := range []string{
		"UPDATE audit_tree SET hash = hash", "DELETE FROM audit_tree", "TRUNCATE audit_tree",
		"UPDATE audit_checkpoints SET note = note", "DELETE FROM audit_checkpoints", "TRUNCATE audit_checkpoints",
	} {
		_, err := db.Exec(ctx, stmt)
		if err == nil || !strings.Contains(err.Error(), "is append-only") {
			t.Errorf("%s: %v", stmt, err)
		}
	}
}

func signer(t *testing.T) *audit.Signer {
	t.Helper()
	priv, _, err := audit.GenerateKey(rand.Reader, "booklets-audit")
	testenv.Must(t, err)
	s, err := audit.NewSigner(priv)
	testenv.Must(t, err)
	return s
}

func checkpointer(db *pgxpool.Pool, s *audit.Signer) *audit.Checkpointer {
	at := time.Date(2026, 12, 4, 7, 0, 0, 0, time.UTC)
	return &audit.Checkpointer{Store: postgres.AuditTree{DB: db}, Signer: s, Now: func() time.Time { at = at.Add(time.Hour); return at }}
}

// superuser runs statements behind the services' back, the append-only
// triggers disabled.
func superuser(t *testing.T, db *pgxpool.Pool, stmts ...string) {
	t.Helper()
	sql := "ALTER TABLE audit_log DISABLE TRIGGER USER;\n" + strings.Join(stmts, ";\n") + ";\nALTER TABLE audit_log ENABLE TRIGGER USER"
	_, err := db.Exec(context.Background(), sql)
	testenv.Must(t, err)
}

func TestCheckpointerSignsOnlyAnIntactLog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := database(t)
	s := signer(t)
	c := checkpointer(db, s)

	first, err := c.Sign(ctx, false)
	testenv.Must(t, err)
	if !first.New || first.Size != 0 {
		t.Fatalf("empty log: %+v", first)
	}
	written := appendAll(t, db, fixedClock(), manyEvents(6)...)
	cp, err := c.Sign(ctx, true)
	testenv.Must(t, err)
	_, root := memoryRoot(t, written)
	if !cp.New || cp.Size != 6 || cp.Root != root {
		t.Fatalf("signed %+v, want 6 entries root %s", cp.Checkpoint, root)
	}
	if _, err := audit.OpenCheckpoint(cp.Note, s.PublicKey); err != nil {
		t.Fatal(err)
	}
	again, err := c.Sign(ctx, true)
	testenv.Must(t, err)
	if again.New || !bytes.Equal(again.Note, cp.Note) {
		t.Fatal("signed again though the log had not grown")
	}
	forced, err := c.Sign(ctx, false)
	testenv.Must(t, err)
	if !forced.New || forced.Size != 6 || !forced.Time.After(cp.Time) {
		t.Fatalf("forced: %+v", forced)
	}
	latest, err := postgres.AuditTree{DB: db}.Latest(ctx)
	testenv.Must(t, err)
	if !bytes.Equal(latest, forced.Note) {
		t.Fatal("Latest is not the last signed")
	}

	// A consistent rewrite of entry 2 (the chain recomputed from there,
	// and the tree rebuilt to match) is refused: the log no longer
	// extends the checkpoint signed before.
	rewrite(t, db, written, 2)
	_, err = c.Sign(ctx, false)
	if !errors.Is(err, audit.ErrRefused) || !strings.Contains(err.Error(), "does not extend the checkpoint") {
		t.Fatalf("rewritten log: %v", err)
	}
}

// rewrite changes entry seq's details and recomputes every later hash, and
// the tree, as a superuser covering their tracks would.
func rewrite(t *testing.T, db *pgxpool.Pool, entries []audit.Entry, seq int64) []audit.Entry {
	t.Helper()
	ctx := context.Background()
	out := append([]audit.Entry(nil), entries...)
	out[seq-1].Details = map[string]any{"i": 1000}
	prev := out[seq-1].PrevHash
	var stmts []string
	for i := seq - 1; i < int64(len(out)); i++ {
		out[i].PrevHash = prev
		h, err := audit.ComputeHash(out[i])
		testenv.Must(t, err)
		out[i].Hash = h
		prev = h
	}
	// Two passes so the unique constraints on the hashes never see a
	// duplicate half-way.
	for i := seq - 1; i < int64(len(out)); i++ {
		stmts = append(stmts, fmt.Sprintf("UPDATE audit_log SET hash = '%064d', prev_hash = '%064x' WHERE seq = %d", out[i].Seq, out[i].Seq+1<<40, out[i].Seq))
	}
	for i := seq - 1; i < int64(len(out)); i++ {
		d, err := audit.CanonicalDetails(out[i].Details)
		testenv.Must(t, err)
		stmts = append(stmts, fmt.Sprintf("UPDATE audit_log SET details = '%s', prev_hash = '%s', hash = '%s' WHERE seq = %d", d, out[i].PrevHash, out[i].Hash, out[i].Seq))
	}
	superuser(t, db, stmts...)
	_, err := db.Exec(ctx, `ALTER TABLE audit_tree DISABLE TRIGGER USER; TRUNCATE audit_tree; ALTER TABLE audit_tree ENABLE TRIGGER USER`)
	testenv.Must(t, err)
	res, err := postgres.VerifyAudit(ctx, db)
	testenv.Must(t, err)
	if !res.OK {
		t.Fatalf("the rewrite left a broken chain: %v", res)
	}
	return out
}

func TestCheckpointerRefusesATruncatedLog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := database(t)
	c := checkpointer(db, signer(t))
	appendAll(t, db, fixedClock(), manyEvents(5)...)
	_, err := c.Sign(ctx, false)
	testenv.Must(t, err)
	superuser(t, db, "DELETE FROM audit_log WHERE seq > 3")
	_, err = c.Sign(ctx, false)
	if !errors.Is(err, audit.ErrRefused) {
		t.Fatalf("truncated log: %v", err)
	}
	// The services keep recording (seq 4 again), and the signer keeps
	// refusing: the tree still holds the removed entries' leaves.
	appendAll(t, db, fixedClock(), manyEvents(3)...)
	res, err := postgres.VerifyAudit(ctx, db)
	testenv.Must(t, err)
	if !res.OK || res.HeadSeq != 6 {
		t.Fatalf("chain after the truncation: %v", res)
	}
	_, err = c.Sign(ctx, false)
	if !errors.Is(err, audit.ErrRefused) {
		t.Fatalf("log grown again over a truncation: %v", err)
	}
}

func TestAuditExport(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := database(t)
	s := signer(t)
	written := appendAll(t, db, fixedClock(), manyEvents(7)...)
	cp, err := checkpointer(db, s).Sign(ctx, false)
	testenv.Must(t, err)
	var buf bytes.Buffer
	n, err := postgres.AuditTree{DB: db}.Export(ctx, &buf, s.Origin(), s.PublicKey)
	testenv.Must(t, err)
	x, err := audit.ReadExport(&buf)
	testenv.Must(t, err)
	if n != 7 || len(x.Entries) != 7 || len(x.Checkpoints) != 1 || !bytes.Equal(x.Checkpoints[0], cp.Note) || x.Header.PublicKey != s.PublicKey {
		t.Fatalf("export: %d entries, %d checkpoints, header %+v", len(x.Entries), len(x.Checkpoints), x.Header)
	}
	for i := range written {
		if x.Entries[i].Hash != written[i].Hash {
			t.Fatalf("entry %d differs", i+1)
		}
	}
	r := audit.CheckExport(x, audit.LogCheck{PublicKey: s.PublicKey, Batch: "2025-03-02"})
	testenv.Must(t, r.Err())
	if len(r.Batch) != 2 {
		t.Fatalf("batch proofs: %+v", r.Batch)
	}
}

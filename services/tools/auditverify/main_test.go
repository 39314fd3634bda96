package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/stage/audit"
	"booklets/pkg/testkit/gnupg"
	"booklets/pkg/testkit/testenv"
)

// logEnv is a real database with an audit log, the reconciler's key and
// checkpointer, and a folder for the auditor's files.
type logEnv struct {
	db     *pgxpool.Pool
	signer *audit.Signer
	cp     *audit.Checkpointer
	dir    string
	key    string // the public key file
	clock  time.Time
}

func newLogEnv(t *testing.T) *logEnv {
	t.Helper()
	db, _ := testenv.MigratedPool(t)
	priv, pub, err := audit.GenerateKey(rand.Reader, "booklets-audit")
	testenv.Must(t, err)
	s, err := audit.NewSigner(priv)
	testenv.Must(t, err)
	e := &logEnv{db: db, signer: s, dir: t.TempDir(), clock: time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC)}
	e.cp = &audit.Checkpointer{Store: postgres.AuditTree{DB: db}, Signer: s, Now: func() time.Time { return e.clock }}
	e.key = e.write(t, "audit.pub", pub+"\n")
	return e
}

func (e *logEnv) write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(e.dir, name)
	testenv.Must(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

// day appends n events about batch, as a day's work would.
func (e *logEnv) day(t *testing.T, batch string, n int) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		e.clock = e.clock.Add(time.Minute)
		testenv.Must(t, pgx.BeginFunc(ctx, e.db, func(tx pgx.Tx) error {
			_, err := postgres.AuditAppender{Now: func() time.Time { return e.clock }}.Append(ctx, tx,
				audit.Event{Kind: audit.BatchSent, BatchID: batch, Details: map[string]any{"record_count": i + 1}})
			return err
		}))
	}
}

// checkpoint signs one and saves it as the auditor would keep it.
func (e *logEnv) checkpoint(t *testing.T, name string) string {
	t.Helper()
	e.clock = e.clock.Add(time.Hour)
	s, err := e.cp.Sign(context.Background(), false)
	testenv.Must(t, err)
	return e.write(t, name, string(s.Note))
}

// export writes `reconciler audit export`'s file.
func (e *logEnv) export(t *testing.T) string {
	t.Helper()
	var buf bytes.Buffer
	_, err := postgres.AuditTree{DB: e.db}.Export(context.Background(), &buf, e.signer.Origin(), e.signer.PublicKey)
	testenv.Must(t, err)
	return e.write(t, "log.jsonl", buf.String())
}

func (e *logEnv) entries(t *testing.T) []audit.Entry {
	t.Helper()
	var out []audit.Entry
	testenv.Must(t, postgres.AuditTree{DB: e.db}.Entries(context.Background(), 1<<62, func(x audit.Entry) error {
		out = append(out, x)
		return nil
	}))
	return out
}

// superuser runs SQL behind the services' back, every append-only
// trigger disabled.
func (e *logEnv) superuser(t *testing.T, sql string, args ...any) {
	t.Helper()
	ctx := context.Background()
	_, err := e.db.Exec(ctx, "ALTER TABLE audit_log DISABLE TRIGGER USER; ALTER TABLE audit_tree DISABLE TRIGGER USER; ALTER TABLE audit_checkpoints DISABLE TRIGGER USER")
	testenv.Must(t, err)
	defer func() {
		_, err := e.db.Exec(ctx, "ALTER TABLE audit_log ENABLE TRIGGER USER; ALTER TABLE audit_tree ENABLE TRIGGER USER; ALTER TABLE audit_checkpoints ENABLE TRIGGER USER")
		testenv.Must(t, err)
	}()
	_, err = e.db.Exec(ctx, sql, args...)
	testenv.Must(t, err)
}

// replaceLog rewrites the whole table as entries, renumbered from 1 with
// every hash recomputed, and rebuilds the tree: a consistent forgery that
// verify-audit accepts.
func (e *logEnv) replaceLog(t *testing.T, entries []audit.Entry) {
	t.Helper()
	ctx := context.Background()
	e.superuser(t, "TRUNCATE audit_log, audit_tree")
	prev := audit.Genesis
	for i, x := range entries {
		x.Seq, x.PrevHash = int64(i+1), prev
		h, err := audit.ComputeHash(x)
		testenv.Must(t, err)
		x.Hash, prev = h, h
		d, err := audit.CanonicalDetails(x.Details)
		testenv.Must(t, err)
		_, err = e.db.Exec(ctx, `INSERT INTO audit_log (seq, at, kind, batch_id, details, prev_hash, hash) VALUES ($1, $2, $3, NULLIF($4, ''), $5::jsonb, $6, $7)`,
			x.Seq, x.At, string(x.Kind), x.BatchID, string(d), x.PrevHash, x.Hash)
		testenv.Must(t, err)
	}
	_, err := postgres.AuditTree{DB: e.db}.Sync(ctx)
	testenv.Must(t, err)
	res, err := postgres.VerifyAudit(ctx, e.db)
	testenv.Must(t, err)
	if !res.OK {
		t.Fatalf("the forgery is not consistent: %v", res)
	}
}

func verify(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestIntactLogVerifies(t *testing.T) {
	t.Parallel()
	e := newLogEnv(t)
	e.day(t, "2026-12-01", 3)
	old := e.checkpoint(t, "old.checkpoint")
	e.day(t, "2026-12-02", 4)
	e.checkpoint(t, "newer.checkpoint")
	log := e.export(t)
	saved := filepath.Join(e.dir, "next.checkpoint")
	code, out, errOut := verify(t, "--key", e.key, "--checkpoint", old, "--batch", "2026-12-02", "--save", saved, log)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"OK: 7 entries", "checkpoint of booklets-audit: 7 entries", "extends your checkpoint old.checkpoint (3 entries",
		"batch 2026-12-02: 4 entries included in the signed tree of 7", "  seq 4 2026-12-01T19:04:00Z batch_sent (leaf "} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	next, err := os.ReadFile(saved)
	testenv.Must(t, err)
	if cp, err := audit.OpenCheckpoint(next, e.signer.PublicKey); err != nil || cp.Size != 7 {
		t.Fatalf("saved checkpoint: %+v %v", cp, err)
	}
	// Standard input, flags after the file, and the saved checkpoint as
	// the next visit's.
	e.day(t, "2026-12-03", 1)
	e.checkpoint(t, "x.checkpoint")
	data, err := os.ReadFile(e.export(t))
	testenv.Must(t, err)
	var o, eo bytes.Buffer
	if code := run([]string{"-", "--key", e.key, "--checkpoint", saved, "--checkpoint", old}, bytes.NewReader(data), &o, &eo); code != 0 {
		t.Fatalf("stdin: exit %d\n%s%s", code, o.String(), eo.String())
	}

	code, _, errOut = verify(t, "--key", e.key, "--batch", "2026-11-30", log)
	if code != 1 || !strings.Contains(errOut, "not included: batch 2026-11-30: the log holds no entry about it") {
		t.Fatalf("unknown batch: exit %d\n%s", code, errOut)
	}
}

// Tampering as a superuser behind the services' back, each against a
// checkpoint the auditor saved before it; each is named.
func TestTamperingIsCaught(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		tamper func(t *testing.T, e *logEnv)
		want   []string
	}{
		{"the last entries deleted", func(t *testing.T, e *logEnv) {
			e.superuser(t, "DELETE FROM audit_log WHERE seq > 4")
		}, []string{"truncated: the log holds 4 entries, but your checkpoint old.checkpoint (signed 2026-12-01T19:06:00Z) covers 6: entries 5 to 6 were removed"}},
		{"an entry changed and the later hashes recomputed", func(t *testing.T, e *logEnv) {
			x := e.entries(t)
			x[1].Details = map[string]any{"record_count": 2000}
			e.replaceLog(t, x)
		}, []string{"rewritten: the log's first 6 entries no longer hash to the root your checkpoint old.checkpoint signed 2026-12-01T19:06:00Z: an entry among seq 1 to 6 was changed, inserted or removed",
			"rewritten: the export's first 8 entries do not hash to the root of its own checkpoint"}},
		{"an entry inserted in the middle", func(t *testing.T, e *logEnv) {
			x := e.entries(t)
			forged := audit.Entry{At: x[2].At, Kind: audit.ConfirmationAccepted, BatchID: "2026-12-01", Details: map[string]any{"file": "deletion_2026-12-01.json"}}
			e.replaceLog(t, append(x[:3:3], append([]audit.Entry{forged}, x[3:]...)...))
		}, []string{"rewritten: the log's first 6 entries no longer hash to the root your checkpoint old.checkpoint"}},
		{"a rewrite signed again (checkpoints deleted)", func(t *testing.T, e *logEnv) {
			x := e.entries(t)
			x[0].Details = map[string]any{"record_count": 0}
			e.replaceLog(t, x)
			e.superuser(t, "TRUNCATE audit_checkpoints")
			e.checkpoint(t, "forged.checkpoint")
		}, []string{"fork: your checkpoint old.checkpoint (signed 2026-12-01T19:06:00Z, 6 entries) and the log's checkpoint signed 2026-12-01T21:08:00Z (8 entries) are both signed by the key but the newer does not extend the older"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newLogEnv(t)
			e.day(t, "2026-12-01", 6)
			old := e.checkpoint(t, "old.checkpoint")
			e.day(t, "2026-12-02", 2)
			e.checkpoint(t, "latest.checkpoint")
			if code, out, errOut := verify(t, "--key", e.key, "--checkpoint", old, e.export(t)); code != 0 {
				t.Fatalf("before tampering: exit %d\n%s%s", code, out, errOut)
			}
			c.tamper(t, e)
			code, out, errOut := verify(t, "--key", e.key, "--checkpoint", old, e.export(t))
			if code != 1 {
				t.Fatalf("exit %d after tampering\n%s%s", code, out, errOut)
			}
			for _, w := range c.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("the message lacks %q:\n%s", w, errOut)
				}
			}
			// The signer refuses to vouch for the tampered log.
			if _, err := e.cp.Sign(context.Background(), false); err == nil && !strings.Contains(c.name, "signed again") {
				t.Error("the checkpointer signed the tampered log")
			}
		})
	}
}

func TestCheckpointsByAnotherKeyAreRefused(t *testing.T) {
	t.Parallel()
	e := newLogEnv(t)
	e.day(t, "2026-12-01", 3)
	good := e.checkpoint(t, "old.checkpoint")
	log := e.export(t)

	priv, otherPub, err := audit.GenerateKey(rand.Reader, "booklets-audit")
	testenv.Must(t, err)
	other, err := audit.NewSigner(priv)
	testenv.Must(t, err)
	root, err := audit.RootHash(3, postgres.AuditTreeHashes(context.Background(), e.db))
	testenv.Must(t, err)
	_, forged, err := other.Sign(3, root, e.clock)
	testenv.Must(t, err)
	forgedFile := e.write(t, "forged.checkpoint", string(forged))

	code, _, errOut := verify(t, "--key", e.key, "--checkpoint", forgedFile, log)
	if code != 1 || !strings.Contains(errOut, "wrong key: your checkpoint forged.checkpoint: the checkpoint is signed by booklets-audit+") {
		t.Fatalf("checkpoint by another key: exit %d\n%s", code, errOut)
	}
	// The export checked with the other key: the export's own checkpoint
	// and the auditor's are refused.
	code, _, errOut = verify(t, "--key", e.write(t, "other.pub", otherPub), "--checkpoint", good, log)
	if code != 1 || strings.Count(errOut, "wrong key:") != 2 {
		t.Fatalf("wrong public key: exit %d\n%s", code, errOut)
	}
	b, _ := os.ReadFile(good)
	altered := e.write(t, "altered.checkpoint", strings.Replace(string(b), "\n3\n", "\n2\n", 1))
	code, _, errOut = verify(t, "--key", e.key, "--checkpoint", altered, log)
	if code != 1 || !strings.Contains(errOut, "bad signature: your checkpoint altered.checkpoint") {
		t.Fatalf("altered checkpoint: exit %d\n%s", code, errOut)
	}
}

func TestHelpTouchesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	save := filepath.Join(dir, "saved")
	for _, args := range [][]string{{"-h"}, {"--help"}, {"--key", "k", "--save", save, "-h", "log.jsonl"}} {
		code, out, errOut := verify(t, args...)
		if code != 0 || !strings.HasPrefix(out, "Usage: auditverify --key FILE") || errOut != "" {
			t.Errorf("%v: exit %d\n%s%s", args, code, out, errOut)
		}
	}
	if _, err := os.Stat(save); !os.IsNotExist(err) {
		t.Fatal("help wrote a file")
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "--key is required"},
		{[]string{"--key", "k"}, "name one export file"},
		{[]string{"--key", "k", "a", "b"}, "name one export file"},
		{[]string{"--nope"}, "flag provided but not defined: -nope"},
		{[]string{"--key", filepath.Join(dir, "missing.pub"), "x"}, "missing.pub: no such file"},
	} {
		code, _, errOut := verify(t, c.args...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d\n%s", c.args, code, errOut)
		}
	}
}

// The partner's signed confirmations travel in the export: --receipts
// writes the bytes the log vouches for, and GnuPG verifies them on the
// auditor's machine; a receipt changed in the export is refused.
func TestReceiptsForGnuPG(t *testing.T) {
	t.Parallel()
	e := newLogEnv(t)
	partner := gnupg.New(t, "dpo@partner.example")
	conf := e.write(t, "deletion_B-R.json", `{"batch_id":"B-R","record_count":2}`)
	partner.SignFile(conf)
	data, err := os.ReadFile(conf)
	testenv.Must(t, err)
	sig, err := os.ReadFile(conf + ".asc")
	testenv.Must(t, err)
	hexSum := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
	testenv.Must(t, pgx.BeginFunc(context.Background(), e.db, func(tx pgx.Tx) error {
		_, err := postgres.AuditAppender{Now: func() time.Time { return e.clock }}.Append(context.Background(), tx,
			audit.Event{Kind: audit.ConfirmationAccepted, BatchID: "B-R", Details: map[string]any{
				"file": "deletion_B-R.json", "file_sha256": hexSum(data), "signature_sha256": hexSum(sig)}})
		return err
	}))
	e.checkpoint(t, "c.checkpoint")
	// The export as the reconciler writes it, with the receipt line the
	// database would add (this log has no confirmations table rows).
	withReceipt := func(name string, r audit.Receipt) string {
		var buf bytes.Buffer
		x, err := audit.NewExportWriter(&buf, e.signer.Origin(), e.signer.PublicKey, 1)
		testenv.Must(t, err)
		for _, en := range e.entries(t) {
			testenv.Must(t, x.Entry(en))
		}
		testenv.Must(t, x.Receipt(r))
		note, err := postgres.AuditTree{DB: e.db}.Latest(context.Background())
		testenv.Must(t, err)
		testenv.Must(t, x.Checkpoint(note))
		return e.write(t, name, buf.String())
	}
	good := withReceipt("log.jsonl", audit.Receipt{BatchID: "B-R", File: "deletion_B-R.json", Confirmation: data, Signature: sig})
	dir := filepath.Join(e.dir, "receipts")
	code, out, errOut := verify(t, "--key", e.key, "--receipts", dir, good)
	if code != 0 || !strings.Contains(out, "1 partner confirmation(s) kept in the export match") || !strings.Contains(out, "gpg --verify") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	auditor := gnupg.New(t, "auditor@example.test")
	auditor.Run(partner.PublicKey(), "--import")
	written := filepath.Join(dir, "deletion_B-R.json")
	if ok, msg := auditor.VerifyFile(written+".asc", written); !ok {
		t.Fatalf("gpg --verify of the written receipt failed:\n%s", msg)
	}

	bad := withReceipt("changed.jsonl", audit.Receipt{BatchID: "B-R", File: "deletion_B-R.json", Confirmation: append(data, ' '), Signature: sig})
	code, _, errOut = verify(t, "--key", e.key, "--receipts", filepath.Join(e.dir, "r2"), bad)
	if code != 1 || !strings.Contains(errOut, "receipt mismatch: the receipt of batch B-R: the confirmation's SHA-256") {
		t.Fatalf("a changed receipt: exit %d\n%s", code, errOut)
	}
	evil := withReceipt("evil.jsonl", audit.Receipt{BatchID: "B-R", File: "../../evil", Confirmation: data, Signature: sig})
	if code, _, errOut := verify(t, "--key", e.key, "--receipts", filepath.Join(e.dir, "r3"), evil); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "evil")); err == nil {
		t.Fatal("a receipt's file name wrote outside --receipts")
	}
}

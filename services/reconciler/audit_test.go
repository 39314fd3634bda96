package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/mod/sumdb/tlog"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/domain/workdays"
	"booklets/pkg/stage/audit"
	"booklets/pkg/testkit/eventually"
	"booklets/pkg/testkit/testenv"
)

// withAuditKey gives the env a signing key and a checkpoint folder, made
// with the command itself; it returns the public key printed.
func (e *env) withAuditKey() string {
	e.t.Helper()
	dir := e.t.TempDir()
	keyFile := filepath.Join(dir, "audit.key")
	pub := strings.TrimSpace(e.run("audit", "keygen", keyFile, "--name", "booklets-test"))
	e.vars["AUDIT_SIGNING_KEY_FILE"] = keyFile
	e.vars["AUDIT_CHECKPOINT_DIR"] = filepath.Join(dir, "published")
	return pub
}

func TestAuditKeygenAndPublicKeyConnectToNothing(t *testing.T) {
	t.Parallel()
	addr, connections := tripwire(t)
	dir := t.TempDir()
	key := filepath.Join(dir, "audit.key")
	env := map[string]string{
		"DATABASE_URL": "postgres://postgres@" + addr + "/booklets?sslmode=disable&connect_timeout=2",
		"SFTP_ADDR":    addr, "LOG_LEVEL": "disabled",
	}
	getenv := func(k string) string { return env[k] }
	runArgs := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(context.Background(), args, getenv, &out)
		return out.String(), err
	}
	pub, err := runArgs("audit", "keygen", key)
	testenv.Must(t, err)
	if !strings.HasPrefix(pub, "booklets-audit+") || strings.Contains(pub, "PRIVATE") {
		t.Fatalf("keygen printed %q", pub)
	}
	fi, err := os.Stat(key)
	testenv.Must(t, err)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", fi.Mode())
	}
	before, _ := os.ReadFile(key)
	if _, err := runArgs("audit", "keygen", key); err == nil {
		t.Fatal("keygen overwrote a key")
	}
	after, _ := os.ReadFile(key)
	if !bytes.Equal(before, after) {
		t.Fatal("the key changed")
	}
	env["AUDIT_SIGNING_KEY_FILE"] = key
	got, err := runArgs("audit", "public-key")
	testenv.Must(t, err)
	if got != pub {
		t.Fatalf("public-key %q, keygen printed %q", got, pub)
	}
	for _, args := range [][]string{{"audit", "-h"}, {"help", "audit"}, {"audit", "export", "--help"}, {"audit", "keygen", "x", "-h"}, {"audit", "prove", "--seq", "1", "-h"}} {
		out, err := runArgs(args...)
		if err != nil || !strings.HasPrefix(out, "Usage: reconciler audit COMMAND") {
			t.Errorf("reconciler %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"audit"}, "which command?"},
		{[]string{"audit", "sign"}, `unknown command "sign"`},
		{[]string{"audit", "keygen"}, "name the FILE"},
		{[]string{"audit", "export", "x"}, `unexpected argument "x"`},
		{[]string{"audit", "prove"}, "give one of --seq N, --batch ID or --from OLD"},
		{[]string{"audit", "prove", "--seq", "1", "--batch", "B"}, "give one of"},
		{[]string{"audit", "prove", "--seq", "1", "--to", "3"}, "--to goes with --from"},
	} {
		_, err := runArgs(c.args...)
		var ue usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("reconciler %s: %v, want a usage error saying %q", strings.Join(c.args, " "), err, c.want)
		}
	}
	env["AUDIT_SIGNING_KEY_FILE"] = filepath.Join(dir, "missing")
	if _, err := runArgs("audit", "public-key"); err == nil || !strings.Contains(err.Error(), "AUDIT_SIGNING_KEY_FILE") {
		t.Fatalf("missing key file: %v", err)
	}
	testenv.Must(t, os.WriteFile(filepath.Join(dir, "bad"), []byte("PRIVATE+KEY+x+00000000+c2VjcmV0\n"), 0o600))
	env["AUDIT_SIGNING_KEY_FILE"] = filepath.Join(dir, "bad")
	if _, err := runArgs("audit", "public-key"); err == nil || strings.Contains(err.Error(), "c2VjcmV0") {
		t.Fatalf("bad key file: %v", err)
	}
	if n := connections.Load(); n != 0 {
		t.Fatalf("%d connections", n)
	}
}

// check-now signs a checkpoint after its run, stored and published to the
// folder and the partner's server; export and prove give what auditverify
// and tlog accept.
func TestCheckNowSignsAndPublishesACheckpoint(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	pub := e.withAuditKey()
	ctx := context.Background()
	today, err := workdays.London(time.Now())
	testenv.Must(t, err)
	long := today.AddDate(0, 0, -120)
	due := e.batch("B-OK", long, 12, sum('a'))
	e.confirm("deletion_B-OK.json", conf("B-OK", 12, sum('a'), due.Add(11*time.Hour)))
	e.run("check-now")

	var entries int64
	testenv.Must(t, e.db.QueryRow(ctx, "SELECT count(*) FROM audit_log").Scan(&entries))
	if entries == 0 {
		t.Fatal("the run recorded nothing")
	}
	published := e.vars["AUDIT_CHECKPOINT_DIR"]
	latest, err := os.ReadFile(filepath.Join(published, "latest.checkpoint"))
	testenv.Must(t, err)
	cp, err := audit.OpenCheckpoint(latest, pub)
	testenv.Must(t, err)
	if cp.Size != entries || cp.Origin != "booklets-test" {
		t.Fatalf("checkpoint %v, want %d entries", cp, entries)
	}
	named, _ := filepath.Glob(filepath.Join(published, "0*.checkpoint"))
	remote, _ := filepath.Glob(e.srv.Path("checkpoints", "*.checkpoint"))
	if len(named) != 1 || len(remote) != 1 || filepath.Base(named[0]) != filepath.Base(remote[0]) {
		t.Fatalf("published %v here and %v at the partner", named, remote)
	}
	atPartner, err := os.ReadFile(remote[0])
	testenv.Must(t, err)
	if !bytes.Equal(atPartner, latest) {
		t.Fatal("the partner's copy differs")
	}

	// Every run signs, grown or not.
	e.run("check-now")
	var stored int
	testenv.Must(t, e.db.QueryRow(ctx, "SELECT count(*) FROM audit_checkpoints").Scan(&stored))
	if stored != 2 {
		t.Fatalf("%d checkpoints stored after two runs", stored)
	}

	// The export checks offline against the published checkpoint.
	x, err := audit.ReadExport(strings.NewReader(e.run("audit", "export")))
	testenv.Must(t, err)
	r := audit.CheckExport(x, audit.LogCheck{PublicKey: pub, Batch: "B-OK",
		Kept: []audit.KeptCheckpoint{{Name: "latest.checkpoint", Signed: latest}}})
	testenv.Must(t, r.Err())
	if x.Header.PublicKey != pub || int64(len(x.Entries)) != entries || len(r.Batch) == 0 {
		t.Fatalf("export: %+v, %d entries, batch proofs %d", x.Header, len(x.Entries), len(r.Batch))
	}

	// Proofs, checked with tlog against the signed root.
	var p proof
	testenv.Must(t, json.Unmarshal([]byte(e.run("audit", "prove", "--batch", "B-OK")), &p))
	signed, err := audit.OpenCheckpoint([]byte(p.Checkpoint), pub)
	testenv.Must(t, err)
	if len(p.Inclusion) == 0 {
		t.Fatal("no inclusion proof")
	}
	for _, ip := range p.Inclusion {
		if err := tlog.CheckRecord(ip.Proof, signed.Size, signed.Root, ip.LeafIndex, ip.LeafHash); err != nil {
			t.Fatalf("inclusion of seq %d: %v", ip.Seq, err)
		}
	}
	p = proof{}
	testenv.Must(t, json.Unmarshal([]byte(e.run("audit", "prove", "--from", "1")), &p))
	c := p.Consistency
	if c == nil || c.NewSize != signed.Size || c.NewRoot != signed.Root {
		t.Fatalf("consistency proof %+v", c)
	}
	first, err := postgres.AuditTree{DB: e.db}.Entry(ctx, 1)
	testenv.Must(t, err)
	leaf, _ := audit.LeafHash(first)
	if err := tlog.CheckTree(c.Proof, c.NewSize, c.NewRoot, 1, leaf); err != nil {
		t.Fatalf("consistency from 1: %v", err)
	}
	if out, err := e.runErr("audit", "prove", "--seq", "999"); err == nil {
		t.Fatalf("a proof of a missing entry: %s", out)
	}

	// The checkpoint command prints what it signed.
	cpText := e.run("audit", "checkpoint")
	if _, err := audit.OpenCheckpoint([]byte(cpText), pub); err != nil {
		t.Fatalf("audit checkpoint printed %q: %v", cpText, err)
	}

	// Entries cut from the end behind the services' back: nothing more is
	// signed, but the export is still written, and shows it.
	_, err = e.db.Exec(ctx, "ALTER TABLE audit_log DISABLE TRIGGER USER; DELETE FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log); ALTER TABLE audit_log ENABLE TRIGGER USER")
	testenv.Must(t, err)
	out, err := e.runErr("audit", "export")
	if !errors.Is(err, audit.ErrRefused) {
		t.Fatalf("export of a truncated log: %v", err)
	}
	x, err = audit.ReadExport(strings.NewReader(out))
	testenv.Must(t, err)
	r = audit.CheckExport(x, audit.LogCheck{PublicKey: pub, Kept: []audit.KeptCheckpoint{{Name: "latest.checkpoint", Signed: latest}}})
	if len(r.Problems) == 0 || r.Problems[0].Kind != audit.Truncated {
		t.Fatalf("truncated export: %v", r.Err())
	}
	if out, err := e.runErr("check-now"); err != nil {
		t.Fatalf("check-now must still run when the checkpoint is refused: %v\n%s", err, out)
	}
	var after int
	testenv.Must(t, e.db.QueryRow(ctx, "SELECT count(*) FROM audit_checkpoints").Scan(&after))
	if after != 3 {
		t.Fatalf("%d checkpoints: a truncated log was signed", after)
	}
}

// The daemon signs when it sees the log has grown: the batcher's
// end-of-day records are written by another process.
func TestCheckpointsFollowGrowth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	pub := e.withAuditKey()
	cfg, err := readConfig(e.getenv)
	testenv.Must(t, err)
	c, err := newCheckpointer(cfg, e.db)
	testenv.Must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); watchCheckpoints(ctx, c, 20*time.Millisecond, zerolog.Nop()) }()
	defer func() { cancel(); <-done }()

	latestSize := func() int64 {
		b, err := postgres.AuditTree{DB: e.db}.Latest(context.Background())
		testenv.Must(t, err)
		if b == nil {
			return -1
		}
		cp, err := audit.OpenCheckpoint(b, pub)
		testenv.Must(t, err)
		return cp.Size
	}
	waitFor := func(n int64) {
		deadline := time.Now().Add(10 * time.Second)
		for latestSize() != n {
			if time.Now().After(deadline) {
				t.Fatalf("no checkpoint of %d entries; latest %d", n, latestSize())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor(0)
	// An end-of-day record, as the batcher appends it.
	testenv.Must(t, appendEvent(e, audit.Event{Kind: audit.BatchSent, BatchID: "2026-12-04", Details: map[string]any{"record_count": 3}}))
	testenv.Must(t, appendEvent(e, audit.Event{Kind: audit.DayKeyDestroyed, Details: map[string]any{"day": "2026-12-04"}}))
	waitFor(2)
	var stored int
	testenv.Must(t, e.db.QueryRow(context.Background(), "SELECT count(*) FROM audit_checkpoints").Scan(&stored))
	time.Sleep(100 * time.Millisecond)
	var later int
	testenv.Must(t, e.db.QueryRow(context.Background(), "SELECT count(*) FROM audit_checkpoints").Scan(&later))
	if later != stored {
		t.Fatalf("signed again without growth: %d then %d checkpoints", stored, later)
	}
	// The idle checks after it compare the log with that checkpoint.
	eventually.Within(t, 10*time.Second, "the log of 2 entries checked against the checkpoint of 2", func(context.Context) error {
		if chk, ok := c.LastCheck(); !ok || !chk.OK() || chk.Size != 2 || len(chk.Against) == 0 || chk.Against[0].Size != 2 {
			return fmt.Errorf("last check %+v (%v)", chk, ok)
		}
		return nil
	})

	// The last entry removed behind the services' back, on a day nothing
	// is appended: the idle check finds it without any growth.
	_, err = e.db.Exec(context.Background(), "ALTER TABLE audit_log DISABLE TRIGGER USER; DELETE FROM audit_log WHERE seq = 2; ALTER TABLE audit_log ENABLE TRIGGER USER")
	testenv.Must(t, err)
	eventually.Within(t, 10*time.Second, "the idle check finds the removed entry", func(context.Context) error {
		if chk, _ := c.LastCheck(); !errors.Is(chk.Err, audit.ErrRefused) {
			return fmt.Errorf("last check: %v", chk.Err)
		}
		return nil
	})
}

func appendEvent(e *env, ev audit.Event) error {
	ctx := context.Background()
	tx, err := e.db.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if err := postgres.AppendAudit(ctx, tx, ev); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// The daemon serves the transparency log to signed-in auditors: the
// public key and the proofs are what the commands print, and the page
// shows the checkpoint its start-up run signed, verified.
func TestDaemonServesTheAuditLog(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	pub := e.withAuditKey()
	const tok = "daemon-audit-log-token-0123456789abcdef"
	e.vars["AUDIT_TOKEN"] = tok
	e.vars["LOG_LEVEL"] = "info" // the daemon helper reads its address and first run from the log
	testenv.Must(t, appendEvent(e, audit.Event{Kind: audit.BatchSent, BatchID: "B-WEB", Details: map[string]any{"record_count": 2}}))
	cfg, err := readConfig(e.getenv)
	testenv.Must(t, err)
	addr, ran := e.daemon(cfg)
	<-ran
	get := func(path string, signedIn bool) (int, string) {
		t.Helper()
		req, err := http.NewRequest("GET", "http://"+addr+path, nil)
		testenv.Must(t, err)
		if signedIn {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		testenv.Must(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		testenv.Must(t, err)
		return resp.StatusCode, string(b)
	}
	// The start-up run's checkpoint is signed just after "reconciliation
	// run" is logged.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if code, _ := get("/audit/latest.checkpoint", true); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint served after the start-up run")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, _ := get("/api/v1/audit/inclusion?batch=B-WEB", false); code != http.StatusUnauthorized {
		t.Fatalf("proof without signing in: %d", code)
	}
	if code, body := get("/audit/audit.pub", true); code != http.StatusOK || body != e.run("audit", "public-key") || body != pub+"\n" {
		t.Fatalf("audit.pub: %d %q, want %q", code, body, pub)
	}
	for _, c := range []struct{ path, cmd string }{
		{"/api/v1/audit/inclusion?batch=B-WEB", "--batch B-WEB"},
		{"/api/v1/audit/inclusion?seq=1", "--seq 1"},
		{"/api/v1/audit/consistency?from=1", "--from 1"},
	} {
		code, body := get(c.path, true)
		if want := e.run(append([]string{"audit", "prove"}, strings.Fields(c.cmd)...)...); code != http.StatusOK || body != want {
			t.Errorf("GET %s: %d\n%s\nwant what `audit prove %s` prints:\n%s", c.path, code, body, c.cmd, want)
		}
	}
	code, body := get("/api/v1/audit/export", true)
	if code != http.StatusOK {
		t.Fatalf("export: %d %s", code, body)
	}
	x, err := audit.ReadExport(strings.NewReader(body))
	testenv.Must(t, err)
	if r := audit.CheckExport(x, audit.LogCheck{PublicKey: pub, Batch: "B-WEB"}); r.Err() != nil || x.Header.PublicKey != pub {
		t.Fatalf("export over HTTP: %v (header %+v)", r.Err(), x.Header)
	}
	code, page := get("/audit", true)
	if code != http.StatusOK || !strings.Contains(page, `govuk-tag--green">Verified</strong>`) {
		t.Fatalf("page: %d, no verified checkpoint:\n%s", code, page)
	}
	// The state of the log at the top: its size and the last consistency
	// check, which the start-up run made before signing.
	if !strings.Contains(page, `id="log-size">1<`) || !regexp.MustCompile(`id="log-consistency">[^<]*<strong class="govuk-tag govuk-tag--green">Consistent</strong>`).MatchString(page) {
		t.Fatalf("page: no log state or no consistent check at the top:\n%s", page)
	}
}

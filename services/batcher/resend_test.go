package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/order"
	"booklets/pkg/domain/reference"
	"booklets/pkg/testkit/eventually"
	"booklets/pkg/testkit/sftptest"
	"booklets/pkg/testkit/testenv"
)

// resendEnv is a batcher's environment with one sealed order of the day
// that closed last, a real sshd as the partner and RETAINED_DIR of its own.
type resendEnv struct {
	t      *testing.T
	srv    *sftptest.Server
	st     *postgres.Orders
	env    map[string]string
	dir    string // RETAINED_DIR
	closed businessday.Date
}

func newResendEnv(t *testing.T, extra map[string]string) *resendEnv {
	t.Helper()
	ctx := context.Background()
	dbURL := testenv.Database(t)
	e := &resendEnv{t: t, srv: sftptest.Start(t), dir: filepath.Join(t.TempDir(), "retained")}
	extra["KEK"] = testKEK("resend")
	extra[EnvRetainedDir] = e.dir
	e.env = serviceEnv(dbURL, testenv.Orders(t), e.srv, extra)
	testenv.Must(t, run(ctx, []string{"migrate"}, e.getenv, nil, io.Discard))
	st, err := postgres.OpenOrders(ctx, dbURL, nil)
	testenv.Must(t, err)
	t.Cleanup(st.Close)
	e.st = st
	e.closed = businessday.DefaultCutoff.LastClosed(time.Now())
	o := order.Order{ID: uuid.NewString(), Reference: reference.New(), ReceivedAt: businessday.DefaultCutoff.Closes(e.closed).Add(-time.Hour),
		Area: "kent", Formats: []order.Format{order.LargePrint},
		Personal: order.Personal{Name: "Ottoline Resendworth", AddressLine1: "4 Quay Lane", Town: "Whitstable", Postcode: "CT5 1AB"}}
	_, err = st.SaveOrder(ctx, sealOrder(t, testKeys(t, dbURL, e.env["KEK"]), o))
	testenv.Must(t, err)
	return e
}

func (e *resendEnv) getenv(k string) string { return e.env[k] }

// run runs a batcher command and returns its output.
func (e *resendEnv) run(args ...string) (string, error) {
	var out testenv.Buffer
	err := run(context.Background(), args, e.getenv, nil, &out)
	return out.String(), err
}

// send sends the closed day and returns its batch.
func (e *resendEnv) send() postgres.Batch {
	e.t.Helper()
	if out, err := e.run("send-now", "--date", e.closed.String()); err != nil {
		e.t.Fatalf("send-now: %v\n%s", err, out)
	}
	b, err := e.st.BatchFor(context.Background(), e.closed)
	testenv.Must(e.t, err)
	return b
}

// partnerFile reads a file in the partner's outbox; nil if it is not there.
func (e *resendEnv) partnerFile(name string) []byte {
	b, err := os.ReadFile(e.srv.Path("outbox", name))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	testenv.Must(e.t, err)
	return b
}

func (e *resendEnv) audits(kind, batchID string) int {
	e.t.Helper()
	var n int
	testenv.Must(e.t, e.st.Pool().QueryRow(context.Background(),
		`SELECT count(*) FROM audit_log WHERE kind = $1 AND batch_id = $2`, kind, batchID).Scan(&n))
	return n
}

func hexSHA(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// gpgPartner makes the partner's key with GnuPG, as the partner would, and
// returns its public key file and a decrypting gpg.
func gpgPartner(t *testing.T) (string, func(path string) []byte) {
	t.Helper()
	gpg, err := exec.LookPath("gpg")
	if err != nil {
		t.Skip("gpg is not installed (apt-get install gnupg)")
	}
	home, err := os.MkdirTemp("", "gpg") // short: gpg-agent's socket path
	testenv.Must(t, err)
	testenv.Must(t, os.Chmod(home, 0o700))
	runGPG := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(gpg, append([]string{"--batch", "--no-tty", "--quiet", "--pinentry-mode", "loopback", "--passphrase", ""}, args...)...)
		cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("gpg %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return out
	}
	t.Cleanup(func() {
		cmd := exec.Command("gpgconf", "--kill", "gpg-agent")
		cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
		_ = cmd.Run()
		os.RemoveAll(home)
	})
	runGPG("--quick-generate-key", "Print Partner <pgp@partner.example>", "future-default", "default", "never")
	pub := filepath.Join(t.TempDir(), "partner.asc")
	testenv.Must(t, os.WriteFile(pub, runGPG("--armor", "--export", "pgp@partner.example"), 0o600))
	return pub, func(path string) []byte { return runGPG("--decrypt", path) }
}

// Issue 16's recovery, end to end through the batcher's commands, with
// OpenSSH's sshd as the partner and GnuPG making and using the partner's
// key: a day is sent encrypted and its files kept; the partner loses them;
// `batcher resend` within the window uploads the identical bytes (the
// same SHA-256, so the manifest and any confirmation still match) and is
// audited; once the window has ended the running service's sweep deletes
// the kept copy (audited) and resend refuses, saying why, and so it does
// for an unknown batch. `resend -h` reads no setting.
func TestResendWithinTheWindowThenRefused(t *testing.T) {
	t.Parallel()
	pub, decrypt := gpgPartner(t)
	e := newResendEnv(t, map[string]string{"PARTNER_PGP_KEY_FILE": pub})
	b := e.send()
	data, manifest := e.partnerFile(b.DataFile), e.partnerFile(b.ManifestFile)
	if data == nil || manifest == nil || hexSHA(data) != b.SHA256 {
		t.Fatalf("the partner has %d + %d bytes; recorded sha256 %s", len(data), len(manifest), b.SHA256)
	}
	if !strings.Contains(string(decrypt(e.srv.Path("outbox", b.DataFile))), "Ottoline Resendworth") {
		t.Fatal("the partner's file does not decrypt to the order")
	}
	kept, err := os.ReadFile(filepath.Join(e.dir, b.ID, b.DataFile))
	testenv.Must(t, err)
	if !bytes.Equal(kept, data) || bytes.Contains(kept, []byte("Resendworth")) {
		t.Fatal("the kept copy is not the ciphertext sent")
	}
	if e.audits("batch_retained", b.ID) != 1 {
		t.Fatal("no batch_retained entry")
	}

	// The partner loses the batch.
	testenv.Must(t, os.Remove(e.srv.Path("outbox", b.DataFile)))
	testenv.Must(t, os.Remove(e.srv.Path("outbox", b.ManifestFile)))
	out, err := e.run("resend", b.ID)
	if err != nil {
		t.Fatalf("resend: %v\n%s", err, out)
	}
	if got := e.partnerFile(b.DataFile); hexSHA(got) != hexSHA(data) {
		t.Fatalf("resent data file sha256 %s, first sent %s", hexSHA(got), hexSHA(data))
	}
	if got := e.partnerFile(b.ManifestFile); !bytes.Equal(got, manifest) {
		t.Fatalf("resent manifest differs:\n%s\n%s", got, manifest)
	}
	if !strings.Contains(string(decrypt(e.srv.Path("outbox", b.DataFile))), "Ottoline Resendworth") {
		t.Fatal("the resent file does not decrypt to the order")
	}
	if e.audits("batch_resent", b.ID) != 1 || !strings.Contains(out, b.SHA256) {
		t.Fatalf("resend not audited or not reported:\n%s", out)
	}
	after, err := e.st.BatchFor(context.Background(), e.closed)
	testenv.Must(t, err)
	if after.DueDate != b.DueDate || after.DeliveryDate != b.DeliveryDate {
		t.Fatalf("a resend moved the deletion due date: %s -> %s", b.DueDate, after.DueDate)
	}

	// Seven days on. The service runs on the real clock, so the record's
	// window is moved back instead of the clock forward.
	_, err = e.st.Pool().Exec(context.Background(), `UPDATE batch_retention SET retained_until = now() - interval '1 second',
		retained_at = now() - interval '7 days' WHERE batch_id = $1`, b.ID)
	testenv.Must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- run(ctx, nil, e.getenv, nil, io.Discard) }()
	eventually.Within(t, time.Minute, "the sweep deletes the kept copy", func(context.Context) error {
		if _, err := os.Stat(filepath.Join(e.dir, b.ID)); !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("the kept copy is still there (%v)", err)
		}
		if e.audits("retained_copy_deleted", b.ID) != 1 {
			return errors.New("no retained_copy_deleted entry")
		}
		return nil
	})
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("service: %v", err)
	}

	testenv.Must(t, os.Remove(e.srv.Path("outbox", b.DataFile)))
	out, err = e.run("resend", b.ID)
	if err == nil || isUsage(err) || !strings.Contains(err.Error(), "resend window of this batch has ended") {
		t.Fatalf("resend after the window: %v\n%s", err, out)
	}
	if e.partnerFile(b.DataFile) != nil || e.audits("batch_resent", b.ID) != 1 {
		t.Fatal("a refused resend uploaded or recorded something")
	}

	_, err = e.run("resend", "B20200101-AAAAAA")
	if err == nil || isUsage(err) || !strings.Contains(err.Error(), "no such batch") {
		t.Fatalf("resend of an unknown batch: %v", err)
	}
	_, err = e.run("resend", "not-a-batch")
	if !isUsage(err) {
		t.Fatalf("resend of a malformed id: %v", err)
	}
	var help testenv.Buffer
	if err := run(context.Background(), []string{"resend", "-h"}, func(string) string { return "" }, nil, &help); err != nil ||
		!strings.Contains(help.String(), "usage: batcher resend BATCH_ID") {
		t.Fatalf("resend -h: %v\n%s", err, help.String())
	}
}

// With plain CSV (no partner key) nothing is kept, and resend says why.
func TestResendRefusesPlainCSV(t *testing.T) {
	t.Parallel()
	e := newResendEnv(t, map[string]string{})
	b := e.send()
	if b.Encryption != "none" || e.partnerFile(b.DataFile) == nil {
		t.Fatalf("batch %+v", b)
	}
	if _, err := os.Stat(e.dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("RETAINED_DIR holds something for a plain CSV batch (%v)", err)
	}
	testenv.Must(t, os.Remove(e.srv.Path("outbox", b.DataFile)))
	_, err := e.run("resend", b.ID)
	if err == nil || isUsage(err) || !strings.Contains(err.Error(), "plain CSV") || !strings.Contains(err.Error(), "none is kept") {
		t.Fatalf("resend of a plain CSV batch: %v", err)
	}
	if e.partnerFile(b.DataFile) != nil || e.audits("batch_resent", b.ID) != 0 || e.audits("batch_retained", b.ID) != 0 {
		t.Fatal("a plain CSV batch was kept or resent")
	}
}

package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"booklets/pkg/stage/audit"
	"booklets/pkg/testkit/eventually"
)

func TestRunStartsEveryServiceAndStopsThemOnCancel(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"RUN_DIR":          t.TempDir(),
		"NATS_URL":         "nats://127.0.0.1:" + strconv.Itoa(freePort(t)), // nothing there: embedded
		"DATABASE_URL":     newDatabaseURL(t),
		"INTAKE_ADDR":      "127.0.0.1:0",
		"BATCHER_ADDR":     "127.0.0.1:0",
		"RECONCILER_ADDR":  "127.0.0.1:0",
		"PARTNER_ADDR":     "127.0.0.1:0",
		"AUDIT_TOKEN":      "test-token-0123456789abcdef-0123456789",
		"LOG_FORMAT":       "json",
		"SHUTDOWN_TIMEOUT": "30s",
		"DEMO":             "1",
	}
	cancel, out, result := launch(t, env)

	// Wait for the launcher to say it is ready, or to fail.
	// No limit of its own, as before: the test's timeout is the limit.
	eventually.Until(t.Context(), t, "the launcher says it is ready", func(context.Context) error {
		if strings.Contains(out.String(), "press Ctrl-C to stop") {
			return nil
		}
		select {
		case err := <-result:
			t.Fatalf("run returned before the pipeline was ready: %v\n%s", err, out)
		default:
		}
		return errors.New("no \"press Ctrl-C to stop\" yet")
	})
	text := out.String()

	form := regexp.MustCompile(`order form:\s+(http://\S+)`).FindStringSubmatch(text)
	if form == nil {
		t.Fatalf("no order form URL printed:\n%s", text)
	}
	resp, err := http.Get(strings.TrimSuffix(form[1], "/") + "/healthz")
	if err != nil {
		t.Fatalf("intake /healthz: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("intake /healthz: %s", resp.Status)
	}
	if !regexp.MustCompile(`auditors' page:\s+http://\S+`).MatchString(text) {
		t.Errorf("no auditors' page URL printed:\n%s", text)
	}
	if !strings.Contains(text, env["AUDIT_TOKEN"]) {
		t.Errorf("auditor token not printed:\n%s", text)
	}
	checkAuditKey(t, env["RUN_DIR"], text)
	// The reconciler signs with it: its start-up run's checkpoint, in the
	// demo's checkpoint folder, verifies with the printed public key, and
	// the auditors' page serves that key.
	pubFile := regexp.MustCompile(`audit public key:\s+(\S+)`).FindStringSubmatch(text)[1]
	pub, err := os.ReadFile(pubFile)
	if err != nil {
		t.Fatal(err)
	}
	eventually.Within(t, time.Minute, "a checkpoint signed with the launcher's key", func(context.Context) error {
		note, err := os.ReadFile(filepath.Join(env["RUN_DIR"], "demo", "checkpoints", "latest.checkpoint"))
		if err != nil {
			return err
		}
		_, err = audit.OpenCheckpoint(note, string(pub))
		return err
	})
	page := regexp.MustCompile(`auditors' page:\s+(http://\S+)`).FindStringSubmatch(text)
	req, _ := http.NewRequest("GET", page[1]+"/audit.pub", nil)
	req.Header.Set("Authorization", "Bearer "+env["AUDIT_TOKEN"])
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("auditors' public key: %v", err)
	}
	served, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(served) != string(pub) {
		t.Errorf("the auditors' page serves %d %q as the public key, the launcher printed %s holding %q", resp.StatusCode, served, pubFile, pub)
	}
	if !strings.Contains(text, "started an embedded one") {
		t.Errorf("embedded NATS not reported:\n%s", text)
	}

	var pids []int
	for _, m := range regexp.MustCompile(`started (\w+) \(pid (\d+)\)`).FindAllStringSubmatch(text, -1) {
		pid, _ := strconv.Atoi(m[2])
		pids = append(pids, pid)
	}
	if len(pids) != len(allServices) {
		t.Fatalf("started %d services, want %d:\n%s", len(pids), len(allServices), text)
	}

	cancel()
	select {
	case err := <-result:
		if err != nil {
			t.Fatalf("run after cancel: %v\n%s", err, out)
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("run did not return after cancel:\n%s", out)
	}
	for _, pid := range pids {
		// The launcher has reaped its children, so the pid is gone.
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process %d still exists after the launcher returned (kill 0: %v)", pid, err)
		}
	}
	for _, s := range allServices {
		if !strings.Contains(out.String(), s+" stopped (exit status 0)") {
			t.Errorf("%s did not stop cleanly:\n%s", s, out)
		}
	}
	if !strings.Contains(out.String(), "embedded NATS stopped") {
		t.Errorf("embedded NATS not stopped:\n%s", out)
	}
}

// checkAuditKey checks what `make run` says of the audit signing key: it
// prints where the public key is, the file holds the public key of the
// private key kept (mode 0600) in the run's secrets folder, in the form
// auditverify --key reads.
func checkAuditKey(t *testing.T, runDir, printed string) {
	t.Helper()
	m := regexp.MustCompile(`audit public key:\s+(\S+)\s+\(auditverify --key (\S+)\)`).FindStringSubmatch(printed)
	if m == nil || m[1] != m[2] {
		t.Fatalf("no audit public key line printed:\n%s", printed)
	}
	keyFile := filepath.Join(runDir, "secrets", "audit-signing.key")
	fi, err := os.Stat(keyFile)
	if err != nil {
		t.Fatalf("the audit signing key: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", keyFile, fi.Mode().Perm())
	}
	private, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := audit.NewSigner(string(private))
	if err != nil {
		t.Fatalf("%s: %v", keyFile, err)
	}
	pub, err := os.ReadFile(m[1])
	if err != nil {
		t.Fatalf("the printed public key file: %v", err)
	}
	if string(pub) != signer.PublicKey+"\n" || !strings.HasPrefix(string(pub), "booklets-audit+") {
		t.Errorf("%s holds %q, want the signing key's public key %q", m[1], pub, signer.PublicKey)
	}
}

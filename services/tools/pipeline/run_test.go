package main

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

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

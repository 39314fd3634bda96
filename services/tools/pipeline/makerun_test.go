package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"booklets/pkg/testkit/eventually"
	"booklets/pkg/testkit/testenv"
)

// `make run` itself, stopped as a terminal's Ctrl-C stops it: SIGINT to
// the whole foreground process group (make, and what make started). After
// a clean stop make must report no error: under `go run`, which exits 1
// when SIGINT reaches it, make said "*** [Makefile:…: run] Error 1". (Make
// then ends itself with the SIGINT it got, as a program should, so that
// the shell knows the person interrupted it; a terminal shows nothing.)
func TestMakeRunStopsCleanlyOnCtrlC(t *testing.T) {
	t.Parallel()
	root, err := moduleRoot("go")
	if err != nil {
		t.Fatal(err)
	}
	runDir := t.TempDir()
	cmd := exec.Command("make", "--no-print-directory", "run", "BIN="+filepath.Join(runDir, "bin"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(),
		"RUN_DIR="+runDir,
		"DATABASE_URL="+newDatabaseURL(t),
		"NATS_URL=nats://127.0.0.1:"+strconv.Itoa(freePort(t)), // nothing there: embedded, in RUN_DIR
		"INTAKE_ADDR=127.0.0.1:0", "BATCHER_ADDR=127.0.0.1:0", "RECONCILER_ADDR=127.0.0.1:0", "PARTNER_ADDR=127.0.0.1:0",
		"LOG_FORMAT=json",
	)
	out := &testenv.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, as a shell gives a foreground job.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("make (the make package is needed): %v", err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	ctrlC := func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT) }
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			ctrlC()
			<-exited
		}
	})

	eventually.Within(t, 5*time.Minute, "the pipeline is up", func(context.Context) error {
		if strings.Contains(out.String(), "press Ctrl-C to stop") {
			return nil
		}
		select {
		case <-exited:
			t.Fatalf("make run exited before the pipeline was up (%v):\n%s", waitErr, out)
		default:
		}
		return fmt.Errorf("make run has not said \"press Ctrl-C to stop\":\n%s", out)
	})
	checkAuditKey(t, runDir, out.String())
	ctrlC()
	select {
	case <-exited:
	case <-time.After(3 * time.Minute):
		t.Fatalf("make run did not stop within 3 minutes of Ctrl-C:\n%s", out)
	}
	if strings.Contains(out.String(), "*** ") {
		t.Fatalf("make reported an error after a clean Ctrl-C:\n%s", out)
	}
	if !interrupted(waitErr) {
		t.Fatalf("make run after Ctrl-C: %v, want status 0 or make's own end by SIGINT:\n%s", waitErr, out)
	}
	for _, s := range allServices {
		if !strings.Contains(out.String(), s+" stopped (exit status 0)") {
			t.Errorf("%s did not stop cleanly:\n%s", s, out)
		}
	}
}

// interrupted says whether make ended cleanly: status 0, or killed by the
// SIGINT it re-raised after its recipe finished.
func interrupted(err error) bool {
	if err == nil {
		return true
	}
	exit, ok := err.(*exec.ExitError)
	if !ok {
		return false
	}
	ws, ok := exit.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGINT
}

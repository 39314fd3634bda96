package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"booklets/pkg/domain/businessday"
	"booklets/pkg/testkit/sftptest"
	"booklets/pkg/testkit/testenv"
)

// TestMain lets a test run the real main in a child process (exit codes).
func TestMain(m *testing.M) {
	if os.Getenv("BATCHER_TEST_RUN_MAIN") == "1" {
		os.Args = append([]string{"batcher"}, strings.Fields(os.Getenv("BATCHER_TEST_ARGS"))...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// readNothing is a getenv that records every setting asked for: asking for
// help or a bad command line must read none (no KEK, no database).
type readNothing struct {
	mu   sync.Mutex
	read []string
}

func (r *readNothing) getenv(k string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.read = append(r.read, k)
	return ""
}

// -h and --help, of the binary and of every command, print the usage and
// succeed without reading a setting (so without the KEK) or connecting
// to anything; "help COMMAND" too.
func TestHelpReadsNothing(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"-h"}, {"--help"}, {"-help"}, {"help"}, {"help", "send-now"},
		{"migrate", "-h"}, {"migrate", "--help"},
		{"send-now", "-h"}, {"send-now", "--help"}, {"send-now", "--date", "2026-11-20", "--help"},
		{"order", "-h"}, {"order", "--help"}, {"order", "show", "-h"}, {"order", "correct", "ABCD-EFGH-JK2", "--field", "name", "--help"},
		{"order", "erase", "--help"},
		{"keys", "-h"}, {"keys", "--help"}, {"keys", "list", "-h"}, {"keys", "rewrap", "--help"},
	} {
		var env readNothing
		var out testenv.Buffer
		err := run(context.Background(), args, env.getenv, nil, &out)
		if err != nil {
			t.Errorf("%q: %v", args, err)
		}
		if !strings.HasPrefix(out.String(), "usage: batcher") {
			t.Errorf("%q printed %q", args, out.String())
		}
		if len(env.read) > 0 {
			t.Errorf("%q read settings %v", args, env.read)
		}
		if name := args[0]; name != "help" && !strings.HasPrefix(name, "-") && !strings.HasPrefix(out.String(), "usage: batcher "+name) {
			t.Errorf("%q printed the usage of another command: %q", args, out.String())
		}
	}
}

// Unknown flags, commands and arguments are errors with the usage, before
// any setting is read; an order command's error never repeats a stray
// argument (it may be personal data).
func TestBadCommandLines(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--verbose"}, {"-x"}, {"frobnicate"},
		{"migrate", "now"}, {"migrate", "--force"},
		{"send-now", "--when", "today"}, {"send-now", "2026-11-20"}, {"send-now", "--date"},
		{"order"}, {"order", "show"}, {"order", "print", "ABCD-EFGH-JK2"}, {"order", "show", "ABCD-EFGH-JK2", "Jane Doe"},
		{"order", "show", "ABCD-EFGH-JK2", "--verbose"},
		{"keys"}, {"keys", "burn"}, {"keys", "list", "all"},
	} {
		var env readNothing
		var out testenv.Buffer
		err := run(context.Background(), args, env.getenv, nil, &out)
		var u usageError
		if !errors.As(err, &u) || !strings.Contains(err.Error(), "usage: batcher") {
			t.Errorf("%q: %v, want an error with the usage", args, err)
			continue
		}
		if len(env.read) > 0 {
			t.Errorf("%q read settings %v", args, env.read)
		}
		if strings.Contains(err.Error(), "Jane Doe") {
			t.Errorf("%q: the error repeats a stray argument: %v", args, err)
		}
	}
}

// The binary itself: exit 0 and the usage on stdout for help, exit 2 and
// the usage on stderr for a bad command line, in an environment with no
// KEK and no database.
func TestMainExitCodes(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	testenv.Must(t, err)
	for _, c := range []struct {
		args string
		code int
	}{
		{"-h", 0}, {"--help", 0}, {"send-now --help", 0}, {"keys list -h", 0},
		{"--nope", 2}, {"nope", 2}, {"send-now --nope", 2},
	} {
		cmd := exec.Command(exe)
		cmd.Env = []string{"BATCHER_TEST_RUN_MAIN=1", "BATCHER_TEST_ARGS=" + c.args,
			"DATABASE_URL=postgres://nobody@127.0.0.1:1/none", "NATS_URL=nats://127.0.0.1:1"}
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		usage := stdout.String()
		if c.code != 0 {
			usage = stderr.String()
		}
		if code != c.code || !strings.Contains(usage, "usage: batcher") {
			t.Errorf("batcher %s: exit %d, want %d; stdout %q stderr %q", c.args, code, c.code, stdout.String(), stderr.String())
		}
	}
}

// send-now without --date says which day it sends before it sends it.
func TestSendNowSaysWhichDay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := testenv.Database(t)
	srv := sftptest.Start(t)
	env := serviceEnv(dbURL, testenv.Orders(t), srv, map[string]string{"KEK": testKEK("k1")})
	getenv := func(k string) string { return env[k] }
	var out testenv.Buffer
	before := businessday.DefaultCutoff.LastClosed(time.Now())
	if err := run(ctx, []string{"send-now"}, getenv, nil, &out); err != nil {
		t.Fatalf("send-now: %v\n%s", err, out.String())
	}
	// The day that closed last when it started: the one before the test,
	// or the next if the test ran across a cut-off.
	for _, day := range []businessday.Date{before, businessday.DefaultCutoff.LastClosed(time.Now())} {
		said := strings.Index(out.String(), "sending the batch of business day "+day.String())
		sent := strings.Index(out.String(), "sent batch B"+strings.ReplaceAll(day.String(), "-", ""))
		if said >= 0 && sent >= 0 && said < sent {
			return
		}
	}
	t.Errorf("send-now did not name the day before sending it:\n%s", out.String())
}

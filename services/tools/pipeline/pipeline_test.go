package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"booklets/pkg/testkit/testenv"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// newDatabaseURL names a database that does not exist yet, so that the
// launcher's "create it" path runs; it is dropped when the test ends.
func newDatabaseURL(t *testing.T) string {
	t.Helper()
	name := testenv.Name("booklets_pipeline")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, testenv.DatabaseURL())
		if err != nil {
			t.Errorf("drop %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		for _, db := range []string{name, name + "_demo"} { // demo mode uses its own
			if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)"); err != nil {
				t.Errorf("drop %s: %v", db, err)
			}
		}
	})
	u := testenv.DatabaseURL()
	i := strings.LastIndex(u, "/")
	j := strings.Index(u[i:], "?")
	if j < 0 {
		return u[:i+1] + name
	}
	return u[:i+1] + name + u[i+j:]
}

// launch runs the launcher with env until the test cancels it; the
// returned channel yields run's result.
func launch(t *testing.T, env map[string]string) (cancel func(), out *testenv.Buffer, result <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out = &testenv.Buffer{}
	done := make(chan error, 1)
	getenv := func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		switch k { // what the go command and the services need from this process
		case "PATH", "HOME", "TMPDIR", "GO":
			return os.Getenv(k)
		}
		return ""
	}
	go func() { done <- run(ctx, nil, getenv, out) }()
	t.Cleanup(cancel)
	return cancel, out, done
}

func TestAMissingServiceIsNamed(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "services", "intake"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "services", "intake", "main.go"), []byte("package main\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := checkSources(root, allServices)
	if err == nil {
		t.Fatal("no error with batcher and reconciler missing")
	}
	for _, want := range []string{"batcher", "reconciler", "PIPELINE_SERVICES"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if err := checkSources(root, []string{"intake"}); err != nil {
		t.Errorf("intake alone: %v", err)
	}
}

func TestBadConfigurationIsReportedAtOnce(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"PIPELINE_SERVICES": "intake,printer",
		"INTAKE_ADDR":       "8080",
		"DEMO":              "perhaps",
	}
	_, err := loadConfig(func(k string) string { return env[k] })
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"printer", "INTAKE_ADDR", "DEMO"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestPrefixedOutputKeepsLinesWhole(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	c := newConsole(&buf)
	w := c.writer("batcher")
	w.Write([]byte("first li"))
	w.Write([]byte("ne\r\nsecond line\nunfinished"))
	w.flush()
	want := "batcher    | first line\nbatcher    | second line\nbatcher    | unfinished\n"
	if buf.String() != want {
		t.Fatalf("got %q, want %q", buf.String(), want)
	}
}

func TestRunRefusesArgumentsWithTheUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"now"}, {"-x"}, {"--demo"}, {"now", "-h"}} {
		var out bytes.Buffer
		err := run(context.Background(), args, func(string) string { return "" }, &out)
		if err == nil {
			t.Errorf("%q: no error", args)
			continue
		}
		if !strings.Contains(err.Error(), "Usage: pipeline") || !strings.Contains(err.Error(), strings.TrimLeft(args[0], "-")) {
			t.Errorf("%q: error %q does not name the argument and give the usage", args, err)
		}
	}
}

// -h and --help print the usage and do nothing else: no setting is read,
// so nothing is built, started or written.
func TestHelpDoesNothingElse(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"-h", "--help", "-help"} {
		var out bytes.Buffer
		getenv := func(k string) string {
			t.Errorf("%s read %s: help must touch nothing", arg, k)
			return ""
		}
		if err := run(context.Background(), []string{arg}, getenv, &out); err != nil {
			t.Errorf("%s: %v", arg, err)
		}
		if !strings.HasPrefix(out.String(), "Usage: pipeline") {
			t.Errorf("%s printed %q", arg, out.String())
		}
	}
}

package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestMain lets the test binary act as the command testenv runs (see
// helper), when its arguments say so.
func TestMain(m *testing.M) {
	if i := slices.Index(os.Args, helperArg); i >= 0 {
		os.Exit(helper(os.Args[i+1:]))
	}
	os.Exit(m.Run())
}

const helperArg = "testenv-helper"

// helper uses the servers testenv named, as a test package would, writes
// what it found to the file args[0] and exits with the status args[1].
func helper(args []string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, os.Getenv("TEST_DATABASE_URL"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 10
	}
	var dataDir, fsync string
	err = conn.QueryRow(ctx, "SELECT current_setting('data_directory'), current_setting('fsync')").Scan(&dataDir, &fsync)
	conn.Close(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 11
	}
	nc, err := nats.Connect(os.Getenv("TEST_NATS_URL"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 12
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.AccountInfo(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 13
	}
	lines := []string{os.Getenv("TEST_DATABASE_URL"), os.Getenv("TEST_NATS_URL"), os.Getenv("BENCH_DATABASE_URL"), dataDir, fsync}
	if err := os.WriteFile(args[0], []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		return 14
	}
	code, _ := strconv.Atoi(args[1])
	return code
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func installed(string) (string, error) { return "/found", nil }

// nothingAt is a getenv naming loopback ports where nothing answers.
func nothingAt(t *testing.T) func(string) string {
	env := map[string]string{
		"TEST_DATABASE_URL": "postgres://postgres@127.0.0.1:" + strconv.Itoa(freePort(t)) + "/test?sslmode=disable",
		"TEST_NATS_URL":     "nats://127.0.0.1:" + strconv.Itoa(freePort(t)),
	}
	return func(k string) string { return env[k] }
}

// With nothing running, the command gets a private PostgreSQL (durability
// off) and an embedded NATS on free ports, its exit status is passed on,
// and afterwards neither server listens and the cluster's folder is gone.
func TestACommandGetsPrivateServersThatAreGoneAfterwards(t *testing.T) {
	t.Parallel()
	getenv := nothingAt(t)
	report := filepath.Join(t.TempDir(), "report")
	var out bytes.Buffer
	code, err := run(context.Background(), []string{os.Args[0], helperArg, report, "3"}, getenv, installed, &out)
	if err != nil || code != 3 {
		t.Fatalf("run = %d, %v; want the command's status 3\n%s", code, err, out.String())
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatalf("the command did not report (%v):\n%s", err, out.String())
	}
	seen := strings.Split(string(b), "\n")
	dbURL, natsURL, benchURL, dataDir, fsync := seen[0], seen[1], seen[2], seen[3], seen[4]
	if benchURL != dbURL {
		t.Errorf("BENCH_DATABASE_URL = %q, want the tests' %q", benchURL, dbURL)
	}
	if fsync != "off" {
		t.Errorf("the test cluster runs with fsync=%s, want off", fsync)
	}
	for _, want := range []string{"nothing answered", "private PostgreSQL on", "embedded NATS on"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output does not say %q:\n%s", want, out.String())
		}
	}
	for _, raw := range []string{dbURL, natsURL} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if c, err := net.DialTimeout("tcp", u.Host, time.Second); err == nil {
			c.Close()
			t.Errorf("something still listens on %s after the command ended", u.Host)
		}
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Errorf("the cluster's folder %s is still there (%v)", dataDir, err)
	}

	// A second run starts afresh and passes on success too.
	code, err = run(context.Background(), []string{os.Args[0], helperArg, report, "0"}, getenv, installed, &out)
	if err != nil || code != 0 {
		t.Fatalf("second run = %d, %v\n%s", code, err, out.String())
	}
}

// Missing programs are named in one line with the Debian packages to
// install, before anything is started.
func TestMissingProgramsAreNamedInOneLine(t *testing.T) {
	t.Parallel()
	getenv := nothingAt(t)
	lookPath := func(p string) (string, error) {
		if p == "/usr/sbin/sshd" || p == "/usr/bin/chromium" || p == "gpg" || p == "gpgconf" {
			return "", os.ErrNotExist
		}
		return "/found", nil
	}
	var out bytes.Buffer
	report := filepath.Join(t.TempDir(), "report")
	code, err := run(context.Background(), []string{os.Args[0], helperArg, report, "0"}, getenv, lookPath, &out)
	if code == 0 || err == nil {
		t.Fatalf("run = %d, %v; want a failure", code, err)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("not one line: %q", msg)
	}
	if !strings.Contains(msg, "apt-get install openssh-server chromium gnupg") {
		t.Errorf("%q does not name each package once, in order", msg)
	}
	if _, err := os.Stat(report); err == nil {
		t.Error("the command ran although programs were missing")
	}
	u, _ := url.Parse(getenv("TEST_DATABASE_URL"))
	if c, err := net.DialTimeout("tcp", u.Host, time.Second); err == nil {
		c.Close()
		t.Errorf("a server was started on %s although programs were missing", u.Host)
	}
}

func TestHelpTouchesNothing(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"-h", "--help"} {
		var out bytes.Buffer
		getenv := func(k string) string {
			t.Errorf("%s read %s", arg, k)
			return ""
		}
		code, err := run(context.Background(), []string{arg}, getenv, installed, &out)
		if code != 0 || err != nil || !strings.HasPrefix(out.String(), "Usage: testenv") {
			t.Errorf("%s: %d, %v, %q", arg, code, err, out.String())
		}
	}
}

func TestBadArgumentsGiveTheUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"-x", "go"}, {}, {"-check", "go", "test"}} {
		code, err := run(context.Background(), args, func(string) string { return "" }, installed, &bytes.Buffer{})
		if code == 0 || err == nil || !strings.Contains(err.Error(), "Usage: testenv") {
			t.Errorf("%q: %d, %v", args, code, err)
		}
	}
}

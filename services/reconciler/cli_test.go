package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"booklets/pkg/testkit/testenv"
)

// tripwire is a listener that counts the connections made to it: the
// database and the SFTP server of a command that must connect to nothing.
func tripwire(t *testing.T) (string, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	testenv.Must(t, err)
	t.Cleanup(func() { ln.Close() })
	var n atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			c.Close()
		}
	}()
	return ln.Addr().String(), &n
}

// Every command prints its usage for -h and --help and exits 0 without
// connecting to anything or migrating (MIGRATE is true, and the database
// and the SFTP server are tripwires); unknown commands, flags and
// arguments are errors carrying the usage. The configuration is not even
// read: a bad setting does not hide the help.
func TestHelpActsOnNothing(t *testing.T) {
	t.Parallel()
	addr, connections := tripwire(t)
	env := map[string]string{
		"DATABASE_URL": "postgres://postgres@" + addr + "/booklets?sslmode=disable&connect_timeout=2",
		"MIGRATE":      "true",
		"SFTP_ADDR":    addr,
		"HTTP_ADDR":    "127.0.0.1:0",
		"RECONCILE_AT": "not a time",
	}
	getenv := func(k string) string { return env[k] }
	runArgs := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(context.Background(), args, getenv, &out)
		return out.String(), err
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-h"}, "Usage: reconciler [COMMAND]"},
		{[]string{"--help"}, "Usage: reconciler [COMMAND]"},
		{[]string{"-help"}, "Usage: reconciler [COMMAND]"},
		{[]string{"help"}, "Usage: reconciler [COMMAND]"},
		{[]string{"help", "report"}, "Usage: reconciler report"},
		{[]string{"check-now", "-h"}, "Usage: reconciler check-now"},
		{[]string{"check-now", "--help"}, "Usage: reconciler check-now"},
		{[]string{"verify-audit", "-h"}, "Usage: reconciler verify-audit"},
		{[]string{"verify-audit", "--help"}, "Usage: reconciler verify-audit"},
		{[]string{"report", "-h"}, "Usage: reconciler report"},
		{[]string{"report", "--from", "2025-01-01", "--help"}, "Usage: reconciler report"},
		{[]string{"volunteers", "-h"}, "Usage: reconciler volunteers"},
		{[]string{"volunteers", "due", "--help"}, "Usage: reconciler volunteers"},
		{[]string{"volunteers", "show", "-h"}, "Usage: reconciler volunteers"},
		{[]string{"volunteers", "review", "V-1", "--delete", "--help"}, "Usage: reconciler volunteers"},
	} {
		out, err := runArgs(c.args...)
		if err != nil || !strings.HasPrefix(out, c.want) {
			t.Errorf("reconciler %s: %v\n%s", strings.Join(c.args, " "), err, out)
		}
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--verbose"}, `unknown flag "--verbose"`},
		{[]string{"check"}, `unknown command "check"`},
		{[]string{"help", "nothing"}, `unknown command "nothing"`},
		{[]string{"check-now", "--dry-run"}, "flag provided but not defined"},
		{[]string{"check-now", "now"}, `takes no arguments (got "now")`},
		{[]string{"verify-audit", "all"}, `takes no arguments (got "all")`},
		{[]string{"report", "--form", "2025-01-01"}, "flag provided but not defined"},
		{[]string{"report", "2025-01-01"}, `unexpected argument "2025-01-01"`},
		{[]string{"report", "--format", "xml"}, `--format "xml" is not csv or json`},
		{[]string{"report", "--from", "yesterday"}, `--from "yesterday" is not a date`},
		{[]string{"volunteers"}, "say due, show ID or review ID"},
		{[]string{"volunteers", "list"}, `unknown command "list"`},
		{[]string{"volunteers", "due", "now"}, `unexpected "now"`},
		{[]string{"volunteers", "show"}, "exactly one ID"},
		{[]string{"volunteers", "review", "V-1"}, "exactly one of --keep and --delete"},
		{[]string{"volunteers", "review", "V-1", "--keep", "--delete"}, "exactly one of --keep and --delete"},
	} {
		out, err := runArgs(c.args...)
		var ue usageError
		if err == nil || !errors.As(err, &ue) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "Usage: reconciler") {
			t.Errorf("reconciler %s: %v, want a usage error saying %q", strings.Join(c.args, " "), err, c.want)
		}
		if out != "" {
			t.Errorf("reconciler %s wrote to stdout: %s", strings.Join(c.args, " "), out)
		}
	}
	if n := connections.Load(); n != 0 {
		t.Errorf("%d connections to the database or the SFTP server", n)
	}

	// The tripwire would have caught a command that does connect.
	env["RECONCILE_AT"] = "07:00"
	if _, err := runArgs("verify-audit"); err == nil {
		t.Error("verify-audit against the tripwire: no error")
	}
	if connections.Load() == 0 {
		t.Error("the tripwire saw no connection from a command that connects")
	}
}

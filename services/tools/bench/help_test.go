package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// -h and --help print the usage and do nothing else: nothing is built,
// started or written.
func TestHelpDoesNothingElse(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"-h", "--help"} {
		out := filepath.Join(t.TempDir(), "results.json")
		var stdout bytes.Buffer
		getenv := func(k string) string {
			t.Errorf("%s read %s: help must touch nothing", arg, k)
			return ""
		}
		if err := run(context.Background(), []string{"-out", out, arg}, getenv, &stdout); err != nil {
			t.Errorf("%s: %v", arg, err)
		}
		if s := stdout.String(); !strings.HasPrefix(s, "Usage: bench") || !strings.Contains(s, "-quick") {
			t.Errorf("%s printed %q", arg, s)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("%s wrote %s (%v)", arg, out, err)
		}
	}
}

func TestUnknownFlagsAndArgumentsAreErrorsWithTheUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"-fast"}, {"quick"}, {"-quick", "intake"}} {
		var stdout bytes.Buffer
		err := run(context.Background(), args, func(string) string { return "" }, &stdout)
		if err == nil || !strings.Contains(err.Error(), "Usage: bench") {
			t.Errorf("%q: %v, want an error with the usage", args, err)
		}
		if stdout.Len() > 0 {
			t.Errorf("%q: something ran: %q", args, stdout.String())
		}
	}
}

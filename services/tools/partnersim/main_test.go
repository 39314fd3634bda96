package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// -h and --help print the usage and start nothing: no setting is read, no
// folder made, no port taken.
func TestHelpDoesNothingElse(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"-h", "--help"} {
		var out bytes.Buffer
		getenv := func(k string) string {
			t.Errorf("%s read %s: help must touch nothing", arg, k)
			return ""
		}
		if err := run(context.Background(), []string{arg}, getenv, &out); err != nil {
			t.Errorf("%s: %v", arg, err)
		}
		if !strings.HasPrefix(out.String(), "Usage: partnersim") {
			t.Errorf("%s printed %q", arg, out.String())
		}
	}
}

func TestUnknownArgumentsAreErrorsWithTheUsage(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "partner")
	getenv := func(k string) string {
		if k == "PARTNERSIM_DIR" {
			return dir
		}
		return map[string]string{"PARTNERSIM_ADDR": "127.0.0.1:0"}[k]
	}
	for _, args := range [][]string{{"-x"}, {"--addr", "127.0.0.1:0"}, {"start"}} {
		err := run(context.Background(), args, getenv, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "Usage: partnersim") {
			t.Errorf("%q: %v, want an error with the usage", args, err)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("a refused command made %s (%v)", dir, err)
	}
}
